"""Exact tiling (nst_edu.core.tiling): the tiled J and ∂J/∂G equal autograd's on the whole image.

Random-weight VGG, small images, one thread: seconds.
"""

import pytest
import torch

from nst_edu.core import memory, tiling, transfer, vgg
from nst_edu.core.config import Config
from nst_edu.core.optim import BoxLBFGS

SHALLOW = Config(
    content_layer="relu2_2",
    style_layers=(("relu1_1", 0.3), ("relu2_1", 0.5), ("relu3_1", 0.2)),
    weights="random",
    alpha=1.0,
    beta=1e-2,
    precision="float32",
    size=70,
)


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def images(hw=(45, 70), style_hw=(50, 61), seed=0):
    g = torch.Generator().manual_seed(seed)
    return (
        torch.rand(1, 3, *hw, generator=g),
        torch.rand(1, 3, *style_hw, generator=g),
        torch.rand(1, 3, *hw, generator=g),
    )


def untiled(objective, G):
    """Reference: autograd through transfer.Objective on the whole image."""
    G = G.clone().requires_grad_(True)
    values = objective(G)
    values["total"].backward()
    return {k: v.detach() for k, v in values.items()}, G.grad


def rel_diff(a, b):
    return float((a - b).abs().max() / b.abs().max())


# --- halo and grid --------------------------------------------------------------------------------------


def test_receptive_radius_and_halo_of_known_layers():
    names = ("conv1_1", "relu1_1", "pool1", "relu2_1", "relu3_1", "relu4_2", "relu5_1")
    assert [tiling.receptive_radius(n) for n in names] == [1, 1, 2, 4, 10, 38, 70]
    assert tiling.halo_and_grid(["relu1_1"]) == (1, 1)
    assert tiling.halo_and_grid(["relu1_1", "relu2_1", "relu3_1"]) == (12, 4)  # R = 10 rounded up to the grid
    gatys = [n for n, _ in Config().style_layers] + ["relu4_2"]
    assert tiling.halo_and_grid(gatys) == (80, 16)
    with pytest.raises(ValueError, match="unknown VGG-19 layer"):
        tiling.halo_and_grid(["relu9_9"])


@pytest.mark.parametrize("layer", ["relu2_1", "conv3_1", "pool2"])
def test_receptive_radius_is_the_support_of_one_positions_gradient(layer):
    # Independent reference: the pixels that one activation depends on are where its gradient is non-zero;
    # they span s + 2R pixels around its own s × s block (neither more nor less).
    model = vgg.VGG19Features(weights="random", layers=[layer], pooling="avg")
    s, R = vgg.downsampling(layer), tiling.receptive_radius(layer)
    x = torch.rand(1, 3, 96, 96, generator=torch.Generator().manual_seed(1), requires_grad=True)
    i = 48 // s  # a position far from the border
    model(x)[layer][0, :, i, i].sum().backward()
    rows = torch.nonzero(x.grad.abs().sum(dim=(0, 1, 3)))[:, 0]
    cols = torch.nonzero(x.grad.abs().sum(dim=(0, 1, 2)))[:, 0]
    for support in (rows, cols):
        assert (int(support.min()), int(support.max())) == (s * i - R, s * i + s - 1 + R)


