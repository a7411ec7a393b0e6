"""The widget lab: change α, β, layers, λ_l, the start image and the optimizer, and watch G being painted.

What it is: ``StyleLab``, an ipywidgets view. A preset selector (course / gatys / fast) loads a recipe into
the controls; the controls describe a ``Config`` (``lab.config()``); Run freezes that Config and hands it to
``lab_runner.BackgroundRun``, which calls the same ``transfer.run`` as everything else in a worker thread.
While it runs the lab shows the current image G (at most every ``PREVIEW_INTERVAL_S``), the loss curves (at
most every ``PLOT_INTERVAL_S``), a progress bar with steps per second; afterwards a frame scrubber, buttons
that save the PNG and the GIF, and the Python code that reproduces the run. Every error (an unreadable upload,
a too large size, a NaN cost) becomes a sentence in the lab's status line.

What it is not: no optimization logic (``transfer.py``), no threads of its own (``lab_runner.py``), no costs.

Use: ``from nst_edu.teaching.widgets import StyleLab; lab = StyleLab(); lab`` in a notebook, or drive it from Python:
``lab.preset.value = "gatys"; lab.beta.value = 1e-2; lab.run_button.click(); lab.wait(); lab.result``.
"""

from __future__ import annotations

import html
import io
import re
import threading
import time
import traceback
from pathlib import Path

import ipywidgets as widgets
import PIL.Image

from ..core import images, noise, samples, vgg
from ..core.config import PRECISIONS, Config, preset
from ..core.transfer import History, NonFiniteCostError
from ..output import plots
from . import lab_runner

STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
CONTENT_LAYERS = tuple(name for name in vgg.LAYER_NAMES if not name.startswith("pool"))
MAX_SIZE = 1024  # longer side in px; at 1024 px one step takes seconds on a laptop CPU
PREVIEW_INTERVAL_S = 0.5  # the live image is redrawn at most this often
# The loss curves are redrawn at most this often (a render costs 0.1-1 s, in its own thread).
PLOT_INTERVAL_S = 1.0
PROGRESS_INTERVAL_S = 0.1
THUMB_SIZE = 128  # px of the content and style thumbnails (and of the preview before the first run)
DEFAULT_LR = {"lbfgs": 1.0, "adam": 0.02}  # pixels in [0, 1]: Adam moves each pixel by about lr per step
LAB_SIZE = 160  # px: large enough for the swirls to read as brush strokes, small enough for seconds per run

# The presets as the lab loads them: each recipe as config.py defines it, at the lab's size, with the number
# of steps after which its picture at 160 px hardly changes any more. ``fast`` (the default) looks like a
# stylised photo after about 20 steps; gatys starts from white noise and course runs Adam, which need more.
LAB_PRESETS: dict[str, Config] = {
    "course": preset("course", size=LAB_SIZE, frame_every=10),  # 300 Adam steps
    "gatys": preset("gatys", size=LAB_SIZE, steps=150, frame_every=10),
    "fast": preset("fast", size=LAB_SIZE, steps=50, frame_every=5),
}
# Config fields shown by one control each (style_layers has a row of its own; the rest come from the preset).
CONTROL_FIELDS = (
    "alpha",
    "beta",
    "content_layer",
    "tv_weight",
    "init",
    "noise_ratio",
    "seed",
    "optimizer",
    "lr",
    "steps",
    "size",
    "weights",
    "pooling",
    "precision",
    "frame_every",
)
DEFAULT_PRESET = "fast"
DEFAULT_CONFIG = LAB_PRESETS[DEFAULT_PRESET]  # what the lab starts with: 10-50 s on a CPU
PRECISION_LABELS = {"auto": "auto (bfloat16 where native)", "float32": "float32", "bfloat16": "bfloat16"}
INIT_LABELS = {
    "content": "content C",
    "style": "style S",
    "white": "white noise",
    "uniform": "content + uniform noise",
    "gaussian": "content + Gaussian noise",
    "additive": "content ± uniform noise (course)",
    "course-tf1": "content + mean-colour noise (course, TF1)",
    "content-colour": "content C in the style's colours",
}
_STATUS_COLORS = {"info": "#444", "ok": "#176b2c", "warn": "#9a5b00", "error": "#b00020"}
_UPLOAD_PREFIX = "upload: "
# "<_io.BytesIO object at 0x7f…>" in PIL's messages
_OBJECT_REPR = re.compile(r"<[^<>]* at 0x[0-9a-fA-F]+>")
# Errors whose message says it all; anything else also gets its traceback in the lab's "details" panel.
_EXPECTED_ERRORS = (ValueError, NonFiniteCostError, MemoryError, vgg.WeightsError)


