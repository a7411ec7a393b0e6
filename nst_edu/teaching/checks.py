"""Exercise checks that learners call from the lesson notebooks.

What it is: one ``check_…(fn)`` per exercise. Each calls the learner's ``fn`` on small, fresh random
inputs (from a fixed seed, so the printed message is the same on every run), compares the answer with the
package's function in ``costs.py`` and with an independent float64 expectation written out here, prints
one line and returns a ``CheckResult``:

- ``✓ correct: …`` when the answer matches,
- ``✗ not attempted yet: …`` when ``fn`` still raises ``NotImplementedError`` (the stub),
- ``✗ your function raised …`` for any other exception,
- ``✗ wrong: …`` naming what differs, and the likely mistake when the answer matches a known one
  (a missing constant, a channels-last reshape, the seed write-up's constant …).

A check never raises because of the learner's code, so a lesson notebook runs top to bottom with the
stubs still in place.

What it is not: not a test suite for the package (see ``tests/``), and not a reference implementation:
the formulas live in ``costs.py``; the solutions live in ``notebooks/solutions/``.

Writing a new check: build inputs with ``_randn``, call the learner's function with ``_call`` (it turns
``NotImplementedError`` and other exceptions into the messages above), reject an answer with
``_wrong(...)``, and wrap the whole body in ``_check(name, body)``, which prints and returns the result.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from ..core import masks

__all__ = [
    "CheckResult",
    "check_unroll",
    "check_content_cost",
    "check_gram_matrix",
    "check_layer_style_cost",
    "check_style_cost",
    "check_rescaled_gram",
    "check_total_cost",
    "check_uniform_noise",
    "check_frame_changes",
    "check_compute_targets",
    "check_train_step",
    "check_closure_step",
    "check_luminance",
    "check_guided_gram",
]

RTOL = 1e-4  # float32 inputs against a float64 expectation: sums of a few hundred terms agree to ~1e-6


@dataclass(frozen=True)
class CheckResult:
    """The outcome of a check: ``passed`` and the one-line ``message`` that was printed.

    ``bool(result)`` is ``passed``; ``repr(result)`` is the message. The check has already printed the
    message, so in Jupyter a bare ``check_…(fn)`` on a cell's last line does not show it a second time
    (``_ipython_display_`` shows nothing); ``print(result)`` shows it again.
    """

    passed: bool
    message: str

    def __bool__(self) -> bool:
        return self.passed

    def __repr__(self) -> str:
        return self.message

    __str__ = __repr__

    def _ipython_display_(self) -> None:
        pass


class _Verdict(Exception):
    """Raised inside a check to end it with a failing message."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def _check(name: str, body: Callable[[], str]) -> CheckResult:
    """Run ``body`` (which returns the success detail or raises ``_Verdict``), print and return the result."""
    try:
        result = CheckResult(True, f"✓ correct: {name} — {body()}")
    except _Verdict as verdict:
        result = CheckResult(False, verdict.message)
    print(result.message)
    return result


def _name(fn) -> str:
    return getattr(fn, "__name__", type(fn).__name__)


def _call(fn, *args):
    """Call the learner's function; its exceptions become a failing verdict, never an error of the check."""
    try:
        return fn(*args)
    except NotImplementedError:
        raise _Verdict(
            f"✗ not attempted yet: {_name(fn)} still raises NotImplementedError; replace the `raise` "
            f"line with your code and run the cell again."
        ) from None
    except Exception as exc:  # the learner's bug, reported as a message so the notebook keeps running
        raise _Verdict(f"✗ your function raised {type(exc).__name__}: {exc}") from None


def _wrong(problem: str):
    raise _Verdict(f"✗ wrong: {problem}")


def _randn(gen: torch.Generator, *shape: int, grad: bool = False) -> Tensor:
    """float32 values in a range like a ReLU layer's (non-negative, a few units), as the lessons use."""
    x = torch.randn(*shape, generator=gen).abs() * 2.0
    return x.requires_grad_(grad)


def _g(x: float) -> str:
    return f"{x:.4g}"


def _close(got: float, expected: float) -> bool:
    return math.isclose(got, expected, rel_tol=RTOL, abs_tol=1e-12)


def _tensor(fn, out, what: str) -> Tensor:
    if not isinstance(out, Tensor):
        if isinstance(out, numbers.Real) and not isinstance(out, bool):
            _wrong(
                f"{_name(fn)} returned a Python number ({type(out).__name__}); return the tensor "
                f"itself (.item() or float() cut the gradient the optimizer needs)."
            )
        _wrong(f"{_name(fn)} returned {type(out).__name__}; expected {what} as a torch.Tensor.")
    return out


def _scalar(fn, out, *, needs_grad: bool) -> float:
    """The learner's cost as a float, after checking it is a one-value tensor that carries the gradient."""
    out = _tensor(fn, out, "a scalar cost")
    if out.numel() != 1:
        _wrong(
            f"{_name(fn)} returned a tensor of shape {tuple(out.shape)}; a cost is one number, "
            f"shape () (did you forget the sum?)."
        )
    if needs_grad and not out.requires_grad:
        _wrong(
            f"{_name(fn)}'s result carries no gradient with respect to a_G; use torch operations "
            f"only (no .numpy(), .item(), .detach() or torch.no_grad())."
        )
    value = float(out.detach().double())
    if not math.isfinite(value):
        _wrong(f"{_name(fn)} returned {value}.")
    return value


def _diagnose(fn, got: float, expected: float, known: dict[str, float], setting: str) -> None:
    """Fail with the name of a known mistake whose value ``got`` matches, else with both values."""
    if _close(got, expected):
        return
    for mistake, value in known.items():
        if _close(got, value):
            _wrong(f"{_name(fn)} gives {_g(got)} instead of {_g(expected)} on {setting}: {mistake}.")
    ratio = f" (ratio {_g(got / expected)})" if expected != 0 else ""
    _wrong(f"{_name(fn)} gives {_g(got)} instead of {_g(expected)} on {setting}{ratio}.")


def _shape(a: Tensor) -> str:
    return str(tuple(a.shape))


# --------------------------------------------------------------------------------------------------
# Independent expectations in float64 (written from the formulas, not from costs.py)
# --------------------------------------------------------------------------------------------------


def _unrolled(a: Tensor) -> Tensor:
    """A[c, h*n_W + w] = a[0, c, h, w], position by position."""
    _, n_C, n_H, n_W = a.shape
    A = torch.empty(n_C, n_H * n_W, dtype=torch.float64)
    for h in range(n_H):
        for w in range(n_W):
            A[:, h * n_W + w] = a[0, :, h, w].double()
    return A  # (n_C, n_H*n_W)


def _gram(A: Tensor) -> Tensor:
    A = A.detach().double()
    return torch.einsum("ik,jk->ij", A, A)  # (n_C, n_C)


def _layer_style(a_S: Tensor, a_G: Tensor, unroll=_unrolled) -> float:
    _, n_C, n_H, n_W = a_G.shape
    D = _gram(unroll(a_S)) - _gram(unroll(a_G))
    return float((D**2).sum()) / (4 * n_C**2 * (n_H * n_W) ** 2)


def _channels_last_unroll(a: Tensor) -> Tensor:
    """The classic bug: reshape an (n_H, n_W, n_C) array to (n_C, -1). Right shape, scrambled rows."""
    _, n_C, _, _ = a.shape
    return a.detach()[0].permute(1, 2, 0).double().reshape(n_C, -1)


def _tf_port_unroll(a: Tensor) -> Tensor:
    """The course's TensorFlow unroll, transpose(reshape(a, [n_H*n_W, n_C])), applied to a channels-FIRST
    tensor: right for (m, n_H, n_W, n_C), rows mixing channels for PyTorch's (1, n_C, n_H, n_W)."""
    _, n_C, n_H, n_W = a.shape
    return a.detach().double().reshape(n_H * n_W, n_C).T  # (n_C, n_H*n_W), scrambled


def _layer_style_tf_shape(a_S: Tensor, a_G: Tensor) -> float:
    """The course's ``m, n_H, n_W, n_C = a_G.shape`` on a PyTorch (1, n_C, n_H, n_W) tensor: every size
    takes the wrong meaning (n_C is really n_W), then the course's formula runs on them."""
    _, n_H, n_W, n_C = a_G.shape  # the learner's (wrong) names for PyTorch's (n_C, n_H, n_W)
    D = _gram(a_S.detach().reshape(n_C, n_H * n_W)) - _gram(a_G.detach().reshape(n_C, n_H * n_W))
    return float((D**2).sum()) / (4 * n_C**2 * (n_H * n_W) ** 2)


# --------------------------------------------------------------------------------------------------
# The checks
# --------------------------------------------------------------------------------------------------


