r"""The cost functions of Neural Style Transfer, as pure functions on tensors.

This file is the formulas of Gatys, Ecker & Bethge (CVPR 2016) in the form the Deep Learning
Specialization teaches them, and nothing else:

- $J_{content}(C, G) = \frac{1}{4 n_H n_W n_C} \sum (a^{(C)} - a^{(G)})^2$
- $G_{gram} = A A^T$
- $J^{[l]}_{style}(S, G) = \frac{1}{4 n_C^2 (n_H n_W)^2} \sum_{i,j} (G^{(S)}_{ij} - G^{(G)}_{ij})^2$
- $J_{style}(S, G) = \sum_l \lambda^{[l]} J^{[l]}_{style}(S, G)$
- $J(G) = \alpha J_{content}(C, G) + \beta J_{style}(S, G)$  (+ an optional total-variation term)

It is not a model, an optimizer or a feature extractor: it never sees VGG, images on disk or
configuration. Activations come in as ``(1, n_C, n_H, n_W)`` tensors (PyTorch stores channels first;
the course writes $a^{[l]}$ as $n_H \times n_W \times n_C$).

Every public function checks its input and raises ``ValueError`` naming the expected and the actual
shape. The finiteness check reads a value back from the device (a host sync), so each formula also has
a private, unchecked kernel (``_content_cost``, ``_layer_style_cost_from_gram``, ...) that holds the
only implementation of that formula; the public function validates, then calls it. The optimization
loop calls the kernels every step.

Precision: results are computed in the input dtype, except that float16/bfloat16 inputs are summed in
float32 (see ``_accurate``), and Gram matrices are computed with autocast switched off so that a
surrounding ``torch.autocast`` cannot push them back down to half precision.
"""

from __future__ import annotations

import contextlib
import math
import numbers
from collections.abc import Mapping, Sequence

import torch
from torch import Tensor

__all__ = [
    "unroll",
    "content_cost",
    "gram_matrix",
    "layer_style_cost",
    "layer_style_cost_from_gram",
    "style_cost",
    "style_cost_from_grams",
    "total_cost",
    "tv_cost",
    "seed_style_constant_variant",
]

_LOW_PRECISION = (torch.float16, torch.bfloat16)


# --------------------------------------------------------------------------------------------------
# Validation helpers (cheap Python checks, except _check_finite, which syncs with the device)
# --------------------------------------------------------------------------------------------------


def _shape(t: Tensor) -> str:
    return str(tuple(t.shape))


def _check_tensor(where: str, name: str, t: object) -> None:
    if not isinstance(t, Tensor):
        raise ValueError(f"{where}: expected {name} to be a torch.Tensor, got {type(t).__name__}.")


def _check_floating(where: str, name: str, t: Tensor) -> None:
    if not t.is_floating_point():
        raise ValueError(
            f"{where}: expected {name} with a floating-point dtype, got {t.dtype} of shape "
            f"{_shape(t)}; convert it with {name}.float()."
        )


def _check_finite(where: str, name: str, t: Tensor) -> None:
    # .all() -> bool reads one value back from the device; this is the one costly check.
    if not bool(torch.isfinite(t).all()):
        n_nan = int(torch.isnan(t).sum())
        n_inf = int(torch.isinf(t).sum())
        raise ValueError(
            f"{where}: {name} of shape {_shape(t)} contains {n_nan} NaN and {n_inf} inf values; "
            f"the input (or the optimization that produced it, e.g. a too-large learning rate) "
            f"has diverged."
        )


def _check_activation(where: str, name: str, a: object, *, values: bool = True) -> None:
    """One layer's activation: a float tensor of shape (1, n_C, n_H, n_W) with finite values."""
    _check_tensor(where, name, a)
    if a.dim() != 4:
        raise ValueError(
            f"{where}: expected {name} of shape (1, n_C, n_H, n_W) (one layer's activation, with the "
            f"batch dimension), got {_shape(a)} with {a.dim()} dims."
        )
    if a.shape[0] != 1:
        raise ValueError(
            f"{where}: expected {name} of shape (1, n_C, n_H, n_W) (one image at a time), got "
            f"{_shape(a)} with batch size {a.shape[0]}; pass {name}[i:i+1]."
        )
    if values:
        _check_floating(where, name, a)
        _check_finite(where, name, a)


