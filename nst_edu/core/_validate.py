"""Input checks for ``costs.py``, imported there as ``check``: one call at the top of each formula.

What it is: each function raises ``ValueError`` with one sentence naming the cost function, the expected and the
actual shape (or dtype, or the count of NaN/inf values), and returns the sizes the formula needs. Tensors are
passed by keyword so that the message can name them: ``check.same_layer("content_cost", a_C=a_C, a_G=a_G)``.

The finiteness check reads every element and a value back from the device, so each check takes ``finite=False``
to skip it (``check_finite=False`` in ``costs``): the loop does, as it checks every step's total cost itself.

What it is not: no formulas (see ``costs.py``).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence

from torch import Tensor


def _shape(t: Tensor) -> str:
    return str(tuple(t.shape))


def _one(named: dict) -> tuple[str, object]:
    ((name, t),) = named.items()
    return name, t


def tensor(where: str, **named) -> None:
    name, t = _one(named)
    if not isinstance(t, Tensor):
        raise ValueError(f"{where}: expected {name} to be a torch.Tensor, got {type(t).__name__}.")


def float_values(where: str, finite: bool = True, **named) -> None:
    """A floating-point tensor; with ``finite``, also free of NaN and inf (this reads the tensor once)."""
    name, t = _one(named)
    if not t.is_floating_point():
        raise ValueError(
            f"{where}: expected {name} with a floating-point dtype, got {t.dtype} of shape "
            f"{_shape(t)}; convert it with {name}.float()."
        )
    if finite and not bool(t.isfinite().all()):
        raise ValueError(
            f"{where}: {name} of shape {_shape(t)} contains {int(t.isnan().sum())} NaN and "
            f"{int(t.isinf().sum())} inf values; the input (or the optimization that produced it, e.g. a "
            f"too-large learning rate) has diverged."
        )


def activation(where: str, finite: bool = True, shape_only: bool = False, **named) -> tuple[int, int, int]:
    """One layer's activation (1, n_C, n_H, n_W): returns (n_C, n_H, n_W)."""
    name, a = _one(named)
    tensor(where, **named)
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
    if not shape_only:
        float_values(where, finite, **named)
    _, n_C, n_H, n_W = a.shape
    return n_C, n_H, n_W


def same_layer(where: str, finite: bool = True, **pair) -> tuple[int, int, int]:
    """Two activations of one layer (a_C and a_G, or a_S and a_G): returns (n_C, n_H, n_W)."""
    (ref_name, ref), (name, t) = pair.items()
    activation(where, finite, **{ref_name: ref})
    activation(where, finite, **{name: t})
    if t.shape != ref.shape:
        raise ValueError(
            f"{where}: expected {name} of shape (1, n_C, n_H, n_W) matching {ref_name} {_shape(ref)}, got {_shape(t)}."
        )
    _, n_C, n_H, n_W = t.shape
    return n_C, n_H, n_W


def gram_for(where: str, finite: bool = True, *, G_gram_S: object, a_G: object) -> tuple[int, int, int]:
    """A style Gram matrix (n_C, n_C) and the activation a_G it is compared with: returns a_G's sizes."""
    n_C, n_H, n_W = activation(where, finite, a_G=a_G)
    tensor(where, G_gram_S=G_gram_S)
    if G_gram_S.shape != (n_C, n_C):
        raise ValueError(
            f"{where}: expected G_gram_S of shape (n_C, n_C) = ({n_C}, {n_C}) to match a_G "
            f"{_shape(a_G)}, got {_shape(G_gram_S)}."
        )
    float_values(where, finite, G_gram_S=G_gram_S)
    return n_C, n_H, n_W


def gram_pair(where: str, finite: bool, G_gram_S: object, G_gram_G: object, M: object) -> tuple[int, int]:
    """Two Gram matrices of one layer, (n_C, n_C) each, and G's number of positions M: returns (n_C, M)."""
    for name, t in (("G_gram_S", G_gram_S), ("G_gram_G", G_gram_G)):
        tensor(where, **{name: t})
        if t.dim() != 2 or t.shape[0] != t.shape[1] or t.shape != G_gram_S.shape:
            raise ValueError(
                f"{where}: expected G_gram_S and G_gram_G of one shape (n_C, n_C), got {_shape(G_gram_S)} "
                f"and {_shape(G_gram_G)}."
            )
        float_values(where, finite, **{name: t})
    return G_gram_S.shape[0], positions(where, M=M)


