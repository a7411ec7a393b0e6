"""Images in and out: load, convert, resize and save.

Every image inside the package is a torch ``float32`` tensor of shape ``(1, 3, H, W)``, RGB in
``[0, 1]``. This module is the one door between that tensor and the outside world: sample names,
files, the bytes of an encoded file (an upload), URLs, PIL images, NumPy arrays and tensors come in
through :func:`load_image`; PNG and
JPEG files go out through :func:`save_image`, written atomically.

It is not the place for display (``plots.py``), for the starting image G0 (``noise.py``), for the
sample images themselves (``samples.py``) or for VGG preprocessing (``vgg.py`` knows its own).
"""

from __future__ import annotations

import io
import os
import re
import tempfile
import threading
import urllib.error
import urllib.request
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps

from . import samples

__all__ = [
    "ImageError",
    "load_image",
    "load_sample",
    "from_pil",
    "to_pil",
    "to_numpy",
    "resize",
    "resize_to",
    "resized_hw",
    "save_image",
]

URL_TIMEOUT_S = 15.0  # the longest wait for the server at any one moment (connect, each read)
URL_DEADLINE_S = 60.0  # the longest a whole download may take
URL_MAX_BYTES = 50 * 1024 * 1024
_FORMATS = ("PNG", "JPEG", "WebP", "GIF", "TIFF")
_SAVE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG"}
# Tolerance for float sources that were computed (e.g. an optimizer's output) and drift a hair
# outside [0, 1]; anything further out is almost certainly a 0..255 image or a normalized one.
_RANGE_TOL = 1e-6


class ImageError(ValueError):
    """Bad image input: one sentence naming the source, the problem and what to do."""


def _fail(what: str, problem: str, todo: str) -> ImageError:
    return ImageError(f"cannot read {what}: {problem}; {todo}")


# ---------------------------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------------------------


def load_sample(name: str, size: int | None = None, seed: int = 0) -> torch.Tensor:
    """Load a bundled sample (``samples.sample_names()``) as an RGB tensor.

    ``size`` is the longer side in pixels: photos keep their own size when it is ``None``, styles are
    painted at ``size`` x ``size`` (``samples.DEFAULT_STYLE_SIZE`` when ``None``). ``seed`` picks one of
    the many paintings of a style; photos ignore it.

    Shapes: -> (1, 3, H, W) float32 in [0, 1]
    """
    if not samples.is_sample(name):
        raise ImageError(
            f"cannot load sample {name!r}: there is no sample of that name; "
            f"use one of: {', '.join(samples.sample_names())}"
        )
    _check_size(size)
    pixels = samples.sample_array(name, size=size, seed=seed)
    return load_image(pixels, size=size if samples.SAMPLES[name].kind == "content" else None)


def load_image(source, size: int | None = None) -> torch.Tensor:
    """Load any image-like ``source`` as an RGB tensor in [0, 1].

    ``source`` is one of: a sample name (``"chelsea"``, ``"stained_glass"``, see ``samples.py``),
    a path (``str`` or ``pathlib.Path``), an ``http(s)://`` URL, the bytes of an encoded image file
    (``bytes``, ``bytearray`` or ``memoryview``, e.g. an ipywidgets ``FileUpload`` value's ``content``),
    a ``PIL.Image.Image``, a NumPy array (``(H, W)``, ``(H, W, 1|3|4)``; uint8, uint16, bool or float
    in [0, 1]) or a tensor (``(H, W)``, ``(3, H, W)``, ``(1, 3, H, W)``; float or bool in [0, 1], or
    uint8).

    A string is a sample name only when no file of that name exists and it has no folder and no
    suffix. EXIF orientation is applied, multi-frame files give their first frame, transparency
    is composited on white. ``size`` (a positive int) resizes so that the longer side is ``size``.

    Shapes: -> (1, 3, H, W) float32 in [0, 1]
    Raises: ImageError for anything that is not a readable image.
    """
    _check_size(size)
    if isinstance(source, str) and not source.strip():
        raise _fail("''", "the source is an empty string", "give a path, a URL or a sample name")
    if isinstance(source, str) and _looks_like_sample(source):
        if samples.is_sample(source):
            return load_sample(source, size=size)
        raise _fail(
            repr(source),
            "there is no file and no sample image of that name",
            "give a path to an image file, a URL, or one of the samples: "
            + ", ".join(samples.sample_names()),
        )

    if isinstance(source, torch.Tensor):
        image = _from_tensor(source)
    elif isinstance(source, np.ndarray):
        image = _from_numpy(source, "the NumPy array")
    elif isinstance(source, Image.Image):
        image = from_pil(source)
    elif isinstance(source, (bytes, bytearray, memoryview)):
        image = _from_bytes(bytes(source))
    elif isinstance(source, str) and source.lower().startswith(("http://", "https://")):
        image = _decode(io.BytesIO(_download(source)), repr(source))
    elif isinstance(source, (str, os.PathLike)):
        image = _load_file(Path(source).expanduser(), source)
    else:
        raise ImageError(
            f"cannot read a {type(source).__name__}: load_image takes a sample name, a path, "
            "an http(s) URL, the bytes of an image file, a PIL image, a NumPy array or a torch tensor"
        )
    return image if size is None else resize(image, size)


