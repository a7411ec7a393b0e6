r"""The cost functions of Neural Style Transfer, as pure functions on tensors.

The formulas of Gatys, Ecker & Bethge (CVPR 2016) in the form the Deep Learning Specialization teaches
them, and nothing else. Activations come in as ``(1, n_C, n_H, n_W)`` tensors (PyTorch stores channels
first; the course writes $a^{[l]}$ as $n_H \times n_W \times n_C$). Each function is its formula: the
LaTeX in its docstring, then one line of input checks (``_validate.py``) that also returns the sizes,
then the math. The optimization loop (``transfer.Objective``) calls these same functions, so each formula
exists once.

``check_finite=False`` skips the one costly check (reading the tensor for NaN/inf, a host sync), as
``scipy.linalg`` does; the loop uses it because it checks every step's total cost itself.

Precision: float16/bfloat16 inputs are summed in float32 (``_accurate``), and Gram matrices are computed
with autocast off, so a surrounding ``torch.autocast`` cannot push them back down to half precision.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence

import torch
from torch import Tensor

from . import _validate as check

__all__ = [
    "unroll",
    "content_cost",
    "gram_matrix",
    "rescaled_gram",
    "guided_gram",
    "blended_gram",
    "layer_style_cost",
    "layer_style_cost_from_gram",
    "layer_style_cost_from_grams",
    "style_cost",
    "style_cost_from_grams",
    "style_cost_from_terms",
    "total_cost",
    "tv_cost",
    "seed_style_constant_variant",
]

StyleWeights = Mapping[str, float] | Sequence[tuple[str, float]]  # {layer: λ} or [(layer, λ), ...]


def unroll(a: Tensor) -> Tensor:
    r"""Unroll one layer's activation into the matrix $A$ whose rows are channels: $A_{c,\,h n_W + w} = a_{0,c,h,w}$.

    Reshaping a channels-last ``(n_H, n_W, n_C)`` array to ``(n_C, -1)`` gives the same shape but mixes
    channels in each row (a classic bug). Only the shape is checked, so integer tensors work for demos.

    Shapes: a: (1, n_C, n_H, n_W) -> A: (n_C, n_H*n_W) (a view of a when a is contiguous)
    """
    n_C, n_H, n_W = check.activation("unroll", shape_only=True, a=a)
    return a.reshape(n_C, n_H * n_W)  # (n_C, n_H*n_W)


def content_cost(a_C: Tensor, a_G: Tensor, *, check_finite: bool = True) -> Tensor:
    r"""Content cost of one layer.

    $$J_{content}(C,G) = \frac{1}{4 n_H n_W n_C} \sum_{c,h,w} (a^{(C)}_{chw} - a^{(G)}_{chw})^2$$

    Its gradient is $\partial J / \partial a^{(G)} = (a^{(G)} - a^{(C)}) / (2 n_H n_W n_C)$.

    Shapes: a_C, a_G: (1, n_C, n_H, n_W) -> scalar tensor ()
    """
    n_C, n_H, n_W = check.same_layer("content_cost", check_finite, a_C=a_C, a_G=a_G)
    diff = _accurate(a_C) - _accurate(a_G)  # (1, n_C, n_H, n_W)
    return torch.sum(diff**2) / (4 * n_H * n_W * n_C)  # ()


def gram_matrix(A: Tensor, *, check_finite: bool = True) -> Tensor:
    r"""Gram matrix of unrolled activations: the correlations between channels.

    $$G_{gram} = A A^T, \qquad (G_{gram})_{ij} = \sum_k A_{ik} A_{jk}$$

    Shapes: A: (n_C, M) -> G_gram: (n_C, n_C), where M = n_H*n_W
    """
    check.unrolled("gram_matrix", check_finite, A=A)
    A = _accurate(A)  # (n_C, M)
    with _autocast_off(A.device.type):
        return A @ A.T  # (n_C, M) @ (M, n_C) -> (n_C, n_C)


def rescaled_gram(a_S: Tensor, M_G: int, *, check_finite: bool = True) -> Tensor:
    r"""The style target for a G whose layer has $M_G$ positions: S's Gram matrix as if S had G's size.

    $$\tilde G^{(S)}_{gram} = \frac{M_G}{M_S} A_S A_S^T, \qquad M_S = n_H n_W \text{ of } a^{(S)}$$

    A Gram matrix sums over the M positions, so it grows with the image; the factor removes that (it is
    1 when S and G have the same size).

    Shapes: a_S: (1, n_C, n_H, n_W), M_G: int -> (n_C, n_C)
    """
    _, n_H, n_W = check.activation("rescaled_gram", check_finite, a_S=a_S)
    M_S, M_G = n_H * n_W, check.positions("rescaled_gram", M_G=M_G)
    return gram_matrix(unroll(a_S), check_finite=False) * (M_G / M_S)  # (n_C, n_C)


def guided_gram(
    a: Tensor, m: Tensor, *, M: int | None = None, area=None, check_finite: bool = True
) -> Tensor:
    r"""Guided Gram matrix of one region (Gatys et al. 2017): the features weighted by the mask m first.

    $$G^{(m)}_{gram} = \frac{M}{\sum_k m_k^2} \tilde A \tilde A^T, \qquad \tilde A_{ck} = A_{ck}\, m_k$$

    m is the region's mask resized to this layer, weights in [0, 1]; $\sum_k m_k^2$ is the region's area as
    the features see it (for a binary mask, its number of positions), so on a uniform texture $G^{(m)}$
    equals the Gram matrix of the whole layer: comparable with the target ``rescaled_gram(a_S, M)``.
    M and area default to this ``a``'s; a tile passes the whole layer's, so the tiles' results add up.

    Shapes: a: (1, n_C, h, w), m: (h, w) -> (n_C, n_C); M = n_H*n_W of the whole layer
    """
    n_C, h, w = check.mask_for("guided_gram", check_finite, a=a, m=m)
    A_m = _accurate(unroll(a)) * _accurate(m).reshape(1, h * w)  # (n_C, h*w): column k times m_k
    M = h * w if M is None else check.positions("guided_gram", M=M)
    area = (_accurate(m) ** 2).sum() if area is None else check.area("guided_gram", area=area)  # Σ_k m_k²
    return gram_matrix(A_m, check_finite=False) * (M / area)  # (n_C, n_C)


def blended_gram(grams: Sequence[Tensor], weights: Sequence[float]) -> Tensor:
    r"""One style target from several styles' Gram matrices of a layer: their weighted mean.

    $$G^{(blend)}_{gram} = \sum_s \hat w_s G^{(S_s)}_{gram}, \qquad \hat w_s = \frac{w_s}{\sum_{s'} w_{s'}}$$

    Shapes: grams[s]: (n_C, n_C) (each rescaled to G's M), weights: one number ≥ 0 per style -> (n_C, n_C)
    """
    w_hat = check.shares("blended_gram", grams, weights)  # ŵ_s, summing to 1
    return sum(w * G for w, G in zip(w_hat, grams))  # (n_C, n_C)


def layer_style_cost_from_grams(
    G_gram_S: Tensor, G_gram_G: Tensor, M: int, *, check_finite: bool = True
) -> Tensor:
    r"""Style cost of one layer from both Gram matrices, G's summed over its $M = n_H n_W$ positions.

    $$J^{[l]}_{style}(S,G) = \frac{1}{4 n_C^2 M^2} \sum_{i,j} (G^{(S)}_{gram,ij} - G^{(G)}_{gram,ij})^2$$

    The one copy of this formula: ``layer_style_cost_from_gram`` computes G_gram_G from a_G and calls it;
    ``tiling`` calls it with a G_gram_G summed over tiles.

    Shapes: G_gram_S, G_gram_G: (n_C, n_C), M: int -> scalar tensor ()
    """
    n_C, M = check.gram_pair("layer_style_cost_from_grams", check_finite, G_gram_S, G_gram_G, M)
    return torch.sum((G_gram_S - G_gram_G) ** 2) / (4 * n_C**2 * M**2)  # ()


def layer_style_cost_from_gram(G_gram_S: Tensor, a_G: Tensor, *, check_finite: bool = True) -> Tensor:
    r"""Style cost of one layer, with the style image's Gram matrix computed once beforehand.

    $$J^{[l]}_{style}(S,G) = \frac{1}{4 n_C^2 (n_H n_W)^2} \sum_{i,j} (G^{(S)}_{gram,ij} - G^{(G)}_{gram,ij})^2$$

    $n_C, n_H, n_W$ are a_G's; for a style image of another size, pass ``rescaled_gram(a_S, n_H * n_W)``.
    Gatys 2016 and the course use this constant; others divide by $n_C^4 M^2$ or $n_C^2 M^2$, so style
    weights $\beta$ do not carry over between implementations.

    Shapes: G_gram_S: (n_C, n_C), a_G: (1, n_C, n_H, n_W) -> scalar tensor ()
    """
    n_C, n_H, n_W = check.gram_for("layer_style_cost_from_gram", check_finite, G_gram_S=G_gram_S, a_G=a_G)
    G_gram_G = gram_matrix(unroll(a_G), check_finite=False)  # (n_C, n_C)
    return layer_style_cost_from_grams(G_gram_S, G_gram_G, n_H * n_W, check_finite=False)  # ()


def layer_style_cost(a_S: Tensor, a_G: Tensor, *, check_finite: bool = True) -> Tensor:
    r"""Style cost of one layer: ``layer_style_cost_from_gram`` with $G^{(S)}_{gram} = A_S A_S^T$.

    $$J^{[l]}_{style}(S,G) = \frac{1}{4 n_C^2 (n_H n_W)^2} \sum_{i,j} (G^{(S)}_{gram,ij} - G^{(G)}_{gram,ij})^2$$

    Shapes: a_S, a_G: (1, n_C, n_H, n_W) -> scalar tensor ()
    """
    check.same_layer("layer_style_cost", check_finite, a_S=a_S, a_G=a_G)
    G_gram_S = gram_matrix(unroll(a_S), check_finite=False)  # (n_C, n_C)
    return layer_style_cost_from_gram(G_gram_S, a_G, check_finite=False)  # ()


def style_cost_from_grams(
    grams_S: dict, a_G: dict, style_weights: StyleWeights, *, per_layer=False, check_finite=True
):
    r"""Style cost over several layers, from the style image's Gram matrices computed once.

    $$J_{style}(S,G) = \sum_l \lambda^{[l]} J^{[l]}_{style}(S,G)$$

    ``style_weights`` is ``{layer: λ}`` or the course's ``[(layer, λ), ...]``; layers it does not name are
    ignored. ``per_layer=True`` returns ``(J_style, {layer: J_style^[l]})`` (unweighted), as the loop records.

    Shapes: grams_S[l]: (n_C, n_C), a_G[l]: (1, n_C, n_H, n_W) for each layer l -> scalar tensor ()
    """
    pairs = check.style_layers("style_cost_from_grams", style_weights, check_finite, grams_S=grams_S, a_G=a_G)
    J_terms = [
        (name, 1.0, layer_style_cost_from_gram(grams_S[name], a_G[name], check_finite=False))
        for name, _ in pairs
    ]
    return style_cost_from_terms(J_terms, pairs, per_layer=per_layer, check_finite=False)


def style_cost_from_terms(J_terms, style_weights: StyleWeights, *, per_layer=False, check_finite=True):
    r"""Style cost from its terms: several Gram-matrix comparisons per layer (styles, regions), weighted.

    $$J_{style} = \sum_l \lambda^{[l]} \sum_{t \text{ at } l} w_t\, J_t, \qquad
      J_t = J^{[l]}_{style}(T_t, G^{(t)}_{gram})$$

    ``J_terms``: [(layer, w_t, J_t), ...], e.g. one per style s with w_t = w_s (one per layer, w = 1, for one
    style). ``per_layer=True`` returns ``(J_style, {layer: Σ_t w_t J_t})``, as the loop records.

    Shapes: J_t: scalar tensors () -> scalar tensor ()
    """
    pairs = check.style_terms("style_cost_from_terms", J_terms, style_weights, check_finite)
    J_layers = {}
    for layer, w, J in J_terms:
        J_layers[layer] = J_layers[layer] + w * J if layer in J_layers else w * J  # Σ_t w_t J_t
    J_style = sum(lam * J_layers[name] for name, lam in pairs)  # ()
    return (J_style, {name: J_layers[name] for name, _ in pairs}) if per_layer else J_style


def style_cost(a_S: dict, a_G: dict, style_weights: StyleWeights, *, check_finite: bool = True) -> Tensor:
    r"""Style cost over several layers: ``style_cost_from_grams`` with each $G^{(S)}_{gram} = A_S A_S^T$.

    $$J_{style}(S,G) = \sum_l \lambda^{[l]} J^{[l]}_{style}(S,G)$$

    Shapes: a_S[l], a_G[l]: (1, n_C, n_H, n_W) for each layer l (n_C, n_H, n_W vary with l) -> scalar tensor ()
    """
    pairs = check.style_layers("style_cost", style_weights, check_finite, a_S=a_S, a_G=a_G)
    grams_S = {
        name: gram_matrix(unroll(a_S[name]), check_finite=False) for name, _ in pairs
    }  # {l: (n_C, n_C)}
    return style_cost_from_grams(grams_S, a_G, pairs, check_finite=False)  # ()


def total_cost(J_content, J_style, alpha=10.0, beta=40.0, J_tv=None, tv_weight=0.0, *, check_finite=True):
    r"""Total cost: the quantity the optimizer minimizes over the pixels of G.

    $$J(G) = \alpha J_{content}(C,G) + \beta J_{style}(S,G) \;\; [+\, w_{tv} J_{tv}(G)]$$

    The bracketed term is added only when ``tv_weight != 0`` (so 0·inf never makes J NaN). α = 10, β = 40
    are the course's defaults; the presets re-tune them for their layers and preprocessing.

    Shapes: J_content, J_style, J_tv: scalar tensors () or Python numbers -> scalar tensor () (a float
    when every input is a number)
    """
    check.total_inputs("total_cost", J_content, J_style, alpha, beta, J_tv, tv_weight, check_finite)
    J = alpha * J_content + beta * J_style  # ()
    return J + tv_weight * J_tv if tv_weight != 0 else J  # ()


def tv_cost(G: Tensor, *, check_finite: bool = True) -> Tensor:
    r"""Total variation of an image: how much neighbouring pixels differ (zero exactly on a constant image).

    $$J_{tv}(G) = \frac{1}{3 H W} \Big[ \sum_{c,i,j} (G_{c,i+1,j} - G_{c,i,j})^2
                                   + \sum_{c,i,j} (G_{c,i,j+1} - G_{c,i,j})^2 \Big]$$

    Squared differences keep it smooth; the mean over the 3HW values makes its weight independent of size.

    Shapes: G: (1, 3, H, W) -> scalar tensor ()
    """
    n_ch, H, W = check.image("tv_cost", check_finite, G=G)
    G = _accurate(G)  # (1, 3, H, W)
    d_down = G[:, :, 1:, :] - G[:, :, :-1, :]  # (1, 3, H-1, W)
    d_right = G[:, :, :, 1:] - G[:, :, :, :-1]  # (1, 3, H, W-1)
    return (torch.sum(d_down**2) + torch.sum(d_right**2)) / (n_ch * H * W)  # ()


def seed_style_constant_variant(a_S: Tensor, a_G: Tensor) -> Tensor:
    r"""The style cost with the constant printed in the seed write-up, kept only for the lesson.

    $$J^{[l]}_{seed}(S,G) = \frac{1}{(4 n_H n_W n_C)^2} \sum_{i,j} (G^{(S)}_{gram,ij} - G^{(G)}_{gram,ij})^2$$

    A misprint: $(4 n_H n_W n_C)^2 = 16 n_C^2 (n_H n_W)^2$, so this is exactly $\frac14$ of
    ``layer_style_cost``, the same as using $\beta/4$. Computed from its own formula so that the lesson's
    comparison checks something. Do not use it for optimization.

    Shapes: a_S, a_G: (1, n_C, n_H, n_W) -> scalar tensor ()
    """
    n_C, n_H, n_W = check.same_layer("seed_style_constant_variant", a_S=a_S, a_G=a_G)
    G_gram_S = gram_matrix(unroll(a_S), check_finite=False)  # (n_C, n_C)
    G_gram_G = gram_matrix(unroll(a_G), check_finite=False)  # (n_C, n_C)
    return torch.sum((G_gram_S - G_gram_G) ** 2) / (4 * n_H * n_W * n_C) ** 2  # ()


# --- precision ----------------------------------------------------------------------------------------------


def _accurate(t: Tensor) -> Tensor:
    # A float16/bfloat16 sum of many squares loses digits (bfloat16 keeps about 3) and float16 overflows
    # past 65504; Gram entries of real activations exceed that easily. Summing in float32 keeps them.
    return t.float() if t.dtype in (torch.float16, torch.bfloat16) else t


def _autocast_off(device_type: str):
    # Under torch.autocast, matmul is cast down to half precision even when its inputs were upcast.
    try:
        return torch.autocast(device_type=device_type, enabled=False)
    except RuntimeError:  # device types autocast does not know (e.g. "meta") never autocast
        return contextlib.nullcontext()
