"""The exercise checks: each fails on plausible wrong answers, says "not attempted" for the stub, raises
nothing for a learner's bug, and passes on the reference solution in notebooks/solutions/."""

import pytest
import torch
from conftest import load_solution as _solution
from conftest import stub

from nst_edu.teaching import checks

L01 = _solution("lesson01_content_cost")
L02 = _solution("lesson02_style_cost")


def _shape(a):
    _, n_C, n_H, n_W = a.shape
    return n_C, n_H, n_W


# ---- wrong answers a learner plausibly writes ------------------------------------------------------


def unroll_channels_last(a):
    n_C, n_H, n_W = _shape(a)
    return a[0].permute(1, 2, 0).reshape(n_C, -1)  # (n_H, n_W, n_C) -> (n_C, -1): scrambled


def unroll_transposed(a):
    n_C, n_H, n_W = _shape(a)
    return a.reshape(n_C, n_H * n_W).T


def unroll_column_major(a):
    n_C, n_H, n_W = _shape(a)
    return a[0].transpose(1, 2).reshape(n_C, n_H * n_W)  # positions w*n_H + h


def unroll_tf_port(a):
    n_C, n_H, n_W = _shape(a)
    return a.reshape(n_H * n_W, n_C).T  # the course's TF unroll, right for channels-last tensors only


def content_cost_no_four(a_C, a_G):
    n_C, n_H, n_W = _shape(a_G)
    return torch.sum((a_C - a_G) ** 2) / (n_H * n_W * n_C)


def content_cost_no_square(a_C, a_G):
    n_C, n_H, n_W = _shape(a_G)
    return torch.sum(torch.abs(a_C - a_G)) / (4 * n_H * n_W * n_C)


def content_cost_item(a_C, a_G):
    return L01.content_cost(a_C, a_G).item()


def content_cost_detached(a_C, a_G):
    return L01.content_cost(a_C, a_G.detach())


def content_cost_per_channel(a_C, a_G):
    n_C, n_H, n_W = _shape(a_G)
    return torch.sum((a_C - a_G) ** 2, dim=(0, 2, 3)) / (4 * n_H * n_W * n_C)


def content_cost_type_error(a_C, a_G):
    return a_C.numpy() - a_G  # a learner's crash: a tensor that requires grad can't become numpy


def gram_transposed(A):
    return A.T @ A


def gram_normalized(A):
    return A @ A.T / A.shape[1]


def gram_elementwise(A):
    return A * A


def layer_style_seed_constant(a_S, a_G):
    n_C, n_H, n_W = _shape(a_G)
    return 4 * n_C**2 * (n_H * n_W) ** 2 * L02.layer_style_cost(a_S, a_G) / (4 * n_H * n_W * n_C) ** 2


def layer_style_channels_last(a_S, a_G):
    n_C, n_H, n_W = _shape(a_G)
    G_S = L02.gram_matrix(unroll_channels_last(a_S))
    G_G = L02.gram_matrix(unroll_channels_last(a_G))
    return torch.sum((G_S - G_G) ** 2) / (4 * n_C**2 * (n_H * n_W) ** 2)


def layer_style_no_square(a_S, a_G):
    n_C, n_H, n_W = _shape(a_G)
    D = L02.gram_matrix(a_S.reshape(n_C, -1)) - L02.gram_matrix(a_G.reshape(n_C, -1))
    return torch.sum(D) / (4 * n_C**2 * (n_H * n_W) ** 2)


def layer_style_M_not_squared(a_S, a_G):
    n_C, n_H, n_W = _shape(a_G)
    D = L02.gram_matrix(a_S.reshape(n_C, -1)) - L02.gram_matrix(a_G.reshape(n_C, -1))
    return torch.sum(D**2) / (4 * n_C**2 * (n_H * n_W))


