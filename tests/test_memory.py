"""memory.py: the shapes a run uses, the smallest and largest sizes, and the memory estimate against a real run."""

import importlib.util
from pathlib import Path

import pytest
import torch

from nst_edu.core import images, memory, transfer, vgg
from nst_edu.core.config import Config, preset

GIB = 2**30
CALIBRATE = Path(__file__).resolve().parents[1] / "benchmarks" / "calibrate_memory.py"


@pytest.mark.parametrize("hw", [(300, 451), (451, 300), (7, 400), (512, 512), (1, 1000)])
@pytest.mark.parametrize("size", [16, 64, 257])
def test_resized_hw_matches_images_resize(hw, size):
    image = torch.zeros(1, 3, *hw)
    assert memory.resized_hw(hw, size) == tuple(images.resize(image, size).shape[-2:])


@pytest.mark.parametrize("style_scale", [0.5, 1.0, 1.7])
def test_shapes_at_match_load_pair(style_scale):
    config = preset("fast", size=90, style_scale=style_scale)
    C0, S0 = torch.rand(1, 3, 300, 451), torch.rand(1, 3, 97, 61)
    C, S = transfer.load_pair(C0, S0, config)
    assert memory.shapes_at(config, 90, C0.shape, S0.shape) == (tuple(C.shape[-2:]), tuple(S.shape[-2:]))


def test_the_estimate_counts_the_networks_own_shapes():
    # The model reads layer and kernel shapes from vgg; they must be those of the network transfer.run builds.
    layers = ["conv1_2", "relu3_1", "pool4", "relu5_1"]
    model = vgg.VGG19Features("random", layers=layers)
    out = model(torch.rand(1, 3, 37, 50))
    assert vgg.layers_up_to(layers) == tuple(model.body)
    for name, a in out.items():
        assert vgg.layer_shape(name, (37, 50)) == tuple(a.shape[1:])
    for name, module in model.body.items():
        if name.startswith("conv"):
            assert vgg.conv_weight_shape(name) == tuple(module.weight.shape)
    with pytest.raises(ValueError, match="relu1_1 has no weights"):
        vgg.conv_weight_shape("relu1_1")


def test_weights_bytes_counts_the_parameters():
    config = Config(
        content_layer="relu2_1", style_layers=[("relu1_1", 1.0)], weights="random", precision="float32"
    )
    model = vgg.VGG19Features("random", layers=config.layers)
    assert memory.weights_bytes(config) == 4 * sum(p.numel() for p in model.parameters())
    full = vgg.VGG19Features("random", layers=["conv5_4"])
    cached = 4 * sum(p.numel() for p in full.parameters())
    assert memory.weights_bytes(config.replace(weights="caffe")) == memory.weights_bytes(config) + cached


def test_stage_shapes_match_what_transfer_runs_on():
    config = preset("fast", size=100, steps=1, coarse_steps=1)
    C, S = torch.rand(1, 3, 40, 100), torch.rand(1, 3, 100, 71)
    (scale, C_hw, S_hw), full = memory.stage_shapes(config, C.shape, S.shape)
    assert scale == config.coarse_scale
    assert C_hw == tuple(transfer._scaled(C, scale, config).shape[-2:])
    assert S_hw == tuple(transfer._scaled(S, scale, config).shape[-2:])
    assert full == (1.0, (40, 100), (100, 71))


def test_too_thin_content_names_the_minimum():
    config = preset("fast", size=64, coarse_steps=0)
    with pytest.raises(
        memory.TooSmallError,
        match=r"content image is too small: at size 64 it is 2x64 pixels "
        r".*relu5_1 needs a shorter side of at least 16 px",
    ):
        memory.check_min_side(config, (2, 64), (64, 64))


def test_too_thin_at_the_coarse_stage_only():
    config = preset("fast", size=64, coarse_steps=5, coarse_scale=0.5)
    memory.check_min_side(config.replace(coarse_steps=0), (20, 64), (64, 64))  # fine at full size
    with pytest.raises(memory.TooSmallError, match=r"coarse stage .* 10x32 pixels.*coarse_steps=0"):
        memory.check_min_side(config, (20, 64), (64, 64))