@pytest.mark.parametrize(
    "hw, tile", [((45, 70), 16), ((64, 64), 32), ((45, 70), 1), ((45, 70), 70), ((7, 9), 100), ((45, 70), 21)]
)
def test_cores_partition_every_layers_positions(hw, tile):
    layers = list(SHALLOW.layers)
    halo, grid = tiling.halo_and_grid(layers)
    parts = tiling.tiles(hw, tile, layers)
    for t in parts:
        for c, b, n in zip(t.core, t.box, hw):
            assert c.start % grid == 0 and b.start % grid == 0  # offsets on the pooling grid
            assert c.stop - c.start <= max(tile, grid)
            assert c.start % grid == 0 and (c.stop % grid == 0 or c.stop == n)
            assert b.start == max(0, c.start - halo) and b.stop == min(n, c.stop + halo)
    for layer in layers:
        d = vgg.downsampling(layer)
        count = torch.zeros(hw[0] // d, hw[1] // d, dtype=torch.int64)
        for t in parts:
            rows, cols = t.positions(d)
            count[rows, cols] += 1
        assert torch.equal(count, torch.ones_like(count)), layer  # each position owned by exactly one core


# --- the tiled objective equals the untiled one ------------------------------------------------------------


@pytest.mark.parametrize(
    "tile, changes", [(16, {}), (12, {"tv_weight": 0.3}), (24, {"channels_last": True, "pooling": "avg"})]
)
def test_tiled_value_and_grad_equal_autograd_on_the_whole_image(tile, changes):
    cfg = SHALLOW.replace(**changes)
    C, S, G = images()  # 45 × 70: neither side a multiple of the tile nor of the grid (4)
    objective = transfer.Objective(transfer.build_model(cfg), C, S, cfg)
    assert len(tiling.tiles((45, 70), tile, cfg.layers)) >= 6
    expected, expected_grad = untiled(objective, G)
    values, grad = tiling.tiled_value_and_grad(objective, G, tile)
    assert set(values) == set(expected)
    for k in expected:
        torch.testing.assert_close(values[k], expected[k], rtol=1e-5, atol=0, msg=k)
    assert grad.shape == G.shape
    assert rel_diff(grad, expected_grad) < 1e-5
    value = tiling.tiled_value(objective, G, tile)["total"]
    torch.testing.assert_close(value, expected["total"], rtol=1e-5, atol=0)


def test_one_tile_covering_the_image_is_the_untiled_objective():
    C, S, G = images()
    objective = transfer.Objective(transfer.build_model(SHALLOW), C, S, SHALLOW)
    assert len(tiling.tiles((45, 70), 70, SHALLOW.layers)) == 1
    expected, expected_grad = untiled(objective, G)
    values, grad = tiling.tiled_value_and_grad(objective, G, tile=70)
    for k in expected:
        assert torch.equal(values[k], expected[k]), k  # the same sums in the same order: bit for bit
    assert rel_diff(grad, expected_grad) < 1e-6  # the surrogate's backward differs only in rounding


@pytest.mark.parametrize("halo, grid", [(8, None), (None, 1)])
def test_a_short_halo_or_an_off_grid_offset_breaks_exactness(halo, grid):
    # relu3_1 needs a halo of 10 pixels (12 on its grid of 4): 8 lets its border positions see the tile's zero
    # padding; a grid of 1 shifts the 2 × 2 pooling windows.
    cfg = SHALLOW.replace(alpha=0.0)
    C, S, G = images()
    objective = transfer.Objective(transfer.build_model(cfg), C, S, cfg)
    expected, expected_grad = untiled(objective, G)
    values, grad = tiling.tiled_value_and_grad(objective, G, 16, halo=halo, grid=grid)
    assert rel_diff(grad, expected_grad) > 1e-4
    assert abs(float(values["style:relu3_1"] / expected["style:relu3_1"]) - 1) > 1e-3


def test_tiled_targets_equal_the_untiled_ones():
    _, S, _ = images()
    model = transfer.build_model(SHALLOW)
    layers = list(SHALLOW.layers)
    full = model(S, layers)
    grams = tiling.tiled_grams(model, S, layers, tile=16)
    feats = tiling.tiled_features(model, S, layers, tile=16)
    for layer in layers:
        a = full[layer]
        gram = a.reshape(a.shape[1], -1) @ a.reshape(a.shape[1], -1).T
        torch.testing.assert_close(grams[layer], gram, rtol=1e-5, atol=1e-5 * float(gram.abs().max()))
        torch.testing.assert_close(feats[layer], a, rtol=1e-5, atol=1e-5 * float(a.abs().max()))


def test_bad_tile_is_refused():
    with pytest.raises(ValueError, match="tile must be"):
        tiling.tiles((45, 70), 0, ["relu1_1"])


def lbfgs_costs(G0, closure_of, steps=4):
    """The cost before each of ``steps`` L-BFGS steps, from G0, with the closure ``closure_of(G)``."""
    G = G0.clone().requires_grad_(True)
    optimizer = BoxLBFGS(G, lr=1.0, history_size=5)
    return [float(optimizer.step(closure_of(G))) for _ in range(steps)]


def test_a_tiled_closure_drives_lbfgs_like_the_untiled_one():
    # How transfer.run can use it: the closure sets G.grad and returns J.
    C, S, G0 = images()
    objective = transfer.Objective(transfer.build_model(SHALLOW), C, S, SHALLOW)

    def untiled_closure(G):
        def closure():
            G.grad = None
            total = objective(G)["total"]
            total.backward()
            return total.detach()

        return closure

    def tiled_closure(G):
        def closure():
            values, G.grad = tiling.tiled_value_and_grad(objective, G, tile=16)
            return values["total"]

        return closure

    # The costs of the start and of the images after steps 1-3, which follow from the gradients. Later steps
    # are left out: L-BFGS can amplify a rounding difference (a max-pool tie, a pixel at a bound) into a
    # visible one, on some CPUs (AVX2) from step 4 on, in either of the two runs.
    costs_untiled = lbfgs_costs(G0, untiled_closure)
    costs_tiled = lbfgs_costs(G0, tiled_closure)
    assert costs_untiled[-1] < 0.6 * costs_untiled[0]  # it optimizes
    assert costs_tiled == pytest.approx(costs_untiled, rel=1e-5)


# --- in the loop: transfer.run with tiles --------------------------------------------------------------------

RUN = SHALLOW.replace(steps=3, init="content", frame_every=0, device="cpu")


def test_run_with_tiles_equals_the_untiled_run():
    # 3 L-BFGS steps: the targets (a_C, S's Gram matrices), every J and ∂J/∂G and the last row come from tiles.
    # Pixels in [0, 1] agree to 1e-5 (float32 sums in another order); the costs to 1e-5 relative.
    C, S, _ = images()
    untiled_run = transfer.run(C, S, RUN.replace(tile=-1), progress=False)
    tiled_run = transfer.run(C, S, RUN.replace(tile=16), progress=False)
    assert (untiled_run.tile, tiled_run.tile) == (0, 16)
    assert float((tiled_run.image - untiled_run.image).abs().max()) < 1e-5
    costs_untiled = untiled_run.history.column("total")
    assert costs_untiled[-1] < 0.95 * costs_untiled[0]  # it optimizes
    assert tiled_run.history.column("total") == pytest.approx(costs_untiled, rel=1e-5)
    assert tiled_run.metadata()["tile"] == 16


def test_a_forced_tile_smaller_than_the_halo_is_refused_before_any_work(monkeypatch):
    # SHALLOW's halo is 12 px: a 4 px tile would make every box 7 cores wide, ≈ 49x the work of a step.
    C, S, _ = images()
    monkeypatch.setattr(transfer.Objective, "__init__", lambda *a, **k: pytest.fail("work started"))
    with pytest.raises(ValueError, match=r"tile of 4 px is smaller than the 12 px halo .*about 49x"):
        transfer.run(C, S, RUN.replace(tile=4), progress=False)
    assert tiling.choose_tile(RUN.replace(tile=12), (45, 70), (45, 70)) == 12  # the halo itself is accepted


def test_a_forced_tile_larger_than_the_image_is_the_untiled_run():
    C, S, _ = images()
    one_tile = transfer.run(C, S, RUN.replace(tile=512), progress=False)
    assert one_tile.tile == 0
    assert torch.equal(one_tile.image, transfer.run(C, S, RUN.replace(tile=-1), progress=False).image)


def test_auto_tiles_only_when_the_untiled_run_does_not_fit(monkeypatch):
    C, S, _ = images()
    C_hw, S_hw = (45, 70), memory.resized_hw((50, 61), 70)  # as run resizes them
    untiled = memory.estimate_bytes(RUN, C_hw, S_hw)
    side = tiling._tile_choices(C_hw, RUN.layers)[0]  # the largest tile that makes more than one
    tiled = tiling.estimate_bytes(RUN, C_hw, S_hw, side)
    assert tiled < untiled  # the activations of one box instead of the whole image's
    between = int((tiled + untiled) / 2 / memory.SAFETY)  # room for the tiles, not for the whole image
    assert tiling.choose_tile(RUN, C_hw, S_hw, available=10 * untiled) == 0
    assert tiling.choose_tile(RUN, C_hw, S_hw, available=between) == side
    assert tiling.choose_tile(RUN.replace(tile=-1), C_hw, S_hw, available=between) == 0  # never
    assert tiling.choose_tile(RUN.replace(tile=24), C_hw, S_hw, available=10 * untiled) == 24  # always
    monkeypatch.setattr(memory, "available_bytes", lambda device="cpu": None)  # unknown: untiled
    assert tiling.choose_tile(RUN, C_hw, S_hw) == 0
    monkeypatch.setattr(memory, "available_bytes", lambda device="cpu": between)
    result = transfer.run(C, S, RUN, progress=False)
    assert result.tile == side
    forced = transfer.run(C, S, RUN.replace(tile=side), progress=False)
    assert torch.equal(result.image, forced.image)


def test_a_run_too_large_even_in_tiles_is_refused_before_it_starts(monkeypatch):
    C, S, _ = images()
    monkeypatch.setattr(memory, "available_bytes", lambda device="cpu": 2**20)  # 1 MiB
    with pytest.raises(
        memory.TooLargeError, match="needs about .* but only 1 MiB is free on cpu; free memory"
    ):
        transfer.run(C, S, RUN, progress=False)  # auto: no tile helps, so memory.check_fits's message
    with pytest.raises(memory.TooLargeError, match=r"even in tiles of 16 px .* optimizer='adam'"):
        transfer.run(C, S, RUN.replace(tile=16), progress=False)


def test_tiled_estimate_keeps_the_image_sized_tensors():
    # The optimizer's history is per pixel of G, tiled or not: a smaller history lowers the tiled estimate.
    hw = (2724, 4096)
    big = RUN.replace(size=4096, history_size=50)
    small = big.replace(history_size=5)
    difference = tiling.estimate_bytes(big, hw, hw, 512) - tiling.estimate_bytes(small, hw, hw, 512)
    assert difference == 90 * 3 * hw[0] * hw[1] * 4  # 2 · 45 fewer image-sized float32 tensors
    assert tiling.box_side(512, RUN.layers) == 512 + 2 * tiling.halo_and_grid(RUN.layers)[0]


def test_tiled_gradient_with_two_styles_and_masks_equals_autograd():
    # Guided Gram matrices: each term's mask is sliced to the core, normalised by the whole mask's area.
    C, S, G = images()
    S2 = torch.rand(1, 3, 40, 40, generator=torch.Generator().manual_seed(5))
    left = torch.zeros(45, 70)
    left[:, :30] = 1.0
    masks = [left, 1 - left]
    cfg = SHALLOW.replace(style_weights=(0.7, 0.3))
    objective = transfer.Objective(transfer.build_model(cfg), C, [S, S2], cfg, masks=masks)
    assert len(objective.terms) == 2 * len(cfg.style_layers) and objective.terms[0].mask is not None
    expected, expected_grad = untiled(objective, G)
    values, grad = tiling.tiled_value_and_grad(objective, G, 16)
    for k in expected:
        torch.testing.assert_close(values[k], expected[k], rtol=1e-5, atol=0, msg=k)
    assert rel_diff(grad, expected_grad) < 1e-5
