"""The ``nst-edu`` command (also ``python -m nst_edu``).

What it is: argument parsing, turning a user's options into a ``Config``, running ``transfer.run`` and
writing result.png, progress.gif, losses.png, history.csv and run.json into the output folder, optionally with
checkpoints (``--checkpoint-every N`` writes ``<out>/checkpoint/state.pt``; ``--resume DIR`` continues from one).

How it fails (docs/robustness.md has the table of messages):
- a user mistake (missing file, not an image, unknown sample, an image too small or too large for memory,
  damaged weights, existing outputs) is one sentence on stderr and exit code 2, checked before any
  optimization starts and before anything is written;
- a cost that becomes NaN or infinite: the last image with finite costs is saved, one sentence, exit code 1;
- Ctrl-C (SIGINT), SIGTERM (``timeout``, ``kill``, a batch scheduler, a Jupyter server stopping) or SIGHUP (a
  closed terminal) during the optimization: the result so far is saved (run.json says ``"stopped":
  "interrupt"``), exit code 128 + the signal's number (130, 143, 129); before the optimization: one sentence,
  nothing written; while saving: the outputs are finished first (a second signal stops at once);
- an output folder belongs to one run at a time (``<out>/.nst-edu.lock`` holds its pid; a second run is refused,
  a lock left by a dead process is taken over);
- every file is written to a temporary file and renamed, so a failure never leaves a half-written file.

What it is not: no optimization logic of its own.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from . import __version__
from .output import fileio

if TYPE_CHECKING:
    from .core.config import Config

OUTPUT_FILES = ("result.png", "progress.gif", "losses.png", "history.csv", "run.json")
CHECKPOINT_DIR = "checkpoint"
_STATE_FILE = (
    "state.pt"  # checkpoint.STATE_FILE, not imported here: that would import torch before the handlers
)
EXIT_USER_ERROR, EXIT_FAILED, EXIT_INTERRUPTED = 2, 1, 130  # 130 = 128 + SIGINT, as shells report Ctrl-C
# A signal stops a run like Ctrl-C; the exit code is 128 + its number, as a shell reports a process it killed.
STOP_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)
)
EXIT_CODES = {int(sig): 128 + int(sig) for sig in STOP_SIGNALS}  # SIGINT 130, SIGTERM 143, SIGHUP 129
# Options that become Config fields (argparse dest names, which equal the field names).
CONFIG_OPTIONS = (
    "size",
    "steps",
    "coarse_steps",
    "coarse_size",
    "optimizer",
    "lr",
    "alpha",
    "beta",
    "style_strength",
    "tv_weight",
    "content_layer",
    "init",
    "noise_ratio",
    "style_scale",
    "weights",
    "pooling",
    "normalized",
    "precision",
    "device",
    "seed",
    "frame_every",
    "history_size",
    "precondition",
    "colour",
    "style_mix",
    "scale_split",
)


class UserError(Exception):
    """A mistake in the command line: printed as one sentence, exit code 2."""


def _size(text: str):
    """``--size``: a positive number of pixels, or ``auto``."""
    if text == "auto":
        return text
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of pixels or 'auto'") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not a positive number of pixels")
    return value


def build_parser() -> argparse.ArgumentParser:
    from .core.config import COLOURS, DEVICES, OPTIMIZERS, PRECISIONS, PRESETS, STYLE_MIXES
    from .core.masks import SHAPES
    from .core.noise import KINDS
    from .core.vgg import POOLINGS, WEIGHT_SOURCES

    p = argparse.ArgumentParser(
        prog="nst-edu",
        description="Neural style transfer (Gatys et al. 2016): paint CONTENT in the style of STYLE.",
        epilog="Samples: content photos chelsea, astronaut, coffee…; styles stained_glass, swirls… "
        "(nst-edu --list-samples). Example: nst-edu --content chelsea --style swirls --out out/. "
        "Exit codes: 0 done, 1 stopped on a NaN/infinite cost (last good image saved), 2 bad input, "
        "130 interrupted with Ctrl-C, 143 by SIGTERM, 129 by SIGHUP (result so far saved). "
        "Many runs: nst-edu sweep --help, nst-edu batch --help.",
    )
    p.add_argument("--content", help="content image: a path, an http(s) URL or a sample name")
    p.add_argument(
        "--style",
        action="append",
        help="style image: a path, an http(s) URL or a sample name; repeat it for several styles",
    )
    p.add_argument(
        "--out", help="output folder for result.png, progress.gif, losses.png, history.csv, run.json"
    )
    p.add_argument("--preset", choices=sorted(PRESETS), help="starting recipe (default: fast)")
    p.add_argument(
        "--size",
        type=_size,
        help="longer side of the result in pixels, or 'auto': the content image's own size, "
        "reduced to the largest that fits in free memory",
    )
    p.add_argument("--steps", type=int, help="optimizer steps at full size")
    p.add_argument(
        "--coarse-steps",
        type=int,
        help="steps at a coarse size (--coarse-size, else half size) before the full-size steps",
    )
    p.add_argument(
        "--coarse-size",
        type=int,
        metavar="N",
        help="longer side of the coarse stage in pixels (preset hires: 512); one not smaller than --size "
        "means no coarse stage",
    )
    p.add_argument(
        "--tile",
        metavar="N|auto|off",
        help="evaluate the cost tile by tile, exactly, so that memory follows a tile of N px, not the image: "
        "auto (default) only when the image does not fit in free memory, off never, N always (N at least the "
        "halo, 80 px for the presets' layers)",
    )
    p.add_argument("--optimizer", choices=OPTIMIZERS)
    p.add_argument("--history-size", type=int, metavar="M", help="L-BFGS: pairs of past steps kept")
    p.add_argument(
        "--precondition",
        type=float,
        metavar="K",
        help="L-BFGS: weight k of the low-frequency preconditioner (0: plain L-BFGS; fast: 1; "
        "k = 3 diverged in our tests: there is no line search)",
    )
    p.add_argument("--lr", type=float, help="learning rate")
    p.add_argument("--alpha", type=float, help="content weight α")
    p.add_argument(
        "--beta",
        type=float,
        help="a fixed style weight β instead of --style-strength (on the paper's normalised network of gatys "
        "and fast, about 1–100; course: 0.04)",
    )
    p.add_argument(
        "--style-strength",
        type=float,
        metavar="S",
        help="more or less style, the same on every pair: β = S·α / J_style(S, C) (gatys and fast: 20; "
        "useful from about 5, little style, to 100, style wins)",
    )
    p.add_argument(
        "--tv-weight",
        type=float,
        help="total-variation weight up to 256 px; above, it grows as (side / 256)³ (presets: 20)",
    )
    p.add_argument("--content-layer", help="VGG-19 layer for the content cost, e.g. relu4_2")
    p.add_argument(
        "--style-layers", help="comma-separated style layers, optionally layer:λ, e.g. relu1_1:0.5,relu2_1"
    )
    p.add_argument("--init", choices=KINDS, help="starting image")
    p.add_argument("--noise-ratio", type=float, help="noise ratio r of the starting image")
    p.add_argument(
        "--style-scale",
        type=float,
        help="the style image's longer side is size × style-scale (default 1; S and C may differ "
        "in size and aspect ratio)",
    )
    p.add_argument(
        "--style-weights",
        metavar="W1,W2,…",
        help="one weight w_s ≥ 0 per --style, e.g. 0.7,0.3 (default: equal)",
    )
    p.add_argument(
        "--style-mix",
        choices=STYLE_MIXES,
        help="several styles: sum Σ w_s J_style(S_s) (default), blend (one target, the weighted mean of "
        "their Gram matrices), or scale (two styles: the style layers before --scale-split from the "
        "first, the others from the second)",
    )
    p.add_argument(
        "--scale-split", metavar="LAYER", help="--style-mix scale: the first style layer of the second style"
    )
    p.add_argument(
        "--colour",
        "--color",
        dest="colour",
        choices=COLOURS,
        help="style: the style's colours (default); luminance: transfer the luminance only and keep the "
        "content's colours; histogram: recolour the style to the content's colours first; keep-colours: "
        "the result's luminance with the content's colours",
    )
    p.add_argument(
        "--mask",
        action="append",
        metavar="MASK:STYLE",
        help="the region (white on black, any size) that STYLE paints; STYLE is one of the --style values "
        "(or give the styles only here); one --mask per style",
    )
    p.add_argument(
        "--mask-split",
        type=float,
        metavar="AT",
        help="two styles, no mask files: the first paints above a line at AT of the height (the sky), "
        "the second below (the ground), e.g. 0.45",
    )
    p.add_argument(
        "--mask-shape",
        choices=SHAPES,
        help="two styles, no mask files: the first paints inside a centred shape, the second outside",
    )
    p.add_argument("--weights", choices=WEIGHT_SOURCES, help="VGG-19 weights (default: caffe, offline)")
    p.add_argument("--pooling", choices=POOLINGS)
    p.add_argument(
        "--normalized",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="the paper's normalised VGG-19 (each filter's mean activation 1; gatys and fast: on)",
    )
    p.add_argument("--precision", choices=PRECISIONS)
    p.add_argument("--device", choices=DEVICES)
    p.add_argument("--seed", type=int)
    p.add_argument("--frame-every", type=int, help="capture a GIF frame every N steps")
    p.add_argument(
        "--checkpoint-every",
        type=int,
        metavar="N",
        help="every N steps save the run's state to OUT/checkpoint/state.pt (for --resume)",
    )
    p.add_argument(
        "--resume",
        metavar="DIR",
        help="continue the run saved in DIR (e.g. OUT/checkpoint) with its own settings; "
        "--content, --style and --out default to the ones it was started with",
    )
    p.add_argument("--mp4", action="store_true", help="also write progress.mp4")
    p.add_argument("--force", action="store_true", help="overwrite existing outputs in --out")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--list-samples", action="store_true", help="list the bundled sample images and exit")
    p.add_argument("--version", action="version", version=f"nst-edu {__version__}")
    return p


def parse_style_layers(text: str) -> tuple[tuple[str, float], ...]:
    """``"relu1_1:0.5,relu2_1"`` -> ((relu1_1, 0.5), (relu2_1, 1/n)): unweighted layers share the rest equally."""
    pairs = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, _, weight = item.partition(":")
        try:
            pairs.append((name, float(weight) if weight else None))
        except ValueError:
            raise UserError(f"style layer weight {weight!r} in {item!r} is not a number") from None
    if not pairs:
        raise UserError("--style-layers is empty; give names such as relu1_1,relu2_1")
    return tuple((name, w if w is not None else 1.0 / len(pairs)) for name, w in pairs)


def _changes(args) -> dict:
    """The Config fields the command line sets (``--size auto`` is not one: it is decided later)."""
    changes = {f: getattr(args, f) for f in CONFIG_OPTIONS if getattr(args, f) is not None}
    if changes.get("size") == "auto":
        del changes["size"]
    if "style_strength" in changes:  # a strength means β chosen for the pair
        if "beta" in changes:
            raise UserError(
                "give either --beta (a fixed β) or --style-strength (β chosen for the pair), not both"
            )
        changes["beta"] = None
    if args.style_layers is not None:
        changes["style_layers"] = parse_style_layers(args.style_layers)
    if args.tile is not None:
        changes["tile"] = parse_tile(args.tile)
    if args.style_weights is not None:
        changes["style_weights"] = parse_style_weights(args.style_weights)
    return changes


def parse_tile(text: str) -> int:
    """``--tile``: ``auto`` -> 0, ``off`` -> -1, a number of pixels N ≥ 1 -> N (``Config.tile``)."""
    choices = {"auto": 0, "off": -1}
    if text.strip().lower() in choices:
        return choices[text.strip().lower()]
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise UserError(f"--tile must be a tile side in pixels such as 512, auto or off, got {text!r}")
    return value


def parse_style_weights(text: str) -> tuple[float, ...]:
    """``"0.7,0.3"`` -> (0.7, 0.3); the Config checks that they are ≥ 0 and not all 0."""
    weights = []
    for item in (part.strip() for part in text.split(",")):
        try:
            weights.append(float(item))
        except ValueError:
            raise UserError(
                f"--style-weights: {item!r} is not a number; give one number per --style, e.g. 0.7,0.3"
            ) from None
    return tuple(weights)


def _split_mask_spec(spec: str, styles: list[str] | None) -> tuple[str, str]:
    """``MASK:STYLE`` -> (MASK, STYLE), at the ':' after which STYLE is one of ``styles`` (paths and URLs
    may hold ':' themselves); without ``styles``, at the first ':' whose left part is an existing file."""
    cuts = [i for i, ch in enumerate(spec) if ch == ":"]
    for i in cuts:
        mask, style = spec[:i], spec[i + 1 :]
        if mask and style and (style in styles if styles else os.path.lexists(Path(mask).expanduser())):
            return mask, style
    if styles and cuts:
        raise UserError(
            f"--mask {spec}: the style after ':' is not one of the --style values ({', '.join(styles)}); "
            f"write --mask MASK:STYLE with STYLE exactly as given to --style"
        )
    if cuts and spec[: cuts[0]] and spec[cuts[0] + 1 :]:
        return spec[: cuts[0]], spec[cuts[0] + 1 :]  # the mask file is missing: load_mask will say so
    raise UserError(f"--mask {spec} is not MASK:STYLE; write e.g. --mask sky.png:starry_night.jpg")


def _styles_and_masks(args) -> tuple[list[str], list[str] | None]:
    """The styles in order and, with --mask, each style's mask file (one per style), or one sentence why not."""
    made = [flag for flag in ("mask_split", "mask_shape") if getattr(args, flag) is not None]
    if args.mask and made:
        raise UserError(f"--mask and --{made[0].replace('_', '-')} both set the regions; use one of them")
    if len(made) == 2:
        raise UserError("--mask-split and --mask-shape both set the regions; use one of them")
    if not args.mask:
        if made and len(args.style or []) != 2:
            raise UserError(
                f"--{made[0].replace('_', '-')} makes two regions, so it takes exactly two --style images, got "
                f"{len(args.style or [])}"
            )
        if args.mask_split is not None and not 0 < args.mask_split < 1:
            raise UserError(
                f"--mask-split must be a fraction between 0 and 1 (where the line lies), got {args.mask_split:g}"
            )
        return list(args.style or []), None
    pairs = [_split_mask_spec(spec, args.style) for spec in args.mask]
    if not args.style:
        return [style for _, style in pairs], [mask for mask, _ in pairs]
    by_style: dict[str, str] = {}
    for mask, style in pairs:
        if style in by_style:
            raise UserError(
                f"--mask gives the style {style} two regions ({by_style[style]}, {mask}); give one"
            )
        by_style[style] = mask
    missing = [style for style in args.style if style not in by_style]
    if missing:
        raise UserError(
            f"--style {missing[0]} has no --mask; with masks, each style needs its region (--mask MASK:{missing[0]})"
        )
    return list(args.style), [by_style[style] for style in args.style]


