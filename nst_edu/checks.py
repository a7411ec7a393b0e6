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

import math
import numbers
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from . import costs

__all__ = [
    "CheckResult",
    "check_unroll",
    "check_content_cost",
    "check_gram_matrix",
    "check_layer_style_cost",
    "check_style_cost",
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
            _wrong(f"{_name(fn)} returned a Python number ({type(out).__name__}); return the tensor "
                   f"itself (.item() or float() cut the gradient the optimizer needs).")
        _wrong(f"{_name(fn)} returned {type(out).__name__}; expected {what} as a torch.Tensor.")
    return out


def _scalar(fn, out, *, needs_grad: bool) -> float:
    """The learner's cost as a float, after checking it is a one-value tensor that carries the gradient."""
    out = _tensor(fn, out, "a scalar cost")
    if out.numel() != 1:
        _wrong(f"{_name(fn)} returned a tensor of shape {tuple(out.shape)}; a cost is one number, "
               f"shape () (did you forget the sum?).")
    if needs_grad and not out.requires_grad:
        _wrong(f"{_name(fn)}'s result carries no gradient with respect to a_G; use torch operations "
               f"only (no .numpy(), .item(), .detach() or torch.no_grad()).")
    value = float(out.detach().double())
    if not math.isfinite(value):
        _wrong(f"{_name(fn)} returned {value}.")
    return value


def _same(package: Tensor | float, independent: Tensor | float, what: str) -> float:
    """The expected value, after making sure the package and the independent formula agree."""
    p = float(torch.as_tensor(package).double())
    i = float(torch.as_tensor(independent).double())
    if not _close(p, i):  # a bug in nst_edu, not in the learner's code: make it loud
        raise RuntimeError(f"nst_edu.checks: costs.{what} gives {p!r} but the formula gives {i!r}; "
                           f"please report this bug.")
    return i


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
            if not torch.equal(costs.unroll(a).double(), expected):
                raise RuntimeError("nst_edu.checks: costs.unroll disagrees with the formula; please report this bug.")
            A = _tensor(fn, _call(fn, a.clone()), "the unrolled matrix A")
            if tuple(A.shape) != (n_C, n_H * n_W):
                hint = " — rows and columns are swapped (transpose it)" if tuple(A.shape) == (n_H * n_W, n_C) else ""
                _wrong(f"for a of shape {shape}, expected A of shape (n_C, n_H*n_W) = {(n_C, n_H * n_W)}, "
                       f"got {_shape(A)}{hint}.")
            A = A.detach().double()
            if torch.allclose(A, expected):
                continue
            if torch.allclose(A, _channels_last_unroll(a)):
                _wrong("the shape is right but the rows mix channels: you reshaped a channels-last "
                       "(n_H, n_W, n_C) array to (n_C, -1). Reshape the channels-first tensor, "
                       "a.reshape(n_C, n_H * n_W), or transpose a channels-last one after reshaping.")
            if torch.allclose(A.sort(dim=1).values, expected.sort(dim=1).values):
                _wrong("each row holds the right channel, but the positions are in another order "
                       "(the Gram matrix would not notice); A[c, h*n_W + w] should be a[0, c, h, w], "
                       "which is what a.reshape(n_C, n_H * n_W) gives.")
            _wrong(f"for a of shape {shape}, A differs from a.reshape(n_C, n_H*n_W) "
                   f"(largest difference {_g(float((A - expected).abs().max()))}).")
        return "A = a.reshape(n_C, n_H*n_W), each row one channel."

    return _check("unroll", body)


def check_content_cost(fn, seed: int = 0) -> CheckResult:
    r"""Grade ``fn(a_C, a_G) -> J``: $J_{content} = \frac{1}{4 n_H n_W n_C} \sum (a_C - a_G)^2$."""

    def body() -> str:
        gen = torch.Generator().manual_seed(seed)
        for shape in ((1, 3, 4, 5), (1, 6, 3, 2)):
            _, n_C, n_H, n_W = shape
            a_C, a_G = _randn(gen, *shape), _randn(gen, *shape, grad=True)
            D = (a_C.detach().double() - a_G.detach().double())
            norm = 4 * n_H * n_W * n_C
            expected = _same(costs.content_cost(a_C, a_G.detach()), float((D**2).sum()) / norm, "content_cost")
            got = _scalar(fn, _call(fn, a_C.clone(), a_G), needs_grad=True)
            _diagnose(fn, got, expected, {
                "the factor 4 is missing from 1/(4 n_H n_W n_C)": 4 * expected,
                "the sum is not normalized: divide by 4 n_H n_W n_C": norm * expected,
                "the differences are not squared": float(D.sum()) / norm,
                "the differences are not squared (absolute values summed)": float(D.abs().sum()) / norm,
                "this is the norm ‖a_C − a_G‖, not its square": math.sqrt(float((D**2).sum())) / norm,
            }, f"a_C, a_G of shape {shape}")
        return "J_content = Σ(a_C − a_G)² / (4 n_H n_W n_C), with its gradient."

    return _check("content_cost", body)


def check_gram_matrix(fn, seed: int = 0) -> CheckResult:
    """Grade ``fn(A) -> G_gram``: A (n_C, M) -> A Aᵀ (n_C, n_C)."""

    def body() -> str:
        gen = torch.Generator().manual_seed(seed)
        for n_C, M in ((3, 20), (5, 12)):
            A = _randn(gen, n_C, M)
            expected = _gram(A)
            if not torch.allclose(costs.gram_matrix(A).double(), expected, rtol=RTOL):
                raise RuntimeError("nst_edu.checks: costs.gram_matrix disagrees with A Aᵀ; please report this bug.")
            G_gram = _tensor(fn, _call(fn, A.clone()), "the Gram matrix")
            if tuple(G_gram.shape) != (n_C, n_C):
                hint = " — that is AᵀA; the Gram matrix is A Aᵀ" if tuple(G_gram.shape) == (M, M) else ""
                _wrong(f"for A of shape {(n_C, M)}, expected G_gram of shape (n_C, n_C) = {(n_C, n_C)}, "
                       f"got {_shape(G_gram)}{hint}.")
            G_gram = G_gram.detach().double()
            if torch.allclose(G_gram, expected, rtol=RTOL):
                continue
            for scale, mistake in ((1 / M, "divided by M = n_H·n_W"), (1 / (n_C * M), "divided by n_C·M")):
                if torch.allclose(G_gram, expected * scale, rtol=RTOL):
                    _wrong(f"your Gram matrix is A Aᵀ {mistake}; the course's G_gram = A Aᵀ has no "
                           f"normalization (the style cost's constant takes care of it).")
            _wrong(f"for A of shape {(n_C, M)}, G_gram differs from A Aᵀ "
                   f"(largest difference {_g(float((G_gram - expected).abs().max()))}).")
        return "G_gram = A Aᵀ, shape (n_C, n_C)."

    return _check("gram_matrix", body)


def _layer_style_mistakes(a_S: Tensor, a_G: Tensor, expected: float) -> dict[str, float]:
    _, n_C, n_H, n_W = a_G.shape
    M = n_H * n_W
    D = _gram(_unrolled(a_S)) - _gram(_unrolled(a_G))
    norm = 4 * n_C**2 * M**2
    return {
        "that is the seed write-up's constant 1/(4 n_H n_W n_C)², ¼ of the course's 1/(4 n_C² (n_H n_W)²)":
            expected / 4,
        "the factor 4 is missing from 1/(4 n_C² (n_H n_W)²)": 4 * expected,
        "the sum is not normalized: divide by 4 n_C² (n_H n_W)²": norm * expected,
        "(n_H n_W) is not squared in 1/(4 n_C² (n_H n_W)²)": M * expected,
        "n_C is not squared in 1/(4 n_C² (n_H n_W)²)": n_C * expected,
        "the channels are scrambled: the activations were reshaped channels-last (n_H, n_W, n_C) to "
        "(n_C, -1); unroll with a.reshape(n_C, n_H * n_W)":
            _layer_style(a_S, a_G, unroll=_channels_last_unroll),
        "the Gram differences are not squared": float(D.sum()) / norm,
        "this is the norm ‖G_S − G_G‖, not its square": math.sqrt(float((D**2).sum())) / norm,
    }


def check_layer_style_cost(fn, seed: int = 0) -> CheckResult:
    r"""Grade ``fn(a_S, a_G) -> J``: $J^{[l]}_{style} = \frac{1}{4 n_C^2 (n_H n_W)^2} \sum_{ij} (G^{(S)}_{ij} - G^{(G)}_{ij})^2$."""

    def body() -> str:
        gen = torch.Generator().manual_seed(seed)
        for shape in ((1, 3, 4, 5), (1, 4, 3, 2)):
            a_S, a_G = _randn(gen, *shape), _randn(gen, *shape, grad=True)
            expected = _same(costs.layer_style_cost(a_S, a_G.detach()), _layer_style(a_S, a_G),
                             "layer_style_cost")
            got = _scalar(fn, _call(fn, a_S.clone(), a_G), needs_grad=True)
            _diagnose(fn, got, expected, _layer_style_mistakes(a_S, a_G, expected), f"a_S, a_G of shape {shape}")
        return "J_style^[l] = Σ(G_gram(S) − G_gram(G))² / (4 n_C² (n_H n_W)²), with its gradient."

    return _check("layer_style_cost", body)


def check_style_cost(fn, seed: int = 0) -> CheckResult:
    r"""Grade ``fn(a_S, a_G, style_weights) -> J``: $J_{style} = \sum_l \lambda^{[l]} J^{[l]}_{style}$.

    ``a_S`` and ``a_G`` are dicts {layer: (1, n_C, n_H, n_W)} that also hold a layer style_weights does not
    name (as a feature extractor's output does); ``style_weights`` is the course's [(layer, λ), ...].
    """

    def body() -> str:
        gen = torch.Generator().manual_seed(seed)
        shapes = {"relu1_1": (1, 3, 6, 4), "relu2_1": (1, 5, 3, 2), "relu3_1": (1, 7, 2, 1), "relu4_2": (1, 4, 2, 2)}
        style_weights = [("relu1_1", 0.5), ("relu2_1", 1.0), ("relu3_1", 0.25)]
        a_S = {layer: _randn(gen, *s) for layer, s in shapes.items()}
        a_G = {layer: _randn(gen, *s, grad=True) for layer, s in shapes.items()}
        per_layer = {layer: _layer_style(a_S[layer], a_G[layer]) for layer in shapes}
        expected = _same(
            costs.style_cost(a_S, {k: v.detach() for k, v in a_G.items()}, style_weights),
            sum(w * per_layer[layer] for layer, w in style_weights), "style_cost")
        weights = dict(style_weights)
        got = _scalar(fn, _call(fn, {k: v.clone() for k, v in a_S.items()}, a_G, list(style_weights)),
                      needs_grad=True)
        _diagnose(fn, got, expected, {
            "the layers are summed without their weights λ^[l]": sum(per_layer[layer] for layer in weights),
            "this is the mean over layers; J_style is the λ-weighted sum": expected / len(weights),
            "the weighted sum is divided by Σλ; J_style is Σ_l λ^[l] J_style^[l] as it is":
                expected / sum(weights.values()),
            "the sum includes relu4_2, a layer of a_S/a_G that style_weights does not name; sum over "
            "style_weights": expected + per_layer["relu4_2"],
        }, "3 weighted layers (λ = 0.5, 1, 0.25)")
        return "J_style = Σ_l λ^[l] J_style^[l] over the layers of style_weights."

    return _check("style_cost", body)


# --------------------------------------------------------------------------------------------------
# Lessons 03 and 04: the total cost and the content + uniform-noise start
# --------------------------------------------------------------------------------------------------

__all__ += ["check_total_cost", "check_uniform_noise"]


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
            package = float(torch.as_tensor(costs.total_cost(J_content.detach(), J_style.detach(), alpha, beta)))
            if not math.isclose(package, expected, rel_tol=RTOL):
                raise RuntimeError(f"nst_edu.checks: costs.total_cost gives {package!r} but α J_content + "
                                   f"β J_style = {expected!r}; please report this bug.")
            out = _call(fn, J_content, J_style, alpha, beta)
            got = _scalar(fn, out, needs_grad=False)
            if not out.requires_grad:
                _wrong(f"{_name(fn)}'s result carries no gradient with respect to J_content and J_style; use "
                       f"torch operations only (no .item(), .detach(), torch.tensor(…) or torch.no_grad()).")
            setting = f"J_content = {_g(c)}, J_style = {_g(s)}, α = {alpha:g}, β = {beta:g}"
            _diagnose(fn, got, expected, {
                "α and β are swapped: α weights J_content, β weights J_style": beta * c + alpha * s,
                "the weights α and β are missing": c + s,
                "only α J_content is returned; add β J_style": alpha * c,
                "only β J_style is returned; add α J_content": beta * s,
                "that is α J_content − β J_style; the two costs are added": alpha * c - beta * s,
                "the costs are multiplied; J is the weighted SUM α J_content + β J_style": alpha * c * beta * s,
                "α is used for both terms": alpha * (c + s),
                "β is used for both terms": beta * (c + s),
                "that is the weighted mean (α J_content + β J_style)/(α + β); do not divide":
                    expected / (alpha + beta),
                "the course's default weights α = 10, β = 40 are used instead of the alpha and beta passed in":
                    10 * c + 40 * s,
            }, setting)
            J_content.grad = J_style.grad = None
            try:
                out.backward()
            except Exception as exc:  # a learner's graph that cannot be differentiated
                _wrong(f"backpropagating through {_name(fn)}'s result failed: {type(exc).__name__}: {exc}")
            g_c = None if J_content.grad is None else float(J_content.grad)
            g_s = None if J_style.grad is None else float(J_style.grad)
            if g_c is None or g_s is None or not (_close(g_c, alpha) and _close(g_s, beta)):
                _wrong(f"∂J/∂J_content should be α = {alpha:g} and ∂J/∂J_style should be β = {beta:g}, got "
                       f"{g_c} and {g_s} on {setting}; build J from J_content and J_style with torch "
                       f"operations only.")
        return "J = α J_content + β J_style, with its gradient."

    return _check("total_cost", body)


def check_uniform_noise(fn, seed: int = 0) -> CheckResult:
    r"""Grade ``fn(C, ratio, seed) -> G0``: $G_0 = \mathrm{clip}_{[0,1]}((1 - r) C + r N)$, $N \sim \mathcal{U}(0, 1)$.

    The noise must be the draw ``torch.rand(C.shape, generator=torch.Generator().manual_seed(seed))``, so that
    the answer equals ``noise.initial_image(C, "uniform", ratio, seed)`` pixel for pixel.
    """
    from . import noise

    def body() -> str:
        # C from its own stream: drawn from the noise's seed, C would equal N and hide swapped weights.
        gen = torch.Generator().manual_seed(1000 + seed)
        for ratio, noise_seed, (H, W) in ((0.6, seed, (6, 8)), (0.2, seed + 7, (5, 3))):
            C = torch.rand(1, 3, H, W, generator=gen)  # (1, 3, H, W) in [0, 1]
            N = torch.rand(C.shape, generator=torch.Generator().manual_seed(noise_seed))  # (1, 3, H, W)
            expected = ((1 - ratio) * C.double() + ratio * N.double()).clamp(0, 1)
            package = noise.initial_image(C, "uniform", ratio, noise_seed)
            if not torch.allclose(package.double(), expected, atol=1e-6):
                raise RuntimeError("nst_edu.checks: noise.initial_image(kind='uniform') disagrees with "
                                   "clip((1 − r) C + r N); please report this bug.")
            C_in = C.clone()
            G0 = _tensor(fn, _call(fn, C_in, ratio, noise_seed), "the starting image G0")
            setting = f"C of shape {tuple(C.shape)}, ratio = {ratio:g}, seed = {noise_seed}"
            if not torch.equal(C_in, C):
                _wrong(f"{_name(fn)} changed C in place; build G0 as a new tensor (no C.mul_(…), C += …).")
            if tuple(G0.shape) != tuple(C.shape):
                _wrong(f"G0 should have C's shape {tuple(C.shape)}, got {_shape(G0)} on {setting}.")
            G0 = G0.detach().double()
            if torch.allclose(G0, expected, atol=1e-6):
                continue
            known = {
                "the weights are swapped: (1 − r) goes with C and r with the noise N":
                    (ratio * C.double() + (1 - ratio) * N.double()).clamp(0, 1),
                "that is the additive recipe clip(C + r(2N − 1)); the uniform one mixes (1 − r) C + r N":
                    (C.double() + ratio * (2 * N.double() - 1)).clamp(0, 1),
                "that is C + r N, without the factor (1 − r) on C": (C.double() + ratio * N.double()).clamp(0, 1),
                "that is pure noise N; keep (1 − r) C in the mix": N.double(),
                "that is C itself: no noise was added": C.double(),
            }
            for mistake, value in known.items():
                if torch.allclose(G0.clamp(0, 1), value, atol=1e-6):  # clipped or not, the same mistake
                    _wrong(f"{mistake} ({setting}).")
            if float(G0.min()) < -1e-6 or float(G0.max()) > 1 + 1e-6:
                _wrong(f"G0 has values in [{_g(float(G0.min()))}, {_g(float(G0.max()))}]; an image lives in "
                       f"[0, 1] (clip it) ({setting}).")
            N_implied = (G0 - (1 - ratio) * C.double()) / ratio  # what your noise must have been
            if float(N_implied.min()) > -1e-4 and float(N_implied.max()) < 1 + 1e-4:
                _wrong(f"the mix (1 − r) C + r N looks right but N is not the seeded draw ({setting}); draw it "
                       f"with torch.rand(C.shape, generator=torch.Generator().manual_seed(seed)), so that the "
                       f"same seed gives the same G0 as noise.initial_image.")
            _wrong(f"G0 differs from clip((1 − r) C + r N) by up to "
                   f"{_g(float((G0 - expected).abs().max()))} ({setting}).")
        return "G0 = clip((1 − r) C + r N), N ~ U(0, 1) from the seed: the same as noise.initial_image."

    return _check("uniform_noise", body)


__all__ += ["check_frame_changes"]


def check_frame_changes(fn, seed: int = 0) -> CheckResult:
    r"""Grade ``fn(frames) -> changes``: change[k] = mean |F_{k+1} − F_k| / 255 over all (h, w, c).

    ``frames`` is a list of K pairs ``(step, uint8 array (H, W, 3))`` as in ``Result.frames``; the answer is
    K − 1 numbers (a list, a NumPy array or a tensor), compared with ``animation.frame_changes`` and with
    the formula written out over Python integers.
    """
    import numpy as np

    from . import animation

    def body() -> str:
        rng = np.random.default_rng(seed)
        for K, (H, W) in ((5, (6, 8)), (3, (4, 3))):
            frames = [(5 * k, rng.integers(0, 256, size=(H, W, 3), dtype=np.uint8)) for k in range(K)]
            flat = [[int(v) for v in frame.ravel()] for _, frame in frames]
            expected = [sum(abs(b - a) for a, b in zip(flat[k], flat[k + 1])) / (255 * H * W * 3)
                        for k in range(K - 1)]
            package = animation.frame_changes(frames)
            if not np.allclose(package, expected, rtol=1e-9, atol=0):
                raise RuntimeError("nst_edu.checks: animation.frame_changes disagrees with mean |ΔF| / 255; "
                                   "please report this bug.")
            given = [(step, frame.copy()) for step, frame in frames]
            out = _call(fn, given)
            setting = f"{K} frames of shape ({H}, {W}, 3)"
            if any(not np.array_equal(a, b) for (_, a), (_, b) in zip(given, frames)):
                _wrong(f"{_name(fn)} changed the frames in place; compute on copies.")
            if out is None or isinstance(out, (str, bytes)):
                _wrong(f"{_name(fn)} returned {type(out).__name__}; expected K − 1 numbers (a list or an array)"
                       + (" — is the `return` missing?" if out is None else "."))
            try:
                got = np.asarray(out.detach().cpu() if isinstance(out, Tensor) else out, dtype=np.float64)
            except (TypeError, ValueError):
                _wrong(f"{_name(fn)} returned {type(out).__name__}; expected K − 1 numbers (a list or an array).")
            got = got.reshape(-1) if got.ndim > 1 and got.size == K - 1 else got
            if got.shape != (K - 1,):
                hint = " (one change per pair of consecutive frames: K frames give K − 1 changes)" \
                    if got.ndim == 1 else ""
                _wrong(f"{_name(fn)} returned shape {tuple(got.shape)} for {setting}; expected ({K - 1},){hint}.")
            if np.allclose(got, expected, rtol=1e-6, atol=1e-12):
                continue
            images = [frame.astype(np.float64) for _, frame in frames]  # (H, W, 3) in 0 … 255
            diffs = [b - a for a, b in zip(images[:-1], images[1:])]
            known = {
                "the uint8 frames were subtracted as uint8, which wraps around (3 − 5 = 254); convert them "
                "to float before subtracting": [
                    (frames[k + 1][1] - frames[k][1]).astype(np.float64).mean() / 255 for k in range(K - 1)],
                "that is in 0 … 255 units; divide by 255": [np.abs(d).mean() for d in diffs],
                "the absolute value is missing: changes of opposite sign cancel": [d.mean() / 255 for d in diffs],
                "those are squared differences; the change is the mean ABSOLUTE difference":
                    [((d / 255) ** 2).mean() for d in diffs],
                "that is the root mean square; the change is the mean absolute difference":
                    [np.sqrt(((d / 255) ** 2).mean()) for d in diffs],
                "that is the sum over pixels; take the mean": [np.abs(d).sum() / 255 for d in diffs],
                "each frame is compared with the first one; compare consecutive frames F_k and F_{k+1}":
                    [np.abs(images[k + 1] - images[0]).mean() / 255 for k in range(K - 1)],
            }
            for mistake, value in known.items():
                if np.allclose(got, value, rtol=1e-6, atol=1e-12):
                    _wrong(f"{mistake} ({setting}).")
            worst = int(np.argmax(np.abs(got - expected)))
            _wrong(f"change[{worst}] is {_g(float(got[worst]))} instead of {_g(expected[worst])} ({setting}).")
        return "change[k] = mean |F_{k+1} − F_k| / 255, the same as animation.frame_changes."

    return _check("frame_changes", body)
