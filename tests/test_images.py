"""Tests for nst_edu.core.images: sources, PIL modes, formats, resizing, saving, errors and a fuzz."""

from __future__ import annotations

import io
import stat

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from nst_edu.core import images
from nst_edu.core.images import ImageError, load_image

TOL8 = 0.5 / 255  # an exact 8-bit round trip is within half a step


def check_image(x: torch.Tensor, hw=None) -> None:
    assert isinstance(x, torch.Tensor)
    assert x.dtype == torch.float32
    assert x.ndim == 4 and x.shape[:2] == (1, 3)
    assert float(x.min()) >= 0.0 and float(x.max()) <= 1.0
    if hw is not None:
        assert tuple(x.shape[-2:]) == tuple(hw)


def pixel(x: torch.Tensor, row: int, col: int) -> np.ndarray:
    return x[0, :, row, col].numpy()


# ---------------------------------------------------------------------------------------------
# PIL modes
# ---------------------------------------------------------------------------------------------


def test_mode_L():
    x = load_image(Image.new("L", (5, 4), 128))
    check_image(x, (4, 5))
    assert np.allclose(x.numpy(), 128 / 255)


def test_mode_1_bilevel():
    img = Image.new("1", (4, 2), 0)
    img.putpixel((3, 1), 1)
    x = load_image(img)
    check_image(x, (2, 4))
    assert np.allclose(pixel(x, 1, 3), 1.0) and np.allclose(pixel(x, 0, 0), 0.0)


def test_mode_LA_composited_on_white():
    img = Image.new("LA", (2, 1))
    img.putpixel((0, 0), (20, 0))  # fully transparent: shows the white behind it
    img.putpixel((1, 0), (100, 255))  # opaque
    x = load_image(img)
    assert np.allclose(pixel(x, 0, 0), 1.0)
    assert np.allclose(pixel(x, 0, 1), 100 / 255)


@pytest.mark.parametrize("alpha", [0, 128, 255])
def test_mode_RGBA_composited_on_white(alpha):
    rgb = np.array([200, 10, 60])
    x = load_image(Image.new("RGBA", (3, 3), (*rgb, alpha)))
    a = alpha / 255
    expected = rgb / 255 * a + (1 - a)  # straight alpha over white
    assert np.allclose(pixel(x, 1, 1), expected, atol=1e-6)


def test_mode_P_without_transparency():
    img = Image.new("P", (2, 2))
    img.putpalette([255, 0, 0, 0, 0, 255] + [0] * (256 * 3 - 6))
    img.putpixel((1, 1), 1)
    x = load_image(img)
    assert np.allclose(pixel(x, 0, 0), (1, 0, 0)) and np.allclose(pixel(x, 1, 1), (0, 0, 1))


def test_mode_P_with_transparency_via_gif(tmp_path):
    img = Image.new("P", (2, 2))
    img.putpalette([0, 0, 0, 0, 200, 0] + [0] * (256 * 3 - 6))
    img.putpixel((1, 1), 1)
    path = tmp_path / "t.gif"
    img.save(path, transparency=0)  # index 0 (black) is see-through
    x = load_image(path)
    assert np.allclose(pixel(x, 0, 0), 1.0)  # transparent -> white, not black
    assert np.allclose(pixel(x, 1, 1), (0, 200 / 255, 0))


def test_mode_CMYK_pure_cyan():
    x = load_image(Image.new("CMYK", (2, 2), (255, 0, 0, 0)))
    assert np.allclose(pixel(x, 0, 0), (0, 1, 1), atol=TOL8)


@pytest.mark.parametrize("mode", ["I;16", "I;16B", "I;16L"])
def test_mode_16_bit_uses_full_range(mode):
    img = Image.new(mode, (3, 1))
    for col, v in enumerate((0, 32768, 65535)):
        img.putpixel((col, 0), v)
    x = load_image(img)
    check_image(x, (1, 3))
    assert np.allclose(x[0, :, 0, :].numpy(), [[0, 32768 / 65535, 1.0]] * 3, atol=1e-6)


