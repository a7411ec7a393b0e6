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
from typing import TYPE_CHECKING

import torch

from ..output import fileio

if TYPE_CHECKING:
    from .config import Config

__all__ = [
    "STATE_FILE",
    "CheckpointError",
    "save",
    "load",
    "validate",
    "stage_sides",
    "Writer",
    "fingerprint",
    "state_path",
]

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
        raise CheckpointError(
            f"the checkpoint {path} is damaged or not a checkpoint ({detail}); {again}"
        ) from exc
    try:
        validate(state, name=f"the checkpoint {path}")
    except CheckpointError as exc:
        raise CheckpointError(f"{exc}; {again}") from None
    return state


def validate(state, config=None, name: str = "the resume state") -> Config:
    """Check a run's state field by field; return its ``Config``, or raise ``CheckpointError`` naming the field.

    Types, ranges, shapes and finiteness of every field, and their consistency with each other and with
    ``config`` (when given): a state that passes is one ``transfer.run(resume=state)`` can continue from. The
    message starts with ``name``: "the resume state has a bad step field: -3 is not a whole number …".
    """
    try:
        return _validate(state, config)
    except CheckpointError as exc:
        raise CheckpointError(f"{name} {exc}") from None


def _validate(state, config) -> Config:
    from .config import Config

    if not isinstance(state, dict):
        raise CheckpointError(f"holds a {type(state).__name__}, not a run's state")
    missing = [key for key in REQUIRED_KEYS if key not in state]
    if missing:
        raise CheckpointError(f"lacks {', '.join(missing)}")

    def bad(field, problem):
        return CheckpointError(f"has a bad {field} field: {problem}")

    if not isinstance(state["config"], dict):
        raise bad("config", f"a {type(state['config']).__name__}, not a dict of settings")
    try:
        saved = Config.from_dict(state["config"])
    except (ValueError, TypeError) as exc:
        raise bad("config", str(exc)) from None
    if config is not None and saved != config:
        differ = [k for k, v in saved.to_dict().items() if v != config.to_dict()[k]]
        raise CheckpointError(
            f"was made with a different Config ({', '.join(differ)} differ); resume with the config it holds"
        )
    step = state["step"]
    if isinstance(step, bool) or not isinstance(step, int) or not 0 <= step <= saved.total_steps:
        raise bad(
            "step", f"{step!r} is not a whole number from 0 to {saved.total_steps}, the run's number of steps"
        )
    image = state["image"]
    if not (
        isinstance(image, torch.Tensor)
        and image.is_floating_point()
        and image.ndim == 4
        and tuple(image.shape[:2]) == (1, 3)
        and image.shape[2] > 0
        and image.shape[3] > 0
    ):
        raise bad("image", f"{_describe(image)}, not a float tensor of shape (1, 3, H, W)")
    if not torch.isfinite(image).all():
        raise bad("image", "it contains NaN or infinite values")
    if image.min() < 0 or image.max() > 1:
        raise bad("image", f"its values span [{image.min():.4g}, {image.max():.4g}], outside [0, 1]")
    sides = stage_sides(saved, step)
    if max(image.shape[-2:]) not in sides:
        raise bad(
            "image",
            f"its longer side is {max(image.shape[-2:])} px, the run's size at step {step} is "
            f"{' or '.join(map(str, sides))} px",
        )
    _check_history(state["history"], saved, step, bad)
    _check_frames(state["frames"], step, bad)
    _check_optimizer(state["optimizer"], saved, tuple(image.shape), bad)
    extra = state.get("extra", {})
    if not isinstance(extra, dict):
        raise bad("extra", f"a {type(extra).__name__}, not a dict")
    for key in ("content", "style", "out"):
        if extra.get(key) is not None and not isinstance(extra[key], str):
            raise bad(f"extra.{key}", f"{extra[key]!r} is not a path, URL or sample name")
    for key in ("styles", "masks"):  # several styles and their regions (mask files)
        value = extra.get(key)
        if value is not None and not (
            isinstance(value, list) and value and all(isinstance(v, str) for v in value)
        ):
            raise bad(f"extra.{key}", f"{value!r} is not a list of paths, URLs or sample names")
    if extra.get("masks") is not None and len(extra["masks"]) != len(extra.get("styles") or []):
        raise bad("extra.masks", "there is not one mask per style of extra.styles")
    split = extra.get("mask_split")
    if split is not None and not (_finite_number(split) and 0 < split < 1):
        raise bad("extra.mask_split", f"{split!r} is not a fraction between 0 and 1")
    if extra.get("mask_shape") is not None and not isinstance(extra["mask_shape"], str):
        raise bad("extra.mask_shape", f"{extra['mask_shape']!r} is not a shape's name")
    every = extra.get("checkpoint_every")
    if every is not None and (isinstance(every, bool) or not isinstance(every, int) or every < 1):
        raise bad("extra.checkpoint_every", f"{every!r} is not a number of steps ≥ 1")
    prints = extra.get("fingerprints", {})
    if not (
        isinstance(prints, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in prints.items())
    ):
        raise bad("extra.fingerprints", "not a dict of image fingerprints")
    return saved


