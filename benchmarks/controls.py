"""Colour and region controls (issue 11): do they do what they claim, measured on the images they paint.

What it is: two experiments with the `fast` preset at 160 px, 60 steps, one torch thread (``--quick``: 128 px,
20 steps), written to ``results/controls.md``:

1. **Colour.** Each ``Config.colour`` mode (style, luminance, histogram, keep-colours) on three content/style
   pairs whose colours differ clearly. Measured on the result G:

   - *chrominance distance G–C, per pixel*: the mean over pixels of the Euclidean distance between G's and C's
     chrominance at the same pixel, in YIQ's (I, Q) plane (``colour.rgb_to_yiq``) and in CIELAB's (a, b)
     (``skimage.color.rgb2lab``);
   - *colour-statistics distance* G–C and G–S (S is another image, so no per-pixel distance): the
     2-Wasserstein (Fréchet) distance between Gaussians fitted to the two images' chrominance pixels,
     ``d² = |μ_X − μ_Y|² + tr(Σ_X + Σ_Y − 2 (Σ_Y^½ Σ_X Σ_Y^½)^½)``, in the same units as the per-pixel one;
   - *style cost on luminance*: J_style^[l] (``costs``, through ``transfer.Objective`` in float32) of the
     luminance of G (``colour.luminance_image``) against the luminance of S matched to C's luminance mean and
     std (``colour.prepare(C, [S], "luminance")``, what the luminance mode optimizes), at each style layer.

   Targets: luminance and histogram bring G's chrominance ≥ 3× closer to C's (per pixel, (I, Q)) than
   ``style`` does; every mode's per-layer luminance style cost within 2× of ``style``'s.
2. **Regions.** ``rocket`` with ``masks.split_mask`` (top: swirls, bottom: stained_glass), and the same two
   styles without masks (``style_mix="sum"``, weights ½, ½) as the baseline. Measured: each region r's
   guided style cost against each style s, Σ_l λ_l J_style^[l](G̃_S_s, G^(m_r)) with ``costs.guided_gram``
   (the region's mask at each layer, ``masks.to_layer``) and ``costs.rescaled_gram`` targets: a 2 × 2 table.
   Target: with masks, each region is closer to its own style than to the other.

What it is not: not a test and not a timing; the numbers depend on the few steps run, not on the machine.
``--montage PATH`` also saves a PNG of the inputs and results (one row per pair, one for the regions).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import common
import numpy as np
import torch
from common import table, write_result

import nst_edu
from nst_edu.core import colour, costs, images, transfer
from nst_edu.core import masks as regions

PAIRS = (("chelsea", "swirls"), ("coffee", "waves"), ("rocket", "stained_glass"))
MODES = ("style", "luminance", "histogram", "keep-colours")
REGION_CONTENT, REGION_STYLES, REGION_NAMES = "rocket", ("swirls", "stained_glass"), ("top", "bottom")
CLOSER, WITHIN = 3.0, 2.0  # the targets: ≥ 3× closer to C's colours, ≤ 2× the style mode's style cost


# --- colour measures ------------------------------------------------------------------------------------


def chroma(x: torch.Tensor, space: str) -> np.ndarray:
    """The chrominance of every pixel of x (1, 3, H, W): (I, Q) of YIQ or (a, b) of CIELAB. -> (H·W, 2)"""
    if space == "iq":
        return colour.rgb_to_yiq(x.double())[0, 1:].reshape(2, -1).T.numpy()
    from skimage.color import rgb2lab

    lab = rgb2lab(x[0].permute(1, 2, 0).double().clamp(0, 1).numpy())  # (H, W, 3)
    return lab[..., 1:].reshape(-1, 2)


def pixel_distance(G: torch.Tensor, C: torch.Tensor, space: str) -> float:
    """Mean over pixels of |chroma(G) − chroma(C)| at the same pixel (G and C of one size)."""
    return float(np.linalg.norm(chroma(G, space) - chroma(C, space), axis=1).mean())


def _sqrtm(S: np.ndarray) -> np.ndarray:
    w, V = np.linalg.eigh((S + S.T) / 2)
    return V @ np.diag(np.sqrt(w.clip(0))) @ V.T


def stats_distance(X: torch.Tensor, Y: torch.Tensor, space: str) -> float:
    """2-Wasserstein distance between Gaussians fitted to X's and Y's chrominance pixels (any sizes)."""
    x, y = chroma(X, space), chroma(Y, space)  # (M_X, 2), (M_Y, 2)
    mx, my = x.mean(0), y.mean(0)
    Sx, Sy = np.cov(x.T, bias=True), np.cov(y.T, bias=True)  # (2, 2)
    r = _sqrtm(Sy)
    d2 = ((mx - my) ** 2).sum() + np.trace(Sx + Sy - 2 * _sqrtm(r @ Sx @ r))
    return float(np.sqrt(max(d2, 0.0)))


def luminance_style_costs(
    G: torch.Tensor, C: torch.Tensor, S: torch.Tensor, config, matched: bool = True
) -> dict[str, float]:
    """{layer: J_style^[l]} of G's luminance against S's luminance matched to C's mean and std (``matched``,
    what the luminance mode optimizes) or as it is (float32, the package's costs through ``transfer.Objective``)."""
    cfg = config.replace(colour="style", precision="float32", channels_last=False)
    if matched:
        C_lum, (S_lum,) = colour.prepare(C, [S], "luminance")  # grey C, grey S with C's luminance mean/std
    else:
        C_lum, S_lum = colour.luminance_image(C), colour.luminance_image(S)
    objective = transfer.Objective(transfer.build_model(cfg), C_lum, S_lum, cfg)
    with torch.no_grad():
        out = objective(colour.luminance_image(G))
    return {layer: float(out[f"style:{layer}"]) for layer, _ in cfg.style_layers}


# --- region measure -------------------------------------------------------------------------------------


def region_costs(
    G: torch.Tensor, styles: list[torch.Tensor], masks: list[torch.Tensor], config
) -> np.ndarray:
    """J[r, s] = Σ_l λ_l J_style^[l](G̃_S_s, G^(m_r)): region r of G (guided Gram matrix) against style s."""
    cfg = config.replace(precision="float32", channels_last=False)
    model = transfer.build_model(cfg)
    layers = [layer for layer, _ in cfg.style_layers]
    J = np.zeros((len(masks), len(styles)))
    with torch.no_grad():
        a_G = model(G.float(), layers)
        a_S = [model(S.float(), layers) for S in styles]
        for layer, lam in cfg.style_layers:
            a = a_G[layer]  # (1, n_C, n_H, n_W)
            n_H, n_W = a.shape[-2:]
            M = n_H * n_W
            targets = [costs.rescaled_gram(a_s[layer], M) for a_s in a_S]  # (n_C, n_C), as the run's targets
            for r, m in enumerate(masks):
                g = costs.guided_gram(a, regions.to_layer(m, (n_H, n_W)))  # (n_C, n_C)
                for s, target in enumerate(targets):
                    J[r, s] += lam * float(costs.layer_style_cost_from_grams(target, g, M))
    return J


# --- formatting -----------------------------------------------------------------------------------------


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def times(x: float) -> str:
    return "∞" if not np.isfinite(x) else (f"{x:.0f}×" if x >= 100 else f"{x:.3g}×")


def ratio(a: float, b: float) -> float:
    return a / b if b > 0 else float("inf")


def montage(path: str, rows: list[list[tuple[str, torch.Tensor]]], cell: int = 160) -> None:
    """Rows of labelled images, each fitted into a cell × cell square."""
    from PIL import Image, ImageDraw

    label_h = 14
    width = max(len(r) for r in rows) * cell
    canvas = Image.new(
        "RGB", (width, len(rows) * (cell + label_h)), (200, 200, 200)
    )  # grey: a white mask shows
    draw = ImageDraw.Draw(canvas)
    for i, row in enumerate(rows):
        for j, (label, x) in enumerate(row):
            img = images.to_pil(images.resize(x.float().clamp(0, 1), cell))
            x0, y0 = j * cell, i * (cell + label_h)
            canvas.paste(img, (x0 + (cell - img.width) // 2, y0 + label_h + (cell - img.height) // 2))
            draw.text((x0 + 3, y0 + 1), label, fill="black")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    canvas.save(path)
    print(f"montage: {path}", flush=True)


# --- the experiments ------------------------------------------------------------------------------------


def colour_experiment(size: int, steps: int, pairs, shown: list) -> tuple[list[str], list[str]]:
    """Run every pair in every mode; return the distance table, the style-cost table and the verdicts."""
    dist_rows, cost_rows, verdicts = [], [], []
    for content, style in pairs:
        results, per_layer, raw_layer = {}, {}, {}
        base = nst_edu.preset("fast", size=size, steps=steps)
        C = images.load_image(content, size=size)
        (S,) = transfer.load_styles(style, base)
        for mode in MODES:
            t0 = time.perf_counter()
            res = nst_edu.run(content, style, base.replace(colour=mode), progress=False)
            G = res.image
            results[mode] = {
                "iq_px": pixel_distance(G, C, "iq"),
                "iq_C": stats_distance(G, C, "iq"),
                "iq_S": stats_distance(G, S, "iq"),
                "ab_px": pixel_distance(G, C, "lab"),
                "ab_S": stats_distance(G, S, "lab"),
                "G": G,
            }
            per_layer[mode] = luminance_style_costs(G, C, S, base)
            raw_layer[mode] = luminance_style_costs(G, C, S, base, matched=False)
            print(
                f"{content} × {style} {mode:12s} {time.perf_counter() - t0:5.1f} s  "
                + "  ".join(f"{k} {v:.4g}" for k, v in results[mode].items() if k != "G"),
                flush=True,
            )
        ref = results["style"]
        layers = list(per_layer["style"])
        for mode in MODES:
            m = results[mode]
            closer = ratio(ref["iq_px"], m["iq_px"])
            target = ""
            if mode in ("luminance", "histogram"):
                target = verdict(closer >= CLOSER)
                verdicts.append(
                    f"{content} × {style}, {mode}: G–C (I, Q) {times(closer)} closer than style, {target}"
                )
            dist_rows.append(
                [
                    f"{content} × {style}",
                    mode,
                    f"{m['iq_px']:.4f}",
                    f"{m['iq_C']:.4f}",
                    f"{m['iq_S']:.4f}",
                    f"{m['ab_px']:.2f}",
                    f"{m['ab_S']:.2f}",
                    times(closer),
                    f"{times(ratio(ref['ab_px'], m['ab_px']))} / {times(ratio(ref['iq_C'], m['iq_C']))}",
                    target or "–",
                ]
            )
            worst = max(ratio(per_layer[mode][la], per_layer["style"][la]) for la in layers)
            worst_raw = max(ratio(raw_layer[mode][la], raw_layer["style"][la]) for la in layers)
            ok = worst <= WITHIN
            if mode != "style":
                verdicts.append(
                    f"{content} × {style}, {mode}: luminance style cost at most {times(worst)} style's (worst layer), "
                    f"{verdict(ok)}"
                )
            cost_rows.append(
                [f"{content} × {style}", mode]
                + [
                    f"{per_layer[mode][la]:.3g}"
                    + ("" if mode == "style" else f" ({per_layer[mode][la] / per_layer['style'][la]:.2f}×)")
                    for la in layers
                ]
                + [times(worst), "–" if mode == "style" else verdict(ok), times(worst_raw)]
            )
        shown.append(
            [("C: " + content, C), ("S: " + style, S)] + [(mode, results[mode]["G"]) for mode in MODES]
        )
    header = [
        "pair",
        "colour",
        "(I,Q) G–C per pixel",
        "(I,Q) G–C stats",
        "(I,Q) G–S stats",
        "(a,b) G–C per pixel",
        "(a,b) G–S stats",
        "style / mode, (I,Q) per pixel",
        "style / mode, (a,b) per pixel / (I,Q) stats",
        f"≥ {CLOSER:g}× closer",
    ]
    cost_header = [
        "pair",
        "colour",
        *layers,
        "worst mode / style",
        f"≤ {WITHIN:g}×",
        "worst mode / style, S's luminance unmatched",
    ]
    return [table(header, dist_rows), table(cost_header, cost_rows)], verdicts


def region_experiment(size: int, steps: int, shown: list) -> tuple[list[str], list[str]]:
    """A masked two-style run and the same styles without masks; the 2 × 2 guided-cost tables."""
    base = nst_edu.preset("fast", size=size, steps=steps)
    C = images.load_image(REGION_CONTENT, size=size)
    styles = transfer.load_styles(list(REGION_STYLES), base)
    masks = regions.split_mask(tuple(C.shape[-2:]), at=0.5)  # [top, bottom]
    tables, verdicts, row = (
        [],
        [],
        [("C: " + REGION_CONTENT, C), ("masks (top white)", masks[0][None, None].expand(1, 3, -1, -1))],
    )
    row += [(f"S{s}: {name}", S) for s, (name, S) in enumerate(zip(REGION_STYLES, styles))]
    for label, kwargs in (("with masks", {"masks": masks}), ("without masks (sum, ½ + ½)", {})):
        t0 = time.perf_counter()
        res = nst_edu.run(REGION_CONTENT, list(REGION_STYLES), base, progress=False, **kwargs)
        J = region_costs(res.image, styles, masks, base)
        print(f"regions {label}: {time.perf_counter() - t0:.1f} s\n{J}", flush=True)
        rows = []
        for r, name in enumerate(REGION_NAMES):
            own, other = J[r, r], J[r, 1 - r]
            rows.append(
                [f"{name} (own: {REGION_STYLES[r]})"]
                + [f"{J[r, s]:.4g}" for s in range(2)]
                + [times(other / own), verdict(own < other)]
            )
            if kwargs:
                verdicts.append(
                    f"regions with masks, {name}: own style {times(other / own)} closer than the other, "
                    f"{verdict(own < other)}"
                )
        tables.append(
            f"**{label}**\n\n"
            + table(
                ["region of G", *(f"vs {n}" for n in REGION_STYLES), "other / own", "closer to its own"], rows
            )
        )
        row.append((label.split(" (")[0], res.image))
    shown.append(row)
    return tables, verdicts


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=160)
    p.add_argument("--steps", type=int, default=60)
    p.add_argument("--quick", action="store_true", help="128 px, 20 steps")
    p.add_argument(
        "--montage", default="", help="also save a PNG of inputs and results here (not in the repo)"
    )
    args = p.parse_args(argv)
    os.environ.setdefault(common.THREADS_ENV, "1")  # on a busy 2-core machine, 2 threads ran ~8× slower
    common.set_threads()
    if args.quick:
        common.use_quick_results()
        args.size, args.steps = 128, 20
    t0 = time.perf_counter()
    shown: list = []
    (dist_table, cost_table), colour_verdicts = colour_experiment(args.size, args.steps, PAIRS, shown)
    region_tables, region_verdicts = region_experiment(args.size, args.steps, shown)
    verdicts = colour_verdicts + region_verdicts
    n_pass = sum(v.endswith("PASS") for v in verdicts)
    body = "\n\n".join(
        [
            f"`fast` preset, {args.size} px, {args.steps} steps; each mode a full run "
            f"(`nst_edu.run(C, S, preset('fast', size={args.size}, steps={args.steps}, colour=mode))`).",
            "## Colour: chrominance distances",
            dist_table,
            "## Colour: style cost per layer, on luminance",
            "J_style^[l] of G's luminance against S's luminance matched to C's mean and std "
            "(float32); in brackets, the ratio to the `style` mode's. The last column: the worst ratio against S's "
            "luminance as it is (not matched to C's), which favours `style` and `keep-colours` (their G's "
            "luminance follows S's own) and is shown for context only.",
            cost_table,
            "## Regions: guided style cost of each region against each style",
            f"`{REGION_CONTENT}`, `masks.split_mask` at ½: top → `{REGION_STYLES[0]}`, bottom → "
            f"`{REGION_STYLES[1]}`. Each cell: Σ_l λ_l J_style^[l] between the region's guided Gram matrix of "
            "G and the style's (rescaled) Gram matrix.",
            *region_tables,
            f"## Targets: {n_pass} of {len(verdicts)} met",
            "\n".join(f"- {v}" for v in verdicts),
        ]
    )
    write_result(
        "controls",
        "Colour and region controls (issue 11)",
        body,
        notes=[
            "Per pixel: mean over pixels of the Euclidean distance between G's and C's chrominance at the same "
            "pixel; (I, Q) from YIQ (`colour.rgb_to_yiq`, RGB in [0, 1]), (a, b) from CIELAB "
            "(`skimage.color.rgb2lab`).",
            "Stats: the 2-Wasserstein distance between Gaussians fitted to the two images' chrominance pixels "
            "(means and 2 × 2 covariances), for images of different sizes (G vs S).",
            "style / mode: how many times closer to C's colours the mode brings G than `style` does (larger is "
            "closer; ∞ or hundreds when G takes C's chrominance exactly, up to clipping).",
            "Luminance style cost: `transfer.Objective` (float32, `fast`'s layers) on "
            "`colour.luminance_image(G)` with targets from `colour.prepare(C, [S], 'luminance')`.",
            f"One torch thread; {time.perf_counter() - t0:.0f} s in all.",
        ],
    )
    if args.montage:
        montage(args.montage, shown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