def test_mode_I_16_bit_values():
    img = Image.fromarray(np.array([[0, 32768, 65535]], dtype=np.int32))
    assert img.mode == "I"
    x = load_image(img)
    assert np.allclose(x[0, 0, 0].numpy(), [0, 32768 / 65535, 1.0], atol=1e-6)


def test_mode_I_beyond_16_bit_is_stretched():
    img = Image.fromarray(np.array([[-1000, 0, 99000]], dtype=np.int32))
    x = load_image(img)
    assert np.allclose(x[0, 0, 0].numpy(), [0, 1000 / 100000, 1.0], atol=1e-6)


def test_mode_F_unit_range_kept_and_larger_scaled_by_max():
    x = load_image(Image.fromarray(np.array([[0.0, 0.25, 1.0]], dtype=np.float32)))
    assert np.allclose(x[0, 1, 0].numpy(), [0, 0.25, 1.0])
    y = load_image(Image.fromarray(np.array([[0.0, 2.0, 4.0]], dtype=np.float32)))
    assert np.allclose(y[0, 2, 0].numpy(), [0, 0.5, 1.0])


@pytest.mark.parametrize("mode, atol", [("YCbCr", 3 / 255), ("HSV", 3 / 255), ("LAB", 8 / 255)])
def test_colour_space_modes_back_to_rgb(mode, atol):
    rgb = (200, 60, 30)
    x = load_image(Image.new("RGB", (2, 2), rgb).convert(mode))
    check_image(x, (2, 2))
    assert np.allclose(pixel(x, 0, 0), np.array(rgb) / 255, atol=atol)


@pytest.mark.parametrize(
    "source_mode, mode",
    [("RGBA", "RGBX"), ("RGBA", "RGBa"), ("LA", "La"), ("RGBA", "PA")],
)
def test_less_common_modes_give_rgb(source_mode, mode):
    # Half-transparent mid gray: every mode keeps it gray, alpha composites it toward white.
    value, alpha = 100, 128
    src = Image.new(source_mode, (3, 2), (value,) * (len(source_mode) - 1) + (alpha,))
    x = load_image(src.convert(mode))
    check_image(x, (2, 3))
    a = 1.0 if mode == "RGBX" else alpha / 255
    expected = value / 255 * a + (1 - a)
    assert np.allclose(pixel(x, 1, 2), expected, atol=2 / 255)  # premultiplied modes lose a bit


# ---------------------------------------------------------------------------------------------
# EXIF orientation and file formats
# ---------------------------------------------------------------------------------------------


def test_exif_orientation_6_rotates(tmp_path):
    arr = np.zeros((20, 40, 3), np.uint8)  # 20 tall, 40 wide
    arr[:, :20] = (255, 0, 0)  # left half red
    arr[:, 20:] = (0, 0, 255)  # right half blue
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    path = tmp_path / "rotated.jpg"
    Image.fromarray(arr).save(path, exif=exif, quality=95)
    x = load_image(path)
    check_image(x, (40, 20))  # H and W swapped
    # Turning clockwise brings the left (red) half to the top.
    assert pixel(x, 5, 10)[0] > 0.8 and pixel(x, 5, 10)[2] < 0.2
    assert pixel(x, 34, 10)[2] > 0.8 and pixel(x, 34, 10)[0] < 0.2


