"""Robustness of a run: interruption (Ctrl-C, a stop event, SIGINT to the command), NaN/infinite costs,
reproducibility across runs and processes.

The command-line behaviour for bad input, overwrites, failed writes and resume is in test_cli.py; the table of
what the user sees is docs/robustness.md.
"""

import functools
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
from nst_edu import cli
from nst_edu.core import transfer
from nst_edu.core.config import preset

# Pinned (not only "fast"), since the tests below depend on the start image and the optimizer; on the plain
# network (not normalised), whose costs are large enough for the overflows below.
FAST = preset(
    "fast",
    normalized=False,
    tv_weight=0.0,
    size=64,
    steps=6,
    coarse_steps=0,
    device="cpu",
    init="content",
    optimizer="lbfgs",
    lr=1.0,
    alpha=1.0,
    beta=5e-4,
)
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


@pytest.mark.parametrize(
    "changes, at_step, cost",
    [
        (
            {"alpha": 1e35},
            1,
            "total",
        ),  # α·J_content overflows float32 after the first step moves G away from C
        ({"beta": 1e28}, 0, "total"),  # β·J_style overflows at once
    ],
)
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


@pytest.mark.parametrize(
    "changes",
    [
        {
            "optimizer": "adam",
            "lr": 1e30,
            "beta": 1e25,
        },  # an infinite gradient: Adam's update is inf/inf = NaN
        {"beta": 1e300},  # β·J_style = inf at step 0, and L-BFGS's step along the infinite gradient is NaN
    ],
)
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
    assert (
        first.metadata()["torch"] == torch.__version__ and first.metadata()["nst_edu"] == nst_edu.__version__
    )


# --- the command in a real process: one end-to-end run, and Ctrl-C ----------------------------------------


def _nst_edu(*argv, **kwargs):
    env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")
    return subprocess.Popen(
        [sys.executable, "-m", "nst_edu", *map(str, argv)],
        cwd=ROOT,
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        **kwargs,
    )


def test_end_to_end_in_a_fresh_process_matches_in_process(tmp_path):
    argv = [
        "--content",
        "chelsea",
        "--style",
        "swirls",
        "--size",
        "64",
        "--steps",
        "3",
        "--coarse-steps",
        "0",
        "--quiet",
    ]
    proc = _nst_edu(*argv, "--out", tmp_path / "sub")
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    assert "Traceback" not in err and "result.png" in out
    assert cli.main([*argv, "--out", str(tmp_path / "here")]) == 0
    # Bit-identical across processes (same seed, same config, same machine).
    assert (tmp_path / "sub" / "result.png").read_bytes() == (tmp_path / "here" / "result.png").read_bytes()


def test_sigint_saves_the_result_so_far_and_exits_130(tmp_path):
    out = tmp_path / "out"
    proc = _nst_edu(
        "--content",
        "chelsea",
        "--style",
        "swirls",
        "--out",
        out,
        "--size",
        "64",
        "--steps",
        "100000",
        "--coarse-steps",
        "0",
        "--checkpoint-every",
        "2",
        "--quiet",
    )
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
        f"of 100000; the result so far is saved in {out}; continue with: nst-edu --resume {out / 'checkpoint'}."
    )
    meta = json.loads((out / "run.json").read_text())
    assert meta["stopped"] == "interrupt"
    steps_done = int(last.split("after step ")[1].split(" ")[0])
    assert steps_done >= 2 and len(transfer.History.from_csv((out / "history.csv").read_text())) == steps_done
    Image.open(out / "result.png").load()  # complete and readable
    assert sorted(p.name for p in out.iterdir()) == sorted([*cli.OUTPUT_FILES, "checkpoint"])
    assert [p.name for p in (out / "checkpoint").iterdir()] == ["state.pt"]  # no temporary file left


# --- issue 14: SIGTERM and SIGHUP like Ctrl-C; signals at start-up and while saving; one run per folder -----

RANDOM_RUN = [
    "--content",
    "chelsea",
    "--style",
    "swirls",
    "--size",
    "48",
    "--coarse-steps",
    "0",
    "--weights",
    "random",
    "--quiet",
]


