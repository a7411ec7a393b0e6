"""The widget lab driven from Python: set control values, click buttons, wait for the worker, read outputs.

Runs use random VGG weights at 64 px and a few steps, so each takes about a second; what is tested is the lab
(controls → Config, the worker thread, Stop, refusals, messages), not the quality of the picture.
"""

from __future__ import annotations

import datetime
import io
import threading

import numpy as np
import pytest
import torch
from PIL import Image

import nst_edu
from nst_edu.core import images, masks, samples, transfer
from nst_edu.core.config import COLOURS, OPTIMIZERS, PRECISIONS, PRESETS, check_styles
from nst_edu.teaching import lab_runner
from nst_edu.teaching import widgets as widgets_module
from nst_edu.teaching.widgets import (
    CONTROL_FIELDS,
    DEFAULT_CONFIG,
    DEFAULT_LR,
    DEFAULT_PRESET,
    LAB_PRESETS,
    MAX_SIZE,
    NO_STYLE,
    STYLE_LAYERS,
    StyleLab,
)

TIMEOUT = 300  # seconds to wait for a worker: generous, the machine is shared


def fast(lab: StyleLab, steps: int = 4) -> StyleLab:
    """Settings for a quick run."""
    lab.weights.value = "random"
    lab.size.value = 64
    lab.steps.value = steps
    lab.frame_every.value = 2
    return lab


def run(lab: StyleLab) -> StyleLab:
    lab.run_button.click()
    assert lab.wait(TIMEOUT), "the worker did not finish"
    return lab


def upload(name: str, data: bytes) -> tuple[dict, ...]:
    """What a FileUpload widget's value holds after a browser upload (ipywidgets 8)."""
    return (
        {
            "name": name,
            "type": "image/png",
            "size": len(data),
            "content": memoryview(data),
            "last_modified": datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc),
        },
    )


@pytest.fixture(scope="module")
def ran_lab():
    """A lab after one quick run with β = 0.01 and 6 steps (shared by the read-only tests)."""
    lab = fast(StyleLab(), steps=6)
    lab.beta.value = 1e-2
    lab.preview_before = lab.preview.value
    return run(lab)


# ---------------------------------------------------------------------------------------------- controls


def test_defaults_describe_the_default_config():
    lab = StyleLab()
    assert lab.config() == DEFAULT_CONFIG == LAB_PRESETS[DEFAULT_PRESET]
    assert lab.preset.value == DEFAULT_PRESET
    assert lab.code.startswith(f"import nst_edu\n\nconfig = nst_edu.preset(\n    {DEFAULT_PRESET!r},\n")
    assert lab.code.endswith("result = nst_edu.run('chelsea', 'swirls', config, progress=False)\n")
    assert "Ready" in lab.status
    assert not lab.running and lab.result is None
    assert lab.preview.value  # the content image, before any run


def test_controls_build_the_config():
    lab = StyleLab()
    lab.alpha.value, lab.beta.value, lab.tv_weight.value = 10.0, 1e-5, 3.0
    lab.content_layer.value = "relu5_4"
    lab.style_layer_on["relu2_1"].value = False
    lab.style_layer_weight["relu5_1"].value = 0.5
    lab.init.value, lab.noise_ratio.value, lab.seed.value = "gaussian", 0.3, 7
    lab.optimizer.value = "adam"
    lab.steps.value, lab.size.value, lab.pooling.value = 12, 96, "avg"
    lab.precision.value, lab.frame_every.value, lab.weights.value = "bfloat16", 3, "random"
    cfg = lab.config()
    assert (cfg.alpha, cfg.beta, cfg.tv_weight, cfg.content_layer) == (10.0, 1e-5, 3.0, "relu5_4")
    assert cfg.style_layers == (("relu1_1", 0.2), ("relu3_1", 0.2), ("relu4_1", 0.2), ("relu5_1", 0.5))
    assert (cfg.init, cfg.noise_ratio, cfg.seed) == ("gaussian", 0.3, 7)
    assert (cfg.optimizer, cfg.lr) == ("adam", DEFAULT_LR["adam"])  # the optimizer brings its own lr
    assert (cfg.steps, cfg.size, cfg.pooling, cfg.precision, cfg.frame_every, cfg.weights) == (
        12,
        96,
        "avg",
        "bfloat16",
        3,
        "random",
    )
    assert "beta=1e-05" in lab.code and "optimizer='adam'" in lab.code  # the code box follows the controls