def unrolled(where: str, finite: bool = True, **named) -> tuple[int, int]:
    """An unrolled activation A (n_C, M): returns (n_C, M)."""
    name, A = _one(named)
    tensor(where, **named)
    if A.dim() != 2:
        hint = " (an activation: unroll it first with unroll(a))" if A.dim() == 4 else ""
        raise ValueError(f"{where}: expected {name} of shape (n_C, n_H*n_W), got {_shape(A)}{hint}.")
    float_values(where, finite, **named)
    return tuple(A.shape)


def image(where: str, finite: bool = True, **named) -> tuple[int, int, int]:
    """One RGB image (1, 3, H, W): returns (3, H, W)."""
    name, G = _one(named)
    tensor(where, **named)
    if G.dim() != 4 or G.shape[0] != 1 or G.shape[1] != 3:
        raise ValueError(
            f"{where}: expected {name} of shape (1, 3, H, W) (one RGB image with its batch dimension), got {_shape(G)}."
        )
    float_values(where, finite, **named)
    _, n_ch, H, W = G.shape
    return n_ch, H, W


def positions(where: str, **named) -> int:
    """A number of positions M = n_H·n_W: a whole number ≥ 1."""
    name, M = _one(named)
    if isinstance(M, bool) or not isinstance(M, numbers.Integral) or M < 1:
        raise ValueError(f"{where}: expected {name} = n_H·n_W, a whole number >= 1, got {M!r}.")
    return int(M)


def weight(where: str, **named) -> None:
    """A weight (α, β, λ, w_tv): a finite real number ≥ 0 (or a 0-dim tensor holding one)."""
    name, w = _one(named)
    if isinstance(w, Tensor) and w.dim() == 0:
        w = w.item()
    if isinstance(w, bool) or not isinstance(w, numbers.Real):
        raise ValueError(f"{where}: expected {name} to be a real number, got {w!r}.")
    if not math.isfinite(w) or w < 0:
        raise ValueError(f"{where}: expected {name} to be finite and >= 0, got {w!r}.")


def scalar(where: str, finite: bool = True, **named) -> None:
    """A cost: a scalar tensor of shape () or a real number."""
    name, J = _one(named)
    if isinstance(J, Tensor):
        if J.dim() != 0:
            raise ValueError(f"{where}: expected {name} to be a scalar tensor of shape (), got {_shape(J)}.")
        float_values(where, finite, **named)
    elif isinstance(J, numbers.Real) and not isinstance(J, bool):
        if not math.isfinite(J):
            raise ValueError(f"{where}: expected {name} to be finite, got {J!r}.")
    else:
        raise ValueError(
            f"{where}: expected {name} to be a scalar tensor or a real number, got {type(J).__name__}."
        )


def total_inputs(where, J_content, J_style, alpha, beta, J_tv, tv_weight, finite: bool = True) -> None:
    """The inputs of total_cost: scalar costs, weights ≥ 0, and J_tv given when tv_weight ≠ 0."""
    scalar(where, finite, J_content=J_content)
    scalar(where, finite, J_style=J_style)
    weight(where, alpha=alpha)
    weight(where, beta=beta)
    weight(where, tv_weight=tv_weight)
    if J_tv is None and tv_weight != 0:
        raise ValueError(
            f"{where}: tv_weight={tv_weight!r} but J_tv is None; pass J_tv=tv_cost(G) or tv_weight=0."
        )
    if J_tv is not None:
        scalar(where, finite, J_tv=J_tv)


def style_layers(where: str, style_weights: object, finite: bool = True, **pair) -> list[tuple[str, float]]:
    """``style_weights`` as [(layer, λ), ...], after checking both mappings of ``pair`` layer by layer.

    ``pair`` is ``a_S=…, a_G=…`` (two activations per layer) or ``grams_S=…, a_G=…`` (a Gram matrix and an
    activation per layer). Layers the mappings hold but ``style_weights`` does not name are ignored.
    """
    pairs = _style_pairs(where, style_weights)
    for name, d in pair.items():
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
    (ref_name, ref), (name, d) = pair.items()
    for layer, _ in pairs:
        if ref_name == "grams_S":
            gram_for(f"{where}[{layer!r}]", finite, G_gram_S=ref[layer], a_G=d[layer])
        else:
            same_layer(f"{where}[{layer!r}]", finite, **{ref_name: ref[layer], name: d[layer]})
    return pairs


