r"""Exact tiling of the objective: J(G) and ∂J/∂G with memory bounded by a tile, not by the image.

What it is: an evaluation strategy of ``transfer.Objective``'s J, not a new cost. The style cost reads G
only through Gram matrices, and a Gram matrix is a sum over positions; the content cost is a sum over
positions too. Cut the positions of every layer into tiles' *cores* (a partition), and

- pass 1 (no grad), per tile: $G^{[l]}_{gram} \mathrel{+}= A_{core} A_{core}^T$ and
  $J_{content} \mathrel{+}= \frac{1}{4 n_H n_W n_C} \sum_{core} (a^{(C)} - a^{(G)})^2$;
- closed form, per style term (one per style layer for one style; with $M = n_H n_W$ of G's layer and
  the term's weight $\lambda_l w_s$):
  $$J^{[l]}_{style} = \frac{1}{4 n_C^2 M^2} \sum_{ij} (G^{(S)}_{gram} - G^{(G)}_{gram})_{ij}^2, \qquad
    W^{[l]} = \frac{\partial J}{\partial G^{(G)}_{gram}}
            = \beta \lambda_l w_s \frac{G^{(G)}_{gram} - G^{(S)}_{gram}}{2 n_C^2 M^2}$$
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
R(relu3_1) = 10, R(relu4_2) = 38, R(relu5_1) = 70 pixels. The targets are tiled the same way:
``tiled_features`` (a_C) and ``tiled_grams`` (S), both in ``tiled_targets``.

The price: boxes overlap, and every box is forwarded twice (pass 1, then pass 2 with its backward) except the
last one of pass 1, whose graph pass 2 uses first; one tile covering the image is the untiled objective itself.
So the fewer and larger the tiles, the cheaper: ``choose_tile`` takes the largest tile whose run fits in free
memory (``estimate_bytes``: ``memory.estimate_bytes`` with the activations of one box instead of the image's),
and ``check_fits`` refuses a run that does not fit even in tiles, before it starts. benchmarks/large_images.py
measures the time and memory.

The objective is read through ``objective.config``, ``objective.a_C``, ``objective.features(x, layers)`` and
``objective.terms`` (``transfer.StyleTerm``: ``layer``, ``lam``, ``share``, ``target`` and ``gram(a,
positions)``, which gives a core's share of a guided Gram matrix), so several styles and masks tile too.

What it is not: no optimizer and no new formula of J (see ``costs.py`` and ``transfer.Objective``); the memory
model's terms live in ``memory.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from itertools import pairwise
from typing import NamedTuple

import torch
from torch import Tensor

from . import costs, memory, vgg

__all__ = [
    "Tile",
    "box_side",
    "check_fits",
    "choose_tile",
    "estimate_bytes",
    "halo_and_grid",
    "receptive_radius",
    "tiled_features",
    "tiled_grams",
    "tiled_style_targets",
    "tiled_targets",
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


def box_side(tile: int, layers: Iterable[str]) -> int:
    """The largest side of a box that ``tiles(…, tile, layers)`` feeds to VGG: a core on the grid + 2 halos."""
    halo, grid = halo_and_grid(layers)
    return max(grid, tile // grid * grid) + 2 * halo


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


def tiled_targets(
    features: Features, C: Tensor, S: Tensor, config, tile: int
) -> tuple[Tensor, dict[str, Tensor]]:
    """The targets of ``transfer.Objective`` tile by tile: a_C and each style layer's rescaled Gram matrix of S.

    Shapes: C: (1, 3, H, W), S: (1, 3, H_S, W_S) -> (a_C: (1, n_C, n_H, n_W) float32, {layer: (n_C, n_C)})
    """
    layer = config.content_layer
    a_C = tiled_features(features, C, [layer], tile)[layer]  # (1, n_C, n_H, n_W)
    return a_C, tiled_style_targets(features, S, tuple(C.shape[-2:]), config, tile)


def tiled_style_targets(features: Features, S: Tensor, hw, config, tile: int) -> dict[str, Tensor]:
    r"""Each style layer's Gram matrix of S, tile by tile, rescaled to a G of ``hw`` = (H, W) pixels.

    $$\tilde G^{(S)}_{gram} = \frac{M_G}{M_S} \sum_{cores} A_{S,core} A_{S,core}^T$$
    (``costs.rescaled_gram`` of the whole a_S, whose Gram matrix is the sum over the cores).

    Shapes: S: (1, 3, H_S, W_S) -> {layer: (n_C, n_C)}
    """
    names = [name for name, _ in config.style_layers]
    grams = tiled_grams(features, S, names, tile)  # {l: A_S A_Sᵀ (n_C, n_C)}
    targets = {}
    for name in names:
        (_, M_G), (_, M_S) = _layer_sizes(name, hw), _layer_sizes(name, S.shape[-2:])
        targets[name] = grams[name] * (M_G / M_S)  # (n_C, n_C): S's Gram matrix as if S had G's M_G positions
    return targets


# --- the style terms --------------------------------------------------------------------------------------


def _term_gram(term, core: dict[str, Tensor], t: Tile) -> Tensor:
    """The term's Gram matrix of one core: its share of the whole layer's (n_C, n_C)."""
    return term.gram(core[term.layer], t.positions(vgg.downsampling(term.layer)))


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


class _Kept(NamedTuple):
    """Pass 1's last tile with its graph, so that pass 2 need not forward it again."""

    tile: Tile
    x: Tensor  # (1, 3, box h, box w), requires grad
    grams: list  # each term's core Gram matrix, with its graph
    content: Tensor  # the content part, with its graph


