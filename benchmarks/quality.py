"""Quality on many pairs: the `fast` preset against pastiche at equal wall time, under one fixed objective.

What it is: for each content × style pair and size, ``fast`` runs first (its wall time T, image loading and
targets included); pastiche (its own defaults: L-BFGS, content start, the same quantized VGG-19 without
normalisation) then gets the same pair at the same size and the same T of wall time, step by step. Both
results are then judged in float32 by one fixed objective, the normalised ``gatys`` preset's J at that size,
and by the speckle index (``colour.speckle_index``). For our run, each style layer's share of the weighted
style cost λ_l J^[l] / Σ λ J at the start and at the end comes from its history.

The pairs: the bundled photos with the painted samples and the two public-domain paintings in
``../shared/paintings`` (provenance in its README).

What it is not: not a test. Results go to ``results/quality.md``, ``results/quality.json`` and an image grid
per size, ``results/quality_<size>.jpg`` (rows: pairs; columns: C, S, fast, pastiche); each size's records in
``results/quality_<size>.json``, so that sizes can be run one at a time.

    python benchmarks/quality.py [--sizes 256,384] [--pairs 8] [--quick]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

from nst_edu import preset, run  # noqa: E402
from nst_edu.core import colour, images, transfer  # noqa: E402

PAINTINGS = Path(__file__).resolve().parents[2] / "shared" / "paintings"
PAIRS = (
    ("chelsea", "swirls"),
    ("chelsea", "udnie"),
    ("astronaut", "woman_with_hat"),
    ("astronaut", "stained_glass"),
    ("coffee", "waves"),
    ("coffee", "udnie"),
    ("rocket", "woman_with_hat"),
    ("rocket", "swirls"),
)
CAFFE_MEAN_BGR = torch.tensor((103.939, 116.779, 123.68)).view(1, 3, 1, 1)


def source(name: str) -> str:
    """A sample name, or the path of one of the shared paintings."""
    path = PAINTINGS / f"{name}.jpg"
    return str(path) if path.exists() else name


def png_path(name: str) -> Path:
    """The image as a PNG file that both programs read (pastiche reads files only)."""
    common.INPUTS.mkdir(parents=True, exist_ok=True)
    path = common.INPUTS / f"{name}.png"
    if not path.exists():
        images.save_image(images.load_image(source(name)), path)
    return path


def judge(G: torch.Tensor, C: torch.Tensor, S: torch.Tensor, size: int) -> dict:
    """The fixed objective (normalised gatys, float32) and the speckle index of G."""
    config = preset("gatys", size=size, device="cpu", precision="float32")
    model = transfer.build_model(config, "cpu")
    objective = transfer.Objective(model, C, S, config)
    with torch.no_grad():
        values = objective(G)
    return {
        "content": float(values["content"]),
        "style": float(values["style"]),
        "J": float(values["total"]),
        "speckle": colour.speckle_index(G, S),
    }


def ours(content: str, style: str, size: int) -> tuple[torch.Tensor, float, dict]:
    config = preset("fast", size=size, device="cpu", frame_every=0)
    t0 = time.perf_counter()
    result = run(png_path(content), png_path(style), config, progress=False)
    seconds = time.perf_counter() - t0
    h = result.history
    shares = {}
    for when, i in (("start", 0), ("end", -1)):
        weighted = {layer: lam * h.column(f"style:{layer}")[i] for layer, lam in config.style_layers}
        total = sum(weighted.values())
        shares[when] = {layer: w / total for layer, w in weighted.items()}
    return result.image, seconds, shares


def pastiche_for(content: str, style: str, size: int, seconds: float) -> tuple[torch.Tensor, int]:
    """pastiche's result after ``seconds`` of wall time (construction included), and its steps."""
    from pastiche.pastiche import PasticheArtist

    t0 = time.perf_counter()
    artist = PasticheArtist(str(png_path(content)), [str(png_path(style))], size=size, device="cpu")
    steps = 0
    while time.perf_counter() - t0 < seconds:
        artist.draw()
        steps += 1
    x = artist.pastiche.detach() + CAFFE_MEAN_BGR  # (1, 3, H, W) BGR in 0..255
    return (x.flip(1) / 255.0).clamp(0, 1), steps