def from_pil(img: Image.Image) -> torch.Tensor:
    """Convert a PIL image of any mode to an RGB tensor: first frame, EXIF-oriented, alpha on white.

    A multi-frame image is left seeked to its first frame.

    Shapes: PIL (W, H) -> (1, 3, H, W) float32 in [0, 1]
    """
    if not isinstance(img, Image.Image):
        raise ImageError(f"cannot read a {type(img).__name__}: from_pil takes a PIL.Image.Image")
    return _pil_to_tensor(img, "the PIL image")


def to_pil(image: torch.Tensor) -> Image.Image:
    """Tensor to an 8-bit RGB PIL image (clamped to [0, 1], rounded).

    Shapes: (1, 3, H, W) -> PIL RGB (W, H)
    """
    _check_image(image, "image")
    return Image.fromarray(_to_uint8(image))  # (H, W, 3) uint8 -> RGB


def to_numpy(image: torch.Tensor) -> np.ndarray:
    """Tensor to a channels-last float32 NumPy array (values unchanged).

    Shapes: (1, 3, H, W) -> (H, W, 3)
    """
    _check_image(image, "image")
    return image.detach()[0].permute(1, 2, 0).to("cpu", torch.float32).numpy().copy()  # (H, W, 3)


def resize(image: torch.Tensor, size: int) -> torch.Tensor:
    """Resize so the longer side is ``size``, keeping the aspect ratio (antialiased bicubic).

    Shapes: (1, 3, H, W) -> (1, 3, H', W') with max(H', W') = size
    """
    _check_image(image, "image")
    if size is None:
        raise ValueError("size must be a positive int (the longer side in pixels), got None")
    _check_size(size)
    return resize_to(image, resized_hw(image.shape[-2:], size))


def resized_hw(hw, size: int) -> tuple[int, int]:
    """The (H', W') that ``resize`` gives an image of (H, W) = ``hw``: the longer side ``size``, the ratio kept.

    ``hw`` may hold floats (``memory`` passes aspect ratios). Rounding can make a very thin side 0; one pixel is
    the least an image can have.
    """
    H, W = tuple(hw)[-2:]
    scale = size / max(H, W)
    return max(1, round(H * scale)), max(1, round(W * scale))


def resize_to(image: torch.Tensor, hw: tuple[int, int]) -> torch.Tensor:
    """Resize to exactly ``hw = (H', W')`` (antialiased bicubic, clamped to [0, 1]).

    Shapes: (1, 3, H, W) -> (1, 3, H', W')
    """
    _check_image(image, "image")
    if (
        not isinstance(hw, (tuple, list))
        or len(hw) != 2
        or not all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in hw)
    ):
        raise ValueError(f"resize_to needs hw = (H, W), two positive ints, got {hw!r}")
    if tuple(image.shape[-2:]) == tuple(hw):
        return image.detach().clone()
    out = F.interpolate(
        image.detach(), size=tuple(hw), mode="bicubic", align_corners=False, antialias=True
    )  # (1, 3, H', W')
    # Bicubic overshoots at sharp edges; the package promises values in [0, 1].
    return out.clamp_(0.0, 1.0)