def test_every_optimizer_has_a_default_learning_rate():
    assert set(DEFAULT_LR) == set(OPTIMIZERS)


def test_lab_presets_are_the_presets_at_the_labs_size():
    assert set(LAB_PRESETS) == set(PRESETS)
    assert DEFAULT_CONFIG == nst_edu.preset("fast", size=160, steps=50, frame_every=5)
    for name, config in LAB_PRESETS.items():
        # Only the run's length and size differ from the recipe: objective, start, optimizer are its own.
        assert (
            config.replace(
                size=PRESETS[name].size, steps=PRESETS[name].steps, frame_every=PRESETS[name].frame_every
            )
            == PRESETS[name]
        ), name


@pytest.mark.parametrize("name", ["course", "gatys", "fast"])
def test_preset_selector_loads_the_preset_into_the_controls(name):
    lab = StyleLab(preset="gatys" if name != "gatys" else "course")
    lab.beta.value, lab.steps.value = 0.5, 3  # changed by hand: the preset overwrites them
    lab.preset.value = name
    want = LAB_PRESETS[name]
    assert lab.config() == want  # every field, also those without a control (history_size, precondition, …)
    controls = {f: getattr(lab, f).value for f in CONTROL_FIELDS}
    assert controls == {f: widgets_module._shown(want, f) for f in controls}  # β from a strength: see _shown
    assert {l: (lab.style_layer_on[l].value, lab.style_layer_weight[l].value) for l in STYLE_LAYERS} == {
        l: (l in dict(want.style_layers), dict(want.style_layers).get(l, 0.2)) for l in STYLE_LAYERS
    }
    assert f"{name} preset" in lab.status
    # "show as code" writes the preset and the lab's changes to it, and rebuilds exactly this Config.
    assert f"nst_edu.preset(\n    {name!r}," in lab.code
    namespace: dict = {}
    exec(lab.code.replace("result = nst_edu.run", "# "), namespace)  # noqa: S102 - the config, not the run
    assert namespace["config"] == want


def test_show_as_code_keeps_the_preset_and_lists_the_changes():
    lab = StyleLab()
    lab.preset.value = "course"
    lab.beta.value, lab.steps.value = 1e-2, 40
    assert "    'course',\n" in lab.code and "    beta=0.01,\n" in lab.code and "    steps=40,\n" in lab.code
    assert "optimizer=" not in lab.code  # Adam comes with the preset
    namespace: dict = {}
    exec(lab.code.replace("result = nst_edu.run", "# "), namespace)  # noqa: S102
    assert namespace["config"] == lab.config() == LAB_PRESETS["course"].replace(beta=1e-2, steps=40)


def test_precision_dropdown_offers_auto():
    lab = StyleLab()
    assert [value for _, value in lab.precision.options] == list(PRECISIONS) and "auto" in PRECISIONS
    for precision in PRECISIONS:
        lab.precision.value = precision
        assert lab.config().precision == precision


def test_reset_restores_the_defaults():
    lab = StyleLab()
    lab.preset.value = "gatys"
    lab.beta.value, lab.steps.value, lab.optimizer.value = 1.0, 7, "adam"
    lab.style_layer_on["relu1_1"].value = False
    lab.content.value, lab.style.value, lab.out_dir.value = "coffee", "waves", "/tmp/elsewhere"
    lab.style2.value, lab.style_blend.value, lab.mask.value, lab.colour.value = (
        "swirls",
        0.9,
        "split",
        "histogram",
    )
    assert lab.config() != DEFAULT_CONFIG
    lab.reset_button.click()
    assert lab.config() == DEFAULT_CONFIG and lab.preset.value == DEFAULT_PRESET
    assert (lab.content.value, lab.style.value, lab.out_dir.value) == ("chelsea", "swirls", "nst-lab-out")
    assert (lab.style2.value, lab.style_blend.value, lab.mask.value) == (NO_STYLE, 0.5, "")
    assert lab.mask.disabled and lab.run_arguments().masks is None
    assert "reset" in lab.status