def grid(rows: list[list[torch.Tensor]], path: Path, cell: int = 144) -> None:
    """Rows of images side by side, each resized to ``cell`` px high, saved as a JPEG."""
    from PIL import Image

    lines = []
    for row in rows:
        tiles = [
            images.to_pil(images.resize_to(x, (cell, round(cell * x.shape[-1] / x.shape[-2])))) for x in row
        ]
        line = Image.new("RGB", (sum(t.width for t in tiles) + 4 * len(tiles), cell + 4), "white")
        x0 = 0
        for t in tiles:
            line.paste(t, (x0, 2))
            x0 += t.width + 4
        lines.append(line)
    width = max(line.width for line in lines)
    sheet = Image.new("RGB", (width, sum(line.height for line in lines)), "white")
    y0 = 0
    for line in lines:
        sheet.paste(line, (0, y0))
        y0 += line.height
    sheet.save(path, quality=75)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="256,384")
    parser.add_argument("--pairs", type=int, default=len(PAIRS))
    parser.add_argument("--quick", action="store_true", help="2 pairs at 128 px, under results/quick/")
    args = parser.parse_args(argv)
    if args.quick:
        common.use_quick_results()
        args.sizes, args.pairs = "128", 2
    threads = common.set_threads()
    records, started = [], time.perf_counter()
    for size in [int(s) for s in args.sizes.split(",")]:
        cells = []
        for content, style in PAIRS[: args.pairs]:
            C = images.load_image(png_path(content), size=size)
            S = images.load_image(png_path(style), size=size)
            G, seconds, shares = ours(content, style, size)
            P, p_steps = pastiche_for(content, style, size, seconds)
            rec = {
                "content": content,
                "style": style,
                "size": size,
                "seconds": seconds,
                "pastiche_steps": p_steps,
                "ours": judge(G, C, S, size),
                "pastiche": judge(P, C, S, size),
                "shares": shares,
            }
            records.append(rec)
            print(json.dumps(rec), flush=True)
            cells.append([C, S, G, P])
        grid(cells, common.RESULTS / f"quality_{size}.jpg")
        done = [r for r in records if r["size"] == size]
        (common.RESULTS / f"quality_{size}.json").write_text(json.dumps(done, indent=1))
    # The table covers every size measured so far (one run per size may be made separately).
    every = []
    for path in sorted(common.RESULTS.glob("quality_*.json"), key=lambda p: int(p.stem.split("_")[1])):
        every += json.loads(path.read_text())
    write(every, threads, time.perf_counter() - started)
    return 0


def _pct(shares: dict) -> str:
    return " / ".join(f"{100 * v:.0f}" for v in shares.values())


def write(records: list[dict], threads: int, wall: float) -> None:
    layers = list(records[0]["shares"]["start"])
    rows = []
    for r in records:
        o, p = r["ours"], r["pastiche"]
        rows.append(
            [
                f"{r['content']} × {r['style']}",
                r["size"],
                f"{r['seconds']:.0f} s / {r['pastiche_steps']}",
                f"{o['content']:.3g} / {p['content']:.3g}",
                f"{o['style']:.3g} / {p['style']:.3g}" + (" ✓" if o["style"] <= p["style"] else " ✗"),
                f"{o['speckle']:.2f} / {p['speckle']:.2f}" + (" ✓" if o["speckle"] <= 1.5 else " ✗"),
                _pct(r["shares"]["start"]),
                _pct(r["shares"]["end"]),
            ]
        )
    body = common.table(
        [
            "pair",
            "px",
            "wall time / pastiche steps",
            "J_content: fast / pastiche",
            "J_style: fast / pastiche",
            "speckle: fast / pastiche",
            f"style shares at start, % ({', '.join(layers)})",
            "style shares at end, %",
        ],
        rows,
    )
    body += "\n\n" + "\n\n".join(f"![{s} px](quality_{s}.jpg)" for s in sorted({r["size"] for r in records}))
    notes = [
        "Each pair: `fast` first; pastiche then gets the same wall time (its construction included), step by "
        "step; both judged by the normalised `gatys` objective in float32 at that size (α = 1, its β and "
        "equal λ = 0.2). ✓: fast's style cost at most pastiche's; speckle ✓: at most 1.5.",
        "Speckle index: E_hf(G) / E_hf(S at G's size), E_hf the mean squared difference between the "
        "chrominance (YIQ's I and Q) and its 5×5 Gaussian blur (σ = 1 px); 1 = as finely coloured as the style.",
        "Style shares: λ_l J^[l] / Σ λ J of our run, from its first row (the start image against S) and its "
        "last row (the result).",
        f"Grids: rows are the pairs in table order; columns C, S, fast, pastiche. torch threads: {threads}. "
        f"This invocation: {wall:.0f} s.",
    ]
    common.write_result(
        "quality", "Quality on many pairs: fast against pastiche at equal wall time", body, notes
    )


if __name__ == "__main__":
    sys.exit(main())