def config_from_args(args) -> Config:
    from .core.config import preset

    try:
        return preset(args.preset or "fast", **_changes(args))
    except (ValueError, TypeError) as exc:
        raise UserError(_as_flags(str(exc))) from None


def _as_flags(message: str) -> str:
    """A Config message in command-line words: "lr must be …" -> "--lr must be …"."""
    for field in (*CONFIG_OPTIONS, "style_layers", "style_weights"):
        if message.startswith(field + " "):
            return "--" + field.replace("_", "-") + message[len(field) :]
    if message.startswith("style layer weight"):
        return "--style-layers: " + message
    return message


def _one_sentence(exc: BaseException | str) -> str:
    text = str(exc).strip() or exc.__class__.__name__
    return text[0].upper() + text[1:] + ("" if text.endswith(".") else ".")


def _say(text: str) -> None:
    print(f"nst-edu: {text}", file=sys.stderr, flush=True)


def _how(signum: int | None) -> str:
    return (
        "interrupted" if signum in (None, signal.SIGINT) else f"interrupted by {signal.Signals(signum).name}"
    )


def main(argv: list[str] | None = None) -> int:
    if (sys.argv[1:] if argv is None else argv)[:1] in (["sweep"], ["batch"]):  # many runs, on Dask
        from .sweep_cli import main as sweep_main

        return sweep_main(list(sys.argv[1:] if argv is None else argv))
    # phase: "checks" (nothing written yet), "run" (the optimization), "stopping" (a signal stopped it),
    # "save" (writing the outputs); lock: the --out folder's FolderLock; made: folders this run created.
    state = {"phase": "checks", "signal": None, "lock": None, "made": []}
    previous = _install_signal_handlers(state)
    try:
        args = build_parser().parse_args(argv)
        return _main(args, state)
    except UserError as exc:
        _say(_one_sentence(exc))
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        # Ctrl-C outside the optimization (which handles its own): while checking, nothing has been written;
        # while saving, each file already written is complete (written to a temporary file, then renamed).
        how = _how(state["signal"])
        _say(
            f"{how} while saving; the files written so far are complete, the others unchanged."
            if state["phase"] == "save"
            else f"{how} before the optimization started; nothing was written."
        )
        return EXIT_CODES.get(state["signal"], EXIT_INTERRUPTED)
    finally:
        _clean_up(state)
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _install_signal_handlers(state: dict) -> dict:
    """SIGINT, SIGTERM and SIGHUP stop the run like Ctrl-C; returns the handlers they replace."""
    if threading.current_thread() is not threading.main_thread():
        return {}  # only the main thread may set handlers (cli.main called from a worker thread)

    def on_signal(signum, frame):
        first = state["signal"] is None
        state["signal"] = state["signal"] or signum
        phase = state["phase"]
        if phase == "run" and first:
            state["phase"] = "stopping"
            raise KeyboardInterrupt  # transfer.run catches it and returns the result so far
        if phase in ("run", "stopping"):
            return  # the run is already stopping: the result still gets saved
        if phase == "save":
            if state.get("deferred"):
                raise KeyboardInterrupt  # a second signal while saving: stop at once
            state["deferred"] = True
            _say(
                f"{signal.Signals(signum).name} received while saving the outputs; finishing them first "
                f"(send it again to stop at once)."
            )
            return
        # Checks, model loading, imports: nothing has been written. The command leaves at once, with one
        # sentence: a KeyboardInterrupt raised inside an import (torch takes seconds) can surface as another
        # error. Called in-process (tests, a notebook), it must not end the caller's process: raise instead.
        if not _standalone():
            raise KeyboardInterrupt
        _clean_up(state)
        _say(f"{_how(signum)} before the optimization started; nothing was written.")
        os._exit(EXIT_CODES.get(signum, EXIT_INTERRUPTED))

    previous = {}
    for signum in STOP_SIGNALS:
        if signal.getsignal(signum) is signal.SIG_IGN:
            continue  # ignored on purpose (nohup, a background job of a shell): keep ignoring it
        try:
            previous[signum] = signal.signal(signum, on_signal)
        except (OSError, ValueError):
            pass
    return previous