def save_image(image: torch.Tensor, path) -> Path:
    """Write ``image`` as PNG or JPEG (chosen by suffix), atomically; return the path.

    The bytes go to a temporary file in the same folder which then replaces ``path`` in one step,
    so a failure leaves any previous file intact and no temporary file behind. Parent folders are
    created.

    Shapes: (1, 3, H, W) -> file
    """
    _check_image(image, "image")
    path = Path(path).expanduser()
    fmt = _SAVE_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ImageError(
            f"cannot save to '{path}': the suffix {path.suffix!r} is not supported; "
            "use .png (lossless) or .jpg/.jpeg"
        )
    pil = to_pil(image)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            options = {"quality": 95} if fmt == "JPEG" else {}
            pil.save(fh, format=fmt, **options)
            fh.flush()
            os.fsync(fh.fileno())
        # mkstemp creates the file private (0600); give it the mode an ordinary write would.
        os.chmod(tmp, path.stat().st_mode & 0o777 if path.exists() else 0o644)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path


# ---------------------------------------------------------------------------------------------
# Sources
# ---------------------------------------------------------------------------------------------


def _looks_like_sample(s: str) -> bool:
    """A bare word with no folder, no suffix, not a URL, and no such file: a sample name."""
    if not s or "/" in s or "\\" in s or os.sep in s or "." in s or ":" in s:
        return False
    return not os.path.lexists(s)


def _load_file(path: Path, source) -> torch.Tensor:
    what = f"'{source}'"
    if not path.exists():
        where = "" if path.is_absolute() else f" (relative paths start from {os.getcwd()})"
        raise _fail(what, f"no such file{where}", "check the path and the spelling")
    if path.is_dir():
        raise _fail(what, "it is a folder, not a file", "give the path of an image file inside it")
    try:
        n_bytes = path.stat().st_size
    except OSError as err:
        problem = f"the file cannot be accessed ({err.strerror})"
        raise _fail(what, problem, "check its permissions") from err
    if n_bytes == 0:
        raise _fail(what, "the file is empty (0 bytes)", "re-download or re-export the image")
    try:
        fh = open(path, "rb")
    except OSError as err:
        problem = f"the file cannot be opened ({err.strerror})"
        raise _fail(what, problem, "check its permissions") from err
    with fh:
        return _decode(fh, what)


def _from_bytes(data: bytes) -> torch.Tensor:
    """The bytes of an encoded image file (PNG, JPEG, …): the same checks and sentences as a file on disk."""
    what, hint = f"the {len(data)} bytes given", "give a PNG, JPEG, WebP, GIF or TIFF file"
    if not data:
        raise _fail(what, "the data is empty", hint)
    return _decode(io.BytesIO(data), what, noun="data", hint=hint)


def _download(url: str) -> bytes:
    """The bytes at ``url``: at most ``URL_MAX_BYTES``, all of them within ``URL_DEADLINE_S`` seconds.

    ``URL_TIMEOUT_S`` bounds each wait for the server (connect, every read); the deadline bounds the whole
    download, so a server that trickles one byte at a time cannot hold the caller. The download runs in a
    daemon thread: at the deadline the caller gets an ``ImageError`` and the thread stops at its next read.
    """
    what = repr(url)
    todo = "check the address or save the file locally"
    outcome: dict = {}
    cancelled = threading.Event()

    def fetch():
        try:
            outcome["data"] = _fetch(url, what, todo, cancelled)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
            outcome["error"] = exc

    worker = threading.Thread(target=fetch, name="nst_edu-download", daemon=True)
    worker.start()
    worker.join(URL_DEADLINE_S)
    if worker.is_alive():
        cancelled.set()
        raise _fail(
            what,
            f"the download did not finish within {URL_DEADLINE_S:g} s (the server is too slow or stalled)",
            "save the file locally and give its path",
        )
    if "error" in outcome:
        raise outcome["error"]
    return outcome["data"]


