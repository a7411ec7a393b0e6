"""The checks of the colour and regions exercises: each named mistake is rejected with its own words, the
right answers pass, the stub is "not attempted", and a learner's exception never escapes."""

import pytest
import torch
import torch.nn.functional as F
from conftest import stub

from nst_edu.core import colour, costs, masks
from nst_edu.teaching import checks

# ---- luminance: right answers ------------------------------------------------------------------------------


def luminance(x):
    return 0.299 * x[:, 0:1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3]  # (1, 1, H, W)


def luminance_squeezed(x):
    return (0.299 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2])[0]  # (H, W)


def yiq_textbook(x):
    R, G, B = x[:, 0], x[:, 1], x[:, 2]
    return torch.stack(
        [
            0.299 * R + 0.587 * G + 0.114 * B,
            0.596 * R - 0.274 * G - 0.322 * B,
            0.211 * R - 0.523 * G + 0.312 * B,
        ],
        dim=1,
    )


# ---- luminance: the mistakes learners make ------------------------------------------------------------------


def luminance_bt709(x):
    return 0.2126 * x[:, 0:1] + 0.7152 * x[:, 1:2] + 0.0722 * x[:, 2:3]


def luminance_mean(x):
    return x.mean(1, keepdim=True)


def luminance_channels_last(x):
    return 0.299 * x[..., 0] + 0.587 * x[..., 1] + 0.114 * x[..., 2]  # indexes the width


def luminance_reshaped_channels_last(x):
    _, _, H, W = x.shape
    return (x.reshape(-1, 3) @ torch.tensor([0.299, 0.587, 0.114])).reshape(1, 1, H, W)


def luminance_255(x):
    return luminance(x) * 255


def yiq_bad_q(x):
    out = yiq_textbook(x)
    out[:, 2] = -out[:, 2]
    return out


@pytest.mark.parametrize("fn", [luminance, luminance_squeezed, yiq_textbook, colour.rgb_to_yiq])
def test_check_luminance_passes_right_answers(fn, capsys):
    assert checks.check_luminance(fn)
    assert capsys.readouterr().out.startswith("✓ correct: luminance")


@pytest.mark.parametrize(
    "fn, words",
    [
        (luminance_bt709, "BT.709"),
        (luminance_mean, "plain mean"),
        (luminance_channels_last, "channels-last"),
        (luminance_reshaped_channels_last, "channels-last"),
        (luminance_255, "255 times too large"),
        (yiq_bad_q, "Q (channel 2)"),
    ],
)
def test_check_luminance_names_each_mistake(fn, words, capsys):
    result = checks.check_luminance(fn)
    assert not result and result.message.startswith("✗ wrong:")
    assert words in result.message, result.message


def test_check_luminance_stub_and_crash():
    assert "not attempted" in checks.check_luminance(stub).message
    assert checks.check_luminance(lambda x: x.reshape(7, -1)).message.startswith("✗ your function raised")


# ---- guided Gram: right answers ---------------------------------------------------------------------------


def guided_gram(a, mask):
    _, n_C, n_H, n_W = a.shape
    m = F.adaptive_avg_pool2d(mask[None, None], (n_H, n_W)).reshape(1, n_H * n_W)  # (1, M)
    A_m = a.reshape(n_C, n_H * n_W) * m  # (n_C, M)
    return A_m @ A_m.T * (n_H * n_W / (m**2).sum())


def guided_gram_package(a, mask):
    return costs.guided_gram(a, masks.to_layer(mask, a.shape[-2:]))


# ---- guided Gram: the mistakes learners make --------------------------------------------------------------


def _parts(a, mask, size=None):
    _, n_C, n_H, n_W = a.shape
    m = F.adaptive_avg_pool2d(mask[None, None], size or (n_H, n_W)).reshape(1, n_H * n_W)
    return a.reshape(n_C, n_H * n_W), m, n_H * n_W


def gg_no_area(a, mask):
    A, m, M = _parts(a, mask)
    return (A * m) @ (A * m).T


