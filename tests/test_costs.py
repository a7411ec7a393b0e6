"""Tests for nst_edu.core.costs: each formula against a hand-worked example, an independent float64
reference (explicit loops or einsum, never the package), gradcheck, and its invariants."""

from __future__ import annotations

import itertools
import re

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from nst_edu.core import costs
from nst_edu.core.costs import (
    content_cost,
    gram_matrix,
    layer_style_cost,
    layer_style_cost_from_gram,
    rescaled_gram,
    seed_style_constant_variant,
    style_cost,
    style_cost_from_grams,
    total_cost,
    tv_cost,
    unroll,
)

SHAPES = [(1, 1, 1, 1), (1, 2, 2, 1), (1, 3, 4, 5), (1, 8, 3, 3), (1, 5, 1, 7)]
FAST = settings(max_examples=25, deadline=None)


def rand(*shape, seed=0, dtype=torch.float64, requires_grad=False):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g, dtype=dtype).requires_grad_(requires_grad)


@st.composite
def activation_pairs(draw):
    n_C = draw(st.integers(1, 5))
    n_H = draw(st.integers(1, 5))
    n_W = draw(st.integers(1, 5))
    seed = draw(st.integers(0, 2**31 - 1))
    scale = draw(st.sampled_from([1e-3, 1.0, 10.0, 100.0]))
    shape = (1, n_C, n_H, n_W)
    return rand(*shape, seed=seed) * scale, rand(*shape, seed=seed + 1) * scale


# ------------------------------------------------------------------------------------------------
# Independent float64 references: loops or einsum over the formulas in the design notes.
# ------------------------------------------------------------------------------------------------


def ref_unroll(a):
    _, n_C, n_H, n_W = a.shape
    A = torch.zeros(n_C, n_H * n_W, dtype=torch.float64)
    for c, h, w in itertools.product(range(n_C), range(n_H), range(n_W)):
        A[c, h * n_W + w] = a[0, c, h, w]
    return A


def ref_content(a_C, a_G):
    _, n_C, n_H, n_W = a_C.shape
    total = 0.0
    for c, h, w in itertools.product(range(n_C), range(n_H), range(n_W)):
        total += (float(a_C[0, c, h, w]) - float(a_G[0, c, h, w])) ** 2
    return total / (4 * n_H * n_W * n_C)


def ref_gram(A):
    return torch.einsum("ik,jk->ij", A.double(), A.double())


def ref_gram_loops(a):
    """Gram of a (1, n_C, n_H, n_W) activation, straight from the definition: sum over positions."""
    _, n_C, n_H, n_W = a.shape
    G = torch.zeros(n_C, n_C, dtype=torch.float64)
    for i, j in itertools.product(range(n_C), range(n_C)):
        G[i, j] = sum(
            float(a[0, i, h, w]) * float(a[0, j, h, w]) for h, w in itertools.product(range(n_H), range(n_W))
        )
    return G


def ref_layer_style(a_S, a_G):
    _, n_C, n_H, n_W = a_S.shape
    GS, GG = ref_gram_loops(a_S), ref_gram_loops(a_G)
    total = sum(float(GS[i, j] - GG[i, j]) ** 2 for i, j in itertools.product(range(n_C), repeat=2))
    return total / (4 * n_C**2 * (n_H * n_W) ** 2)


def ref_tv(G):
    _, n_ch, H, W = G.shape
    total = 0.0
    for c, i, j in itertools.product(range(n_ch), range(H), range(W)):
        if i + 1 < H:
            total += (float(G[0, c, i + 1, j]) - float(G[0, c, i, j])) ** 2
        if j + 1 < W:
            total += (float(G[0, c, i, j + 1]) - float(G[0, c, i, j])) ** 2
    return total / (3 * H * W)


# ------------------------------------------------------------------------------------------------
# unroll
# ------------------------------------------------------------------------------------------------


def test_unroll_hand_example():
    # channel 0 = [[1, 2], [3, 4]], channel 1 = [[5, 6], [7, 8]]: each row of A is one channel,
    # read row by row (h, then w).
    a = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]], [[5.0, 6.0], [7.0, 8.0]]]])  # (1, 2, 2, 2)
    A = unroll(a)
    assert A.shape == (2, 4)
    assert torch.equal(A, torch.tensor([[1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0]]))


@pytest.mark.parametrize("shape", SHAPES)
def test_unroll_matches_loop_reference(shape):
    a = rand(*shape, seed=1)
    assert torch.equal(unroll(a), ref_unroll(a))


def test_unroll_accepts_integers_for_demonstrations():
    a = torch.arange(12).reshape(1, 3, 2, 2)
    assert unroll(a).tolist() == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]]


# ------------------------------------------------------------------------------------------------
# content_cost
# ------------------------------------------------------------------------------------------------


def test_content_cost_hand_example():
    # n_C = 2, n_H = 2, n_W = 1. a_C holds 1, 2, 3, 4; a_G is zero.
    # sum of squares = 1 + 4 + 9 + 16 = 30; 4 n_H n_W n_C = 4 * 2 * 1 * 2 = 16; J = 30 / 16 = 1.875
    a_C = torch.tensor([[[[1.0], [2.0]], [[3.0], [4.0]]]])  # (1, 2, 2, 1)
    a_G = torch.zeros(1, 2, 2, 1)
    J = content_cost(a_C, a_G)
    assert J.shape == ()
    assert J.item() == pytest.approx(1.875, abs=0)


@pytest.mark.parametrize("shape", SHAPES)
def test_content_cost_matches_loop_reference(shape):
    a_C, a_G = rand(*shape, seed=2), rand(*shape, seed=3)
    assert content_cost(a_C, a_G).item() == pytest.approx(ref_content(a_C, a_G), rel=1e-12)


def test_content_cost_gradcheck():
    a_C = rand(1, 3, 2, 3, seed=4, requires_grad=True)
    a_G = rand(1, 3, 2, 3, seed=5, requires_grad=True)
    assert torch.autograd.gradcheck(content_cost, (a_C, a_G))


