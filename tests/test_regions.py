"""Several styles and regions: guided Gram matrices, masks, the style terms (sum, blend, scale), and run().

Each formula against an independent float64 reference (explicit loops or einsum), its gradient, and its
invariants; the Objective's terms against one-style Objectives computed separately.
"""

import re

import numpy as np
import pytest
import torch
from PIL import Image

import nst_edu
from nst_edu.core import costs, images, masks, transfer, vgg
from nst_edu.core.config import Config, check_styles, preset

gen = torch.Generator().manual_seed(0)
TINY = dict(
    size=64, steps=3, coarse_steps=0, frame_every=1, precision="float32", channels_last=False, beta=10.0
)


def tiny(**changes) -> Config:
    return preset("fast", **{**TINY, **changes})


def rand_act(n_C=4, n_H=5, n_W=6, dtype=torch.float64):
    return torch.rand(1, n_C, n_H, n_W, generator=gen, dtype=dtype) * 2


def guided_reference(a, m):
    """M / Σ m² Σ_k m_k² A_ik A_jk, position by position."""
    _, n_C, n_H, n_W = a.shape
    G = torch.zeros(n_C, n_C, dtype=torch.float64)
    for h in range(n_H):
        for w in range(n_W):
            v = a[0, :, h, w].double() * float(m[h, w])
            G += torch.outer(v, v)
    return G * (n_H * n_W) / float((m.double() ** 2).sum())


# --- costs.guided_gram ------------------------------------------------------------------------------------


def test_guided_gram_with_an_all_ones_mask_is_the_gram_matrix():
    a = rand_act()
    ones = torch.ones(5, 6, dtype=torch.float64)
    torch.testing.assert_close(
        costs.guided_gram(a, ones), costs.gram_matrix(costs.unroll(a)), rtol=1e-12, atol=0
    )


def test_guided_gram_with_a_binary_mask_is_the_gram_of_the_selected_positions_times_M_over_area():
    a = rand_act()
    m = (torch.rand(5, 6, generator=gen) > 0.4).double()
    A = a.reshape(4, 30)
    chosen = A[:, m.reshape(-1) > 0]  # (n_C, area)
    expected = torch.einsum("ik,jk->ij", chosen, chosen) * 30 / chosen.shape[1]
    torch.testing.assert_close(costs.guided_gram(a, m), expected, rtol=1e-12, atol=1e-12)


def test_guided_gram_with_a_soft_mask_against_the_loop_and_its_gradient():
    a, m = rand_act(), torch.rand(5, 6, generator=gen, dtype=torch.float64)
    torch.testing.assert_close(costs.guided_gram(a, m), guided_reference(a, m), rtol=1e-12, atol=1e-12)
    G = costs.guided_gram(a, m)
    assert torch.allclose(G, G.T) and torch.linalg.eigvalsh(G).min() > -1e-9  # symmetric PSD
    a.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda x: costs.guided_gram(x, m), (a,))


def test_half_mask_of_a_uniform_texture_gives_the_full_gram():
    # A texture that repeats exactly: the top half holds the same positions as the bottom half.
    half = rand_act(4, 3, 6)
    a = half.repeat(1, 1, 2, 1)  # (1, 4, 6, 6)
    top = masks.split_mask((6, 6), 0.5)[0].double()
    torch.testing.assert_close(
        costs.guided_gram(a, top), costs.gram_matrix(costs.unroll(a)), rtol=1e-12, atol=0
    )
    # A random texture (i.i.d. positions): about the full Gram matrix.
    a = torch.rand(1, 8, 40, 40, generator=gen, dtype=torch.float64)
    full = costs.gram_matrix(costs.unroll(a))
    rel = (costs.guided_gram(a, masks.split_mask((40, 40), 0.5)[1].double()) - full).norm() / full.norm()
    assert rel < 0.03


