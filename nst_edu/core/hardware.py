"""Which device a run uses and which precision it computes in.

What it is: ``resolve_device`` (``auto`` → CUDA, then Apple's MPS, then the CPU), ``native_bfloat16`` (does
this device run bfloat16 in hardware?) and ``resolve_precision`` (``auto`` → bfloat16 only where it is
native, float32 everywhere else).

Why ``auto`` matters: bfloat16 halves a VGG-19 step only where the hardware has it (CPUs with AVX-512-BF16 or
AMX, CUDA GPUs that report bf16). Elsewhere PyTorch emulates it, and the same run is many times slower than
float32 (benchmarks/results/precision.md measures it).

What it is not: no model or optimization code; ``transfer.py`` asks, this module answers.
"""

from __future__ import annotations

import os

import torch

# oneDNN ISA names (ONEDNN_MAX_CPU_ISA) below AVX512_CORE_BF16: with one of these set, oneDNN convolutions
# cannot use the bfloat16 instructions even where the CPU has them.
_ONEDNN_BELOW_BF16 = {"SSE41", "AVX", "AVX2", "AVX2_VNNI", "AVX2_VNNI_2", "AVX512_CORE", "AVX512_CORE_VNNI"}


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` picks CUDA, then Apple's MPS, then the CPU."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            "device 'cuda' was asked for but no CUDA GPU is available; use device='auto' or 'cpu'"
        )
    if name == "mps" and not (
        getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    ):
        raise ValueError(
            "device 'mps' (Apple's Metal GPU) was asked for but is not available on this machine; "
            "use device='auto' or 'cpu'"
        )
    return torch.device(name)


def native_bfloat16(device: torch.device | str = "cpu") -> bool:
    """True where ``device`` computes bfloat16 in hardware.

    CPU: the CPU has AVX-512-BF16 or AMX, and neither ``ONEDNN_MAX_CPU_ISA`` nor ``ATEN_CPU_CAPABILITY``
    caps PyTorch below them. CUDA: ``torch.cuda.is_bf16_supported()``. Anything else: False.
    """
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    if device.type != "cpu":
        return False
    if os.environ.get("ONEDNN_MAX_CPU_ISA", "").strip().upper() in _ONEDNN_BELOW_BF16:
        return False
    if not torch.backends.cpu.get_cpu_capability().upper().startswith("AVX512"):
        return False
    cpu = torch.cpu
    has = [getattr(cpu, name, None) for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
    return any(bool(f()) for f in has if f is not None)


def resolve_precision(precision: str, device: torch.device | str = "cpu") -> str:
    """``auto`` → ``"bfloat16"`` where ``native_bfloat16(device)``, else ``"float32"``; others unchanged."""
    if precision != "auto":
        return precision
    return "bfloat16" if native_bfloat16(device) else "float32"
