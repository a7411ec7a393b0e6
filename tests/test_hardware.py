"""hardware: precision "auto" picks bfloat16 only where the device runs it natively, float32 elsewhere."""

import os
import subprocess
import sys

import pytest
import torch

import nst_edu
from nst_edu.core import hardware
from nst_edu.core.config import preset


@pytest.fixture
def bf16_cpu(monkeypatch):
    """A CPU that has AVX-512-BF16, with no cap in the environment."""
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "AVX512")
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: True, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False, raising=False)


def test_auto_is_bfloat16_on_a_cpu_with_native_bfloat16(bf16_cpu):
    assert hardware.native_bfloat16("cpu")
    assert hardware.resolve_precision("auto", "cpu") == "bfloat16"


def test_amx_alone_counts_as_native(bf16_cpu, monkeypatch):
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: True, raising=False)
    assert hardware.resolve_precision("auto", "cpu") == "bfloat16"


def test_auto_is_float32_on_a_cpu_without_bfloat16(bf16_cpu, monkeypatch):
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False, raising=False)
    assert not hardware.native_bfloat16("cpu")
    assert hardware.resolve_precision("auto", "cpu") == "float32"


@pytest.mark.parametrize("isa", ["AVX2", "avx2", "AVX512_CORE", "SSE41"])
def test_a_onednn_cap_below_bf16_means_float32(bf16_cpu, monkeypatch, isa):
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", isa)
    assert hardware.resolve_precision("auto", "cpu") == "float32"


def test_an_aten_cap_below_avx512_means_float32(bf16_cpu, monkeypatch):
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "AVX2")
    assert hardware.resolve_precision("auto", "cpu") == "float32"


@pytest.mark.parametrize("precision", ["float32", "bfloat16"])
def test_an_explicit_precision_is_kept(monkeypatch, precision):
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    assert hardware.resolve_precision(precision, "cpu") == precision


def test_devices_without_bfloat16_support_get_float32():
    assert not hardware.native_bfloat16("meta")
    assert hardware.resolve_precision("auto", "meta") == "float32"


def test_the_real_caps_of_the_other_cpu_pass_give_float32():
    # What `make test`'s second pass sets: whatever this CPU has, the cap must win.
    env = dict(os.environ, ONEDNN_MAX_CPU_ISA="AVX2", ATEN_CPU_CAPABILITY="avx2")
    code = "from nst_edu.core import hardware; print(hardware.resolve_precision('auto', 'cpu'))"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "float32"


def test_the_fast_preset_asks_for_auto_and_run_records_what_it_used(bf16_cpu):
    config = preset(
        "fast", weights="random", size=32, steps=1, style_layers=(("relu1_1", 1.0),), content_layer="relu1_2"
    )
    assert config.precision == "auto"
    C = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    result = nst_edu.run(C, C.flip(-1), config, progress=False)
    assert result.precision == "bfloat16"
    assert result.metadata()["precision"] == "bfloat16"
    assert result.metadata()["config"]["precision"] == "auto"


def test_config_refuses_an_unknown_precision():
    with pytest.raises(ValueError, match="precision must be one of auto, float32, bfloat16"):
        preset("fast", precision="half")