def _standalone() -> bool:
    """True when this process is the command itself (``nst-edu`` or ``python -m nst_edu``)."""
    program = Path(sys.argv[0] if sys.argv and sys.argv[0] else "")
    return program.name in ("nst-edu", "nst-edu.exe") or (
        program.name == "__main__.py" and program.parent.name == "nst_edu"
    )


def _clean_up(state: dict) -> None:
    """Release the --out lock; remove the folders this run created if it wrote nothing into them."""
    lock = state.get("lock")
    if lock is not None:
        for folder in (lock.folder, lock.folder / CHECKPOINT_DIR):
            fileio.remove_temporaries(folder, [*OUTPUT_FILES, "progress.mp4", _STATE_FILE])
        lock.release()
        state["lock"] = None
    for folder in reversed(state.get("made", [])):
        try:
            folder.rmdir()  # only an empty folder: never anything a run wrote
        except OSError:
            break
    state["made"] = []


def _resume_settings(args):
    """Load ``--resume DIR``; fill --content/--style/--out from it; refuse settings that differ from it."""
    from .core import checkpoint
    from .core.config import Config

    try:
        saved = checkpoint.load(args.resume)
    except checkpoint.CheckpointError as exc:
        raise UserError(str(exc)) from None
    extra = saved.get("extra", {})
    for flag in ("content", "out"):
        if getattr(args, flag) is None and extra.get(flag) is not None:
            setattr(args, flag, extra[flag])
    if args.style is None and args.mask is None and (extra.get("styles") or extra.get("style")) is not None:
        args.style = list(extra.get("styles") or [extra["style"]])
        if extra.get("masks"):
            args.mask = [f"{mask}:{style}" for mask, style in zip(extra["masks"], args.style)]
        if args.mask_split is None and args.mask_shape is None:
            args.mask_split, args.mask_shape = extra.get("mask_split"), extra.get("mask_shape")
    config = Config.from_dict(saved["config"])
    given = _changes(args)
    differ = sorted(k for k, v in given.items() if config.replace(**{k: v}) != config)
    if args.size == "auto":
        differ.append("size")
    if args.preset is not None:
        differ.append("preset")
    if differ:
        flags = ", ".join("--" + name.replace("_", "-") for name in differ)
        raise UserError(
            f"--resume continues the run in {args.resume} with the settings saved there; drop {flags} "
            f"(or start a new run without --resume)"
        )
    if args.checkpoint_every is None:
        args.checkpoint_every = extra.get("checkpoint_every")
    return saved, config