@pytest.mark.parametrize("shape", SHAPES)
def test_content_cost_analytic_gradient(shape):
    # dJ/da_G = -2 (a_C - a_G) / (4 n_H n_W n_C) = (a_G - a_C) / (2 n_H n_W n_C)
    _, n_C, n_H, n_W = shape
    a_C = rand(*shape, seed=6)
    a_G = rand(*shape, seed=7, requires_grad=True)
    (grad,) = torch.autograd.grad(content_cost(a_C, a_G), a_G)
    expected = (a_G.detach() - a_C) / (2 * n_H * n_W * n_C)
    assert torch.allclose(grad, expected, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("shape", SHAPES)
def test_content_cost_zero_for_identical_inputs(shape):
    a = rand(*shape, seed=8)
    assert content_cost(a, a.clone()).item() == 0.0


@FAST
@given(activation_pairs())
def test_content_cost_non_negative_and_symmetric(pair):
    a_C, a_G = pair
    J = content_cost(a_C, a_G)
    assert J.item() >= 0.0
    assert J.item() == pytest.approx(content_cost(a_G, a_C).item(), rel=1e-12)
    assert J.item() == pytest.approx(ref_content(a_C, a_G), rel=1e-9, abs=1e-300)


# ------------------------------------------------------------------------------------------------
# gram_matrix
# ------------------------------------------------------------------------------------------------


def test_gram_matrix_hand_example():
    # A = [[1, 2], [3, 4]]: G = A A^T = [[1*1 + 2*2, 1*3 + 2*4], [3*1 + 4*2, 3*3 + 4*4]]
    #                             = [[5, 11], [11, 25]]
    A = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    assert torch.equal(gram_matrix(A), torch.tensor([[5.0, 11.0], [11.0, 25.0]]))


def test_gram_matrix_non_square_hand_example():
    # A = [[1, 0, 2], [0, 1, 1]] (n_C = 2, M = 3): G = [[1 + 0 + 4, 0 + 0 + 2], [2, 0 + 1 + 1]]
    A = torch.tensor([[1.0, 0.0, 2.0], [0.0, 1.0, 1.0]])
    assert torch.equal(gram_matrix(A), torch.tensor([[5.0, 2.0], [2.0, 2.0]]))


@pytest.mark.parametrize("shape", SHAPES)
def test_gram_matrix_matches_einsum_and_loops(shape):
    a = rand(*shape, seed=9)
    G = gram_matrix(unroll(a))
    assert G.shape == (shape[1], shape[1])
    assert torch.allclose(G, ref_gram(ref_unroll(a)), rtol=1e-12, atol=1e-12)
    assert torch.allclose(G, ref_gram_loops(a), rtol=1e-12, atol=1e-12)


def test_gram_matrix_gradcheck():
    A = rand(3, 5, seed=10, requires_grad=True)
    assert torch.autograd.gradcheck(gram_matrix, (A,))


@FAST
@given(st.integers(1, 6), st.integers(1, 30), st.integers(0, 2**31 - 1))
def test_gram_matrix_symmetric_psd_and_equal_to_AAT(n_C, M, seed):
    A = rand(n_C, M, seed=seed)
    G = gram_matrix(A)
    # BLAS may sum G_ij and G_ji in different orders, so symmetric up to rounding, not bitwise.
    assert torch.allclose(G, G.T, rtol=1e-12, atol=1e-12)
    assert torch.allclose(G, A @ A.T, rtol=1e-12, atol=1e-12)
    eig = torch.linalg.eigvalsh(G)
    assert eig.min().item() >= -1e-9 * max(1.0, eig.abs().max().item())


def test_classic_unrolling_bug_gives_a_different_gram_matrix():
    # The course's a^[l] is channels-last (n_H, n_W, n_C). Reshaping that straight to (n_C, -1)
    # passes every shape check but puts values of different channels in one row.
    n_H, n_W, n_C = 3, 4, 5
    a_hwc = rand(n_H, n_W, n_C, seed=11)  # (n_H, n_W, n_C)
    wrong_A = a_hwc.reshape(n_C, -1)  # (n_C, n_H*n_W), scrambled
    a_chw = a_hwc.permute(2, 0, 1).unsqueeze(0)  # (1, n_C, n_H, n_W)
    right_A = unroll(a_chw)  # (n_C, n_H*n_W)
    # Ground truth: Gram_ij = sum over positions of channel i times channel j.
    truth = torch.einsum("hwi,hwj->ij", a_hwc, a_hwc)

    wrong_G, right_G = gram_matrix(wrong_A), gram_matrix(right_A)
    assert wrong_G.shape == right_G.shape == (n_C, n_C)
    assert not torch.allclose(wrong_G, truth, rtol=1e-3, atol=1e-3)
    assert torch.allclose(right_G, truth, rtol=1e-12, atol=1e-12)
    # The course's fix: transpose to channels first, then reshape.
    fixed_A = a_hwc.permute(2, 0, 1).reshape(n_C, -1)  # (n_C, n_H*n_W)
    assert torch.allclose(gram_matrix(fixed_A), truth, rtol=1e-12, atol=1e-12)


# ------------------------------------------------------------------------------------------------
# layer_style_cost, layer_style_cost_from_gram, seed_style_constant_variant
# ------------------------------------------------------------------------------------------------


def test_layer_style_cost_hand_example():
    # n_C = 2, n_H = 1, n_W = 2.
    # a_S: channel 0 = [1, 0], channel 1 = [0, 1] -> A_S = I -> G_S = [[1, 0], [0, 1]]
    # a_G: channel 0 = [1, 1], channel 1 = [0, 0] -> A_G = [[1, 1], [0, 0]] -> G_G = [[2, 0], [0, 0]]
    # G_S - G_G = [[-1, 0], [0, 1]] -> sum of squares = 2
    # 4 n_C^2 (n_H n_W)^2 = 4 * 4 * 4 = 64 -> J = 2 / 64 = 0.03125
    a_S = torch.tensor([[[[1.0, 0.0]], [[0.0, 1.0]]]])  # (1, 2, 1, 2)
    a_G = torch.tensor([[[[1.0, 1.0]], [[0.0, 0.0]]]])  # (1, 2, 1, 2)
    assert layer_style_cost(a_S, a_G).item() == pytest.approx(0.03125, abs=0)
    G_S = torch.eye(2)
    assert layer_style_cost_from_gram(G_S, a_G).item() == pytest.approx(0.03125, abs=0)
    # The seed write-up's constant: (4 n_H n_W n_C)^2 = (4 * 1 * 2 * 2)^2 = 256 -> 2 / 256
    assert seed_style_constant_variant(a_S, a_G).item() == pytest.approx(0.0078125, abs=0)


@pytest.mark.parametrize("shape", SHAPES)
def test_layer_style_cost_matches_loop_reference(shape):
    a_S, a_G = rand(*shape, seed=12), rand(*shape, seed=13)
    expected = ref_layer_style(a_S, a_G)
    assert layer_style_cost(a_S, a_G).item() == pytest.approx(expected, rel=1e-10)
    G_S = ref_gram_loops(a_S)
    assert layer_style_cost_from_gram(G_S, a_G).item() == pytest.approx(expected, rel=1e-10)


def test_layer_style_cost_gradcheck():
    a_S = rand(1, 3, 2, 2, seed=14, requires_grad=True)
    a_G = rand(1, 3, 2, 2, seed=15, requires_grad=True)
    assert torch.autograd.gradcheck(layer_style_cost, (a_S, a_G))
    G_S = ref_gram(ref_unroll(a_S.detach())).requires_grad_(True)
    assert torch.autograd.gradcheck(layer_style_cost_from_gram, (G_S, a_G))


@pytest.mark.parametrize("shape", SHAPES)
def test_layer_style_cost_zero_for_identical_inputs(shape):
    a = rand(*shape, seed=16)
    assert layer_style_cost(a, a.clone()).item() == 0.0


@FAST
@given(activation_pairs())
def test_layer_style_cost_non_negative_and_matches_reference(pair):
    a_S, a_G = pair
    J = layer_style_cost(a_S, a_G).item()
    assert J >= 0.0
    assert J == pytest.approx(ref_layer_style(a_S, a_G), rel=1e-8, abs=1e-300)


@pytest.mark.parametrize("shape", [(1, 3, 4, 5), (1, 6, 3, 3), (1, 2, 1, 9)])
def test_layer_style_cost_invariant_to_spatial_permutation(shape):
    _, n_C, n_H, n_W = shape
    a_S, a_G = rand(*shape, seed=17), rand(*shape, seed=18)
    J = layer_style_cost(a_S, a_G)
    perm = torch.randperm(n_H * n_W, generator=torch.Generator().manual_seed(19))

    def shuffle(a):  # the same permutation of positions for every channel
        return a.reshape(1, n_C, n_H * n_W)[:, :, perm].reshape(shape)

    assert not torch.equal(shuffle(a_G), a_G)
    assert torch.allclose(layer_style_cost(a_S, shuffle(a_G)), J, rtol=1e-10)
    assert torch.allclose(layer_style_cost(shuffle(a_S), a_G), J, rtol=1e-10)
    # ... which content cost is not: it compares positions.
    assert not torch.allclose(content_cost(a_S, shuffle(a_G)), content_cost(a_S, a_G))


@pytest.mark.parametrize("shape", SHAPES + [(1, 64, 7, 9), (1, 3, 100, 100)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_seed_style_constant_variant_is_exactly_a_quarter(shape, dtype):
    a_S, a_G = rand(*shape, seed=20, dtype=dtype), rand(*shape, seed=21, dtype=dtype)
    ours = layer_style_cost(a_S, a_G)
    seed = seed_style_constant_variant(a_S, a_G)
    assert torch.allclose(4 * seed, ours, rtol=1e-12, atol=0)
    if ours.item() != 0.0:
        assert seed.item() < ours.item()


# ------------------------------------------------------------------------------------------------
# style_cost, style_cost_from_grams
# ------------------------------------------------------------------------------------------------


def two_layer_activations(seed=22):
    a_S = {"conv1_1": rand(1, 3, 4, 4, seed=seed), "conv2_1": rand(1, 5, 2, 3, seed=seed + 1)}
    a_G = {"conv1_1": rand(1, 3, 4, 4, seed=seed + 2), "conv2_1": rand(1, 5, 2, 3, seed=seed + 3)}
    return a_S, a_G


def test_style_cost_hand_example():
    # Layer "a" is the layer_style_cost hand example (0.03125). Layer "b" has n_C = 1, n_H = n_W = 1:
    # a_S = 2, a_G = 1 -> G_S = 4, G_G = 1 -> (4 - 1)^2 / (4 * 1 * 1) = 9 / 4 = 2.25.
    # J = 0.5 * 0.03125 + 2.0 * 2.25 = 0.015625 + 4.5 = 4.515625
    a_S = {"a": torch.tensor([[[[1.0, 0.0]], [[0.0, 1.0]]]]), "b": torch.full((1, 1, 1, 1), 2.0)}
    a_G = {"a": torch.tensor([[[[1.0, 1.0]], [[0.0, 0.0]]]]), "b": torch.full((1, 1, 1, 1), 1.0)}
    weights = [("a", 0.5), ("b", 2.0)]
    assert style_cost(a_S, a_G, weights).item() == pytest.approx(4.515625, abs=0)
    grams = {"a": torch.eye(2), "b": torch.full((1, 1), 4.0)}
    assert style_cost_from_grams(grams, a_G, weights).item() == pytest.approx(4.515625, abs=0)


def test_style_cost_matches_loop_reference_and_ignores_extra_layers():
    a_S, a_G = two_layer_activations()
    a_G["conv4_2"] = rand(1, 2, 2, 2, seed=99)  # e.g. the content layer: not named, so not used
    weights = {"conv1_1": 0.2, "conv2_1": 0.7}
    expected = sum(w * ref_layer_style(a_S[layer], a_G[layer]) for layer, w in weights.items())
    assert style_cost(a_S, a_G, weights).item() == pytest.approx(expected, rel=1e-10)


def test_style_cost_mapping_and_pairs_agree_and_from_grams_agrees():
    a_S, a_G = two_layer_activations()
    pairs = [("conv1_1", 0.2), ("conv2_1", 0.7)]
    J = style_cost(a_S, a_G, pairs)
    assert torch.equal(J, style_cost(a_S, a_G, dict(pairs)))
    grams = {layer: ref_gram(ref_unroll(a)) for layer, a in a_S.items()}
    assert torch.allclose(style_cost_from_grams(grams, a_G, pairs), J, rtol=1e-12)


def test_style_cost_is_linear_in_the_weights():
    a_S, a_G = two_layer_activations()
    J1 = layer_style_cost(a_S["conv1_1"], a_G["conv1_1"])
    J2 = layer_style_cost(a_S["conv2_1"], a_G["conv2_1"])
    J = style_cost(a_S, a_G, {"conv1_1": 0.3, "conv2_1": 0.5})
    J_doubled = style_cost(a_S, a_G, {"conv1_1": 0.6, "conv2_1": 1.0})
    assert torch.allclose(J_doubled, 2 * J, rtol=1e-12)
    assert torch.allclose(J, 0.3 * J1 + 0.5 * J2, rtol=1e-12)
    assert style_cost(a_S, a_G, {"conv1_1": 0.0, "conv2_1": 0.0}).item() == 0.0
    assert torch.allclose(style_cost(a_S, a_G, {"conv2_1": 1.0}), J2, rtol=1e-12)


def test_style_cost_zero_for_identical_inputs_and_permutation_invariant():
    a_S, _ = two_layer_activations()
    weights = {"conv1_1": 0.2, "conv2_1": 0.2}
    assert style_cost(a_S, {layer: a.clone() for layer, a in a_S.items()}, weights).item() == 0.0
    a_S, a_G = two_layer_activations(seed=40)
    g = torch.Generator().manual_seed(41)
    shuffled = {}
    for layer, a in a_G.items():
        _, n_C, n_H, n_W = a.shape
        perm = torch.randperm(n_H * n_W, generator=g)
        shuffled[layer] = a.reshape(1, n_C, -1)[:, :, perm].reshape(a.shape)
    J = style_cost(a_S, a_G, weights)
    assert torch.allclose(style_cost(a_S, shuffled, weights), J, rtol=1e-10)


def test_style_cost_gradcheck():
    s_x, g_x = (rand(1, 2, 2, 2, seed=s, requires_grad=True) for s in (23, 24))
    s_y, g_y = (rand(1, 3, 1, 2, seed=s, requires_grad=True) for s in (25, 26))
    weights = [("x", 0.4), ("y", 1.5)]

    def f(s_x, s_y, g_x, g_y):
        return style_cost({"x": s_x, "y": s_y}, {"x": g_x, "y": g_y}, weights)

    assert torch.autograd.gradcheck(f, (s_x, s_y, g_x, g_y))


# ------------------------------------------------------------------------------------------------
# rescaled_gram
# ------------------------------------------------------------------------------------------------


def test_rescaled_gram_hand_example():
    # a_S: n_C = 1, n_H = 1, n_W = 2, values [1, 2] -> G_S = 1 + 4 = 5, M_S = 2.
    # For a G with M_G = 6 positions: 5 * 6 / 2 = 15.
    a_S = torch.tensor([[[[1.0, 2.0]]]])  # (1, 1, 1, 2)
    assert rescaled_gram(a_S, 6).tolist() == [[15.0]]
    assert rescaled_gram(a_S, 1).tolist() == [[2.5]]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("M_G", [1, 3, 20])
def test_rescaled_gram_matches_loop_reference(shape, M_G):
    a_S = rand(*shape, seed=50)
    _, n_C, n_H, n_W = shape
    expected = ref_gram_loops(a_S) * M_G / (n_H * n_W)
    got = rescaled_gram(a_S, M_G)
    assert got.shape == (n_C, n_C)
    assert torch.allclose(got, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("shape", SHAPES)
def test_rescaled_gram_at_the_same_size_is_the_gram_matrix(shape):
    a_S = rand(*shape, seed=51)
    assert torch.equal(rescaled_gram(a_S, shape[2] * shape[3]), gram_matrix(unroll(a_S)))


def test_rescaled_gram_gradcheck():
    a_S = rand(1, 3, 2, 3, seed=52, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a: rescaled_gram(a, 4), (a_S,))


def test_rescaled_gram_of_a_tiled_style_equals_the_untiled_one():
    # The same texture over 4x the positions has a 4x larger Gram matrix; rescaled to the untiled size, the
    # same matrix, and so the same style cost against any G of that size.
    a_S = rand(1, 4, 3, 5, seed=53)
    tiled = a_S.repeat(1, 1, 2, 2)  # (1, 4, 6, 10)
    M_G = 3 * 5
    assert torch.allclose(gram_matrix(unroll(tiled)), 4 * gram_matrix(unroll(a_S)), rtol=1e-12)
    assert torch.allclose(rescaled_gram(tiled, M_G), gram_matrix(unroll(a_S)), rtol=1e-12)
    a_G = rand(1, 4, 3, 5, seed=54)
    J = layer_style_cost_from_gram(rescaled_gram(tiled, M_G), a_G)
    assert torch.allclose(J, layer_style_cost(a_S, a_G), rtol=1e-10)
    G_sym = rescaled_gram(tiled, 7)
    assert torch.equal(G_sym, G_sym.T) and torch.linalg.eigvalsh(G_sym).min() > -1e-10


# ------------------------------------------------------------------------------------------------
# total_cost
# ------------------------------------------------------------------------------------------------


def test_total_cost_hand_example_and_course_defaults():
    # 10 * 0.2 + 40 * 0.8 = 2 + 32 = 34
    assert total_cost(0.2, 0.8) == pytest.approx(34.0)
    J = total_cost(torch.tensor(0.2, dtype=torch.float64), torch.tensor(0.8, dtype=torch.float64))
    assert J.item() == pytest.approx(34.0, rel=1e-15)
    # 1 * 3 + 2 * 5 + 0.5 * 4 = 3 + 10 + 2 = 15
    Jc, Js, Jt = torch.tensor(3.0), torch.tensor(5.0), torch.tensor(4.0)
    assert total_cost(Jc, Js, alpha=1.0, beta=2.0, J_tv=Jt, tv_weight=0.5).item() == 15.0
    # A J_tv with zero weight adds nothing: 1 * 3 + 2 * 5 = 13
    assert total_cost(Jc, Js, alpha=1.0, beta=2.0, J_tv=Jt).item() == 13.0


def test_total_cost_gradient_is_alpha_beta_tv_weight():
    Jc, Js, Jt = (torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in (1.0, 2.0, 3.0))
    J = total_cost(Jc, Js, alpha=7.0, beta=11.0, J_tv=Jt, tv_weight=0.25)
    J.backward()
    assert (Jc.grad.item(), Js.grad.item(), Jt.grad.item()) == (7.0, 11.0, 0.25)


# ------------------------------------------------------------------------------------------------
# tv_cost
# ------------------------------------------------------------------------------------------------


def test_tv_cost_hand_example():
    # Red channel = [[0, 1], [0, 1]], green and blue zero (H = W = 2).
    # Vertical differences: 0 - 0 = 0 and 1 - 1 = 0. Horizontal: 1 - 0 = 1 in each row -> 1 + 1 = 2.
    # 3 H W = 12 -> J_tv = 2 / 12 = 1/6
    G = torch.zeros(1, 3, 2, 2)
    G[0, 0] = torch.tensor([[0.0, 1.0], [0.0, 1.0]])
    assert tv_cost(G).item() == pytest.approx(1 / 6, rel=1e-7)
    # Transposed image: the same differences, now vertical.
    assert tv_cost(G.transpose(2, 3)).item() == pytest.approx(1 / 6, rel=1e-7)


@pytest.mark.parametrize("hw", [(1, 1), (1, 5), (4, 1), (3, 4), (6, 6)])
def test_tv_cost_matches_loop_reference(hw):
    G = rand(1, 3, *hw, seed=27)
    assert tv_cost(G).item() == pytest.approx(ref_tv(G), rel=1e-12, abs=1e-300)


def test_tv_cost_gradcheck():
    G = rand(1, 3, 3, 4, seed=28, requires_grad=True)
    assert torch.autograd.gradcheck(tv_cost, (G,))


@pytest.mark.parametrize("value", [0.0, 0.37, 1.0])
def test_tv_cost_zero_on_constant_image(value):
    assert tv_cost(torch.full((1, 3, 5, 7), value)).item() == 0.0
    # Per-channel constants are still constant in space.
    G = torch.tensor([0.1, 0.5, 0.9]).reshape(1, 3, 1, 1).expand(1, 3, 5, 7)
    assert tv_cost(G).item() == 0.0


@FAST
@given(st.integers(1, 6), st.integers(2, 6), st.integers(0, 2**31 - 1))
def test_tv_cost_non_negative_and_positive_on_non_constant(H, W, seed):
    G = torch.rand(1, 3, H, W, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    G[0, 0, 0, 0] = G[0, 0, 0, 1] + 0.5  # guarantee at least one non-zero difference
    assert tv_cost(G).item() > 0.0


def test_tv_cost_is_resolution_independent_for_a_linear_ramp():
    # A horizontal ramp from 0 to 1 sampled at W points has (W - 1) steps of 1/(W - 1): the sum of
    # squares per row is 1/(W - 1), so J_tv = 3 H / (W - 1) / (3 H W) = 1 / (W (W - 1)).
    for W in (4, 8, 16):
        G = torch.linspace(0, 1, W, dtype=torch.float64).expand(1, 3, 5, W)
        assert tv_cost(G).item() == pytest.approx(1 / (W * (W - 1)), rel=1e-12)


# ------------------------------------------------------------------------------------------------
# Validation: every public function, every kind of bad input
# ------------------------------------------------------------------------------------------------

GOOD = torch.rand(1, 2, 3, 3)
PAIR_FUNCS = [content_cost, layer_style_cost, seed_style_constant_variant]


def _msg(shape):
    return re.escape(str(tuple(shape)))


def _with(t, value):
    t = t.clone()
    t.view(-1)[1] = value
    return t


BAD_ACTIVATIONS = [
    pytest.param(torch.rand(2, 3, 3), (2, 3, 3), id="3-dims"),
    pytest.param(torch.rand(1, 1, 2, 3, 3), (1, 1, 2, 3, 3), id="5-dims"),
    pytest.param(torch.rand(2, 2, 3, 3), (2, 2, 3, 3), id="batch-2"),
    pytest.param(torch.ones(1, 2, 3, 3, dtype=torch.int64), (1, 2, 3, 3), id="int"),
    pytest.param(_with(GOOD, float("nan")), (1, 2, 3, 3), id="nan"),
    pytest.param(_with(GOOD, float("inf")), (1, 2, 3, 3), id="inf"),
    pytest.param(_with(GOOD, float("-inf")), (1, 2, 3, 3), id="-inf"),
]


@pytest.mark.parametrize("func", PAIR_FUNCS)
@pytest.mark.parametrize("bad,shape", BAD_ACTIVATIONS)
def test_pair_functions_reject_bad_activations(func, bad, shape):
    ok = torch.rand(*bad.shape) if bad.dim() == 4 and bad.shape[0] == 1 else GOOD
    with pytest.raises(ValueError, match=_msg(shape)):
        func(ok, bad)
    with pytest.raises(ValueError, match=_msg(shape)):
        func(bad, ok)


@pytest.mark.parametrize("func", PAIR_FUNCS)
def test_pair_functions_reject_mismatched_shapes(func):
    a = torch.rand(1, 64, 32, 32)
    b = torch.rand(1, 64, 16, 16)
    pattern = re.escape("matching") + ".*" + _msg(a.shape) + ".*got " + _msg(b.shape)
    with pytest.raises(ValueError, match=pattern):
        func(a, b)
    with pytest.raises(ValueError, match=_msg(a.shape)):
        func(torch.rand(1, 32, 32, 32), a)


def test_content_cost_error_message_is_the_documented_one():
    with pytest.raises(ValueError) as err:
        content_cost(torch.rand(1, 64, 32, 32), torch.rand(1, 64, 16, 16))
    assert str(err.value) == (
        "content_cost: expected a_G of shape (1, n_C, n_H, n_W) matching a_C (1, 64, 32, 32), "
        "got (1, 64, 16, 16)."
    )


def test_nan_message_counts_the_bad_values():
    bad = GOOD.clone()
    bad[0, 0, 0, :2] = float("nan")
    bad[0, 1, 2, 2] = float("inf")
    with pytest.raises(ValueError, match="2 NaN and 1 inf"):
        content_cost(GOOD, bad)


@pytest.mark.parametrize("bad,shape", BAD_ACTIVATIONS[:3])
def test_unroll_rejects_bad_shapes(bad, shape):
    with pytest.raises(ValueError, match=_msg(shape)):
        unroll(bad)


@pytest.mark.parametrize(
    "bad,shape,extra",
    [
        pytest.param(torch.rand(5), (5,), "", id="1-dim"),
        pytest.param(torch.rand(1, 2, 3, 3), (1, 2, 3, 3), "unroll", id="activation"),
        pytest.param(torch.ones(2, 3, dtype=torch.int32), (2, 3), "", id="int"),
        pytest.param(_with(torch.rand(2, 3), float("nan")), (2, 3), "", id="nan"),
        pytest.param(_with(torch.rand(2, 3), float("inf")), (2, 3), "", id="inf"),
    ],
)
def test_gram_matrix_rejects_bad_input(bad, shape, extra):
    with pytest.raises(ValueError, match=_msg(shape) + ".*" + extra):
        gram_matrix(bad)


@pytest.mark.parametrize(
    "G_S,shape",
    [
        pytest.param(torch.rand(3, 3), (3, 3), id="wrong-n_C"),
        pytest.param(torch.rand(2, 3), (2, 3), id="not-square"),
        pytest.param(torch.rand(1, 2, 2), (1, 2, 2), id="3-dims"),
        pytest.param(torch.ones(2, 2, dtype=torch.int64), (2, 2), id="int"),
        pytest.param(_with(torch.rand(2, 2), float("nan")), (2, 2), id="nan"),
        pytest.param(_with(torch.rand(2, 2), float("inf")), (2, 2), id="inf"),
    ],
)
def test_layer_style_cost_from_gram_rejects_bad_gram(G_S, shape):
    with pytest.raises(ValueError, match=_msg(shape)):
        layer_style_cost_from_gram(G_S, GOOD)


@pytest.mark.parametrize("bad,shape", BAD_ACTIVATIONS)
def test_layer_style_cost_from_gram_rejects_bad_activation(bad, shape):
    with pytest.raises(ValueError, match=_msg(shape)):
        layer_style_cost_from_gram(torch.eye(2), bad)


def test_style_cost_rejects_missing_layers():
    a_S, a_G = two_layer_activations()
    with pytest.raises(ValueError, match=r"conv3_1.*missing from a_S.*conv1_1"):
        style_cost(a_S, a_G, {"conv1_1": 0.5, "conv3_1": 0.5})
    del a_G["conv2_1"]
    with pytest.raises(ValueError, match=r"conv2_1.*missing from a_G"):
        style_cost(a_S, a_G, [("conv1_1", 0.5), ("conv2_1", 0.5)])
    with pytest.raises(ValueError, match=r"conv2_1.*missing from grams_S"):
        style_cost_from_grams({"conv1_1": torch.eye(3)}, a_G, {"conv2_1": 1.0})
    with pytest.raises(ValueError, match=r"conv2_1.*missing from a_G"):
        style_cost_from_grams({"conv2_1": torch.eye(5)}, a_G, {"conv2_1": 1.0})


@pytest.mark.parametrize("bad,shape", BAD_ACTIVATIONS)
def test_style_cost_rejects_bad_activation_and_names_the_layer(bad, shape):
    a_S, a_G = two_layer_activations()
    a_G["conv2_1"] = bad
    weights = {"conv1_1": 0.5, "conv2_1": 0.5}
    with pytest.raises(ValueError, match=r"'conv2_1'.*" + _msg(shape)):
        style_cost(a_S, a_G, weights)
    grams = {layer: gram_matrix(unroll(a)) for layer, a in a_S.items()}
    with pytest.raises(ValueError, match=r"'conv2_1'.*" + _msg(shape)):
        style_cost_from_grams(grams, a_G, weights)


def test_style_cost_rejects_mismatched_shapes():
    a_S, a_G = two_layer_activations()
    a_G["conv1_1"] = torch.rand(1, 3, 2, 2)
    with pytest.raises(ValueError, match=r"'conv1_1'.*\(1, 3, 4, 4\).*got \(1, 3, 2, 2\)"):
        style_cost(a_S, a_G, {"conv1_1": 1.0})
    grams = {"conv1_1": torch.eye(5)}
    with pytest.raises(ValueError, match=r"'conv1_1'.*\(3, 3\).*got \(5, 5\)"):
        style_cost_from_grams(grams, a_G, {"conv1_1": 1.0})


@pytest.mark.parametrize(
    "weights,pattern",
    [
        ({}, "empty"),
        ([], "empty"),
        ([("conv1_1", 0.5), ("conv1_1", 0.5)], "twice"),
        ({"conv1_1": -0.5}, ">= 0"),
        ({"conv1_1": float("nan")}, "finite"),
        ({"conv1_1": "0.5"}, "real number"),
        ([("conv1_1",)], "pairs"),
        ("conv1_1", "mapping"),
        (0.5, "mapping"),
    ],
)
def test_style_cost_rejects_bad_style_weights(weights, pattern):
    a_S, a_G = two_layer_activations()
    with pytest.raises(ValueError, match=pattern):
        style_cost(a_S, a_G, weights)


@pytest.mark.parametrize(
    "kwargs,pattern",
    [
        (dict(J_content=torch.ones(2), J_style=torch.tensor(1.0)), re.escape("(2,)")),
        (dict(J_content=torch.tensor(1.0), J_style=torch.ones(1, 1)), re.escape("(1, 1)")),
        (dict(J_content=torch.tensor(float("nan")), J_style=torch.tensor(1.0)), "NaN"),
        (dict(J_content=torch.tensor(1.0), J_style=torch.tensor(float("inf"))), "inf"),
        (dict(J_content=torch.tensor(1), J_style=torch.tensor(1.0)), "floating"),
        (dict(J_content=float("nan"), J_style=1.0), "finite"),
        (dict(J_content="1", J_style=1.0), "real number"),
        (dict(J_content=1.0, J_style=1.0, alpha=-1.0), "alpha"),
        (dict(J_content=1.0, J_style=1.0, beta=float("inf")), "beta"),
        (dict(J_content=1.0, J_style=1.0, tv_weight=0.5), "J_tv is None"),
        (dict(J_content=1.0, J_style=1.0, J_tv=torch.ones(3), tv_weight=0.5), re.escape("(3,)")),
    ],
)
def test_total_cost_rejects_bad_input(kwargs, pattern):
    with pytest.raises(ValueError, match=pattern):
        total_cost(**kwargs)


@pytest.mark.parametrize(
    "bad,shape",
    [
        pytest.param(torch.rand(3, 4, 4), (3, 4, 4), id="3-dims"),
        pytest.param(torch.rand(2, 3, 4, 4), (2, 3, 4, 4), id="batch-2"),
        pytest.param(torch.rand(1, 1, 4, 4), (1, 1, 4, 4), id="grey"),
        pytest.param(torch.ones(1, 3, 4, 4, dtype=torch.uint8), (1, 3, 4, 4), id="uint8"),
        pytest.param(_with(torch.rand(1, 3, 4, 4), float("nan")), (1, 3, 4, 4), id="nan"),
        pytest.param(_with(torch.rand(1, 3, 4, 4), float("inf")), (1, 3, 4, 4), id="inf"),
    ],
)
def test_tv_cost_rejects_bad_input(bad, shape):
    with pytest.raises(ValueError, match=_msg(shape)):
        tv_cost(bad)


def test_non_tensor_input_is_a_value_error():
    with pytest.raises(ValueError, match="torch.Tensor"):
        content_cost([[1.0]], GOOD)
    with pytest.raises(ValueError, match="torch.Tensor"):
        gram_matrix([[1.0]])


@pytest.mark.parametrize("M_G", [0, -4, 2.5, True, "4", None])
def test_rescaled_gram_rejects_a_bad_number_of_positions(M_G):
    with pytest.raises(ValueError, match=r"rescaled_gram: expected M_G = n_H·n_W, a whole number >= 1"):
        rescaled_gram(GOOD, M_G)


@pytest.mark.parametrize("bad,shape", BAD_ACTIVATIONS)
def test_rescaled_gram_rejects_bad_activations(bad, shape):
    with pytest.raises(ValueError, match="rescaled_gram: .*" + _msg(shape)):
        rescaled_gram(bad, 4)


# ------------------------------------------------------------------------------------------------
# One copy of each formula; check_finite=False (the loop's path) skips only the NaN/inf scan
# ------------------------------------------------------------------------------------------------


def test_costs_has_no_private_copies_of_the_formulas():
    # Only the two precision helpers are private; every formula is a public function.
    private = {
        n for n, v in vars(costs).items() if n.startswith("_") and callable(v) and not n.startswith("__")
    }
    assert private <= {"_accurate", "_autocast_off"}


def test_check_finite_false_gives_the_same_values():
    a, b = rand(1, 4, 3, 5, seed=30), rand(1, 4, 3, 5, seed=31)
    G = rand(1, 3, 6, 5, seed=32)
    A = unroll(a)
    G_S = gram_matrix(A)
    a_S, a_G = two_layer_activations()
    grams = {layer: gram_matrix(unroll(x)) for layer, x in a_S.items()}
    w = {"conv1_1": 0.2, "conv2_1": 0.7}
    Jc, Js, Jt = torch.tensor(1.5), torch.tensor(2.5), torch.tensor(0.5)
    for f, args in [
        (content_cost, (a, b)),
        (gram_matrix, (A,)),
        (rescaled_gram, (a, 7)),
        (layer_style_cost_from_gram, (G_S, b)),
        (layer_style_cost, (a, b)),
        (style_cost, (a_S, a_G, w)),
        (style_cost_from_grams, (grams, a_G, list(w.items()))),
        (tv_cost, (G,)),
        (total_cost, (Jc, Js, 3.0, 4.0, Jt, 2.0)),
    ]:
        assert torch.equal(f(*args, check_finite=False), f(*args)), f.__name__


def test_check_finite_false_lets_nan_through_but_still_checks_shapes():
    # The loop's path must not scan every activation for NaN each step: a NaN goes through untouched.
    bad = _with(GOOD, float("nan"))
    assert torch.isnan(content_cost(GOOD, bad, check_finite=False))
    assert torch.isnan(layer_style_cost_from_gram(torch.eye(2), bad, check_finite=False))
    assert torch.isnan(style_cost_from_grams({"l": torch.eye(2)}, {"l": bad}, {"l": 1.0}, check_finite=False))
    assert torch.isnan(tv_cost(_with(torch.rand(1, 3, 4, 4), float("nan")), check_finite=False))
    assert torch.isnan(total_cost(torch.tensor(float("nan")), torch.tensor(1.0), check_finite=False))
    with pytest.raises(ValueError, match="matching"):
        content_cost(GOOD, torch.rand(1, 2, 3, 4), check_finite=False)
    with pytest.raises(ValueError, match=re.escape("(n_C, n_C) = (2, 2)")):
        layer_style_cost_from_gram(torch.eye(3), GOOD, check_finite=False)


def test_the_loop_objective_calls_these_functions(monkeypatch, tiny_pair):
    # transfer.Objective holds no formula of its own: each of its costs is one call of a public function here.
    from nst_edu.core import transfer
    from nst_edu.core.config import preset

    calls = []

    def spy(name):
        real = getattr(costs, name)

        def wrapper(*args, **kwargs):
            calls.append(name)
            return real(*args, **kwargs)

        monkeypatch.setattr(costs, name, wrapper)

    names = ("rescaled_gram", "content_cost", "layer_style_cost_from_grams", "style_cost_from_terms")
    for name in (*names, "gram_matrix", "guided_gram", "tv_cost", "total_cost"):
        spy(name)
    C, S = tiny_pair
    cfg = preset("gatys", size=64, precision="float32", weights="random", tv_weight=0.5, beta=10.0)
    objective = transfer.Objective(transfer.build_model(cfg), C, S, cfg)
    # The targets: one rescaled_gram per style layer (which calls gram_matrix).
    assert calls == ["rescaled_gram", "gram_matrix"] * len(cfg.style_layers)
    calls.clear()
    out = objective(torch.rand_like(C))
    n = len(
        cfg.style_layers
    )  # one style, no mask: one term per layer, each G's Gram matrix against its target
    assert sorted(calls) == sorted(
        [
            "content_cost",
            "style_cost_from_terms",
            "total_cost",
            "tv_cost",
            *["gram_matrix", "layer_style_cost_from_grams"] * n,
        ]
    )
    assert torch.equal(
        out["total"], cfg.alpha * out["content"] + cfg.beta * out["style"] + cfg.tv_weight * out["tv"]
    )


def test_style_cost_from_grams_per_layer_gives_each_unweighted_layer_cost():
    a_S, a_G = two_layer_activations()
    a_G["conv4_2"] = rand(1, 2, 2, 2, seed=99)  # not named in the weights: not in the per-layer dict
    grams = {layer: gram_matrix(unroll(x)) for layer, x in a_S.items()}
    w = [("conv2_1", 0.7), ("conv1_1", 0.2)]
    J, J_layers = style_cost_from_grams(grams, a_G, w, per_layer=True)
    assert list(J_layers) == ["conv2_1", "conv1_1"]
    for layer, _ in w:
        assert torch.equal(J_layers[layer], layer_style_cost(a_S[layer], a_G[layer]))
    assert torch.equal(J, style_cost_from_grams(grams, a_G, w))
    assert torch.equal(J, 0.7 * J_layers["conv2_1"] + 0.2 * J_layers["conv1_1"])


# ------------------------------------------------------------------------------------------------
# Low precision
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("low", [torch.bfloat16, torch.float16])
def test_low_precision_inputs_are_close_to_float32(low):
    g = torch.Generator().manual_seed(33)
    a_S = torch.rand(1, 16, 12, 12, generator=g)  # ReLU-like, non-negative activations
    a_G = torch.rand(1, 16, 12, 12, generator=g)
    img = torch.rand(1, 3, 16, 16, generator=g)
    lo = lambda t: t.to(low)  # noqa: E731
    # The reference is float32 on the *rounded* inputs, so the test measures the summation, not
    # the rounding of the inputs.
    f32 = lambda t: t.to(low).float()  # noqa: E731
    pairs = [
        (content_cost(lo(a_S), lo(a_G)), content_cost(f32(a_S), f32(a_G))),
        (layer_style_cost(lo(a_S), lo(a_G)), layer_style_cost(f32(a_S), f32(a_G))),
        (gram_matrix(unroll(lo(a_S))), gram_matrix(unroll(f32(a_S)))),
        (tv_cost(lo(img)), tv_cost(f32(img))),
        (
            style_cost({"l": lo(a_S)}, {"l": lo(a_G)}, {"l": 1.0}),
            style_cost({"l": f32(a_S)}, {"l": f32(a_G)}, {"l": 1.0}),
        ),
    ]
    for got, want in pairs:
        assert got.dtype == torch.float32  # summed in float32, see costs._accurate
        assert torch.allclose(got, want, rtol=2e-2, atol=0)
    # And close to the float32 result on the unrounded inputs.
    assert torch.allclose(layer_style_cost(lo(a_S), lo(a_G)), layer_style_cost(a_S, a_G), rtol=2e-2)


def test_gram_matrix_stays_float32_under_autocast():
    A = torch.rand(8, 300, generator=torch.Generator().manual_seed(34))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        G = gram_matrix(A)
        J = layer_style_cost(A.reshape(1, 8, 15, 20), torch.zeros(1, 8, 15, 20))
    assert G.dtype == torch.float32
    assert torch.allclose(G, A @ A.T, rtol=1e-6)
    assert J.dtype == torch.float32


def test_float16_gram_does_not_overflow():
    # Entries of A A^T reach 300 * 20^2 = 120000 > 65504, the float16 maximum.
    A = torch.full((2, 300), 20.0, dtype=torch.float16)
    G = gram_matrix(A)
    assert torch.isfinite(G).all()
    assert G[0, 0].item() == 120000.0


def test_layer_style_cost_from_grams_is_the_formula_and_what_the_other_style_costs_call():
    a_S, a_G = rand(1, 3, 4, 5, seed=40), rand(1, 3, 4, 5, seed=41)
    G_S, G_G = unroll(a_S) @ unroll(a_S).T, unroll(a_G) @ unroll(a_G).T
    expected = sum((G_S[i, j] - G_G[i, j]) ** 2 for i in range(3) for j in range(3)) / (4 * 3**2 * 20**2)
    got = costs.layer_style_cost_from_grams(G_S, G_G, 20)
    torch.testing.assert_close(got, expected, rtol=1e-12, atol=0)
    assert torch.equal(layer_style_cost_from_gram(G_S, a_G), got)


@pytest.mark.parametrize(
    "G_S, G_G, M, match",
    [
        (torch.eye(2), torch.eye(3), 4, r"one shape \(n_C, n_C\)"),
        (torch.eye(2), torch.ones(2, 3), 4, r"one shape \(n_C, n_C\)"),
        (torch.eye(2), _with(torch.eye(2), float("nan")), 4, "NaN"),
        (torch.eye(2), torch.eye(2), 0, "a whole number >= 1"),
        (torch.eye(2), "G", 4, "torch.Tensor"),
    ],
)
def test_layer_style_cost_from_grams_rejects_bad_input(G_S, G_G, M, match):
    with pytest.raises(ValueError, match=match):
        costs.layer_style_cost_from_grams(G_S, G_G, M)