def random_rgb(h=6, w=9, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


@pytest.mark.parametrize(
    "suffix, options",
    [(".png", {}), (".webp", {"lossless": True}), (".tif", {}), (".bmp", {})],
)
def test_lossless_formats_exact(tmp_path, suffix, options):
    arr = random_rgb()
    path = tmp_path / f"img{suffix}"
    Image.fromarray(arr).save(path, **options)
    x = load_image(path)
    check_image(x, arr.shape[:2])
    assert np.allclose(images.to_numpy(x), arr / 255, atol=1e-6)


def test_png_16_bit_gray(tmp_path):
    arr = np.array([[0, 32768, 65535]], dtype=np.uint16)
    path = tmp_path / "gray16.png"
    Image.fromarray(arr).save(path)
    with Image.open(path) as img:
        assert img.mode == "I;16"
    x = load_image(path)
    assert np.allclose(x[0, 0, 0].numpy(), arr[0] / 65535, atol=1e-6)


def test_jpeg_close(tmp_path):
    arr = np.zeros((16, 16, 3), np.uint8) + np.array([30, 140, 220], np.uint8)
    path = tmp_path / "flat.jpg"
    Image.fromarray(arr).save(path, quality=95)
    x = load_image(str(path))
    assert np.allclose(pixel(x, 8, 8), arr[0, 0] / 255, atol=4 / 255)


def test_animated_gif_gives_first_frame(tmp_path):
    frames = [Image.new("RGB", (4, 3), c) for c in ((255, 0, 0), (0, 0, 255), (0, 255, 0))]
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=50, loop=0)
    with Image.open(path) as img:
        assert img.n_frames == 3
    x = load_image(path)
    check_image(x, (3, 4))
    assert np.allclose(pixel(x, 1, 1), (1, 0, 0), atol=TOL8)


def test_multipage_tiff_gives_first_page(tmp_path):
    pages = [Image.new("RGB", (5, 5), c) for c in ((0, 255, 0), (255, 0, 0))]
    path = tmp_path / "pages.tiff"
    pages[0].save(path, save_all=True, append_images=pages[1:])
    x = load_image(path)
    assert np.allclose(pixel(x, 2, 2), (0, 1, 0))


def test_pil_image_seeked_to_later_frame_gives_first(tmp_path):
    frames = [Image.new("RGB", (4, 4), c) for c in ((255, 0, 0), (0, 0, 255))]
    path = tmp_path / "two.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:])
    with Image.open(path) as img:
        img.seek(1)
        x = load_image(img)
    assert np.allclose(pixel(x, 0, 0), (1, 0, 0), atol=TOL8)


# ---------------------------------------------------------------------------------------------
# NumPy, tensor and path sources
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "arr, expected",
    [
        (np.full((2, 3), 51, np.uint8), 0.2),
        (np.full((2, 3, 1), 51, np.uint8), 0.2),
        (np.full((2, 3, 3), 13107, np.uint16), 0.2),
        (np.full((2, 3, 3), 0.2, np.float64), 0.2),
        (np.full((2, 3), 0.2, np.float32), 0.2),
        (np.ones((2, 3), bool), 1.0),
    ],
)
def test_numpy_sources(arr, expected):
    x = load_image(arr)
    check_image(x, (2, 3))
    assert np.allclose(x.numpy(), expected, atol=1e-6)


def test_numpy_rgba_composited_on_white():
    arr = np.zeros((1, 2, 4), np.uint8)
    arr[0, 1] = (255, 0, 0, 255)
    x = load_image(arr)
    assert np.allclose(pixel(x, 0, 0), 1.0) and np.allclose(pixel(x, 0, 1), (1, 0, 0))


@pytest.mark.parametrize(
    "arr, words",
    [
        (np.zeros((3, 8, 8), np.uint8), "shape (3, 8, 8)"),
        (np.zeros((2, 2, 2, 3), np.uint8), "4 dimensions"),
        (np.zeros((0, 4), np.uint8), "empty"),
        (np.full((2, 2, 3), 255.0), "outside [0, 1]"),
        (np.full((2, 2), np.nan), "NaN"),
        (np.zeros((2, 2, 3), np.int64), "dtype int64"),
    ],
)
def test_numpy_bad_arrays(arr, words):
    with pytest.raises(ImageError, match="NumPy array") as err:
        load_image(arr)
    assert words in str(err.value)