def _partial_run_of(out: Path, config) -> bool:
    """True when ``out`` holds the outputs of a stopped run with this config (a resume may replace them)."""
    from .core.config import Config

    try:
        meta = json.loads((out / "run.json").read_text())
        return bool(meta.get("stopped")) and Config.from_dict(meta["config"]) == config
    except (OSError, ValueError, KeyError, TypeError):
        return False


def _check_out(args, config, resuming: bool, state: dict) -> Path:
    """Refuse an --out that is empty, a file, not writable, in use by another run, or that holds outputs (unless
    --force) — before any work. Takes the folder's lock (creating the folder: the proof that it is writable)."""
    if not str(args.out).strip():
        raise UserError("--out is empty; give the name of a folder for the outputs, such as --out out")
    out = Path(args.out).expanduser()
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file, not a folder; choose a folder name")
    ancestor = out
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise UserError(
            f"--out {out} is inside {ancestor}, which is a file, not a folder; choose another folder"
        )
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise UserError(f"cannot write to --out {out}: {ancestor} is not writable; choose another folder")
    missing = []
    folder = out
    while not os.path.lexists(folder) and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    state["made"] = list(reversed(missing))  # outermost first; removed again if nothing is written
    lock = fileio.FolderLock(out)
    try:
        state["lock"] = lock.acquire()
    except fileio.FolderBusyError as exc:
        owner = f" (pid {exc.pid})" if exc.pid is not None else ""
        raise UserError(
            f"--out {out} is in use by another nst-edu run{owner}; wait for it to finish or choose "
            f"another --out"
        ) from None
    except OSError as exc:
        raise UserError(
            f"cannot write to --out {out} ({exc.strerror or exc}); choose another folder"
        ) from None
    wanted = list(OUTPUT_FILES) + (["progress.mp4"] if args.mp4 else [])
    if args.checkpoint_every:
        wanted.append(f"{CHECKPOINT_DIR}/{_STATE_FILE}")
    existing = [name for name in wanted if (out / name).exists()]
    if existing and not args.force and not (resuming and _partial_run_of(out, config)):
        raise UserError(
            f"--out {out} already holds {', '.join(existing)}; pass --force to overwrite them or "
            f"choose another --out"
        )
    return out


