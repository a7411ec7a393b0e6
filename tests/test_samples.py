"""Tests for nst_edu.core.samples: names, offline loading, sizes, determinism, colour and texture."""

from __future__ import annotations

import socket
import time

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from nst_edu.core import images, samples
from nst_edu.core.images import ImageError

STYLES = samples.style_samples()
NATIVE = {
    "chelsea": (300, 451),
    "astronaut": (512, 512),
    "coffee": (400, 600),
    "rocket": (427, 640),
    "camera": (512, 512),
}


def check_image(x: torch.Tensor, hw) -> None:
    assert x.dtype == torch.float32 and tuple(x.shape) == (1, 3, *hw)
    assert float(x.min()) >= 0.0 and float(x.max()) <= 1.0


def mean_saturation(x: torch.Tensor) -> float:
    """HSV saturation (max - min) / max, averaged over pixels."""
    a = images.to_numpy(x).astype(np.float64)
    hi, lo = a.max(axis=2), a.min(axis=2)
    return float(np.mean((hi - lo) / np.maximum(hi, 1e-6)))


def band_energy(x: torch.Tensor) -> float:
    """Std of a difference of Gaussians (sigma 1.5 and 6) of the gray image: texture at 5-20 px."""

    def blur(t, s):
        r = int(3 * s)
        k = torch.exp(-(torch.arange(-r, r + 1.0) ** 2) / (2 * s * s))
        k = k / k.sum()
        t = F.conv2d(F.pad(t, (r, r, 0, 0), mode="reflect"), k.view(1, 1, 1, -1))
        return F.conv2d(F.pad(t, (0, 0, r, r), mode="reflect"), k.view(1, 1, -1, 1))

    g = x.mean(dim=1, keepdim=True)  # (1, 1, H, W)
    return float((blur(g, 1.5) - blur(g, 6.0)).std())


@pytest.fixture
def offline(monkeypatch):
    """Any attempt to open a network connection fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError("a sample tried to use the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def test_offline_fixture_bites(offline):
    with pytest.raises(AssertionError, match="network"):
        socket.create_connection(("127.0.0.1", 9), timeout=1)
    with pytest.raises(AssertionError, match="network"):
        with socket.socket() as sock:
            sock.connect(("127.0.0.1", 9))


def test_names_partition():
    assert set(samples.content_samples()) >= {"chelsea", "astronaut", "coffee"}
    assert set(STYLES) >= {"stained_glass", "swirls"}
    assert samples.sample_names() == samples.content_samples() + STYLES
    assert all(samples.is_sample(n) for n in samples.sample_names())
    assert not samples.is_sample("kitten") and not samples.is_sample(None)
    assert all(s.kind in ("content", "style") and s.description for s in samples.SAMPLES.values())


@pytest.mark.parametrize("name", samples.content_samples())
def test_content_loads_offline_at_native_size(offline, name):
    x = images.load_sample(name)
    check_image(x, NATIVE[name])
    assert float(x.std()) > 0.1  # a photo, not a blank


def test_gray_camera_is_rgb_with_equal_channels():
    x = images.load_sample("camera", size=64)
    assert torch.equal(x[:, 0], x[:, 1]) and torch.equal(x[:, 1], x[:, 2])


@pytest.mark.parametrize("name", samples.sample_names())
def test_size_is_the_longer_side(offline, name):
    x = images.load_sample(name, size=96)
    assert max(x.shape[-2:]) == 96
    check_image(x, x.shape[-2:])


@pytest.mark.parametrize("name", STYLES)
def test_style_default_size_and_seeds(offline, name):
    a = images.load_sample(name)
    check_image(a, (samples.DEFAULT_STYLE_SIZE,) * 2)
    assert torch.equal(a, images.load_sample(name, seed=0))
    b = images.load_sample(name, seed=1)
    assert float((a - b).abs().mean()) > 0.05  # another painting, not a copy


@pytest.mark.parametrize("name", STYLES)
def test_style_is_colourful_and_textured(name):
    x = images.load_sample(name, size=256)
    assert mean_saturation(x) > 0.5
    assert band_energy(x) > 0.06


def test_texture_measure_tells_texture_from_smooth_and_from_pixel_noise():
    # The controls that keep the threshold above meaningful.
    ys, xs = torch.meshgrid(torch.linspace(0, 1, 256), torch.linspace(0, 1, 256), indexing="ij")
    gradient = torch.stack([ys, xs, 1 - ys])[None]  # (1, 3, 256, 256)
    pixel_noise = torch.rand(1, 3, 256, 256, generator=torch.Generator().manual_seed(0))
    assert band_energy(gradient) < 0.01
    assert band_energy(pixel_noise) < 0.06


def test_stained_glass_has_dark_lead_lines():
    a = samples.stained_glass(256, seed=0).astype(np.float64) / 255
    dark = (a.max(axis=2) < 0.2).mean()
    assert 0.05 < dark < 0.35


def test_swirls_are_blue_with_yellow():
    a = samples.swirls(256, seed=0).astype(np.int64)
    r, g, b = a[..., 0], a[..., 1], a[..., 2]
    assert (b > r + 40).mean() > 0.5  # mostly blue
    assert ((r > 150) & (g > 120) & (b < 120)).mean() > 0.03  # with yellow strokes


def test_painters_return_uint8_arrays():
    for painter in (samples.stained_glass, samples.swirls, samples.waves):
        a = painter(50, seed=2)
        assert a.shape == (50, 50, 3) and a.dtype == np.uint8
        assert np.array_equal(a, painter(50, seed=2))


def test_painters_are_fast():
    # A loose bound: a per-pixel Python loop would take tens of seconds at 512 px.
    for painter in (samples.stained_glass, samples.swirls, samples.waves):
        start = time.perf_counter()
        painter(512, seed=0)
        assert time.perf_counter() - start < 5.0, painter.__name__


def test_load_image_accepts_sample_names():
    assert torch.equal(images.load_image("swirls", size=64), images.load_sample("swirls", size=64))
    assert torch.equal(images.load_image("coffee", size=64), images.load_sample("coffee", size=64))


def test_unknown_name_lists_all_names():
    with pytest.raises(ImageError, match="'kitten'") as err:
        images.load_sample("kitten")
    assert all(n in str(err.value) for n in samples.sample_names())


@pytest.mark.parametrize("kwargs", [{"size": 0}, {"size": 2.5}, {"seed": -1}, {"seed": 1.5}])
def test_bad_size_or_seed(kwargs):
    with pytest.raises(ValueError, match="size|seed"):
        images.load_sample("stained_glass", **kwargs)