def test_lab_displays_as_a_widget():
    bundle = StyleLab()._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle


# ---------------------------------------------------------------------------------------------- colours, styles


def _exec_run_call(code: str, monkeypatch) -> dict:
    """Execute "show as code" with ``nst_edu.run`` recording its arguments instead of running."""
    calls = []
    monkeypatch.setattr(nst_edu, "run", lambda *args, **kwargs: calls.append((args, kwargs)))
    namespace: dict = {}
    exec(code, namespace)  # noqa: S102 - the point: the shown code is runnable as is
    [(args, kwargs)] = calls
    content, style, config = args
    return {"content": content, "style": style, "config": config, "masks": kwargs.get("masks"), **kwargs}


def test_colour_dropdown_sets_config_colour():
    lab = StyleLab()
    assert [value for _, value in lab.colour.options] == list(COLOURS)
    assert lab.colour.value == "style" and not lab.colour.disabled  # with one style too
    for colour in COLOURS:
        lab.colour.value = colour
        assert lab.config() == DEFAULT_CONFIG.replace(colour=colour)
        assert (f"    colour={colour!r},\n" in lab.code) == (
            colour != "style"
        )  # the preset's is not repeated


def test_share_mix_and_regions_are_switched_off_without_a_second_style():
    lab = StyleLab()
    assert lab.style2.value == NO_STYLE
    assert [value for _, value in lab.style2.options] == [NO_STYLE, *samples.style_samples()]
    assert (
        lab.mask.disabled and lab.style_blend.disabled and lab.style_mix.disabled and lab.scale_split.disabled
    )
    # Values set on switched-off controls do not reach the run.
    lab.mask.value, lab.style_blend.value, lab.style_mix.value = "split", 0.9, "scale"
    args = lab.run_arguments()
    assert (args.style, args.masks, args.config) == ("swirls", None, DEFAULT_CONFIG)
    assert "masks" not in lab.code and "style_weights" not in lab.code
    lab.style2.value = "waves"
    assert not (lab.mask.disabled or lab.style_blend.disabled or lab.style_mix.disabled)
    assert not lab.scale_split.disabled  # the mix is "scale"
    lab.style_mix.value = "sum"
    assert lab.scale_split.disabled  # the split layer matters for "scale" only
    lab.style2.value = NO_STYLE
    assert lab.mask.disabled and lab.run_arguments().masks is None and lab.config() == DEFAULT_CONFIG


def test_second_style_blend_mix_and_regions_build_the_run_arguments():
    lab = StyleLab()
    lab.style2.value, lab.style_blend.value = "waves", 0.3
    args = lab.run_arguments()
    assert args.style == ["swirls", "waves"] and args.names == ("chelsea", "swirls", "waves")
    assert args.config == DEFAULT_CONFIG.replace(style_weights=(0.7, 0.3)) and args.masks is None
    lab.style_mix.value, lab.scale_split.value = "scale", "relu4_1"
    assert lab.config() == DEFAULT_CONFIG.replace(
        style_weights=(0.7, 0.3), style_mix="scale", scale_split="relu4_1"
    )
    lab.style_mix.value = "blend"
    assert lab.config().style_mix == "blend" and lab.config().scale_split == DEFAULT_CONFIG.scale_split
    lab.style_mix.value = "sum"
    hw = tuple(images.load_image("chelsea", size=DEFAULT_CONFIG.size).shape[-2:])  # C as run() loads it
    for choice, want in (("split", masks.split_mask(hw)), ("ellipse", masks.shape_mask(hw, "ellipse"))):
        lab.mask.value = choice
        args = lab.run_arguments()
        assert args.hw == hw == (106, 160)
        assert len(args.masks) == 2 and all(torch.equal(m, w) for m, w in zip(args.masks, want))
    lab.size.value = 64  # the masks follow the size of the run
    assert lab.run_arguments().masks[0].shape == images.load_image("chelsea", size=64).shape[-2:]


