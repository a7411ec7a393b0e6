"""One measurement in a fresh process: seconds per optimizer step and peak memory of nst_edu or pastiche.

What it is: ``python benchmarks/worker.py --impl ours|pastiche --size N [...]`` runs ``warmup + steps`` steps
of one implementation at one image size and prints one JSON line: the steady-state step times (the warm-up
steps left out; wall seconds and CPU seconds of the process, ``time.process_time``), the peak resident memory
of the whole process (``resource.getrusage(...).ru_maxrss``), the resident memory before the first step, and
on CUDA the peak of ``torch.cuda.max_memory_allocated``.
The parent scripts start one worker per measurement and alternate implementations (A B A B).

Both sides run their normal user-facing path: nst_edu through ``transfer.run`` with the ``gatys`` preset
(box L-BFGS, relu4_2 content, relu1_1…relu5_1 style; history, frames and progress bookkeeping included),
pastiche through ``PasticheArtist.draw()`` (``torch.optim.LBFGS`` with one evaluation per step, the same
layers, the same VGG-19 weights file). Each reads the same PNG files and resizes them itself, the content
image to ``size`` px on its longer side and the style image likewise.

What it is not: not a test, and not a quality measurement (see ``time_to_quality.py``).
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path


def _rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


def _sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def time_ours(
    content: str,
    style: str,
    size: int,
    n_steps: int,
    warmup: int,
    precision: str,
    channels_last: bool,
    device: str,
) -> dict:
    from nst_edu import preset
    from nst_edu.core import transfer

    config = preset(
        "gatys",
        size=size,
        steps=warmup + n_steps + 1,
        precision=precision,
        channels_last=channels_last,
        device=device,
    )
    stamps: list[tuple[float, float]] = []

    def callback(info):
        _sync(device)
        stamps.append((time.perf_counter(), time.process_time()))

    rss_before = _rss_bytes()
    result = transfer.run(content, style, config, callback=callback, progress=False)
    # step k+2 runs between stamps[k] and stamps[k+1]
    wall = [b[0] - a[0] for a, b in zip(stamps, stamps[1:])][warmup:]
    cpu = [b[1] - a[1] for a, b in zip(stamps, stamps[1:])][warmup:]
    return {
        "step_seconds": wall,
        "step_cpu_seconds": cpu,
        "rss_before": rss_before,
        "shape": list(result.image.shape),
        "final_total": result.history.column("total")[-1],
    }


def time_pastiche(content: str, style: str, size: int, n_steps: int, warmup: int, device: str) -> dict:
    from pastiche.pastiche import PasticheArtist

    rss_before = _rss_bytes()
    artist = PasticheArtist(content, [style], size=size, style_size=size, device=device)
    wall, cpu = [], []
    for k in range(warmup + n_steps):
        _sync(device)
        t0, c0 = time.perf_counter(), time.process_time()
        artist.draw()  # one closure evaluation; draw() reads the loss back with .item()
        _sync(device)
        if k >= warmup:
            wall.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
    return {
        "step_seconds": wall,
        "step_cpu_seconds": cpu,
        "rss_before": rss_before,
        "shape": list(artist.pastiche.shape),
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--impl", choices=("ours", "pastiche"), required=True)
    p.add_argument("--size", type=int, required=True)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--precision", default="float32", choices=("float32", "bfloat16"))
    p.add_argument("--channels-last", action="store_true")
    p.add_argument("--device", default="cpu")
    p.add_argument("--content", required=True)
    p.add_argument("--style", required=True)
    args = p.parse_args(argv)

    import torch

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import common

    common.set_threads()
    if args.impl == "ours":
        out = time_ours(
            args.content,
            args.style,
            args.size,
            args.steps,
            args.warmup,
            args.precision,
            args.channels_last,
            args.device,
        )
    else:
        if args.precision != "float32" or args.channels_last:
            p.error("pastiche runs in float32, contiguous layout only")
        out = time_pastiche(args.content, args.style, args.size, args.steps, args.warmup, args.device)
    out.update(
        impl=args.impl,
        size=args.size,
        precision=args.precision,
        channels_last=args.channels_last,
        peak_rss=_rss_bytes(),
        threads=torch.get_num_threads(),
    )
    if args.device.startswith("cuda"):
        out["peak_cuda"] = torch.cuda.max_memory_allocated()
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
