"""The command line with several styles, regions and colour modes: runs record their inputs in run.json, a
run with two styles and masks resumes, and every bad input is one line, exit code 2, nothing written, and
no network built."""

import json

import numpy as np
import pytest
from PIL import Image

from nst_edu import cli
from nst_edu.core import transfer

TINY = ["--size", "64", "--steps", "2", "--coarse-steps", "0", "--quiet", "--precision", "float32"]


def nst(capsys, *argv):
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def drawn(tmp_path):
    """sky.png (white top) and ground.png (white bottom), 50 × 80, and an all-black empty.png."""
    m = np.zeros((50, 80), np.uint8)
    m[:20] = 255
    for name, pixels in (("sky", m), ("ground", 255 - m), ("empty", np.zeros_like(m))):
        Image.fromarray(pixels).save(tmp_path / f"{name}.png")
    return tmp_path


def test_two_styles_with_weights_and_masks_record_their_inputs(tmp_path, drawn, capsys):
    out = tmp_path / "o"
    code, _, err = nst(
        capsys,
        *(
            "--content",
            "chelsea",
            "--mask",
            f"{drawn / 'sky.png'}:swirls",
            "--mask",
            f"{drawn / 'ground.png'}:waves",
        ),
        *("--style-weights", "0.7,0.3", "--colour", "luminance", "--out", out, *TINY),
    )
    assert code == 0, err
    meta = json.loads((out / "run.json").read_text())
    assert meta["inputs"] == {
        "content": "chelsea",
        "styles": ["swirls", "waves"],
        "masks": [str(drawn / "sky.png"), str(drawn / "ground.png")],
    }
    assert meta["config"]["style_weights"] == [0.7, 0.3] and meta["config"]["colour"] == "luminance"
    assert "2 styles in 2 regions, colour luminance" in err


@pytest.mark.parametrize(
    "extra", [["--mask-split", "0.4"], ["--mask-shape", "ellipse"], ["--style-mix", "blend"]]
)
def test_two_styles_with_masks_made_by_the_package_or_blended(tmp_path, capsys, extra):
    code, _, err = nst(
        capsys,
        "--content",
        "rocket",
        "--style",
        "swirls",
        "--style",
        "waves",
        *extra,
        "--out",
        tmp_path,
        *TINY,
    )
    assert code == 0, err
    inputs = json.loads((tmp_path / "run.json").read_text())["inputs"]
    assert inputs["styles"] == ["swirls", "waves"]
    assert ("masks" in inputs) == (extra[0] != "--style-mix")


def test_a_run_with_two_styles_and_masks_resumes_from_its_checkpoint(tmp_path, drawn, capsys, monkeypatch):
    argv = [
        *("--content", "chelsea", "--style", "swirls", "--style", "waves"),
        *("--mask", f"{drawn / 'sky.png'}:swirls", "--mask", f"{drawn / 'ground.png'}:waves"),
        *("--optimizer", "adam", "--lr", "0.02", "--checkpoint-every", "2", *TINY),
    ]
    argv[argv.index("--steps") + 1] = "4"
    assert nst(capsys, *argv, "--out", tmp_path / "full")[0] == 0
    # An interrupted run: stop after the checkpoint at step 2, then resume with --resume alone.
    real_run = transfer.run

    def stop_after_two(*args, **kwargs):
        import threading

        stop = threading.Event()
        kwargs["callback"] = lambda info: stop.set() if info.step == 2 else None
        return real_run(*args, stop=stop, **kwargs)

    monkeypatch.setattr(transfer, "run", stop_after_two)
    nst(capsys, *argv, "--out", tmp_path / "part")
    monkeypatch.setattr(transfer, "run", real_run)
    code, _, err = nst(capsys, "--resume", tmp_path / "part" / "checkpoint", "--quiet", "--force")
    assert code == 0, err
    a = np.asarray(Image.open(tmp_path / "full" / "result.png"), dtype=int)
    b = np.asarray(Image.open(tmp_path / "part" / "result.png"), dtype=int)
    assert np.abs(a - b).max() <= 1


TWO = ["--style", "swirls", "--style", "waves"]
BAD = {  # {d}: the folder of the drawn masks
    "weights for 3": ([*TWO, "--style-weights", "0.5,0.3,0.2"], "--style-weights has 3 weights for 2 styles"),
    "negative": ([*TWO, "--style-weights", "0.7,-0.3"], "--style-weights must be finite numbers ≥ 0"),
    "all zero": ([*TWO, "--style-weights", "0,0"], "--style-weights are all 0"),
    "not numbers": ([*TWO, "--style-weights", "0.7,x"], "'x' is not a number"),
    "empty mask": (
        ["--mask", "{d}/empty.png:swirls", "--mask", "{d}/ground.png:waves"],
        "is empty (0 everywhere)",
    ),
    "photo as mask": (
        ["--mask", "chelsea:swirls", "--mask", "{d}/ground.png:waves"],
        "not a black-and-white",
    ),
    "missing mask file": (["--mask", "{d}/nope.png:swirls"], "nope.png"),
    "a style without mask": ([*TWO, "--mask", "{d}/sky.png:swirls"], "--style waves has no --mask"),
    "mask for another style": (
        [*TWO, "--mask", "{d}/sky.png:stained_glass"],
        "is not one of the --style values",
    ),
    "not MASK:STYLE": ([*TWO, "--mask", "sky.png"], "is not MASK:STYLE"),
    "tiny region": (["--mask", "{d}/sky.png:swirls", "--mask", "{d}/tiny.png:waves"], "less than one"),
    "scale with one": (["--style", "swirls", "--style-mix", "scale"], "takes exactly two styles"),
    "split with one": (["--style", "swirls", "--mask-split", "0.5"], "takes exactly two --style images"),
    "split outside": ([*TWO, "--mask-split", "1.5"], "between 0 and 1"),
    "masks and blend": ([*TWO, "--style-mix", "blend", "--mask-split", "0.5"], "needs style_mix 'sum'"),
    "mask and split": ([*TWO, "--mask", "{d}/sky.png:swirls", "--mask-split", "0.5"], "use one of them"),
    "bad split layer": (
        [*TWO, "--style-mix", "scale", "--scale-split", "relu1_1"],
        "--scale-split 'relu1_1'",
    ),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_styles_masks_and_weights_are_one_line_exit_2_nothing_written(
    tmp_path, drawn, capsys, monkeypatch, case
):
    tiny = np.zeros((64, 64), np.uint8)
    tiny[:2, :2] = 255  # one corner: less than one position of relu5_1
    Image.fromarray(tiny).save(drawn / "tiny.png")
    argv, words = BAD[case]
    argv = [arg.replace("{d}", str(drawn)) for arg in argv]

    def no_model(*args, **kwargs):
        raise AssertionError("VGG was loaded")

    monkeypatch.setattr(transfer, "build_model", no_model)
    code, out, err = nst(capsys, "--content", "chelsea", *argv, "--out", tmp_path / "out", *TINY)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("nst-edu: ") and out == "", err
    assert words in lines[0] or words[0].upper() + words[1:] in lines[0], lines[0]
    assert not (tmp_path / "out").exists()