def _check_same_shape(where: str, ref_name: str, ref: Tensor, name: str, t: Tensor) -> None:
    if t.shape != ref.shape:
        raise ValueError(
            f"{where}: expected {name} of shape (1, n_C, n_H, n_W) matching {ref_name} "
            f"{_shape(ref)}, got {_shape(t)}."
        )


def _check_gram_for(where: str, G_gram_S: object, a_G: object) -> None:
    """A precomputed style Gram matrix (n_C, n_C) and the activation a_G it is compared with."""
    _check_activation(where, "a_G", a_G)
    _check_tensor(where, "G_gram_S", G_gram_S)
    n_C = a_G.shape[1]
    if G_gram_S.shape != (n_C, n_C):
        raise ValueError(
            f"{where}: expected G_gram_S of shape (n_C, n_C) = ({n_C}, {n_C}) to match a_G "
            f"{_shape(a_G)}, got {_shape(G_gram_S)}."
        )
    _check_floating(where, "G_gram_S", G_gram_S)
    _check_finite(where, "G_gram_S", G_gram_S)


def _check_pair(where: str, ref_name: str, ref: object, name: str, t: object) -> None:
    """Two activations of the same layer (a_C and a_G, or a_S and a_G): same shape, valid values."""
    _check_activation(where, ref_name, ref)
    _check_activation(where, name, t)
    _check_same_shape(where, ref_name, ref, name, t)


def _check_weight(where: str, name: str, w: object) -> None:
    if isinstance(w, Tensor) and w.dim() == 0:
        w = w.item()
    if isinstance(w, bool) or not isinstance(w, numbers.Real):
        raise ValueError(f"{where}: expected {name} to be a real number, got {w!r}.")
    if not math.isfinite(w) or w < 0:
        raise ValueError(f"{where}: expected {name} to be finite and >= 0, got {w!r}.")


def _check_scalar(where: str, name: str, J: object) -> None:
    if isinstance(J, Tensor):
        if J.dim() != 0:
            raise ValueError(
                f"{where}: expected {name} to be a scalar tensor of shape (), got {_shape(J)}."
            )
        _check_floating(where, name, J)
        _check_finite(where, name, J)
    elif isinstance(J, numbers.Real) and not isinstance(J, bool):
        if not math.isfinite(J):
            raise ValueError(f"{where}: expected {name} to be finite, got {J!r}.")
    else:
        raise ValueError(
            f"{where}: expected {name} to be a scalar tensor or a real number, got {type(J).__name__}."
        )


def _style_pairs(where: str, style_weights: object) -> list[tuple[str, float]]:
    """Normalize {layer: λ} or [(layer, λ), ...] (the course's STYLE_LAYERS) to a list of pairs."""
    if isinstance(style_weights, Mapping):
        pairs = list(style_weights.items())
    elif isinstance(style_weights, Sequence) and not isinstance(style_weights, str):
        pairs = []
        for item in style_weights:
            if not (isinstance(item, Sequence) and not isinstance(item, str) and len(item) == 2):
                raise ValueError(
                    f"{where}: expected style_weights as a mapping {{layer: weight}} or a sequence of "
                    f"(layer, weight) pairs, got the item {item!r}."
                )
            pairs.append((item[0], item[1]))
    else:
        raise ValueError(
            f"{where}: expected style_weights as a mapping {{layer: weight}} or a sequence of "
            f"(layer, weight) pairs, got {type(style_weights).__name__}."
        )
    if not pairs:
        raise ValueError(f"{where}: style_weights is empty; give at least one (layer, weight) pair.")
    seen = set()
    for layer, w in pairs:
        if layer in seen:
            raise ValueError(
                f"{where}: layer {layer!r} appears twice in style_weights; it would be counted twice."
            )
        seen.add(layer)
        _check_weight(where, f"the weight of layer {layer!r}", w)
    return pairs


def _check_has_layers(where: str, name: str, d: object, pairs: list[tuple[str, float]]) -> None:
    if not isinstance(d, Mapping):
        raise ValueError(
            f"{where}: expected {name} to be a mapping {{layer name: tensor}}, got {type(d).__name__}."
        )
    missing = [layer for layer, _ in pairs if layer not in d]
    if missing:
        raise ValueError(
            f"{where}: layer(s) {missing} are in style_weights but missing from {name}, which has "
            f"{list(d)}; extract those layers, or drop them from style_weights."
        )


