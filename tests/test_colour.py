"""colour: the YIQ transform, luminance matching, colour (mean/covariance) matching, keep-colours."""

import numpy as np
import pytest
import torch

from nst_edu.core import colour

gen = torch.Generator().manual_seed(0)


def rand_image(h=17, w=23, dtype=torch.float64):
    return torch.rand(1, 3, h, w, generator=gen, dtype=dtype)


def test_yiq_against_the_ntsc_formula_written_out():
    x = rand_image()
    R, G, B = x[0]
    Y = 0.299 * R + 0.587 * G + 0.114 * B
    I = 0.595716 * R - 0.274453 * G - 0.321263 * B  # noqa: E741 (the I of YIQ)
    Q = 0.211456 * R - 0.522591 * G + 0.311135 * B
    torch.testing.assert_close(colour.rgb_to_yiq(x)[0], torch.stack([Y, I, Q]), rtol=0, atol=1e-15)


@pytest.mark.parametrize("dtype, atol", [(torch.float64, 1e-14), (torch.float32, 1e-6)])
def test_round_trip_rgb_yiq_rgb(dtype, atol):
    x = rand_image(dtype=dtype)
    torch.testing.assert_close(colour.yiq_to_rgb(colour.rgb_to_yiq(x)), x, rtol=0, atol=atol)


def test_grey_has_no_chrominance_and_stays_grey():
    grey = torch.rand(1, 1, 9, 11, generator=gen, dtype=torch.float64).expand(1, 3, 9, 11)
    yiq = colour.rgb_to_yiq(grey)
    assert yiq[:, 1:].abs().max() < 1e-15
    torch.testing.assert_close(yiq[:, 0], grey[:, 0], rtol=0, atol=1e-15)  # Y of grey is the grey level
    back = colour.yiq_to_rgb(yiq)
    assert (back.max(1).values - back.min(1).values).max() < 1e-14
    assert (colour.luminance_image(rand_image()).std(1)).max() == 0  # three equal channels


def test_match_luminance_gives_the_content_mean_and_std():
    Y_S, Y_C = (
        torch.rand(1, 1, 8, 8, generator=gen, dtype=torch.float64) * 0.3,
        torch.rand(1, 1, 5, 7, generator=gen, dtype=torch.float64),
    )
    out = colour.match_luminance(Y_S, Y_C)
    assert out.shape == Y_S.shape
    torch.testing.assert_close(out.mean(), Y_C.mean(), rtol=0, atol=1e-12)
    torch.testing.assert_close(out.std(unbiased=False), Y_C.std(unbiased=False), rtol=0, atol=1e-12)
    # an affine map with positive slope: the order of the pixels is kept
    assert torch.equal(out.flatten().argsort(), Y_S.flatten().argsort())
    flat = colour.match_luminance(torch.full((1, 1, 4, 4), 0.2, dtype=torch.float64), Y_C)
    assert torch.isfinite(flat).all() and flat.std() == 0


def _mean_cov(x):
    p = x.reshape(3, -1).double()
    d = p - p.mean(1, keepdim=True)
    return p.mean(1), d @ d.T / p.shape[1]


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_match_colour_gives_the_content_mean_and_covariance(dtype):
    C = rand_image(20, 30, dtype) * torch.tensor([0.9, 0.5, 0.2], dtype=dtype).view(1, 3, 1, 1)
    S = rand_image(13, 17, dtype) ** 2
    S[:, 2] = 0.7 * S[:, 0] + 0.3 * S[:, 2]  # correlated channels
    out = colour.match_colour(S, C)
    assert out.shape == S.shape and out.dtype == dtype
    (m_out, c_out), (m_C, c_C) = _mean_cov(out), _mean_cov(C)
    torch.testing.assert_close(m_out, m_C, rtol=0, atol=1e-5)
    torch.testing.assert_close(c_out, c_C, rtol=0, atol=1e-5)


def test_match_colour_of_an_image_with_its_own_statistics_is_the_identity():
    S = rand_image()
    torch.testing.assert_close(colour.match_colour(S, S), S, rtol=0, atol=1e-6)


def test_match_colour_of_a_grey_style_to_a_grey_content_stays_grey():
    S = torch.rand(1, 1, 9, 9, generator=gen, dtype=torch.float64).expand(1, 3, 9, 9).contiguous()
    C = (
        (torch.rand(1, 1, 6, 6, generator=gen, dtype=torch.float64) * 0.5 + 0.2)
        .expand(1, 3, 6, 6)
        .contiguous()
    )
    out = colour.match_colour(S, C)
    assert (out.max(1).values - out.min(1).values).max() < 1e-6


def test_keep_colours_has_the_luminance_of_G_and_the_chrominance_of_C():
    G, C = rand_image() * 0.5 + 0.25, rand_image() * 0.5 + 0.25
    out = colour.rgb_to_yiq(colour.keep_colours(G, C))
    yiq_G, yiq_C = colour.rgb_to_yiq(G), colour.rgb_to_yiq(C)
    inside = ((colour.yiq_to_rgb(torch.cat([yiq_G[:, :1], yiq_C[:, 1:]], 1)) - 0.5).abs() < 0.5).all(1)
    assert inside.float().mean() > 0.5  # most pixels are not clipped, and those match exactly
    torch.testing.assert_close(out[:, 0][inside], yiq_G[:, 0][inside], rtol=0, atol=1e-12)
    torch.testing.assert_close(
        out[:, 1:].permute(1, 0, 2, 3)[:, inside],
        yiq_C[:, 1:].permute(1, 0, 2, 3)[:, inside],
        rtol=0,
        atol=1e-12,
    )
    assert out.shape == G.shape


