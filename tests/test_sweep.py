"""nst_edu.sweep on a real LocalCluster (worker processes), with tiny runs (48 px, a few steps).

A sweep's results equal the same runs made one by one, bit for bit; a worker killed mid-run (SIGKILL) costs
nothing but its steps since the last checkpoint; a rerun skips what finished; Ctrl-C keeps what finished and
the next sweep continues it; a run's own failure is its row; bad specs are one sentence before any worker.
Every test runs under a deadline (``deadline``) and the cluster is closed at the end of the module.
"""

from __future__ import annotations

import _thread
import json
import logging
import os
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import nst_edu
from nst_edu import sweep
from nst_edu.core import images, transfer
from nst_edu.output import fileio, plots

TINY = nst_edu.preset("fast", size=48, steps=4)
DEADLINE_S = 60


@pytest.fixture(autouse=True)
def deadline():
    """Fail a test that runs longer than DEADLINE_S (SIGALRM raises in the main thread, where sweep waits)."""

    def too_long(signum, frame):
        raise TimeoutError(f"the test ran longer than {DEADLINE_S} s")

    previous = signal.signal(signal.SIGALRM, too_long)
    signal.alarm(DEADLINE_S)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


@pytest.fixture(scope="module")
def client():
    """Two worker processes, one thread each: the layout ``sweep`` starts by itself on this machine."""
    from distributed import Client, LocalCluster

    cluster = LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0", silence_logs=logging.ERROR
    )
    with cluster, Client(cluster) as c:
        yield c


@pytest.fixture
def one_thread():
    """The serial reference computes with the workers' thread count: the same bits."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def cat_png(tmp_path) -> Path:
    path = tmp_path / "inputs" / "cat.png"
    path.parent.mkdir()
    images.save_image(images.load_image("chelsea", size=80), path)
    return path


def no_cluster(*args, **kwargs):
    raise AssertionError("a cluster was started")


def serial(content, config) -> transfer.Result:
    return nst_edu.run(str(content), "swirls", config, progress=False)


def pixels(path) -> np.ndarray:
    with Image.open(path) as img:
        return np.asarray(img.convert("RGB"))


def costs(rows) -> list[dict]:
    """History rows without their timings, at history.csv's 9 significant digits."""
    return [{k: f"{v:.9g}" for k, v in row.items() if k != "seconds"} for row in rows]


def cache_calls(client) -> dict:
    """Per worker: how often ``transfer.build_model`` was asked for a model, and how often it built one."""
    info = client.run(lambda: transfer._cached_model.cache_info())
    return {w: (i.hits + i.misses, i.misses) for w, i in info.items()}


def test_results_equal_the_same_runs_one_by_one_bit_for_bit(client, tmp_path, cat_png, one_thread):
    before = cache_calls(client)
    vary = {"beta": [1e-4, 1e-3, 1e-2]}
    table = sweep.sweep([cat_png, "coffee"], "swirls", TINY, vary=vary, out=tmp_path / "out", client=client)
    assert list(table["status"]) == ["done"] * 6, table[["run", "status", "error"]]
    assert len(set(table["worker"])) == 2  # both workers took runs
    for _, row in table.iterrows():
        source = cat_png if row["content"] == str(cat_png) else "coffee"
        reference = serial(source, TINY.replace(beta=row["beta"]))
        folder = Path(row["folder"])
        assert row["J"] == reference.history.rows[-1]["total"]  # exactly, as a float
        saved = transfer.History.from_csv((folder / "history.csv").read_text()).rows
        assert costs(saved) == costs(reference.history.rows)  # every step's costs, as history.csv writes them
        images.save_image(reference.image, tmp_path / "reference.png")
        assert np.array_equal(pixels(folder / "result.png"), pixels(tmp_path / "reference.png"))
        assert (
            json.loads((folder / "run.json").read_text())["config"]
            == TINY.replace(beta=row["beta"]).to_dict()
        )
    # Each worker built VGG-19 once, however many of the six runs it made.
    after = cache_calls(client)
    calls = {
        w: (after[w][0] - before.get(w, (0, 0))[0], after[w][1] - before.get(w, (0, 0))[1]) for w in after
    }
    assert sum(n for n, _ in calls.values()) == 6
    assert all(built <= 1 for _, built in calls.values()) and max(n for n, _ in calls.values()) >= 2
    assert (tmp_path / "out" / "sweep.csv").read_text().count("\n") == 7
    fig = plots.sweep_grid(table, "beta", "content")
    assert len(fig.axes) == 6 and fig.axes[0].get_title() == "beta = 0.0001"


