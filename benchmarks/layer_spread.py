"""Layer spread: how evenly the style layers count, at the start, with equal λ, on every pair.

What it is: for each content × style pair, the weighted style cost λ_l J^[l]_style(S, C) of the style image S
against the content image C (G = C, where a run from the content image starts) on the network of the
``gatys`` preset (the paper's normalised VGG-19, λ = 0.2 on relu1_1…relu5_1), and on the plain network
(the same layers and λ, ``normalized=False``) for comparison. The spread is the largest layer's cost over the
smallest's: 1 when every layer counts the same.

The pairs: every bundled photo with every painted sample (the sample pairs), and with the two public-domain
paintings in ``../shared/paintings`` (provenance in its README).

What it is not: not a test. Results go to ``results/layer_spread.md`` and ``results/layer_spread.json``.

    python benchmarks/layer_spread.py [--size 256] [--quick]
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402
from quality import source  # noqa: E402

from nst_edu import preset  # noqa: E402
from nst_edu.core import images, samples, transfer  # noqa: E402

PAINTINGS = ("udnie", "woman_with_hat")


def weighted_style_costs(config, model, C: torch.Tensor, S: torch.Tensor) -> list[float]:
    """[λ_l J^[l]_style(S, C) for each style layer], in float32."""
    objective = transfer.Objective(model, C, S, config)
    with torch.no_grad():
        values = objective(C)
    return [lam * float(values[f"style:{layer}"]) for layer, lam in config.style_layers]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--quick", action="store_true", help="128 px, under results/quick/")
    args = parser.parse_args(argv)
    if args.quick:
        common.use_quick_results()
    size = 128 if args.quick else args.size
    threads = common.set_threads()
    t0 = time.perf_counter()
    # A fixed β: the shares and the spread do not depend on it, and β = None would cost one evaluation more.
    networks = {
        "normalised": preset("gatys", size=size, device="cpu", precision="float32", beta=1.0),
    }
    networks["plain"] = networks["normalised"].replace(normalized=False)
    models = {name: transfer.build_model(cfg, "cpu") for name, cfg in networks.items()}
    layers = [layer for layer, _ in networks["normalised"].style_layers]
    records = []
    for content, style in itertools.product(
        samples.content_samples(), samples.style_samples() + list(PAINTINGS)
    ):
        C = images.load_image(source(content), size=size)
        S = images.load_image(source(style), size=size)
        record = {"content": content, "style": style, "sample_pair": style not in PAINTINGS}
        for name, cfg in networks.items():
            record[name] = weighted_style_costs(cfg, models[name], C, S)
        records.append(record)
    (common.RESULTS / "layer_spread.json").write_text(
        json.dumps({"size": size, "records": records}, indent=1)
    )

    def spread(costs: list[float]) -> float:
        return max(costs) / min(costs)

    rows = [
        [
            f"{r['content']} × {r['style']}" + ("" if r["sample_pair"] else " (painting)"),
            " / ".join(f"{100 * c / sum(r['normalised']):.0f}" for c in r["normalised"]),
            f"{spread(r['normalised']):.1f}×" + (" ✓" if spread(r["normalised"]) <= 10 else " ✗"),
            f"{spread(r['plain']):.3g}×",
        ]
        for r in records
    ]
    body = common.table(
        [
            "pair",
            f"shares of λ_l J^[l](S, C), normalised network, % ({', '.join(layers)})",
            "spread, normalised",
            "spread, plain network",
        ],
        rows,
    )
    sample_pairs = [r for r in records if r["sample_pair"]]
    worst = {
        kind: max(group, key=lambda r: spread(r["normalised"]))
        for kind, group in (
            ("the sample pairs", sample_pairs),
            ("all pairs, the paintings included", records),
        )
    }
    notes = [
        f"{size} px (longer side), float32. Spread: the largest λ_l J^[l] over the smallest; ✓: at most 10×.",
        *(
            f"Worst over {kind}: {r['content']} × {r['style']}, {spread(r['normalised']):.1f}× "
            f"(plain network: {spread(r['plain']):.3g}×)."
            for kind, r in worst.items()
        ),
        f"torch threads: {threads}. This invocation: {time.perf_counter() - t0:.0f} s.",
    ]
    common.write_result("layer_spread", "Layer spread of the style cost at the start, equal λ", body, notes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