class StyleLab:
    """The lab. Controls are attributes (``preset``, ``alpha``, ``beta``, ``content_layer``,
    ``style_layer_on[l]``, ``style_layer_weight[l]``, ``tv_weight``, ``init``, ``noise_ratio``, ``seed``,
    ``optimizer``, ``lr``, ``steps``, ``size``, ``weights``, ``pooling``, ``precision``, ``frame_every``,
    ``content``, ``style``, ``content_upload``, ``style_upload``, ``out_dir``); so are the buttons
    (``run_button``, ``stop_button``, ``reset_button``, ``save_png_button``, ``save_gif_button``) and the
    outputs (``preview``, ``loss_plot``, ``progress``, ``progress_label``, ``status_html``, ``code_box``,
    ``play``, ``frame_slider``, ``frame_view``).

    ``preset`` names the recipe the controls start from (``LAB_PRESETS``); ``config``, if given, replaces its
    values. Fields without a control (``channels_last``, ``history_size``, ``precondition``, …) come from
    the selected preset (or ``config``), and "show as code" writes the run as that preset plus the changes.
    """

    def __init__(
        self,
        content: str = "chelsea",
        style: str = "swirls",
        preset: str = DEFAULT_PRESET,
        config: Config | None = None,
        out_dir: str = "nst-lab-out",
    ):
        if preset not in LAB_PRESETS:
            raise ValueError(f"preset must be one of {', '.join(LAB_PRESETS)}, got {preset!r}")
        config = config or LAB_PRESETS[preset]
        for which, name, names in (
            ("content", content, samples.content_samples()),
            ("style", style, samples.style_samples()),
        ):
            if name not in names:
                raise ValueError(
                    f"{which} must be one of the {which} samples ({', '.join(names)}), got {name!r}; "
                    f"upload other images in the lab"
                )
        unknown = [name for name, _ in config.style_layers if name not in STYLE_LAYERS]
        if unknown:
            raise ValueError(
                f"the lab has style-layer controls for {', '.join(STYLE_LAYERS)} only; "
                f"the config names {', '.join(unknown)}"
            )
        if config.content_layer not in CONTENT_LAYERS:
            raise ValueError(f"content layer {config.content_layer!r} is not a conv/relu layer")
        self._defaults = (content, style, preset, config, out_dir)
        # The preset (or config) the controls were loaded from: it holds the fields they do not show.
        self._base = config
        self._lock = threading.Lock()  # guards the state the worker thread shares with the kernel thread
        self._runner = lab_runner.BackgroundRun(on_view_error=self._show_exception)
        self._result = None
        self._live_history = None
        self._run_config: Config | None = None
        self._busy = False  # from Run until the worker has shown its result
        self._last_step = 0
        self._stem = "result"
        self._uploads: dict[str, dict[str, tuple[str, object]]] = {"content": {}, "style": {}}
        self._frames: list = []  # (step, uint8 (H, W, 3)) of the last run
        self._frame_pngs: dict[int, bytes] = {}  # encoded on first view
        self._save_name: tuple[str, str] | None = None  # (folder, name) chosen for the current result
        self._status_text = ""
        self._preview_throttle = lab_runner.Throttle(PREVIEW_INTERVAL_S)
        self._plotter: lab_runner.LatestDrawer | None = None  # draws the loss curves of the current run
        self._run_id = 0
        self._loading = False  # True while _set_preset moves the selector (its observer must not load)
        self._progress_throttle = lab_runner.Throttle(PROGRESS_INTERVAL_S)
        self._build(content, style, preset, config, out_dir)
        self._wire()
        self._show_sources()
        self._refresh_code()
        self._set_status("Ready: choose images and settings, then press Run.", "info")

    # ------------------------------------------------------------------ building the view

    def _build(self, content, style, preset: str, config: Config, out_dir: str) -> None:
        self.preset = _row(widgets.Dropdown, "preset", options=list(LAB_PRESETS), value=preset)
        self.preset.add_class("nst-lab-preset")
        self.content = _row(
            widgets.Dropdown, "content C", options=list(samples.content_samples()), value=content
        )
        self.style = _row(widgets.Dropdown, "style S", options=list(samples.style_samples()), value=style)
        self.content_upload = widgets.FileUpload(accept="image/*", multiple=False, description="upload C")
        self.style_upload = widgets.FileUpload(accept="image/*", multiple=False, description="upload S")
        self.content_view = widgets.Image(format="png", layout=widgets.Layout(width="96px"))
        self.style_view = widgets.Image(format="png", layout=widgets.Layout(width="96px"))

        self.alpha = _row(
            widgets.FloatLogSlider,
            "α (content)",
            value=config.alpha,
            base=10,
            min=-3,
            max=3,
            step=0.25,
            readout_format=".3g",
        )
        self.beta = _row(
            widgets.FloatLogSlider,
            "β (style)",
            value=config.beta,
            base=10,
            min=-8,
            max=1,
            step=0.25,
            readout_format=".3g",
        )
        self.content_layer = _row(
            widgets.Dropdown, "content layer", options=list(CONTENT_LAYERS), value=config.content_layer
        )
        self.tv_weight = _row(widgets.FloatText, "TV weight", value=config.tv_weight)
        weights = dict(config.style_layers)
        self.style_layer_on = {
            layer: widgets.Checkbox(
                value=layer in weights, description=layer, indent=False, layout=widgets.Layout(width="90px")
            )
            for layer in STYLE_LAYERS
        }
        self.style_layer_weight = {
            layer: widgets.FloatSlider(
                value=weights.get(layer, 0.2),
                min=0,
                max=1,
                step=0.05,
                description="λ",
                readout_format=".2f",
                style={"description_width": "16px"},
            )
            for layer in STYLE_LAYERS
        }

        self.init = _row(
            widgets.Dropdown,
            "start G0",
            options=[(INIT_LABELS.get(k, k), k) for k in noise.KINDS],
            value=config.init,
        )
        self.noise_ratio = _row(
            widgets.FloatSlider,
            "noise ratio r",
            value=config.noise_ratio,
            min=0,
            max=1,
            step=0.05,
            readout_format=".2f",
        )
        self.seed = _row(widgets.IntText, "seed", value=config.seed)
        self.optimizer = _row(
            widgets.Dropdown,
            "optimizer",
            options=[("L-BFGS", "lbfgs"), ("Adam", "adam")],
            value=config.optimizer,
        )
        self.lr = _row(
            widgets.FloatLogSlider,
            "learning rate",
            value=config.lr,
            base=10,
            min=-4,
            max=1,
            step=0.25,
            readout_format=".3g",
        )
        self.steps = _row(widgets.IntSlider, "steps", value=config.steps, min=1, max=500)
        self.steps.add_class("nst-lab-steps")
        self.size = _row(widgets.IntText, "size (px)", value=config.size)
        self.weights = _row(
            widgets.Dropdown, "VGG weights", options=list(vgg.WEIGHT_SOURCES), value=config.weights
        )
        self.pooling = _row(widgets.Dropdown, "pooling", options=list(vgg.POOLINGS), value=config.pooling)
        self.precision = _row(
            widgets.Dropdown,
            "precision",
            options=[(PRECISION_LABELS[p], p) for p in PRECISIONS],
            value=config.precision,
        )
        self.frame_every = _row(widgets.IntSlider, "frame every", value=config.frame_every, min=1, max=50)

        self.run_button = widgets.Button(description="Run", button_style="success", icon="play")
        self.stop_button = widgets.Button(
            description="Stop", button_style="danger", icon="stop", disabled=True
        )
        self.reset_button = widgets.Button(
            description="Reset", icon="undo", tooltip="restore the default controls"
        )
        self.run_button.add_class("nst-lab-run")
        self.stop_button.add_class("nst-lab-stop")
        self.reset_button.add_class("nst-lab-reset")
        self.progress = _row(widgets.IntProgress, "progress", value=0, min=0, max=config.total_steps)
        self.progress_label = widgets.Label(value="")
        self.progress_label.add_class("nst-lab-progress")
        self.status_html = widgets.HTML(value="")
        self.status_html.add_class("nst-lab-status")

        self.preview = widgets.Image(format="png", layout=widgets.Layout(width="320px"))
        self.preview.add_class("nst-lab-preview")
        # Hidden until the first plot: an empty Image shows as a broken-image icon in a browser.
        self.loss_plot = widgets.Image(format="png", layout=widgets.Layout(width="560px", display="none"))
        self.loss_plot.add_class("nst-lab-losses")

        self.play = widgets.Play(value=0, min=0, max=0, step=1, interval=200, description="play")
        self.frame_slider = widgets.IntSlider(value=0, min=0, max=0, description="frame", readout=False)
        widgets.jslink((self.play, "value"), (self.frame_slider, "value"))
        self.frame_label = widgets.Label(value="")
        self.frame_view = widgets.Image(format="png", layout=widgets.Layout(width="192px"))
        self.scrubber = widgets.VBox(
            [widgets.HBox([self.play, self.frame_slider, self.frame_label]), self.frame_view],
            layout=widgets.Layout(display="none"),
        )

        self.out_dir = _row(widgets.Text, "output folder", value=out_dir)
        self.save_png_button = widgets.Button(description="Save PNG", icon="save", disabled=True)
        self.save_gif_button = widgets.Button(description="Save GIF", icon="film", disabled=True)
        self.code_box = widgets.Textarea(value="", layout=widgets.Layout(width="100%", height="230px"))
        self.code_box.add_class("nst-lab-code")
        self.details = widgets.Output()

        layer_rows = [
            widgets.HBox([self.style_layer_on[l], self.style_layer_weight[l]]) for l in STYLE_LAYERS
        ]
        costs_box = widgets.VBox(
            [
                widgets.HTML(
                    "<b>Costs</b> J(G) = α J<sub>content</sub> + β Σ<sub>l</sub> λ<sub>l</sub> "
                    "J<sub>style</sub><sup>[l]</sup> + TV"
                ),
                self.alpha,
                self.beta,
                self.content_layer,
                self.tv_weight,
                widgets.HTML("style layers and their weights λ<sub>l</sub>"),
                *layer_rows,
            ]
        )
        run_box = widgets.VBox(
            [
                widgets.HTML("<b>Start and optimizer</b>"),
                self.init,
                self.noise_ratio,
                self.seed,
                self.optimizer,
                self.lr,
                self.steps,
                self.size,
                self.weights,
                self.pooling,
                self.precision,
                self.frame_every,
            ]
        )
        sources = widgets.HBox(
            [
                widgets.VBox([self.content, self.content_upload]),
                self.content_view,
                widgets.VBox([self.style, self.style_upload]),
                self.style_view,
            ]
        )
        code_panel = widgets.Accordion(children=[self.code_box, self.details])
        code_panel.set_title(0, "show as code")
        code_panel.set_title(1, "details (error tracebacks)")
        code_panel.selected_index = 0
        self.widget = widgets.VBox(
            [
                widgets.HTML("<h3 style='margin:4px 0'>nst_edu style lab</h3>"),
                sources,
                widgets.HBox(
                    [
                        self.preset,
                        widgets.HTML(
                            "loads a recipe into the controls: <i>fast</i> (L-BFGS from C in S's colours), "
                            "<i>gatys</i> (L-BFGS from white noise), <i>course</i> (Adam from C ± noise)"
                        ),
                    ]
                ),
                widgets.HBox([costs_box, run_box]),
                widgets.HBox([self.run_button, self.stop_button, self.reset_button]),
                widgets.HBox([self.progress, self.progress_label]),
                self.status_html,
                widgets.HBox([self.preview, self.loss_plot]),
                self.scrubber,
                widgets.HBox([self.out_dir, self.save_png_button, self.save_gif_button]),
                code_panel,
            ]
        )
        self.widget.add_class("nst-lab")

    def _controls(self) -> list[widgets.Widget]:
        return [
            self.alpha,
            self.beta,
            self.content_layer,
            self.tv_weight,
            *self.style_layer_on.values(),
            *self.style_layer_weight.values(),
            self.init,
            self.noise_ratio,
            self.seed,
            self.optimizer,
            self.lr,
            self.steps,
            self.size,
            self.weights,
            self.pooling,
            self.precision,
            self.frame_every,
            self.content,
            self.style,
        ]

    def _wire(self) -> None:
        self.run_button.on_click(self._on_run)
        self.stop_button.on_click(self._on_stop)
        self.reset_button.on_click(self._on_reset)
        self.save_png_button.on_click(lambda _: self._save("png"))
        self.save_gif_button.on_click(lambda _: self._save("gif"))
        self.content_upload.observe(lambda ch: self._on_upload("content", ch), names="value")
        self.style_upload.observe(lambda ch: self._on_upload("style", ch), names="value")
        self.content.observe(lambda _: self._show_sources(), names="value")
        self.style.observe(lambda _: self._show_sources(), names="value")
        self.optimizer.observe(self._on_optimizer, names="value")
        self.preset.observe(self._on_preset, names="value")
        self.frame_slider.observe(self._on_frame, names="value")
        for control in self._controls():
            control.observe(lambda _: self._refresh_code(), names="value")

    # ------------------------------------------------------------------ what tests and notebooks read

    def _repr_mimebundle_(self, **kwargs):
        bundle = self.widget._repr_mimebundle_(**kwargs)
        # What a reader without a live kernel sees (a static notebook): one line, not the widget tree.
        bundle["text/plain"] = (
            "StyleLab: the nst_edu style lab (open the notebook in Jupyter and run it to use it)"
        )
        return bundle

    @property
    def status(self) -> str:
        """The status line as plain text."""
        return self._status_text

    @property
    def code(self) -> str:
        """The Python code in the "show as code" box."""
        return self.code_box.value

    @property
    def running(self) -> bool:
        """True from Run until the result (or the error) is shown."""
        with self._lock:
            return self._busy

    @property
    def result(self):
        """The ``transfer.Result`` of the last run (a stopped or non-finite run keeps its partial result)."""
        with self._lock:
            return self._result

    @property
    def history(self):
        """The live history during a run, the last result's afterwards."""
        with self._lock:
            if self._result is not None:
                return self._result.history
            return self._live_history

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until the run and its last loss plot are done (``True``) or ``timeout`` s pass (``False``)."""
        start = time.perf_counter()
        if not self._runner.wait(timeout):
            return False
        plotter = self._plotter
        if plotter is None:
            return True
        left = None if timeout is None else max(0.0, timeout - (time.perf_counter() - start))
        return plotter.join(left)

    def config(self) -> Config:
        """The Config the controls describe (raises ``ValueError`` with a sentence saying what to change)."""
        layers = tuple(
            (layer, float(self.style_layer_weight[layer].value))
            for layer in STYLE_LAYERS
            if self.style_layer_on[layer].value
        )
        if not layers:
            raise ValueError("no style layer is switched on; tick at least one of " + ", ".join(STYLE_LAYERS))
        size = int(self.size.value)
        if size > MAX_SIZE:
            raise ValueError(
                f"size {size} px is too large for the lab (at most {MAX_SIZE} px: larger images take "
                f"minutes per step on a CPU); choose a smaller size"
            )
        # Each control's value, as the type of the field it sets (sliders give floats, text boxes ints).
        values = {name: type(getattr(self._base, name))(getattr(self, name).value) for name in CONTROL_FIELDS}
        return self._base.replace(**values, style_layers=layers)

    # ------------------------------------------------------------------ sources

    def _source(self, which: str):
        """(what transfer.run gets, name for code, note for code) of the content or style control."""
        key = getattr(self, which).value
        if key.startswith(_UPLOAD_PREFIX):
            name, image = self._uploads[which][key]
            return image, name, f"{which}: {name!r} is the file you uploaded; put it next to this code"
        return key, key, ""

    def _show_sources(self) -> None:
        for which, view in (("content", self.content_view), ("style", self.style_view)):
            try:
                source = self._source(which)[0]
                view.value = lab_runner.png_bytes(images.load_image(source, size=THUMB_SIZE))
            except Exception as exc:  # noqa: BLE001 - shown, not raised: this runs inside a widget callback
                self._set_status(f"cannot show the {which} image: {exc}", "error")
        if not self.running and self.result is None:
            self.preview.value = self.content_view.value

    def _on_upload(self, which: str, change) -> None:
        files = change["new"]
        if not files:
            return
        upload = files[0]
        name = str(upload.get("name") or "upload")
        try:
            pil = PIL.Image.open(io.BytesIO(bytes(upload["content"])))
            image = images.load_image(pil)  # (1, 3, H, W)
        except PIL.UnidentifiedImageError:
            reason = "PIL does not recognize its format"
        except Exception as exc:  # noqa: BLE001 - PIL raises several kinds; all mean "not an image"
            reason = _OBJECT_REPR.sub("the file", str(exc).split("\n")[0]) or type(exc).__name__
        else:
            reason = None
        if reason is not None:
            self._set_status(
                f"The uploaded file {name!r} is not an image PIL can read ({reason}); upload a PNG, "
                f"JPEG or WebP file. The {which} image is unchanged.",
                "error",
            )
            return
        key = _UPLOAD_PREFIX + name
        self._uploads[which][key] = (name, image)
        dropdown = getattr(self, which)
        names = samples.content_samples() if which == "content" else samples.style_samples()
        dropdown.options = list(names) + list(self._uploads[which])
        dropdown.value = key
        _, _, H, W = image.shape
        self._set_status(f"Uploaded {name} ({W}×{H} px) as the {which} image.", "ok")

    # ------------------------------------------------------------------ run, stop, reset

    def _on_run(self, _button=None) -> None:
        with self._lock:
            busy, self._busy = self._busy, True  # check and claim in one step: two clicks cannot both start
        if busy:
            self._set_status(
                f"A run is already going (step {self._last_step}/{self.progress.max}): press Stop "
                f"first, or wait for it to finish. This Run was ignored.",
                "warn",
            )
            return
        try:
            config = self.config()  # a frozen dataclass: changing a control during the run cannot reach it
            content, content_name, content_note = self._source("content")
            style, style_name, style_note = self._source("style")
        except ValueError as exc:
            with self._lock:
                self._busy = False
            self._set_status(f"Cannot run: {exc}.", "error")
            return
        code = lab_runner.code_for(
            content_name, style_name, config, content_note, style_note, preset=self.preset.value
        )
        with self._lock:
            self._run_config = config
            self._result = self._live_history = None
            self._last_step = 0
            self._save_name = None
            self._stem = f"{Path(content_name).stem}-{Path(style_name).stem}"
        self.save_png_button.disabled = self.save_gif_button.disabled = True
        self.loss_plot.remove_class("nst-lab-final")
        self.code_box.value = code
        self._preview_throttle.reset()
        self._progress_throttle.reset()
        with self._lock:
            self._run_id += 1
            run_id = self._run_id
        self._plotter = lab_runner.LatestDrawer(
            lambda state: self._draw_plot(run_id, *state), PLOT_INTERVAL_S, on_error=self._show_exception
        )
        self.progress.max = config.total_steps
        self.progress.value = 0
        self.progress_label.value = f"step 0/{config.total_steps}"
        self.run_button.disabled = True
        self.stop_button.disabled = False
        self._set_status(
            f"Running {config.total_steps} steps at {config.size} px: loading images and "
            f"VGG-19 ({config.weights})…",
            "info",
        )
        try:
            # The last run's worker may still be in its final lines (after it released _busy): let it end.
            self._runner.wait(timeout=10)
            self._runner.start(content, style, config, on_step=self._on_step, on_done=self._on_done)
        except Exception as exc:  # noqa: BLE001 - e.g. no thread could be started: say so, unlock Run
            with self._lock:
                self._busy = False
            self._plotter.finish()
            self.run_button.disabled, self.stop_button.disabled = False, True
            self._set_status(f"Could not start the run: {exc}.", "error")

    def _on_stop(self, _button=None) -> None:
        if self._runner.stop():
            self._set_status("Stopping: the current step finishes first…", "info")
        else:
            self._set_status("Nothing is running.", "info")

    def _on_reset(self, _button=None) -> None:
        content, style, preset, config, out_dir = self._defaults
        self.content.value, self.style.value = content, style
        self._set_preset(preset, config)
        self.out_dir.value = out_dir
        note = " (the run in progress keeps its own settings)" if self.running else ""
        self._set_status(f"Controls reset to the defaults{note}.", "info")

    def _on_preset(self, change) -> None:
        if self._loading:
            return
        config = LAB_PRESETS[change["new"]]
        self._load(config)
        note = " (the run in progress keeps its own settings)" if self.running else ""
        self._set_status(
            f"Loaded the {change['new']} preset: {config.optimizer}, start {config.init}, "
            f"β = {config.beta:g}, {config.steps} steps at {config.size} px{note}.",
            "info",
        )

    def _set_preset(self, name: str, config: Config) -> None:
        """Show ``name`` in the selector and load ``config`` into the controls."""
        self._loading = True
        try:
            self.preset.value = name
        finally:
            self._loading = False
        self._load(config)

    def _load(self, config: Config) -> None:
        """Set every control to ``config``'s value; the fields without a control come from ``config`` too."""
        self._base = config
        self.optimizer.value = config.optimizer  # before lr: changing the optimizer sets its default lr
        weights = dict(config.style_layers)
        for layer in STYLE_LAYERS:
            self.style_layer_on[layer].value = layer in weights
            self.style_layer_weight[layer].value = weights.get(layer, 0.2)
        for name in CONTROL_FIELDS:
            if name != "optimizer":
                getattr(self, name).value = getattr(config, name)
        self._refresh_code()

    def _on_optimizer(self, change) -> None:
        self.lr.value = DEFAULT_LR[change["new"]]

    # ------------------------------------------------------------------ called in the worker thread

    def _on_step(self, info) -> None:
        last = info.step == info.total_steps
        with self._lock:
            self._live_history = info.history
            self._last_step = info.step
            config = self._run_config
        if self._progress_throttle.due(force=last):
            rate = info.step / max(info.seconds, 1e-9)
            self.progress.value = info.step
            self.progress_label.value = f"step {info.step}/{info.total_steps} · {rate:.1f} steps/s"
            if info.step == 1:
                self._set_status(f"Running {info.total_steps} steps at {config.size} px…", "info")
        if self._preview_throttle.due(force=info.step == 1):
            # ~10 ms at 160 px: done here, in the worker
            self.preview.value = lab_runner.png_bytes(info.image)
        # The plot takes 0.1-1 s to draw: its own thread draws the newest rows, the run does not wait for it.
        if len(info.history.rows) >= 2:  # a curve needs two points
            self._plotter.post((list(info.history.rows), info.history.style_layers, config, False))

    def _on_done(self, result, error) -> None:
        with self._lock:
            # This run's: a new Run (possible once _busy is False, below) replaces them.
            config, steps_done, plotter = self._run_config, self._last_step, self._plotter
            self._result = result
        try:
            self._set_status(*self._done_message(result, error, config, steps_done))
            if error is not None and not isinstance(error, _EXPECTED_ERRORS):
                self._show_exception(error)
            if result is not None:
                self.progress.value = min(steps_done, self.progress.max)
                rate = steps_done / max(result.seconds, 1e-9)
                self.progress_label.value = (
                    f"step {steps_done}/{config.total_steps} · {rate:.1f} steps/s · {result.precision}"
                )
                self.preview.value = lab_runner.png_bytes(result.image)
                self._show_frames(result.frames)
        finally:  # whatever failed above (it is reported by the runner), the lab must be usable again
            self.save_png_button.disabled = self.save_gif_button.disabled = result is None
            with self._lock:
                self._busy = False
            self.stop_button.disabled = True
            self.run_button.disabled = False
            # Last: the final loss plot, drawn by the plot thread (``wait()`` waits for it).
            final = (
                (list(result.history.rows), result.history.style_layers, config, True)
                if result is not None and result.history.rows
                else None
            )
            plotter.finish(final)
            self._refresh_code()

    def _done_message(self, result, error, config, steps_done: int) -> tuple[str, str]:
        if isinstance(error, NonFiniteCostError):
            message = (
                f"The run stopped: {error}. The last good image is kept; lower the learning rate or β "
                f"and run again."
            )
            return message, "error"
        if isinstance(error, MemoryError):
            return f"Out of memory at {config.size} px; choose a smaller size.", "error"
        if error is not None:
            kind = "" if isinstance(error, ValueError) else f"{type(error).__name__}: "
            return f"The run failed: {kind}{error}", "error"
        # "≈": the last digits of J depend on the CPU (the lessons' sanitizer masks what follows it).
        J = f" J ≈ {result.history.rows[-1]['total']:.3g}." if result.history.rows else ""
        if result.stopped:
            message = (
                f"Stopped after step {steps_done} of {config.total_steps} in {result.seconds:.1f} s; "
                f"the partial result is kept.{J}"
            )
            return message, "warn"
        return f"Done: {config.total_steps} steps in {result.seconds:.1f} s.{J}", "ok"

    # ------------------------------------------------------------------ outputs

    def _draw_plot(self, run_id: int, rows, style_layers, config, final: bool) -> None:
        """Runs in the plot thread: the loss curves of ``rows`` as a PNG in ``loss_plot``.

        The final plot of a run gets the CSS class ``nst-lab-final`` (a browser test waits for it)."""
        history = History(style_layers, rows)
        fig = plots.loss_curves(history, per_layer=True, config=config)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=55)
        with self._lock:
            current = run_id == self._run_id  # a plot of an older run must not cover the new one
        if current:
            self.loss_plot.value = buf.getvalue()
            self.loss_plot.layout.display = None
            if final:
                self.loss_plot.add_class("nst-lab-final")

    def _show_frames(self, frames) -> None:
        with self._lock:
            self._frames, self._frame_pngs = list(frames), {}
        last = max(len(frames) - 1, 0)
        self.frame_slider.value = self.play.value = 0
        self.frame_slider.max = self.play.max = last
        self.frame_slider.value = last
        self._on_frame({"new": self.frame_slider.value})
        self.scrubber.layout.display = "flex" if frames else "none"

    def _on_frame(self, change) -> None:
        i = change["new"]
        with self._lock:
            frames, pngs = self._frames, self._frame_pngs
        if 0 <= i < len(frames):
            if i not in pngs:
                pngs[i] = lab_runner.png_bytes(frames[i][1])
            self.frame_view.value = pngs[i]
            self.frame_label.value = f"step {frames[i][0]} ({i + 1}/{len(frames)})"

    def _save(self, what: str) -> None:
        result = self.result
        if result is None:
            self._set_status("Nothing to save yet: press Run first.", "warn")
            return
        folder = self.out_dir.value.strip() or "."
        try:
            with self._lock:
                if self._save_name is None or self._save_name[0] != folder:
                    out = Path(folder).expanduser()
                    name = lab_runner.free_stem(out, self._stem) if out.is_dir() else f"{self._stem}-001"
                    self._save_name = (folder, name)
                name = self._save_name[1]
            path = lab_runner.save_result(result, folder, name, what)
        except (OSError, ValueError) as exc:
            self._set_status(f"Could not save the {what.upper()}: {exc}.", "error")
            return
        self._set_status(f"Saved {path.resolve()}.", "ok")

    def _refresh_code(self) -> None:
        if self.running:
            return  # while running, the box shows the run in progress
        try:
            config = self.config()
            _, content_name, content_note = self._source("content")
            _, style_name, style_note = self._source("style")
        except ValueError as exc:
            self.code_box.value = f"# the controls do not describe a valid run yet: {exc}"
            return
        self.code_box.value = lab_runner.code_for(
            content_name, style_name, config, content_note, style_note, preset=self.preset.value
        )

    def _set_status(self, text: str, level: str = "info") -> None:
        self._status_text = text
        color = _STATUS_COLORS[level]
        self.status_html.value = (
            f"<div class='nst-lab-status-{level}' style='color:{color}'>{html.escape(text)}</div>"
        )

    def _show_exception(self, exc: BaseException) -> None:
        text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        self.details.append_stderr(text)
        if not self._status_text.startswith("The run failed"):
            self._set_status(
                f"Something went wrong in the lab ({type(exc).__name__}: {exc}); see 'details'.", "error"
            )


def _row(cls, description: str, **kwargs):
    """A control with its label, one per row, wide enough for a readable slider."""
    return cls(
        description=description,
        style={"description_width": "120px"},
        layout=widgets.Layout(width="400px"),
        **kwargs,
    )
