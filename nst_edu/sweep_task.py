"""One run of a sweep, as a Dask task on a worker: its folder, its checkpoint, its row of the table.

What it is: ``Task`` (a run's name, folder, inputs and Config), ``run_task`` (what a worker runs: take the run
folder's lock, skip a run that is already finished there, resume from its checkpoint or start, save the outputs,
return its row), ``finished_row`` (a finished run's row, read back from its run.json and history.csv) and
``row`` (one row of the table). ``sweep.py`` plans the runs and sends these tasks.

What it is not: no scheduling and no retries: Dask re-runs a task whose worker died, and the task then resumes
from the run's last checkpoint; a failure of the run itself (a NaN cost, an image it cannot use) is a row.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .core import checkpoint, transfer
from .core.config import Config
from .output import fileio

__all__ = ["Task", "run_task", "finished_row", "row", "sentence", "OUTPUT_FILES", "CHECKPOINT_DIR"]

OUTPUT_FILES = ("result.png", "progress.gif", "losses.png", "history.csv", "run.json")
CHECKPOINT_DIR = "checkpoint"
ERROR_FILE = "error.txt"  # the sentence of a run stopped by a NaN cost (its run.json says "non-finite")


@dataclass(frozen=True)
class Task:
    """One run: its folder's name, the indices of its content and style, its Config and the varied values."""

    name: str
    folder: str
    content: int
    style: int
    config: Config
    changes: dict
    inputs: dict


class _StopFlag:
    """``transfer.run(stop=…)``'s event: set when the sweep's Dask Event is set (read at most once a second)."""

    def __init__(self, name: str | None):
        self.name, self.checked, self.value = name, 0.0, False

    def is_set(self) -> bool:
        if self.name and not self.value and time.monotonic() - self.checked >= 1.0:
            self.checked = time.monotonic()
            with contextlib.suppress(ValueError, OSError, RuntimeError):  # no scheduler: never stops
                from distributed import Event

                self.value = Event(self.name).is_set()
        return self.value


def _worker_name() -> str:
    try:
        from distributed import get_worker

        return get_worker().address
    except (ImportError, ValueError):
        return f"pid {os.getpid()}"


def sentence(exc: BaseException | str) -> str:
    """An error as one sentence: its message, capitalised, with a full stop."""
    text = str(exc).strip() or type(exc).__name__
    return text[0].upper() + text[1:] + ("" if text.endswith(".") else ".")


def row(task: Task, status: str, history=None, seconds=0.0, error=None, resumed_from=0, worker=None) -> dict:
    """The table's row of one run: the final costs are the last row of its history (a complete run's last row
    is its result's costs, after its last step: ``steps_done`` counts steps, not rows). ``worker``: where it
    ran (default: this process's Dask worker; ``""`` for a row the sweep makes without a task)."""
    last = history.rows[-1] if history is not None and history.rows else {}
    values = {"run": task.name, "content": task.inputs["content"]["source"]}
    values["style"] = task.inputs["styles"][0]["source"]
    values.update(task.changes)
    costs = {"J_content": "content", "J_style": "style", "J_tv": "tv", "J": "total"}
    values.update(
        status=status,
        error=error,
        steps_done=int(last["step"]) + (status not in ("done", "resumed", "skipped")) if last else 0,
        **{column: last.get(key, float("nan")) for column, key in costs.items()},
        seconds=float(seconds),
        resumed_from=int(resumed_from),
        worker=_worker_name() if worker is None else worker,
        folder=task.folder,
    )
    return values