def _pass1(objective, G: Tensor, parts: list[Tile], keep_last: bool = False):
    """Pass 1: each term's Gram matrix of G [(n_C, n_C)], J_content () and, if ``keep_last``, a ``_Kept``."""
    cfg, hw, terms = objective.config, tuple(G.shape[-2:]), objective.terms
    layers = list(cfg.layers)
    grams: list = [None] * len(terms)
    J_content = G.new_zeros((), dtype=torch.float32)
    kept = None
    for i, t in enumerate(parts):
        last = keep_last and i == len(parts) - 1
        with torch.set_grad_enabled(last):
            x = G.detach()[:, :, t.box[0], t.box[1]]  # (1, 3, box h, box w)
            if last:
                x = x.clone().requires_grad_(True)
            a = objective.features(x, layers)
            core = {layer: t.core_of(a[layer], layer) for layer in layers}
            part = _content_part(objective, core[cfg.content_layer], t, hw)  # ()
            tile_grams = [_term_gram(term, core, t) for term in terms]  # [(n_C, n_C)]
        J_content = J_content + part.detach()
        grams = [g.detach() if s is None else s + g.detach() for s, g in zip(grams, tile_grams)]
        if last:
            kept = _Kept(t, x, tile_grams, part)
    return grams, J_content, kept


def _values(objective, G: Tensor, grams: list, J_content: Tensor) -> dict[str, Tensor]:
    """The same costs as ``Objective(G)``, from pass 1: content, style:<layer>, style, tv, total."""
    cfg, hw = objective.config, tuple(G.shape[-2:])
    out = {"content": J_content}
    layer_costs = {layer: G.new_zeros((), dtype=torch.float32) for layer, _ in cfg.style_layers}
    for term, gram in zip(objective.terms, grams):
        _, M = _layer_sizes(term.layer, hw)
        J = costs.layer_style_cost_from_grams(term.target, gram, M, check_finite=False)  # () G's, summed
        layer_costs[term.layer] = layer_costs[term.layer] + term.share * J  # style:<l> = Σ_{t at l} w_t J_t
    out.update({f"style:{layer}": J for layer, J in layer_costs.items()})
    out["style"] = sum(lam * layer_costs[layer] for layer, lam in cfg.style_layers)  # Σ_l λ_l style:<l>
    w_tv = objective.tv_weight  # at G's size (Config.tv_weight_for)
    with torch.no_grad():
        out["tv"] = costs.tv_cost(G.detach(), check_finite=False) if w_tv > 0 else G.new_zeros(())
    out["total"] = costs.total_cost(
        out["content"], out["style"], cfg.alpha, objective.beta, out["tv"], w_tv, check_finite=False
    )
    return out


def _untiled(objective, G: Tensor, grad: bool):
    """One tile covering the image: the objective itself (autograd through one forward pass)."""
    if not grad:
        with torch.no_grad():
            return {k: v.detach() for k, v in objective(G.detach()).items()}, None
    x = G.detach().requires_grad_(True)  # (1, 3, H, W), G's storage
    values = objective(x)
    values["total"].backward()
    return {k: v.detach() for k, v in values.items()}, x.grad


def tiled_value(objective, G: Tensor, tile: int = 512) -> dict[str, Tensor]:
    """``objective(G)`` without gradients, computed tile by tile (pass 1 only): the costs of one image.

    Shapes: G: (1, 3, H, W) -> {content, style, style:<layer>, tv, total: ()}
    """
    parts = tiles(tuple(G.shape[-2:]), tile, objective.config.layers)
    if len(parts) == 1:
        return _untiled(objective, G, grad=False)[0]
    grams, J_content, _ = _pass1(objective, G, parts)
    return _values(objective, G, grams, J_content)