# --------------------------------------------------------------------------------------------------
# Kernels: the only implementation of each formula. Unchecked; the public functions below validate.
# --------------------------------------------------------------------------------------------------


def _accurate(t: Tensor) -> Tensor:
    # A float16/bfloat16 sum of many squares loses digits (bfloat16 keeps about 3 significant
    # digits) and float16 overflows past 65504; Gram entries and squared Gram differences of
    # real activations exceed that easily. Summing in float32 keeps the cost meaningful.
    return t.float() if t.dtype in _LOW_PRECISION else t


def _autocast_off(device_type: str):
    # Under torch.autocast, matmul is cast down to half precision even when we upcast its inputs.
    try:
        return torch.autocast(device_type=device_type, enabled=False)
    except RuntimeError:
        # Device types that autocast does not know (e.g. "meta") never autocast.
        return contextlib.nullcontext()


def _unroll(a: Tensor) -> Tensor:
    """Unchecked ``unroll``."""
    _, n_C, n_H, n_W = a.shape
    return a.reshape(n_C, n_H * n_W)  # (n_C, n_H*n_W)


def _content_cost(a_C: Tensor, a_G: Tensor) -> Tensor:
    """Unchecked ``content_cost``: (1, n_C, n_H, n_W) x 2 -> ()."""
    _, n_C, n_H, n_W = a_G.shape
    diff = _accurate(a_C) - _accurate(a_G)  # (1, n_C, n_H, n_W)
    return torch.sum(diff**2) / (4 * n_H * n_W * n_C)  # ()


def _gram_matrix(A: Tensor) -> Tensor:
    """Unchecked ``gram_matrix``: (n_C, M) -> (n_C, n_C)."""
    A = _accurate(A)
    with _autocast_off(A.device.type):
        return A @ A.T  # (n_C, M) @ (M, n_C) -> (n_C, n_C)


def _layer_style_cost_from_gram(G_gram_S: Tensor, a_G: Tensor) -> Tensor:
    """Unchecked ``layer_style_cost_from_gram``: (n_C, n_C), (1, n_C, n_H, n_W) -> ()."""
    _, n_C, n_H, n_W = a_G.shape
    G_gram_G = _gram_matrix(_unroll(a_G))  # (n_C, n_C)
    return torch.sum((G_gram_S - G_gram_G) ** 2) / (4 * n_C**2 * (n_H * n_W) ** 2)  # ()


def _layer_style_cost(a_S: Tensor, a_G: Tensor) -> Tensor:
    """Unchecked ``layer_style_cost``: (1, n_C, n_H, n_W) x 2 -> ()."""
    return _layer_style_cost_from_gram(_gram_matrix(_unroll(a_S)), a_G)


def _style_cost_from_grams(
    grams_S: Mapping[str, Tensor],
    a_G: Mapping[str, Tensor],
    style_weights: Mapping[str, float] | Sequence[tuple[str, float]],
) -> Tensor:
    """Unchecked ``style_cost_from_grams``: {l: (n_C, n_C)}, {l: (1, n_C, n_H, n_W)} -> ()."""
    pairs = style_weights.items() if isinstance(style_weights, Mapping) else style_weights
    return sum(w * _layer_style_cost_from_gram(grams_S[layer], a_G[layer]) for layer, w in pairs)


def _style_cost(
    a_S: Mapping[str, Tensor],
    a_G: Mapping[str, Tensor],
    style_weights: Mapping[str, float] | Sequence[tuple[str, float]],
) -> Tensor:
    """Unchecked ``style_cost``: {l: (1, n_C, n_H, n_W)} x 2 -> ()."""
    pairs = list(style_weights.items() if isinstance(style_weights, Mapping) else style_weights)
    grams_S = {layer: _gram_matrix(_unroll(a_S[layer])) for layer, _ in pairs}  # {l: (n_C, n_C)}
    return _style_cost_from_grams(grams_S, a_G, pairs)


def _tv_cost(G: Tensor) -> Tensor:
    """Unchecked ``tv_cost``: (1, 3, H, W) -> ()."""
    _, n_ch, H, W = G.shape
    G = _accurate(G)
    d_down = G[:, :, 1:, :] - G[:, :, :-1, :]  # (1, 3, H-1, W)
    d_right = G[:, :, :, 1:] - G[:, :, :, :-1]  # (1, 3, H, W-1)
    return (torch.sum(d_down**2) + torch.sum(d_right**2)) / (n_ch * H * W)  # ()


