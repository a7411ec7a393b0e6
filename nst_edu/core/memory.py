"""What image sizes a run can take: the smallest VGG-19 allows and the largest that fits in memory.

What it is: ``estimate_bytes(config, content_hw, style_hw)``, a model of the peak memory of ``transfer.run``
built from the tensors it keeps (calibrated against measured peak RSS, see docs/robustness.md);
``available_bytes(device)``; ``largest_size_that_fits``; and ``check_fits``, which ``transfer.run`` and the CLI
call before any optimization: it raises ``TooSmallError`` when an image is too thin for the deepest layer and
``TooLargeError`` when the run would not fit, each with a message that says which size would work.
``calibration_table()`` re-measures the calibration table (each row a run in a fresh interpreter).

What it is not: no allocation and no optimization; the estimate is a model (within −5 % … +20 % of the measured
peaks on the CPU), and the check leaves a margin (``SAFETY``) for that.

The model, for G of n_H × n_W pixels and every VGG-19 layer up to the deepest one the config reads:

    peak ≈ FIXED + weights + K · (Σ_layers kept activations + 2 · largest activation + targets) + optimizer
           + images + frames

- kept activations: what autograd keeps for the backward pass: each conv output (its ReLU runs in place),
  each pooling output and its int64 argmax indices, float32 copies of the layers the costs read;
  4 bytes an element (2 under bfloat16 autocast); the two largest gradients are alive at once in backward;
- weights: float32 conv weights up to the deepest layer (+ the whole 80 MB VGG-19 kept by the loader's
  cache on the CPU, + bfloat16 copies under autocast);
- optimizer: Adam keeps 2 tensors of G's size (and on the CPU its first use imports torch._dynamo: 160 MiB),
  L-BFGS 2·m (m = 20 pairs (s, y)) + 5;
- targets: the Gram matrices of S, a_C, and the style image's own no-grad forward pass (two activations alive
  at a time; S is larger than G when style_scale > 1);
- K and FIXED are calibrated on the CPU against peak RSS (runtime buffers of the convolution library,
  allocator slack); on CUDA, FIXED is replaced by a guess (CUDA_FIXED) that has not been measured.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from . import vgg
from .hardware import resolve_precision

__all__ = [
    "TooLargeError",
    "TooSmallError",
    "SAFETY",
    "resized_hw",
    "stage_shapes",
    "estimate_bytes",
    "available_bytes",
    "largest_size_that_fits",
    "smallest_size_that_works",
    "check_min_side",
    "check_fits",
]

K = 1.05  # calibrated (docs/robustness.md): a least-squares fit gave 1.02, rounded up
FIXED = 64 * 2**20  # calibrated: the fit gave 48 MiB (oneDNN buffers, allocator slack), rounded up
ADAM_IMPORT = (
    160 * 2**20
)  # CPU only: torch.optim.Adam imports torch._dynamo on first use (measured 150 MiB RSS)
CUDA_FIXED = (
    512 * 2**20
)  # not calibrated (no GPU here): cuDNN workspace and kernels, a guess on the safe side
SAFETY = 0.9  # a run "fits" when its estimate is at most this fraction of the free memory
LBFGS_HISTORY = 20  # BoxLBFGS's and Config's default history_size m


class TooLargeError(ValueError):
    """The run would need more memory than the device has free; the message gives the largest size that fits."""


class TooSmallError(ValueError):
    """An image is too small (or too thin) for the deepest VGG-19 layer; the message gives the minimum."""


# --- shapes -------------------------------------------------------------------------------------------


def _hw(shape) -> tuple[int, int]:
    """(H, W) from (H, W), (1, 3, H, W) or a torch.Size."""
    H, W = tuple(shape)[-2:]
    return int(H), int(W)


def resized_hw(hw: Sequence[int], longer_side: int) -> tuple[int, int]:
    """The (H, W) that ``images.resize(image, longer_side)`` gives an image of size ``hw`` (same rounding)."""
    H, W = tuple(hw)[-2:]
    scale = longer_side / max(H, W)
    return max(1, round(H * scale)), max(1, round(W * scale))


def stage_shapes(config, content_hw, style_hw) -> list[tuple[float, tuple[int, int], tuple[int, int]]]:
    """``[(scale, C's (H, W), S's (H, W))]`` for each stage of the run, as ``transfer.run`` resizes them.

    ``content_hw`` and ``style_hw`` are the full-size shapes (after ``load_pair``). A coarse stage gives each
    image a longer side of ``max(min_side, round(longer · coarse_scale))``.
    """
    C_hw, S_hw = _hw(content_hw), _hw(style_hw)
    out = []
    if config.coarse_steps:
        m = vgg.min_side(config.layers)
        out.append(
            (
                config.coarse_scale,
                resized_hw(C_hw, max(m, round(max(C_hw) * config.coarse_scale))),
                resized_hw(S_hw, max(m, round(max(S_hw) * config.coarse_scale))),
            )
        )
    if config.steps:
        out.append((1.0, C_hw, S_hw))
    return out


def _shapes_at(config, size: int, content_hw, style_hw) -> tuple[tuple[int, int], tuple[int, int]]:
    """C's and S's full-size (H, W) when the run's size is ``size`` (the aspect ratios of the given shapes)."""
    return resized_hw(content_hw, size), resized_hw(style_hw, max(1, round(size * config.style_scale)))


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
        return _too_thin(config, *_shapes_at(config, size, content_hw, style_hw)) is None

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
    H, W = _hw(hw)
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
    position left. The coarse stage of a run (``coarse_scale``) shrinks the images further. The size the
    message suggests comes from ``source_shapes`` (the images before resizing) when given, else from a
    conservative guess of their aspect ratios.
    """
    bad = _too_thin(config, content_hw, style_hw)
    if bad is None:
        return
    which, scale, (H, W) = bad
    m = vgg.min_side(config.layers)
    deepest = max(config.layers, key=vgg.downsampling)
    stage = (
        f"at the coarse stage (coarse_scale {config.coarse_scale})"
        if scale != 1.0
        else f"at size {config.size}"
    )
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


def _layer_shapes(layers, hw) -> list[tuple[str, int, int, int]]:
    """(name, n_C, n_H, n_W) of every VGG-19 layer up to the deepest of ``layers``, for an image of size hw."""
    deepest = max(vgg.LAYER_INDEX[name] for name in layers)
    H, W = _hw(hw)
    n_C, out = 3, []
    for name in vgg.LAYER_NAMES[: deepest + 1]:
        if name.startswith("pool"):
            H, W = H // 2, W // 2  # kernel 2, stride 2, floor
        else:
            n_C = vgg.n_channels(name)
        out.append((name, n_C, H, W))
    return out


def activation_bytes(config, hw, device: str = "cpu") -> int:
    """Bytes autograd keeps for one forward pass of G (size hw), plus the two largest gradients of backward."""
    elem = 2 if resolve_precision(config.precision, device) == "bfloat16" else 4
    wanted = set(config.layers)
    kept, largest = 0, 0
    for name, n_C, n_H, n_W in _layer_shapes(config.layers, hw):
        n = n_C * n_H * n_W
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


def weights_bytes(config, device: str = "cpu") -> int:
    """Float32 conv weights up to the deepest layer (+ the loader's cached full VGG-19 on the CPU)."""

    def conv_bytes(names):
        total, n_in = 0, 3
        for name in names:
            if name.startswith("conv"):
                n_out = vgg.n_channels(name)
                total += (n_out * n_in * 9 + n_out) * 4
                n_in = n_out
        return total

    used = conv_bytes(name for name, *_ in _layer_shapes(config.layers, (1, 1)))
    if resolve_precision(config.precision, device) == "bfloat16":
        used += used // 2  # autocast's bfloat16 copies of the weights
    if str(device).startswith("cpu") and config.weights != "random":
        used += conv_bytes(vgg.LAYER_NAMES)  # load_caffe_state's lru_cache keeps all 16 layers
    return used


def optimizer_bytes(config, hw) -> int:
    H, W = _hw(hw)
    image = 3 * H * W * 4
    if config.optimizer == "adam":
        return 3 * image  # exp_avg, exp_avg_sq, grad
    return (2 * config.history_size + 5) * image  # m pairs (s, y), prev_x, prev_g, grad, q, d


def targets_bytes(config, content_hw, style_hw) -> int:
    """a_C, the Gram matrices of S, and the no-grad forward pass of S (two activations alive at a time)."""
    grams = sum(vgg.n_channels(name) ** 2 * 4 for name, _ in config.style_layers)
    a_C = next(
        n_C * n_H * n_W * 4
        for name, n_C, n_H, n_W in _layer_shapes(config.layers, content_hw)
        if name == config.content_layer
    )
    s_pass = 2 * max(n_C * n_H * n_W * 4 for _, n_C, n_H, n_W in _layer_shapes(config.layers, style_hw))
    return grams + a_C + s_pass


def estimate_bytes(config, content_hw, style_hw, device: str = "cpu") -> int:
    """Estimated peak memory (bytes) that a run of ``config`` adds on ``device`` (the interpreter excluded).

    ``content_hw`` / ``style_hw``: the full-size (H, W) of C and S (e.g. ``C.shape``); the peak is at full size.
    """
    C_hw, S_hw = _hw(content_hw), _hw(style_hw)
    H, W = C_hw
    images_bytes = 4 * 3 * 4 * (H * W) + 3 * 4 * S_hw[0] * S_hw[1]  # C, G, G0, last good; S
    n_frames = 2 + (config.total_steps // config.frame_every if config.frame_every else 0)
    frames = n_frames * 3 * H * W  # uint8
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
        C_hw, S_hw = _shapes_at(config, size, content_hw, style_hw)
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


def _gib(n: float) -> str:
    return f"{n / 2**30:.2f} GiB" if n >= 2**30 else f"{n / 2**20:.0f} MiB"


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
    C_hw, S_hw = _hw(content_shape), _hw(style_shape)
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
        f"a run at size {config.size} ({C_hw[0]}x{C_hw[1]} pixels) needs about {_gib(need)} of memory but "
        f"only {_gib(available)} is free on {device}; {todo}"
        + ("" if config.optimizer == "adam" else ", or optimizer='adam', which keeps no L-BFGS history")
    )


# --- calibration --------------------------------------------------------------------------------------

_MEASURE = r"""
import json, resource, sys
import torch
import nst_edu
from nst_edu.core import transfer


def status(field):
    # /proc/self/status belongs to this process's own memory map. ru_maxrss does not: Linux carries the
    # parent's peak across fork and exec, so a child of a large process (pytest) would report the parent's peak.
    try:
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) * 1024 for line in f if line.startswith(field))
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


cfg = nst_edu.Config.from_dict(json.loads(sys.argv[1]))
C, S = transfer.load_pair(sys.argv[2], sys.argv[3], cfg)
try:
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset the peak (VmHWM) to the current RSS (Linux >= 4.0)
except OSError:
    pass
base = status("VmRSS:")
transfer.run(C, S, cfg, progress=False)
peak = status("VmHWM:")
print(json.dumps({"base": base, "peak": peak, "C": list(C.shape[-2:]), "S": list(S.shape[-2:])}))
"""


def measure_bytes(config, content="chelsea", style="swirls") -> dict:
    """Run ``config`` on the CPU in a fresh interpreter; its peak RSS minus the RSS before the run (bytes).

    The peak is read from /proc/self/status (VmHWM, reset just before the run), falling back to
    ``resource.getrusage(RUSAGE_SELF).ru_maxrss`` elsewhere.
    """
    import json
    import subprocess
    import sys

    cfg = config.replace(device="cpu")
    out = subprocess.run(
        [sys.executable, "-c", _MEASURE, json.dumps(cfg.to_dict()), str(content), str(style)],
        capture_output=True,
        text=True,
        check=True,
    )
    data = json.loads(out.stdout.strip().splitlines()[-1])
    data["measured"] = data["peak"] - data["base"]
    data["estimated"] = estimate_bytes(cfg, data["C"], data["S"], "cpu")
    return data


def calibration_table(sizes=(128, 256, 384, 512), presets=("fast", "gatys", "course")) -> str:
    """Markdown table of measured vs estimated peak memory (each row: one subprocess run that fills the L-BFGS
    history: history_size + 2 steps)."""
    from .config import preset

    lines = [
        "| preset | precision | optimizer | size | C (H×W) | measured | estimated | estimated / measured |",
        "|---|---|---|---|---|---|---|---|",
    ]  # measured: peak RSS − RSS before the run
    for name in presets:
        for size in sizes:
            cfg = preset(name, size=size, coarse_steps=0, frame_every=10)
            cfg = cfg.replace(steps=cfg.history_size + 2)
            d = measure_bytes(cfg)
            lines.append(
                f"| {name} | {cfg.precision} | {cfg.optimizer} | {size} | {d['C'][0]}×{d['C'][1]} | "
                f"{d['measured'] / 2**20:.0f} MiB | {d['estimated'] / 2**20:.0f} MiB | "
                f"{d['estimated'] / max(1, d['measured']):.2f} |"
            )
    return "\n".join(lines)
