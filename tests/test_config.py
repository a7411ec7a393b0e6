"""Config: frozen, validated on creation (every field: type, range, finiteness), presets, round trips."""

import dataclasses
import json

import numpy as np
import pytest

from nst_edu import Config, preset
from nst_edu.core.config import PRESETS, SEED_MAX, as_config


def test_frozen():
    cfg = Config()
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.alpha = 2.0


def test_style_layers_accept_a_dict_and_become_a_tuple():
    cfg = Config(style_layers={"relu1_1": 0.5, "relu2_1": 0.5})
    assert cfg.style_layers == (("relu1_1", 0.5), ("relu2_1", 0.5))
    hash(cfg)  # usable as a cache key


def test_layers_lists_content_then_style_without_repeats():
    cfg = Config(content_layer="relu2_1", style_layers=(("relu1_1", 1.0), ("relu2_1", 1.0)))
    assert cfg.layers == ("relu2_1", "relu1_1")


@pytest.mark.parametrize(
    "field, value, match",
    [
        ("content_layer", "relu9_9", "unknown VGG-19 layer"),
        ("style_layers", (), "style_layers is empty"),
        ("style_layers", (("relu1_1", 1.0), ("relu1_1", 2.0)), "names a layer twice"),
        ("style_layers", (("relu1_1", -1.0),), "λ for relu1_1 must be a finite number ≥ 0"),
        ("alpha", -1.0, "alpha must be a finite number"),
        ("beta", float("nan"), "beta must be a finite number"),
        ("lr", 0.0, "lr must be a finite number > 0"),
        ("optimizer", "sgd", "optimizer must be one of lbfgs, adam"),
        ("init", "noise", "init must be one of"),
        ("weights", "imagenet", "weights must be one of"),
        ("steps", 0, "steps must be at least 1"),
        ("steps", 2.5, "steps must be a whole number"),
        ("size", 8, "size must be at least 16 pixels"),
        ("noise_ratio", 1.5, "noise_ratio must be between 0 and 1"),
        ("precision", "float16", "precision must be one of"),
        ("device", "tpu", "device must be one of"),
        ("history_size", 0, "history_size must be a whole number ≥ 1"),
        ("history_size", 2.5, "history_size must be a whole number ≥ 1"),
        ("precondition", -0.5, "precondition must be a finite number ≥ 0"),
        ("precondition", float("inf"), "precondition must be a finite number ≥ 0"),
    ],
)
def test_bad_values_fail_on_creation(field, value, match):
    with pytest.raises(ValueError, match=match):
        Config(**{field: value})


def test_presets():
    assert set(PRESETS) == {"course", "gatys", "fast", "hires"}
    course = preset("course")
    assert course.optimizer == "adam" and course.content_layer == "relu5_4"
    assert [w for _, w in course.style_layers] == [0.2] * 5
    assert course.init == "additive" and course.noise_ratio == 0.25
    gatys = preset("gatys")
    assert gatys.optimizer == "lbfgs" and gatys.content_layer == "relu4_2" and gatys.init == "white"
    assert [n for n, _ in gatys.style_layers] == ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"]
    assert gatys.history_size == 20 and gatys.precondition == 0.0  # plain L-BFGS, as in the paper
    fast = preset("fast")  # the gatys objective, reached sooner by speed knobs only
    assert (fast.content_layer, fast.style_layers, fast.alpha, fast.beta) == (
        gatys.content_layer,
        gatys.style_layers,
        gatys.alpha,
        gatys.beta,
    )
    assert fast.init == "content-colour" and fast.precondition == 1.0 and fast.history_size == 50
    hires = preset("hires")  # fast, with a coarse stage at 512 px first
    assert hires.replace(coarse_size=0, coarse_steps=0, steps=fast.steps, size=fast.size) == fast
    assert (hires.coarse_size, hires.coarse_factor) == (512, 0.5) and hires.size == 1024
    assert preset("hires", size=2048).coarse_factor == 0.25 and preset("hires", size=400).coarse_factor == 1.0
    assert preset("gatys", steps=7).steps == 7
    with pytest.raises(ValueError, match="unknown preset 'vangogh'"):
        preset("vangogh")


def test_dict_json_and_code_round_trips():
    cfg = preset("course", size=128, seed=3)
    assert Config.from_dict(cfg.to_dict()) == cfg
    namespace = {"Config": Config}
    assert eval(cfg.to_code(), namespace) == cfg
    assert Config().to_code() == "Config()"
    with pytest.raises(ValueError, match="unknown Config field"):
        Config.from_dict({"alpha": 1.0, "gamma": 2.0})


INF, NAN = float("inf"), float("nan")