def _total_cost(J_content, J_style, alpha=10.0, beta=40.0, J_tv=None, tv_weight=0.0):
    """Unchecked ``total_cost``: scalars -> scalar."""
    J = alpha * J_content + beta * J_style
    # Skipping a zero-weight term keeps a non-finite J_tv from turning J into NaN (0 * inf = NaN).
    if J_tv is not None and tv_weight != 0:
        J = J + tv_weight * J_tv
    return J


def _seed_style_constant_variant(a_S: Tensor, a_G: Tensor) -> Tensor:
    """Unchecked ``seed_style_constant_variant``: (1, n_C, n_H, n_W) x 2 -> ()."""
    _, n_C, n_H, n_W = a_G.shape
    G_gram_S = _gram_matrix(_unroll(a_S))  # (n_C, n_C)
    G_gram_G = _gram_matrix(_unroll(a_G))  # (n_C, n_C)
    return torch.sum((G_gram_S - G_gram_G) ** 2) / (4 * n_H * n_W * n_C) ** 2  # ()


# --------------------------------------------------------------------------------------------------
# Public API: validate, then call the kernel.
# --------------------------------------------------------------------------------------------------


def unroll(a: Tensor) -> Tensor:
    r"""Unroll one layer's activation into the matrix $A$ whose rows are channels.

    $$A_{c,\,h n_W + w} = a_{0,c,h,w}$$

    This is ``a.reshape(n_C, n_H * n_W)`` on the channels-first tensor. Reshaping a channels-last
    ``(n_H, n_W, n_C)`` array to ``(n_C, -1)`` gives the same shape but scrambles the channels: each
    "row" then mixes values of different channels, and the Gram matrix is wrong.

    Only the shape is checked: unrolling moves values, it does not compute with them, so integer
    tensors (handy for showing where each value goes) are accepted.

    Shapes: a: (1, n_C, n_H, n_W) -> A: (n_C, n_H*n_W) (a view of a when a is contiguous)
    """
    _check_activation("unroll", "a", a, values=False)
    return _unroll(a)


def content_cost(a_C: Tensor, a_G: Tensor) -> Tensor:
    r"""Content cost of one layer.

    $$J_{content}(C,G) = \frac{1}{4 n_H n_W n_C} \sum_{c,h,w} (a^{(C)}_{chw} - a^{(G)}_{chw})^2$$

    Its gradient is $\partial J / \partial a^{(G)} = (a^{(G)} - a^{(C)}) / (2 n_H n_W n_C)$.
    float16/bfloat16 inputs are summed in float32 and give a float32 result.

    Shapes: a_C, a_G: (1, n_C, n_H, n_W) -> scalar tensor ()
    """
    _check_pair("content_cost", "a_C", a_C, "a_G", a_G)
    return _content_cost(a_C, a_G)


def gram_matrix(A: Tensor) -> Tensor:
    r"""Gram matrix of unrolled activations: the correlations between channels.

    $$G_{gram} = A A^T, \qquad (G_{gram})_{ij} = \sum_k A_{ik} A_{jk}$$

    Takes the unrolled matrix (see ``unroll``), as in the course. float16/bfloat16 inputs give a
    float32 Gram matrix: its entries are sums of n_H*n_W products, too many for half precision.
    Autocast is switched off inside, so the matmul runs in that dtype even under ``torch.autocast``.

    Shapes: A: (n_C, M) -> G_gram: (n_C, n_C), where M = n_H*n_W
    """
    _check_tensor("gram_matrix", "A", A)
    if A.dim() != 2:
        hint = " (an activation: unroll it first with unroll(a))" if A.dim() == 4 else ""
        raise ValueError(
            f"gram_matrix: expected A of shape (n_C, n_H*n_W), got {_shape(A)}{hint}."
        )
    _check_floating("gram_matrix", "A", A)
    _check_finite("gram_matrix", "A", A)
    return _gram_matrix(A)