def layer_style_tf_port(a_S, a_G):
    n_C, n_H, n_W = _shape(a_G)
    G_S, G_G = L02.gram_matrix(unroll_tf_port(a_S)), L02.gram_matrix(unroll_tf_port(a_G))
    return torch.sum((G_S - G_G) ** 2) / (4 * n_C**2 * (n_H * n_W) ** 2)


def layer_style_tf_shape_order(a_S, a_G):
    _m, n_H, n_W, n_C = a_G.shape  # the course's TF order, on a PyTorch (1, n_C, n_H, n_W) tensor
    G_S = L02.gram_matrix(a_S.reshape(n_C, n_H * n_W))
    G_G = L02.gram_matrix(a_G.reshape(n_C, n_H * n_W))
    return torch.sum((G_S - G_G) ** 2) / (4 * n_C**2 * (n_H * n_W) ** 2)


def style_cost_unweighted(a_S, a_G, style_weights):
    return sum(L02.layer_style_cost(a_S[layer], a_G[layer]) for layer, _ in style_weights)


def style_cost_mean(a_S, a_G, style_weights):
    return L02.style_cost(a_S, a_G, style_weights) / len(style_weights)


def style_cost_all_layers(a_S, a_G, style_weights):
    weights = dict(style_weights)
    return sum(weights.get(layer, 1.0) * L02.layer_style_cost(a_S[layer], a_G[layer]) for layer in a_S)


def style_cost_zip_by_position(a_S, a_G, style_weights):
    # The course's TensorFlow pattern: layers paired by their position in the lists, not by name.
    return sum(
        w * L02.layer_style_cost(s, g) for (_, w), s, g in zip(style_weights, a_S.values(), a_G.values())
    )


def style_cost_course_loop(a_S, a_G, style_weights):
    # The course's loop, ported: `for i, weight in zip(range(len(a_S)), STYLE_LAYERS)` over lists of outputs.
    a_S, a_G = list(a_S.values()), list(a_G.values())
    J_style = 0
    for i, (_, weight) in zip(range(len(a_S)), style_weights):
        J_style += weight * L02.layer_style_cost(a_S[i], a_G[i])
    return J_style


def style_cost_G_by_position(a_S, a_G, style_weights):
    # a_S looked up by name, a_G by position: shapes clash, and the learner's function raises.
    return sum(w * L02.layer_style_cost(a_S[layer], g) for (layer, w), g in zip(style_weights, a_G.values()))


def style_cost_zip_S_with_G(a_S, a_G, style_weights):
    # Right when a_S and a_G list their layers in the same order, wrong as soon as they do not.
    weights = dict(style_weights)
    return sum(
        weights.get(layer, 0.0) * L02.layer_style_cost(s, g)
        for (layer, s), g in zip(a_S.items(), a_G.values())
    )


def gram_through_numpy(A):
    # Right values, no autograd: the style cost built on it could not move G's pixels.
    return torch.from_numpy(A.detach().numpy() @ A.detach().numpy().T)


def gram_numpy_raises(A):
    return torch.from_numpy(A.numpy() @ A.numpy().T)  # raises on an A that requires grad


def gram_new_leaf(A):
    return torch.tensor((A @ A.T).tolist(), requires_grad=True)  # requires grad, but is cut from A


def gram_half_detached(A):
    return A @ A.detach().T  # right values, half the gradient


# ---- the M_G / M_S rescaling of lesson 02 -------------------------------------------------------------


def _rescaled_gram_reference(a_S, M_G):
    """G_gram(S) · M_G / M_S, M_S = n_H·n_W of a_S; a_S (1, n_C, n_H, n_W), M_G an int -> (n_C, n_C)."""
    _, n_C, n_H, n_W = a_S.shape
    A_S = a_S.reshape(n_C, n_H * n_W)  # (n_C, n_H*n_W)
    return (A_S @ A_S.T) * (M_G / (n_H * n_W))  # (n_C, n_C)


# lesson 02's solution file gets rescaled_gram with the lesson; until then, the reference above stands in
RESCALED_GRAM = getattr(L02, "rescaled_gram", _rescaled_gram_reference)