def test_regions_with_a_mix_other_than_sum_are_refused_with_the_runs_sentence():
    lab = StyleLab()
    lab.style2.value, lab.mask.value = "waves", "split"
    lab.style_mix.value = "blend"
    with pytest.raises(ValueError) as refused:
        check_styles(lab.config(), 2, 2)  # what transfer.run would say
    sentence = str(refused.value)
    assert "needs style_mix 'sum'" in sentence
    assert lab.status == f"These settings cannot run: {sentence}."
    assert lab.code == f"# the controls do not describe a valid run yet: {sentence}"
    lab.run_button.click()
    assert lab.wait(1) and lab.result is None and not lab.running
    assert lab.status == f"Cannot run: {sentence}."
    lab.style_mix.value = "sum"
    assert "go together now" in lab.status and lab.code.startswith("import nst_edu")


@pytest.mark.parametrize(
    "preset, style2, w, mix, mask, colour",
    [
        ("fast", NO_STYLE, 0.5, "sum", "", "luminance"),
        ("fast", "waves", 0.3, "sum", "split", "histogram"),
        ("gatys", "stained_glass", 0.75, "sum", "ellipse", "keep-colours"),
        ("fast", "waves", 0.2, "scale", "", "style"),
        ("course", "waves", 0.65, "blend", "", "luminance"),
    ],
)
def test_show_as_code_builds_the_same_arguments(monkeypatch, preset, style2, w, mix, mask, colour):
    lab = StyleLab()
    lab.preset.value = preset
    lab.style2.value, lab.style_blend.value, lab.style_mix.value = style2, w, mix
    lab.mask.value, lab.colour.value = mask, colour
    want = lab.run_arguments()
    got = _exec_run_call(lab.code, monkeypatch)
    assert got["config"] == want.config
    assert want.config.colour == colour
    assert want.config.style_weights == (() if style2 == NO_STYLE else (round(1 - w, 6), w))
    assert (got["content"], got["style"]) == (want.content, want.style)
    assert got["style"] == (["swirls", style2] if style2 else "swirls")
    if mask:
        assert len(got["masks"]) == 2 and all(torch.equal(a, b) for a, b in zip(got["masks"], want.masks))
        assert f"masks.{lab_runner.MASK_CHOICES[mask].function.__name__}((106, 160)" in lab.code
    else:
        assert got["masks"] is None and want.masks is None
    assert got["progress"] is False


def test_two_styles_with_regions_run_and_the_code_reproduces_them(tmp_path):
    lab = fast(StyleLab(), steps=2)
    lab.style2.value, lab.style_blend.value, lab.mask.value = "waves", 0.4, "split"
    lab.colour.value = "luminance"
    previews = []
    original = lab._on_step

    def spy(info):
        original(info)
        if info.step == 1:  # the preview is drawn at step 1 for sure (later ones are throttled)
            previews.append(
                (lab.preview.value, lab_runner.png_bytes(info.shown), lab_runner.png_bytes(info.image))
            )

    lab._on_step = spy
    run(lab)
    result = lab.result
    assert result is not None and result.stopped is None, lab.status
    assert result.config.style_weights == (0.6, 0.4) and result.config.colour == "luminance"
    assert result.inputs["styles"] == ["swirls", "waves"] and len(result.inputs["masks"]) == 2
    # During the run the preview shows G in the final colours (C's put back), not the grey G being optimized.
    [(preview, shown, grey)] = previews
    assert preview == shown != grey
    namespace: dict = {}
    exec(lab.code, namespace)  # noqa: S102
    assert namespace["result"].config == result.config
    assert torch.equal(namespace["result"].image, result.image)
    lab.out_dir.value = str(tmp_path)
    lab.save_png_button.click()
    assert (tmp_path / "chelsea-swirls-waves-001.png").exists()