def check_unroll(fn, seed: int = 0) -> CheckResult:
    """Grade ``fn(a) -> A``: a (1, n_C, n_H, n_W) -> A (n_C, n_H*n_W) with A[c, h*n_W + w] = a[0, c, h, w]."""

    def body() -> str:
        gen = torch.Generator().manual_seed(seed)
        for shape in ((1, 3, 4, 5), (1, 8, 2, 6)):
            a = _randn(gen, *shape)
            _, n_C, n_H, n_W = shape
            expected = _unrolled(a)
            A = _tensor(fn, _call(fn, a.clone()), "the unrolled matrix A")
            if tuple(A.shape) != (n_C, n_H * n_W):
                hint = (
                    " — rows and columns are swapped (transpose it)"
                    if tuple(A.shape) == (n_H * n_W, n_C)
                    else ""
                )
                _wrong(
                    f"for a of shape {shape}, expected A of shape (n_C, n_H*n_W) = {(n_C, n_H * n_W)}, "
                    f"got {_shape(A)}{hint}."
                )
            A = A.detach().double()
            if torch.allclose(A, expected):
                continue
            if torch.allclose(A, _channels_last_unroll(a)):
                _wrong(
                    "the shape is right but the rows mix channels: you reshaped a channels-last "
                    "(n_H, n_W, n_C) array to (n_C, -1). Reshape the channels-first tensor, "
                    "a.reshape(n_C, n_H * n_W), or transpose a channels-last one after reshaping."
                )
            if torch.allclose(A, _tf_port_unroll(a)):
                _wrong(
                    "the shape is right but the rows mix channels: a.reshape(n_H*n_W, n_C).T is the course's "
                    "TensorFlow unroll, right for a channels-last (m, n_H, n_W, n_C) tensor only; PyTorch's a is "
                    "(1, n_C, n_H, n_W), so reshape it straight to (n_C, n_H * n_W)."
                )
            if torch.allclose(A.sort(dim=1).values, expected.sort(dim=1).values):
                _wrong(
                    "each row holds the right channel, but the positions are in another order "
                    "(the Gram matrix would not notice); A[c, h*n_W + w] should be a[0, c, h, w], "
                    "which is what a.reshape(n_C, n_H * n_W) gives."
                )
            _wrong(
                f"for a of shape {shape}, A differs from a.reshape(n_C, n_H*n_W) "
                f"(largest difference {_g(float((A - expected).abs().max()))})."
            )
        return "A = a.reshape(n_C, n_H*n_W), each row one channel."

    return _check("unroll", body)


def check_content_cost(fn, seed: int = 0) -> CheckResult:
    r"""Grade ``fn(a_C, a_G) -> J``: $J_{content} = \frac{1}{4 n_H n_W n_C} \sum (a_C - a_G)^2$."""

    def body() -> str:
        gen = torch.Generator().manual_seed(seed)
        for shape in ((1, 3, 4, 5), (1, 6, 3, 2)):
            _, n_C, n_H, n_W = shape
            a_C, a_G = _randn(gen, *shape), _randn(gen, *shape, grad=True)
            D = a_C.detach().double() - a_G.detach().double()
            norm = 4 * n_H * n_W * n_C
            expected = float((D**2).sum()) / norm
            got = _scalar(fn, _call(fn, a_C.clone(), a_G), needs_grad=True)
            _diagnose(
                fn,
                got,
                expected,
                {
                    "the factor 4 is missing from 1/(4 n_H n_W n_C)": 4 * expected,
                    "the sum is not normalized: divide by 4 n_H n_W n_C": norm * expected,
                    "the differences are not squared": float(D.sum()) / norm,
                    "the differences are not squared (absolute values summed)": float(D.abs().sum()) / norm,
                    "this is the norm ‖a_C − a_G‖, not its square": math.sqrt(float((D**2).sum())) / norm,
                },
                f"a_C, a_G of shape {shape}",
            )
        return "J_content = Σ(a_C − a_G)² / (4 n_H n_W n_C), with its gradient."

    return _check("content_cost", body)


def check_gram_matrix(fn, seed: int = 0) -> CheckResult:
    """Grade ``fn(A) -> G_gram``: A (n_C, M) -> A Aᵀ (n_C, n_C)."""

    def body() -> str:
        gen = torch.Generator().manual_seed(seed)
        for n_C, M in ((3, 20), (5, 12)):
            A = _randn(gen, n_C, M)
            expected = _gram(A)
            G_gram = _tensor(fn, _call(fn, A.clone()), "the Gram matrix")
            if tuple(G_gram.shape) != (n_C, n_C):
                hint = " — that is AᵀA; the Gram matrix is A Aᵀ" if tuple(G_gram.shape) == (M, M) else ""
                _wrong(
                    f"for A of shape {(n_C, M)}, expected G_gram of shape (n_C, n_C) = {(n_C, n_C)}, "
                    f"got {_shape(G_gram)}{hint}."
                )
            G_gram = G_gram.detach().double()
            if torch.allclose(G_gram, expected, rtol=RTOL):
                continue
            for scale, mistake in ((1 / M, "divided by M = n_H·n_W"), (1 / (n_C * M), "divided by n_C·M")):
                if torch.allclose(G_gram, expected * scale, rtol=RTOL):
                    _wrong(
                        f"your Gram matrix is A Aᵀ {mistake}; the course's G_gram = A Aᵀ has no "
                        f"normalization (the style cost's constant takes care of it)."
                    )
            _wrong(
                f"for A of shape {(n_C, M)}, G_gram differs from A Aᵀ "
                f"(largest difference {_g(float((G_gram - expected).abs().max()))})."
            )
        _gram_gradient(fn, gen)
        return "G_gram = A Aᵀ, shape (n_C, n_C), with its gradient."

    return _check("gram_matrix", body)


def _gram_gradient(fn, gen: torch.Generator) -> None:
    """Fail unless the gradient flows through ``fn``: for L = Σ_ij W_ij G_ij, ∂L/∂A = (W + Wᵀ) A.

    A Gram matrix computed through NumPy has the right values and no gradient, and the style cost built
    on it could not move G's pixels; detaching one factor (A @ A.detach().T) passes half the gradient.
    """
    n_C, M = 4, 9
    A = _randn(gen, n_C, M, grad=True)  # (n_C, M), a leaf like the activations of G in the loop
    W = torch.randn(n_C, n_C, generator=gen)  # (n_C, n_C), not symmetric, so Wᵀ ≠ W
    no_graph = (
        f"{_name(fn)}'s result carries no gradient with respect to A; compute it with torch "
        f"operations only (A @ A.T): .numpy(), torch.from_numpy, torch.tensor(…), .detach() or "
        f"torch.no_grad() cut the graph, and the style cost could not move G's pixels."
    )
    try:
        out = _call(fn, A.clone())
    except _Verdict as verdict:
        if verdict.message.startswith("✗ your function raised"):
            raise _Verdict(
                f"{verdict.message} — on an A that requires grad (as G's activations do in the "
                f"optimization loop); compute with torch operations only (A @ A.T), no .numpy()."
            ) from None
        raise
    out = _tensor(fn, out, "the Gram matrix")
    if out.grad_fn is None:
        _wrong(no_graph)
    try:
        (out.double() * W.double()).sum().backward()
    except Exception as exc:  # a learner's graph that cannot be differentiated
        _wrong(f"backpropagating through {_name(fn)}'s result failed: {type(exc).__name__}: {exc}")
    if A.grad is None:
        _wrong(no_graph)
    got, Ad, Wd = A.grad.double(), A.detach().double(), W.double()
    expected = (Wd + Wd.T) @ Ad  # (n_C, M)
    if torch.allclose(got, expected, rtol=RTOL, atol=1e-6):
        return
    if torch.allclose(got, Wd @ Ad, rtol=RTOL, atol=1e-6) or torch.allclose(
        got, Wd.T @ Ad, rtol=RTOL, atol=1e-6
    ):
        _wrong(
            "the values are right but only half of the gradient flows: one factor of A Aᵀ is detached "
            "(A @ A.detach().T); keep both factors in the graph."
        )
    _wrong(
        f"the values are right but the gradient ∂(Σ W∘G_gram)/∂A differs from (W + Wᵀ) A by up to "
        f"{_g(float((got - expected).abs().max()))}; compute G_gram as A @ A.T with torch operations."
    )


def _layer_style_mistakes(a_S: Tensor, a_G: Tensor, expected: float) -> dict[str, float]:
    _, n_C, n_H, n_W = a_G.shape
    M = n_H * n_W
    D = _gram(_unrolled(a_S)) - _gram(_unrolled(a_G))
    norm = 4 * n_C**2 * M**2
    return {
        "that is the seed write-up's constant 1/(4 n_H n_W n_C)², ¼ of the course's 1/(4 n_C² (n_H n_W)²)": expected
        / 4,
        "the factor 4 is missing from 1/(4 n_C² (n_H n_W)²)": 4 * expected,
        "the sum is not normalized: divide by 4 n_C² (n_H n_W)²": norm * expected,
        "(n_H n_W) is not squared in 1/(4 n_C² (n_H n_W)²)": M * expected,
        "n_C is not squared in 1/(4 n_C² (n_H n_W)²)": n_C * expected,
        "the channels are scrambled: the activations were reshaped channels-last (n_H, n_W, n_C) to "
        "(n_C, -1); unroll with a.reshape(n_C, n_H * n_W)": _layer_style(
            a_S, a_G, unroll=_channels_last_unroll
        ),
        (
            "the channels are scrambled: a.reshape(n_H*n_W, n_C).T is the course's TensorFlow unroll, right "
            "for channels-last tensors only; PyTorch's a is (1, n_C, n_H, n_W): unroll with "
            "a.reshape(n_C, n_H * n_W)"
        ): _layer_style(a_S, a_G, unroll=_tf_port_unroll),
        "the sizes were unpacked in the course's TensorFlow order, m, n_H, n_W, n_C = a_G.shape; PyTorch's is "
        "(1, n_C, n_H, n_W): write _, n_C, n_H, n_W = a_G.shape": _layer_style_tf_shape(a_S, a_G),
        "the Gram differences are not squared": float(D.sum()) / norm,
        "this is the norm ‖G_S − G_G‖, not its square": math.sqrt(float((D**2).sum())) / norm,
    }