def test_a_worker_killed_mid_run_costs_only_its_steps_since_the_last_checkpoint(client, tmp_path, one_thread):
    config = TINY.replace(steps=30)
    out = tmp_path / "out"
    killed = {}

    def kill_the_first_worker_with_a_checkpoint():
        while not killed and time.monotonic() < stop_at:
            for state in out.glob("*/checkpoint/state.pt"):
                pid = fileio._read_pid(state.parent.parent / fileio.LOCK_FILE)
                if pid is not None:
                    os.kill(pid, signal.SIGKILL)
                    killed["folder"] = str(state.parent.parent)
                    break
            time.sleep(0.01)

    stop_at = time.monotonic() + 30
    killer = threading.Thread(target=kill_the_first_worker_with_a_checkpoint)
    killer.start()
    table = sweep.sweep(
        "chelsea",
        "swirls",
        config,
        vary={"beta": [1e-4, 1e-3, 1e-2, 1e-1]},
        out=out,
        client=client,
        checkpoint_every=5,
        progress=False,
    )
    killer.join()
    assert killed, "no worker was killed"
    by_folder = table.set_index("folder")
    victim = by_folder.loc[killed["folder"]]
    # The killed run was made again elsewhere, from its last checkpoint, not from the start.
    assert victim["status"] == "resumed" and victim["resumed_from"] in (5, 10, 15, 20, 25), victim
    others = by_folder.drop(index=killed["folder"])
    assert list(others["status"]) == ["done"] * 3 and list(others["resumed_from"]) == [0] * 3
    assert list(table["steps_done"]) == [30] * 4  # every run complete
    reference = serial("chelsea", config.replace(beta=victim["beta"]))
    assert victim["J"] == reference.history.rows[-1]["total"]  # the resumed run is the uninterrupted run
    assert not list(out.glob("*/checkpoint"))  # a finished run's checkpoint is removed


def test_a_rerun_skips_finished_runs_and_a_failed_run_is_its_own_row(client, tmp_path, monkeypatch):
    out = tmp_path / "out"
    vary = {"alpha": [1.0, 1e38]}  # α = 10³⁸ overflows J in float32: that run stops with a NaN/inf cost
    first = sweep.sweep("chelsea", "swirls", TINY, vary=vary, out=out, client=client, progress=False)
    assert list(first["status"]) == ["done", "failed"]
    error = first["error"].iloc[1]
    assert error.startswith("The ") and "cost became inf at step 0" in error and error.endswith(".")
    assert sweep.pending(sweep.plan("chelsea", "swirls", TINY, vary=vary, out=out))[1] == []
    done = Path(first["folder"].iloc[0])
    stamp = (done / "result.png").stat().st_mtime_ns
    monkeypatch.setattr(sweep, "connect", no_cluster)  # nothing left to do: no cluster is started
    again = sweep.sweep("chelsea", "swirls", TINY, vary=vary, out=out, progress=False)
    assert list(again["status"]) == ["skipped", "failed"] and again["error"].iloc[1] == error
    assert list(again["J"])[0] == list(first["J"])[0] and (done / "result.png").stat().st_mtime_ns == stamp
    monkeypatch.undo()
    (done / "run.json").unlink()  # no longer finished: made again, the failed run is not
    third = sweep.sweep("chelsea", "swirls", TINY, vary=vary, out=out, client=client, progress=False)
    assert list(third["status"]) == ["done", "failed"] and list(third["J"])[0] == list(first["J"])[0]


def test_ctrl_c_keeps_what_finished_and_the_same_sweep_continues(client, tmp_path, capsys):
    config, out = TINY.replace(steps=40), tmp_path / "out"
    vary = {"beta": [1e-4, 1e-3, 1e-2, 1e-1]}

    def interrupt_once_a_run_is_half_way():
        deadline = time.monotonic() + 30
        while not list(out.glob("*/checkpoint/state.pt")) and time.monotonic() < deadline:
            time.sleep(0.01)
        _thread.interrupt_main()  # what Ctrl-C does

    threading.Thread(target=interrupt_once_a_run_is_half_way, daemon=True).start()
    table = sweep.sweep("chelsea", "swirls", config, vary=vary, out=out, client=client, checkpoint_every=5)
    assert table.attrs["stopped"] == "interrupt"
    assert "run the same sweep into the same folder to continue" in capsys.readouterr().err
    statuses = set(table["status"])
    assert "stopped" in statuses and statuses <= {"done", "stopped", "interrupted"}, table["status"]
    checkpointed = set()
    for _, row in table[table["status"] == "stopped"].iterrows():  # stopped after a step, its files saved
        assert json.loads((Path(row["folder"]) / "run.json").read_text())["stopped"] == "stop"
        has_one = (Path(row["folder"]) / "checkpoint" / "state.pt").is_file()
        assert has_one == (row["steps_done"] >= 5)  # a checkpoint every 5 steps
        checkpointed |= {row["run"]} if has_one else set()
    assert checkpointed  # the run that was half-way when Ctrl-C came
    again = sweep.sweep("chelsea", "swirls", config, vary=vary, out=out, client=client, progress=False)
    assert again.attrs["stopped"] is None and list(again["steps_done"]) == [40] * 4
    was = dict(zip(table["run"], table["status"]))
    for _, row in again.iterrows():
        wanted = {"done": "skipped", "stopped": "done", "interrupted": "done"}[was[row["run"]]]
        wanted = "resumed" if row["run"] in checkpointed else wanted
        assert row["status"] == wanted, (was[row["run"]], row["status"])