def test_a_run_with_the_labs_defaults_still_works():
    lab = (
        StyleLab()
    )  # every control as it starts (caffe weights, one style, the style's colours) but the size
    lab.size.value, lab.steps.value = 64, 2
    run(lab)
    assert lab.result is not None and lab.result.stopped is None and lab.status.startswith("Done: 2 steps")
    assert lab.result.config == DEFAULT_CONFIG.replace(size=64, steps=2)
    assert lab.result.inputs == {"content": "chelsea", "styles": ["swirls"]}


def test_unknown_second_style_is_refused():
    with pytest.raises(ValueError, match="style2 must be one of the style samples .* for none"):
        StyleLab(style2="mona_lisa")


# ---------------------------------------------------------------------------------------------- a run


def test_run_honours_the_controls(ran_lab):
    lab = ran_lab
    result = lab.result
    assert result is not None and result.stopped is None
    assert result.config == lab.config()  # frozen copy of what the controls said
    assert result.config.beta == 1e-2 and result.config.steps == 6
    assert len(lab.history) == 7  # one row per step, plus the final image
    assert lab.history.column("step")[-1] == 6
    assert [step for step, _ in result.frames] == [0, 2, 4, 6]
    assert lab.status.startswith("Done: 6 steps")
    assert (lab.progress.value, lab.progress.max) == (6, 6)
    assert lab.progress_label.value.startswith("step 6/6")
    assert lab.preview.value != lab.preview_before
    assert lab.preview.value == lab_runner.png_bytes(result.image)  # the preview shows the result
    assert lab.loss_plot.value[:4] == b"\x89PNG" and "nst-lab-final" in lab.loss_plot._dom_classes
    assert not lab.running and not lab.run_button.disabled and lab.stop_button.disabled


def test_frame_scrubber_shows_the_captured_frames(ran_lab):
    lab = ran_lab
    frames = lab.result.frames
    assert (lab.frame_slider.max, lab.play.max) == (len(frames) - 1, len(frames) - 1)
    lab.frame_slider.value = 0
    assert lab.frame_view.value == lab_runner.png_bytes(frames[0][1])
    assert lab.frame_label.value.startswith("step 0 ")
    lab.frame_slider.value = len(frames) - 1
    assert lab.frame_view.value == lab_runner.png_bytes(frames[-1][1])


def test_show_as_code_reproduces_the_run_bit_exactly():
    lab = fast(StyleLab(), steps=5)
    lab.optimizer.value, lab.lr.value = "adam", 0.05
    lab.init.value, lab.noise_ratio.value, lab.seed.value = "uniform", 0.4, 3
    lab.style_layer_on["relu5_1"].value = False
    run(lab)
    namespace: dict = {}
    exec(lab.code, namespace)  # noqa: S102 - the point of the test: the shown code is runnable as is
    again = namespace["result"]
    assert again.config == lab.result.config
    assert torch.equal(again.image, lab.result.image)


def test_save_png_and_gif(ran_lab, tmp_path):
    lab = ran_lab
    lab.out_dir.value = str(tmp_path / "out")
    lab.save_png_button.click()
    lab.save_gif_button.click()
    png, gif = tmp_path / "out" / "chelsea-swirls-001.png", tmp_path / "out" / "chelsea-swirls-001.gif"
    assert png.exists() and gif.exists()
    assert str(gif) in lab.status
    saved = np.asarray(Image.open(png).convert("RGB"))
    assert np.array_equal(saved, np.asarray(images.to_pil(lab.result.image)))
    with Image.open(gif) as animation:
        assert animation.n_frames == len(lab.result.frames)


# ---------------------------------------------------------------------------------------------- threads


def _pause_at(lab: StyleLab, step: int):
    """Make the worker pause inside its callback at ``step`` until the test says go; count the steps seen."""
    seen, reached, go = [], threading.Event(), threading.Event()
    original = lab._on_step

    def spy(info):
        original(info)
        seen.append(info.step)
        if info.step == step:
            reached.set()
            go.wait(TIMEOUT)

    lab._on_step = spy  # the lab passes self._on_step to the runner at Run
    return seen, reached, go


