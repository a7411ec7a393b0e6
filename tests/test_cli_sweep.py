"""``nst-edu sweep`` and ``nst-edu batch``, in-process: bad input is one line and exit code 2 before any worker
starts; ``batch`` on a folder with a file that is not an image reports that file and makes the rest, on the
LocalCluster it starts itself (``--workers 2``); the single-run command is unchanged (tests/test_cli.py).
"""

from __future__ import annotations

import pytest
from test_sweep import deadline, no_cluster  # noqa: F401 - the same deadline for every test here

from nst_edu import cli, sweep
from nst_edu.core import images
from nst_edu.output import fileio

TINY = ["--size", "48", "--steps", "3"]
SWEEP = ["sweep", "--content", "chelsea", "--style", "swirls"]


def nst(capsys, *argv):
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--vary", "betta=1,2"], "--vary betta: 'betta' is not a setting; the settings are content_layer"),
        (["--vary", "beta=abc"], "--vary beta=abc: 'abc' is not a number."),
        (["--vary", "size=1.5"], "--vary size=1.5: '1.5' is not a whole number."),
        (["--vary", "beta=-1"], "--vary beta=-1: beta must be a finite number ≥ 0, got -1.0."),
        (["--vary", "init=nope"], "--vary init=nope: init must be one of content, style"),
        (["--vary", "channels_last=maybe"], "--vary channels_last=maybe: 'maybe' is not true or false."),
        (["--vary", "beta="], "--vary beta= gives no values, so the sweep would have no runs; give e.g."),
        (["--vary", "beta=1", "--vary", "beta=2"], "--vary beta is given twice; give all its values in one"),
        (["--vary", "beta"], "--vary beta is not KEY=VALUE; write e.g. --vary beta=1e-4,1e-3."),
        (["--vary", "style_layers=x"], "--vary style_layers: style_layers holds a tuple; set it from Python"),
        (["--set", "steps=many"], "--set steps=many: 'many' is not a whole number."),
        (["--threads", "0"], "--threads, --checkpoint-every and --workers must be whole numbers ≥ 1."),
    ],
)
def test_bad_sweep_options_are_one_sentence_before_any_worker(tmp_path, monkeypatch, capsys, argv, message):
    monkeypatch.setattr(sweep, "connect", no_cluster)
    code, out, err = nst(capsys, *SWEEP, "--out", tmp_path / "out", *argv)
    assert code == 2 and out == "" and "Traceback" not in err
    assert err.count("\n") == 1 and err.startswith(f"nst-edu sweep: {message}"), err
    assert not (tmp_path / "out").exists()


def test_bad_inputs_are_one_sentence(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sweep, "connect", no_cluster)
    (tmp_path / "texts").mkdir()
    (tmp_path / "texts" / "notes.txt").write_text("not an image")
    cases = [
        (
            ["batch", "--content-dir", tmp_path / "texts"],
            "The content folder",
            "holds no images (notes.txt is not",
        ),
        (["batch", "--content-dir", tmp_path / "none"], "--content-dir", "is not a folder"),
        (["sweep", "--content", tmp_path / "*.png"], "The content pattern", "matches no file"),
        (["sweep", "--content", "nope.png"], "Cannot read 'nope.png': no such file", ""),
    ]
    for argv, first, words in cases:
        code, out, err = nst(capsys, *argv, "--style", "swirls", "--out", tmp_path / "out")
        assert code == 2 and err.count("\n") == 1 and first in err and words in err, err
    with fileio.FolderLock(tmp_path / "busy"):
        code, out, err = nst(capsys, *SWEEP, "--out", tmp_path / "busy")
    assert code == 2 and "is in use by another sweep or run (pid" in err and err.count("\n") == 1


def test_an_unreachable_scheduler_is_one_sentence(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sweep, "CONNECT_TIMEOUT_S", 1)
    code, out, err = nst(capsys, *SWEEP, "--out", tmp_path / "out", "--scheduler", "tcp://127.0.0.1:9")
    assert code == 2 and err.count("\n") == 1
    assert err.startswith("nst-edu sweep: Cannot reach the Dask scheduler at tcp://127.0.0.1:9 (")


def test_batch_reports_a_file_that_is_not_an_image_and_makes_the_rest(tmp_path, capsys):
    photos = tmp_path / "photos"
    photos.mkdir()
    images.save_image(images.load_image("chelsea", size=64), photos / "cat.png")
    images.save_image(images.load_image("coffee", size=64), photos / "coffee.jpg")
    (photos / "notes.txt").write_text("a shopping list")
    out = tmp_path / "out"
    argv = ["batch", "--content-dir", photos, "--style", "swirls", "--out", out, *TINY, "--workers", "2"]
    code, stdout, err = nst(capsys, *argv, "--quiet")
    assert code == 1, err  # one run failed on its own: the others are made
    assert "nst-edu batch: 3 runs, 2 to do, on 2 workers; dashboard http://" in err
    assert (
        "notes__swirls__" in err
        and f"failed: Cannot read '{photos / 'notes.txt'}': the file is not an image" in err
    )
    done = sorted(p.parent.name.split("__")[0] for p in out.glob("*/result.png"))
    assert done == ["cat", "coffee"] and (out / "sweep.csv").is_file()
    assert (
        stdout.count("done ") == 2
        and stdout.count("failed ") == 1
        and f"table: {out / 'sweep.csv'}" in stdout
    )
    code, stdout, err = nst(capsys, *argv)  # again: the photos are skipped, the text file is reported again
    assert code == 1 and stdout.count("skipped ") == 2 and "dashboard" not in err  # no cluster was needed


def test_sweep_runs_the_product_of_its_values(tmp_path, capsys, monkeypatch):
    calls = {}

    def fake_execute(the_plan, client, threads, checkpoint_every, progress):
        calls["tasks"] = [t.changes for t in the_plan.tasks]
        calls["threads"], calls["every"] = threads, checkpoint_every
        calls["seed"], calls["size"] = the_plan.tasks[0].config.seed, the_plan.tasks[0].config.size
        raise SystemExit(0)

    monkeypatch.setattr(sweep, "execute", fake_execute)
    monkeypatch.setattr(sweep, "connect", lambda *a, **k: _FakeClient())
    monkeypatch.setattr(sweep, "announce", lambda *a: "announced")
    argv = [
        *SWEEP,
        "--out",
        tmp_path / "out",
        "--vary",
        "beta=1e-4,1e-3",
        "--vary",
        "content-layer=relu4_2,relu3_2",
    ]
    with pytest.raises(SystemExit):
        nst(capsys, *argv, "--threads", "2", "--checkpoint-every", "7", "--set", "seed=3", "--size", "48")
    assert calls["tasks"] == [
        {"beta": 1e-4, "content_layer": "relu4_2"},
        {"beta": 1e-4, "content_layer": "relu3_2"},
        {"beta": 1e-3, "content_layer": "relu4_2"},
        {"beta": 1e-3, "content_layer": "relu3_2"},
    ]
    assert (calls["threads"], calls["every"], calls["seed"], calls["size"]) == (2, 7, 3, 48)


class _FakeClient:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False
