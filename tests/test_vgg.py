"""VGG-19 features: layer names, weight sources, preprocessing, truncation, errors."""

import shutil

import pytest
import torch
import torchvision
from torch import nn

from nst_edu.core import vgg


def test_layer_names_match_torchvision_indices():
    features = torchvision.models.vgg19(weights=None).features
    assert len(features) == len(vgg.LAYER_NAMES) == 37
    kinds = {"conv": nn.Conv2d, "relu": nn.ReLU, "pool": nn.MaxPool2d}
    for index, module in enumerate(features):
        name = vgg.LAYER_NAMES[index]
        assert isinstance(module, kinds[name[:4]]), (index, name, module)
        if isinstance(module, nn.Conv2d):
            assert module.out_channels == vgg.n_channels(name)
    # Spot checks of the names people look up most.
    assert vgg.LAYER_INDEX["relu4_2"] == 22
    assert vgg.LAYER_INDEX["relu5_1"] == 29
    assert vgg.LAYER_INDEX["conv5_4"] == 34
    assert vgg.LAYER_INDEX["pool5"] == 36


def test_torchvision_state_dict_gives_identical_activations():
    torch.manual_seed(0)
    tv = torchvision.models.vgg19(weights=None).eval()
    state = vgg.state_from_torchvision(tv.features.state_dict())
    layers = ["conv1_1", "relu2_1", "relu4_2", "pool5"]
    ours = vgg.VGG19Features(weights="torchvision", layers=layers, state_dict=state)
    x = torch.rand(1, 3, 64, 48)
    mean = torch.tensor(vgg.IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(vgg.IMAGENET_STD).view(1, 3, 1, 1)
    got = ours(x)
    with torch.no_grad():
        h = (x - mean) / std
        for index, module in enumerate(tv.features):
            h = module(h)
            name = vgg.LAYER_NAMES[index]
            if name in layers:
                torch.testing.assert_close(got[name], h, rtol=1e-5, atol=1e-5)


def test_prefixed_torchvision_keys_are_understood():
    tv = torchvision.models.vgg19(weights=None)
    prefixed = {k: v for k, v in tv.state_dict().items() if k.startswith("features.")}
    state = vgg.state_from_torchvision(prefixed)
    assert set(state) == {f"{n}.{k}" for n in vgg.CONV_LAYERS for k in ("weight", "bias")}


def test_caffe_weights_checksum_and_shapes():
    path = vgg.caffe_weights_path()
    assert vgg._sha256(path) == vgg.CAFFE_WEIGHTS_SHA256
    state = vgg.load_caffe_state()
    n_in = 3
    for name in vgg.CONV_LAYERS:
        n_out = vgg.n_channels(name)
        assert state[f"{name}.weight"].shape == (n_out, n_in, 3, 3)
        assert state[f"{name}.bias"].shape == (n_out,)
        assert torch.isfinite(state[f"{name}.weight"]).all()
        # 8-bit quantization: at most 256 distinct values per layer, but clearly more than a handful.
        distinct = state[f"{name}.weight"].unique().numel()
        assert 16 < distinct <= 256
        n_in = n_out


def test_natural_photo_features_differ_from_random_weights(chelsea):
    caffe = vgg.VGG19Features("caffe", layers=["relu4_2"])(chelsea)["relu4_2"]
    rand = vgg.VGG19Features("random", layers=["relu4_2"])(chelsea)["relu4_2"]
    assert caffe.shape == rand.shape == (1, 512, 21, 32)  # chelsea is 171 x 256 at 256 px
    # Pretrained features of a photo are sparse (most ReLU outputs are 0); He-random ones are not.
    sparsity_caffe = (caffe == 0).float().mean().item()
    sparsity_rand = (rand == 0).float().mean().item()
    assert sparsity_caffe > 0.6
    assert abs(sparsity_caffe - sparsity_rand) > 0.1
    cos = nn.functional.cosine_similarity(caffe.flatten(), rand.flatten(), dim=0).item()
    assert cos < 0.5


def test_caffe_preprocessing_is_bgr_times_255_minus_mean():
    pre = vgg.preprocessing_for("caffe")
    x = torch.zeros(1, 3, 1, 1)
    x[0, 0] = 1.0  # pure red
    y = pre(x)[0, :, 0, 0]
    torch.testing.assert_close(y, torch.tensor([-103.939, -116.779, 255.0 - 123.68]))


def test_random_weights_are_seeded():
    a = vgg.random_state(seed=1)["conv3_1.weight"]
    b = vgg.random_state(seed=1)["conv3_1.weight"]
    c = vgg.random_state(seed=2)["conv3_1.weight"]
    assert torch.equal(a, b) and not torch.equal(a, c)
    # He init: variance 2 / fan_in
    assert abs(a.var().item() * 128 * 9 / 2 - 1) < 0.05


def test_truncates_at_deepest_layer_and_returns_requested_order():
    model = vgg.VGG19Features("random", layers=["relu2_1", "conv1_1"])
    assert list(model.body)[-1] == "relu2_1"
    out = model(torch.rand(1, 3, 32, 32))
    assert list(out) == ["relu2_1", "conv1_1"]
    assert out["conv1_1"].shape == (1, 64, 32, 32)
    assert out["relu2_1"].shape == (1, 128, 16, 16)
    # conv1_1 is kept, so relu1_1 must not have overwritten it in place: it still has negative values.
    assert (out["conv1_1"] < 0).any()


def test_conv_layer_asked_at_forward_time_is_not_overwritten_by_an_in_place_relu():
    # Built for relu2_1 only, the network runs relu1_1 and relu2_1 in place; asked at call time for conv1_1
    # and conv2_1, it must still return the convolutions' outputs, as a network built for them does.
    x = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    layers = ["conv1_1", "relu1_1", "conv2_1", "relu2_1"]
    built_for = vgg.VGG19Features("random", layers=layers)(x)
    model = vgg.VGG19Features("random", layers=["relu2_1"])
    out = model(x, layers=layers)
    for name in layers:
        torch.testing.assert_close(out[name], built_for[name], rtol=0, atol=0)
    assert out["conv1_1"].min() < 0 and out["conv2_1"].min() < 0
    assert torch.equal(out["relu1_1"], out["conv1_1"].clamp(min=0))
    # The in-place ReLUs it was built with still run where nobody reads the conv output.
    assert model(x)["relu2_1"].min() == 0
    x.requires_grad_(True)
    model(x, layers=["conv2_1"])["conv2_1"].sum().backward()  # no "modified by an inplace operation"
    assert x.grad.abs().sum() > 0


def test_avg_pooling_differs_from_max():
    x = torch.rand(1, 3, 32, 32)
    a = vgg.VGG19Features("random", layers=["pool1"], pooling="max")(x)["pool1"]
    b = vgg.VGG19Features("random", layers=["pool1"], pooling="avg")(x)["pool1"]
    assert a.shape == b.shape == (1, 64, 16, 16)
    assert (a >= b - 1e-6).all() and not torch.allclose(a, b)


def test_parameters_frozen_and_gradient_reaches_input():
    model = vgg.VGG19Features("random", layers=["relu3_1"])
    assert not any(p.requires_grad for p in model.parameters())
    x = torch.rand(1, 3, 32, 32, requires_grad=True)
    model(x)["relu3_1"].sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


@pytest.mark.parametrize(
    "bad, match",
    [
        (dict(weights="imagenet"), "unknown weights source"),
        (dict(pooling="min"), "unknown pooling"),
        (dict(layers=["relu6_1"]), "unknown VGG-19 layer 'relu6_1'"),
        (dict(layers=[]), "no VGG-19 layer"),
    ],
)
def test_bad_arguments(bad, match):
    with pytest.raises(ValueError, match=match):
        vgg.VGG19Features(**{"weights": "random", **bad})


def test_forward_errors():
    model = vgg.VGG19Features("random", layers=["relu5_1"])
    with pytest.raises(ValueError, match=r"\(1, 3, H, W\), got \(3, 32, 32\)"):
        model(torch.rand(3, 32, 32))
    with pytest.raises(ValueError, match="needs a side of at least 16"):
        model(torch.rand(1, 3, 8, 64))
    with pytest.raises(ValueError, match="deeper than this network"):
        vgg.VGG19Features("random", layers=["relu1_1"])(torch.rand(1, 3, 16, 16), ["relu2_1"])


def test_min_side():
    assert vgg.min_side(["relu1_1"]) == 1
    assert vgg.min_side(["relu2_1"]) == 2
    assert vgg.min_side(["relu4_2", "relu5_1"]) == 16
    assert vgg.min_side(["pool5"]) == 32


def test_missing_and_corrupt_weights_file(tmp_path):
    with pytest.raises(vgg.WeightsError, match="missing; reinstall"):
        vgg.load_caffe_state(str(tmp_path / "nope.bin"))
    corrupt = tmp_path / "corrupt.bin"
    shutil.copy(vgg.caffe_weights_path(), corrupt)
    with open(corrupt, "r+b") as f:
        f.seek(5000)
        f.write(b"\x00garbage\x00")
    with pytest.raises(vgg.WeightsError, match="corrupt .checksum mismatch.; reinstall"):
        vgg.load_caffe_state(str(corrupt))


def test_torchvision_offline_names_caffe(monkeypatch):
    def no_network(*args, **kwargs):
        raise OSError("urlopen error [Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(torchvision.models, "vgg19", no_network)
    with pytest.raises(vgg.WeightsError, match="use weights='caffe'"):
        vgg.VGG19Features("torchvision", layers=["relu1_1"])


def test_bfloat16_autocast_close_to_float32(chelsea):
    model = vgg.VGG19Features("caffe", layers=["relu3_1"])
    ref = model(chelsea)["relu3_1"]
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = model(chelsea)["relu3_1"]
    assert low.dtype == torch.bfloat16
    rel = (low.float() - ref).norm() / ref.norm()
    assert rel < 0.03