@pytest.mark.parametrize(
    "bad", [torch.rand(3, 4, 4), torch.rand(1, 1, 4, 4), torch.zeros(1, 3, 2, 2, dtype=torch.int64), "x"]
)
def test_not_an_rgb_image_is_one_clear_error(bad):
    with pytest.raises(ValueError, match=r"must be a float RGB image of shape \(1, 3, H, W\)"):
        colour.rgb_to_yiq(bad)


def test_keep_colours_needs_equal_shapes():
    with pytest.raises(ValueError, match="same shape"):
        colour.keep_colours(rand_image(8, 8), rand_image(8, 9))


# --- the colour modes at the two ends of a run (colour.prepare / colour.finish, transfer.run) --------------


def test_prepare_luminance_gives_grey_images_with_the_content_luminance_statistics():
    C = rand_image(12, 16) * 0.4 + 0.3
    S = rand_image(10, 10) * 0.3 + 0.1
    C_in, (S_in,) = colour.prepare(C, [S], "luminance")
    for x in (C_in, S_in):
        assert (x.max(1).values - x.min(1).values).max() == 0  # three equal channels: grey
    torch.testing.assert_close(C_in[:, 0], colour.rgb_to_yiq(C)[:, 0], rtol=0, atol=1e-12)
    Y_C, Y_S = colour.rgb_to_yiq(C)[:, 0], S_in[:, 0]
    torch.testing.assert_close(Y_S.mean(), Y_C.mean(), rtol=0, atol=1e-5)  # nothing clipped here
    torch.testing.assert_close(Y_S.std(unbiased=False), Y_C.std(unbiased=False), rtol=0, atol=1e-5)


def test_prepare_histogram_recolours_each_style_to_the_content_mean_and_covariance():
    C = rand_image(20, 30) * torch.tensor([0.5, 0.4, 0.2], dtype=torch.float64).view(1, 3, 1, 1) + 0.2
    S1 = rand_image(13, 17) * 0.5 + 0.25
    S2 = rand_image(9, 9) * 0.3 + 0.3
    C_in, styles = colour.prepare(C, [S1, S2], "histogram")
    assert C_in is C and len(styles) == 2
    for S_in, S in zip(styles, (S1, S2)):
        assert S_in.shape == S.shape and 0 <= S_in.min() and S_in.max() <= 1
        (m_S, c_S), (m_C, c_C) = _mean_cov(S_in), _mean_cov(C)
        torch.testing.assert_close(m_S, m_C, rtol=0, atol=1e-5)
        torch.testing.assert_close(c_S, c_C, rtol=0, atol=1e-5)


@pytest.mark.parametrize("mode", ["style", "keep-colours"])
def test_prepare_keeps_the_images_for_the_other_modes(mode):
    C, S = rand_image(), rand_image()
    C_in, (S_in,) = colour.prepare(C, [S], mode)
    assert C_in is C and S_in is S


def test_finish_puts_the_content_chrominance_back_only_where_asked():
    G, C = rand_image() * 0.4 + 0.3, rand_image() * 0.4 + 0.3
    for mode in ("style", "histogram"):
        assert colour.finish(G, C, mode) is G
    for mode in ("luminance", "keep-colours"):
        torch.testing.assert_close(colour.finish(G, C, mode), colour.keep_colours(G, C), rtol=0, atol=0)


def _unclipped_iq_match(result, C):
    """Where no channel of the result was clipped, its I and Q equal C's."""
    yiq_R, yiq_C = colour.rgb_to_yiq(result.double()), colour.rgb_to_yiq(C.double())
    inside = ((result > 1e-6) & (result < 1 - 1e-6)).all(1)[0]  # (H, W)
    assert inside.float().mean() > 0.5
    torch.testing.assert_close(yiq_R[0, 1:, inside], yiq_C[0, 1:, inside], rtol=0, atol=1e-5)


@pytest.mark.parametrize("mode", ["luminance", "keep-colours"])
def test_run_in_luminance_and_keep_colours_mode_returns_the_content_chrominance(mode):
    import nst_edu
    from nst_edu.core import images, transfer
    from nst_edu.core.config import preset

    cfg = preset("fast", size=64, steps=3, precision="float32", colour=mode, frame_every=1)
    grey = []
    result = nst_edu.run(
        "chelsea", "swirls", cfg, progress=False, callback=lambda info: grey.append(info.image.std(1).max())
    )
    C = images.load_image("chelsea", size=64)
    _unclipped_iq_match(result.image, C)
    np.testing.assert_array_equal(result.frames[-1][1], transfer._to_frame(result.image))  # frames in colour
    if mode == "luminance":
        assert max(grey) == 0  # G itself stays grey: its luminance is what is optimized
    assert np.isfinite(result.history.column("total")).all()


def test_run_in_histogram_mode_uses_the_recoloured_style():
    import nst_edu
    from nst_edu.core import images, transfer
    from nst_edu.core.config import preset

    cfg = preset("fast", size=64, steps=3, precision="float32", colour="histogram")
    C, S = images.load_image("chelsea", size=64), images.load_image("swirls", size=64)
    result = nst_edu.run(C, S, cfg, progress=False)
    model = transfer.build_model(cfg)
    recoloured = transfer.Objective(
        model, C, colour.match_colour(S, C).clamp(0, 1), cfg.replace(colour="style")
    )
    plain = transfer.Objective(model, C, S, cfg.replace(colour="style"))
    J_recoloured = recoloured(result.image)["style"]
    torch.testing.assert_close(
        torch.tensor(result.history.column("style")[-1], dtype=torch.float32), J_recoloured, rtol=1e-4, atol=0
    )
    assert abs(float(plain(result.image)["style"]) / float(J_recoloured) - 1) > 0.01  # another target