@pytest.mark.parametrize("shape", [(3, 4, 5), (1, 3, 4, 5), (4, 5)])
def test_tensor_sources(shape):
    t = torch.full(shape, 0.3, dtype=torch.float64, requires_grad=True)
    x = load_image(t)
    check_image(x, (4, 5))
    assert not x.requires_grad
    assert torch.allclose(x, torch.full((1, 3, 4, 5), 0.3))


def test_tensor_is_a_copy():
    t = torch.full((1, 3, 2, 2), 0.5)
    x = load_image(t)
    x.fill_(0.0)
    assert float(t.min()) == 0.5


def test_tensor_uint8_and_tolerance():
    white = torch.full((3, 2, 2), 255, dtype=torch.uint8)
    assert torch.allclose(load_image(white), torch.ones(1, 3, 2, 2))
    nearly = torch.full((1, 3, 2, 2), 1.0 + 1e-7)  # optimizer drift, within the tolerance
    assert float(load_image(nearly).max()) == 1.0


@pytest.mark.parametrize(
    "t, words",
    [
        (torch.full((1, 3, 2, 2), 1.01), "outside [0, 1]"),
        (torch.full((1, 3, 2, 2), -0.01), "outside [0, 1]"),
        (torch.full((1, 3, 2, 2), float("nan")), "NaN"),
        (torch.zeros(2, 3, 4, 4), "shape (2, 3, 4, 4)"),
        (torch.zeros(4, 4, 3), "shape (4, 4, 3)"),
        (torch.zeros(1, 3, 2, 2, dtype=torch.int32), "dtype torch.int32"),
    ],
)
def test_tensor_bad(t, words):
    with pytest.raises(ImageError, match="tensor") as err:
        load_image(t)
    assert words in str(err.value)


def test_path_and_str_and_pil_agree(tmp_path):
    arr = random_rgb(seed=3)
    path = tmp_path / "a.png"
    Image.fromarray(arr).save(path)
    a = load_image(path)
    with Image.open(path) as img:
        for other in (str(path), img, arr):
            assert torch.equal(load_image(other), a)
        assert torch.equal(images.from_pil(img), a)


def test_sample_name_source():
    x = load_image("chelsea")
    check_image(x, (300, 451))


def test_existing_file_wins_over_sample_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Image.new("RGB", (3, 2), (0, 255, 0)).save("chelsea", format="PNG")
    x = load_image("chelsea")
    check_image(x, (2, 3))


def test_to_pil_to_numpy_round_trip():
    arr = random_rgb(seed=5)
    x = load_image(arr)
    assert np.array_equal(np.asarray(images.to_pil(x)), arr)
    n = images.to_numpy(x)
    assert n.shape == (6, 9, 3) and n.dtype == np.float32
    with pytest.raises(ValueError, match=r"\(1, 3, H, W\)"):
        images.to_pil(x[0])


# ---------------------------------------------------------------------------------------------
# Resizing
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "hw, size, expected",
    [
        ((30, 60), 20, (10, 20)),  # landscape, down
        ((60, 30), 20, (20, 10)),  # portrait, down
        ((30, 60), 120, (60, 120)),  # up
        ((3, 400), 40, (1, 40)),  # a thin strip keeps at least one pixel
        ((7, 7), 7, (7, 7)),
    ],
)
def test_resize_longer_side(hw, size, expected):
    x = torch.rand(1, 3, *hw, generator=torch.Generator().manual_seed(0))
    y = images.resize(x, size)
    check_image(y, expected)


def test_resize_keeps_constant_image_and_clamps():
    flat = torch.full((1, 3, 40, 80), 0.25)
    assert torch.allclose(images.resize(flat, 17), torch.full((1, 3, 8, 17), 0.25), atol=1e-6)
    checker = (torch.arange(64).reshape(8, 8) % 2).float().expand(1, 3, 8, 8)
    up = images.resize(checker, 50)  # bicubic overshoots on a checkerboard; clamping stops it
    check_image(up, (50, 50))


def test_load_image_size(tmp_path):
    path = tmp_path / "p.png"
    Image.fromarray(random_rgb(60, 30)).save(path)
    check_image(load_image(path, size=24), (24, 12))
    check_image(load_image("chelsea", size=90), (60, 90))