def _describe(value) -> str:
    if isinstance(value, torch.Tensor):
        return f"a {value.dtype} tensor of shape {tuple(value.shape)}"
    return f"a {type(value).__name__}"


def stage_sides(config, step: int) -> set[int]:
    """The longer side(s) G can have in a checkpoint taken after ``step`` steps: the coarse stage's up to
    ``coarse_steps`` (a checkpoint at the boundary holds the coarse image), the full size from there on."""
    from . import vgg

    coarse = max(vgg.min_side(config.layers), round(config.size * config.coarse_factor))
    sides = set()
    if config.coarse_steps and step <= config.coarse_steps:
        sides.add(coarse)
    if step >= config.coarse_steps:
        sides.add(config.size)
    return sides


def _finite_number(value) -> bool:
    return (
        not isinstance(value, bool)
        and isinstance(value, (int, float))
        and value == value
        and abs(value) != float("inf")
    )


def _check_history(history, config, step: int, bad) -> None:
    """One row per finished step, rows 0 … step − 1, each with every cost column and finite values."""
    columns = {
        "step",
        "seconds",
        "content",
        "style",
        "tv",
        "total",
        *(f"style:{name}" for name, _ in config.style_layers),
    }
    if not isinstance(history, list):
        raise bad("history", f"{_describe(history)}, not a list of rows")
    if len(history) != step:
        raise bad("history", f"{len(history)} rows for step {step} (one row per finished step)")
    last_seconds = 0.0
    for i, row in enumerate(history):
        if not isinstance(row, dict):
            raise bad("history", f"row {i} is {_describe(row)}, not a dict of costs")
        if set(row) != columns:
            lacks, extra = sorted(columns - set(row)), sorted(map(str, set(row) - columns))
            raise bad(
                "history",
                f"row {i} "
                + (
                    f"lacks the column {', '.join(lacks)}"
                    if lacks
                    else f"has the unknown column {', '.join(extra)}"
                ),
            )
        if row["step"] != i or isinstance(row["step"], bool):
            raise bad("history", f"row {i} says step {row['step']!r}")
        wrong = [k for k, v in row.items() if not _finite_number(v) or (k != "step" and v < 0)]
        if wrong:
            raise bad("history", f"row {i} holds {wrong[0]} = {row[wrong[0]]!r}, not a finite number ≥ 0")
        if row["seconds"] < last_seconds:
            raise bad("history", f"row {i}'s seconds go back in time")
        last_seconds = row["seconds"]