def _fetch(url: str, what: str, todo: str, cancelled: threading.Event) -> bytes:
    request = urllib.request.Request(url, headers={"User-Agent": "nst_edu (python urllib)"})
    try:
        with urllib.request.urlopen(request, timeout=URL_TIMEOUT_S) as response:
            declared = response.headers.get("Content-Length") or ""
            if declared.isdigit() and int(declared) > URL_MAX_BYTES:
                problem = f"the download is {declared} bytes, over the {URL_MAX_BYTES}-byte limit"
                raise _fail(what, problem, "save a smaller file locally")
            chunks, total = [], 0
            while total <= URL_MAX_BYTES and not cancelled.is_set():
                # Read one byte more than the limit in all, to notice servers that do not declare a size.
                chunk = response.read(min(1 << 16, URL_MAX_BYTES + 1 - total))
                if not chunk:
                    break
                chunks.append(chunk)
                total += len(chunk)
            data = b"".join(chunks)
    except ImageError:
        raise
    except urllib.error.HTTPError as err:
        raise _fail(what, f"could not download URL: HTTP {err.code} {err.reason}", todo) from err
    except urllib.error.URLError as err:
        raise _fail(what, f"could not download URL: {err.reason}", todo) from err
    except (OSError, ValueError) as err:  # timeouts, resets, malformed URLs
        raise _fail(what, f"could not download URL: {err}", todo) from err
    if len(data) > URL_MAX_BYTES:
        problem = f"the download is over the {URL_MAX_BYTES}-byte limit"
        raise _fail(what, problem, "save a smaller file locally")
    if not data:
        raise _fail(what, "the download is empty (0 bytes)", todo)
    return data


def _decode(
    fh,
    what: str,
    noun: str = "file",
    hint: str = "give a PNG, JPEG, WebP, GIF or TIFF file, or a sample name such as 'chelsea'",
) -> torch.Tensor:
    """Open, fully decode and orient an image file; every decoder failure becomes an ImageError.

    ``what`` names the source in the message, ``noun`` is what the problem is said of ("the file is not an
    image"), ``hint`` says what to give instead.
    """
    try:
        # PIL only warns between MAX_IMAGE_PIXELS and twice that; a warning is easy to miss in a
        # notebook, and the memory is spent either way, so both levels become one error.
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(fh)
            img.load()  # decode now, so a truncated file fails here and not later
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        todo = "resize it first, or raise PIL.Image.MAX_IMAGE_PIXELS if you trust the file"
        raise _fail(what, _bomb_problem(err), todo) from err
    except Image.UnidentifiedImageError as err:
        raise _fail(what, f"the {noun} is not an image (PIL could not identify it)", hint) from err
    except Exception as err:  # noqa: BLE001 - PIL's decoders raise many types on damaged data
        raise _fail(
            what,
            f"the {noun} is damaged or truncated (PIL: {type(err).__name__}: {err})",
            "re-download or re-export the image",
        ) from err
    return _pil_to_tensor(img, what)


def _bomb_problem(err: Exception) -> str:
    # PIL's message carries the pixel count; its error quotes twice the limit, so the limit we
    # name is the one this module enforces for both the warning and the error.
    found = re.search(r"\d+", str(err))
    count = f"{int(found.group()):,}" if found else "unknown"
    return (
        f"the image has too many pixels ({count}, over PIL's safety limit of "
        f"{Image.MAX_IMAGE_PIXELS:,}, a guard against decompression bombs)"
    )


# ---------------------------------------------------------------------------------------------
# Conversions
# ---------------------------------------------------------------------------------------------


def _pil_to_tensor(img: Image.Image, what: str) -> torch.Tensor:
    try:
        if img.tell() != 0:
            img.seek(0)
        img.load()
    except Exception as err:  # noqa: BLE001 - see _decode
        raise _fail(
            what, f"its first frame cannot be decoded ({type(err).__name__}: {err})", "re-export the image"
        ) from err
    try:
        img = ImageOps.exif_transpose(img)
    except Exception as err:  # noqa: BLE001 - corrupt EXIF should not cost the user the picture
        warnings.warn(f"{what}: EXIF unreadable ({err}); orientation left as stored", stacklevel=3)
    if img.width == 0 or img.height == 0:
        problem = f"the image is empty ({img.width}x{img.height} pixels)"
        raise _fail(what, problem, "give an image with pixels")
    return _array_to_tensor(_pil_to_rgb_array(img, what))


