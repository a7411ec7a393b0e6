"""The optimization loop: history, frames, stop/interrupt, non-finite costs, resume, reproducibility."""

import io
import threading

import numpy as np
import pytest
import torch

import nst_edu
from nst_edu.core import costs, images, transfer, vgg
from nst_edu.core.config import Config, preset

# A fixed β on the normalised network's scale: a β from the style strength costs one more evaluation.
TINY = dict(size=64, steps=8, coarse_steps=0, frame_every=2, precision="float32", beta=10.0)


def tiny(**changes) -> Config:
    return preset("fast", **{**TINY, **changes})


def test_result_shapes_history_and_frames(tiny_pair):
    C, S = tiny_pair
    result = nst_edu.run(C, S, tiny(), progress=False)
    assert result.image.shape == C.shape and result.image.dtype == torch.float32
    assert 0 <= result.image.min() and result.image.max() <= 1
    assert result.stopped is None
    # One row per step (costs before the step) plus the final image's row.
    assert list(result.history.column("step")) == list(range(9))
    assert set(result.history.columns) >= {"content", "style", "total", "style:relu1_1", "style:relu5_1"}
    assert [k for k, _ in result.frames] == [0, 2, 4, 6, 8]
    assert result.frames[-1][1].shape == (C.shape[2], C.shape[3], 3)
    # The last frame is the returned image.
    np.testing.assert_array_equal(result.frames[-1][1], transfer._to_frame(result.image))


def test_costs_fall_and_total_is_the_weighted_sum(tiny_pair):
    C, S = tiny_pair
    cfg = tiny(steps=25, beta=100.0, tv_weight=0.0)
    h = nst_edu.run(C, S, cfg, progress=False).history
    # From C in S's colours (the colours already match), 25 steps at 64 px: a five-fold fall at least.
    assert h.column("style")[-1] < h.column("style")[0] / 5
    total = cfg.alpha * h.column("content") + cfg.beta * h.column("style")
    np.testing.assert_allclose(h.column("total"), total, rtol=1e-5)
    weighted = sum(w * h.column(f"style:{layer}") for layer, w in cfg.style_layers)
    np.testing.assert_allclose(h.column("style"), weighted, rtol=1e-5)


def test_objective_matches_public_cost_functions(tiny_pair):
    C, S = tiny_pair
    S = images.resize_to(S, tuple(C.shape[-2:]))  # same size, so no Gram rescaling is involved
    cfg = tiny(tv_weight=0.5)
    model = transfer.build_model(cfg)
    objective = transfer.Objective(model, C, S, cfg)
    G = torch.rand_like(C)
    got = objective(G)
    a_C, a_S, a_G = model(C), model(S), model(G)
    J_content = costs.content_cost(a_C[cfg.content_layer], a_G[cfg.content_layer])
    J_style = costs.style_cost(a_S, a_G, cfg.style_layers)
    J_tv = costs.tv_cost(G)
    expected = costs.total_cost(J_content, J_style, cfg.alpha, cfg.beta, J_tv=J_tv, tv_weight=cfg.tv_weight)
    torch.testing.assert_close(got["content"], J_content)
    torch.testing.assert_close(got["style"], J_style, rtol=1e-5, atol=0)
    torch.testing.assert_close(got["total"], expected, rtol=1e-5, atol=0)


def test_tv_weight_grows_above_256_px():
    # w_tv(L) = w · max(1, L/256)³: the weight as given up to 256 px, 1.5³ = 3.375 times it at 384 px.
    cfg = tiny(tv_weight=2.0)
    assert [cfg.tv_weight_for(L) for L in (1, 64, 256)] == [2.0, 2.0, 2.0]
    assert cfg.tv_weight_for(384) == pytest.approx(2.0 * 3.375, rel=1e-12)
    assert cfg.tv_weight_for(512) == pytest.approx(16.0, rel=1e-12)
    assert tiny(tv_weight=0.0).tv_weight_for(4096) == 0.0
    # The Objective weighs J_tv with the weight at G's longer side, in the total (a shallow network at 300 px).
    shallow = cfg.replace(content_layer="relu1_1", style_layers=(("relu1_1", 1.0),), size=300)
    C, S = torch.rand(1, 3, 200, 300), torch.rand(1, 3, 200, 300)
    objective = transfer.Objective(transfer.build_model(shallow), C, S, shallow)
    assert objective.tv_weight == pytest.approx(2.0 * (300 / 256) ** 3, rel=1e-12)
    G = torch.rand_like(C)
    got = objective(G)
    expected = (
        shallow.alpha * got["content"] + shallow.beta * got["style"] + objective.tv_weight * costs.tv_cost(G)
    )
    torch.testing.assert_close(got["total"], expected, rtol=1e-5, atol=0)


