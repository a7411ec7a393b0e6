"""Tests for nst_edu.core.noise: each kind against an independent computation, and its statistics."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from nst_edu.core import images
from nst_edu.core.noise import KINDS, initial_image

H, W = 24, 32
# The course's CONFIG.MEANS, RGB, 0–255 units: typed here, not imported, so that a slip in the package shows.
COURSE_MEANS_RGB = (123.68, 116.779, 103.939)


def content(seed: int = 1, dtype=torch.float32) -> torch.Tensor:
    return torch.rand(1, 3, H, W, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def reference(C: torch.Tensor, kind: str, r: float, seed: int) -> torch.Tensor:
    """The docstring's formulas in float64, noise from a generator seeded the same way."""
    gen = torch.Generator().manual_seed(seed)
    C = C.double()
    if kind == "gaussian":
        N = 0.5 + 0.25 * torch.randn(C.shape, generator=gen).double()
        return ((1 - r) * C + r * N).clamp(0, 1)
    U = torch.rand(C.shape, generator=gen).double()
    if kind == "white":
        return U
    if kind == "uniform":
        return ((1 - r) * C + r * U).clamp(0, 1)
    if kind == "additive":
        return (C + (-r + 2 * r * U)).clamp(0, 1)  # U(-r, r)
    if kind == "course-tf1":
        # As the course computed it: in VGG's input space x' = 255 x − m, then back by x = (x' + m) / 255.
        m = torch.tensor(COURSE_MEANS_RGB, dtype=torch.float64).view(1, 3, 1, 1)
        C_pre = 255 * C - m  # the course's reshape_and_normalize_image
        n = -20 + 40 * U  # np.random.uniform(-20, 20)
        G0_pre = n * r + C_pre * (1 - r)  # generate_noise_image(content_image, r)
        return ((G0_pre + m) / 255).clamp(0, 1)
    raise AssertionError(kind)


@pytest.mark.parametrize(
    "kind, r",
    [
        ("white", 0.6),
        ("uniform", 0.6),
        ("gaussian", 0.5),
        ("additive", 0.25),
        ("uniform", 0.0),
        ("additive", 1.0),
        ("course-tf1", 0.6),
        ("course-tf1", 0.2),
        ("course-tf1", 1.0),
    ],
)
def test_formula(kind, r):
    C = content()
    G0 = initial_image(C, kind, ratio=r, seed=7)
    assert G0.shape == C.shape and G0.dtype == C.dtype
    assert torch.allclose(G0.double(), reference(C, kind, r, 7), atol=1e-6)


def test_content_is_a_detached_copy():
    C = content().requires_grad_(True)
    before = C.detach().clone()
    G0 = initial_image(C, "content")
    assert torch.equal(G0, before) and not G0.requires_grad
    G0.zero_()
    assert torch.equal(C.detach(), before)


def test_style_is_resized_to_content():
    C = content()
    S = torch.rand(1, 3, 50, 70, generator=torch.Generator().manual_seed(3))
    G0 = initial_image(C, "style", S=S)
    assert torch.equal(G0, images.resize_to(S, (H, W)))


def test_style_needs_S():
    with pytest.raises(ValueError, match="S="):
        initial_image(content(), "style")
    with pytest.raises(ValueError, match=r"S must have shape \(1, 3, H, W\), got \(3, 5, 5\)"):
        initial_image(content(), "style", S=torch.rand(3, 5, 5))


def test_content_colour_takes_the_style_colour_statistics():
    # Away from the clip: each channel of G0 has S's mean and standard deviation, and C's pattern.
    gen = torch.Generator().manual_seed(5)
    C = 0.4 + 0.1 * torch.rand(1, 3, 20, 30, generator=gen)
    S = torch.rand(1, 3, 40, 40, generator=gen) * torch.tensor([0.2, 0.3, 0.1]).view(1, 3, 1, 1) + 0.3
    G0 = initial_image(C, "content-colour", S=S)
    torch.testing.assert_close(G0.mean((2, 3)), S.mean((2, 3)), atol=1e-5, rtol=0)
    torch.testing.assert_close(G0.std((2, 3)), S.std((2, 3)), atol=1e-5, rtol=0)
    z = (C - C.mean((2, 3), keepdim=True)) / C.std((2, 3), keepdim=True)  # C's pattern, standardized
    zG = (G0 - G0.mean((2, 3), keepdim=True)) / G0.std((2, 3), keepdim=True)
    torch.testing.assert_close(zG, z, atol=1e-4, rtol=0)
    # A flat channel has no pattern to stretch: it becomes S's mean, not NaN.
    flat = initial_image(torch.full((1, 3, 8, 8), 0.5), "content-colour", S=S)
    torch.testing.assert_close(flat[0, :, 0, 0], S.mean((2, 3))[0], atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match="S="):
        initial_image(C, "content-colour")