def layer_style_cost_from_gram(G_gram_S: Tensor, a_G: Tensor) -> Tensor:
    r"""Style cost of one layer, with the style image's Gram matrix computed beforehand.

    $$J^{[l]}_{style}(S,G) = \frac{1}{4 n_C^2 (n_H n_W)^2} \sum_{i,j} \left(G^{(S)}_{gram,ij} - G^{(G)}_{gram,ij}\right)^2$$

    with $G^{(G)}_{gram} = $ ``gram_matrix(unroll(a_G))`` and $n_C, n_H, n_W$ taken from a_G.
    The style image does not change during optimization, so the loop computes
    ``G_gram_S = gram_matrix(unroll(a_S))`` once. $n_H n_W$ in the constant is a_G's: a_S must come
    from a style image of the same size as G for this to be the formula above.
    float16/bfloat16 a_G is summed in float32 and gives a float32 result.

    Shapes: G_gram_S: (n_C, n_C), a_G: (1, n_C, n_H, n_W) -> scalar tensor ()
    """
    _check_gram_for("layer_style_cost_from_gram", G_gram_S, a_G)
    return _layer_style_cost_from_gram(G_gram_S, a_G)


def layer_style_cost(a_S: Tensor, a_G: Tensor) -> Tensor:
    r"""Style cost of one layer.

    $$J^{[l]}_{style}(S,G) = \frac{1}{4 n_C^2 (n_H n_W)^2} \sum_{i,j} \left(G^{(S)}_{gram,ij} - G^{(G)}_{gram,ij}\right)^2$$

    with $G^{(S)}_{gram} = A_S A_S^T$, $G^{(G)}_{gram} = A_G A_G^T$. It computes $G^{(S)}_{gram}$ and
    hands over to the kernel of ``layer_style_cost_from_gram``, which holds the only implementation
    of the formula. Gatys 2016 and the course use this constant; other implementations divide by
    $n_C^4 M^2$ or $n_C^2 M^2$, so style weights $\beta$ do not carry over between implementations.

    Shapes: a_S, a_G: (1, n_C, n_H, n_W) -> scalar tensor ()
    """
    _check_pair("layer_style_cost", "a_S", a_S, "a_G", a_G)
    return _layer_style_cost(a_S, a_G)


def style_cost_from_grams(
    grams_S: Mapping[str, Tensor],
    a_G: Mapping[str, Tensor],
    style_weights: Mapping[str, float] | Sequence[tuple[str, float]],
) -> Tensor:
    r"""Style cost over several layers, from the style image's precomputed Gram matrices.

    $$J_{style}(S,G) = \sum_l \lambda^{[l]} J^{[l]}_{style}(S,G)$$

    with $J^{[l]}_{style}$ as in ``layer_style_cost_from_gram``. ``style_weights`` is ``{layer: λ}``
    or the course's ``[(layer, λ), ...]``; layers of grams_S / a_G that it does not name are ignored.

    Shapes: grams_S[l]: (n_C, n_C), a_G[l]: (1, n_C, n_H, n_W) for each layer l -> scalar tensor ()
    """
    where = "style_cost_from_grams"
    pairs = _style_pairs(where, style_weights)
    _check_has_layers(where, "grams_S", grams_S, pairs)
    _check_has_layers(where, "a_G", a_G, pairs)
    for layer, _ in pairs:
        _check_gram_for(f"{where}[{layer!r}]", grams_S[layer], a_G[layer])
    return _style_cost_from_grams(grams_S, a_G, pairs)


def style_cost(
    a_S: Mapping[str, Tensor],
    a_G: Mapping[str, Tensor],
    style_weights: Mapping[str, float] | Sequence[tuple[str, float]],
) -> Tensor:
    r"""Style cost over several layers.

    $$J_{style}(S,G) = \sum_l \lambda^{[l]} J^{[l]}_{style}(S,G)$$

    with $J^{[l]}_{style}$ as in ``layer_style_cost``. It computes each layer's
    $G^{(S)}_{gram}$ and hands over to the kernel of ``style_cost_from_grams``.
    ``style_weights`` is ``{layer: λ}`` or the course's ``[(layer, λ), ...]``; layers of a_S / a_G
    that it does not name are ignored.

    Shapes: a_S[l], a_G[l]: (1, n_C, n_H, n_W) for each layer l (n_C, n_H, n_W vary with l)
    -> scalar tensor ()
    """
    where = "style_cost"
    pairs = _style_pairs(where, style_weights)
    _check_has_layers(where, "a_S", a_S, pairs)
    _check_has_layers(where, "a_G", a_G, pairs)
    for layer, _ in pairs:
        _check_pair(f"{where}[{layer!r}]", "a_S", a_S[layer], "a_G", a_G[layer])
    return _style_cost(a_S, a_G, pairs)