def test_style_target_rescaled_when_style_image_is_larger(tiny_pair):
    C, S = tiny_pair
    cfg = tiny(style_layers=(("relu1_1", 1.0),))
    model = transfer.build_model(cfg)
    S_same = images.resize_to(S, tuple(C.shape[-2:]))
    S_tiled = S_same.repeat(1, 1, 2, 2)  # the same texture over 4x the area: the same style
    G = torch.rand_like(C)
    J_same = transfer.Objective(model, C, S_same, cfg)(G)["style"]
    J_tiled = transfer.Objective(model, C, S_tiled, cfg)(G)["style"]
    # Equal up to the seams and borders of the tiling (zero padding differs there).
    assert abs(J_tiled / J_same - 1) < 0.15
    # Without the M_G / M_S rescaling the tiled Gram would be 4x larger and the costs far apart.
    a_G = model(G)["relu1_1"]
    unscaled = costs.layer_style_cost_from_gram(
        costs.gram_matrix(costs.unroll(model(S_tiled)["relu1_1"])), a_G
    )
    assert unscaled / J_same > 5


def test_stop_event_ends_after_the_current_step(tiny_pair):
    C, S = tiny_pair
    stop = threading.Event()
    seen = []

    def callback(info):
        seen.append(info.step)
        if info.step == 3:
            stop.set()

    result = nst_edu.run(C, S, tiny(), callback=callback, stop=stop, progress=False)
    assert result.stopped == "stop"
    assert seen == [1, 2, 3]
    assert len(result.history) == 3
    assert result.frames[-1][0] == 3


def test_keyboard_interrupt_returns_the_result_so_far(tiny_pair):
    C, S = tiny_pair

    def callback(info):
        if info.step == 4:
            raise KeyboardInterrupt

    result = nst_edu.run(C, S, tiny(), callback=callback, progress=False)
    assert result.stopped == "interrupt"
    assert len(result.history) == 4
    assert not torch.equal(result.image, C)


def test_non_finite_cost_names_the_step_and_keeps_the_last_good_image(tiny_pair, monkeypatch):
    C, S = tiny_pair
    real_call = transfer.Objective.__call__
    calls = {"n": 0}
    kept = {}

    def poisoned(self, G):
        calls["n"] += 1
        out = real_call(self, G)
        if calls["n"] == 3:  # the last evaluation whose costs are finite
            kept["image"] = G.detach().clone()
        if calls["n"] == 4:  # the 4th evaluation is the one before step 4
            out["style"] = out["style"] * float("nan")
            out["total"] = out["total"] + out["style"]
        return out

    monkeypatch.setattr(transfer.Objective, "__call__", poisoned)
    with pytest.raises(
        nst_edu.NonFiniteCostError, match=r"style cost became nan at step 3; the learning rate"
    ) as info:
        nst_edu.run(C, S, tiny(), progress=False)
    result = info.value.result
    assert result.stopped == "non-finite"
    assert len(result.history) == 3
    torch.testing.assert_close(result.image, kept["image"])  # the last G whose costs were finite


def test_same_seed_same_image_bit_for_bit(tiny_pair):
    C, S = tiny_pair
    for opt in ("lbfgs", "adam"):
        cfg = tiny(optimizer=opt, init="gaussian", lr=1.0 if opt == "lbfgs" else 0.02)
        a = nst_edu.run(C, S, cfg, progress=False).image
        b = nst_edu.run(C, S, cfg, progress=False).image
        assert torch.equal(a, b)


@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
def test_resume_from_a_checkpoint_equals_an_uninterrupted_run(tiny_pair, optimizer):
    C, S = tiny_pair
    cfg = tiny(optimizer=optimizer, lr=1.0 if optimizer == "lbfgs" else 0.02, coarse_steps=4, steps=4)
    full = nst_edu.run(C, S, cfg, progress=False)
    states = []
    nst_edu.run(C, S, cfg, progress=False, checkpoint=states.append, checkpoint_every=3)
    assert [s["step"] for s in states] == [3, 6]  # one in the coarse stage, one at full size
    for state in states:
        buf = io.BytesIO()
        torch.save(state, buf)
        buf.seek(0)
        restored = torch.load(buf, weights_only=True)
        resumed = nst_edu.run(C, S, cfg, progress=False, resume=restored)
        assert torch.equal(resumed.image, full.image)
        np.testing.assert_array_equal(resumed.history.column("total"), full.history.column("total"))
        assert [k for k, _ in resumed.frames] == [k for k, _ in full.frames]


