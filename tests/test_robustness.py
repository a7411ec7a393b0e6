"""Robustness of a run: interruption (Ctrl-C, a stop event, SIGINT to the command), NaN/infinite costs,
reproducibility across runs and processes.

The command-line behaviour for bad input, overwrites, failed writes and resume is in test_cli.py; the table of
what the user sees is docs/robustness.md.
"""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import nst_edu
from nst_edu import cli, transfer
from nst_edu.config import preset

# Pinned (not only "fast"), since the tests below depend on the start image and the optimizer.
FAST = preset("fast", size=64, steps=6, coarse_steps=0, device="cpu", init="content", optimizer="lbfgs", lr=1.0,
              alpha=1.0, beta=5e-4)
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def three_steps(tiny_pair):
    """The image after exactly 3 steps of FAST (a run of 3 steps)."""
    return transfer.run(*tiny_pair, FAST.replace(steps=3), progress=False)


# --- interruption in a notebook: Ctrl-C (KeyboardInterrupt) and the Stop button (an Event) --------------

def test_keyboard_interrupt_returns_the_result_so_far(tiny_pair, three_steps):
    def ctrl_c_after_3(info):
        if info.step == 3:
            raise KeyboardInterrupt

    result = transfer.run(*tiny_pair, FAST, callback=ctrl_c_after_3, progress=False)
    assert result.stopped == "interrupt"
    assert len(result.history) == 3  # the costs before steps 1, 2, 3
    assert torch.equal(result.image, three_steps.image)  # exactly the image after step 3
    assert result.frames[-1][0] == 3


def test_stop_event_returns_the_result_so_far(tiny_pair, three_steps):
    stop = threading.Event()

    def press_stop_after_3(info):
        if info.step == 3:
            stop.set()

    result = transfer.run(*tiny_pair, FAST, callback=press_stop_after_3, stop=stop, progress=False)
    assert result.stopped == "stop" and len(result.history) == 3
    assert torch.equal(result.image, three_steps.image)


def test_stop_before_the_first_step(tiny_pair):
    stop = threading.Event()
    stop.set()
    result = transfer.run(*tiny_pair, FAST, stop=stop, progress=False)
    assert result.stopped == "stop" and len(result.history) == 0
    assert torch.isfinite(result.image).all() and result.image.shape == tiny_pair[0].shape


# --- NaN / infinite costs --------------------------------------------------------------------------------

@pytest.mark.parametrize("changes, at_step, cost", [
    ({"alpha": 1e35}, 1, "total"),  # α·J_content overflows float32 after the first step moves G away from C
    ({"beta": 1e28}, 0, "total"),  # β·J_style overflows at once
])
def test_non_finite_cost_stops_with_the_last_good_result(tiny_pair, changes, at_step, cost):
    with pytest.raises(nst_edu.NonFiniteCostError) as info:
        transfer.run(*tiny_pair, FAST.replace(**changes), progress=False)
    message = str(info.value)
    assert message.startswith(f"the {cost} cost became inf at step {at_step}; ")
    assert "learning rate" in message and "α/β" in message
    result = info.value.result
    assert result.stopped == "non-finite" and len(result.history) == at_step
    assert all(np.isfinite(result.history.column(c)).all() for c in ("content", "style", "total"))
    assert torch.isfinite(result.image).all() and 0 <= result.image.min() and result.image.max() <= 1


@pytest.mark.parametrize("changes", [
    {"optimizer": "adam", "lr": 1e30, "beta": 1e25},  # an infinite gradient: Adam's update is inf/inf = NaN
    {"beta": 1e300},  # β·J_style = inf at step 0, and L-BFGS's step along the infinite gradient is NaN
])
def test_non_finite_keeps_the_image_whose_costs_were_finite(tiny_pair, changes):
    C, _ = tiny_pair
    with pytest.raises(nst_edu.NonFiniteCostError) as info:
        transfer.run(*tiny_pair, FAST.replace(**changes), progress=False)
    image = info.value.result.image
    assert torch.isfinite(image).all()
    # The last image with finite costs: the start image (init "content" starts from C itself) at step 0 or 1.
    assert len(info.value.result.history) <= 1 and torch.equal(image, C)


# --- reproducibility -------------------------------------------------------------------------------------

def test_same_seed_bit_identical_other_seed_different(tiny_pair):
    config = FAST.replace(init="white", steps=3)  # a random start, so that the seed matters
    first = transfer.run(*tiny_pair, config, progress=False)
    second = transfer.run(*tiny_pair, config, progress=False)
    other = transfer.run(*tiny_pair, config.replace(seed=1), progress=False)
    assert torch.equal(first.image, second.image)
    for column in ("content", "style", "total"):
        assert (first.history.column(column) == second.history.column(column)).all()
    assert not torch.equal(first.image, other.image)
    assert first.metadata()["config"] == config.to_dict()
    assert first.metadata()["torch"] == torch.__version__ and first.metadata()["nst_edu"] == nst_edu.__version__


# --- the command in a real process: one end-to-end run, and Ctrl-C ----------------------------------------

def _nst_edu(*argv, **kwargs):
    env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")
    return subprocess.Popen([sys.executable, "-m", "nst_edu", *map(str, argv)], cwd=ROOT, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kwargs)


def test_end_to_end_in_a_fresh_process_matches_in_process(tmp_path):
    argv = ["--content", "chelsea", "--style", "swirls", "--size", "64", "--steps", "3", "--coarse-steps", "0",
            "--quiet"]
    proc = _nst_edu(*argv, "--out", tmp_path / "sub")
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    assert "Traceback" not in err and "result.png" in out
    assert cli.main([*argv, "--out", str(tmp_path / "here")]) == 0
    # Bit-identical across processes (same seed, same config, same machine).
    assert (tmp_path / "sub" / "result.png").read_bytes() == (tmp_path / "here" / "result.png").read_bytes()


def test_sigint_saves_the_result_so_far_and_exits_130(tmp_path):
    out = tmp_path / "out"
    proc = _nst_edu("--content", "chelsea", "--style", "swirls", "--out", out, "--size", "64", "--steps", "100000",
                    "--coarse-steps", "0", "--checkpoint-every", "2", "--quiet")
    state = out / "checkpoint" / "state.pt"
    deadline = time.monotonic() + 600
    while not state.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert state.exists(), proc.communicate(timeout=60)
    proc.send_signal(signal.SIGINT)  # Ctrl-C, a few steps in
    stdout, stderr = proc.communicate(timeout=600)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    last = stderr.strip().splitlines()[-1]
    assert last.startswith("nst-edu: interrupted after step ") and last.endswith(
        f"of 100000; the result so far is saved in {out}; continue with: nst-edu --resume {out / 'checkpoint'}.")
    meta = json.loads((out / "run.json").read_text())
    assert meta["stopped"] == "interrupt"
    steps_done = int(last.split("after step ")[1].split(" ")[0])
    assert steps_done >= 2 and len(transfer.History.from_csv((out / "history.csv").read_text())) == steps_done
    Image.open(out / "result.png").load()  # complete and readable
    assert sorted(p.name for p in out.iterdir()) == sorted([*cli.OUTPUT_FILES, "checkpoint"])
    assert [p.name for p in (out / "checkpoint").iterdir()] == ["state.pt"]  # no temporary file left
