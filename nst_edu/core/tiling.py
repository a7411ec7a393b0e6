r"""Exact tiling of the objective: J(G) and ∂J/∂G with memory bounded by a tile, not by the image.

What it is: an evaluation strategy of ``transfer.Objective``'s J, not a new cost. The style cost reads G
only through Gram matrices, and a Gram matrix is a sum over positions; the content cost is a sum over
positions too. Cut the positions of every layer into tiles' *cores* (a partition), and

- pass 1 (no grad), per tile: $G^{[l]}_{gram} \mathrel{+}= A_{core} A_{core}^T$ and
  $J_{content} \mathrel{+}= \frac{1}{4 n_H n_W n_C} \sum_{core} (a^{(C)} - a^{(G)})^2$;
- closed form, per style layer (with $M = n_H n_W$ of G's layer):
  $$J^{[l]}_{style} = \frac{1}{4 n_C^2 M^2} \sum_{ij} (G^{(S)}_{gram} - G^{(G)}_{gram})_{ij}^2, \qquad
    W^{[l]} = \frac{\partial J}{\partial G^{(G)}_{gram}}
            = \beta \lambda_l \frac{G^{(G)}_{gram} - G^{(S)}_{gram}}{2 n_C^2 M^2}$$
- pass 2 (grad), per tile: back-propagate the surrogate
  $$s_{tile} = \sum_l \langle W^{[l]}, A_{core} A_{core}^T \rangle
             + \frac{\alpha}{4 n_H n_W n_C} \sum_{core} (a^{(C)} - a^{(G)})^2$$
  ($W$ held constant) and add $\partial s_{tile} / \partial\,\text{tile pixels}$ into
  $\partial J / \partial G$.

By the chain rule $\partial J/\partial G = \sum_{tiles} \partial s_{tile}/\partial G$ (+ the TV term's
gradient, computed untiled: it is cheap). This is exact when every core activation equals the untiled one:
each tile's box is its core grown by a *halo* of at least the receptive-field radius R of the deepest layer
(so no core position sees the box's zero padding, except at the image border, where the box includes the
border and the padding is the image's own), and box offsets lie on the pooling grid D = 2^(pools passed)
(so the 2×2 pooling windows are the untiled ones). For VGG-19: R(relu1_1) = 1, R(relu2_1) = 4,
R(relu3_1) = 10, R(relu4_2) = 38, R(relu5_1) = 70 pixels. The targets can be tiled the same way:
``tiled_features`` (a_C) and ``tiled_grams`` (S).

The price: every box is forwarded twice (pass 1, then pass 2 with its backward) and boxes overlap, so an
evaluation costs about 2× the untiled CPU time with 512 px tiles at 1024 px (gatys layers: halo 80 px).

What it is not: no optimizer and no new formula of J (see ``costs.py`` and ``transfer.Objective``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from itertools import pairwise
from typing import NamedTuple

import torch
from torch import Tensor

from . import costs, vgg

__all__ = [
    "Tile",
    "halo_and_grid",
    "receptive_radius",
    "tiled_features",
    "tiled_grams",
    "tiled_value",
    "tiled_value_and_grad",
    "tiles",
]

Features = Callable[[Tensor, Iterable[str]], dict[str, Tensor]]  # x (1, 3, h, w) -> {layer: a^[l]}


def receptive_radius(layer: str) -> int:
    r"""How far, in input pixels, a position of ``layer`` sees beyond its own block of pixels.

    A position of a layer with downsampling $s$ owns the $s \times s$ pixel block $[s i, s i + s)$; each
    3×3 convolution (padding 1) met at downsampling $s'$ widens what it sees by $s'$ on each side, a 2×2
    pooling (stride 2) by nothing. So $R = \sum_{convs} s'$ and the receptive field is $s + 2R$ pixels wide.
    """
    vgg.check_layers([layer])
    R, s = 0, 1
    for name in vgg.LAYER_NAMES[: vgg.LAYER_INDEX[layer] + 1]:
        if name.startswith("conv"):
            R += s
        elif name.startswith("pool"):
            s *= 2
    return R


def halo_and_grid(layers: Iterable[str]) -> tuple[int, int]:
    """(halo, grid) in pixels for exact tiling of ``layers``: the grid D is the largest downsampling, the
    halo the largest receptive radius rounded up to a multiple of D (so box offsets stay on the grid).

    E.g. the gatys layers (relu1_1 … relu5_1, relu4_2): R = 70, D = 16 -> (80, 16).
    """
    layers = vgg.check_layers(layers)
    grid = vgg.min_side(layers)  # the largest downsampling
    R = max(receptive_radius(layer) for layer in layers)
    return -(-R // grid) * grid, grid


class Tile(NamedTuple):
    """One tile in pixels: ``core`` (the positions it owns) inside ``box`` (what is fed to VGG)."""

    core: tuple[slice, slice]  # (rows, cols)
    box: tuple[slice, slice]  # (rows, cols): core + halo, clipped to the image

    def positions(self, d: int) -> tuple[slice, slice]:
        """The core's positions of a layer with downsampling ``d``, in the whole image's activation.

        Position p belongs to the core [c0, c1) when c0 // d <= p < c1 // d: the cores partition every
        layer's n_H = H // d positions (the image's last core ends at H)."""
        return tuple(slice(c.start // d, c.stop // d) for c in self.core)

    def core_of(self, a: Tensor, layer: str) -> Tensor:
        """The core's part of the box's activation a: (1, n_C, box n_H, box n_W) -> (1, n_C, core ., .)."""
        d = vgg.downsampling(layer)
        rows, cols = (
            slice(p.start - b.start // d, p.stop - b.start // d) for p, b in zip(self.positions(d), self.box)
        )
        return a[:, :, rows, cols]


def _cuts(n: int, tile: int, grid: int) -> list[int]:
    """Core boundaries 0 = b_0 < … < b_k = n: on the grid (but for n), ≤ max(tile, grid) apart, about even."""
    step = max(grid, tile // grid * grid)  # the largest core side on the grid
    k = max(1, 1 + -(-(n - tile) // step))  # the fewest cores: the last one may end off the grid, at n
    size = min(step, -(-n // (k * grid)) * grid)  # ≥ n / k unless it is step
    return [i * size for i in range(k) if i * size < n] + [n]


def tiles(
    hw: tuple[int, int], tile: int, layers: Iterable[str], halo: int | None = None, grid: int | None = None
) -> list[Tile]:
    """The tiles of an (H, W) image: cores of side ≤ ``tile`` on the grid, boxes = cores + halo.

    ``halo`` and ``grid`` default to ``halo_and_grid(layers)``, the values for which tiling is exact; other
    values are only for showing that they matter. A box is at most ``tile + 2 · halo`` pixels on a side.
    """
    H, W = hw
    exact_halo, exact_grid = halo_and_grid(layers)
    halo = exact_halo if halo is None else halo
    grid = exact_grid if grid is None else grid
    if tile < 1 or halo < 0 or grid < 1:
        raise ValueError(
            f"tile must be ≥ 1, halo ≥ 0 and grid ≥ 1 pixels; got tile={tile}, halo={halo}, grid={grid}"
        )
    rows, cols = _cuts(H, tile, grid), _cuts(W, tile, grid)
    out = []
    for r0, r1 in pairwise(rows):
        for c0, c1 in pairwise(cols):
            box = (slice(max(0, r0 - halo), min(H, r1 + halo)), slice(max(0, c0 - halo), min(W, c1 + halo)))
            out.append(Tile((slice(r0, r1), slice(c0, c1)), box))
    return out


def _cores(
    features: Features, x: Tensor, layers: list[str], parts: list[Tile]
) -> Iterator[tuple[Tile, dict[str, Tensor]]]:
    """Per tile, each layer's activation at the core's positions: {layer: (1, n_C, core n_H, core n_W)}."""
    for t in parts:
        a = features(x[:, :, t.box[0], t.box[1]], layers)  # {l: (1, n_C, box n_H, box n_W)}
        yield t, {layer: t.core_of(a[layer], layer) for layer in layers}


def _gram(a: Tensor) -> Tensor:
    # (1, n_C, h, w) -> (n_C, n_C), float32 for bfloat16 a; no NaN scan (a host sync): the loop checks J
    return costs.gram_matrix(costs.unroll(a), check_finite=False)


def _layer_sizes(layer: str, hw) -> tuple[int, int]:
    """(n_C, M = n_H n_W) of ``layer`` for the whole image."""
    d = vgg.downsampling(layer)
    return vgg.n_channels(layer), (hw[0] // d) * (hw[1] // d)


@torch.no_grad()
def tiled_grams(features: Features, x: Tensor, layers: Iterable[str], tile: int) -> dict[str, Tensor]:
    """Each layer's Gram matrix of image ``x``, summed over the cores: ``gram_matrix(unroll(a))``.

    Shapes: x: (1, 3, H, W) -> {layer: (n_C, n_C)}
    """
    layers = vgg.check_layers(layers)
    grams: dict[str, Tensor] = {}
    for _, core in _cores(features, x, layers, tiles(tuple(x.shape[-2:]), tile, layers)):
        for layer, a in core.items():
            grams[layer] = grams[layer] + _gram(a) if layer in grams else _gram(a)  # (n_C, n_C)
    return grams


@torch.no_grad()
def tiled_features(features: Features, x: Tensor, layers: Iterable[str], tile: int) -> dict[str, Tensor]:
    """The activations of ``x`` assembled from the cores (e.g. the content target): ``features(x)``.

    Shapes: x: (1, 3, H, W) -> {layer: (1, n_C, H // d, W // d)} (d: the layer's downsampling), float32
    """
    layers = vgg.check_layers(layers)
    H, W = x.shape[-2:]
    out = {}
    for layer in layers:
        d = vgg.downsampling(layer)
        out[layer] = x.new_zeros(1, vgg.n_channels(layer), H // d, W // d, dtype=torch.float32)
    for t, core in _cores(features, x, layers, tiles((H, W), tile, layers)):
        for layer, a in core.items():
            rows, cols = t.positions(vgg.downsampling(layer))
            out[layer][:, :, rows, cols] = a.float()
    return out


def _content_part(objective, a_G_core: Tensor, t: Tile, hw) -> Tensor:
    """The content cost's terms at one core's positions, Σ_core (a_C − a_G)² / (4 n_H n_W n_C): ().

    That is ``content_cost`` of the core (which divides by the core's positions) times the core's share of
    the layer's positions; the parts of all cores sum to J_content."""
    layer = objective.config.content_layer
    _, M = _layer_sizes(layer, hw)
    M_core = a_G_core.shape[-2] * a_G_core.shape[-1]
    if M_core == 0:  # the image's last core can be thinner than this layer's downsampling
        return a_G_core.new_zeros((), dtype=torch.float32)
    rows, cols = t.positions(vgg.downsampling(layer))
    a_C = objective.a_C[:, :, rows, cols]  # (1, n_C, core n_H, core n_W)
    return costs.content_cost(a_C, a_G_core, check_finite=False) * (M_core / M)  # ()


def _pass1(objective, G: Tensor, parts: list[Tile]) -> tuple[dict[str, Tensor], Tensor]:
    """Pass 1 (no grad): G's Gram matrices {layer: (n_C, n_C)} and J_content ()."""
    cfg, hw = objective.config, tuple(G.shape[-2:])
    grams: dict[str, Tensor] = {}
    J_content = G.new_zeros((), dtype=torch.float32)
    with torch.no_grad():
        for t, core in _cores(objective._features, G.detach(), list(cfg.layers), parts):
            J_content = J_content + _content_part(objective, core[cfg.content_layer], t, hw)
            for layer in objective.style_weights:
                grams[layer] = grams[layer] + _gram(core[layer]) if layer in grams else _gram(core[layer])
    return grams, J_content


def _values(objective, G: Tensor, grams: dict[str, Tensor], J_content: Tensor) -> dict[str, Tensor]:
    """The same costs as ``Objective(G)``, from pass 1: content, style:<layer>, style, tv, total."""
    cfg, hw = objective.config, tuple(G.shape[-2:])
    out = {"content": J_content}
    for layer in objective.style_weights:
        _, M = _layer_sizes(layer, hw)
        out[f"style:{layer}"] = costs.layer_style_cost_from_grams(  # G's Gram matrix summed over tiles
            objective.grams_S[layer], grams[layer], M, check_finite=False
        )  # ()
    out["style"] = sum(lam * out[f"style:{layer}"] for layer, lam in objective.style_weights.items())
    with torch.no_grad():
        out["tv"] = costs.tv_cost(G.detach(), check_finite=False) if cfg.tv_weight > 0 else G.new_zeros(())
    out["total"] = costs.total_cost(
        out["content"], out["style"], cfg.alpha, cfg.beta, out["tv"], cfg.tv_weight, check_finite=False
    )
    return out


def tiled_value(objective, G: Tensor, tile: int = 512) -> dict[str, Tensor]:
    """``objective(G)`` without gradients, computed tile by tile (pass 1 only): the costs of one image.

    Shapes: G: (1, 3, H, W) -> {content, style, style:<layer>, tv, total: ()}
    """
    cfg = objective.config
    grams, J_content = _pass1(objective, G, tiles(tuple(G.shape[-2:]), tile, cfg.layers))
    return _values(objective, G, grams, J_content)


def tiled_value_and_grad(
    objective, G: Tensor, tile: int = 512, halo: int | None = None, grid: int | None = None
) -> tuple[dict[str, Tensor], Tensor]:
    r"""J(G) and ∂J/∂G of a ``transfer.Objective``, computed tile by tile (see the module docstring).

    $$J = \alpha J_{content} + \beta \sum_l \lambda_l J^{[l]}_{style} + w_{tv} J_{tv}, \qquad
      \frac{\partial J}{\partial G} = \sum_{tiles} \frac{\partial}{\partial G}\Big(\sum_l \langle W^{[l]},
      A_{core} A_{core}^T \rangle + \frac{\alpha}{4 n_H n_W n_C} \sum_{core} (a^{(C)} - a^{(G)})^2\Big)
      + w_{tv} \frac{\partial J_{tv}}{\partial G}$$

    ``objective`` provides ``config``, ``style_weights`` {layer: λ}, the targets ``a_C`` and ``grams_S``,
    and ``_features(x, layers)`` (its preprocessing, channels-last and autocast). ``tile``: the largest core
    side in pixels; each box fed to VGG is at most ``tile + 2 · halo`` on a side, and memory follows the box,
    not G. ``halo`` / ``grid`` override the exact values of ``halo_and_grid`` (only to show that they matter).
    In a loop's closure: ``values, G.grad = tiled_value_and_grad(objective, G, tile)``, then return
    ``values["total"]``.

    Shapes: G: (1, 3, H, W) -> ({content, style, style:<layer>, tv, total: ()}, ∂J/∂G: (1, 3, H, W))
    """
    cfg, hw = objective.config, tuple(G.shape[-2:])
    parts = tiles(hw, tile, cfg.layers, halo, grid)
    grams, J_content = _pass1(objective, G, parts)
    values = _values(objective, G, grams, J_content)
    dJ_dgram = {}  # W^[l] = ∂J/∂G_gram^[l] = β λ_l (G_G − G_S) / (2 n_C² M²), held constant in pass 2
    for layer, lam in objective.style_weights.items():
        if lam:
            n_C, M = _layer_sizes(layer, hw)
            dJ_dgram[layer] = cfg.beta * lam * (grams[layer] - objective.grams_S[layer]) / (2 * n_C**2 * M**2)
    grad = torch.zeros_like(G, memory_format=torch.contiguous_format)  # (1, 3, H, W)
    for t in parts:
        x = G.detach()[:, :, t.box[0], t.box[1]].clone().requires_grad_(True)  # (1, 3, box h, box w)
        a = objective._features(x, cfg.layers)
        core = {layer: t.core_of(a[layer], layer) for layer in cfg.layers}
        # s = Σ_l ⟨W^[l], A_core A_coreᵀ⟩ + α · (the content cost's terms at the core's positions)
        s = sum((W * _gram(core[layer])).sum() for layer, W in dJ_dgram.items())
        if cfg.alpha:
            s = s + cfg.alpha * _content_part(objective, core[cfg.content_layer], t, hw)
        if torch.is_tensor(s) and s.requires_grad:
            s.backward()
            grad[:, :, t.box[0], t.box[1]] += x.grad
    if cfg.tv_weight > 0:
        G_tv = G.detach().requires_grad_(True)
        (cfg.tv_weight * costs.tv_cost(G_tv, check_finite=False)).backward()
        grad += G_tv.grad
    return {k: v.detach() if torch.is_tensor(v) else v for k, v in values.items()}, grad
