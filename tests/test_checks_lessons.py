"""The exercise checks of lessons 03 (total cost), 05 (content + uniform noise) and 06 (frame changes): each
fails on plausible wrong answers, says "not attempted" for the stub, raises nothing for a learner's bug, and
passes on the reference solution in notebooks/solutions/. Lesson 08's checks (luminance, guided Gram matrix) are
tested in test_checks_colour.py; here, that lesson's reference solutions pass them and agree with the package."""

import numpy as np
import pytest
import torch
from conftest import load_solution as _solution
from conftest import stub

from nst_edu.core import colour, costs, masks, noise
from nst_edu.teaching import checks

L03 = _solution("lesson03_total_cost")
L05 = _solution("lesson05_uniform_noise")
L06 = _solution("lesson06_frame_changes")
L08_LUMINANCE = _solution("lesson08_luminance")
L08_GUIDED_GRAM = _solution("lesson08_guided_gram")


# ---- wrong total costs a learner plausibly writes ---------------------------------------------------


def total_swapped(J_content, J_style, alpha=10, beta=40):
    return beta * J_content + alpha * J_style


def total_unweighted(J_content, J_style, alpha=10, beta=40):
    return J_content + J_style


def total_content_only(J_content, J_style, alpha=10, beta=40):
    return alpha * J_content


def total_course_defaults(J_content, J_style, alpha=10, beta=40):
    return 10 * J_content + 40 * J_style  # ignores the alpha and beta it is given


def total_mean(J_content, J_style, alpha=10, beta=40):
    return (alpha * J_content + beta * J_style) / (alpha + beta)


def total_minus(J_content, J_style, alpha=10, beta=40):
    return alpha * J_content - beta * J_style


def total_item(J_content, J_style, alpha=10, beta=40):
    return (alpha * J_content + beta * J_style).item()  # a Python float: no gradient


def total_detached(J_content, J_style, alpha=10, beta=40):
    return (alpha * J_content + beta * J_style).detach()


def total_new_leaf(J_content, J_style, alpha=10, beta=40):
    # the right value in a fresh tensor: it requires grad, but the optimizer's pixels get none
    return torch.tensor(float((alpha * J_content + beta * J_style).detach()), requires_grad=True)


def total_raises(J_content, J_style, alpha=10, beta=40):
    return alpha * J_content + beta * J_style_typo  # noqa: F821 (the learner's typo)


# ---- wrong starting images --------------------------------------------------------------------------


def _N(C, seed):
    return torch.rand(C.shape, generator=torch.Generator().manual_seed(seed))


def noise_swapped(C, ratio=0.6, seed=0):
    return (ratio * C + (1 - ratio) * _N(C, seed)).clamp(0, 1)


def noise_additive(C, ratio=0.6, seed=0):
    return noise.initial_image(C, "additive", ratio, seed)


def noise_gaussian(C, ratio=0.6, seed=0):
    return noise.initial_image(C, "gaussian", ratio, seed)


def noise_unseeded(C, ratio=0.6, seed=0):
    return ((1 - ratio) * C + ratio * torch.rand(C.shape)).clamp(0, 1)  # global RNG, ignores seed


def noise_only(C, ratio=0.6, seed=0):
    return _N(C, seed)


def noise_no_content_factor(C, ratio=0.6, seed=0):
    return C + ratio * _N(C, seed)  # not clipped either


def noise_in_place(C, ratio=0.6, seed=0):
    return C.mul_(1 - ratio).add_(ratio * _N(C, seed))


def noise_no_batch(C, ratio=0.6, seed=0):
    return ((1 - ratio) * C + ratio * _N(C, seed)).clamp(0, 1)[0]


def noise_content(C, ratio=0.6, seed=0):
    return C.clone()


def noise_not_clipped(C, ratio=0.6, seed=0):
    return (1 - ratio) * C + ratio * _N(C, seed)  # right wherever C is in [0, 1]


def noise_clipped_before_mix(C, ratio=0.6, seed=0):
    return (1 - ratio) * C.clamp(0, 1) + ratio * _N(C, seed)


def noise_global_seed(C, ratio=0.6, seed=0):
    torch.manual_seed(seed)  # the same N as a local generator, but it resets the caller's random numbers
    return ((1 - ratio) * C + ratio * torch.rand(C.shape)).clamp(0, 1)


# ---- wrong frame changes ----------------------------------------------------------------------------


def _images(frames):
    return [frame for _, frame in frames]