def test_stop_halts_within_one_step_and_keeps_the_partial_result():
    lab = fast(StyleLab(), steps=50)
    seen, reached, go = _pause_at(lab, 3)
    lab.run_button.click()
    assert reached.wait(TIMEOUT)
    lab.stop_button.click()  # while step 3's callback runs: the loop must not start step 4
    assert "Stopping" in lab.status
    go.set()
    assert lab.wait(TIMEOUT)
    assert seen == [1, 2, 3]
    result = lab.result
    assert result.stopped == "stop"
    assert len(result.history) == 3
    assert "Stopped after step 3 of 50" in lab.status and "partial result is kept" in lab.status
    assert lab.progress.value == 3
    assert result.frames[-1][0] == 3  # the last frame is the partial result
    assert not lab.save_png_button.disabled  # a partial result can be saved


def test_second_run_while_running_is_refused_and_config_is_frozen():
    lab = fast(StyleLab(), steps=4)
    seen, reached, go = _pause_at(lab, 1)
    lab.run_button.click()
    assert reached.wait(TIMEOUT)
    assert lab.running and lab.run_button.disabled and not lab.stop_button.disabled
    code_during_run = lab.code
    lab.beta.value, lab.steps.value = 1.0, 9  # changing controls during a run must not reach it
    lab.run_button.click()
    assert "already going" in lab.status and "ignored" in lab.status
    assert lab.code == code_during_run  # the box keeps showing the run in progress
    go.set()
    assert lab.wait(TIMEOUT)
    assert seen == [1, 2, 3, 4]  # one run only
    assert lab.result.config.steps == 4 and lab.result.config.beta == DEFAULT_CONFIG.beta
    assert "steps=9" in lab.code  # after the run the box follows the controls again


def test_background_run_refuses_a_second_start(monkeypatch):
    release = threading.Event()
    monkeypatch.setattr(transfer, "run", lambda *a, **k: release.wait(TIMEOUT) and "done")
    runner = lab_runner.BackgroundRun()
    runner.start("chelsea", "swirls", DEFAULT_CONFIG)
    with pytest.raises(lab_runner.AlreadyRunningError):
        runner.start("chelsea", "swirls", DEFAULT_CONFIG)
    release.set()
    assert runner.wait(TIMEOUT) and runner.result == "done" and runner.error is None


def test_lab_runner_holds_one_run_until_the_view_releases_it(monkeypatch):
    release = threading.Event()
    monkeypatch.setattr(transfer, "run", lambda *a, **k: release.wait(TIMEOUT) and "done")
    errors: list = []
    runner = lab_runner.LabRunner(on_view_error=errors.append)
    with pytest.raises(RuntimeError, match="claim"):
        runner.start("chelsea", "swirls", DEFAULT_CONFIG, ("chelsea", "swirls"), print, print)
    given_up = runner.claim()
    with pytest.raises(lab_runner.AlreadyRunningError, match="already going.*ignored"):
        runner.claim()
    runner.release(given_up)  # e.g. the controls were invalid: the lab is free, nothing was started
    assert not runner.running and not runner.is_current(given_up)
    run_id = runner.claim()

    def broken_view(result, error):
        raise ZeroDivisionError("the view broke")

    runner.start("chelsea", "swirls", DEFAULT_CONFIG, ("photo.png", "art.jpg"), print, broken_view)
    assert runner.running and runner.is_current(run_id) and runner.config == DEFAULT_CONFIG
    runner.release(given_up)  # an old id does not free the lab
    assert runner.running
    release.set()
    assert runner.wait(TIMEOUT)
    assert runner.result == "done" and not runner.running  # released although on_done raised
    assert [type(e) for e in errors] == [ZeroDivisionError]


# ---------------------------------------------------------------------------------------------- errors


def test_bad_upload_gives_a_message_and_keeps_the_image():
    lab = StyleLab()
    lab.content_upload.value = upload("notes.png", b"this is not an image")
    assert "not an image" in lab.status and "notes.png" in lab.status
    assert lab.content.value == "chelsea"


