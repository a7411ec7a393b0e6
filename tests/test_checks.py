"""The exercise checks: each fails on plausible wrong answers, says "not attempted" for the stub, raises
nothing for a learner's bug, and passes on the reference solution in notebooks/solutions/."""

import pytest
import torch

from conftest import load_solution as _solution, stub
from nst_edu import checks

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


def style_cost_unweighted(a_S, a_G, style_weights):
    return sum(L02.layer_style_cost(a_S[layer], a_G[layer]) for layer, _ in style_weights)


def style_cost_mean(a_S, a_G, style_weights):
    return L02.style_cost(a_S, a_G, style_weights) / len(style_weights)


def style_cost_all_layers(a_S, a_G, style_weights):
    weights = dict(style_weights)
    return sum(weights.get(layer, 1.0) * L02.layer_style_cost(a_S[layer], a_G[layer]) for layer in a_S)


def style_cost_zip_bug(a_S, a_G, style_weights):
    # Pairs the i-th weight with the i-th dict entry rather than with its named layer.
    return sum(w * L02.layer_style_cost(a_S[k], a_G[k]) for (_, w), k in zip(style_weights, reversed(list(a_S))))


CASES = [
    (checks.check_unroll, L01.unroll, [
        (unroll_channels_last, "rows mix channels"),
        (unroll_transposed, "rows and columns are swapped"),
        (unroll_column_major, "positions are in another order"),
    ]),
    (checks.check_content_cost, L01.content_cost, [
        (content_cost_no_four, "factor 4 is missing"),
        (content_cost_no_square, "not squared"),
        (content_cost_item, "Python number"),
        (content_cost_detached, "carries no gradient"),
        (content_cost_per_channel, "shape (3,)"),
        (content_cost_type_error, "your function raised"),
    ]),
    (checks.check_gram_matrix, L02.gram_matrix, [
        (gram_transposed, "that is AᵀA"),
        (gram_normalized, "divided by M"),
        (gram_elementwise, "expected G_gram of shape"),
    ]),
    (checks.check_layer_style_cost, L02.layer_style_cost, [
        (layer_style_seed_constant, "seed write-up's constant"),
        (layer_style_channels_last, "channels are scrambled"),
        (layer_style_no_square, "not squared"),
        (layer_style_M_not_squared, "(n_H n_W) is not squared"),
    ]),
    (checks.check_style_cost, L02.style_cost, [
        (style_cost_unweighted, "without their weights"),
        (style_cost_mean, "mean over layers"),
        (style_cost_all_layers, "relu4_2"),
        (style_cost_zip_bug, "instead of"),
    ]),
]

WRONG = [(check, wrong, words) for check, _, answers in CASES for wrong, words in answers]


@pytest.mark.parametrize("check, wrong, words", WRONG,
                         ids=[f"{c.__name__}-{w.__name__}" for c, w, _ in WRONG])
def test_fails_on_a_wrong_answer(check, wrong, words, capsys):
    result = check(wrong)
    assert result.passed is False and not result
    assert result.message.startswith("✗")
    assert words in result.message
    assert capsys.readouterr().out == result.message + "\n"  # printed once, exactly the message


@pytest.mark.parametrize("check, solution", [(c, s) for c, s, _ in CASES], ids=[c.__name__ for c, _, _ in CASES])
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


@pytest.mark.parametrize("check, solution", [(c, s) for c, s, _ in CASES], ids=[c.__name__ for c, _, _ in CASES])
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