def tiled_value_and_grad(
    objective, G: Tensor, tile: int = 512, halo: int | None = None, grid: int | None = None
) -> tuple[dict[str, Tensor], Tensor]:
    r"""J(G) and ∂J/∂G of a ``transfer.Objective``, computed tile by tile (see the module docstring).

    $$J = \alpha J_{content} + \beta \sum_l \lambda_l J^{[l]}_{style} + w_{tv} J_{tv}, \qquad
      \frac{\partial J}{\partial G} = \sum_{tiles} \frac{\partial}{\partial G}\Big(\sum_l \langle W^{[l]},
      A_{core} A_{core}^T \rangle + \frac{\alpha}{4 n_H n_W n_C} \sum_{core} (a^{(C)} - a^{(G)})^2\Big)
      + w_{tv} \frac{\partial J_{tv}}{\partial G}$$

    ``tile``: the largest core side in pixels; each box fed to VGG is at most ``box_side(tile, layers)`` on a
    side, and memory follows the box, not G. ``halo`` / ``grid`` override the exact values of
    ``halo_and_grid`` (only to show that they matter). In a loop's closure:
    ``values, G.grad = tiled_value_and_grad(objective, G, tile)``, then return ``values["total"]``.

    Shapes: G: (1, 3, H, W) -> ({content, style, style:<layer>, tv, total: ()}, ∂J/∂G: (1, 3, H, W))
    """
    cfg, hw = objective.config, tuple(G.shape[-2:])
    parts = tiles(hw, tile, cfg.layers, halo, grid)
    if len(parts) == 1:
        return _untiled(objective, G, grad=True)
    grams, J_content, kept = _pass1(objective, G, parts, keep_last=True)
    values = _values(objective, G, grams, J_content)
    terms = objective.terms
    W = {}  # W = ∂J/∂G_gram = β λ_l w_s (G_G − G_S) / (2 n_C² M²) per term, held constant in pass 2
    for k, term in enumerate(terms):
        if term.lam * term.share:
            n_C, M = _layer_sizes(term.layer, hw)
            W[k] = objective.beta * term.lam * term.share * (grams[k] - term.target) / (2 * n_C**2 * M**2)
    grad = torch.zeros_like(G, memory_format=torch.contiguous_format)  # (1, 3, H, W)

    def backward(t: Tile, x: Tensor, tile_grams, content: Tensor) -> None:
        # s = Σ_terms ⟨W, G_gram(core)⟩ + α · (the content cost's terms at the core's positions)
        s = sum((W[k] * tile_grams[k]).sum() for k in W)
        if cfg.alpha:
            s = s + cfg.alpha * content
        if torch.is_tensor(s) and s.requires_grad:
            s.backward()
            grad[:, :, t.box[0], t.box[1]] += x.grad

    backward(kept.tile, kept.x, kept.grams, kept.content)  # the last tile: pass 1 kept its graph
    del kept
    layers = list(cfg.layers)
    for t in parts[:-1]:
        x = G.detach()[:, :, t.box[0], t.box[1]].clone().requires_grad_(True)  # (1, 3, box h, box w)
        a = objective.features(x, layers)
        core = {layer: t.core_of(a[layer], layer) for layer in layers}
        tile_grams = {k: _term_gram(terms[k], core, t) for k in W}
        content = _content_part(objective, core[cfg.content_layer], t, hw) if cfg.alpha else None
        backward(t, x, tile_grams, content)
    if objective.tv_weight > 0:
        G_tv = G.detach().requires_grad_(True)
        (objective.tv_weight * costs.tv_cost(G_tv, check_finite=False)).backward()
        grad += G_tv.grad
    return {k: v.detach() if torch.is_tensor(v) else v for k, v in values.items()}, grad


# --- memory: when to tile, and with which tile ------------------------------------------------------------


def _largest_box(hw, tile: int, layers) -> tuple[int, int]:
    """(h, w) of the largest box (by area) of an (H, W) image's tiles."""
    boxes = [
        (b[0].stop - b[0].start, b[1].stop - b[1].start) for b in (t.box for t in tiles(hw, tile, layers))
    ]
    return max(boxes, key=lambda b: b[0] * b[1])


def estimate_bytes(config, content_hw, style_hw, tile: int, device: str = "cpu") -> int:
    """Estimated peak memory of a run whose J is evaluated in tiles of ``tile`` px (0: untiled).

    ``memory.estimate_bytes`` with the kept activations (and the style image's target pass) of the largest box
    instead of the whole image's, plus ∂J/∂G accumulated over the tiles; the image-sized tensors (G, C, the
    optimizer's history, frames) stay. One tile covering the image is the untiled run.
    """
    C_hw, S_hw = memory.image_hw(content_hw), memory.image_hw(style_hw)
    untiled = memory.estimate_bytes(config, C_hw, S_hw, str(device))
    if tile <= 0 or len(tiles(C_hw, tile, config.layers)) == 1:
        return untiled
    box = _largest_box(C_hw, tile, config.layers)
    S_box = _largest_box(S_hw, tile, config.layers)
    swap = memory.activation_bytes(config, box, str(device)) - memory.activation_bytes(
        config, C_hw, str(device)
    )
    swap += memory.targets_bytes(config, C_hw, S_box) - memory.targets_bytes(config, C_hw, S_hw)
    grad = 3 * C_hw[0] * C_hw[1] * 4  # ∂J/∂G, float32
    return int(untiled + memory.K * swap + grad)