def _check_device(name: str) -> None:
    """Refuse a device this machine does not have, in one sentence (torch would fail later, deep inside)."""
    import torch

    if name == "mps" and not (
        getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    ):
        raise UserError(
            "--device mps (Apple's Metal GPU) is not available on this machine; use --device auto "
            "or --device cpu"
        )
    if name == "cuda" and not torch.cuda.is_available():
        raise UserError(
            "--device cuda was asked for but no CUDA GPU is available; use --device auto or --device cpu"
        )


def _source(name: str, loaded):
    """What to hand ``load_pair``: a sample's name (it is drawn at the size asked for), else the loaded image."""
    from .core.samples import is_sample

    return name if is_sample(name) and not os.path.lexists(name) else loaded


def _absolute(source: str) -> str:
    return str(Path(source).expanduser().resolve()) if os.path.lexists(Path(source).expanduser()) else source


class _SafeCheckpoints:
    """Wraps ``checkpoint.Writer``: a failed write (disk full…) warns once and stops checkpointing, never the run."""

    def __init__(self, writer):
        self.writer, self.failed = writer, None

    def __call__(self, state: dict) -> None:
        if self.failed is not None:
            return
        try:
            self.writer(state)
        except OSError as exc:
            self.failed = exc
            _say(f"could not write a checkpoint ({exc}); the run goes on without checkpoints.")


