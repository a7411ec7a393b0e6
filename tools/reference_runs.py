"""Fingerprints of a fixed set of runs, to show that a refactor of the loop changes no image, bit for bit.

What it is: each case runs ``nst_edu.run`` on the bundled samples at a small size (one thread) and writes
``<out>/<case>.json``: a SHA-256 prefix of the result's pixels and of every frame, every history row's costs
(not its seconds), the result's precision, tile, β and metadata, and the seconds per step. The cases cover
the presets, a coarse stage, forced tiles, luminance colour, two styles with masks and blended, and the
coarse run resumed from each of its checkpoints (which must equal the uninterrupted run).

Run it on one machine before and after a change, then compare::

    python tools/reference_runs.py /tmp/before            # on the old commit
    python tools/reference_runs.py /tmp/after             # on the new one
    python tools/reference_runs.py --compare /tmp/before /tmp/after

``--compare`` exits 1 when any image, frame or cost differs, and prints the seconds per step side by side.
Fingerprints are only comparable on one machine with one thread count: another CPU changes the floats.

What it is not: a test (it asserts nothing about quality) or a benchmark (its times come from short runs;
``benchmarks/`` measures speed).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

import torch

import nst_edu
from nst_edu.core import masks

COMPARED = ("image", "frames", "costs", "stopped", "precision", "tile", "beta", "meta")


def _cases() -> dict:
    p = nst_edu.preset
    two = ["swirls", "waves"]
    return {
        "fast": ("swirls", p("fast", size=128, steps=30), {}),
        "gatys": ("swirls", p("gatys", size=128, steps=30), {}),
        "course": ("swirls", p("course", size=128, steps=30), {}),
        "coarse": (
            "swirls",
            p("fast", size=192, coarse_size=96, coarse_steps=10, steps=10, frame_every=5),
            {},
        ),
        "tiled": ("swirls", p("fast", size=160, steps=10, tile=96, precision="float32"), {}),
        "luminance": ("swirls", p("gatys", size=128, steps=15, colour="luminance"), {}),
        "masked": (two, p("fast", size=128, steps=15), {"masks": masks.split_mask((128, 128))}),
        "blend": (two, p("gatys", size=128, steps=15, style_mix="blend", style_weights=(0.3, 0.7)), {}),
    }


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def _fingerprint(result, seconds: float) -> dict:
    rows = result.history.rows
    return {
        "image": _sha(result.image.contiguous().numpy().tobytes()),
        "frames": [(step, _sha(frame.tobytes())) for step, frame in result.frames],
        "costs": [{k: v for k, v in row.items() if k != "seconds"} for row in rows],
        "stopped": result.stopped,
        "precision": result.precision,
        "tile": result.tile,
        "beta": result.beta,
        "meta": {k: v for k, v in result.metadata().items() if k != "seconds"},
        "seconds_per_step": seconds / max(1, len(rows) - 1),
    }


def record(out: Path, names: list[str]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)
    cases = _cases()
    for name in names or [*cases, "resumed"]:
        if name == "resumed":
            _record_resumed(out, cases["coarse"][1])
            continue
        style, config, extra = cases[name]
        start = time.perf_counter()
        result = nst_edu.run("chelsea", style, config, progress=False, **extra)
        _write(out, name, _fingerprint(result, time.perf_counter() - start))


def _record_resumed(out: Path, config) -> None:
    states = []
    nst_edu.run("chelsea", "swirls", config, progress=False, checkpoint=states.append, checkpoint_every=5)
    for state in states:
        start = time.perf_counter()
        result = nst_edu.run("chelsea", "swirls", config, progress=False, resume=state)
        _write(out, f"resumed{state['step']}", _fingerprint(result, time.perf_counter() - start))


def _write(out: Path, name: str, fingerprint: dict) -> None:
    (out / f"{name}.json").write_text(json.dumps(fingerprint, indent=1, default=str))
    print(
        f"{name:12s} {fingerprint['image']}  {1000 * fingerprint['seconds_per_step']:7.1f} ms/step",
        flush=True,
    )


def compare(before: Path, after: Path) -> int:
    differ = 0
    print(f"{'case':12s} {'same':5s} {'ms/step before':>15s} {'after':>8s}")
    for path in sorted(before.glob("*.json")):
        other = after / path.name
        if not other.exists():
            print(f"{path.stem:12s} missing in {after}")
            differ += 1
            continue
        a, b = json.loads(path.read_text()), json.loads(other.read_text())
        fields = [k for k in COMPARED if a.get(k) != b.get(k)]
        differ += bool(fields)
        same = "yes" if not fields else "NO: " + ", ".join(fields)
        print(
            f"{path.stem:12s} {same:5s} {1000 * a['seconds_per_step']:15.1f} {1000 * b['seconds_per_step']:8.1f}"
        )
    return 1 if differ else 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="folder for the fingerprints (or, with --compare, 'before')")
    parser.add_argument("cases", nargs="*", help="cases to run (default: all)")
    parser.add_argument("--compare", type=Path, metavar="AFTER", help="compare OUT against AFTER")
    args = parser.parse_args(argv)
    if args.compare is not None:
        return compare(args.out, args.compare)
    unknown = sorted(set(args.cases) - {*_cases(), "resumed"})
    if unknown:
        parser.error(f"unknown case {unknown[0]!r}; choose from {', '.join([*_cases(), 'resumed'])}")
    record(args.out, args.cases)
    return 0


if __name__ == "__main__":
    sys.exit(main())