def test_white_ignores_content():
    a = initial_image(content(1), "white", seed=4)
    b = initial_image(torch.zeros(1, 3, H, W), "white", seed=4)
    assert torch.equal(a, b)


def test_uniform_statistics():
    # 0.6 noise in U(0, 1) + 0.4 content: with C = 0.5 everywhere, G0 ~ U(0.2, 0.8).
    G0 = initial_image(torch.full((1, 3, 128, 128), 0.5), "uniform", ratio=0.6, seed=0)
    assert abs(float(G0.mean()) - 0.5) < 0.01
    assert abs(float(G0.std()) - 0.6 / 12**0.5) < 0.01
    assert float(G0.min()) >= 0.2 - 1e-6 and float(G0.max()) <= 0.8 + 1e-6


def test_additive_recipe_statistics():
    # Current course recipe: C + U(-0.25, 0.25); with C = 0.5 the range is exactly [0.25, 0.75].
    G0 = initial_image(torch.full((1, 3, 128, 128), 0.5), "additive", ratio=0.25, seed=0)
    assert abs(float(G0.mean()) - 0.5) < 0.01
    assert abs(float(G0.std()) - 0.5 / 12**0.5) < 0.01
    assert 0.25 - 1e-6 <= float(G0.min()) < 0.26 and 0.74 < float(G0.max()) <= 0.75 + 1e-6


def test_course_tf1_statistics():
    # 0.4 C + 0.6 (m + n)/255: with C = 0.5 everywhere, channel c is U(0.2 + 0.6 (m_c − 20)/255, … + 20 …):
    # mean 0.2 + 0.6 m_c/255, standard deviation 0.6 · 40 / (255 √12) ≈ 0.0272 (uniform r = 0.6: ≈ 0.173).
    G0 = initial_image(torch.full((1, 3, 128, 128), 0.5), "course-tf1", ratio=0.6, seed=0)
    for c, m in enumerate(COURSE_MEANS_RGB):
        channel = G0[0, c].double()
        assert abs(float(channel.mean()) - (0.2 + 0.6 * m / 255)) < 1e-3
        assert abs(float(channel.std()) - 0.6 * 40 / (255 * 12**0.5)) < 1e-3
        assert float(channel.min()) >= 0.2 + 0.6 * (m - 20) / 255 - 1e-6
        assert float(channel.max()) <= 0.2 + 0.6 * (m + 20) / 255 + 1e-6


def test_course_tf1_is_far_less_noisy_than_uniform():
    # Same ratio r = 0.6, same draw U: the noise r·N has a range 1 wide in "uniform" and 40/255 wide here.
    C = content()
    noise_uniform = initial_image(C, "uniform", 0.6, seed=3) - 0.4 * C
    noise_tf1 = initial_image(C, "course-tf1", 0.6, seed=3) - 0.4 * C
    # Per channel: course-tf1's noise is centred on each channel's own mean colour.
    ratio = noise_uniform.std((2, 3)) / noise_tf1.std((2, 3))  # (1, 3)
    torch.testing.assert_close(ratio, torch.full((1, 3), 255 / 40), atol=1e-3, rtol=0)


@pytest.mark.parametrize("r", [0.0, 0.6, 1.0])
def test_course_tf1_never_needs_the_clip(r):
    # Even at C = 0 or 1 and r = 1 every value stays inside [0, 1]: the unclipped formula is the result.
    for fill in (0.0, 1.0):
        C = torch.full((1, 3, 64, 64), fill, dtype=torch.float64)
        G0 = initial_image(C, "course-tf1", ratio=r, seed=2)
        U = torch.rand(C.shape, generator=torch.Generator().manual_seed(2)).double()
        m = torch.tensor(COURSE_MEANS_RGB, dtype=torch.float64).view(1, 3, 1, 1)
        unclipped = (1 - r) * C + r * (m + 40 * U - 20) / 255
        assert torch.allclose(G0, unclipped, atol=1e-12, rtol=0)
        if r > 0:  # strictly inside: the noise band (m ± 20)/255 lies within (0, 1) for every channel
            assert 0.0 < float(unclipped.min()) and float(unclipped.max()) < 1.0


def correlation(x: torch.Tensor, y: torch.Tensor) -> float:
    """Pearson correlation of x and y over the pixels of each channel, averaged over the 3 channels (float64)."""
    x, y = x.double()[0].flatten(1), y.double()[0].flatten(1)  # (3, H*W)
    x, y = x - x.mean(1, keepdim=True), y - y.mean(1, keepdim=True)
    return float(((x * y).sum(1) / (x.norm(dim=1) * y.norm(dim=1))).mean())