def check_layer_style_cost(fn, seed: int = 0) -> CheckResult:
    r"""Grade ``fn(a_S, a_G) -> J``:
    $J^{[l]}_{style} = \frac{1}{4 n_C^2 (n_H n_W)^2} \sum_{ij} (G^{(S)}_{ij} - G^{(G)}_{ij})^2$."""

    def body() -> str:
        gen = torch.Generator().manual_seed(seed)
        for shape in ((1, 3, 4, 5), (1, 4, 3, 2)):
            a_S, a_G = _randn(gen, *shape), _randn(gen, *shape, grad=True)
            expected = _layer_style(a_S, a_G)
            got = _scalar(fn, _call(fn, a_S.clone(), a_G), needs_grad=True)
            _diagnose(
                fn, got, expected, _layer_style_mistakes(a_S, a_G, expected), f"a_S, a_G of shape {shape}"
            )
        return "J_style^[l] = Σ(G_gram(S) − G_gram(G))² / (4 n_C² (n_H n_W)²), with its gradient."

    return _check("layer_style_cost", body)


def check_style_cost(fn, seed: int = 0) -> CheckResult:
    r"""Grade ``fn(a_S, a_G, style_weights) -> J``: $J_{style} = \sum_l \lambda^{[l]} J^{[l]}_{style}$.

    ``a_S`` and ``a_G`` are dicts {layer: (1, n_C, n_H, n_W)} that also hold a layer style_weights does not
    name (as a feature extractor's output does), listed first, and list their layers in another order than
    ``style_weights``, the course's [(layer, λ), ...]; a second round lists a_G in yet another order. Only
    an answer that looks each layer up by name passes.
    """

    def body() -> str:
        gen = torch.Generator().manual_seed(seed)
        shapes = {
            "relu1_1": (1, 3, 6, 4),
            "relu2_1": (1, 5, 3, 2),
            "relu3_1": (1, 7, 2, 1),
            "relu4_2": (1, 4, 2, 2),
        }
        a_S_by_name = {layer: _randn(gen, *s) for layer, s in shapes.items()}
        a_G_by_name = {layer: _randn(gen, *s, grad=True) for layer, s in shapes.items()}
        # Three orders that differ, and relu4_2 (not in style_weights) first, as a content layer can be in a
        # feature extractor's output: pairing layers by position (the course's TensorFlow loop over lists,
        # zip(style_weights, a_S.values(), a_G.values())) then gives a wrong value or a shape error.
        style_weights = [("relu2_1", 1.0), ("relu1_1", 0.5), ("relu3_1", 0.25)]
        order_S = ("relu4_2", "relu3_1", "relu1_1", "relu2_1")
        orders_G = (order_S, ("relu4_2", "relu2_1", "relu3_1", "relu1_1"))
        per_layer = {layer: _layer_style(a_S_by_name[layer], a_G_by_name[layer]) for layer in shapes}
        expected = sum(w * per_layer[layer] for layer, w in style_weights)
        weights = dict(style_weights)
        by_position = sum(w * per_layer[layer] for (_, w), layer in zip(style_weights, order_S))
        for order_G in orders_G:
            a_S = {layer: a_S_by_name[layer].clone() for layer in order_S}
            a_G = {layer: a_G_by_name[layer] for layer in order_G}
            setting = (
                "3 weighted layers (λ = 1, 0.5, 0.25), with a_S and a_G holding relu4_2 too, listed "
                "first, and the layers in another order than style_weights"
                + ("" if order_G == order_S else ", a_G in yet another order than a_S")
            )
            try:
                out = _call(fn, a_S, a_G, list(style_weights))
            except _Verdict as verdict:
                if verdict.message.startswith("✗ your function raised"):
                    raise _Verdict(
                        f"{verdict.message} — on {setting}. Look each layer up by its name, "
                        f"a_S[layer] and a_G[layer] for each (layer, λ) in style_weights; never "
                        f"pair them by position."
                    ) from None
                raise
            got = _scalar(fn, out, needs_grad=True)
            _diagnose(
                fn,
                got,
                expected,
                {
                    "the layers are paired by position, not by name (as zip(style_weights, a_S.values(), "
                    "a_G.values()) does: the course's TensorFlow loop over lists): λ = 1 went to relu4_2, which a_S "
                    "lists first and style_weights does not name; use a_S[layer] and a_G[layer] for each "
                    "(layer, λ) in style_weights": by_position,
                    "the layers are summed without their weights λ^[l]": sum(
                        per_layer[layer] for layer in weights
                    ),
                    "this is the mean over layers; J_style is the λ-weighted sum": expected / len(weights),
                    "the weighted sum is divided by Σλ; J_style is Σ_l λ^[l] J_style^[l] as it is": expected
                    / sum(weights.values()),
                    "the sum includes relu4_2, a layer of a_S/a_G that style_weights does not name; sum over "
                    "style_weights": expected + per_layer["relu4_2"],
                },
                setting,
            )
        return "J_style = Σ_l λ^[l] J_style^[l] over the layers of style_weights, each looked up by name."

    return _check("style_cost", body)