def changes_uint8(frames):
    f = _images(frames)
    return [np.abs(b - a).mean() / 255 for a, b in zip(f[:-1], f[1:])]  # uint8: 3 − 5 wraps to 254


def changes_unscaled(frames):
    f = [x.astype(float) for x in _images(frames)]
    return [np.abs(b - a).mean() for a, b in zip(f[:-1], f[1:])]


def changes_signed(frames):
    f = [x.astype(float) / 255 for x in _images(frames)]
    return [(b - a).mean() for a, b in zip(f[:-1], f[1:])]


def changes_rms(frames):
    f = [x.astype(float) / 255 for x in _images(frames)]
    return np.array([np.sqrt(((b - a) ** 2).mean()) for a, b in zip(f[:-1], f[1:])])


def changes_from_first(frames):
    f = [x.astype(float) / 255 for x in _images(frames)]
    return [np.abs(b - f[0]).mean() for b in f[1:]]


def changes_padded(frames):
    return [0.0] + list(L06.frame_changes(frames))  # one per frame instead of one per pair


def changes_in_place(frames):
    for _, frame in frames:
        frame //= 2  # "normalizes" the learner's way, spoiling the caller's frames
    return L06.frame_changes(frames)


def changes_tensor(frames):
    return torch.tensor(L06.frame_changes(frames))  # a tensor is a fine answer


def changes_none(frames):
    f = [x.astype(float) / 255 for x in _images(frames)]
    [np.abs(b - a).mean() for a, b in zip(f[:-1], f[1:])]  # forgot to return


# ---- the tests --------------------------------------------------------------------------------------


def test_total_cost_solution_passes(capsys):
    result = checks.check_total_cost(L03.total_cost)
    assert result.passed and bool(result)
    assert capsys.readouterr().out.startswith("✓ correct: total_cost")


def test_uniform_noise_solution_passes(capsys):
    result = checks.check_uniform_noise(L05.uniform_noise_image)
    assert result.passed
    assert capsys.readouterr().out.startswith("✓ correct: uniform_noise")


def test_uniform_noise_solution_equals_the_package():
    C = torch.rand(1, 3, 9, 7, generator=torch.Generator().manual_seed(3))
    for ratio, seed in ((0.6, 0), (0.2, 5)):
        assert torch.equal(
            L05.uniform_noise_image(C, ratio, seed), noise.initial_image(C, "uniform", ratio, seed)
        )


def test_frame_changes_solution_passes(capsys):
    assert checks.check_frame_changes(L06.frame_changes).passed
    assert checks.check_frame_changes(changes_tensor).passed
    assert capsys.readouterr().out.startswith("✓ correct: frame_changes")


def test_frame_changes_solution_equals_the_package():
    from nst_edu.output import animation

    rng = np.random.default_rng(7)
    frames = [(k, rng.integers(0, 256, size=(5, 9, 3), dtype=np.uint8)) for k in range(4)]
    np.testing.assert_allclose(L06.frame_changes(frames), animation.frame_changes(frames), rtol=1e-12)


@pytest.mark.parametrize(
    "check", [checks.check_total_cost, checks.check_uniform_noise, checks.check_frame_changes]
)
def test_stub_is_not_attempted(check, capsys):
    result = check(stub)
    assert not result.passed
    assert "not attempted yet" in capsys.readouterr().out