def _check_frames(frames, step: int, bad) -> None:
    """Pairs (k, uint8 (H, W, 3)) with 0 ≤ k ≤ step, k increasing."""
    if not isinstance(frames, (list, tuple)):
        raise bad("frames", f"{_describe(frames)}, not a list of (step, image) pairs")
    last = -1
    for i, pair in enumerate(frames):
        if not (isinstance(pair, (list, tuple)) and len(pair) == 2):
            raise bad("frames", f"item {i} is {_describe(pair)}, not a (step, image) pair")
        k, frame = pair
        if isinstance(k, bool) or not isinstance(k, int) or not last < k <= step:
            raise bad("frames", f"item {i} is at step {k!r}, not a step after {last} and at most {step}")
        if not (
            isinstance(frame, torch.Tensor)
            and frame.dtype == torch.uint8
            and frame.ndim == 3
            and frame.shape[2] == 3
            and frame.shape[0] > 0
            and frame.shape[1] > 0
        ):
            raise bad("frames", f"item {i} is {_describe(frame)}, not a uint8 image of shape (H, W, 3)")
        last = k


def _check_optimizer(opt, config, shape: tuple, bad) -> None:
    """The optimizer's state: of ``config.optimizer``'s kind, every tensor finite and of G's shape."""
    if opt is None:
        return
    if not isinstance(opt, dict):
        raise bad("optimizer", f"{_describe(opt)}, not an optimizer's state")

    def tensor(name, value, want=shape):
        if not (isinstance(value, torch.Tensor) and value.is_floating_point() and tuple(value.shape) == want):
            raise bad("optimizer", f"{name} is {_describe(value)}, not a float tensor of shape {want}")
        if not torch.isfinite(value).all():
            raise bad("optimizer", f"{name} contains NaN or infinite values")

    if config.optimizer == "adam":
        groups = opt.get("param_groups")
        if set(opt) != {"state", "param_groups"} or not (
            isinstance(groups, list) and len(groups) == 1 and isinstance(groups[0], dict)
        ):
            raise bad("optimizer", "not the state of an Adam optimizer (the run's optimizer is adam)")
        if groups[0].get("lr") != config.lr:
            raise bad("optimizer", f"its lr {groups[0].get('lr')!r} is not the config's lr {config.lr}")
        inner = opt["state"]
        if not isinstance(inner, dict) or set(inner) - {0}:
            raise bad("optimizer", "its state is not that of one image")
        for key, value in dict(inner.get(0, {})).items():
            tensor(key, value, () if key == "step" else shape)
        return
    if "pairs" not in opt or not {"prev_x", "prev_g", "lr", "history_size"} <= set(opt):
        raise bad("optimizer", "not the state of an L-BFGS optimizer (the run's optimizer is lbfgs)")
    if opt["lr"] != config.lr or opt["history_size"] != config.history_size:
        raise bad(
            "optimizer",
            f"its lr {opt['lr']!r} and history_size {opt['history_size']!r} are not the "
            f"config's {config.lr} and {config.history_size}",
        )
    pairs = opt["pairs"]
    if not isinstance(pairs, list) or len(pairs) > config.history_size:
        raise bad(
            "optimizer", f"its pairs are {_describe(pairs)}, not a list of at most {config.history_size}"
        )
    for i, pair in enumerate(pairs):
        if not (isinstance(pair, (list, tuple)) and len(pair) == 3):
            raise bad("optimizer", f"pair {i} is {_describe(pair)}, not (s, y, ρ)")
        tensor(f"pair {i}'s s", pair[0])
        tensor(f"pair {i}'s y", pair[1])
        tensor(f"pair {i}'s ρ", pair[2], ())
    for key in ("prev_x", "prev_g"):
        if opt[key] is not None:
            tensor(key, opt[key])
    for key in ("gamma", "accepted"):
        if opt.get(key) is not None and not (isinstance(opt[key], torch.Tensor) and opt[key].ndim == 0):
            raise bad("optimizer", f"{key} is {_describe(opt[key])}, not a scalar tensor")
    for key in ("first_step", "precondition"):
        if key in opt and not (_finite_number(opt[key]) and opt[key] >= 0):
            raise bad("optimizer", f"{key} is {opt[key]!r}, not a finite number ≥ 0")
    blocks = opt.get("blocks", [])
    if not (
        isinstance(blocks, (list, tuple))
        and all(isinstance(b, int) and not isinstance(b, bool) and b >= 1 for b in blocks)
    ):
        raise bad("optimizer", f"blocks is {blocks!r}, not a list of whole numbers ≥ 1")


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