def _style_pairs(where: str, style_weights: object) -> list[tuple[str, float]]:
    """Normalize {layer: λ} or [(layer, λ), ...] (the course's STYLE_LAYERS) to a list of pairs."""
    expected = "expected style_weights as a mapping {layer: weight} or a sequence of (layer, weight) pairs"
    if isinstance(style_weights, Mapping):
        pairs = list(style_weights.items())
    elif isinstance(style_weights, Sequence) and not isinstance(style_weights, str):
        pairs = []
        for item in style_weights:
            if not (isinstance(item, Sequence) and not isinstance(item, str) and len(item) == 2):
                raise ValueError(f"{where}: {expected}, got the item {item!r}.")
            pairs.append((item[0], item[1]))
    else:
        raise ValueError(f"{where}: {expected}, got {type(style_weights).__name__}.")
    if not pairs:
        raise ValueError(f"{where}: style_weights is empty; give at least one (layer, weight) pair.")
    seen = set()
    for layer, w in pairs:
        if layer in seen:
            raise ValueError(
                f"{where}: layer {layer!r} appears twice in style_weights; it would be counted twice."
            )
        seen.add(layer)
        weight(where, **{f"the weight of layer {layer!r}": w})
    return pairs


def mask_for(where: str, finite: bool = True, *, a: object, m: object) -> tuple[int, int, int]:
    """An activation a (1, n_C, h, w) and a mask m (h, w) of the same positions: returns (n_C, h, w)."""
    n_C, h, w = activation(where, finite, a=a)
    tensor(where, m=m)
    if m.dim() != 2 or tuple(m.shape) != (h, w):
        raise ValueError(
            f"{where}: expected the mask m of shape (n_H, n_W) = ({h}, {w}) to match a {_shape(a)} (resize it "
            f"to the layer first, e.g. with masks.to_layer), got {_shape(m)}."
        )
    float_values(where, finite, m=m)
    return n_C, h, w


def area(where: str, **named) -> float:
    """A region's area Σ m²: a finite number > 0 (an empty region has no Gram matrix)."""
    name, value = _one(named)
    if isinstance(value, Tensor) and value.dim() == 0:
        value = value.item()
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not math.isfinite(value)
        or value <= 0
    ):
        raise ValueError(
            f"{where}: expected {name} = Σ m², a finite number > 0, got {value!r}; an empty region (a mask "
            f"that is 0 everywhere) has no Gram matrix."
        )
    return float(value)


def shares(where: str, grams: object, weights: object) -> list[float]:
    """One Gram matrix per style, one shape, and one weight ≥ 0 each, not all 0: returns w_s / Σ w."""
    if not isinstance(grams, Sequence) or not grams:
        raise ValueError(f"{where}: expected a non-empty list of Gram matrices, got {type(grams).__name__}.")
    for i, G in enumerate(grams):
        tensor(where, **{f"grams[{i}]": G})
        if G.dim() != 2 or G.shape != grams[0].shape or G.shape[0] != G.shape[1]:
            raise ValueError(
                f"{where}: expected Gram matrices of one shape (n_C, n_C), got {_shape(grams[0])} and {_shape(G)}."
            )
    if not isinstance(weights, Sequence) or len(weights) != len(grams):
        raise ValueError(f"{where}: expected one weight per Gram matrix ({len(grams)}), got {weights!r}.")
    for i, w in enumerate(weights):
        weight(where, **{f"weights[{i}]": w})
    total = float(sum(float(w) for w in weights))
    if total <= 0:
        raise ValueError(f"{where}: the weights are all 0; give at least one style a weight > 0.")
    return [float(w) / total for w in weights]


def style_terms(
    where: str, J_terms: object, style_weights: object, finite: bool = True
) -> list[tuple[str, float]]:
    """[(layer, w_t, J_t), ...] with a weight ≥ 0 and a scalar cost each, every layer named in ``style_weights``
    and every layer of ``style_weights`` with at least one term: returns ``style_weights`` as pairs."""
    pairs = _style_pairs(where, style_weights)
    if not isinstance(J_terms, Sequence) or isinstance(J_terms, str):
        raise ValueError(
            f"{where}: expected J_terms as a list of (layer, w, J) triples, got {type(J_terms).__name__}."
        )
    named = {layer for layer, _ in pairs}
    seen = set()
    for item in J_terms:
        if not (isinstance(item, Sequence) and not isinstance(item, str) and len(item) == 3):
            raise ValueError(f"{where}: expected J_terms as (layer, w, J) triples, got the item {item!r}.")
        layer, w, J = item
        if layer not in named:
            raise ValueError(
                f"{where}: a term is at layer {layer!r}, which style_weights does not name ({sorted(named)})."
            )
        weight(where, **{f"the weight of a term at {layer!r}": w})
        scalar(where, finite, **{f"the cost of a term at {layer!r}": J})
        seen.add(layer)
    missing = [layer for layer, _ in pairs if layer not in seen]
    if missing:
        raise ValueError(
            f"{where}: layer(s) {missing} of style_weights have no term; give each at least one."
        )
    return pairs