def test_resize_to_exact():
    y = images.resize_to(torch.rand(1, 3, 10, 20), (7, 3))
    check_image(y, (7, 3))


@pytest.mark.parametrize("size", [0, -3, 2.5, True, "64"])
def test_bad_size(size):
    with pytest.raises(ValueError, match="size must be a positive int"):
        load_image(np.zeros((4, 4), np.uint8), size=size)


def test_resize_to_bad_shape():
    with pytest.raises(ValueError, match="hw"):
        images.resize_to(torch.rand(1, 3, 4, 4), (0, 3))
    with pytest.raises(ValueError, match=r"\(1, 3, H, W\)"):
        images.resize(torch.rand(3, 4, 4), 3)


# ---------------------------------------------------------------------------------------------
# Saving
# ---------------------------------------------------------------------------------------------


def test_save_png_round_trip_exact(tmp_path):
    x = load_image(random_rgb(seed=7))
    path = images.save_image(x, tmp_path / "deep" / "er" / "out.png")
    assert path == tmp_path / "deep" / "er" / "out.png" and path.is_file()
    assert torch.equal(load_image(path), x)
    assert stat.S_IMODE(path.stat().st_mode) & 0o044  # readable by others, not 0600 like mkstemp


def test_save_jpeg_round_trip_close(tmp_path):
    x = torch.full((1, 3, 16, 16), 0.4)
    for suffix in (".jpg", ".JPEG"):
        path = images.save_image(x, str(tmp_path / f"out{suffix}"))
        with Image.open(path) as img:
            assert img.format == "JPEG"
        assert torch.allclose(load_image(path), x, atol=3 / 255)


def test_save_unsupported_suffix(tmp_path):
    with pytest.raises(ImageError, match=r"'\.gif'"):
        images.save_image(torch.zeros(1, 3, 2, 2), tmp_path / "x.gif")
    assert list(tmp_path.iterdir()) == []


