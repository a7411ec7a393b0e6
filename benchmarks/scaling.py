"""Scaling with image size: seconds per step and peak memory of nst_edu from 128 to 1024 px, and the largest
image that fits in 8 GB.

What it is: one fresh worker process (``worker.py``) per size and precision runs the ``gatys`` preset for a
warm-up step and a few timed steps; the peak resident memory of each process (ru_maxrss) is fitted as
a + b · (number of pixels) over the sizes from 256 px, and the fit is solved for 8 GB. The image keeps the
content photo's aspect ratio (chelsea, 3:2), so "size" is the longer side. Writes ``results/scaling.md``,
``.json`` and ``scaling.png``.

What it is not: not a test. The largest size is an extrapolation whenever it lies past the largest size run.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

LIMIT = 8 * 10**9  # 8 GB


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="time and memory against image size")
    p.add_argument("--sizes", default="128,256,384,512,768,1024")
    p.add_argument("--precisions", default="float32,bfloat16")
    p.add_argument("--quick", action="store_true", help="128 to 512 px, float32 only")
    args = p.parse_args(argv)
    common.set_threads()
    sizes = [int(s) for s in args.sizes.split(",")]
    precisions = args.precisions.split(",")
    if args.quick:
        common.use_quick_results()
        sizes, precisions = [128, 256, 384, 512], ["float32"]
    content, style = common.input_paths()
    runs = []
    for size in sizes:
        for precision in precisions:
            steps = 3 if size <= 512 else 2
            out = common.run_worker(
                [
                    "--impl",
                    "ours",
                    "--size",
                    str(size),
                    "--precision",
                    precision,
                    "--steps",
                    str(steps),
                    "--warmup",
                    "1",
                    "--content",
                    str(content),
                    "--style",
                    str(style),
                ]
            )
            H, W = out["shape"][-2:]
            runs.append(
                {
                    "size": size,
                    "precision": precision,
                    "pixels": H * W,
                    "shape": [H, W],
                    "median_s": common.median(out["step_seconds"]),
                    "all_s": out["step_seconds"],
                    "median_cpu_s": common.median(out["step_cpu_seconds"]),
                    "peak_rss": out["peak_rss"],
                    "rss_before": out["rss_before"],
                }
            )
            print(
                f"  {size} px {precision}: {runs[-1]['median_s']:.3f} s/step, "
                f"peak {out['peak_rss'] / common.GiB:.2f} GiB",
                flush=True,
            )
    (common.RESULTS / "scaling.json").write_text(json.dumps(runs, indent=1))
    aspect = runs[0]["shape"][0] / runs[0]["shape"][1]  # H / W of the content photo
    fits, rows = {}, []
    for precision in precisions:
        rs = [r for r in runs if r["precision"] == precision]
        use = [r for r in rs if r["size"] >= 256] or rs
        b, a = np.polyfit([r["pixels"] for r in use], [r["peak_rss"] for r in use], 1)
        pixels = (LIMIT - a) / b
        side = int((pixels / aspect) ** 0.5)
        fits[precision] = (a, b, side)
        for r in rs:
            rows.append(
                [
                    r["size"],
                    f"{r['shape'][1]}×{r['shape'][0]}",
                    precision,
                    f"{r['median_s']:.3f}",
                    f"{r['median_cpu_s']:.3f}",
                    f"{r['median_cpu_s'] / r['pixels'] * 1e6:.2f}",
                    f"{r['peak_rss'] / 1e9:.2f}",
                ]
            )
    body = common.table(
        [
            "size px",
            "W×H",
            "precision",
            "median wall s / step",
            "median CPU s / step",
            "CPU µs per pixel",
            "peak RSS GB",
        ],
        rows,
    )
    body += "\n\nFit of peak RSS over sizes ≥ 256 px, and the largest image that fits in 8 GB:\n\n"
    fit_rows = []
    for precision, (a, b, side) in fits.items():
        beyond = side > max(sizes)
        fit_rows.append(
            [
                precision,
                f"{a / 1e9:.2f} GB + {b / 1e3:.2f} kB × W·H",
                f"{side} px (×{aspect:.3f} high)" + (" — extrapolated" if beyond else ""),
            ]
        )
    body += common.table(["precision", "peak RSS ≈", "largest longer side in 8 GB"], fit_rows)
    body += "\n\n![scaling](scaling.png)\n"
    common.write_result(
        "scaling",
        "Scaling with image size (CPU)",
        body,
        [
            "One fresh process per row; peak RSS includes Python, torch and the weights (the intercept).",
            f"Largest size: solve a + b · (W · H) = 8 GB with H = {aspect:.3f} W; past {max(sizes)} px that is "
            "an extrapolation of the linear fit.",
        ],
    )
    plot(runs, precisions, fits)
    return 0


def plot(runs, precisions, fits) -> None:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 3.6), dpi=110)
    ax1, ax2 = fig.subplots(1, 2)
    for precision in precisions:
        rs = [r for r in runs if r["precision"] == precision]
        ax1.plot([r["size"] for r in rs], [r["median_cpu_s"] for r in rs], "o-", label=f"{precision}, CPU s")
        ax1.plot(
            [r["size"] for r in rs],
            [r["median_s"] for r in rs],
            ":",
            color=ax1.lines[-1].get_color(),
            label=f"{precision}, wall s",
        )
        ax2.plot([r["size"] for r in rs], [r["peak_rss"] / 1e9 for r in rs], "o-", label=precision)
        a, b, side = fits[precision]
        aspect = rs[0]["shape"][0] / rs[0]["shape"][1]
        xs = np.linspace(min(r["size"] for r in rs), max(side, max(r["size"] for r in rs)), 50)
        ax2.plot(xs, (a + b * aspect * xs**2) / 1e9, ":", color=ax2.lines[-1].get_color())
    ax2.axhline(LIMIT / 1e9, color="k", ls="--", lw=0.8, label="8 GB")
    ax1.set_xscale("log", base=2)
    ax1.set_yscale("log")
    ax1.set_xlabel("longer side (px)")
    ax1.set_ylabel("seconds per step")
    ax2.set_xlabel("longer side (px)")
    ax2.set_ylabel("peak RSS (GB); dotted: fit")
    for ax in (ax1, ax2):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(common.RESULTS / "scaling.png")


if __name__ == "__main__":
    sys.exit(main())
