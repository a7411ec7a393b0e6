"""Figures: loss curves, image grids, Gram-matrix heatmaps, feature maps and a sweep's grid of results.

What it is: functions that take tensors or a ``transfer.History`` and return a ``matplotlib.figure.Figure``
(built without pyplot, so nothing is shown twice in a notebook and nothing leaks in a loop), plus
``save_figure``. What it is not: no computation of costs or features.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from matplotlib.figure import Figure

from . import fileio


def _png(fig: Figure) -> bytes:
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    return buf.getvalue()


def _register_notebook_display() -> None:
    """Show a Figure as PNG when it ends a notebook cell, also in a kernel where pyplot was never imported
    (without pyplot, IPython has no PNG formatter for Figure and would print only its text repr)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is not None and hasattr(shell, "display_formatter"):
        shell.display_formatter.formatters["image/png"].for_type(Figure, _png)


_register_notebook_display()


def to_display(image) -> np.ndarray:
    """A (1, 3, H, W) or (3, H, W) tensor in [0, 1], or an (H, W, 3) array, as an (H, W, 3) array for imshow."""
    if isinstance(image, torch.Tensor):
        t = image.detach().float().cpu()
        if t.dim() == 4:
            t = t[0]  # (3, H, W)
        return t.clamp(0, 1).permute(1, 2, 0).numpy()  # (H, W, 3)
    return np.asarray(image)


def loss_curves(history, per_layer: bool = True, config=None) -> Figure:
    """Weighted costs α·J_content, β·J_style and J against step (log scale); per-layer J_style^[l] beside.

    ``config`` gives α and β (the history's config by default is unknown; without it, unweighted costs). With
    ``config.beta`` None (β chosen from the style strength), β is read back from the history's own columns:
    β = (J − α J_content − w_tv J_tv) / J_style, with w_tv = ``config.tv_weight_for(config.size)``.
    """
    steps = history.column("step")
    ncols = 2 if per_layer and history.style_layers else 1
    fig = Figure(figsize=(5.2 * ncols, 3.4), layout="constrained")
    ax = fig.add_subplot(1, ncols, 1)
    alpha = config.alpha if config is not None else 1.0
    beta = config.beta if config is not None else 1.0
    w_tv = config.tv_weight_for(config.size) if config is not None else 1.0
    if config is not None and beta is None:
        rest = history.column("total") - alpha * history.column("content") - w_tv * history.column("tv")
        beta = float(np.median(rest / np.maximum(history.column("style"), 1e-300)))
    wa, wb = ("α·", "β·") if config is not None else ("", "")
    ax.plot(steps, alpha * history.column("content"), label=f"{wa}J_content")
    ax.plot(steps, beta * history.column("style"), label=f"{wb}J_style")
    if np.any(history.column("tv") > 0):
        ax.plot(steps, history.column("tv") * w_tv, label="TV")
    ax.plot(steps, history.column("total"), label="J (total)", color="black", linewidth=2)
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("cost")
    ax.set_title("costs during optimization")
    ax.legend(fontsize=8)
    ax.grid(True, which="both", alpha=0.3)
    if ncols == 2:
        ax2 = fig.add_subplot(1, 2, 2)
        for layer in history.style_layers:
            ax2.plot(steps, history.column(f"style:{layer}"), label=layer)
        ax2.set_yscale("log")
        ax2.set_xlabel("step")
        ax2.set_title("style cost per layer, J_style^[l]")
        ax2.legend(fontsize=8)
        ax2.grid(True, which="both", alpha=0.3)
    return fig