def _pil_to_rgb_array(img: Image.Image, what: str) -> np.ndarray:
    """Any PIL mode -> float32 (H, W, 3) in [0, 1], scaled by each mode's true range."""
    mode = img.mode
    if mode in ("I;16", "I;16L", "I;16B", "I;16N"):
        return _gray(np.asarray(img).astype(np.float32) / 65535.0)  # (H, W, 3)
    if mode == "I":
        a = np.asarray(img).astype(np.float64)  # int32 (H, W)
        # Mode I is how PIL stores 16-bit data from many files; values beyond 16 bits carry
        # no known range, so those are stretched between their own minimum and maximum.
        if a.min() >= 0 and a.max() <= 65535:
            return _gray((a / 65535.0).astype(np.float32))
        return _gray(_stretch(a))
    if mode == "F":
        a = np.asarray(img).astype(np.float64)  # (H, W)
        a = np.where(np.isfinite(a), a, 0.0)
        top = a.max()
        if top > 1.0:
            a = a / top
        return _gray(np.clip(a, 0.0, 1.0).astype(np.float32))
    if mode in ("1", "L"):
        return _gray(np.asarray(img.convert("L"), dtype=np.float32) / 255.0)
    if mode == "RGB":
        return np.asarray(img, dtype=np.float32) / 255.0  # (H, W, 3)
    if mode == "La":
        img = img.convert("LA")  # PIL has no direct La -> RGBA conversion
    if img.mode in ("LA", "PA", "RGBA", "RGBa") or (mode == "P" and _palette_has_alpha(img)):
        return _on_white(np.asarray(img.convert("RGBA"), dtype=np.float32) / 255.0)
    try:
        # P without alpha, RGBX, CMYK, YCbCr, HSV, LAB and the rest: PIL knows each conversion.
        return np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0  # (H, W, 3)
    except Exception as err:  # noqa: BLE001
        raise _fail(
            what,
            f"PIL cannot convert its mode {mode!r} to RGB ({err})",
            "re-export it as an 8-bit RGB PNG or JPEG",
        ) from err


def _palette_has_alpha(img: Image.Image) -> bool:
    return "transparency" in img.info or (img.palette is not None and img.palette.mode == "RGBA")


def _gray(a: np.ndarray) -> np.ndarray:
    return np.repeat(a[:, :, None], 3, axis=2)  # (H, W) -> (H, W, 3)


def _stretch(a: np.ndarray) -> np.ndarray:
    lo, hi = a.min(), a.max()
    return np.zeros(a.shape, np.float32) if hi == lo else ((a - lo) / (hi - lo)).astype(np.float32)


def _on_white(rgba: np.ndarray) -> np.ndarray:
    """Composite straight alpha over white: out = alpha * rgb + (1 - alpha) * 1."""
    rgb, alpha = rgba[:, :, :3], rgba[:, :, 3:4]  # (H, W, 3), (H, W, 1)
    return rgb * alpha + (1.0 - alpha)  # (H, W, 3)


def _array_to_tensor(rgb: np.ndarray) -> torch.Tensor:
    t = torch.from_numpy(np.ascontiguousarray(rgb, dtype=np.float32))  # (H, W, 3)
    return t.permute(2, 0, 1).unsqueeze(0).contiguous().clamp_(0.0, 1.0)  # (1, 3, H, W)


def _from_numpy(a: np.ndarray, what: str) -> torch.Tensor:
    if a.ndim == 3 and a.shape[2] not in (1, 3, 4):
        raise _fail(
            what,
            f"its shape {a.shape} is not (H, W), (H, W, 1), (H, W, 3) or (H, W, 4)",
            "give a channels-last array (for a channels-first one use a.transpose(1, 2, 0))",
        )
    if a.ndim not in (2, 3):
        raise _fail(
            what,
            f"it has {a.ndim} dimensions, shape {a.shape}",
            "give an (H, W) gray or (H, W, 3|4) colour array",
        )
    if a.shape[0] == 0 or a.shape[1] == 0:
        raise _fail(what, f"it is empty (shape {a.shape})", "give an image with pixels")
    if a.dtype == np.uint8:
        x = a.astype(np.float32) / 255.0
    elif a.dtype == np.uint16:
        x = a.astype(np.float32) / 65535.0
    elif a.dtype == np.bool_:
        x = a.astype(np.float32)
    elif np.issubdtype(a.dtype, np.floating):
        x = _checked_unit_range(a.astype(np.float64), what, "a / 255.0").astype(np.float32)
    else:
        raise _fail(
            what,
            f"its dtype {a.dtype} has no known range",
            "convert it with a.astype(np.uint8) for 0..255 data or to float in [0, 1]",
        )
    if x.ndim == 2:
        x = x[:, :, None]  # (H, W, 1)
    if x.shape[2] == 1:
        x = np.repeat(x, 3, axis=2)  # (H, W, 3)
    elif x.shape[2] == 4:
        x = _on_white(x)  # (H, W, 3)
    return _array_to_tensor(x)