def test_shallow_layers_need_smaller_images():
    config = Config(content_layer="relu1_1", style_layers=[("relu2_1", 1.0)], size=64)
    assert vgg.min_side(config.layers) == 2
    memory.check_min_side(config, (2, 64), (2, 64))
    with pytest.raises(memory.TooSmallError, match="at least 2 px"):
        memory.check_min_side(config, (1, 64), (2, 64))


def test_suggested_size_really_works():
    # 400x41: resized to 64 px it is 7x64; the size the message suggests must work for the true aspect ratio.
    config = preset("fast", size=64, coarse_steps=0)
    source = ((41, 400), (64, 64))
    with pytest.raises(memory.TooSmallError, match=r"at least (\d+) px") as info:
        memory.check_min_side(config, memory.resized_hw((41, 400), 64), (64, 64), source_shapes=source)
    suggested = int(info.value.args[0].rsplit("at least ", 1)[1].split(" ")[0])
    ok = config.replace(size=suggested)
    memory.check_min_side(ok, memory.resized_hw((41, 400), suggested), (suggested, suggested))
    with pytest.raises(memory.TooSmallError):
        memory.check_min_side(
            config.replace(size=suggested - 1), memory.resized_hw((41, 400), suggested - 1), (64, 64)
        )
    # Without the source shapes the guess is conservative: never below what is needed.
    with pytest.raises(memory.TooSmallError) as info:
        memory.check_min_side(config, memory.resized_hw((41, 400), 64), (64, 64))
    assert int(info.value.args[0].rsplit("at least ", 1)[1].split(" ")[0]) >= suggested


def test_estimate_grows_with_size_and_has_its_parts():
    config = preset("gatys", size=256)
    sizes = [64, 128, 256, 512, 1024]
    estimates = [memory.estimate_bytes(config.replace(size=s), (s, s), (s, s)) for s in sizes]
    assert estimates == sorted(estimates) and len(set(estimates)) == len(estimates)
    # At large sizes the pixel terms dominate: doubling the side roughly quadruples the growth.
    assert 3.5 < (estimates[4] - estimates[3]) / (estimates[3] - estimates[2]) < 4.5
    # L-BFGS keeps 2·20 + 2 image-sized tensors more than Adam, whose first use imports torch._dynamo.
    adam = memory.estimate_bytes(config.replace(optimizer="adam"), (512, 512), (512, 512))
    lbfgs = memory.estimate_bytes(config, (512, 512), (512, 512))
    extra = (2 * config.history_size + 2) * 3 * 512 * 512 * 4
    assert lbfgs - adam == pytest.approx(extra - memory.ADAM_IMPORT, abs=1)
    # Only the layers up to the deepest one count.
    shallow = Config(content_layer="relu1_1", style_layers=[("relu1_1", 1.0)], size=512)
    assert memory.activation_bytes(shallow, (512, 512)) < memory.activation_bytes(config, (512, 512)) / 2


def test_estimate_counts_activations_exactly_for_one_layer():
    # relu1_1 only, float32, max pooling not reached: conv1_1's output (ReLU in place) + 2 gradients of it.
    config = Config(content_layer="relu1_1", style_layers=[("relu1_1", 1.0)], size=32)
    assert memory.activation_bytes(config, (32, 32)) == 3 * 64 * 32 * 32 * 4


def test_a_large_style_image_counts():
    config = preset("gatys", size=256)
    small = memory.estimate_bytes(config, (256, 256), (256, 256))
    large = memory.estimate_bytes(config.replace(style_scale=4), (256, 256), (1024, 1024))
    assert large > small + 64 * 1024 * 1024 * 4  # at least S's first activation


def test_available_bytes_on_the_cpu():
    free = memory.available_bytes("cpu")
    assert free is not None and 0 < free
    total = int(open("/proc/meminfo").read().split("MemTotal:")[1].split()[0]) * 1024
    assert free <= total