def test_save_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "result.png"
    old = torch.zeros(1, 3, 4, 4)
    images.save_image(old, path)
    before = path.read_bytes()

    def broken_save(self, fp, *args, **kwargs):
        fp.write(b"\x89PNG half an image")
        raise OSError("disk full")

    monkeypatch.setattr(Image.Image, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        images.save_image(torch.ones(1, 3, 4, 4), path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["result.png"]


# ---------------------------------------------------------------------------------------------
# Errors: each is an ImageError that names its source
# ---------------------------------------------------------------------------------------------


def png_bytes(arr=None) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(random_rgb(32, 32, 1) if arr is None else arr).save(buf, "PNG")
    return buf.getvalue()


def jpeg_bytes() -> bytes:
    buf = io.BytesIO()
    Image.fromarray(random_rgb(32, 32, 2)).save(buf, "JPEG", quality=90)
    return buf.getvalue()


def test_missing_file(tmp_path):
    path = tmp_path / "nope.png"
    with pytest.raises(ImageError, match="no such file") as err:
        load_image(path)
    assert str(path) in str(err.value)


def test_relative_missing_file_says_where(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ImageError, match=f"'photos/cat.jpg'.*{tmp_path}"):
        load_image("photos/cat.jpg")


def test_directory(tmp_path):
    with pytest.raises(ImageError, match="folder") as err:
        load_image(tmp_path)
    assert str(tmp_path) in str(err.value)


def test_empty_file(tmp_path):
    path = tmp_path / "empty.png"
    path.write_bytes(b"")
    with pytest.raises(ImageError, match=r"'.*empty\.png'.*empty \(0 bytes\)"):
        load_image(path)


def test_not_an_image(tmp_path):
    path = tmp_path / "cat.jpg"
    path.write_bytes(b"this is text, not a JPEG" * 10)
    with pytest.raises(ImageError, match=r"cat\.jpg'.*not an image.*'chelsea'"):
        load_image(path)


@pytest.mark.parametrize("make, name", [(png_bytes, "cut.png"), (jpeg_bytes, "cut.jpg")])
def test_truncated_file(tmp_path, make, name):
    data = make()
    path = tmp_path / name
    path.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(ImageError, match=rf"{name}'.*damaged or truncated"):
        load_image(path)


@pytest.mark.parametrize("hw", [(100, 100), (40, 40)])
def test_decompression_bomb(tmp_path, monkeypatch, hw):
    path = tmp_path / "bomb.png"
    Image.new("RGB", hw).save(path)
    # 100x100 is past twice the limit (PIL's error); 40x40 is between limit and twice (its warning).
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    n = hw[0] * hw[1]
    with pytest.raises(ImageError, match=rf"bomb\.png'.*too many pixels \({n:,}, .*1,000"):
        load_image(path)


def test_unknown_sample_name_lists_samples():
    with pytest.raises(ImageError, match="'kitten'.*chelsea.*stained_glass"):
        load_image("kitten")


@pytest.mark.parametrize("source", [42, None, [1, 2, 3], {"content": b""}])
def test_unsupported_source_type(source):
    with pytest.raises(ImageError, match=type(source).__name__):
        load_image(source)


@pytest.mark.parametrize("wrap", [bytes, bytearray, memoryview])
def test_encoded_bytes_are_decoded_like_the_file(tmp_path, wrap):
    data = png_bytes()
    path = tmp_path / "same.png"
    path.write_bytes(data)
    x = load_image(wrap(data))  # e.g. the content of an ipywidgets FileUpload value
    check_image(x, (32, 32))
    assert torch.equal(x, load_image(path))
    check_image(load_image(wrap(data), size=16), (16, 16))


def _one_sentence(message: str) -> bool:
    return "\n" not in message and ". " not in message and "0x" not in message


@pytest.mark.parametrize(
    "data, words",
    [
        (b"this is text, not a PNG" * 10, r"^cannot read the 230 bytes given: the data is not an image.*PNG"),
        (png_bytes()[:60], r"^cannot read the 60 bytes given: the data is damaged or truncated"),
        (b"\x89PNG", r"^cannot read the 4 bytes given: the data is (not an image|damaged or truncated)"),
    ],
)
def test_bad_bytes_give_one_sentence(data, words):
    with pytest.raises(ImageError, match=words) as err:
        load_image(memoryview(data))
    assert _one_sentence(str(err.value)), str(err.value)


@pytest.mark.parametrize("empty", [b"", bytearray(), memoryview(b"")])
def test_empty_bytes(empty):
    with pytest.raises(ImageError, match=r"^cannot read the 0 bytes given: the data is empty; give") as err:
        load_image(empty)
    assert _one_sentence(str(err.value))


def test_empty_string():
    with pytest.raises(ImageError, match="empty string"):
        load_image("")


def test_url_failure_is_an_image_error():
    url = "http://127.0.0.1:9/x.png"  # the discard port: refused at once
    words = r"'http://127\.0\.0\.1:9/x\.png'.*could not download URL.*save the file locally"
    with pytest.raises(ImageError, match=words):
        load_image(url)


def test_url_is_decoded(monkeypatch):
    data = png_bytes()

    class FakeResponse(io.BytesIO):
        headers = {"Content-Length": str(len(data))}

    monkeypatch.setattr(images.urllib.request, "urlopen", lambda req, timeout: FakeResponse(data))
    x = load_image("https://example.org/picture.png", size=16)
    check_image(x, (16, 16))


def test_url_too_large(monkeypatch):
    class FakeResponse(io.BytesIO):
        headers = {"Content-Length": str(images.URL_MAX_BYTES + 1)}

    monkeypatch.setattr(images.urllib.request, "urlopen", lambda req, timeout: FakeResponse(b""))
    with pytest.raises(ImageError, match="over the .*byte limit"):
        load_image("https://example.org/huge.png")


@pytest.fixture
def local_server():
    """An HTTP server on 127.0.0.1 (never the network); ``serve(handler)`` starts it and returns its URL."""
    import http.server
    import threading

    servers = []

    def serve(do_get):
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                do_get(self)

            def log_message(self, *args):
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/picture.png"

    yield serve
    for server in servers:
        server.shutdown()
        server.server_close()


def test_url_from_a_trickling_server_stops_at_the_deadline(local_server, monkeypatch):
    # 200, then one byte every 0.2 s: each read returns long before URL_TIMEOUT_S, so only the overall
    # deadline can stop it (issue 14: it hung the CLI past 60 s).
    import time

    def trickle(handler):
        handler.send_response(200)
        handler.send_header("Content-Type", "image/png")
        handler.end_headers()
        try:
            for _ in range(100):
                handler.wfile.write(b"x")
                handler.wfile.flush()
                time.sleep(0.2)
        except OSError:  # the client gave up
            pass

    url = local_server(trickle)
    monkeypatch.setattr(images, "URL_DEADLINE_S", 1.0)
    t0 = time.monotonic()
    with pytest.raises(ImageError) as info:
        load_image(url)
    assert time.monotonic() - t0 < 5
    assert str(info.value) == (
        f"cannot read {url!r}: the download did not finish within 1 s (the server is too slow "
        f"or stalled); save the file locally and give its path"
    )


def test_url_without_a_declared_size_is_cut_at_the_cap(local_server, monkeypatch):
    def endless(handler):  # no Content-Length: the cap is found by counting
        handler.send_response(200)
        handler.end_headers()
        try:
            for _ in range(1000):
                handler.wfile.write(b"y" * 1024)
        except OSError:
            pass

    monkeypatch.setattr(images, "URL_MAX_BYTES", 10_000)
    with pytest.raises(
        ImageError, match="the download is over the 10000-byte limit; save a smaller file locally"
    ):
        load_image(local_server(endless))


def test_url_from_a_local_server_is_decoded(local_server):
    data = png_bytes()

    def send_png(handler):
        handler.send_response(200)
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    check_image(load_image(local_server(send_png), size=16), (16, 16))


# ---------------------------------------------------------------------------------------------
# Fuzz: damaged files give a valid image or an ImageError, never anything else
# ---------------------------------------------------------------------------------------------

VALID = {"png": png_bytes(), "jpg": jpeg_bytes()}
FUZZ_TRIED = {"n": 0}


@st.composite
def damaged_files(draw):
    kind = draw(st.sampled_from(["random", "png", "jpg"]))
    if kind == "random":
        return "bin", draw(st.binary(min_size=1, max_size=2048))
    data = bytearray(VALID[kind])
    how = draw(st.sampled_from(["truncate", "flip", "splice"]))
    if how == "truncate":
        return kind, bytes(data[: draw(st.integers(1, len(data) - 1))])
    if how == "flip":
        for _ in range(draw(st.integers(1, 8))):
            data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
        return kind, bytes(data)
    at = draw(st.integers(0, len(data)))
    return kind, bytes(data[:at] + draw(st.binary(min_size=1, max_size=64)) + data[at:])


@pytest.fixture(scope="module")
def fuzz_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(damaged_files())
def test_fuzz_damaged_files(fuzz_dir, case):
    suffix, data = case
    FUZZ_TRIED["n"] += 1
    path = fuzz_dir / f"f{FUZZ_TRIED['n']}.{suffix}"
    path.write_bytes(data)
    try:
        x = load_image(path)
    except ImageError as err:
        assert path.name in str(err)
    else:
        check_image(x)
    finally:
        path.unlink()


def test_fuzz_tried_enough_inputs():
    # Runs after the fuzz test in file order; fails if hypothesis silently ran too few inputs.
    if FUZZ_TRIED["n"] == 0:
        pytest.skip("the fuzz test did not run in this session (selected separately)")
    print(f"fuzz inputs tried: {FUZZ_TRIED['n']}")
    assert FUZZ_TRIED["n"] >= 100