def gg_by_M(a, mask):
    A, m, M = _parts(a, mask)
    return (A * m) @ (A * m).T / M


def gg_one_factor(a, mask):
    A, m, M = _parts(a, mask)
    return (A * m) @ A.T * (M / (m**2).sum())


def gg_one_factor_plain_area(a, mask):
    A, m, M = _parts(a, mask)
    return (A * m) @ A.T * (M / m.sum())


def gg_plain_area(a, mask):
    A, m, M = _parts(a, mask)
    return (A * m) @ (A * m).T * (M / m.sum())


def gg_swapped_size(a, mask):
    _, _, n_H, n_W = a.shape
    A, m, M = _parts(a, mask, size=(n_W, n_H))
    return (A * m) @ (A * m).T * (M / (m**2).sum())


def gg_nearest(a, mask):
    _, n_C, n_H, n_W = a.shape
    d = mask.shape[0] // n_H
    m = mask[d // 2 :: d, d // 2 :: d].reshape(1, -1)  # one pixel per block
    A = a.reshape(n_C, n_H * n_W)
    return (A * m) @ (A * m).T * (n_H * n_W / (m**2).sum())


def gg_not_resized(a, mask):
    _, n_C, n_H, n_W = a.shape
    A = a.reshape(n_C, n_H * n_W)
    m = mask.reshape(1, -1)
    return (A * m) @ (A * m).T  # a size mismatch


def gg_not_unrolled(a, mask):
    _, n_C, n_H, n_W = a.shape
    a_m = a * F.adaptive_avg_pool2d(mask[None, None], (n_H, n_W))  # (1, n_C, n_H, n_W)
    return a_m @ a_m.transpose(-1, -2)  # (1, n_C, n_H, n_H)


def gg_detached(a, mask):
    return guided_gram(a.detach(), mask)


@pytest.mark.parametrize("fn", [guided_gram, guided_gram_package])
def test_check_guided_gram_passes_right_answers(fn, capsys):
    assert checks.check_guided_gram(fn)
    assert capsys.readouterr().out.startswith("✓ correct: guided_gram")


@pytest.mark.parametrize(
    "fn, words",
    [
        (gg_no_area, "not normalised by the mask's area"),
        (gg_by_M, "normalised by M = n_H·n_W"),
        (gg_one_factor, "only one factor is masked, (A m) Aᵀ: right for a binary mask"),
        (gg_one_factor_plain_area, "only one factor is masked"),
        (gg_plain_area, "normalise by Σ_k m_k²"),
        (gg_swapped_size, "sides swapped"),
        (gg_nearest, "nearest"),
        (gg_not_resized, "resize the mask to a's positions"),
        (gg_not_unrolled, "not unrolled"),
        (gg_detached, "carries no gradient"),
    ],
)
def test_check_guided_gram_names_each_mistake(fn, words, capsys):
    result = checks.check_guided_gram(fn)
    assert not result, result.message
    assert words in result.message, result.message


def test_one_factor_masking_is_right_for_a_binary_mask_so_the_check_uses_a_soft_one():
    # Why the check needs a soft mask: with m ∈ {0, 1}, m² = m and (A m) Aᵀ = (A m)(A m)ᵀ.
    a = torch.rand(1, 3, 4, 4, generator=torch.Generator().manual_seed(1))
    layer = (torch.rand(4, 4, generator=torch.Generator().manual_seed(2)) > 0.5).float()  # (4, 4) binary
    binary = layer.repeat_interleave(2, 0).repeat_interleave(2, 1)  # (8, 8): constant on each 2 × 2 block
    torch.testing.assert_close(gg_one_factor(a, binary), guided_gram(a, binary))
    soft = binary * 0.5 + 0.25
    assert not torch.allclose(gg_one_factor(a, soft), guided_gram(a, soft))


def test_check_guided_gram_stub():
    assert "not attempted" in checks.check_guided_gram(stub).message