@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
def test_resume_at_the_end_of_the_coarse_stage_equals_an_uninterrupted_run(tiny_pair, optimizer):
    # The checkpoint after the last coarse step holds the coarse image and the coarse stage's optimizer state:
    # the resumed run upsamples the image as the uninterrupted one does and starts a fresh optimizer.
    C, S = tiny_pair
    lr = 1.0 if optimizer == "lbfgs" else 0.02
    cfg = tiny(optimizer=optimizer, lr=lr, coarse_steps=3, steps=3, coarse_size=32)
    full = nst_edu.run(C, S, cfg, progress=False)
    states = []
    nst_edu.run(C, S, cfg, progress=False, checkpoint=states.append, checkpoint_every=3)
    assert [s["step"] for s in states] == [3]
    assert max(states[0]["image"].shape[-2:]) == 32 < max(C.shape[-2:])  # the coarse stage's image
    buf = io.BytesIO()
    torch.save(states[0], buf)
    buf.seek(0)
    resumed = nst_edu.run(C, S, cfg, progress=False, resume=torch.load(buf, weights_only=True))
    assert torch.equal(resumed.image, full.image)
    np.testing.assert_array_equal(resumed.history.column("total"), full.history.column("total"))
    assert [k for k, _ in resumed.frames] == [k for k, _ in full.frames]


def test_a_coarse_size_not_smaller_than_the_image_is_no_coarse_stage(tiny_pair):
    C, S = tiny_pair
    assert transfer._stages(tiny(coarse_steps=2, steps=3, coarse_size=32)) == [(0.5, 2), (1.0, 3)]
    assert transfer._stages(tiny(coarse_steps=2, steps=3, coarse_size=64)) == [(1.0, 5)]
    assert transfer._stages(tiny(coarse_steps=2, steps=0, coarse_size=512)) == [(1.0, 2)]
    result = nst_edu.run(C, S, tiny(coarse_steps=2, steps=1, coarse_size=512, frame_every=1), progress=False)
    assert len(result.history) == 4 and all(f.shape[:2] == C.shape[-2:] for _, f in result.frames)


def test_resume_refuses_another_config(tiny_pair):
    C, S = tiny_pair
    states = []
    nst_edu.run(C, S, tiny(), progress=False, checkpoint=states.append, checkpoint_every=4)
    with pytest.raises(ValueError, match="different Config"):
        nst_edu.run(C, S, tiny(beta=1.0), progress=False, resume=states[0])


def test_coarse_to_fine_runs_both_stages(tiny_pair):
    C, S = tiny_pair
    cfg = tiny(coarse_steps=4, steps=3, frame_every=1)
    result = nst_edu.run(C, S, cfg, progress=False)
    assert len(result.history) == 8
    sizes = {k: f.shape[:2] for k, f in result.frames}
    assert sizes[0] == tuple(images.resize(C, 32).shape[-2:]) and sizes[7] == tuple(C.shape[-2:])
    assert result.image.shape == C.shape


def test_init_image_overrides_config_init(tiny_pair):
    C, S = tiny_pair
    start = torch.full_like(C, 0.5)
    result = nst_edu.run(C, S, tiny(steps=1), init_image=start, progress=False)
    np.testing.assert_array_equal(result.frames[0][1], transfer._to_frame(start))


def test_history_csv_round_trip():
    h = transfer.History(
        ("relu1_1",),
        [
            {
                "step": 0,
                "seconds": 0.1,
                "content": 1.0,
                "style": 2.0,
                "tv": 0.0,
                "total": 3.0,
                "style:relu1_1": 2.0,
            },
            {
                "step": 1,
                "seconds": 0.2,
                "content": 0.5,
                "style": 1.0,
                "tv": 0.0,
                "total": 1.5,
                "style:relu1_1": 1.0,
            },
        ],
    )
    text = h.to_csv(header={"torch": torch.__version__})
    assert text.startswith(
        f"# torch: {torch.__version__}\nstep,seconds,content,style,tv,total,style:relu1_1\n"
    )
    back = transfer.History.from_csv(text)
    assert back.rows == h.rows and back.style_layers == ("relu1_1",)


def test_save_writes_every_output_and_refuses_to_overwrite(tiny_pair, tmp_path):
    C, S = tiny_pair
    result = nst_edu.run(C, S, tiny(steps=2), progress=False)
    paths = result.save(tmp_path / "out")
    assert sorted(p.name for p in paths.values()) == sorted(
        ["result.png", "progress.gif", "losses.png", "history.csv", "run.json"]
    )
    assert images.load_image(paths["result.png"]).shape == C.shape
    assert "config" in paths["run.json"].read_text()
    with pytest.raises(FileExistsError, match="already holds result.png"):
        result.save(tmp_path / "out")
    result.save(tmp_path / "out", force=True)
    assert not list((tmp_path / "out").glob("*.tmp*"))


def test_device_resolution():
    assert transfer.resolve_device("cpu").type == "cpu"
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    if (
        not torch.cuda.is_available()
        and getattr(torch.backends, "mps", None)
        and torch.backends.mps.is_available()
    ):
        expected = "mps"
    assert transfer.resolve_device("auto").type == expected
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA GPU"):
            transfer.resolve_device("cuda")


def test_model_is_truncated_at_deepest_config_layer():
    cfg = tiny(content_layer="relu2_2", style_layers=(("relu1_1", 1.0), ("relu3_1", 1.0)))
    model = transfer.build_model(cfg)
    assert list(model.body)[-1] == "relu3_1"
    assert len(model.body) == vgg.LAYER_INDEX["relu3_1"] + 1