@pytest.mark.parametrize(
    "check, wrong, says",
    [
        (checks.check_total_cost, total_swapped, "swapped"),
        (checks.check_total_cost, total_unweighted, "weights α and β are missing"),
        (checks.check_total_cost, total_content_only, "only α J_content"),
        (checks.check_total_cost, total_course_defaults, "default weights"),
        (checks.check_total_cost, total_mean, "weighted mean"),
        (checks.check_total_cost, total_minus, "are added"),
        (checks.check_total_cost, total_item, "Python number"),
        (checks.check_total_cost, total_detached, "no gradient"),
        (checks.check_total_cost, total_new_leaf, "∂J/∂J_content"),
        (checks.check_total_cost, total_raises, "raised NameError"),
        (checks.check_uniform_noise, noise_swapped, "weights are swapped"),
        (checks.check_uniform_noise, noise_additive, "additive recipe"),
        (checks.check_uniform_noise, noise_gaussian, "differs from clip"),
        (checks.check_uniform_noise, noise_unseeded, "not the seeded draw"),
        (checks.check_uniform_noise, noise_only, "pure noise"),
        (checks.check_uniform_noise, noise_no_content_factor, "without the factor (1 − r)"),
        (checks.check_uniform_noise, noise_in_place, "changed C in place"),
        (checks.check_uniform_noise, noise_no_batch, "C's shape"),
        (checks.check_uniform_noise, noise_content, "no noise was added"),
        (checks.check_uniform_noise, noise_not_clipped, "not clipped"),
        (checks.check_uniform_noise, noise_clipped_before_mix, "clipped before the mix"),
        (checks.check_uniform_noise, noise_global_seed, "global random state"),
        (checks.check_frame_changes, changes_uint8, "wraps around"),
        (checks.check_frame_changes, changes_unscaled, "divide by 255"),
        (checks.check_frame_changes, changes_signed, "absolute value is missing"),
        (checks.check_frame_changes, changes_rms, "root mean square"),
        (checks.check_frame_changes, changes_from_first, "compared with the first one"),
        (checks.check_frame_changes, changes_padded, "K − 1 changes"),
        (checks.check_frame_changes, changes_in_place, "changed the frames in place"),
        (checks.check_frame_changes, changes_none, "returned NoneType"),
    ],
)
def test_wrong_answers_fail_with_a_reason(check, wrong, says, capsys):
    result = check(wrong)
    assert not result.passed
    out = capsys.readouterr().out
    assert out.startswith("✗") and says in out, out


def test_uniform_noise_rejects_a_generator_made_once_outside(capsys):
    shared = torch.Generator().manual_seed(0)  # fresh here, so the first call (seed 0) draws the right N

    def uniform_noise_image(C, ratio=0.6, seed=0):
        return ((1 - ratio) * C + ratio * torch.rand(C.shape, generator=shared)).clamp(0, 1)

    result = checks.check_uniform_noise(uniform_noise_image)
    assert not result.passed and "second time with the same seed" in result.message, result.message
    capsys.readouterr()


def test_uniform_noise_check_leaves_the_global_rng_as_it_was(capsys):
    # The check runs the learner's function with the global generator forked: a learner's torch.manual_seed
    # must not change the notebook's later draws (nor the verdict depend on what the notebook drew before).
    torch.manual_seed(123)
    torch.rand(5)
    before = torch.get_rng_state()
    first = checks.check_uniform_noise(noise_global_seed).message
    assert torch.equal(torch.get_rng_state(), before)
    torch.rand(17)
    assert checks.check_uniform_noise(noise_global_seed).message == first
    assert checks.check_uniform_noise(L05.uniform_noise_image).passed
    capsys.readouterr()


def test_checks_print_the_same_message_every_run(capsys):
    # The notebooks commit these lines as outputs: they must not change between runs.
    for check, fn in (
        (checks.check_total_cost, total_swapped),
        (checks.check_uniform_noise, noise_swapped),
        (checks.check_frame_changes, changes_uint8),
    ):
        first, second = check(fn).message, check(fn).message
        assert first == second
    capsys.readouterr()


# ---- lesson 08: the reference solutions ---------------------------------------------------------------------


def test_lesson08_luminance_solution_passes_and_is_yiqs_y(capsys):
    assert checks.check_luminance(L08_LUMINANCE.luminance)
    x = torch.rand(1, 3, 6, 5, generator=torch.Generator().manual_seed(3))  # (1, 3, H, W)
    Y = L08_LUMINANCE.luminance(x)
    assert Y.shape == (1, 1, 6, 5)
    torch.testing.assert_close(Y, colour.rgb_to_yiq(x)[:, :1])
    capsys.readouterr()


def test_lesson08_guided_gram_solution_passes_and_equals_the_package(capsys):
    assert checks.check_guided_gram(L08_GUIDED_GRAM.guided_gram)
    gen = torch.Generator().manual_seed(4)
    a = torch.randn(1, 5, 4, 6, generator=gen, dtype=torch.float64, requires_grad=True)  # (1, n_C, n_H, n_W)
    mask = torch.rand(16, 24, generator=gen, dtype=torch.float64)  # (H, W) = 4 × (n_H, n_W), soft
    G = L08_GUIDED_GRAM.guided_gram(a, mask)  # (n_C, n_C)
    package = costs.guided_gram(a, masks.to_layer(mask, (4, 6)).double())  # to_layer computes in float32
    torch.testing.assert_close(G, package, rtol=1e-5, atol=1e-5)
    assert torch.autograd.gradcheck(lambda t: L08_GUIDED_GRAM.guided_gram(t, mask), (a,))
    capsys.readouterr()