def finished_row(task: Task) -> dict | None:
    """The row of a run already done in its folder (run.json holds its config and inputs), else None.

    A run stopped by a NaN cost counts as done (it would stop again): its row carries the saved sentence.
    """
    folder = Path(task.folder)
    try:
        meta = json.loads((folder / "run.json").read_text())
        same = Config.from_dict(meta["config"]) == task.config and meta.get("inputs") == task.inputs
        error = (folder / ERROR_FILE).read_text().strip() if meta.get("stopped") == "non-finite" else None
        if not same or meta.get("stopped") not in (None, "non-finite"):
            return None
        history = transfer.History.from_csv((folder / "history.csv").read_text())
    except (OSError, ValueError, KeyError, TypeError):
        return None
    # The costs are float32 numbers; history.csv's 9 digits bring back exactly the values the run had.
    history.rows[-1:] = [
        {k: v if k in ("step", "seconds") else float(np.float32(v)) for k, v in last.items()}
        for last in history.rows[-1:]
    ]
    return row(task, "skipped" if error is None else "failed", history, meta.get("seconds", 0.0), error)


def _resume_state(task: Task) -> dict | None:
    """The run's checkpoint when it belongs to this config and these inputs; None to start afresh."""
    try:
        state = checkpoint.load(Path(task.folder) / CHECKPOINT_DIR)
        checkpoint.validate(state, task.config)
    except checkpoint.CheckpointError:
        return None
    return state if state.get("extra", {}).get("sweep_inputs") == task.inputs else None


def run_task(task: Task, content, style, threads: int = 1, checkpoint_every: int = 10, stop=None) -> dict:
    """Run one task in its folder (a Dask task; also callable directly) and return its row of the table.

    ``content`` and ``style``: a sample's name, the bytes of an image file or a downloaded image. Skips a
    finished run, resumes from the run's checkpoint when there is one, and turns a failure of the run itself
    into a row.
    """
    import torch

    torch.set_num_threads(threads)  # the same threads as the serial reference: the same bits
    folder = Path(task.folder)
    lock = fileio.FolderLock(folder)
    try:
        lock.acquire()  # two copies of one task (a worker thought dead) never write one folder
    except fileio.FolderBusyError as exc:
        return row(task, "failed", error=sentence(f"{folder} is in use by another run (pid {exc.pid})"))
    try:
        fileio.remove_temporaries(folder, [*OUTPUT_FILES, ERROR_FILE])  # left by a killed worker
        fileio.remove_temporaries(folder / CHECKPOINT_DIR, [checkpoint.STATE_FILE])
        done = finished_row(task)  # a copy of this task that finished before its worker died
        if done is not None:
            return done
        flag = _StopFlag(stop)
        if flag.is_set():  # the sweep was stopped while this task waited for a worker
            return row(task, "interrupted", error="Interrupted before it started.")
        return _run_in(task, folder, content, style, checkpoint_every, flag)
    finally:
        lock.release()


def _run_in(task: Task, folder: Path, content, style, checkpoint_every: int, stop) -> dict:
    resume = _resume_state(task)
    extra = {
        "content": task.inputs["content"]["source"],
        "style": task.inputs["styles"][0]["source"],
        "out": str(folder),
        "checkpoint_every": int(checkpoint_every),
        "sweep_inputs": task.inputs,
    }
    writer = checkpoint.Writer(folder / CHECKPOINT_DIR, extra)
    error = None
    try:
        result = transfer.run(
            content,
            style,
            task.config,
            progress=False,
            stop=stop,
            checkpoint=writer,
            checkpoint_every=checkpoint_every,
            resume=resume,
        )
    except transfer.NonFiniteCostError as exc:
        result, error = exc.result, sentence(exc)
    except (ValueError, OSError, RuntimeError) as exc:  # an image, a size or weights this run cannot use
        return row(task, "failed", error=sentence(exc))
    result.inputs = task.inputs
    result.save(folder, force=True)
    if error is not None:
        fileio.atomic_write_bytes(folder / ERROR_FILE, error.encode())
    else:
        (folder / ERROR_FILE).unlink(missing_ok=True)  # an earlier attempt's sentence
    if result.stopped in (None, "non-finite"):
        shutil.rmtree(folder / CHECKPOINT_DIR, ignore_errors=True)  # done: its state is no longer needed
    status = "failed" if error else "stopped" if result.stopped else "resumed" if resume else "done"
    start = int(resume["step"]) if resume else 0
    return row(task, status, result.history, result.seconds, error, start)
