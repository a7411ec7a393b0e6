r"""Regions: masks that give each style its own part of G (Gatys et al. 2017, spatial control).

What it is: a mask is a float tensor m of shape (H, W) with weights in [0, 1] (1 inside the region), at any
size; ``transfer.run(content, [S_0, S_1], config, masks=[m_0, m_1])`` gives region s the style S_s through
guided Gram matrices (``costs.guided_gram``), with each mask resized to each style layer by ``to_layer``.

- ``load_mask``: a mask from a file, sample, PIL image, array or tensor;
- ``label_masks``: one mask per label of a label image (one flat colour or integer per region);
- ``to_layer``: a mask at a layer's n_H × n_W positions;
- ``split_mask``, ``shape_mask``: masks the package makes itself (sky and ground, inside and outside a shape);
- ``check_regions``: refuses a region that is empty at the image or at a style layer.

What it is not: no Gram matrices or costs (``costs.py``), no optimization (``transfer.py``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from . import images, vgg

__all__ = [
    "MAX_LABELS",
    "load_mask",
    "label_masks",
    "to_layer",
    "split_mask",
    "shape_mask",
    "check_regions",
]

MAX_LABELS = 16  # more distinct colours than this is a photo or a smoothed drawing, not a label image
MIN_POSITIONS = 1.0  # a region must cover at least one position's worth (Σ m) of every style layer
_GREY_SHARE = 0.2  # a black-and-white mask with more than this share of grey pixels is something else


def load_mask(source, what: str = "the mask") -> Tensor:
    """A mask (H, W) float32 with weights in [0, 1], from anything ``images.load_image`` takes.

    A 2-D float or bool array or tensor (or one of shape (1, H, W) or (1, 1, H, W)) holds the weights
    themselves (soft masks welcome). Anything else is read as an image, made grey and thresholded at 0.5:
    white (≥ 0.5) is the region, black is not, so a drawn mask with smoothed edges or JPEG noise is exact.
    Refused, in one sentence (ValueError): values outside [0, 1] or not finite, other shapes, a colour
    photo or a grey picture (more than a fifth of its pixels grey), a mask that is 0 everywhere.

    Shapes: -> (H, W)
    """
    weights = _as_weights(source)
    if weights is None:
        rgb = images.load_image(source)[0]  # (3, H, W) in [0, 1]
        grey = rgb.mean(0)  # (H, W)
        share = float(((grey > 0.1) & (grey < 0.9)).float().mean())
        colourful = float((rgb.max(0).values - rgb.min(0).values).gt(0.2).float().mean())
        if share > _GREY_SHARE or colourful > _GREY_SHARE:
            raise ValueError(
                f"{what} is not a black-and-white image ({max(share, colourful):.0%} of its pixels are grey or "
                f"coloured); paint the region white on black (for one colour per region, use label_masks)"
            )
        weights = (grey >= 0.5).float()  # (H, W)
    if not bool(weights.any()):
        raise ValueError(f"{what} is empty (0 everywhere), so its style would have no region; mark a region")
    return weights


def _as_weights(source) -> Tensor | None:
    """The weights of a 2-D float/bool array or tensor, checked; None for anything to read as an image (an
    RGB array (H, W, 3|4) or tensor (3, H, W), (1, 3, H, W) included)."""
    if isinstance(source, np.ndarray) and (source.dtype == bool or np.issubdtype(source.dtype, np.floating)):
        if source.ndim == 3 and source.shape[-1] in (3, 4):
            return None
        source = torch.from_numpy(np.ascontiguousarray(source))
    if not isinstance(source, Tensor) or not (source.is_floating_point() or source.dtype == torch.bool):
        return None
    t = source.detach()
    while t.dim() > 2 and t.shape[0] == 1:
        t = t[0]
    if t.dim() == 3 and t.shape[0] == 3:
        return None
    if t.dim() != 2 or min(t.shape) < 1:
        raise ValueError(
            f"a mask array must have the shape (H, W), (1, H, W) or (1, 1, H, W), got {tuple(source.shape)}; "
            f"for one mask per region of a label image use label_masks"
        )
    t = t.to("cpu", torch.float32)
    if not bool(torch.isfinite(t).all()) or float(t.min()) < 0 or float(t.max()) > 1:
        raise ValueError(
            f"a mask's weights must be finite and in [0, 1], got values in [{float(t.min()):.3g}, "
            f"{float(t.max()):.3g}]; scale it (e.g. m / 255) or threshold it (m > 0.5)"
        )
    return t.contiguous()


def label_masks(source, max_labels: int = MAX_LABELS) -> list[Tensor]:
    """One binary mask (H, W) per label of a label image, in increasing order of the label.

    ``source``: a 2-D integer array or tensor of labels, or an image (file, PIL, …) painted with one flat
    colour per region (ordered by their (R, G, B) values). Save painted label images as PNG: JPEG and
    smoothing invent colours, which are refused (more than ``max_labels`` labels).

    Shapes: -> [(H, W), …]
    """
    if isinstance(source, (np.ndarray, Tensor)) and source.ndim == 2 and not _is_float(source):
        labels = torch.as_tensor(np.asarray(source) if isinstance(source, np.ndarray) else source.cpu())
        labels = labels.to(torch.int64)  # (H, W)
    else:
        rgb = (images.load_image(source)[0] * 255).round().to(torch.int64)  # (3, H, W)
        labels = (rgb[0] << 16) | (rgb[1] << 8) | rgb[2]  # (H, W): one integer per colour
    values = torch.unique(labels)  # sorted
    if len(values) > max_labels:
        raise ValueError(
            f"the label image has {len(values)} distinct labels, more than {max_labels}: it is not a label image "
            f"(paint each region in one flat colour and save it as PNG, not JPEG)"
        )
    return [(labels == v).float() for v in values]


def _is_float(x) -> bool:
    return x.is_floating_point() if isinstance(x, Tensor) else np.issubdtype(x.dtype, np.floating)


def to_layer(m: Tensor, hw: Sequence[int]) -> Tensor:
    r"""The mask at a layer's positions: the mean of m over the pixels each position stands for.

    $$m^{[l]}_{pq} = \operatorname{mean}_{(i, j) \in \text{block}(p, q)} m_{ij}$$

    (adaptive average pooling: for an image of n_H·d × n_W·d pixels, the d × d block of position (p, q), d
    the layer's downsampling). A mask of any size goes straight to the layer's size.

    Shapes: m (H, W), hw = (n_H, n_W) -> (n_H, n_W)
    """
    if not isinstance(m, Tensor) or m.dim() != 2:
        raise ValueError(f"to_layer: expected a mask of shape (H, W), got {_describe(m)}")
    return F.adaptive_avg_pool2d(m[None, None].float(), tuple(int(s) for s in hw))[0, 0]  # (n_H, n_W)


def split_mask(hw: Sequence[int], at: float = 0.5, vertical: bool = False) -> list[Tensor]:
    """Two binary masks that split the image along a line: [above, below] (sky and ground), or [left, right].

    ``at`` is where the line lies, as a fraction of the height (of the width when ``vertical``), in (0, 1).

    Shapes: hw = (H, W) -> [(H, W), (H, W)], which add up to 1 everywhere
    """
    H, W = _hw(hw)
    if isinstance(at, bool) or not isinstance(at, (int, float)) or not 0 < at < 1:
        raise ValueError(f"split_mask: at must be a fraction between 0 and 1 (the line's place), got {at!r}")
    first = torch.zeros(H, W)
    if vertical:
        first[:, : max(1, min(W - 1, round(at * W)))] = 1
    else:
        first[: max(1, min(H - 1, round(at * H))), :] = 1
    return [first, 1 - first]


SHAPES = ("ellipse", "rectangle")


def shape_mask(
    hw: Sequence[int], shape: str = "ellipse", box: tuple[float, float, float, float] = (0.2, 0.2, 0.8, 0.8)
) -> list[Tensor]:
    """Two binary masks: [inside, outside] of an ellipse or rectangle drawn in ``box``.

    ``box`` = (top, left, bottom, right) as fractions of the height and width.

    Shapes: hw = (H, W) -> [(H, W), (H, W)], which add up to 1 everywhere
    """
    H, W = _hw(hw)
    if shape not in SHAPES:
        raise ValueError(f"shape_mask: shape must be one of {', '.join(SHAPES)}, got {shape!r}")
    top, left, bottom, right = (float(v) for v in box)
    if not (0 <= top < bottom <= 1 and 0 <= left < right <= 1):
        raise ValueError(
            f"shape_mask: box must be (top, left, bottom, right) fractions, top < bottom and left < right, "
            f"got {box!r}"
        )
    y = (torch.arange(H, dtype=torch.float32) + 0.5)[:, None] / H  # (H, 1): pixel centres
    x = (torch.arange(W, dtype=torch.float32) + 0.5)[None, :] / W  # (1, W)
    if shape == "rectangle":
        inside = (y >= top) & (y < bottom) & (x >= left) & (x < right)  # (H, W)
    else:
        cy, cx, ry, rx = (top + bottom) / 2, (left + right) / 2, (bottom - top) / 2, (right - left) / 2
        inside = ((y - cy) / ry) ** 2 + ((x - cx) / rx) ** 2 <= 1  # (H, W)
    first = inside.float()
    if not bool(first.any()) or bool(first.all()):
        raise ValueError(f"shape_mask: the {shape} in box {box!r} covers no pixel or every pixel of {H}x{W}")
    return [first, 1 - first]


def check_regions(
    masks: Sequence[Tensor], hws: Iterable[Sequence[int]], layers: Iterable[str], names=None
) -> None:
    """Refuse (ValueError, one sentence) a region that covers less than one position of some style layer.

    ``hws``: the image sizes (H, W) G takes (one per stage); ``layers``: the style layers. A region smaller
    than one position gives a Gram matrix of almost nothing (and huge weights M / Σ m², so a huge gradient).
    """
    layers = list(layers)
    names = (
        list(names) if names is not None else [f"mask {i + 1}" for i in range(len(masks))]
    )  # "the region of …"
    for hw in hws:
        for layer in layers:
            _, n_H, n_W = vgg.layer_shape(layer, hw)
            for name, m in zip(names, masks):
                covered = float(to_layer(m, (n_H, n_W)).sum())  # Σ m: positions covered
                if covered < MIN_POSITIONS:
                    raise ValueError(
                        f"the region of {name} covers {covered:.2g} of the {n_H}x{n_W} positions of {layer} at "
                        f"{hw[0]}x{hw[1]} px, less than one, so its style has almost nothing to match there; "
                        f"make the region larger, the image larger, or drop the deeper style layers"
                    )


def _hw(hw) -> tuple[int, int]:
    if not (
        isinstance(hw, (tuple, list, torch.Size))
        and len(hw) == 2
        and all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in hw)
    ):
        raise ValueError(f"expected hw = (H, W), two positive whole numbers, got {hw!r}")
    return int(hw[0]), int(hw[1])


def _describe(x) -> str:
    return f"shape {tuple(x.shape)}" if isinstance(x, Tensor) else type(x).__name__