def _from_tensor(t: torch.Tensor) -> torch.Tensor:
    what = "the tensor"
    shape = tuple(t.shape)
    if t.ndim == 4 and shape[:2] == (1, 3):
        x = t.detach()
    elif t.ndim == 3 and shape[0] == 3:
        x = t.detach().unsqueeze(0)  # (1, 3, H, W)
    elif t.ndim == 2:
        x = t.detach().expand(3, *shape).unsqueeze(0)  # (H, W) -> (1, 3, H, W)
    else:
        raise _fail(
            what,
            f"its shape {shape} is not (H, W), (3, H, W) or (1, 3, H, W)",
            "permute a channels-last (H, W, 3) tensor with t.permute(2, 0, 1)",
        )
    if x.shape[-1] == 0 or x.shape[-2] == 0:
        raise _fail(what, f"it is empty (shape {shape})", "give an image with pixels")
    if x.dtype == torch.uint8:
        return x.to(torch.float32) / 255.0
    if x.dtype == torch.bool:
        return x.to(torch.float32)
    if not x.is_floating_point():
        raise _fail(
            what,
            f"its dtype {x.dtype} has no known range",
            "give a float tensor in [0, 1] (for 0..255 data use t.float() / 255)",
        )
    x = x.to(torch.float32)
    lo, hi = x.min().item(), x.max().item()
    if not (np.isfinite(lo) and np.isfinite(hi)):
        raise _fail(what, "it contains NaN or infinite values", "check how it was computed")
    if lo < -_RANGE_TOL or hi > 1.0 + _RANGE_TOL:
        raise _fail(
            what,
            f"its values span [{lo:.4g}, {hi:.4g}], outside [0, 1]",
            "scale it into [0, 1] (for 0..255 data use t / 255)",
        )
    return x.clamp(0.0, 1.0).contiguous()  # clamp allocates: the caller's tensor is never shared


def _checked_unit_range(a: np.ndarray, what: str, fix: str) -> np.ndarray:
    if not np.all(np.isfinite(a)):
        raise _fail(what, "it contains NaN or infinite values", "check how it was computed")
    lo, hi = float(a.min()), float(a.max())
    if lo < -_RANGE_TOL or hi > 1.0 + _RANGE_TOL:
        raise _fail(
            what,
            f"its float values span [{lo:.4g}, {hi:.4g}], outside [0, 1]",
            f"scale it into [0, 1] (for 0..255 data use {fix})",
        )
    return np.clip(a, 0.0, 1.0)


def _to_uint8(image: torch.Tensor) -> np.ndarray:
    x = image.detach()[0].permute(1, 2, 0).to("cpu", torch.float32)  # (H, W, 3)
    return (x.clamp(0.0, 1.0) * 255.0).round().to(torch.uint8).numpy()


# ---------------------------------------------------------------------------------------------
# Checks
# ---------------------------------------------------------------------------------------------


def _check_image(image, name: str) -> None:
    if not isinstance(image, torch.Tensor):
        raise ValueError(f"{name} must be a torch tensor of shape (1, 3, H, W), got {type(image).__name__}")
    if image.ndim != 4 or image.shape[0] != 1 or image.shape[1] != 3:
        raise ValueError(f"{name} must have shape (1, 3, H, W), got {tuple(image.shape)}")
    if image.shape[2] == 0 or image.shape[3] == 0:
        raise ValueError(f"{name} must have at least one pixel, got shape {tuple(image.shape)}")
    if not image.is_floating_point():
        raise ValueError(f"{name} must be a float tensor in [0, 1], got dtype {image.dtype}")


def _check_size(size) -> None:
    if size is None:
        return
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
        raise ValueError(f"size must be a positive int (the longer side in pixels), got {size!r}")