def test_guided_gram_parts_add_up_to_the_whole_with_the_whole_layers_M_and_area():
    a, m = rand_act(3, 6, 8), torch.rand(6, 8, generator=gen, dtype=torch.float64)
    area = float((m**2).sum())
    parts = [(slice(0, 2), slice(0, 8)), (slice(2, 6), slice(0, 3)), (slice(2, 6), slice(3, 8))]
    total = sum(costs.guided_gram(a[:, :, r, c], m[r, c], M=48, area=area) for r, c in parts)
    torch.testing.assert_close(total, costs.guided_gram(a, m), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(
    "m, area, words",
    [
        (torch.ones(4, 4), None, "expected the mask m of shape (n_H, n_W) = (5, 6)"),
        (torch.ones(5, 6, dtype=torch.int64), None, "floating-point"),
        (torch.ones(5, 6), 0.0, "an empty region"),
    ],
)
def test_guided_gram_refuses_bad_input_in_one_sentence(m, area, words):
    with pytest.raises(ValueError, match="guided_gram") as info:
        costs.guided_gram(torch.rand(1, 4, 5, 6), m, area=area)
    assert words in str(info.value)


def test_blended_gram_is_the_weighted_mean():
    G0, G1, G2 = (torch.rand(3, 3, generator=gen, dtype=torch.float64) for _ in range(3))
    expected = (2 * G0 + 1 * G1 + 1 * G2) / 4
    torch.testing.assert_close(costs.blended_gram([G0, G1, G2], [2, 1, 1]), expected, rtol=1e-12, atol=0)
    with pytest.raises(ValueError, match="all 0"):
        costs.blended_gram([G0, G1], [0, 0])
    with pytest.raises(ValueError, match="one weight per Gram matrix"):
        costs.blended_gram([G0, G1], [1.0])
    with pytest.raises(ValueError, match=">= 0"):
        costs.blended_gram([G0, G1], [1.0, -1.0])


# --- masks.py ---------------------------------------------------------------------------------------------


def test_to_layer_is_the_block_mean_and_works_from_any_size():
    m = torch.rand(12, 20, generator=gen)
    out = masks.to_layer(m, (3, 5))
    expected = torch.tensor(
        [[float(m[4 * p : 4 * p + 4, 4 * q : 4 * q + 4].mean()) for q in range(5)] for p in range(3)]
    )
    torch.testing.assert_close(out, expected, rtol=1e-6, atol=1e-7)
    assert masks.to_layer(torch.ones(7, 9), (4, 4)).eq(1).all()  # any size: a full mask stays full
    assert masks.to_layer(m, (30, 40)).shape == (30, 40)  # up as well as down


def test_split_and_shape_masks_partition_the_image():
    above, below = masks.split_mask((10, 8), 0.3)
    assert above.shape == (10, 8) and torch.equal(above + below, torch.ones(10, 8))
    assert above[:3].eq(1).all() and above[3:].eq(0).all()
    left, right = masks.split_mask((10, 8), 0.5, vertical=True)
    assert left[:, :4].eq(1).all() and right[:, 4:].eq(1).all()
    inside, outside = masks.shape_mask((20, 30), "ellipse")
    assert torch.equal(inside + outside, torch.ones(20, 30)) and inside[10, 15] == 1 and inside[0, 0] == 0
    rect, _ = masks.shape_mask((20, 30), "rectangle", box=(0.0, 0.0, 0.5, 0.5))
    assert rect.sum() == 10 * 15
    with pytest.raises(ValueError, match="between 0 and 1"):
        masks.split_mask((10, 8), 1.2)
    with pytest.raises(ValueError, match="shape must be one of"):
        masks.shape_mask((10, 8), "star")


def test_load_mask_thresholds_a_drawn_mask_and_keeps_array_weights(tmp_path):
    drawn = np.zeros((30, 40), np.uint8)
    drawn[:12] = 250
    drawn[12] = 140  # an antialiased edge: above 0.5, in the region
    drawn[13] = 100  # below 0.5, not
    Image.fromarray(drawn).convert("RGB").save(tmp_path / "m.png")
    m = masks.load_mask(tmp_path / "m.png")
    assert m.shape == (30, 40) and set(m.unique().tolist()) == {0.0, 1.0}
    assert m[:13].eq(1).all() and m[13:].eq(0).all()
    soft = torch.linspace(0, 1, 12).reshape(3, 4)
    assert torch.equal(masks.load_mask(soft), soft)  # a float array holds the weights themselves
    assert torch.equal(masks.load_mask(np.eye(3, dtype=bool)), torch.eye(3))
    rgb = torch.zeros(1, 3, 4, 6)
    rgb[..., :2, :] = 1.0  # a white-on-black RGB image tensor is read as an image, thresholded
    assert torch.equal(masks.load_mask(rgb), (torch.arange(4) < 2).float()[:, None].expand(4, 6))


@pytest.mark.parametrize(
    "source, words",
    [
        (torch.zeros(5, 5), "is empty (0 everywhere)"),
        (torch.full((5, 5), 2.0), "in [0, 1]"),
        (torch.rand(2, 5, 5), "must have the shape (H, W)"),
        (torch.rand(1, 2, 5, 5), "must have the shape (H, W)"),
        (torch.tensor([[float("nan"), 1.0]]), "finite"),
        ("chelsea", "not a black-and-white image"),
        ("no_such_file.png", "no_such_file.png"),
    ],
)
def test_load_mask_refuses_the_wrong_kind_in_one_sentence(source, words):
    with pytest.raises(ValueError) as info:
        masks.load_mask(source)
    message = str(info.value)
    assert words in message and "\n" not in message


def test_label_masks_one_per_colour_and_refuse_a_photo(tmp_path):
    labels = np.zeros((20, 30, 3), np.uint8)
    labels[:, 10:20] = (255, 0, 0)
    labels[:, 20:] = (0, 0, 255)
    Image.fromarray(labels).save(tmp_path / "labels.png")
    found = masks.label_masks(tmp_path / "labels.png")
    assert len(found) == 3 and torch.equal(sum(found), torch.ones(20, 30))
    assert found[0][:, :10].eq(1).all()  # (0, 0, 0) first, then blue (0, 0, 255), then red (255, 0, 0)
    assert found[1][:, 20:].eq(1).all() and found[2][:, 10:20].eq(1).all()
    ints = torch.tensor([[2, 2, 7], [7, 7, 2]])
    assert [m.tolist() for m in masks.label_masks(ints)] == [[[1, 1, 0], [0, 0, 1]], [[0, 0, 1], [1, 1, 0]]]
    with pytest.raises(ValueError, match="not a label image"):
        masks.label_masks("chelsea")


def test_check_regions_refuses_a_region_smaller_than_one_position():
    tiny_region = torch.zeros(64, 64)
    tiny_region[:4, :4] = 1  # 1/256 of the image: 0.06 positions of relu5_1's 4 × 4
    with pytest.raises(ValueError, match=r"covers 0\.062 of the 4x4 positions of relu5_1"):
        masks.check_regions([torch.ones(64, 64), tiny_region], [(64, 64)], ["relu1_1", "relu5_1"])
    masks.check_regions([tiny_region], [(64, 64)], ["relu1_1", "relu2_1"])  # fine at shallow layers


# --- the style terms and the Objective ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def three():
    """C (64 px), two styles of other sizes, and a model."""
    C = images.load_image("chelsea", size=64)
    S0, S1 = images.load_image("swirls", size=64), images.load_image("waves", size=48)
    return C, S0, S1, transfer.build_model(tiny())


def test_one_style_without_mask_is_one_term_per_layer_and_the_old_objective(three):
    C, S0, _, model = three
    cfg = tiny()
    objective = transfer.Objective(model, C, S0, cfg)
    assert [(t.layer, t.share, t.mask, t.style) for t in objective.terms] == [
        (layer, 1.0, None, 0) for layer, _ in cfg.style_layers
    ]
    G = torch.rand_like(C)
    a_S, a_G = model(S0), model(G)
    grams = {l: costs.rescaled_gram(a_S[l], a_G[l].shape[-2] * a_G[l].shape[-1]) for l, _ in cfg.style_layers}
    J_style = costs.style_cost_from_grams(grams, a_G, cfg.style_layers)
    torch.testing.assert_close(objective(G)["style"], J_style, rtol=1e-6, atol=0)


def test_two_styles_sum_is_the_weighted_sum_of_one_style_costs(three):
    C, S0, S1, model = three
    G = torch.rand_like(C)
    two = transfer.Objective(model, C, [S0, S1], tiny(style_weights=(0.7, 0.3)))(G)
    one0 = transfer.Objective(model, C, S0, tiny())(G)
    one1 = transfer.Objective(model, C, S1, tiny())(G)
    for key in ["style", *(f"style:{layer}" for layer, _ in tiny().style_layers)]:
        torch.testing.assert_close(two[key], 0.7 * one0[key] + 0.3 * one1[key], rtol=1e-5, atol=0)
    cfg = tiny(style_weights=(0.7, 0.3))
    torch.testing.assert_close(
        two["total"],
        cfg.alpha * two["content"] + cfg.beta * two["style"] + cfg.tv_weight * two["tv"],
        rtol=1e-6,
        atol=0,
    )
    equal = transfer.Objective(model, C, [S0, S1], tiny())(G)["style"]  # default: equal weights 1/2
    torch.testing.assert_close(equal, 0.5 * one0["style"] + 0.5 * one1["style"], rtol=1e-5, atol=0)


def test_blend_target_is_the_weighted_mean_of_the_gram_matrices(three):
    C, S0, S1, model = three
    blend = transfer.Objective(model, C, [S0, S1], tiny(style_mix="blend", style_weights=(3.0, 1.0)))
    g0 = transfer.Objective(model, C, S0, tiny()).grams_S
    g1 = transfer.Objective(model, C, S1, tiny()).grams_S
    assert [t.style for t in blend.terms] == [-1] * 5 and all(t.share == 1.0 for t in blend.terms)
    for t in blend.terms:
        torch.testing.assert_close(t.target, 0.75 * g0[t.layer] + 0.25 * g1[t.layer], rtol=1e-6, atol=0)


def test_scale_split_takes_the_fine_layers_from_the_first_style_and_the_coarse_from_the_second(three):
    C, S0, S1, model = three
    cfg = tiny(style_mix="scale", scale_split="relu3_1")
    assert cfg.scale_groups == (("relu1_1", "relu2_1"), ("relu3_1", "relu4_1", "relu5_1"))
    objective = transfer.Objective(model, C, [S0, S1], cfg)
    assert [(t.layer, t.style, t.share) for t in objective.terms] == [
        ("relu1_1", 0, 1.0),
        ("relu2_1", 0, 1.0),
        ("relu3_1", 1, 1.0),
        ("relu4_1", 1, 1.0),
        ("relu5_1", 1, 1.0),
    ]
    g0, g1 = (transfer.Objective(model, C, S, tiny()).grams_S for S in (S0, S1))
    for t in objective.terms:
        assert torch.equal(t.target, (g0 if t.style == 0 else g1)[t.layer])


def test_masks_are_resized_to_each_layer_and_all_ones_masks_change_nothing(three):
    C, S0, S1, model = three
    H, W = C.shape[-2:]
    above, below = masks.split_mask((200, 300), 0.5)  # any size: resized to each layer
    objective = transfer.Objective(model, C, [S0, S1], tiny(), masks=[above, below])
    assert len(objective.terms) == 10
    for t in objective.terms:
        n_H, n_W = vgg.layer_shape(t.layer, (H, W))[1:]
        assert t.mask.shape == (n_H, n_W)
        torch.testing.assert_close(t.mask, masks.to_layer([above, below][t.style], (n_H, n_W)))
        assert t.area == pytest.approx(float((t.mask.double() ** 2).sum()))
    G = torch.rand_like(C)
    full = transfer.Objective(model, C, S0, tiny(style_weights=(2.0,)), masks=[torch.ones(5, 5)])(G)
    plain = transfer.Objective(model, C, S0, tiny(style_weights=(2.0,)))(G)
    torch.testing.assert_close(full["style"], plain["style"], rtol=1e-5, atol=0)


def test_a_term_gram_over_tiles_adds_up_to_the_whole(three):
    C, S0, _, model = three
    objective = transfer.Objective(model, C, [S0, S0], tiny(), masks=masks.shape_mask((43, 64)))
    a = model(torch.rand_like(C), ["relu2_1"])["relu2_1"]  # (1, 128, 21, 32)
    assert a.shape[-2:] == (21, 32)
    for t in (t for t in objective.terms if t.layer == "relu2_1"):
        parts = [(slice(0, 8), slice(0, 32)), (slice(8, 21), slice(0, 13)), (slice(8, 21), slice(13, 32))]
        total = sum(t.gram(a[:, :, r, c], (r, c)) for r, c in parts)
        torch.testing.assert_close(total, t.gram(a), rtol=1e-4, atol=1e-2)


@pytest.mark.parametrize(
    "changes, n_styles, n_masks, words",
    [
        (dict(style_weights=(0.7, 0.2, 0.1)), 2, None, "style_weights has 3 weights for 2 styles"),
        (dict(style_mix="scale"), 3, None, "takes exactly two styles"),
        ({}, 2, 1, "1 mask for 2 styles"),
        (dict(style_mix="blend"), 2, 2, "needs style_mix 'sum'"),
        ({}, 0, None, "no style image"),
    ],
)
def test_styles_weights_and_masks_that_do_not_go_together(changes, n_styles, n_masks, words):
    with pytest.raises(ValueError, match=words):
        check_styles(tiny(**changes), n_styles, n_masks)


@pytest.mark.parametrize(
    "changes, words",
    [
        (dict(style_weights=(0.5, -0.5)), "style_weights must be finite numbers ≥ 0"),
        (dict(style_weights=(0.0, 0.0)), "style_weights are all 0"),
        (dict(style_weights="0.7,0.3"), "style_weights must be a sequence of numbers"),
        (dict(style_weights=(True, 1.0)), "style_weights must be numbers"),
        (dict(style_mix="mean"), "style_mix must be one of sum, blend, scale"),
        (dict(colour="grey"), "colour must be one of style, luminance, histogram, keep-colours"),
        (dict(style_mix="scale", scale_split="relu1_1"), "puts every style layer on one side"),
        (dict(scale_split="relu9_9"), "relu9_9"),
    ],
)
def test_config_refuses_bad_style_fields(changes, words):
    with pytest.raises(ValueError, match=words):
        tiny(**changes)


def test_config_round_trips_the_new_fields():
    cfg = tiny(colour="luminance", style_weights=(0.7, 0.3), style_mix="scale", scale_split="relu4_1")
    assert Config.from_dict(cfg.to_dict()) == cfg
    assert eval(cfg.to_code(), {"Config": Config}) == cfg
    assert (
        cfg.shares(2) == (0.7, 0.3)
        and tiny().shares(4) == (0.25,) * 4
        and tiny(style_mix="scale").shares(2) == (1.0, 1.0)
    )


# --- run() -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mix", ["sum", "blend", "scale"])
def test_run_with_two_styles_end_to_end(mix):
    result = nst_edu.run(
        "chelsea", ["swirls", "waves"], tiny(style_mix=mix, style_weights=(0.6, 0.4)), progress=False
    )
    h = result.history
    assert len(h) == 4 and np.isfinite(h.column("total")).all()
    np.testing.assert_allclose(
        h.column("style"), sum(w * h.column(f"style:{l}") for l, w in tiny().style_layers), rtol=1e-5
    )
    assert result.metadata()["inputs"] == {"content": "chelsea", "styles": ["swirls", "waves"]}


def test_run_with_regions_end_to_end_paints_each_region_with_its_style():
    cfg = tiny(steps=3)
    result = nst_edu.run(
        "rocket", ["swirls", "waves"], cfg, masks=masks.split_mask((10, 10), 0.5), progress=False
    )
    assert (
        result.image.shape[-2:] == (43, 64)
        and result.history.column("style")[-1] < result.history.column("style")[0]
    )
    assert result.metadata()["inputs"]["masks"] == ["Tensor (10, 10)", "Tensor (10, 10)"]


@pytest.mark.parametrize(
    "style, kwargs, words",
    [
        (["swirls", "waves"], dict(config=tiny(style_weights=(1.0,))), "1 weight for 2 styles"),
        (["swirls", "waves"], dict(config=tiny(), masks=[torch.ones(4, 4)]), "1 mask for 2 styles"),
        (["swirls", "waves"], dict(config=tiny(), masks=[torch.ones(4, 4), torch.zeros(4, 4)]), "is empty"),
        (["swirls"], dict(config=tiny(), masks=[torch.rand(2, 4, 4)]), "must have the shape (H, W)"),
        (["swirls"], dict(config=tiny(), masks=torch.ones(4, 4)), "masks must be a list"),
        (["swirls"], dict(config=tiny(style_mix="scale")), "takes exactly two styles"),
    ],
)
def test_run_refuses_bad_styles_and_masks_before_any_work(monkeypatch, style, kwargs, words):
    def no_model(*args, **kw):
        raise AssertionError("the model was built")

    monkeypatch.setattr(transfer, "build_model", no_model)
    with pytest.raises(ValueError, match=re.escape(words)):
        nst_edu.run("chelsea", style, progress=False, **kwargs)


def test_a_run_with_two_styles_and_masks_resumes_to_the_same_image():
    cfg = tiny(steps=4, optimizer="adam", lr=0.02)
    region = masks.split_mask((43, 64), 0.5)
    states = []
    full = nst_edu.run(
        "chelsea",
        ["swirls", "waves"],
        cfg,
        masks=region,
        progress=False,
        checkpoint=states.append,
        checkpoint_every=2,
    )
    resumed = nst_edu.run("chelsea", ["swirls", "waves"], cfg, masks=region, progress=False, resume=states[0])
    torch.testing.assert_close(resumed.image, full.image, rtol=0, atol=1e-6)