def test_two_sweeps_into_one_folder_are_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(sweep, "connect", no_cluster)
    with fileio.FolderLock(tmp_path / "out"):  # another sweep (or a single run) holds the folder
        with pytest.raises(ValueError, match=r"out is in use by another sweep or run \(pid \d+\); wait"):
            sweep.sweep("chelsea", "swirls", TINY, vary={"beta": [1e-3]}, out=tmp_path / "out")


@pytest.mark.parametrize(
    "vary, runs, words",
    [
        ({"betta": [1e-3]}, None, "'betta' is not a setting of Config; the settings are content_layer"),
        ({"beta": []}, None, "vary['beta'] is empty, so the sweep would have no runs"),
        ({"beta": 1e-3}, None, "vary['beta'] must be a list of values such as [1e-4, 1e-3], got 0.001"),
        ({"beta": ["big"]}, None, "the run with beta='big' has a bad setting: beta must be a number"),
        ({"beta": [1e-3, 1e-3]}, None, "vary['beta'] gives 0.001 twice"),
        ({"beta": [1e-3]}, [{"beta": 1e-3}], "give either vary (a grid of values) or runs"),
        (None, [5], "runs[0] must be a dict of Config changes"),
        (None, [], "runs is empty"),
        ([("beta", [1])], None, "vary must be a dict such as"),
    ],
)
def test_bad_vary_specs_get_their_sentence_before_any_worker(tmp_path, monkeypatch, vary, runs, words):
    monkeypatch.setattr(sweep, "connect", no_cluster)
    with pytest.raises(ValueError) as info:
        sweep.sweep("chelsea", "swirls", TINY, vary=vary, runs=runs, out=tmp_path / "out")
    assert words in str(info.value) and "\n" not in str(info.value)
    assert not (tmp_path / "out").exists()


def test_bad_inputs_get_their_sentence(tmp_path, monkeypatch):
    monkeypatch.setattr(sweep, "connect", no_cluster)
    (tmp_path / "empty").mkdir()
    (tmp_path / "texts").mkdir()
    (tmp_path / "texts" / "a.txt").write_text("not an image")
    cases = {
        str(tmp_path / "empty"): "holds no file",
        str(tmp_path / "texts"): "holds no images (a.txt is not an image)",
        str(tmp_path / "*.jpg"): "matches no file",
        "nope.png": "cannot read 'nope.png': no such file",
    }
    for content, words in cases.items():
        with pytest.raises(ValueError) as info:
            sweep.plan(content, "swirls", TINY, out=tmp_path / "out")
        assert words in str(info.value), str(info.value)


def test_an_unreachable_scheduler_is_one_sentence(monkeypatch):
    monkeypatch.setattr(sweep, "CONNECT_TIMEOUT_S", 1)
    with pytest.raises(
        ValueError, match=r"^cannot reach the Dask scheduler at tcp://127.0.0.1:9 \(.*\); check"
    ):
        with sweep.connect("tcp://127.0.0.1:9"):
            pass


def test_run_names_are_readable_and_stable(cat_png):
    first = sweep.plan([cat_png, "coffee"], "swirls", TINY, vary={"beta": [1e-4, 1e-3]})
    again = sweep.plan([cat_png, "coffee"], "swirls", TINY, vary={"beta": [1e-4, 1e-3]})
    names = [t.name for t in first.tasks]
    assert names == [t.name for t in again.tasks] and len(set(names)) == 4
    assert names[0].startswith("cat__swirls__beta=0.0001__") and names[2].startswith("coffee__swirls__beta=")
    other = sweep.plan(cat_png, "swirls", TINY.replace(steps=5), vary={"beta": [1e-4]})
    assert other.tasks[0].name != names[0]  # another config (here steps): another folder
