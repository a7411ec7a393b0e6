"""What image sizes a run can take: the smallest VGG-19 allows and the largest that fits in memory.

What it is: ``check_fits``, which ``transfer.run`` and the CLI call before any optimization: it raises
``TooSmallError`` when an image is too thin for the deepest layer and ``TooLargeError`` when the run would not
fit, each with a message that says which size would work. Behind it: ``estimate_bytes(config, content_hw,
style_hw)``, a model of the peak memory of ``transfer.run`` built from the tensors it keeps;
``available_bytes(device)``; ``largest_size_that_fits`` and ``smallest_size_that_works``; and the shapes a run
uses (``image_hw``, ``resized_hw``, ``shapes_at``, ``stage_shapes``), following ``images.resize``,
``transfer.load_pair`` and the coarse stage of ``transfer.run``. Layer shapes and weights come from ``vgg``.

What it is not: no allocation, no optimization and no measurement. The estimate is a model; the check leaves a
margin (``SAFETY``) for its error. ``benchmarks/calibrate_memory.py`` measures real runs against it (table:
``benchmarks/results/memory_calibration.md``); K and FIXED below were fitted that way.

The model, for G of n_H × n_W pixels and every VGG-19 layer up to the deepest one the config reads:

    peak ≈ FIXED + weights + K · (Σ_layers kept activations + 2 · largest activation + targets) + optimizer
           + images + frames

- kept activations: what autograd keeps for the backward pass: each conv output (its ReLU runs in place),
  each pooling output and its int64 argmax indices, float32 copies of the layers the costs read;
  4 bytes an element (2 under bfloat16 autocast); the two largest gradients are alive at once in backward;
- weights: float32 conv weights up to the deepest layer (+ the whole VGG-19 kept by the loader's cache on
  the CPU, + bfloat16 copies under autocast);
- optimizer: Adam keeps 2 tensors of G's size and its gradient (+ ``ADAM_IMPORT`` on the CPU: its first use
  imports torch._dynamo), L-BFGS 2·m pairs (s, y) + 5 (m = ``config.history_size``);
- targets: the Gram matrices of S, a_C, and the style image's own no-grad forward pass (two activations alive
  at a time; S is larger than G when style_scale > 1);
- images: C, G, G's start and the last good G at C's size, and S; frames: the uint8 frames the history keeps;
- K and FIXED stand for what the tensors leave out (runtime buffers of the convolution library, allocator
  slack), fitted on the CPU against peak RSS; on CUDA, FIXED is replaced by a guess (``CUDA_FIXED``).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from . import images, vgg
from .hardware import resolve_precision

__all__ = [
    "TooLargeError",
    "TooSmallError",
    "SAFETY",
    "image_hw",
    "resized_hw",
    "shapes_at",
    "stage_shapes",
    "estimate_bytes",
    "activation_bytes",
    "weights_bytes",
    "optimizer_bytes",
    "targets_bytes",
    "available_bytes",
    "largest_size_that_fits",
    "smallest_size_that_works",
    "check_min_side",
    "check_fits",
    "format_gib",
]

K = 1.05  # fitted to measured peaks (benchmarks/calibrate_memory.py), rounded up
FIXED = 64 * 2**20  # fitted like K: oneDNN buffers, allocator slack; rounded up
# CPU only: torch.optim.Adam imports torch._dynamo on first use (its RSS, rounded up: docs/robustness.md).
ADAM_IMPORT = 160 * 2**20
CUDA_FIXED = 512 * 2**20  # not calibrated: cuDNN workspace and kernels, a guess on the safe side
SAFETY = 0.9  # a run "fits" when its estimate is at most this fraction of the free memory


class TooLargeError(ValueError):
    """The run would need more memory than the device has free; the message gives the largest size that fits."""


class TooSmallError(ValueError):
    """An image is too small (or too thin) for the deepest VGG-19 layer; the message gives the minimum."""


# --- shapes -------------------------------------------------------------------------------------------


def image_hw(shape) -> tuple[int, int]:
    """(H, W) from (H, W), (1, 3, H, W) or a torch.Size."""
    H, W = tuple(shape)[-2:]
    return int(H), int(W)


def resized_hw(hw: Sequence[int], longer_side: int) -> tuple[int, int]:
    """The (H, W) that ``images.resize(image, longer_side)`` gives an image of size ``hw``."""
    return images.resized_hw(hw, longer_side)


def shapes_at(config, size: int, content_hw, style_hw) -> tuple[tuple[int, int], tuple[int, int]]:
    """C's and S's full-size (H, W) as ``transfer.load_pair`` makes them when the run's size is ``size``.

    C's longer side is ``size``, S's ``max(1, round(size · style_scale))``; ``content_hw``/``style_hw`` give the
    aspect ratios (the images as loaded, or any resized copy).
    """
    return resized_hw(content_hw, size), resized_hw(style_hw, max(1, round(size * config.style_scale)))


def stage_shapes(config, content_hw, style_hw) -> list[tuple[float, tuple[int, int], tuple[int, int]]]:
    """``[(scale, C's (H, W), S's (H, W))]`` for each stage of the run, as ``transfer.run`` resizes them.

    ``content_hw`` and ``style_hw`` are the full-size shapes (after ``load_pair``). A coarse stage gives each
    image a longer side of ``max(min_side, round(longer · config.coarse_factor))`` (``coarse_size / size``, or
    ``coarse_scale``); a coarse factor of 1 is no stage of its own: its steps run at full size.
    """
    C_hw, S_hw = image_hw(content_hw), image_hw(style_hw)
    out = []
    m, scale = vgg.min_side(config.layers), config.coarse_factor
    if config.coarse_steps and scale < 1.0:
        coarse = [resized_hw(hw, max(m, round(max(hw) * scale))) for hw in (C_hw, S_hw)]
        out.append((scale, *coarse))
    if config.steps or (config.coarse_steps and scale >= 1.0):
        out.append((1.0, C_hw, S_hw))
    return out


# --- the smallest size --------------------------------------------------------------------------------


def _too_thin(config, content_hw, style_hw):
    """The first (which, stage scale, (H, W)) whose shorter side is below min_side, or None."""
    m = vgg.min_side(config.layers)
    for scale, C_hw, S_hw in stage_shapes(config, content_hw, style_hw):
        for which, hw in ((0, C_hw), (1, S_hw)):
            if min(hw) < m:
                return which, scale, hw
    return None


def smallest_size_that_works(config, content_hw, style_hw, limit: int = 65536) -> int | None:
    """The smallest ``size`` (≥ config.size) at which both images, at every stage, have sides ≥ min_side.

    ``content_hw``/``style_hw`` only give the aspect ratios here. None when even ``limit`` px is not enough.
    """

    def works(size):
        return _too_thin(config, *shapes_at(config, size, content_hw, style_hw)) is None

    if not works(limit):
        return None
    lo, hi = config.size, limit  # works(hi); find the smallest working size ≥ lo (monotone: sides grow)
    if works(lo):
        return lo
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if works(mid) else (mid, hi)
    return hi


def _conservative(hw):
    """An aspect ratio no wider than the true one of an image that was rounded to ``hw`` (shorter side − ½)."""
    H, W = image_hw(hw)
    return (H - 0.5, W) if H < W else (H, W - 0.5) if W < H else (H, W)


def check_min_side(
    config,
    content_hw,
    style_hw,
    names: tuple[str, str] = ("the content image", "the style image"),
    source_shapes=None,
):
    """Raise ``TooSmallError`` when an image's shorter side falls below ``vgg.min_side(config.layers)``.

    ``config.size`` is the *longer* side, so a thin image (a panorama, a strip) can have a shorter side of a
    few pixels after resizing, and the deepest layer (relu5_1 needs 16 px: 4 poolings halve it) then has no
    position left. The coarse stage of a run (``coarse_factor``) shrinks the images further. The size the
    message suggests comes from ``source_shapes`` (the images before resizing) when given, else from a
    conservative guess of their aspect ratios.
    """
    bad = _too_thin(config, content_hw, style_hw)
    if bad is None:
        return
    which, scale, (H, W) = bad
    m = vgg.min_side(config.layers)
    deepest = max(config.layers, key=vgg.downsampling)
    stage = f"at the coarse stage (coarse_scale {scale:g})" if scale != 1.0 else f"at size {config.size}"
    aspects = source_shapes or (_conservative(content_hw), _conservative(style_hw))
    fix = smallest_size_that_works(config, *aspects)
    todo = f"use a size of at least {fix} px" if fix is not None else "crop it to a less elongated shape"
    if scale != 1.0:
        todo += " or no coarse stage (coarse_steps=0)"
    raise TooSmallError(
        f"{names[which]} is too small: {stage} it is {H}x{W} pixels (height x width) but layer {deepest} needs "
        f"a shorter side of at least {m} px; {todo}"
    )


# --- the estimate -------------------------------------------------------------------------------------


def activation_bytes(config, hw, device: str = "cpu") -> int:
    """Bytes autograd keeps for one forward pass of G (size hw), plus the two largest gradients of backward."""
    elem = 2 if resolve_precision(config.precision, device) == "bfloat16" else 4
    wanted = set(config.layers)
    kept, largest = 0, 0
    for name in vgg.layers_up_to(config.layers):
        n = math.prod(vgg.layer_shape(name, hw))  # n_C · n_H · n_W
        if name.startswith("conv"):
            kept += n * elem  # its ReLU overwrites it in place …
        elif name.startswith("relu") and "conv" + name[4:] in wanted:
            kept += n * elem  # … unless the conv output itself is read
        elif name.startswith("pool"):
            kept += n * elem + (n * 8 if config.pooling == "max" else 0)  # output + int64 argmax indices
        if name in wanted and elem != 4:
            kept += n * 4  # the costs read float32 copies
        largest = max(largest, n * elem)
    return kept + 2 * largest


def _conv_bytes(layers: Iterable[str]) -> int:
    """Float32 kernels and biases of the conv layers among ``layers``."""
    return sum(
        4 * (math.prod(vgg.conv_weight_shape(name)) + vgg.n_channels(name))
        for name in layers
        if name.startswith("conv")
    )


def weights_bytes(config, device: str = "cpu") -> int:
    """Float32 conv weights up to the deepest layer (+ the loader's cached full VGG-19 on the CPU)."""
    used = _conv_bytes(vgg.layers_up_to(config.layers))
    if resolve_precision(config.precision, device) == "bfloat16":
        used += used // 2  # autocast's bfloat16 copies of the weights
    if str(device).startswith("cpu") and config.weights != "random":
        used += _conv_bytes(vgg.CONV_LAYERS)  # load_caffe_state's lru_cache keeps all 16 layers
    return used


def optimizer_bytes(config, hw) -> int:
    """What the optimizer keeps, in tensors of G's size (3 · n_H · n_W float32 each)."""
    image = 3 * math.prod(image_hw(hw)) * 4
    if config.optimizer == "adam":
        return 3 * image  # exp_avg, exp_avg_sq, grad
    return (2 * config.history_size + 5) * image  # m pairs (s, y), prev_x, prev_g, grad, q, d


def targets_bytes(config, content_hw, style_hw) -> int:
    """a_C, the Gram matrices of S, and the no-grad forward pass of S (two activations alive at a time)."""
    grams = sum(vgg.n_channels(name) ** 2 * 4 for name, _ in config.style_layers)  # (n_C, n_C) each
    a_C = math.prod(vgg.layer_shape(config.content_layer, content_hw)) * 4
    s_pass = 2 * max(math.prod(vgg.layer_shape(n, style_hw)) * 4 for n in vgg.layers_up_to(config.layers))
    return grams + a_C + s_pass


def estimate_bytes(config, content_hw, style_hw, device: str = "cpu") -> int:
    """Estimated peak memory (bytes) that a run of ``config`` adds on ``device`` (the interpreter excluded).

    ``content_hw`` / ``style_hw``: the full-size (H, W) of C and S (e.g. ``C.shape``); the peak is at full size.
    """
    C_hw, S_hw = image_hw(content_hw), image_hw(style_hw)
    pixels = math.prod(C_hw)
    images_bytes = 4 * 3 * 4 * pixels + 3 * 4 * math.prod(S_hw)  # C, G, G0, last good; S
    n_frames = 2 + (config.total_steps // config.frame_every if config.frame_every else 0)
    frames = n_frames * 3 * pixels  # uint8
    tensors = (
        K * (activation_bytes(config, C_hw, device) + targets_bytes(config, C_hw, S_hw))
        + optimizer_bytes(config, C_hw)
        + images_bytes
        + frames
    )
    on_cpu = str(device).startswith("cpu")
    fixed = FIXED if on_cpu else CUDA_FIXED
    if on_cpu and config.optimizer == "adam":
        fixed += ADAM_IMPORT
    return int(fixed + weights_bytes(config, device) + tensors)


# --- what is free -------------------------------------------------------------------------------------


def _meminfo_available() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024  # kB
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _cgroup_available() -> int | None:
    """Room left under a container's memory limit (cgroup v2, then v1), or None when there is no limit."""
    for limit_file, usage_file in (
        ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
        ("/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.usage_in_bytes"),
    ):
        try:
            limit = Path(limit_file).read_text().strip()
            usage = int(Path(usage_file).read_text().strip())
        except (OSError, ValueError):
            continue
        if limit == "max" or int(limit) >= 2**60:  # "no limit" (v1 writes a number near 2^63)
            return None
        return max(0, int(limit) - usage)
    return None


def available_bytes(device="cpu") -> int | None:
    """Free memory on ``device`` in bytes, or None when it cannot be known.

    CPU: ``MemAvailable`` from /proc/meminfo (fallback: free pages from ``os.sysconf``), capped by the
    container's cgroup limit. CUDA: free device memory (``torch.cuda.mem_get_info``) plus what PyTorch's
    caching allocator holds but does not use. MPS: the recommended maximum minus what is allocated.
    """
    kind = str(device).split(":")[0]
    if kind == "cpu":
        free = [x for x in (_meminfo_available(), _cgroup_available()) if x is not None]
        return min(free) if free else None
    import torch

    if kind == "cuda":
        free, _ = torch.cuda.mem_get_info(torch.device(device))
        return int(free + torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device))
    if kind == "mps" and hasattr(torch, "mps") and hasattr(torch.mps, "recommended_max_memory"):
        return int(torch.mps.recommended_max_memory() - torch.mps.current_allocated_memory())
    return None


def format_gib(n: float) -> str:
    """Bytes for a message: "1.25 GiB" from 1 GiB on, "600 MiB" below."""
    return f"{n / 2**30:.2f} GiB" if n >= 2**30 else f"{n / 2**20:.0f} MiB"


# --- the largest size ---------------------------------------------------------------------------------


def largest_size_that_fits(
    config, content_hw, style_hw, device="cpu", available: int | None = None, limit: int = 65536
) -> int | None:
    """The largest ``size`` (longer side of C, px) whose estimate fits in ``SAFETY`` × the free memory.

    ``content_hw``/``style_hw`` give the aspect ratios. ``available`` defaults to ``available_bytes(device)``;
    None is returned when nothing fits (not even the smallest size VGG-19 takes), and ``limit`` when the free
    memory is unknown.
    """
    if available is None:
        available = available_bytes(device)
    if available is None:
        return limit
    budget = SAFETY * available

    def fits(size):
        C_hw, S_hw = shapes_at(config, size, content_hw, style_hw)
        return estimate_bytes(config.replace(size=size), C_hw, S_hw, str(device)) <= budget

    lo = vgg.min_side(config.layers)
    if not fits(lo):
        return None
    hi = limit
    if fits(hi):
        return hi
    while hi - lo > 1:  # fits(lo), not fits(hi); the estimate grows with the size
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if fits(mid) else (lo, mid)
    return lo


def check_fits(
    config,
    content_shape,
    style_shape,
    device="cpu",
    names: tuple[str, str] = ("the content image", "the style image"),
    available: int | None = None,
    source_shapes=None,
) -> int:
    """Refuse a run that cannot work, before it starts; return the estimate (bytes) when it can.

    Raises ``TooSmallError`` when an image is too thin for ``config.layers`` (see ``check_min_side``) and
    ``TooLargeError`` when ``estimate_bytes`` exceeds ``SAFETY`` × ``available_bytes(device)``; the message
    names the largest size that fits. ``content_shape``/``style_shape``: C's and S's full-size shapes;
    ``source_shapes``: optionally the shapes of the images before resizing (exact aspect ratios for the
    suggested sizes).
    """
    C_hw, S_hw = image_hw(content_shape), image_hw(style_shape)
    check_min_side(config, C_hw, S_hw, names, source_shapes)
    need = estimate_bytes(config, C_hw, S_hw, str(device))
    if available is None:
        available = available_bytes(device)
    if available is None or need <= SAFETY * available:
        return need
    largest = largest_size_that_fits(config, *(source_shapes or (C_hw, S_hw)), device, available)
    if largest is None:
        todo = "free memory (close other programs) or use a device with more memory"
    else:
        todo = (
            f"the largest size that fits is {largest} px: use size={largest} (nst-edu --size {largest}, "
            f"or --size auto)"
        )
    raise TooLargeError(
        f"a run at size {config.size} ({C_hw[0]}x{C_hw[1]} pixels) needs about {format_gib(need)} of memory "
        f"but only {format_gib(available)} is free on {device}; {todo}"
        + ("" if config.optimizer == "adam" else ", or optimizer='adam', which keeps no L-BFGS history")
    )
