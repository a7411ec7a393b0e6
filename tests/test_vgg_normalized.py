"""The paper's normalised VGG-19: each filter's features divided by its constant, mean activation 1 on the
reference set, and shipped constants that the script regenerates bit for bit."""

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from nst_edu.core import vgg

ROOT = Path(__file__).resolve().parents[1]
RELUS = [f"relu{name[4:]}" for name in vgg.CONV_LAYERS]


@pytest.mark.parametrize("pooling", vgg.POOLINGS)
def test_every_feature_is_the_unnormalised_one_divided_by_its_constant(pooling):
    """Exact in float64: ReLU, max and average pooling commute with a positive per-filter scale."""
    state = {k: v.double() for k, v in vgg.load_caffe_state().items()}  # float64 weights, rescaled in float64
    c = vgg.normalization_constants("caffe", pooling)
    plain = vgg.VGG19Features("caffe", layers=RELUS, pooling=pooling, state_dict=state).double()
    norm = vgg.VGG19Features("caffe", layers=RELUS, pooling=pooling, state_dict=state).double()
    norm.load_named_state(vgg.normalized_state(state, c))  # copied into float64 parameters: no rounding
    x = torch.rand(1, 3, 40, 36, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    a, b = plain(x), norm(x)
    for conv, relu in zip(vgg.CONV_LAYERS, RELUS):
        expected = a[relu] / c[conv].double().view(1, -1, 1, 1)  # (1, n_C, n_H, n_W)
        torch.testing.assert_close(b[relu], expected, rtol=1e-9, atol=1e-12, msg=relu)


def test_normalized_option_builds_the_rescaled_network(chelsea):
    """``normalized=True`` (float32 weights) gives the same features as the float64 rescaling, to float32."""
    c = vgg.normalization_constants("caffe", "max")
    plain = vgg.VGG19Features("caffe", layers=("relu3_1", "relu5_1"))
    norm = vgg.VGG19Features("caffe", layers=("relu3_1", "relu5_1"), normalized=True)
    x = chelsea[..., :64, :64]
    a, b = plain(x), norm(x)
    for layer in ("relu3_1", "relu5_1"):
        expected = a[layer] / c["conv" + layer[4:]].view(1, -1, 1, 1)
        torch.testing.assert_close(b[layer], expected, rtol=1e-4, atol=1e-5, msg=layer)


def test_constants_differ_between_layers_by_what_the_paper_removes():
    """Without normalisation relu4_1's activations are many times relu1_1's: the constants carry that."""
    c = vgg.normalization_constants("caffe", "max")
    assert float(c["conv4_1"].median()) > 10 * float(c["conv1_1"].median())
    assert all(bool((v > 0).all()) for v in c.values())
    assert [v.shape[0] for v in c.values()] == [vgg.n_channels(n) for n in vgg.CONV_LAYERS]


@pytest.mark.parametrize("pooling", vgg.POOLINGS)
def test_mean_activation_is_one_on_the_reference_set(pooling):
    state = {k: v.double() for k, v in vgg.load_caffe_state().items()}
    net = vgg.VGG19Features("caffe", layers=RELUS, pooling=pooling, state_dict=state).double()
    constants = vgg.normalization_constants("caffe", pooling)
    net.load_named_state(vgg.normalized_state(state, constants))
    images = vgg.reference_images()  # float64
    sums = {relu: 0.0 for relu in RELUS}
    with torch.no_grad():
        for x in images:
            acts = net(x)
            for relu in RELUS:
                sums[relu] = sums[relu] + acts[relu][0].mean((1, 2))  # (n_C,)
    for relu in RELUS:
        mean = sums[relu] / len(images)  # (n_C,)
        dead = mean == 0  # a filter that never fires on the reference set keeps c = 1
        assert bool((constants[f"conv{relu[4:]}"][dead] == 1).all()) and int(dead.sum()) < 0.01 * mean.numel()
        # 1 up to the float32 rounding of the shipped constants
        alive = mean[~dead]
        torch.testing.assert_close(alive, torch.ones_like(alive), rtol=1e-6, atol=1e-6, msg=relu)


def test_random_weights_normalise_with_constants_computed_on_the_spot():
    """Any weight source: the constants are computed by the same function (here on a small image set)."""
    state = {k: v.double() for k, v in vgg.random_state(3).items()}
    gens = [torch.Generator().manual_seed(k) for k in range(2)]
    images = [torch.rand(1, 3, 48, 40, generator=g, dtype=torch.float64) for g in gens]
    c = vgg.mean_activations(state, "random", "avg", images=images)
    normalized = vgg.normalized_state(state, c)
    net = vgg.VGG19Features("random", layers=RELUS, pooling="avg", state_dict=normalized).double()
    with torch.no_grad():
        means = [torch.stack([net(x)[relu][0].mean((1, 2)) for x in images]).mean(0) for relu in RELUS]
    for relu, mean in zip(RELUS, means):
        alive = c[f"conv{relu[4:]}"] != 1  # filters that never fired keep c = 1 and stay at 0
        torch.testing.assert_close(mean[alive], torch.ones_like(mean[alive]), rtol=1e-4, atol=1e-4, msg=relu)


def test_normalised_random_network_builds_from_its_seed():
    net = vgg.VGG19Features("random", layers=("relu1_1",), normalized=True, seed=1)
    assert net.normalized and net(torch.rand(1, 3, 16, 16))["relu1_1"].shape == (1, 64, 16, 16)


def test_corrupt_constants_file_is_refused(tmp_path, monkeypatch):
    name, _ = vgg.NORM_FILES["caffe", "max"]
    (tmp_path / name).write_bytes(b"\0" * 16)
    monkeypatch.setattr(vgg, "DATA", tmp_path)
    vgg.normalization_constants.cache_clear()
    try:
        with pytest.raises(vgg.WeightsError, match="missing or corrupt; regenerate them"):
            vgg.normalization_constants("caffe", "max")
    finally:
        vgg.normalization_constants.cache_clear()


@pytest.mark.slow
def test_shipped_constants_are_what_the_script_computes():
    done = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "vgg_norm_constants.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count(": same") == len(vgg.NORM_FILES)