def test_noise_correlated_with_the_content():
    # "Noise correlated with the content": G0 = (1 − r) C + r N with N independent of C has Pearson correlation
    # ρ = (1 − r) σ_C / sqrt((1 − r)² σ_C² + r² σ_N²) with C. Here C ~ U(0, 1), σ_C = 1/√12, nothing is clipped.
    C = torch.rand(1, 3, 128, 128, generator=torch.Generator().manual_seed(8), dtype=torch.float64)
    s_C = 1 / 12**0.5
    for kind, s_N in (("uniform", 1 / 12**0.5), ("course-tf1", 40 / 255 / 12**0.5)):
        expected = 0.4 * s_C / (0.16 * s_C**2 + 0.36 * s_N**2) ** 0.5  # ≈ 0.55 and ≈ 0.97
        assert abs(correlation(initial_image(C, kind, 0.6, seed=1), C) - expected) < 0.01, kind
    assert abs(correlation(initial_image(C, "white", seed=1), C)) < 0.02
    assert correlation(initial_image(C, "additive", 0.25, seed=1), C) > 0.85  # ≈ 0.9 before the clip


def test_gaussian_statistics():
    # With r = 0.2 clipping never bites: G0 = 0.4 + 0.2 N, N ~ N(0.5, 0.25^2) -> mean 0.5, std 0.05.
    G0 = initial_image(torch.full((1, 3, 128, 128), 0.5), "gaussian", ratio=0.2, seed=0)
    assert abs(float(G0.mean()) - 0.5) < 0.005
    assert abs(float(G0.std()) - 0.05) < 0.003


@pytest.mark.parametrize("kind", ["white", "uniform", "gaussian", "additive", "course-tf1"])
def test_clipped_to_unit_range(kind):
    for fill in (0.0, 1.0):
        G0 = initial_image(torch.full((1, 3, 64, 64), fill), kind, ratio=1.0, seed=2)
        assert float(G0.min()) >= 0.0 and float(G0.max()) <= 1.0
    # Additive noise on a black or white image must reach the bounds, so clipping really happened.
    assert float(initial_image(torch.zeros(1, 3, 64, 64), "additive", ratio=0.5).min()) == 0.0


@pytest.mark.parametrize("kind", ("white", "uniform", "gaussian", "additive", "course-tf1"))
def test_reproducible_and_seed_dependent(kind):
    C = content()
    a = initial_image(C, kind, seed=11)
    assert torch.equal(a, initial_image(C, kind, seed=11))
    assert not torch.equal(a, initial_image(C, kind, seed=12))


def test_global_rng_untouched_and_ignored():
    C = content()
    state = torch.get_rng_state()
    a = initial_image(C, "uniform", seed=5)
    assert torch.equal(torch.get_rng_state(), state)
    torch.manual_seed(999)
    assert torch.equal(initial_image(C, "uniform", seed=5), a)


def test_dtype_follows_content():
    C64 = content(dtype=torch.float64)
    G0 = initial_image(C64, "gaussian", seed=3)
    assert G0.dtype == torch.float64
    assert torch.allclose(G0.float(), initial_image(C64.float(), "gaussian", seed=3), atol=1e-6)
    S = torch.rand(1, 3, 10, 10)
    assert initial_image(C64, "style", S=S).dtype == torch.float64


@settings(max_examples=40, deadline=None)
@given(kind=st.sampled_from(KINDS), ratio=st.floats(0.0, 1.0), seed=st.integers(0, 2**31))
def test_any_valid_call_gives_an_image(kind, ratio, seed):
    C = content()
    G0 = initial_image(C, kind, ratio=ratio, seed=seed, S=torch.rand(1, 3, 9, 13))
    assert G0.shape == C.shape and not G0.requires_grad
    assert float(G0.min()) >= 0.0 and float(G0.max()) <= 1.0


def test_bad_kind_lists_kinds():
    listed = "'content', 'style', 'white', 'uniform', 'gaussian', 'additive', 'course-tf1', 'content-colour'"
    with pytest.raises(ValueError, match=listed):
        initial_image(content(), "pink")


@pytest.mark.parametrize("ratio", [-0.1, 1.1, float("nan"), "0.5", True])
def test_bad_ratio(ratio):
    with pytest.raises(ValueError, match="ratio must be a number in \\[0, 1\\]"):
        initial_image(content(), "uniform", ratio=ratio)


@pytest.mark.parametrize(
    "C, words",
    [
        (torch.rand(3, H, W), r"\(1, 3, H, W\), got \(3, 24, 32\)"),
        (torch.rand(1, 1, H, W), r"got \(1, 1, 24, 32\)"),
        (torch.zeros(1, 3, H, W, dtype=torch.uint8), "float"),
        ([[0.5]], "torch tensor"),
        (torch.full((1, 3, 2, 2), float("nan")), "NaN"),
    ],
)
def test_bad_content(C, words):
    with pytest.raises(ValueError, match=words):
        initial_image(C, "uniform")