def check_rescaled_gram(fn, seed: int = 0) -> CheckResult:
    r"""Grade ``fn(a_S, M_G) -> G_gram``: the style target for a generated image of another size.

    $$G^{(S)}_{gram} \cdot \frac{M_G}{M_S}, \quad G^{(S)}_{gram} = A A^T,\ A = a_S\text{.reshape}(n_C, n_H n_W),
    \ M_S = n_H n_W \text{ of } a_S,\ M_G = n_H n_W \text{ of } a_G$$

    Shapes: a_S (1, n_C, n_H, n_W), M_G a Python int -> (n_C, n_C)
    """

    def body() -> str:
        gen = torch.Generator().manual_seed(seed)
        # n_H ≠ n_W, and M_G / M_S neither 1 nor a square of a side ratio that another mistake would give.
        for shape, M_G in (((1, 3, 4, 6), 54), ((1, 4, 6, 5), 12)):
            _, n_C, n_H, n_W = shape
            M_S = n_H * n_W
            a_S = _randn(gen, *shape)
            G_S = _gram(_unrolled(a_S))  # (n_C, n_C) float64, A Aᵀ
            expected = G_S * (M_G / M_S)  # (n_C, n_C)
            a_in = a_S.clone()
            out = _tensor(fn, _call(fn, a_in, M_G), "the rescaled Gram matrix (n_C, n_C)")
            setting = f"a_S of shape {shape}, M_S = {M_S}, M_G = {M_G}"
            if not torch.equal(a_in, a_S):
                _wrong(
                    f"{_name(fn)} changed a_S in place; compute on a new tensor (no a_S.mul_(…), a_S *= …)."
                )
            if tuple(out.shape) != (n_C, n_C):
                hint = " — that is AᵀA; the Gram matrix is A Aᵀ" if tuple(out.shape) == (M_S, M_S) else ""
                _wrong(f"for {setting}, expected shape (n_C, n_C) = {(n_C, n_C)}, got {_shape(out)}{hint}.")
            got = out.detach().double()
            if torch.allclose(got, expected, rtol=RTOL):
                continue
            r = M_G / M_S
            known = {
                "that is A Aᵀ without the rescaling; multiply it by M_G / M_S": G_S,
                "the ratio is upside down: that is A Aᵀ · M_S / M_G; multiply by M_G / M_S "
                "(a Gram matrix is a sum over n_H·n_W positions, so it grows with the area)": G_S / r,
                "that is A Aᵀ · √(M_G / M_S), a ratio of sides (like n_H_G / n_H_S); a Gram matrix sums "
                "over positions, so scale by the ratio of AREAS M_G / M_S": G_S * math.sqrt(r),
                "that is A Aᵀ · (M_G / M_S)²: you scaled the activations a_S by M_G / M_S, which scales their "
                "Gram matrix by its square; scale the Gram matrix (or a_S by √(M_G / M_S))": G_S * r**2,
                "that is A Aᵀ / M_S, the Gram matrix divided by M_S only; multiply by M_G as well": G_S / M_S,
                "that is A Aᵀ / M_G; the rescaled Gram matrix is A Aᵀ · M_G / M_S": G_S / M_G,
                "that is A Aᵀ · M_G / M_S²: your Gram matrix is normalised by M (A Aᵀ / M_S); the course's "
                "G_gram = A Aᵀ has no normalization": G_S * M_G / M_S**2,
                "M_G // M_S is an integer division (it rounds the ratio down, even to 0); use M_G / M_S": G_S
                * (M_G // M_S),
                "the channels are scrambled: a_S was reshaped channels-last (n_H, n_W, n_C) to (n_C, -1); "
                "unroll with a_S.reshape(n_C, n_H * n_W)": _gram(_channels_last_unroll(a_S)) * r,
                "the channels are scrambled: a_S.reshape(n_H*n_W, n_C).T is the course's TensorFlow unroll, "
                "right for channels-last tensors only; unroll with a_S.reshape(n_C, n_H * n_W)": _gram(
                    _tf_port_unroll(a_S)
                )
                * r,
            }
            for mistake, value in known.items():
                if torch.allclose(got, value, rtol=RTOL):
                    _wrong(f"{mistake} ({setting}).")
            ratio = float((got * expected).sum() / (expected * expected).sum())  # least-squares scale
            _wrong(
                f"for {setting}, the result differs from A Aᵀ · M_G / M_S by up to "
                f"{_g(float((got - expected).abs().max()))} (best-fit scale {_g(ratio)})."
            )
        return "G_gram(S) · M_G / M_S, the Gram matrix of S as if S had G's n_H·n_W positions."

    return _check("rescaled_gram", body)


# --------------------------------------------------------------------------------------------------
# Lessons 03 and 04: the total cost and the content + uniform-noise start
# --------------------------------------------------------------------------------------------------


def check_total_cost(fn, seed: int = 0) -> CheckResult:
    r"""Grade ``fn(J_content, J_style, alpha, beta) -> J``: $J(G) = \alpha J_{content} + \beta J_{style}$.

    Calls ``fn`` with scalar tensors that require grad (as in the optimization loop) and checks the value,
    that the result carries the gradient, and that ∂J/∂J_content = α and ∂J/∂J_style = β.
    """

    def body() -> str:
        gen = torch.Generator().manual_seed(seed)
        # Course defaults, then α ≠ 1 and β ≪ α as in our presets (J_style is ~10⁵× J_content there).
        for alpha, beta in ((10.0, 40.0), (1.0, 1e-4)):
            J_content = (torch.rand((), generator=gen) * 4 + 1).requires_grad_(True)  # ()
            J_style = (torch.rand((), generator=gen) * 4 + 6).requires_grad_(True)  # ()
            if beta < 1:  # the realistic scale: without it β·J_style would vanish next to α·J_content
                J_style = (J_style.detach() * 1e4).requires_grad_(True)
            c, s = float(J_content.detach().double()), float(J_style.detach().double())
            expected = alpha * c + beta * s
            out = _call(fn, J_content, J_style, alpha, beta)
            got = _scalar(fn, out, needs_grad=False)
            if not out.requires_grad:
                _wrong(
                    f"{_name(fn)}'s result carries no gradient with respect to J_content and J_style; use "
                    f"torch operations only (no .item(), .detach(), torch.tensor(…) or torch.no_grad())."
                )
            setting = f"J_content = {_g(c)}, J_style = {_g(s)}, α = {alpha:g}, β = {beta:g}"
            _diagnose(
                fn,
                got,
                expected,
                {
                    "α and β are swapped: α weights J_content, β weights J_style": beta * c + alpha * s,
                    "the weights α and β are missing": c + s,
                    "only α J_content is returned; add β J_style": alpha * c,
                    "only β J_style is returned; add α J_content": beta * s,
                    "that is α J_content − β J_style; the two costs are added": alpha * c - beta * s,
                    "the costs are multiplied; J is the weighted SUM α J_content + β J_style": alpha
                    * c
                    * beta
                    * s,
                    "α is used for both terms": alpha * (c + s),
                    "β is used for both terms": beta * (c + s),
                    "that is the weighted mean (α J_content + β J_style)/(α + β); do not divide": expected
                    / (alpha + beta),
                    "the course's default weights α = 10, β = 40 are used instead of the alpha and beta passed in": 10
                    * c
                    + 40 * s,
                },
                setting,
            )
            J_content.grad = J_style.grad = None
            try:
                out.backward()
            except Exception as exc:  # a learner's graph that cannot be differentiated
                _wrong(f"backpropagating through {_name(fn)}'s result failed: {type(exc).__name__}: {exc}")
            g_c = None if J_content.grad is None else float(J_content.grad)
            g_s = None if J_style.grad is None else float(J_style.grad)
            if g_c is None or g_s is None or not (_close(g_c, alpha) and _close(g_s, beta)):
                _wrong(
                    f"∂J/∂J_content should be α = {alpha:g} and ∂J/∂J_style should be β = {beta:g}, got "
                    f"{g_c} and {g_s} on {setting}; build J from J_content and J_style with torch "
                    f"operations only."
                )
        return "J = α J_content + β J_style, with its gradient."

    return _check("total_cost", body)


def _call_keeping_global_rng(fn, *args):
    """Call ``fn`` with PyTorch's global CPU generator in a fixed state, restored afterwards.

    Returns ``fn``'s result and whether ``fn`` changed that state (a ``torch.manual_seed`` or a draw without
    ``generator=``). The restore means the check itself leaves the caller's random numbers as they were.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(
            2016
        )  # any fixed state: the verdict must not depend on what the notebook drew before
        before = torch.get_rng_state()
        out = _call(fn, *args)
        touched = not torch.equal(torch.get_rng_state(), before)
    return out, touched


def check_uniform_noise(fn, seed: int = 0) -> CheckResult:
    r"""Grade ``fn(C, ratio, seed) -> G0``: $G_0 = \mathrm{clip}_{[0,1]}((1 - r) C + r N)$, $N \sim \mathcal{U}(0, 1)$.

    The noise must be the draw ``torch.rand(C.shape, generator=torch.Generator().manual_seed(seed))``, so that
    the answer equals ``noise.initial_image(C, "uniform", ratio, seed)`` pixel for pixel; one C lies a little
    outside [0, 1], so that the clip matters; the function must leave PyTorch's global random state as it
    found it (no ``torch.manual_seed``) and give the same G0 when called again with the same seed.
    """

    def body() -> str:
        # C from its own stream: drawn from the noise's seed, C would equal N and hide swapped weights.
        gen = torch.Generator().manual_seed(1000 + seed)
        # The third C has values a little outside [0, 1] (as a photo edited or resized without clamping can):
        # only there does the clip change G0, so only there does a missing clip show.
        for ratio, noise_seed, (H, W), (low, high) in (
            (0.6, seed, (6, 8), (0.0, 1.0)),
            (0.2, seed + 7, (5, 3), (0.0, 1.0)),
            (0.3, seed + 3, (4, 5), (-0.25, 1.25)),
        ):
            C = low + (high - low) * torch.rand(1, 3, H, W, generator=gen)  # (1, 3, H, W) in [low, high]
            N = torch.rand(C.shape, generator=torch.Generator().manual_seed(noise_seed))  # (1, 3, H, W)
            unclipped = (1 - ratio) * C.double() + ratio * N.double()  # (1, 3, H, W)
            expected = unclipped.clamp(0, 1)
            C_in = C.clone()
            out, touched_rng = _call_keeping_global_rng(fn, C_in, ratio, noise_seed)
            G0 = _tensor(fn, out, "the starting image G0")
            setting = f"C of shape {tuple(C.shape)}, ratio = {ratio:g}, seed = {noise_seed}"
            if (low, high) != (0.0, 1.0):
                setting += f", C in [{low:g}, {high:g}]"
            if not torch.equal(C_in, C):
                _wrong(f"{_name(fn)} changed C in place; build G0 as a new tensor (no C.mul_(…), C += …).")
            if tuple(G0.shape) != tuple(C.shape):
                _wrong(f"G0 should have C's shape {tuple(C.shape)}, got {_shape(G0)} on {setting}.")
            G0 = G0.detach().double()
            if torch.allclose(G0, expected, atol=1e-6):
                if touched_rng:
                    _wrong(
                        f"G0 is right, but {_name(fn)} changed PyTorch's global random state (torch.manual_seed "
                        f"or a draw without generator=…), which resets or shifts every random number the "
                        f"caller draws next; draw N from a local generator, torch.rand(C.shape, "
                        f"generator=torch.Generator().manual_seed(seed)) ({setting})."
                    )
                again, _ = _call_keeping_global_rng(fn, C.clone(), ratio, noise_seed)
                if not (isinstance(again, Tensor) and torch.equal(again.detach().double(), G0)):
                    _wrong(
                        f"called a second time with the same seed, {_name(fn)} gives another G0: a generator "
                        f"made once, outside the function, keeps advancing; make it inside, from seed "
                        f"({setting})."
                    )
                continue
            if torch.allclose(G0, unclipped, atol=1e-6):
                _wrong(
                    f"the mix (1 − r) C + r N is right but not clipped: G0 has values in "
                    f"[{_g(float(G0.min()))}, {_g(float(G0.max()))}] and must be an image in [0, 1]; end "
                    f"with .clamp(0, 1) ({setting})."
                )
            known = {
                "C was clipped before the mix; clip the mix itself, clip((1 − r) C + r N)": (1 - ratio)
                * C.double().clamp(0, 1)
                + ratio * N.double(),
                "the weights are swapped: (1 − r) goes with C and r with the noise N": (
                    ratio * C.double() + (1 - ratio) * N.double()
                ).clamp(0, 1),
                "that is the additive recipe clip(C + r(2N − 1)); the uniform one mixes (1 − r) C + r N": (
                    C.double() + ratio * (2 * N.double() - 1)
                ).clamp(0, 1),
                "that is C + r N, without the factor (1 − r) on C": (C.double() + ratio * N.double()).clamp(
                    0, 1
                ),
                "that is pure noise N; keep (1 − r) C in the mix": N.double(),
                "that is C itself: no noise was added": C.double(),
            }
            for mistake, value in known.items():
                if torch.allclose(
                    G0.clamp(0, 1), value.clamp(0, 1), atol=1e-6
                ):  # clipped or not, the same mistake
                    _wrong(f"{mistake} ({setting}).")
            if float(G0.min()) < -1e-6 or float(G0.max()) > 1 + 1e-6:
                _wrong(
                    f"G0 has values in [{_g(float(G0.min()))}, {_g(float(G0.max()))}]; an image lives in "
                    f"[0, 1] (clip it) ({setting})."
                )
            N_implied = (G0 - (1 - ratio) * C.double()) / ratio  # what your noise must have been
            if float(N_implied.min()) > -1e-4 and float(N_implied.max()) < 1 + 1e-4:
                _wrong(
                    f"the mix (1 − r) C + r N looks right but N is not the seeded draw ({setting}); draw it "
                    f"with torch.rand(C.shape, generator=torch.Generator().manual_seed(seed)), so that the "
                    f"same seed gives the same G0 as noise.initial_image."
                )
            _wrong(
                f"G0 differs from clip((1 − r) C + r N) by up to "
                f"{_g(float((G0 - expected).abs().max()))} ({setting})."
            )
        return "G0 = clip((1 − r) C + r N), N ~ U(0, 1) from the seed: the same as noise.initial_image."

    return _check("uniform_noise", body)


def check_frame_changes(fn, seed: int = 0) -> CheckResult:
    r"""Grade ``fn(frames) -> changes``: change[k] = mean |F_{k+1} − F_k| / 255 over all (h, w, c).

    ``frames`` is a list of K pairs ``(step, uint8 array (H, W, 3))`` as in ``Result.frames``; the answer is
    K − 1 numbers (a list, a NumPy array or a tensor), compared with ``animation.frame_changes`` and with
    the formula written out over Python integers.
    """
    import numpy as np

    def body() -> str:
        rng = np.random.default_rng(seed)
        for K, (H, W) in ((5, (6, 8)), (3, (4, 3))):
            frames = [(5 * k, rng.integers(0, 256, size=(H, W, 3), dtype=np.uint8)) for k in range(K)]
            flat = [[int(v) for v in frame.ravel()] for _, frame in frames]
            expected = [
                sum(abs(b - a) for a, b in zip(flat[k], flat[k + 1])) / (255 * H * W * 3)
                for k in range(K - 1)
            ]
            given = [(step, frame.copy()) for step, frame in frames]
            out = _call(fn, given)
            setting = f"{K} frames of shape ({H}, {W}, 3)"
            if any(not np.array_equal(a, b) for (_, a), (_, b) in zip(given, frames)):
                _wrong(f"{_name(fn)} changed the frames in place; compute on copies.")
            if out is None or isinstance(out, (str, bytes)):
                _wrong(
                    f"{_name(fn)} returned {type(out).__name__}; expected K − 1 numbers (a list or an array)"
                    + (" — is the `return` missing?" if out is None else ".")
                )
            try:
                got = np.asarray(out.detach().cpu() if isinstance(out, Tensor) else out, dtype=np.float64)
            except (TypeError, ValueError):
                _wrong(
                    f"{_name(fn)} returned {type(out).__name__}; expected K − 1 numbers (a list or an array)."
                )
            got = got.reshape(-1) if got.ndim > 1 and got.size == K - 1 else got
            if got.shape != (K - 1,):
                hint = (
                    " (one change per pair of consecutive frames: K frames give K − 1 changes)"
                    if got.ndim == 1
                    else ""
                )
                _wrong(
                    f"{_name(fn)} returned shape {tuple(got.shape)} for {setting}; expected ({K - 1},){hint}."
                )
            if np.allclose(got, expected, rtol=1e-6, atol=1e-12):
                continue
            images = [frame.astype(np.float64) for _, frame in frames]  # (H, W, 3) in 0 … 255
            diffs = [b - a for a, b in zip(images[:-1], images[1:])]
            known = {
                "the uint8 frames were subtracted as uint8, which wraps around (3 − 5 = 254); convert them "
                "to float before subtracting": [
                    (frames[k + 1][1] - frames[k][1]).astype(np.float64).mean() / 255 for k in range(K - 1)
                ],
                "that is in 0 … 255 units; divide by 255": [np.abs(d).mean() for d in diffs],
                "the absolute value is missing: changes of opposite sign cancel": [
                    d.mean() / 255 for d in diffs
                ],
                "those are squared differences; the change is the mean ABSOLUTE difference": [
                    ((d / 255) ** 2).mean() for d in diffs
                ],
                "that is the root mean square; the change is the mean absolute difference": [
                    np.sqrt(((d / 255) ** 2).mean()) for d in diffs
                ],
                "that is the sum over pixels; take the mean": [np.abs(d).sum() / 255 for d in diffs],
                "each frame is compared with the first one; compare consecutive frames F_k and F_{k+1}": [
                    np.abs(images[k + 1] - images[0]).mean() / 255 for k in range(K - 1)
                ],
            }
            for mistake, value in known.items():
                if np.allclose(got, value, rtol=1e-6, atol=1e-12):
                    _wrong(f"{mistake} ({setting}).")
            worst = int(np.argmax(np.abs(got - expected)))
            _wrong(
                f"change[{worst}] is {_g(float(got[worst]))} instead of {_g(expected[worst])} ({setting})."
            )
        return "change[k] = mean |F_{k+1} − F_k| / 255, the same as animation.frame_changes."

    return _check("frame_changes", body)


# --------------------------------------------------------------------------------------------------
# Lesson 04: the loop by hand (the targets, the Adam step, the closure step)
# --------------------------------------------------------------------------------------------------


_LOOP_STEPS = 3  # enough for a forgotten zero_grad to show (gradients accumulate from the second step on)


def _tiny_problem(seed: int, optimizer: str = "adam", lr: float = 0.05):
    """A style-transfer problem small enough to grade in a fraction of a second, built like ``nst_edu.run``'s.

    A VGG-19 cut at relu2_2 with seeded He weights (``weights="random"``), a content image C (1, 3, 12, 16),
    a style image S (1, 3, 20, 20) of another size (so the M_G / M_S rescaling matters), a start G0 with a
    third of its pixels exactly 0 or 1 (so the first step pushes some out of [0, 1]) and the Config.
    """
    from ..core import vgg
    from ..core.config import Config

    gen = torch.Generator().manual_seed(seed)
    config = Config(
        content_layer="relu2_2",
        style_layers=(("relu1_1", 0.5), ("relu2_1", 0.5)),
        weights="random",
        alpha=1.0,
        beta=1e-3,
        optimizer=optimizer,
        lr=lr,
        init="content",
        seed=seed,
    )
    state, n_in = {}, 3
    for name, n_out in (("conv1_1", 64), ("conv1_2", 64), ("conv2_1", 128), ("conv2_2", 128)):
        state[f"{name}.weight"] = torch.randn(n_out, n_in, 3, 3, generator=gen) * (2.0 / (9 * n_in)) ** 0.5
        state[f"{name}.bias"] = torch.zeros(n_out)
        n_in = n_out

    def model(frozen: bool = True) -> vgg.VGG19Features:
        net = vgg.VGG19Features(weights="random", layers=config.layers, state_dict=state)
        return net if frozen else net.requires_grad_(True).train()

    C = torch.rand(1, 3, 12, 16, generator=gen)  # (1, 3, 12, 16) in [0, 1]
    S = torch.rand(1, 3, 20, 20, generator=gen)  # (1, 3, 20, 20)
    G0 = torch.rand(1, 3, 12, 16, generator=gen)  # (1, 3, 12, 16)
    u = torch.rand(G0.shape, generator=gen)
    G0 = torch.where(u < 0.15, 0.0, torch.where(u > 0.85, 1.0, G0))  # pixels on the box's walls
    return config, model, C, S, G0


def _make_loop_optimizer(kind: str, G: Tensor, config):
    from ..core.optim import BoxLBFGS

    if kind == "adam":
        return torch.optim.Adam([G], lr=config.lr)
    return BoxLBFGS(G, lr=config.lr, history_size=config.history_size, precondition=config.precondition)


def _reference_loop(objective, G0: Tensor, kind: str, config, zero_grad: bool = True):
    """``nst_edu.run``'s step, ``_LOOP_STEPS`` times from G0 (``zero_grad=False``: the loop that forgets it).

    Returns the images after each step and the costs J before each step (what ``run`` records).
    """
    G = G0.clone().requires_grad_(True)
    optimizer = _make_loop_optimizer(kind, G, config)
    images, Js = [], []

    def closure():
        if zero_grad:
            optimizer.zero_grad(set_to_none=True)
        J = objective(G)["total"]
        J.backward()
        return J

    for _ in range(_LOOP_STEPS):
        J = optimizer.step(closure)
        with torch.no_grad():
            G.clamp_(0, 1)
        images.append(G.detach().clone())
        Js.append(float(J.detach()))
    return images, Js


_NO_ZERO_GRAD = (
    "the gradients accumulate from step to step: call optimizer.zero_grad() before J.backward() "
    "(.backward() adds to G.grad, it does not overwrite it)"
)
_NO_CLAMP = (
    "G leaves [0, 1]: after the optimizer step, clamp it in place, with torch.no_grad(): G.clamp_(0, 1)"
)


def _run_learner_loop(fn, G0: Tensor, kind: str, model, targets, config):
    """Call the learner's step ``_LOOP_STEPS`` times; return (images after each step, the J it returned)."""
    G = G0.clone().requires_grad_(True)
    optimizer = _make_loop_optimizer(kind, G, config)
    images, Js = [], []
    for _ in range(_LOOP_STEPS):
        try:
            out = _call(fn, G, optimizer, model, targets, config)
        except _Verdict as verdict:
            raise _Verdict(verdict.message + _loop_hint(verdict.message, kind)) from None
        if out is None:
            _wrong(
                f"{_name(fn)} returned None; return J, the cost of G before the step, so the loop can "
                f"record it."
            )
        if isinstance(out, Tensor):
            if out.numel() != 1:
                _wrong(f"{_name(fn)} returned a tensor of shape {_shape(out)}; return J, one number.")
            J = float(out.detach().double())
        elif isinstance(out, numbers.Real) and not isinstance(out, bool):
            J = float(out)
        else:
            _wrong(f"{_name(fn)} returned {type(out).__name__}; return J, the cost of G before the step.")
        if not (G.is_leaf and G.requires_grad):
            _wrong(
                "the G passed in is no longer a leaf tensor that requires grad; change it only in place, "
                "under torch.no_grad()."
            )
        images.append(G.detach().clone())
        Js.append(J)
    return images, Js


def _loop_hint(message: str, kind: str) -> str:
    """The likely cause of an exception raised by a learner's step ("" for the stub's "not attempted")."""
    if not message.startswith("✗ your function raised"):
        return ""
    if "a leaf Variable" in message:
        return " — clamp G inside `with torch.no_grad():` (an in-place change of G must not be recorded)."
    if "backward through the graph a second time" in message:
        return " — the targets carry a graph: compute them once under torch.no_grad()."
    if kind == "lbfgs" and "closure" in message:
        return " — L-BFGS re-evaluates the cost itself: pass the closure, optimizer.step(closure)."
    if kind == "lbfgs" and "NoneType" in message:
        return " — G.grad is None when the optimizer reads it: the closure must call J.backward()."
    return ""


def _compare_loop(fn, got, expected, objective, G0: Tensor, kind: str, config, what: str) -> None:
    """Fail with the first step at which the learner's loop leaves ``run``'s, naming the mistake if known."""
    (images, Js), (ref_images, ref_Js) = got, expected
    for k, (G, G_ref, J, J_ref) in enumerate(zip(images, ref_images, Js, ref_Js), start=1):
        if not math.isclose(J, J_ref, rel_tol=1e-5):
            _wrong(
                f"at step {k} {_name(fn)} returned J = {_g(J)}; expected {_g(J_ref)}, the total cost of G "
                f"before the step ({what})."
            )
        if float(G.min()) < 0 or float(G.max()) > 1:
            _wrong(
                f"after step {k}, G has values in [{_g(float(G.min()))}, {_g(float(G.max()))}] ({what}): "
                f"{_NO_CLAMP}."
            )
        if float((G - G_ref).abs().max()) <= 1e-4:
            continue
        if torch.equal(G, images[k - 2] if k > 1 else G0):
            # Also what optimizer.step() before J.backward() gives: zero_grad has just cleared G.grad.
            _wrong(
                f"G did not change at step {k} ({what}): call optimizer.step() after J.backward() "
                f"(the order is zero_grad, J, J.backward(), step)."
            )
        accumulated, _ = _reference_loop(objective, G0, kind, config, zero_grad=False)
        if all(float((a - b).abs().max()) <= 1e-4 for a, b in zip(images, accumulated)):
            _wrong(f"G after step {k} differs from nst_edu.run's ({what}): {_NO_ZERO_GRAD}.")
        _wrong(
            f"G after step {k} differs from nst_edu.run's by up to {_g(float((G - G_ref).abs().max()))} "
            f"({what})."
        )


def _expected_targets(model, C: Tensor, S: Tensor, config):
    from ..core.transfer import Objective

    with torch.no_grad():
        objective = Objective(model, C, S, config)
    return objective.a_C, objective.grams_S


def check_compute_targets(fn, seed: int = 0) -> CheckResult:
    r"""Grade ``fn(model, C, S, config) -> (a_C, grams_S)``: freeze the network, then compute the targets.

    a_C is the activation of C at ``config.content_layer``;
    ``grams_S[l] = gram_matrix(unroll(a_S^[l])) · M_G / M_S`` for each style layer l, with M = n_H·n_W of G
    (C's size) and of S at that layer. Graded on a network whose weights still require grad and that is in
    training mode (as a freshly built one is): afterwards its weights must be frozen and the model in eval
    mode, the targets must carry no gradient graph, and two steps of the loop with these targets must leave
    the weights without ``.grad``.
    """

    def body() -> str:
        config, make_model, C, S, G0 = _tiny_problem(seed)
        a_C_ref, grams_ref = _expected_targets(make_model(), C, S, config)
        model = make_model(frozen=False)
        out = _call(fn, model, C.clone(), S.clone(), config)
        if not (isinstance(out, (tuple, list)) and len(out) == 2):
            _wrong(f"{_name(fn)} returned {type(out).__name__}; return the pair (a_C, grams_S).")
        a_C, grams_S = out
        a_C = _tensor(fn, a_C, "a_C, the content image's activation at config.content_layer")
        if a_C.shape != a_C_ref.shape:
            _wrong(
                f"a_C has shape {_shape(a_C)}; the activation of C at {config.content_layer} has shape "
                f"{_shape(a_C_ref)}."
            )
        if not torch.allclose(a_C.detach().double(), a_C_ref.double(), rtol=1e-5, atol=1e-6):
            _wrong(
                f"a_C differs from the network's activation of C at config.content_layer "
                f"({config.content_layer}) by up to {_g(float((a_C.detach() - a_C_ref).abs().max()))}."
            )
        if not isinstance(grams_S, dict):
            _wrong(f"grams_S is a {type(grams_S).__name__}; return a dict {{style layer: Gram matrix}}.")
        with torch.no_grad():  # M = n_H·n_W of each style layer's activation, for G (C's size) and for S
            M_G = {k: a.shape[-2] * a.shape[-1] for k, a in make_model()(C, list(grams_ref)).items()}
            M_S = {k: a.shape[-2] * a.shape[-1] for k, a in make_model()(S, list(grams_ref)).items()}
        for layer, ref in grams_ref.items():
            if layer not in grams_S:
                _wrong(f"grams_S has no entry for the style layer {layer!r}; it holds {list(grams_S)}.")
            G_S = _tensor(fn, grams_S[layer], f"the Gram matrix of S at {layer}")
            if G_S.shape != ref.shape:
                hint = " — is it the activation, not its Gram matrix?" if G_S.dim() == 4 else ""
                _wrong(
                    f"grams_S[{layer!r}] has shape {_shape(G_S)}; a Gram matrix there is {_shape(ref)}{hint}."
                )
            got, ref = G_S.detach().double(), ref.double()
            if torch.allclose(got, ref, rtol=1e-5):
                continue
            plain = ref * (M_S[layer] / M_G[layer])  # S's Gram matrix as it is
            if torch.allclose(got, plain, rtol=1e-5):
                _wrong(
                    f"grams_S[{layer!r}] is S's Gram matrix as it is; S and G differ in size, so "
                    f"rescale it by M_G / M_S (n_H·n_W of G's activation over S's at that layer)."
                )
            if torch.allclose(got, plain * (M_S[layer] / M_G[layer]), rtol=1e-5):
                _wrong(
                    f"grams_S[{layer!r}] is rescaled by M_S / M_G; the factor is M_G / M_S (G's "
                    f"positions over S's)."
                )
            _wrong(
                f"grams_S[{layer!r}] differs from gram_matrix(unroll(a_S)) · M_G / M_S by up to "
                f"{_g(float((got - ref).abs().max()))}."
            )
        tracked = [
            name
            for name, t in (("a_C", a_C), *((f"grams_S[{k!r}]", v) for k, v in grams_S.items()))
            if isinstance(t, Tensor) and t.requires_grad
        ]
        outcome = _two_steps(model, C, G0, a_C, grams_S, config)
        if tracked:
            _wrong(
                f"{tracked[0]} requires grad: the targets were computed with gradient tracking, so each "
                f"J.backward() also runs back through them into the network ({outcome}). They are "
                f"constants: compute them under `with torch.no_grad():` (or .detach() them)."
            )
        if any(p.requires_grad for p in model.parameters()):
            _wrong(
                f"the network is not frozen: its weights still require grad, so every J.backward() also "
                f"computes gradients for them ({outcome}); call model.requires_grad_(False)."
            )
        if model.training:
            _wrong(
                "the network is still in training mode; call model.eval() (VGG19Features has no dropout "
                "or batch norm, but a network with them would change its features from call to call)."
            )
        if outcome != "two steps ran, no weight got a .grad":
            _wrong(f"with these targets, {outcome}.")
        return (
            "network frozen (eval, no weight requires grad); a_C and the rescaled Gram matrices of S, "
            "no graph."
        )

    return _check("compute_targets", body)


def _two_steps(model, C: Tensor, G0: Tensor, a_C, grams_S, config) -> str:
    """Two Adam steps of ``run``'s loop with the learner's targets; say what went wrong, if anything."""
    from ..core.transfer import Objective

    with torch.no_grad():
        objective = Objective(model, C, C, config)  # its own targets are replaced by the learner's
    objective.a_C = a_C
    objective.terms = tuple(dataclasses.replace(t, target=grams_S[t.layer]) for t in objective.terms)
    G = G0.clone().requires_grad_(True)
    optimizer = torch.optim.Adam([G], lr=config.lr)
    for k in (1, 2):
        optimizer.zero_grad(set_to_none=True)
        try:
            objective(G)["total"].backward()
        except RuntimeError:
            return f"step {k} of the loop failed with RuntimeError"
        optimizer.step()
    with_grad = sum(p.grad is not None for p in model.parameters())
    if with_grad:
        return f"after two steps, {with_grad} weight tensors of the network had a .grad"
    return "two steps ran, no weight got a .grad"


def _check_loop_step(fn, kind: str, seed: int) -> None:
    from ..core.transfer import Objective

    lr = 0.05 if kind == "adam" else 1.0
    config, make_model, C, S, G0 = _tiny_problem(seed, optimizer=kind, lr=lr)
    model = make_model()
    with torch.no_grad():
        objective = Objective(model, C, S, config)
    targets = (objective.a_C, objective.grams_S)
    expected = _reference_loop(objective, G0, kind, config)
    what = f"{'Adam, lr = 0.05' if kind == 'adam' else 'BoxLBFGS'}, {_LOOP_STEPS} steps"
    got = _run_learner_loop(fn, G0, kind, model, (targets[0], dict(targets[1])), config)
    _compare_loop(fn, got, expected, objective, G0, kind, config, what)


def check_train_step(fn, seed: int = 0) -> CheckResult:
    r"""Grade ``fn(G, optimizer, model, targets, config) -> J``: one step of the course's loop, with Adam.

    ``targets`` is ``(a_C, grams_S)`` as ``compute_targets`` returns it. The step: ``optimizer.zero_grad()``,
    $J(G) = \alpha J_{content} + \beta \sum_l \lambda_l J^{[l]}_{style}$ from ``costs``, ``J.backward()``,
    ``optimizer.step()``, then G clamped to [0, 1] in place under ``torch.no_grad()``; it returns J (of G
    before the step). Graded for three steps against ``nst_edu.run``'s own step on a tiny network, from a
    start with pixels on 0 and 1 so that the clamp matters.
    """

    def body() -> str:
        _check_loop_step(fn, "adam", seed)
        return "zero_grad, J, J.backward(), step, clamp to [0, 1]: the same images as nst_edu.run's steps."

    return _check("train_step", body)


def check_closure_step(fn, seed: int = 0) -> CheckResult:
    r"""Grade ``fn(G, optimizer, model, targets, config) -> J``: one step through a closure, any optimizer.

    The closure zeroes the gradient, computes J and calls ``J.backward()``; ``optimizer.step(closure)`` then
    evaluates it, and G is clamped to [0, 1] in place. Graded for three steps against ``nst_edu.run``'s own
    step with the package's ``BoxLBFGS``, and with Adam (whose ``step`` also takes a closure).
    """

    def body() -> str:
        _check_loop_step(fn, "lbfgs", seed)
        _check_loop_step(fn, "adam", seed)
        return (
            "optimizer.step(closure), then the clamp: the same images as nst_edu.run with BoxLBFGS and Adam."
        )

    return _check("closure_step", body)


# --------------------------------------------------------------------------------------------------
# Colour and regions (lesson 08): luminance, guided Gram matrices
# --------------------------------------------------------------------------------------------------


_BT601 = (0.299, 0.587, 0.114)  # NTSC / BT.601 luma: YIQ's Y
_BT709 = (0.2126, 0.7152, 0.0722)  # HDTV / BT.709 luma: another standard's weights
_IQ = ((0.595716, -0.274453, -0.321263), (0.211456, -0.522591, 0.311135))  # YIQ's I and Q rows
_IQ_ATOL = 2e-3  # the textbook's rounded I, Q rows (0.596, -0.274, -0.322; 0.211, -0.523, 0.312) pass


def _weighted(x: Tensor, w) -> Tensor:
    """Σ_c w_c x[0, c] in float64, written out channel by channel: (1, 3, H, W) -> (H, W)."""
    x = x.detach().double()
    return w[0] * x[0, 0] + w[1] * x[0, 1] + w[2] * x[0, 2]


def check_luminance(fn, seed: int = 0) -> CheckResult:
    r"""Grade ``fn(x) -> Y`` (or ``-> YIQ``): the luminance of an RGB image in [0, 1], channels first.

    $$Y = 0.299 R + 0.587 G + 0.114 B$$ (NTSC/BT.601, YIQ's Y). ``x`` is (1, 3, H, W); ``fn`` returns Y as
    (1, 1, H, W), (1, H, W) or (H, W), or all of YIQ as (1, 3, H, W) (then I and Q are graded too:
    $I = 0.596 R - 0.274 G - 0.322 B$, $Q = 0.211 R - 0.523 G + 0.312 B$). The first image is 3 pixels wide,
    so code written for channels-last (H, W, 3) arrays runs on it, and shows its mistake.
    """

    def body() -> str:
        gen = torch.Generator().manual_seed(seed)
        for shape in ((1, 3, 4, 3), (1, 3, 5, 7)):
            _, _, H, W = shape
            x = torch.rand(*shape, generator=gen)  # (1, 3, H, W) in [0, 1]
            x[0, :, 0, 0] = 0.5  # one grey pixel: its Y is its grey level
            Y = _weighted(x, _BT601)  # (H, W)
            x_in = x.clone()
            out = _tensor(fn, _call(fn, x_in), "the luminance Y (or YIQ)")
            if not torch.equal(x_in, x):
                _wrong(f"{_name(fn)} changed x in place; compute on a new tensor.")
            got = out.detach().double()
            setting = f"x of shape {shape}"
            as_channels_last = (
                x.detach().double()[0] @ torch.tensor(_BT601, dtype=torch.float64) if W == 3 else None
            )
            if as_channels_last is not None and got.numel() == as_channels_last.numel():
                if torch.allclose(got.reshape(-1), as_channels_last.reshape(-1), rtol=RTOL, atol=1e-6):
                    _wrong(
                        f"on {setting} your code weighted the LAST axis (the width, 3 pixels here) as if x were "
                        f"channels-last (H, W, 3); x is channels-first (1, 3, H, W): weight x[:, 0], x[:, 1], x[:, 2]."
                    )
            scrambled = x.detach().double().reshape(-1, 3) @ torch.tensor(
                _BT601, dtype=torch.float64
            )  # (H*W,)
            if got.numel() == H * W and torch.allclose(got.reshape(-1), scrambled, rtol=RTOL, atol=1e-6):
                _wrong(
                    f"on {setting} the pixels were read as x.reshape(-1, 3), as if x were channels-last (H, W, 3); "
                    f"x is channels-first (1, 3, H, W), so each row of 3 mixes pixels of one channel: weight "
                    f"x[:, 0], x[:, 1], x[:, 2]."
                )
            yiq = got.dim() == 4 and tuple(got.shape) == (1, 3, H, W)
            if yiq:
                got_Y = got[0, 0]
            elif tuple(got.shape) in ((1, 1, H, W), (1, H, W), (H, W)):
                got_Y = got.reshape(H, W)
            else:
                _wrong(
                    f"for {setting}, expected Y of shape (1, 1, H, W) = {(1, 1, H, W)} (or (H, W), or YIQ "
                    f"(1, 3, H, W)), got {_shape(out)}; x is channels-first: its channels are x[:, 0], x[:, 1], "
                    f"x[:, 2]."
                )
            if not torch.allclose(got_Y, Y, rtol=1e-5, atol=1e-6):
                known = {
                    "these are the BT.709 (HDTV) weights 0.2126, 0.7152, 0.0722; YIQ's Y uses NTSC's (BT.601) "
                    "0.299, 0.587, 0.114": _weighted(x, _BT709),
                    "that is the plain mean of R, G and B; luminance weights the channels, 0.299 R + 0.587 G + "
                    "0.114 B (green looks brightest, blue darkest)": _weighted(x, (1 / 3, 1 / 3, 1 / 3)),
                    "the values are 255 times too large: the images are in [0, 1], so is their luminance "
                    "(do not scale to 0–255)": Y * 255,
                    "the weights are in BGR order (0.114 R + 0.587 G + 0.299 B); x is RGB": _weighted(
                        x, _BT601[::-1]
                    ),
                    "that is the BT.709 weights on 0–255 values; use 0.299, 0.587, 0.114 on [0, 1]": _weighted(
                        x, _BT709
                    )
                    * 255,
                }
                for mistake, value in known.items():
                    if torch.allclose(got_Y, value, rtol=1e-4, atol=1e-5):
                        _wrong(f"{mistake} ({setting}).")
                _wrong(
                    f"for {setting}, Y differs from 0.299 R + 0.587 G + 0.114 B by up to "
                    f"{_g(float((got_Y - Y).abs().max()))}."
                )
            if yiq:
                for k, name in ((1, "I"), (2, "Q")):
                    expected = _weighted(x, _IQ[k - 1])
                    if not torch.allclose(got[0, k], expected, rtol=0, atol=_IQ_ATOL):
                        _wrong(
                            f"Y is right but {name} (channel {k}) differs from the YIQ row {_IQ[k - 1]} by up to "
                            f"{_g(float((got[0, k] - expected).abs().max()))} ({setting}); a grey pixel must have "
                            f"I = Q = 0."
                        )
        return "Y = 0.299 R + 0.587 G + 0.114 B on channels-first images in [0, 1]."

    return _check("luminance", body)


def _block_mean(mask: Tensor, n_H: int, n_W: int) -> Tensor:
    """The mask at a layer of n_H × n_W positions: each position's d × d block of pixels averaged, in loops."""
    H, W = mask.shape
    dh, dw = H // n_H, W // n_W
    m = torch.empty(n_H, n_W, dtype=torch.float64)
    for p in range(n_H):
        for q in range(n_W):
            m[p, q] = mask[p * dh : (p + 1) * dh, q * dw : (q + 1) * dw].double().mean()
    return m  # (n_H, n_W)


def _guided(a: Tensor, m: Tensor, norm: str = "area", both: bool = True, unroll=_unrolled) -> Tensor:
    """M / Σ m² · (A m)(A m)ᵀ in float64, and the variants learners write (by ``norm`` and ``both``)."""
    A = unroll(a)  # (n_C, M)
    w = m.reshape(-1).double()  # (M,)
    M = w.numel()
    left, right = A * w, (A * w if both else A)  # (n_C, M) each
    G = torch.einsum("ik,jk->ij", left, right)  # (n_C, n_C)
    scale = {"area": M / float((w**2).sum()), "plain area": M / float(w.sum()), "none": 1.0, "M": 1 / M}
    scale["area only"] = 1 / float((w**2).sum())
    return G * scale[norm]


def check_guided_gram(fn, seed: int = 0) -> CheckResult:
    r"""Grade ``fn(a, mask) -> G_gram``: the guided Gram matrix of one region (Gatys et al. 2017).

    $$G^{(m)}_{gram} = \frac{M}{\sum_k m_k^2} (A \odot m)(A \odot m)^T$$

    ``a`` (1, n_C, n_H, n_W) is a layer's activation; ``mask`` (H, W) the region at the image's size, with
    H = d·n_H, W = d·n_W: resize it to the layer by averaging each position's d × d block (``masks.to_layer``
    or ``F.adaptive_avg_pool2d``), multiply the unrolled A's column k by m_k, and normalise by the mask's
    area Σ m² (M = n_H·n_W). The mask is soft (values between 0 and 1), as a resized mask is at its edges.
    """

    def body() -> str:
        gen = torch.Generator().manual_seed(seed)
        for shape, d in (((1, 3, 3, 5), 2), ((1, 4, 4, 2), 4)):
            _, n_C, n_H, n_W = shape
            a = _randn(gen, *shape, grad=True)  # (1, n_C, n_H, n_W)
            mask = torch.rand(n_H * d, n_W * d, generator=gen)  # (H, W), soft
            mask[: d * n_H // 2] *= 0.2  # an uneven region: the top half weighs less
            m = _block_mean(mask, n_H, n_W)  # (n_H, n_W)
            expected = _guided(a.detach(), m)
            setting = f"a of shape {shape}, a soft mask of shape {tuple(mask.shape)}"
            try:
                out = _call(fn, a, mask.clone())
            except _Verdict as verdict:
                if verdict.message.startswith("✗ your function raised") and "size" in verdict.message:
                    raise _Verdict(
                        f"{verdict.message} — on {setting}: resize the mask to a's positions (n_H, n_W) = "
                        f"{(n_H, n_W)} before weighting A's columns."
                    ) from None
                raise
            out = _tensor(fn, out, "the guided Gram matrix (n_C, n_C)")
            if tuple(out.shape) != (n_C, n_C):
                hint = (
                    " — the activation was not unrolled: reshape the masked a to (n_C, n_H*n_W) before A Aᵀ"
                    if out.dim() > 2
                    else ""
                )
                _wrong(f"for {setting}, expected shape (n_C, n_C) = {(n_C, n_C)}, got {_shape(out)}{hint}.")
            if out.grad_fn is None:
                _wrong(
                    f"{_name(fn)}'s result carries no gradient with respect to a; use torch operations only (no "
                    f".numpy(), .detach() or torch.no_grad()), or the style cost could not move G's pixels."
                )
            got = out.detach().double()
            if torch.allclose(got, expected, rtol=RTOL):
                continue
            nearest = mask[d // 2 :: d, d // 2 :: d].double()  # (n_H, n_W): one pixel per block
            swapped = masks.to_layer(mask, (n_W, n_H)).reshape(
                n_H, n_W
            )  # resized to (n_W, n_H), then reshaped
            known = {
                "not normalised by the mask's area: multiply (A m)(A m)ᵀ by M / Σ_k m_k², as the target "
                "(S's whole Gram matrix at G's M positions) is": _guided(a.detach(), m, "none"),
                "that is (A m)(A m)ᵀ / M, normalised by M = n_H·n_W; the region covers only part of the layer: "
                "normalise by its area, M / Σ_k m_k²": _guided(a.detach(), m, "M"),
                "that is (A m)(A m)ᵀ / Σ m², the mean over the region; multiply by M = n_H·n_W too, so that it "
                "compares with a Gram matrix of M positions": _guided(a.detach(), m, "area only"),
                "the area is Σ m, but the features are weighted twice (A m)(A m)ᵀ, so each position counts m²: "
                "normalise by Σ_k m_k² (the same for a binary mask, not for a soft one)": _guided(
                    a.detach(), m, "plain area"
                ),
                "only one factor is masked, (A m) Aᵀ: right for a binary mask (m² = m) but not for a soft one; "
                "weight both, (A m)(A m)ᵀ": _guided(a.detach(), m, both=False),
                "only one factor is masked, (A m) Aᵀ, normalised by Σ m; weight both factors and normalise by "
                "Σ m²": _guided(a.detach(), m, "plain area", both=False),
                "the mask was resized by picking one pixel per position (nearest); average each position's block "
                "of pixels (masks.to_layer or F.adaptive_avg_pool2d)": _guided(a.detach(), nearest),
                "the channels are scrambled: the masked activation was reshaped channels-last; unroll with "
                "a.reshape(n_C, n_H * n_W)": _guided(a.detach(), m, unroll=_channels_last_unroll),
                f"the mask was resized to (n_W, n_H) = {(n_W, n_H)}, the layer's sides swapped, and then "
                f"flattened; resize it to a's (n_H, n_W) = {(n_H, n_W)}": _guided(a.detach(), swapped),
            }
            for mistake, value in known.items():
                if torch.allclose(got, value, rtol=RTOL):
                    _wrong(f"{mistake} ({setting}).")
            ratio = float((got * expected).sum() / (expected * expected).sum())
            _wrong(
                f"for {setting}, the result differs from M / Σ m² · (A m)(A m)ᵀ by up to "
                f"{_g(float((got - expected).abs().max()))} (best-fit scale {_g(ratio)})."
            )
        return "G = M / Σ m² · (A m)(A m)ᵀ, the mask averaged over each position's pixels, with its gradient."

    return _check("guided_gram", body)