def grid(
    images: Sequence, titles: Sequence[str] | None = None, ncols: int | None = None, size: float = 3.0
) -> Figure:
    """Images side by side (``ncols`` per row), each with its title."""
    n = len(images)
    if n == 0:
        raise ValueError("grid needs at least one image")
    ncols = ncols or n
    nrows = -(-n // ncols)
    fig = Figure(figsize=(size * ncols, size * nrows * 1.05), layout="constrained")
    for i, image in enumerate(images):
        ax = fig.add_subplot(nrows, ncols, i + 1)
        ax.imshow(to_display(image))
        if titles is not None:
            ax.set_title(titles[i], fontsize=10)
        ax.axis("off")
    return fig


def comparison(C, S, G, size: float = 3.0) -> Figure:
    """Content, style and generated image side by side."""
    return grid([C, S, G], ["content C", "style S", "generated G"], size=size)


def gram_heatmap(
    G_grams: Sequence[torch.Tensor],
    titles: Sequence[str] | None = None,
    max_channels: int = 64,
    size: float = 3.2,
) -> Figure:
    """Heatmaps of Gram matrices (n_C, n_C), showing the first ``max_channels`` channels."""
    fig = Figure(figsize=(size * len(G_grams), size), layout="constrained")
    for i, G_gram in enumerate(G_grams):
        ax = fig.add_subplot(1, len(G_grams), i + 1)
        m = G_gram.detach().float().cpu()[:max_channels, :max_channels].numpy()
        im = ax.imshow(m, cmap="magma")
        fig.colorbar(im, ax=ax, shrink=0.8)
        if titles is not None:
            ax.set_title(titles[i], fontsize=10)
        ax.set_xlabel("channel j")
        ax.set_ylabel("channel i")
    return fig


def feature_maps(
    a: torch.Tensor, channels: Sequence[int] = (0, 1, 2, 3), title: str = "", size: float = 2.0
) -> Figure:
    """Chosen channels of one activation a^[l] (1, n_C, n_H, n_W) as grayscale images."""
    if a.dim() != 4 or a.shape[0] != 1:
        raise ValueError(f"feature_maps expects a of shape (1, n_C, n_H, n_W), got {tuple(a.shape)}")
    fig = Figure(figsize=(size * len(channels), size * 1.15), layout="constrained")
    for i, c in enumerate(channels):
        ax = fig.add_subplot(1, len(channels), i + 1)
        ax.imshow(a[0, c].detach().float().cpu().numpy(), cmap="viridis")
        ax.set_title(f"{title} ch {c}".strip(), fontsize=9)
        ax.axis("off")
    return fig


def sweep_grid(table, cols: str, rows: str | None = None, size: float = 2.5) -> Figure:
    """A sweep's results (``sweep.sweep``'s table: a DataFrame or a list of row dicts) as a labelled grid.

    One column per value of the table's column ``cols`` (e.g. ``"beta"``), one row per value of ``rows``
    (default: the content, when the table has several), each cell the run's ``result.png`` read from its
    ``folder``; a run without a result (failed, interrupted) is a grey cell saying so.
    """
    records = table.to_dict("records") if hasattr(table, "to_dict") else [dict(r) for r in table]
    if not records:
        raise ValueError("sweep_grid needs a table with at least one run")
    missing = [c for c in (cols, rows or "content") if c not in records[0]]
    if missing:
        raise ValueError(f"the table has no column {missing[0]!r}; its columns are {', '.join(records[0])}")
    rows = rows or ("content" if len({r["content"] for r in records}) > 1 else None)
    col_values = list(dict.fromkeys(r[cols] for r in records))
    row_values = list(dict.fromkeys(r[rows] for r in records)) if rows else [None]
    cells: dict = {}
    for r in records:
        key = (r[rows] if rows else None, r[cols])
        if key in cells:
            raise ValueError(
                f"two runs fall in one cell ({rows or 'one row'}, {cols} = {r[cols]}); choose rows and cols "
                f"that tell the runs apart, or filter the table first"
            )
        cells[key] = r
    fig = Figure(figsize=(size * len(col_values), size * len(row_values) * 1.05), layout="constrained")
    for i, row_value in enumerate(row_values):
        for j, col_value in enumerate(col_values):
            ax = fig.add_subplot(len(row_values), len(col_values), i * len(col_values) + j + 1)
            _sweep_cell(ax, cells.get((row_value, col_value)))
            if i == 0:
                ax.set_title(f"{cols} = {_short(col_value)}", fontsize=10)
            if j == 0 and rows:
                ax.set_ylabel(f"{rows} = {_short(row_value)}", fontsize=10)
    return fig


def _sweep_cell(ax, record) -> None:
    """One run's result.png in ``ax``, or a grey square with its status when it has none."""
    path = Path(record["folder"]) / "result.png" if record is not None else None
    if path is not None and path.is_file() and record.get("status") not in ("failed", "interrupted"):
        from PIL import Image

        with Image.open(path) as img:
            ax.imshow(np.asarray(img.convert("RGB")))
    else:
        ax.imshow(np.full((8, 8, 3), 0.85))
        ax.text(3.5, 3.5, record["status"] if record is not None else "no run", ha="center", va="center")
    ax.set_xticks([])
    ax.set_yticks([])


def _short(value) -> str:
    """A cell label: a number as %g, a path as its file name."""
    if isinstance(value, float):
        return f"{value:g}"
    return Path(value).name if isinstance(value, str) and "/" in value else str(value)


def save_figure(fig: Figure, path: str | Path, dpi: int = 100) -> Path:
    """Save a figure as PNG (atomically) and return the path."""
    with fileio.atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, format="png")
    return Path(path)