def test_available_bytes_respects_a_cgroup_limit(monkeypatch, tmp_path):
    (tmp_path / "memory.max").write_text("1073741824\n")
    (tmp_path / "memory.current").write_text(str(256 * 2**20))
    real = memory.Path

    def fake(path):
        return tmp_path / real(path).name if str(path).startswith("/sys/fs/cgroup/memory.") else real(path)

    monkeypatch.setattr(memory, "Path", fake)
    monkeypatch.setattr(memory, "_meminfo_available", lambda: 4 * 2**30)
    assert memory.available_bytes("cpu") == 768 * 2**20
    (tmp_path / "memory.max").write_text("max\n")  # no limit
    assert memory.available_bytes("cpu") == 4 * 2**30


def test_largest_size_that_fits_is_the_boundary():
    config = preset("gatys", size=256)
    available = 2 * GIB
    largest = memory.largest_size_that_fits(config, (300, 451), (512, 512), "cpu", available)
    assert 256 < largest < 8192

    def need(size):
        C_hw, S_hw = memory.resized_hw((300, 451), size), memory.resized_hw((512, 512), size)
        return memory.estimate_bytes(config.replace(size=size), C_hw, S_hw)

    assert need(largest) <= memory.SAFETY * available < need(largest + 1)
    assert memory.largest_size_that_fits(config, (300, 451), (512, 512), "cpu", 10 * 2**20) is None
    assert memory.largest_size_that_fits(config, (300, 451), (512, 512), "cpu", 10**15) == 65536


def test_check_fits_too_large_names_the_largest_size():
    config = preset("gatys", size=4096)
    C_hw, S_hw = memory.resized_hw((300, 451), 4096), (4096, 4096)
    largest = memory.largest_size_that_fits(config, C_hw, S_hw, "cpu", 2 * GIB)
    with pytest.raises(
        memory.TooLargeError,
        match=rf"a run at size 4096 \(2725x4096 pixels\) needs about .* GiB "
        rf"of memory but only 2.00 GiB is free on cpu; the largest size "
        rf"that fits is {largest} px",
    ):
        memory.check_fits(config, C_hw, S_hw, "cpu", available=2 * GIB)
    assert issubclass(memory.TooLargeError, ValueError)
    assert memory.format_gib(2 * GIB) == "2.00 GiB" and memory.format_gib(600 * 2**20) == "600 MiB"
    assert (
        memory.check_fits(
            config.replace(size=largest),
            memory.resized_hw(C_hw, largest),
            (largest, largest),
            "cpu",
            available=2 * GIB,
        )
        > 0
    )


def test_transfer_run_refuses_before_building_the_model(monkeypatch):
    monkeypatch.setattr(memory, "available_bytes", lambda device: 50 * 2**20)
    monkeypatch.setattr(transfer, "build_model", lambda *a, **k: pytest.fail("built the model"))
    with pytest.raises(memory.TooLargeError, match="free on cpu"):
        transfer.run(
            torch.rand(1, 3, 64, 64),
            torch.rand(1, 3, 64, 64),
            preset("fast", size=64, device="cpu"),
            progress=False,
        )
    with pytest.raises(memory.TooSmallError, match="at least 16 px"):
        transfer.run(
            torch.rand(1, 3, 4, 64),
            torch.rand(1, 3, 64, 64),
            preset("fast", size=64, device="cpu"),
            progress=False,
        )


@pytest.mark.slow
def test_estimate_close_to_measured_peak_rss():
    # One real run in a fresh process (benchmarks/calibrate_memory.py: peak RSS − RSS before the run) against
    # the model: within ±30 %.
    spec = importlib.util.spec_from_file_location("calibrate_memory", CALIBRATE)
    calibrate = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(calibrate)
    config = calibrate.calibration_config("gatys", 64)
    assert config.steps == config.history_size + 2 and config.device == "cpu"
    data = calibrate.measure(config)
    assert data["C"] == [43, 64] and data["measured"] > 0, data
    assert 0.7 < data["estimated"] / data["measured"] < 1.3, data
    assert data["estimated"] == memory.estimate_bytes(config, (43, 64), data["S"])