def _main(args, phase: dict) -> int:
    from .core import checkpoint, images, masks, memory, samples, tiling, transfer, vgg
    from .core.config import check_styles
    from .output import animation

    if args.list_samples:
        print("content:", ", ".join(samples.content_samples()))
        print("style:  ", ", ".join(samples.style_samples()))
        return 0
    if args.checkpoint_every is not None and args.checkpoint_every < 1:
        raise UserError(f"--checkpoint-every must be a number of steps ≥ 1, got {args.checkpoint_every}")
    resume = None
    if args.resume is not None:
        resume, config = _resume_settings(args)
    styles, mask_files = _styles_and_masks(args)
    given = {"content": args.content, "style": styles or None, "out": args.out}
    missing = [flag for flag, value in given.items() if value is None]
    if missing:
        raise UserError(f"missing --{', --'.join(missing)}; see nst-edu --help")
    if resume is None:
        config = config_from_args(args)
    made = args.mask_split is not None or args.mask_shape is not None  # regions nst-edu draws itself
    try:  # weights, mix and masks that do not fit the styles: before any image is read
        check_styles(config, len(styles), len(mask_files) if mask_files else (2 if made else None))
    except ValueError as exc:
        raise UserError(_as_flags(str(exc))) from None
    out = _check_out(args, config, resume is not None, phase)
    _check_device(config.device)
    try:
        device = transfer.resolve_device(config.device)
        # Loaded at their own size first: the exact aspect ratios make the sizes suggested in messages right.
        C0, S0s = images.load_image(args.content), [images.load_image(style) for style in styles]
        k = max(range(len(styles)), key=lambda i: S0s[i].shape[-2] * S0s[i].shape[-1])  # the largest style
        S0 = S0s[k]
        names = (f"the content image {args.content!r}", f"the style image {styles[k]!r}")
        if args.size != "auto":
            # Before any image is resized: a size far too large is refused here, not by the allocator.
            C_hw = memory.resized_hw(C0.shape, config.size)
            S_hw = memory.resized_hw(S0.shape, max(1, round(config.size * config.style_scale)))
            tiling.check_fits(config, C_hw, S_hw, device, names=names, source_shapes=(C0.shape, S0.shape))
        if args.size == "auto":
            largest = memory.largest_size_that_fits(config, C0.shape, S0.shape, device)
            if largest is None:
                raise UserError(
                    f"even the smallest size VGG-19 takes does not fit in the "
                    f"{memory.format_gib(memory.available_bytes(device) or 0)} free on {device}; "
                    f"free some memory"
                )
            config = config.replace(size=max(vgg.min_side(config.layers), min(max(C0.shape[-2:]), largest)))
            _say(
                f"--size auto: {config.size} px (the image's own size is {max(C0.shape[-2:])} px, the "
                f"largest that fits in free memory {largest} px)."
            )
        # A sample is painted (or cut) at the requested size, not resized from its default size: load it by name.
        C = images.load_image(_source(args.content, C0), size=config.size)
        Ss = transfer.load_styles([_source(name, S) for name, S in zip(styles, S0s)], config)
        S = Ss[k]
        # Tiles (when the whole image does not fit, or --tile N) or a refusal naming a size that fits.
        tile = tiling.check_fits(
            config, C.shape, S.shape, device, names=names, source_shapes=(C0.shape, S0.shape)
        )
        region_masks = None
        if mask_files:
            region_masks = [masks.load_mask(path, f"the mask {path!r}") for path in mask_files]
        elif args.mask_split is not None:
            region_masks = masks.split_mask(tuple(C.shape[-2:]), args.mask_split)
        elif args.mask_shape is not None:
            region_masks = masks.shape_mask(tuple(C.shape[-2:]), args.mask_shape)
        if region_masks is not None:
            transfer.check_regions(region_masks, C, config, [repr(path) for path in mask_files or []] or None)
        transfer.build_model(config, device)
    except (images.ImageError, vgg.WeightsError, ValueError) as exc:
        raise UserError(str(exc)) from None
    prints = {"content": checkpoint.fingerprint(C), "style": checkpoint.fingerprint(Ss[0])}
    prints.update({f"style {i + 1}": checkpoint.fingerprint(S_i) for i, S_i in enumerate(Ss) if i})
    prints.update({f"mask {i + 1}": checkpoint.fingerprint(m) for i, m in enumerate(region_masks or [])})
    if resume is not None:
        recorded = resume.get("extra", {}).get("fingerprints", {})
        changed = [k for k, v in recorded.items() if prints.get(k) != v]
        changed += [k for k in prints if recorded and k not in recorded]
        if changed:
            raise UserError(
                f"the checkpoint in {args.resume} was made with another {' and '.join(changed)} image; "
                f"pass the same --content and --style as the interrupted run"
            )
        _check_resumed_image(args.resume, resume, config, C.shape, S.shape, memory)
    writer = None
    if args.checkpoint_every:
        # Absolute paths, so that --resume works from any folder; samples and URLs stay as they are.
        extra = {
            "content": _absolute(args.content),
            "style": _absolute(styles[0]),
            "styles": [_absolute(style) for style in styles],
            "out": str(out.resolve()),
            "checkpoint_every": int(args.checkpoint_every),
            "fingerprints": prints,
        }
        if mask_files:
            extra["masks"] = [_absolute(path) for path in mask_files]
        if made:
            extra.update(
                {"mask_split": args.mask_split}
                if args.mask_split is not None
                else {"mask_shape": args.mask_shape}
            )
        writer = _SafeCheckpoints(checkpoint.Writer(out / CHECKPOINT_DIR, extra))
    done = int(resume["step"]) if resume is not None else 0
    _say(
        f"{tuple(C.shape[-2:])} content, "
        + (f"{tuple(S.shape[-2:])} style" if len(Ss) == 1 else f"{len(Ss)} styles")
        + (f" in {len(region_masks)} regions" if region_masks is not None else "")
        + (f", colour {config.colour}" if config.colour != "style" else "")
        + f", preset {args.preset or 'fast'}, "
        f"{config.total_steps} {config.optimizer} step{'' if config.total_steps == 1 else 's'} on {device} in "
        f"{transfer.resolve_precision(config.precision, device)}"
        + (
            " (precision auto: bfloat16 only where this device runs it natively)"
            if config.precision == "auto"
            else ""
        )
        + (f", cost in tiles of {tile} px" if tile else "")
        + (f", resuming after step {done}" if resume is not None else "")
    )
    t0 = time.perf_counter()
    result = None
    try:
        phase["phase"] = "run"  # from here a signal stops the run and its result is saved
        result = transfer.run(
            C,
            Ss if len(Ss) > 1 else Ss[0],
            config,
            progress=not args.quiet,
            checkpoint=writer,
            checkpoint_every=args.checkpoint_every or 0,
            resume=resume,
            masks=region_masks,
        )
        phase["phase"] = "save"
    except transfer.NonFiniteCostError as exc:
        phase["phase"] = "save"
        result = exc.result
        _say(f"{_one_sentence(exc)[:-1]}; the last image with finite costs is saved in {out}.")
    except (memory.TooLargeError, memory.TooSmallError) as exc:  # free memory shrank since the check
        raise UserError(str(exc)) from None
    except KeyboardInterrupt:
        if result is None:
            raise  # before the first step: nothing to save
        phase["phase"] = "save"  # a signal just after the run returned: its result is saved all the same
    result.inputs = _inputs(args, styles, mask_files)  # run.json: where the images came from
    try:
        paths = result.save(out, force=True)
        if args.mp4:
            paths["progress.mp4"] = animation.save_mp4(result.frames, out / "progress.mp4")
    except OSError as exc:
        _say(
            f"could not write the outputs to {out} ({exc}); files written before are complete, the others "
            f"unchanged."
        )
        return EXIT_FAILED
    rows = result.history.rows
    if rows:
        first, last = rows[0], rows[-1]
        n_steps = (len(rows) if result.stopped else len(rows) - 1) - done  # a finished run adds a last row
        print(
            f"nst-edu: {n_steps} step{'' if n_steps == 1 else 's'} in {time.perf_counter() - t0:.1f} s; "
            f"style cost {first['style']:.4g} -> {last['style']:.4g}, content cost {first['content']:.4g} -> "
            f"{last['content']:.4g}, total {first['total']:.4g} -> {last['total']:.4g}"
            + (f" (stopped: {result.stopped})" if result.stopped else "")
        )
    for name, path in paths.items():
        print(f"  {name:13s} {path}")
    signum = phase["signal"]
    if result.stopped == "interrupt":
        saved = writer is not None and (out / CHECKPOINT_DIR / checkpoint.STATE_FILE).exists()
        hint = f"; continue with: nst-edu --resume {out / CHECKPOINT_DIR}" if saved else ""
        _say(
            f"{_how(signum)} after step {len(rows)} of {config.total_steps}; the result so far is saved in "
            f"{out}{hint}."
        )
        return EXIT_CODES.get(signum, EXIT_INTERRUPTED)
    if signum is not None:  # arrived while the outputs were written: they were finished first
        _say(f"{_how(signum)} while saving; the outputs were finished first and are complete in {out}.")
        return EXIT_CODES.get(signum, EXIT_INTERRUPTED)
    return EXIT_FAILED if result.stopped == "non-finite" else 0