def _handles_sigterm(pid: int) -> bool:
    """True once the process has installed a handler for SIGTERM (Linux: SigCgt in /proc/<pid>/status)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("SigCgt:"):
                return bool(int(line.split()[1], 16) & (1 << (signal.SIGTERM - 1)))
    except OSError:
        pass
    return False


def _wait_for(condition, proc, seconds=300):
    deadline = time.monotonic() + seconds
    while not condition() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert condition(), proc.communicate(timeout=60)


@pytest.mark.parametrize("signame, code", [("SIGTERM", 143), ("SIGHUP", 129)])
def test_sigterm_and_sighup_save_the_result_so_far(tmp_path, capsys, signame, code):
    out = tmp_path / "out"
    proc = _nst_edu(*RANDOM_RUN, "--out", out, "--steps", "100000", "--checkpoint-every", "2")
    _wait_for((out / "checkpoint" / "state.pt").exists, proc)
    # Meanwhile a second run into the same folder is refused: the folder is the first run's.
    assert cli.main([*RANDOM_RUN, "--out", str(out), "--steps", "1"]) == 2
    assert capsys.readouterr().err == (
        f"nst-edu: --out {out} is in use by another nst-edu run (pid {proc.pid}); "
        f"wait for it to finish or choose another --out.\n"
    )
    proc.send_signal(getattr(signal, signame))
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == code, stderr
    assert "Traceback" not in stderr
    last = stderr.strip().splitlines()[-1]
    assert last.startswith(f"nst-edu: interrupted by {signame} after step ") and last.endswith(
        f"of 100000; the result so far is saved in {out}; continue with: nst-edu --resume {out / 'checkpoint'}."
    )
    assert json.loads((out / "run.json").read_text())["stopped"] == "interrupt"
    Image.open(out / "result.png").load()
    # Every output complete, no temporary file, and the lock gone with its run.
    assert sorted(p.name for p in out.iterdir()) == sorted([*cli.OUTPUT_FILES, "checkpoint"])
    assert [p.name for p in (out / "checkpoint").iterdir()] == ["state.pt"]


@functools.lru_cache(maxsize=1)
def _lazy_package() -> bool:
    """Whether importing nst_edu.cli leaves torch unimported (the handlers then come before torch's import)."""
    code = "import sys, nst_edu.cli; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    return out.stdout.strip() == "False"


@pytest.mark.parametrize(
    "signame, code, how",
    [
        ("SIGINT", 130, "interrupted"),
        ("SIGTERM", 143, "interrupted by SIGTERM"),
        ("SIGHUP", 129, "interrupted by SIGHUP"),
    ],
)
def test_a_signal_during_start_up_is_one_sentence(tmp_path, signame, code, how):
    if not _lazy_package():
        pytest.skip(
            "nst_edu/__init__.py imports torch eagerly: a signal can arrive before the handlers exist"
        )
    out = tmp_path / "out"
    proc = _nst_edu(*RANDOM_RUN, "--out", out, "--steps", "5")
    _wait_for(lambda: _handles_sigterm(proc.pid), proc)  # handlers set; torch is still importing
    proc.send_signal(getattr(signal, signame))
    _, stderr = proc.communicate(timeout=300)
    assert proc.returncode == code, stderr
    assert stderr == f"nst-edu: {how} before the optimization started; nothing was written.\n"
    assert not out.exists()


def test_a_signal_while_saving_lets_the_outputs_finish(tmp_path, capsys, monkeypatch):
    real_save = transfer.Result.save

    def save_with_sigterm(self, out_dir, force=False):
        os.kill(os.getpid(), signal.SIGTERM)  # handled by cli.main's handler: the save goes on
        time.sleep(0.05)
        return real_save(self, out_dir, force=force)

    monkeypatch.setattr(transfer.Result, "save", save_with_sigterm)
    out = tmp_path / "out"
    assert cli.main([*RANDOM_RUN, "--out", str(out), "--steps", "2"]) == 143
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-2:] == [
        "nst-edu: SIGTERM received while saving the outputs; finishing them first (send it again "
        "to stop at once).",
        f"nst-edu: interrupted by SIGTERM while saving; the outputs were finished first and are "
        f"complete in {out}.",
    ]
    assert sorted(p.name for p in out.iterdir()) == sorted(cli.OUTPUT_FILES)
    assert json.loads((out / "run.json").read_text())["stopped"] is None
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # cli.main put the handler back


def test_a_stale_lock_of_a_dead_process_is_taken_over(tmp_path, capsys):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    out = tmp_path / "out"
    out.mkdir()
    (out / ".nst-edu.lock").write_text(f"{dead.pid}\n")  # left by a run killed with SIGKILL
    (out / ".result.png.x1y2.tmp").write_bytes(b"half")  # and a temporary file of its
    (out / ".losses.png.ab12.tmp.png").write_bytes(b"half")
    assert cli.main([*RANDOM_RUN, "--out", str(out), "--steps", "1"]) == 0
    assert sorted(p.name for p in out.iterdir()) == sorted(cli.OUTPUT_FILES)


def test_a_lock_held_by_a_live_process_then_released_by_its_death(tmp_path):
    from nst_edu.output import fileio

    hold = (
        "import sys, time; from nst_edu.output.fileio import FolderLock; FolderLock(sys.argv[1]).acquire(); "
        "print('held', flush=True); time.sleep(600)"
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    holder = subprocess.Popen(
        [sys.executable, "-c", hold, str(tmp_path)], env=env, stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout.readline() == "held\n"
    with pytest.raises(fileio.FolderBusyError) as info:
        fileio.FolderLock(tmp_path).acquire()
    assert info.value.pid == holder.pid
    holder.kill()  # SIGKILL: no clean-up at all, the lock file stays
    holder.wait()
    assert (tmp_path / ".nst-edu.lock").read_text() == f"{holder.pid}\n"
    lock = fileio.FolderLock(tmp_path).acquire()  # taken over
    assert (tmp_path / ".nst-edu.lock").read_text() == f"{os.getpid()}\n"
    with pytest.raises(fileio.FolderBusyError):  # one holder at a time, in one process too
        fileio.FolderLock(tmp_path).acquire()
    lock.release()
    assert not (tmp_path / ".nst-edu.lock").exists()


def test_an_interrupted_atomic_write_leaves_no_temporary_file(tmp_path):
    from nst_edu.output import fileio

    (tmp_path / "a.png").write_bytes(b"old")
    with pytest.raises(KeyboardInterrupt):
        with fileio.atomic_path(tmp_path / "a.png") as tmp:
            tmp.write_bytes(b"half")
            raise KeyboardInterrupt
    assert [p.name for p in tmp_path.iterdir()] == ["a.png"] and (tmp_path / "a.png").read_bytes() == b"old"


def test_signals_deferred_holds_a_signal_until_the_block_ends():
    from nst_edu.output import fileio

    reached = []
    with pytest.raises(KeyboardInterrupt):
        with fileio.signals_deferred():
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)
            reached.append("end of block")  # not interrupted inside
    assert reached == ["end of block"]
