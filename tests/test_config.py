"""Config: frozen, validated on creation, presets, round trips."""

import dataclasses

import pytest

from nst_edu import Config, preset
from nst_edu.config import PRESETS


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


@pytest.mark.parametrize("field, value, match", [
    ("content_layer", "relu9_9", "unknown VGG-19 layer"),
    ("style_layers", (), "style_layers is empty"),
    ("style_layers", (("relu1_1", 1.0), ("relu1_1", 2.0)), "names a layer twice"),
    ("style_layers", (("relu1_1", -1.0),), "must be ≥ 0"),
    ("alpha", -1.0, "alpha must be a finite number"),
    ("beta", float("nan"), "beta must be a finite number"),
    ("lr", 0.0, "lr must be > 0"),
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
])
def test_bad_values_fail_on_creation(field, value, match):
    with pytest.raises(ValueError, match=match):
        Config(**{field: value})


def test_presets():
    assert set(PRESETS) == {"course", "gatys", "fast"}
    course = preset("course")
    assert course.optimizer == "adam" and course.content_layer == "relu5_4"
    assert [w for _, w in course.style_layers] == [0.2] * 5
    assert course.init == "additive" and course.noise_ratio == 0.25
    gatys = preset("gatys")
    assert gatys.optimizer == "lbfgs" and gatys.content_layer == "relu4_2" and gatys.init == "white"
    assert [n for n, _ in gatys.style_layers] == ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"]
    assert gatys.history_size == 20 and gatys.precondition == 0.0  # plain L-BFGS, as in the paper
    fast = preset("fast")  # the gatys objective, reached sooner by speed knobs only
    assert (fast.content_layer, fast.style_layers, fast.alpha, fast.beta) == \
        (gatys.content_layer, gatys.style_layers, gatys.alpha, gatys.beta)
    assert fast.init == "content-colour" and fast.precondition == 1.0 and fast.history_size == 50
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