def _tile_choices(hw, layers) -> list[int]:
    """Core sides worth trying, largest first: each gives a different number of tiles."""
    _, grid = halo_and_grid(layers)
    out, seen = [], set()
    for side in range(max(hw) // grid * grid, 0, -grid):
        n = len(tiles(hw, side, layers))
        if n > 1 and n not in seen:
            seen.add(n)
            out.append(side)
        if n > 64:
            break
    return out


def _check_tile_side(tile: int, layers) -> None:
    """Refuse (ValueError) a forced tile smaller than the halo: each box would be more than 3 cores wide, so
    one step would cost many times the untiled step, for memory that a larger tile saves as well."""
    halo, grid = halo_and_grid(layers)
    if tile >= halo:
        return
    core = max(grid, tile // grid * grid)
    work = ((core + 2 * halo) / core) ** 2  # pixels VGG sees per pixel of G, in the worst box
    raise ValueError(
        f"a tile of {tile} px is smaller than the {halo} px halo that every tile adds on each side for these "
        f"layers (about {work:.0f}x the work of an untiled step); use a tile of at least {halo} px, "
        "or 0 (auto) to tile only when the image does not fit in memory"
    )


def choose_tile(config, content_hw, style_hw, device="cpu", available: int | None = None) -> int:
    """The tile side a run at these sizes evaluates J with; 0 means untiled.

    ``config.tile`` −1: 0; N ≥ 1: N (0 when one tile covers the image; ValueError when N is smaller than the
    halo). 0 (auto): 0 when the untiled estimate fits in ``memory.SAFETY`` × ``available`` (default:
    ``memory.available_bytes(device)``; unknown counts as fitting), else the largest tile (the fewest boxes)
    whose estimate fits, else 0 (no tile helps: ``check_fits`` then refuses the run).
    """
    C_hw, S_hw = memory.image_hw(content_hw), memory.image_hw(style_hw)
    if config.tile == -1:
        return 0
    if config.tile > 0:
        if len(tiles(C_hw, config.tile, config.layers)) == 1:
            return 0
        _check_tile_side(config.tile, config.layers)
        return config.tile
    if available is None:
        available = memory.available_bytes(device)
    budget = None if available is None else memory.SAFETY * available
    if budget is None or memory.estimate_bytes(config, C_hw, S_hw, str(device)) <= budget:
        return 0
    choices = _tile_choices(C_hw, config.layers)
    for side in choices:
        if estimate_bytes(config, C_hw, S_hw, side, device) <= budget:
            return side
    return 0


def check_fits(
    config, content_shape, style_shape, device="cpu", available: int | None = None, **naming
) -> int:
    """``memory.check_fits`` for a run that may be tiled: return the tile side (0: untiled), or refuse the run.

    ``naming``: ``names`` and ``source_shapes``, passed on to ``memory.check_fits`` for its messages.

    Raises ``memory.TooSmallError`` for an image too thin for the layers, and ``memory.TooLargeError`` when
    the run does not fit: untiled and in no tiles (``memory.check_fits``'s message, which names the largest size
    that fits untiled), or in the tiles that ``config.tile`` forces.
    """
    C_hw, S_hw = memory.image_hw(content_shape), memory.image_hw(style_shape)
    if available is None:
        available = memory.available_bytes(device)
    tile = choose_tile(config, C_hw, S_hw, device, available)
    if tile == 0:
        memory.check_fits(config, C_hw, S_hw, device, available=available, **naming)
        return 0
    memory.check_min_side(config, C_hw, S_hw, **naming)
    need = estimate_bytes(config, C_hw, S_hw, tile, device)
    if available is None or need <= memory.SAFETY * available:
        return tile
    keeps = "Adam keeps" if config.optimizer == "adam" else f"L-BFGS with {config.history_size} pairs keeps"
    copies = 3 if config.optimizer == "adam" else 2 * config.history_size + 5
    raise memory.TooLargeError(
        f"a run at size {config.size} ({C_hw[0]}x{C_hw[1]} pixels) needs about {memory.format_gib(need)} of "
        f"memory even in tiles of {tile} px but only {memory.format_gib(available)} is free on {device} "
        f"({keeps} {copies} image-sized tensors); use a smaller size"
        + ("" if config.optimizer == "adam" else ", optimizer='adam' or a smaller history_size")
    )