@pytest.mark.parametrize(
    "field, value, message",
    [
        # issue 13/14: booleans are not numbers, inf and NaN are not finite, strings are not numbers
        ("alpha", True, "alpha must be a number, got True (bool)"),
        ("beta", np.bool_(False), "beta must be a number, got False (bool)"),
        ("lr", INF, "lr must be a finite number > 0, got inf"),
        ("lr", "1", "lr must be a number, got '1' (str)"),
        ("lr", NAN, "lr must be a finite number > 0, got nan"),
        ("tv_weight", INF, "tv_weight must be a finite number ≥ 0, got inf"),
        ("alpha", np.float32(INF), "alpha must be a finite number ≥ 0, got inf"),
        ("noise_ratio", NAN, "noise_ratio must be a finite number ≥ 0, got nan"),
        ("style_scale", INF, "style_scale must be a finite number > 0, got inf"),
        ("coarse_scale", 0, "coarse_scale must be a finite number > 0, got 0"),
        ("coarse_size", -1, "coarse_size must be a whole number ≥ 0, got -1"),
        (
            "coarse_size",
            8,
            "coarse_size must be 0 (size · coarse_scale) or at least 16 pixels for layer relu5_1",
        ),
        ("tile", -2, "tile must be 0 (auto), -1 (never) or a tile side of at least 1 pixel, got -2"),
        ("tile", 1.5, "tile must be 0 (auto), -1 (never) or a tile side of at least 1 pixel, got 1.5"),
        ("tile", True, "tile must be 0 (auto), -1 (never) or a tile side of at least 1 pixel, got True"),
        ("style_scale", 9.0, "style_scale must be in (0, 8], got 9.0"),
        (
            "style_layers",
            (("relu1_1", INF),),
            "style layer weight λ for relu1_1 must be a finite number ≥ 0, got inf",
        ),
        ("style_layers", (("relu1_1", True),), "style layer weight λ for relu1_1 must be a number, got True"),
        (
            "style_layers",
            (("relu1_1", "0.5"),),
            "style layer weight λ for relu1_1 must be a number, got '0.5'",
        ),
        ("style_layers", "relu1_1", "style_layers must be (layer, λ) pairs"),
        ("style_layers", ("relu1_1", "relu2_1"), "'relu1_1' is not a pair"),
        ("style_layers", (("relu1_1",),), "('relu1_1',) is not a pair"),
        ("style_layers", ((1, 0.5),), "the layer name 1 is not a string"),
        ("style_layers", 5, "style_layers must be (layer, λ) pairs"),
        ("content_layer", 42, "content_layer must be a layer name such as 'relu4_2', got 42"),
        ("content_layer", None, "content_layer must be a layer name"),
        ("optimizer", ["adam"], "optimizer must be one of lbfgs, adam; got ['adam']"),
        ("steps", True, "steps must be a whole number ≥ 0, got True (bool)"),
        ("steps", "5", "steps must be a whole number ≥ 0, got '5' (str)"),
        ("steps", np.float64(5.0), "steps must be a whole number ≥ 0, got 5.0 (float64)"),
        ("steps", np.int64(-1), "steps must be a whole number ≥ 0, got -1"),
        ("size", 256.0, "size must be a whole number ≥ 0, got 256.0 (float)"),
        ("seed", -1, "seed must be a whole number between 0 and 9223372036854775807, got -1"),
        ("seed", 99999999999999999999999, "seed must be a whole number between 0 and 9223372036854775807"),
        ("history_size", np.int64(0), "history_size must be a whole number ≥ 1, got 0"),
        ("channels_last", 1, "channels_last must be True or False, got 1"),
        ("channels_last", "yes", "channels_last must be True or False, got 'yes'"),
        ("frame_every", -5, "frame_every must be a whole number ≥ 0, got -5"),
    ],
)
def test_every_field_is_checked_and_named(field, value, message):
    with pytest.raises(ValueError) as info:
        Config(**{field: value})
    assert message in str(info.value), str(info.value)
    assert field in str(info.value) or field == "style_layers"  # the message names the field


def test_numpy_scalars_are_accepted_and_stored_as_python_numbers():
    cfg = Config(
        steps=np.int64(5),
        alpha=np.float32(1.0),
        beta=np.float64(1e-3),
        seed=np.uint32(3),
        size=np.int32(64),
        lr=np.float16(0.5),
        channels_last=np.bool_(True),
        style_layers={"relu1_1": np.float32(0.5), "relu2_1": np.int8(1)},
    )
    assert cfg == Config(
        steps=5,
        alpha=1.0,
        beta=1e-3,
        seed=3,
        size=64,
        lr=0.5,
        channels_last=True,
        style_layers={"relu1_1": 0.5, "relu2_1": 1.0},
    )
    assert type(cfg.steps) is int and type(cfg.alpha) is float and type(cfg.channels_last) is bool
    assert all(type(w) is float for _, w in cfg.style_layers)
    assert Config.from_dict(json.loads(cfg.to_json())) == cfg  # plain JSON: no NumPy type leaks out


def test_the_largest_seed_is_accepted_and_runs_the_generators():
    import torch

    from nst_edu.core import vgg

    cfg = Config(seed=SEED_MAX)
    torch.Generator().manual_seed(cfg.seed)  # the bound is what the generators accept
    vgg.random_state(cfg.seed)


def test_as_config_takes_a_config_a_preset_name_or_none():
    assert as_config("fast") == preset("fast") and as_config(None) == Config()
    cfg = preset("gatys", steps=3)
    assert as_config(cfg) is cfg
    with pytest.raises(ValueError, match="unknown preset 'vangogh'"):
        as_config("vangogh")
    for bad in (42, {"steps": 3}, ["fast"]):
        with pytest.raises(ValueError, match=r"config must be a Config, e\.g\. nst_edu\.preset\('fast'"):
            as_config(bad)