def test_good_upload_becomes_the_content_image(tmp_path):
    buf = io.BytesIO()
    Image.fromarray(np.tile(np.linspace(0, 255, 80, dtype=np.uint8)[:, None, None], (1, 60, 3))).save(
        buf, "PNG"
    )
    lab = fast(StyleLab(), steps=1)
    lab.content_upload.value = upload("ramp.png", buf.getvalue())
    assert lab.content.value == "upload: ramp.png"
    assert "Uploaded ramp.png (60×80 px)" in lab.status
    assert "'ramp.png'" in lab.code and "you uploaded" in lab.code
    run(lab)
    assert lab.result.image.shape == (1, 3, 64, 48)  # the upload's 3:4 shape, at 64 px


def test_too_large_size_gives_a_message_and_does_not_run():
    lab = StyleLab()
    lab.size.value = MAX_SIZE * 4
    lab.run_button.click()
    assert lab.wait(1) and lab.result is None and not lab.running
    assert "too large" in lab.status
    assert lab.code.startswith("# the controls do not describe a valid run yet")


def test_no_style_layer_gives_a_message():
    lab = StyleLab()
    for layer in STYLE_LAYERS:
        lab.style_layer_on[layer].value = False
    lab.run_button.click()
    assert lab.result is None and "no style layer" in lab.status


def test_nan_cost_gives_a_message_and_keeps_the_last_good_image(monkeypatch):
    # The pixels are clamped to [0, 1], so no learning rate makes a cost NaN by itself: poison the objective.
    calls = {"n": 0}
    real_call = transfer.Objective.__call__

    def poisoned(self, G):
        out = real_call(self, G)
        calls["n"] += 1
        if calls["n"] > 3:
            out["total"] = out["total"] * float("nan")
        return out

    monkeypatch.setattr(transfer.Objective, "__call__", poisoned)
    lab = run(fast(StyleLab(), steps=10))
    assert lab.result is not None and lab.result.stopped == "non-finite"
    assert "total cost became nan" in lab.status and "last good image is kept" in lab.status
    assert not lab.run_button.disabled and not lab.running


def test_unexpected_error_in_the_run_is_shown_with_its_traceback(monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("the disk is on fire")

    monkeypatch.setattr(transfer, "run", broken)
    lab = run(StyleLab())
    assert lab.status == "The run failed: RuntimeError: the disk is on fire"
    assert any("Traceback" in out.get("text", "") for out in lab.details.outputs)
    assert lab.result is None and not lab.run_button.disabled


def test_a_broken_view_does_not_stop_the_run(monkeypatch):
    lab = fast(StyleLab(), steps=3)
    monkeypatch.setattr(lab_runner, "png_bytes", lambda image: 1 / 0)
    run(lab)
    assert lab.result is not None and len(lab.result.history) == 4
    assert any("ZeroDivisionError" in out.get("text", "") for out in lab.details.outputs)


# ---------------------------------------------------------------------------------------------- helpers


def test_throttle_and_latest_drawer():
    now = [0.0]
    throttle = lab_runner.Throttle(0.5, clock=lambda: now[0])
    assert throttle.due()
    now[0] = 0.4
    assert not throttle.due() and throttle.due(force=True)
    now[0] = 0.95
    assert throttle.due()

    drawn, gate = [], threading.Event()

    def draw(state):
        gate.wait(TIMEOUT)
        drawn.append(state)

    drawer = lab_runner.LatestDrawer(draw, interval_s=0.0)
    drawer.post(1)  # drawn at once (blocked in draw until the gate opens)
    for state in (2, 3, 4):  # newer states replace each other while the drawer is busy
        drawer.post(state)
    drawer.finish(5)
    gate.set()
    assert drawer.join(TIMEOUT)
    assert drawn[-1] == 5 and 2 not in drawn and 3 not in drawn


def test_free_stem_skips_taken_names(tmp_path):
    assert lab_runner.free_stem(tmp_path, "a-b") == "a-b-001"
    (tmp_path / "a-b-001.gif").write_bytes(b"")
    assert lab_runner.free_stem(tmp_path, "a-b") == "a-b-002"