def total_cost(
    J_content: Tensor | float,
    J_style: Tensor | float,
    alpha: float = 10.0,
    beta: float = 40.0,
    J_tv: Tensor | float | None = None,
    tv_weight: float = 0.0,
) -> Tensor | float:
    r"""Total cost: the quantity the optimizer minimizes over the pixels of G.

    $$J(G) = \alpha J_{content}(C,G) + \beta J_{style}(S,G) \;\; [+\, w_{tv} J_{tv}(G)]$$

    The bracketed term is added only when ``tv_weight != 0``. α = 10, β = 40 are the course's
    defaults; the right values depend on the layers, the weights' preprocessing and the cost
    constants, so the presets re-tune them.

    Shapes: J_content, J_style, J_tv: scalar tensors () (or Python numbers) -> scalar tensor ()
    (a Python float when every input is a number)
    """
    where = "total_cost"
    _check_scalar(where, "J_content", J_content)
    _check_scalar(where, "J_style", J_style)
    _check_weight(where, "alpha", alpha)
    _check_weight(where, "beta", beta)
    _check_weight(where, "tv_weight", tv_weight)
    if J_tv is None:
        if tv_weight != 0:
            raise ValueError(
                f"{where}: tv_weight={tv_weight!r} but J_tv is None; pass J_tv=tv_cost(G) or "
                f"tv_weight=0."
            )
    else:
        _check_scalar(where, "J_tv", J_tv)
    return _total_cost(J_content, J_style, alpha, beta, J_tv, tv_weight)


def tv_cost(G: Tensor) -> Tensor:
    r"""Total variation of an image: how much neighbouring pixels differ.

    $$J_{tv}(G) = \frac{1}{3 H W} \left[ \sum_{c=1}^{3} \sum_{i=1}^{H-1} \sum_{j=1}^{W} (G_{c,i+1,j} - G_{c,i,j})^2
      + \sum_{c=1}^{3} \sum_{i=1}^{H} \sum_{j=1}^{W-1} (G_{c,i,j+1} - G_{c,i,j})^2 \right]$$

    Squared (not absolute) differences keep it smooth. Dividing by the number of values 3HW (a mean)
    makes its weight independent of the resolution. It is zero exactly on a constant image.
    float16/bfloat16 inputs are summed in float32 and give a float32 result.

    Shapes: G: (1, 3, H, W) -> scalar tensor ()
    """
    _check_tensor("tv_cost", "G", G)
    if G.dim() != 4 or G.shape[0] != 1 or G.shape[1] != 3:
        raise ValueError(
            f"tv_cost: expected G of shape (1, 3, H, W) (one RGB image with its batch dimension), "
            f"got {_shape(G)}."
        )
    _check_floating("tv_cost", "G", G)
    _check_finite("tv_cost", "G", G)
    return _tv_cost(G)


def seed_style_constant_variant(a_S: Tensor, a_G: Tensor) -> Tensor:
    r"""The style cost with the constant printed in the seed write-up, kept only for the lesson.

    $$J^{[l]}_{seed}(S,G) = \frac{1}{(4 n_H n_W n_C)^2} \sum_{i,j} \left(G^{(S)}_{gram,ij} - G^{(G)}_{gram,ij}\right)^2$$

    This constant is a misprint: Gatys 2016 and the course divide by $4 n_C^2 (n_H n_W)^2$. Since
    $(4 n_H n_W n_C)^2 = 16 n_C^2 (n_H n_W)^2$, this is exactly $\frac14$ of ``layer_style_cost``:
    using it is the same as using $\beta/4$, nothing more. It is computed from its own formula (not
    as ``layer_style_cost / 4``) so that the lesson's comparison checks something. Do not use it
    for optimization.

    Shapes: a_S, a_G: (1, n_C, n_H, n_W) -> scalar tensor ()
    """
    _check_pair("seed_style_constant_variant", "a_S", a_S, "a_G", a_G)
    return _seed_style_constant_variant(a_S, a_G)
