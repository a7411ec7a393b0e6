"""The ``nst-edu`` command (also ``python -m nst_edu``).

What it is: argument parsing, turning a user's options into a ``Config``, running ``transfer.run`` and
writing result.png, progress.gif, losses.png, history.csv and run.json into the output folder. A user mistake
(missing file, not an image, unknown sample, impossible size, existing outputs) is one sentence on stderr and
exit code 2, checked before any optimization starts. What it is not: no optimization logic of its own.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from . import __version__

OUTPUT_FILES = ("result.png", "progress.gif", "losses.png", "history.csv", "run.json")


class UserError(Exception):
    """A mistake in the command line: printed as one sentence, exit code 2."""


def build_parser() -> argparse.ArgumentParser:
    from .config import DEVICES, OPTIMIZERS, PRECISIONS, PRESETS
    from .noise import KINDS
    from .vgg import POOLINGS, WEIGHT_SOURCES

    p = argparse.ArgumentParser(
        prog="nst-edu",
        description="Neural style transfer (Gatys et al. 2016): paint CONTENT in the style of STYLE.",
        epilog="Samples: content photos chelsea, astronaut, coffee…; styles stained_glass, swirls… "
               "(nst-edu --list-samples). Example: nst-edu --content chelsea --style swirls --out out/",
    )
    p.add_argument("--content", help="content image: a path, an http(s) URL or a sample name")
    p.add_argument("--style", help="style image: a path, an http(s) URL or a sample name")
    p.add_argument("--out", help="output folder for result.png, progress.gif, losses.png, history.csv, run.json")
    p.add_argument("--preset", default="fast", choices=sorted(PRESETS), help="starting recipe (default: fast)")
    p.add_argument("--size", type=int, help="longer side of the result in pixels")
    p.add_argument("--steps", type=int, help="optimizer steps at full size")
    p.add_argument("--coarse-steps", type=int, help="steps at half size before the full-size steps")
    p.add_argument("--optimizer", choices=OPTIMIZERS)
    p.add_argument("--lr", type=float, help="learning rate")
    p.add_argument("--alpha", type=float, help="content weight α")
    p.add_argument("--beta", type=float, help="style weight β")
    p.add_argument("--tv-weight", type=float, help="total-variation weight")
    p.add_argument("--content-layer", help="VGG-19 layer for the content cost, e.g. relu4_2")
    p.add_argument("--style-layers", help="comma-separated style layers, optionally layer:λ, e.g. relu1_1:0.5,relu2_1")
    p.add_argument("--init", choices=KINDS, help="starting image")
    p.add_argument("--noise-ratio", type=float, help="noise ratio r of the starting image")
    p.add_argument("--style-scale", type=float, help="style image size relative to the content's")
    p.add_argument("--weights", choices=WEIGHT_SOURCES, help="VGG-19 weights (default: caffe, offline)")
    p.add_argument("--pooling", choices=POOLINGS)
    p.add_argument("--precision", choices=PRECISIONS)
    p.add_argument("--device", choices=DEVICES)
    p.add_argument("--seed", type=int)
    p.add_argument("--frame-every", type=int, help="capture a GIF frame every N steps")
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


def config_from_args(args) -> "Config":
    from .config import preset

    changes = {}
    for field in ("size", "steps", "coarse_steps", "optimizer", "lr", "alpha", "beta", "tv_weight",
                  "content_layer", "init", "noise_ratio", "style_scale", "weights", "pooling", "precision",
                  "device", "seed", "frame_every"):
        value = getattr(args, field)
        if value is not None:
            changes[field] = value
    if args.style_layers is not None:
        changes["style_layers"] = parse_style_layers(args.style_layers)
    try:
        return preset(args.preset, **changes)
    except (ValueError, TypeError) as exc:
        raise UserError(str(exc)) from None


def _one_sentence(exc: BaseException) -> str:
    text = str(exc).strip() or exc.__class__.__name__
    return text[0].upper() + text[1:] + ("" if text.endswith(".") else ".")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return _main(args)
    except UserError as exc:
        print(f"nst-edu: {_one_sentence(exc)}", file=sys.stderr)
        return 2


def _main(args) -> int:
    from . import animation, images, samples, transfer, vgg

    if args.list_samples:
        print("content:", ", ".join(samples.content_samples()))
        print("style:  ", ", ".join(samples.style_samples()))
        return 0
    missing = [flag for flag in ("content", "style", "out") if getattr(args, flag) is None]
    if missing:
        raise UserError(f"missing --{', --'.join(missing)}; see nst-edu --help")
    config = config_from_args(args)
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file, not a folder; choose a folder name")
    wanted = OUTPUT_FILES + (("progress.mp4",) if args.mp4 else ())
    existing = [name for name in wanted if (out / name).exists()]
    if existing and not args.force:
        raise UserError(f"{out} already holds {', '.join(existing)}; pass --force to overwrite or choose "
                        f"another --out")
    try:
        C, S = transfer.load_pair(args.content, args.style, config)
        device = transfer.resolve_device(config.device)
        transfer.build_model(config, device)
    except (images.ImageError, vgg.WeightsError, ValueError) as exc:
        raise UserError(str(exc)) from None
    print(f"nst-edu: {tuple(C.shape[-2:])} content, {tuple(S.shape[-2:])} style, preset {args.preset}, "
          f"{config.total_steps} {config.optimizer} steps on {device}", file=sys.stderr)
    t0 = time.perf_counter()
    try:
        result = transfer.run(C, S, config, progress=not args.quiet)
    except transfer.NonFiniteCostError as exc:
        result = exc.result
        print(f"nst-edu: {_one_sentence(exc)} Saving the last good image.", file=sys.stderr)
    paths = result.save(out, force=True)
    if args.mp4:
        paths["progress.mp4"] = animation.save_mp4(result.frames, out / "progress.mp4")
    first, last = result.history.rows[0], result.history.rows[-1]
    print(f"nst-edu: {len(result.history) - 1} steps in {time.perf_counter() - t0:.1f} s; "
          f"style cost {first['style']:.4g} -> {last['style']:.4g}, content cost {first['content']:.4g} -> "
          f"{last['content']:.4g}, total {first['total']:.4g} -> {last['total']:.4g}"
          + (f" (stopped: {result.stopped})" if result.stopped else ""))
    for name, path in paths.items():
        print(f"  {name:13s} {path}")
    return 1 if result.stopped == "non-finite" else 0


if __name__ == "__main__":
    sys.exit(main())