def _inputs(args, styles: list[str], mask_files: list[str] | None) -> dict:
    """run.json's record of the inputs: absolute paths (samples and URLs as given), and the regions."""
    inputs = {"content": _absolute(args.content), "styles": [_absolute(style) for style in styles]}
    if mask_files:
        inputs["masks"] = [_absolute(path) for path in mask_files]
    elif args.mask_split is not None:
        inputs["masks"] = f"split at {args.mask_split:g} of the height: style 1 above, style 2 below"
    elif args.mask_shape is not None:
        inputs["masks"] = f"{args.mask_shape}: style 1 inside, style 2 outside"
    return inputs


def _check_resumed_image(where, resume: dict, config, C_shape, S_shape, memory) -> None:
    """The checkpoint's image must have the shape the content image has at the checkpoint's stage."""
    from .core.checkpoint import stage_sides

    step, got = resume["step"], tuple(resume["image"].shape[-2:])
    stages = memory.stage_shapes(config, C_shape, S_shape)
    wanted = {C_hw for scale, C_hw, _ in stages if max(C_hw) in stage_sides(config, step)}
    if got not in wanted:
        raise UserError(
            f"the checkpoint in {where} has a bad image field: its size {got[0]}x{got[1]} is not the "
            f"content image's {' or '.join(f'{h}x{w}' for h, w in sorted(wanted))} at step {step}; "
            f"start the run again"
        )


if __name__ == "__main__":
    sys.exit(main())
