"""Checkpoint folders: save the state of a run so that an interrupted run can continue where it was.

What it is: ``save(state, directory)`` writes ``<directory>/state.pt`` (``torch.save`` of the dict that
``transfer.run`` hands to its ``checkpoint`` callback, plus any ``extra`` information such as where the images
came from), atomically: a crash or Ctrl-C while writing leaves the previous checkpoint intact. ``load(directory)``
reads it back with ``torch.load(weights_only=True)`` (plain tensors, numbers, strings, lists and dicts: no
pickled code runs) and checks that it is complete; ``Writer`` is the callback the CLI passes to ``transfer.run``;
``fingerprint`` identifies an image so that a resume with other images is refused.

What it is not: no optimization (``transfer.run(resume=state)`` continues the run), no result files
(``Result.save``).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch

from . import fileio

__all__ = ["STATE_FILE", "CheckpointError", "save", "load", "Writer", "fingerprint", "state_path"]

STATE_FILE = "state.pt"
REQUIRED_KEYS = ("image", "optimizer", "history", "frames", "step", "config")


class CheckpointError(ValueError):
    """A checkpoint folder that is missing, damaged or does not belong to this run; the message says why."""


def state_path(directory: str | Path) -> Path:
    """``<directory>/state.pt``; a path to the state file itself is accepted too."""
    path = Path(directory).expanduser()
    return path if path.suffix == ".pt" else path / STATE_FILE


def save(state: dict, directory: str | Path, extra: dict | None = None) -> Path:
    """Write ``state`` (and ``extra`` under the key ``"extra"``) to ``<directory>/state.pt`` atomically."""
    path = state_path(directory)
    payload = dict(state)
    if extra:
        payload["extra"] = dict(extra)
    with fileio.atomic_path(path) as tmp:
        torch.save(payload, tmp)
    return path


def load(directory: str | Path) -> dict:
    """Read a checkpoint written by ``save``; raise ``CheckpointError`` saying what is wrong and what to do."""
    from .config import Config

    path = state_path(directory)
    again = "start the run again (nst-edu --checkpoint-every N writes <out>/checkpoint/)"
    if not path.is_file():
        raise CheckpointError(f"there is no checkpoint at {path}; {again}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - truncated zip, not a torch file, foreign pickle: all "damaged"
        if "weights only load failed" in str(exc).lower():
            detail = "it holds Python objects, which the safe loader (weights_only=True) refuses to run"
        else:
            detail = f"{type(exc).__name__}: " + (str(exc).strip().splitlines() or [""])[0][:80]
        raise CheckpointError(f"the checkpoint {path} is damaged or not a checkpoint ({detail}); {again}") from exc
    if not isinstance(state, dict):
        raise CheckpointError(f"the checkpoint {path} holds a {type(state).__name__}, not a run's state; {again}")
    missing = [key for key in REQUIRED_KEYS if key not in state]
    if missing:
        raise CheckpointError(f"the checkpoint {path} lacks {', '.join(missing)}; {again}")
    try:
        Config.from_dict(state["config"])
    except (ValueError, TypeError) as exc:
        raise CheckpointError(f"the checkpoint {path} holds an invalid config ({exc}); {again}") from exc
    return state


class Writer:
    """The ``checkpoint`` callback for ``transfer.run``: each call replaces ``<directory>/state.pt``."""

    def __init__(self, directory: str | Path, extra: dict | None = None):
        self.directory, self.extra = Path(directory), extra
        self.count, self.last_step = 0, None

    def __call__(self, state: dict) -> None:
        save(state, self.directory, self.extra)
        self.count, self.last_step = self.count + 1, int(state["step"])


def fingerprint(image: torch.Tensor) -> str:
    """SHA-256 of an image tensor's shape and float32 values: equal images, equal fingerprints."""
    x = image.detach().to("cpu", torch.float32).contiguous()
    digest = hashlib.sha256(str(tuple(x.shape)).encode())
    digest.update(x.numpy().tobytes())
    return digest.hexdigest()