def _gram_and_M_S(a_S):
    _, n_C, n_H, n_W = a_S.shape
    A_S = a_S.reshape(n_C, n_H * n_W)
    return A_S @ A_S.T, n_H * n_W


def rescaled_not_rescaled(a_S, M_G):
    return _gram_and_M_S(a_S)[0]


def rescaled_inverted(a_S, M_G):
    G_S, M_S = _gram_and_M_S(a_S)
    return G_S * (M_S / M_G)


def rescaled_by_sides(a_S, M_G):
    G_S, M_S = _gram_and_M_S(a_S)
    return G_S * (M_G / M_S) ** 0.5  # n_H_G / n_H_S for images of the same aspect


def rescaled_by_M_S_only(a_S, M_G):
    G_S, M_S = _gram_and_M_S(a_S)
    return G_S / M_S


def rescaled_normalized_gram(a_S, M_G):
    G_S, M_S = _gram_and_M_S(a_S)
    return (G_S / M_S) * (M_G / M_S)  # a Gram matrix normalised by M, then rescaled


def rescaled_integer_division(a_S, M_G):
    G_S, M_S = _gram_and_M_S(a_S)
    return G_S * (M_G // M_S)


def rescaled_activations(a_S, M_G):
    _, _, n_H, n_W = a_S.shape
    return _gram_and_M_S(a_S * (M_G / (n_H * n_W)))[0]  # scales the Gram matrix by the ratio squared


def rescaled_channels_last(a_S, M_G):
    _, _, n_H, n_W = a_S.shape
    return L02.gram_matrix(unroll_channels_last(a_S)) * (M_G / (n_H * n_W))


def rescaled_tf_port(a_S, M_G):
    _, _, n_H, n_W = a_S.shape
    return L02.gram_matrix(unroll_tf_port(a_S)) * (M_G / (n_H * n_W))


def rescaled_batched(a_S, M_G):
    return RESCALED_GRAM(a_S, M_G)[None]  # (1, n_C, n_C)


CASES = [
    (
        checks.check_unroll,
        L01.unroll,
        [
            (unroll_channels_last, "rows mix channels"),
            (unroll_transposed, "rows and columns are swapped"),
            (unroll_column_major, "positions are in another order"),
            (unroll_tf_port, "course's TensorFlow unroll"),
        ],
    ),
    (
        checks.check_content_cost,
        L01.content_cost,
        [
            (content_cost_no_four, "factor 4 is missing"),
            (content_cost_no_square, "not squared"),
            (content_cost_item, "Python number"),
            (content_cost_detached, "carries no gradient"),
            (content_cost_per_channel, "shape (3,)"),
            (content_cost_type_error, "your function raised"),
        ],
    ),
    (
        checks.check_gram_matrix,
        L02.gram_matrix,
        [
            (gram_transposed, "that is AᵀA"),
            (gram_normalized, "divided by M"),
            (gram_elementwise, "expected G_gram of shape"),
            (gram_through_numpy, "carries no gradient"),
            (gram_numpy_raises, "no .numpy()"),
            (gram_new_leaf, "carries no gradient"),
            (gram_half_detached, "half of the gradient"),
        ],
    ),
    (
        checks.check_layer_style_cost,
        L02.layer_style_cost,
        [
            (layer_style_seed_constant, "seed write-up's constant"),
            (layer_style_channels_last, "channels are scrambled"),
            (layer_style_no_square, "not squared"),
            (layer_style_M_not_squared, "(n_H n_W) is not squared"),
            (layer_style_tf_port, "course's TensorFlow unroll"),
            (layer_style_tf_shape_order, "TensorFlow order"),
        ],
    ),
    (
        checks.check_style_cost,
        L02.style_cost,
        [
            (style_cost_unweighted, "without their weights"),
            (style_cost_mean, "mean over layers"),
            (style_cost_all_layers, "relu4_2"),
            (style_cost_zip_by_position, "paired by position"),
            (style_cost_course_loop, "paired by position"),
            (style_cost_G_by_position, "never pair them by position"),
            (style_cost_zip_S_with_G, "a_G in yet another order than a_S"),
        ],
    ),
    (
        checks.check_rescaled_gram,
        RESCALED_GRAM,
        [
            (rescaled_not_rescaled, "without the rescaling"),
            (rescaled_inverted, "upside down"),
            (rescaled_by_sides, "a ratio of sides"),
            (rescaled_by_M_S_only, "divided by M_S only"),
            (rescaled_normalized_gram, "normalised by M"),
            (rescaled_integer_division, "integer division"),
            (rescaled_activations, "scaled the activations"),
            (rescaled_channels_last, "channels-last (n_H, n_W, n_C)"),
            (rescaled_tf_port, "course's TensorFlow unroll"),
            (rescaled_batched, "expected shape (n_C, n_C)"),
        ],
    ),
]

WRONG = [(check, wrong, words) for check, _, answers in CASES for wrong, words in answers]


@pytest.mark.parametrize(
    "check, wrong, words", WRONG, ids=[f"{c.__name__}-{w.__name__}" for c, w, _ in WRONG]
)
def test_fails_on_a_wrong_answer(check, wrong, words, capsys):
    result = check(wrong)
    assert result.passed is False and not result
    assert result.message.startswith("✗")
    assert words in result.message
    assert capsys.readouterr().out == result.message + "\n"  # printed once, exactly the message


@pytest.mark.parametrize(
    "check, solution", [(c, s) for c, s, _ in CASES], ids=[c.__name__ for c, _, _ in CASES]
)
def test_passes_on_the_solution(check, solution, capsys):
    result = check(solution)
    assert result.passed is True and result
    assert result.message.startswith("✓ correct")
    assert repr(result) == result.message
    assert capsys.readouterr().out == result.message + "\n"


@pytest.mark.parametrize("check", [c for c, _, _ in CASES], ids=[c.__name__ for c, _, _ in CASES])
def test_stub_is_not_attempted(check):
    result = check(stub)
    assert not result.passed
    assert result.message.startswith("✗ not attempted yet: stub")


@pytest.mark.parametrize(
    "check, solution", [(c, s) for c, s, _ in CASES], ids=[c.__name__ for c, _, _ in CASES]
)
def test_message_is_stable(check, solution):
    """Same seed, same message: the notebooks' committed output must not change between runs."""
    wrong = dict((c, a[0][0]) for c, _, a in CASES)[check]
    assert check(wrong).message == check(wrong).message
    assert check(solution).message == check(solution).message


def test_learner_input_mutation_does_not_fool_the_check():
    def sneaky(a_C, a_G):  # makes a_C equal a_G, so that its (correct-looking) cost is 0
        a_C.copy_(a_G.detach())
        return torch.sum((a_C - a_G) ** 2)

    assert not checks.check_content_cost(sneaky).passed


def test_check_result_shows_once_in_ipython():
    result = checks.CheckResult(True, "✓ correct: x")
    assert result._ipython_display_() is None  # displays nothing: the check already printed the line
    assert str(result) == repr(result) == "✓ correct: x"


def test_rescaled_gram_reference_passes_and_rescales_as_the_loop_does(capsys):
    """The local reference passes too (lesson 02's solution file may supply RESCALED_GRAM), and a Gram target
    rescaled by M_G / M_S equals, per position, the Gram matrix of an S tiled to G's size."""
    assert checks.check_rescaled_gram(_rescaled_gram_reference).passed
    a_S = torch.rand(1, 3, 4, 5, dtype=torch.float64)
    a_S_tiled = torch.cat([a_S, a_S], dim=3)  # (1, 3, 4, 10): the same statistics over twice the area
    torch.testing.assert_close(RESCALED_GRAM(a_S, 4 * 10), L02.gram_matrix(a_S_tiled.reshape(3, 40)))
    capsys.readouterr()
