"""The widget lab: change α, β, layers, λ_l, the start image, the optimizer, the colours and a second style, and
watch G being painted.

What it is: ``StyleLab``, an ipywidgets view. A preset selector (course / gatys / fast) loads a recipe into
the controls; the controls describe a ``Config`` (``lab.config()``); Run freezes that Config and hands it to
``lab.runner`` (a ``lab_runner.LabRunner``), which calls the same ``transfer.run`` as everything else in a worker
thread. While it runs the lab shows the current image G (at most every ``PREVIEW_INTERVAL_S``), the loss curves
(at most every ``PLOT_INTERVAL_S``), a progress bar with steps per second; afterwards a frame scrubber, buttons
that save the PNG and the GIF, and the Python code that reproduces the run. Every error (an unreadable upload,
a too large size, a NaN cost) becomes a sentence in the lab's status line.

What it is not: no optimization logic (``transfer.py``), no run bookkeeping, threads or save names
(``lab_runner.py``), no image decoding (``images.load_image`` reads uploads too), no costs.

The controls are a table, ``CONTROLS``: one row per ``Config`` field (panel, widget class, label, options). A new
knob is one more row; its value comes from the preset, and ``config()`` and "show as code" pick it up. A control
that is switched off (``disabled``: the style mix and the regions without a second style) leaves its field to
the preset. The second style S₂, its share w (``style_weights = (1 − w, w)``) and the regions
(``lab_runner.MASK_CHOICES``) are no ``Config`` fields: ``run_arguments()`` gathers them with the config into what
Run passes to ``transfer.run``.

Use: ``from nst_edu.teaching.widgets import StyleLab; lab = StyleLab(); lab`` in a notebook, or drive it from Python:
``lab.preset.value = "gatys"; lab.beta.value = 1e-2; lab.run_button.click(); lab.wait(); lab.result``.
"""

from __future__ import annotations

import html
import io
import time
import traceback
from typing import NamedTuple

import ipywidgets as widgets

from ..core import images, noise, samples, vgg
from ..core.config import COLOURS, PRECISIONS, STYLE_MIXES, Config, preset
from ..core.transfer import History
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
    # Below its coarse size (512 px) hires is fast with its coarse steps at full size; raise the size to see
    # the coarse stage (minutes on a CPU).
    "hires": preset("hires", size=LAB_SIZE, steps=10, frame_every=5),
}
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
COLOUR_LABELS = {
    "style": "the style's colours",
    "luminance": "C's colours: luminance only",
    "histogram": "C's colours: S recoloured",
    "keep-colours": "C's colours put back after",
}
MIX_LABELS = {
    "sum": "sum: Σ w_s J_style(S_s)",
    "blend": "blend the Gram matrices",
    "scale": "S fine, S₂ coarse layers",
}
NO_STYLE = ""  # the second style's value for "none"


class Control(NamedTuple):
    """One control of a Config field: the panel it sits in, its widget class, its label, the class's options."""

    panel: str
    cls: type
    label: str
    options: dict


_LOG = {"base": 10, "step": 0.25, "readout_format": ".3g"}  # a FloatLogSlider over powers of ten
_UNIT = {"min": 0, "max": 1, "step": 0.05, "readout_format": ".2f"}
# Config fields shown by one control each, in panel order; the value comes from the preset (style_layers has
# rows of its own; fields without a row come from the preset too). The widget is ``lab.<field>``.
CONTROLS: dict[str, Control] = {
    "alpha": Control("costs", widgets.FloatLogSlider, "α (content)", {**_LOG, "min": -3, "max": 3}),
    # β: about 1–100 on the paper's normalised network (gatys, fast); far smaller on the plain one (course).
    "beta": Control("costs", widgets.FloatLogSlider, "β (style)", {**_LOG, "min": -6, "max": 3}),
    "style_strength": Control("costs", widgets.FloatText, "style strength (0: β)", {}),
    "content_layer": Control("costs", widgets.Dropdown, "content layer", {"options": list(CONTENT_LAYERS)}),
    "tv_weight": Control("costs", widgets.FloatText, "TV weight", {}),
    "init": Control(
        "run", widgets.Dropdown, "start G0", {"options": [(INIT_LABELS.get(k, k), k) for k in noise.KINDS]}
    ),
    "noise_ratio": Control("run", widgets.FloatSlider, "noise ratio r", _UNIT),
    "seed": Control("run", widgets.IntText, "seed", {}),
    "optimizer": Control(
        "run", widgets.Dropdown, "optimizer", {"options": [("L-BFGS", "lbfgs"), ("Adam", "adam")]}
    ),
    "lr": Control("run", widgets.FloatLogSlider, "learning rate", {**_LOG, "min": -4, "max": 1}),
    "steps": Control("run", widgets.IntSlider, "steps", {"min": 1, "max": 500}),
    "size": Control("run", widgets.IntText, "size (px)", {}),
    "weights": Control("run", widgets.Dropdown, "VGG weights", {"options": list(vgg.WEIGHT_SOURCES)}),
    "pooling": Control("run", widgets.Dropdown, "pooling", {"options": list(vgg.POOLINGS)}),
    "normalized": Control("run", widgets.Checkbox, "paper's normalised VGG", {"indent": False}),
    "precision": Control(
        "run", widgets.Dropdown, "precision", {"options": [(PRECISION_LABELS[p], p) for p in PRECISIONS]}
    ),
    "frame_every": Control("run", widgets.IntSlider, "frame every", {"min": 1, "max": 50}),
    "colour": Control(
        "styles", widgets.Dropdown, "colours", {"options": [(COLOUR_LABELS[c], c) for c in COLOURS]}
    ),
    "style_mix": Control(
        "styles", widgets.Dropdown, "mix S and S₂", {"options": [(MIX_LABELS[m], m) for m in STYLE_MIXES]}
    ),
    # style_mix "scale": the style layers before this one take S, the others S₂ (relu1_1 would leave S none).
    "scale_split": Control("styles", widgets.Dropdown, "S₂ from layer", {"options": list(STYLE_LAYERS[1:])}),
}
CONTROL_FIELDS = tuple(CONTROLS)
# Each panel's heading; the costs panel ends with the style-layer rows.
PANELS = {
    "costs": "<b>Costs</b> J(G) = α J<sub>content</sub> + β Σ<sub>l</sub> λ<sub>l</sub> "
    "J<sub>style</sub><sup>[l]</sup> + TV",
    "run": "<b>Start and optimizer</b>",
    "styles": "<b>Colours and a second style S₂</b> style_weights = (1 − w, w)",
}
_STATUS_COLORS = {"info": "#444", "ok": "#176b2c", "warn": "#9a5b00", "error": "#b00020"}
_UPLOAD_PREFIX = "upload: "
_REFUSED = "These settings cannot run: "
_CANNOT_RUN = "Cannot run: "
_SOURCE_NAMES = {"content": "content", "style": "style", "style2": "style 2"}  # in the notes of the code


_DEFAULT = Config()  # the type of each field's value (beta is a float there)
BETA_SHOWN = 10.0  # the β slider's position while β comes from the style strength


def _shown(config: Config, name: str):
    """What a field's control shows: the strength box is 0 when β is a number; the β slider shows BETA_SHOWN
    while β comes from the strength (Config.beta None)."""
    if name == "beta":
        return BETA_SHOWN if config.beta is None else config.beta
    if name == "style_strength":
        return config.style_strength if config.beta is None else 0.0
    return getattr(config, name)


def _describe_beta(config: Config) -> str:
    return f"style strength {config.style_strength:g}" if config.beta is None else f"β = {config.beta:g}"


class StyleLab:
    """The lab. Controls are attributes (``preset``, one per ``CONTROL_FIELDS`` — ``alpha``, ``beta``,
    ``content_layer``, ``tv_weight``, ``init``, ``noise_ratio``, ``seed``, ``optimizer``, ``lr``, ``steps``,
    ``size``, ``weights``, ``pooling``, ``precision``, ``frame_every``, ``colour``, ``style_mix``,
    ``scale_split`` —, ``style_layer_on[l]``, ``style_layer_weight[l]``, ``content``, ``style``, ``style2`` (the
    second style, ``NO_STYLE`` for none), ``style_blend`` (w), ``mask`` (a ``lab_runner.MASK_CHOICES`` key, ""
    for none), ``content_upload``, ``style_upload``, ``style2_upload``, ``out_dir``); so are
    the buttons (``run_button``, ``stop_button``, ``reset_button``, ``save_png_button``, ``save_gif_button``),
    the outputs (``preview``, ``loss_plot``, ``progress``, ``progress_label``, ``status_html``, ``code_box``,
    ``play``, ``frame_slider``, ``frame_view``) and ``runner``, the headless ``lab_runner.LabRunner``.

    ``preset`` names the recipe the controls start from (``LAB_PRESETS``); ``config``, if given, replaces its
    values. Fields without a control (``channels_last``, ``history_size``, ``precondition``, …) come from
    the selected preset (or ``config``), and "show as code" writes the run as that preset plus the changes.
    ``style2`` names a second style sample (none by default); the share w, the mix and the regions are switched
    off without one.
    """

    def __init__(
        self,
        content: str = "chelsea",
        style: str = "swirls",
        preset: str = DEFAULT_PRESET,
        config: Config | None = None,
        out_dir: str = "nst-lab-out",
        style2: str = NO_STYLE,
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
        if style2 != NO_STYLE and style2 not in samples.style_samples():
            raise ValueError(
                f"style2 must be one of the style samples ({', '.join(samples.style_samples())}) or "
                f"{NO_STYLE!r} for none, got {style2!r}; upload other images in the lab"
            )
        unknown = [name for name, _ in config.style_layers if name not in STYLE_LAYERS]
        if unknown:
            raise ValueError(
                f"the lab has style-layer controls for {', '.join(STYLE_LAYERS)} only; "
                f"the config names {', '.join(unknown)}"
            )
        if config.content_layer not in CONTENT_LAYERS:
            raise ValueError(f"content layer {config.content_layer!r} is not a conv/relu layer")
        if config.scale_split not in CONTROLS["scale_split"].options["options"]:
            raise ValueError(
                f"the lab splits the styles at one of {', '.join(STYLE_LAYERS[1:])}; "
                f"the config's scale_split is {config.scale_split!r}"
            )
        self.runner = lab_runner.LabRunner(on_view_error=self._show_exception)
        self._defaults = (content, style, style2, preset, config, out_dir)
        # The preset (or config) the controls were loaded from: it holds the fields they do not show.
        self._base = config
        self._loading = False  # True while _set_preset moves the selector (its observer must not load)
        self._setting_beta = False  # True while _load sets the β slider (which is then not the user's choice)
        self._quiet = False  # True while an upload refills the lists (the views are not updated meanwhile)
        self._uploads: dict[str, dict[str, tuple[str, object]]] = {"content": {}, "style": {}}
        # The frames the scrubber shows, (step, uint8 (H, W, 3)), and their PNGs, encoded on first view;
        # replaced as one tuple by the worker, read by the kernel thread.
        self._shown_frames: tuple[list, dict[int, bytes]] = ([], {})
        self._status_text = ""
        self._preview_throttle = lab_runner.Throttle(PREVIEW_INTERVAL_S)
        self._progress_throttle = lab_runner.Throttle(PROGRESS_INTERVAL_S)
        self._plotter: lab_runner.LatestDrawer | None = None  # draws the loss curves of the current run
        self._build(content, style, style2, preset, config, out_dir)
        self._update_enabled()
        self._wire()
        self._show_sources()
        self._refresh_code()
        self._set_status("Ready: choose images and settings, then press Run.", "info")

    # ------------------------------------------------------------------ building the view

    def _build(self, content, style, style2, preset: str, config: Config, out_dir: str) -> None:
        self.preset = _row(widgets.Dropdown, "preset", options=list(LAB_PRESETS), value=preset)
        self.preset.add_class("nst-lab-preset")
        self.content = _row(
            widgets.Dropdown, "content C", options=list(samples.content_samples()), value=content
        )
        self.style = _row(widgets.Dropdown, "style S", options=list(samples.style_samples()), value=style)
        self.style2 = _row(widgets.Dropdown, "second style S₂", options=self._style2_options(), value=style2)
        self.style2.add_class("nst-lab-style2")
        self.content_upload = widgets.FileUpload(accept="image/*", multiple=False, description="upload C")
        self.style_upload = widgets.FileUpload(accept="image/*", multiple=False, description="upload S")
        self.style2_upload = widgets.FileUpload(accept="image/*", multiple=False, description="upload S₂")
        self.content_view = widgets.Image(format="png", layout=widgets.Layout(width="96px"))
        self.style_view = widgets.Image(format="png", layout=widgets.Layout(width="96px"))
        self.style2_view = widgets.Image(format="png", layout=widgets.Layout(width="96px"))

        panels: dict[str, list[widgets.Widget]] = {
            name: [widgets.HTML(text)] for name, text in PANELS.items()
        }
        for name, spec in CONTROLS.items():
            control = _row(spec.cls, spec.label, value=_shown(config, name), **spec.options)
            control.add_class(f"nst-lab-{name.replace('_', '-')}")  # e.g. nst-lab-steps, for the browser test
            setattr(self, name, control)
            panels[spec.panel].append(control)
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
                description="λ",
                style={"description_width": "16px"},
                **_UNIT,
            )
            for layer in STYLE_LAYERS
        }
        panels["costs"] += [
            widgets.HTML("style layers and their weights λ<sub>l</sub>"),
            *(widgets.HBox([self.style_layer_on[l], self.style_layer_weight[l]]) for l in STYLE_LAYERS),
        ]
        # S₂'s share w, before the mix; the regions after the split layer (each needs a second style).
        self.style_blend = _row(widgets.FloatSlider, "S₂ share w", value=_share(config, 0.5), **_UNIT)
        self.style_blend.add_class("nst-lab-style-blend")
        mask_options = [
            ("none", ""),
            *((choice.label, key) for key, choice in lab_runner.MASK_CHOICES.items()),
        ]
        self.mask = _row(widgets.Dropdown, "regions", options=mask_options, value="")
        self.mask.add_class("nst-lab-mask")
        rows = panels["styles"]
        rows.insert(rows.index(self.style_mix), self.style_blend)
        rows.insert(rows.index(self.scale_split) + 1, self.mask)

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

        sources = widgets.HBox(
            [
                widgets.VBox([self.content, self.content_upload]),
                self.content_view,
                widgets.VBox([self.style, self.style_upload]),
                self.style_view,
                widgets.VBox([self.style2, self.style2_upload]),
                self.style2_view,
            ],
            layout=widgets.Layout(flex_flow="row wrap"),
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
                widgets.HBox(
                    [widgets.VBox(rows) for rows in panels.values()],
                    layout=widgets.Layout(flex_flow="row wrap"),
                ),
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

    def _wire(self) -> None:
        self.run_button.on_click(self._on_run)
        self.stop_button.on_click(self._on_stop)
        self.reset_button.on_click(self._on_reset)
        self.save_png_button.on_click(lambda _: self._save("png"))
        self.save_gif_button.on_click(lambda _: self._save("gif"))
        for which in ("content", "style", "style2"):
            upload = getattr(self, f"{which}_upload")
            upload.observe(lambda ch, which=which: self._on_upload(which, ch), names="value")
            getattr(self, which).observe(lambda _: self._show_sources(), names="value")
        # Before the code box's observers: the code must not read a control that is about to be switched off.
        for control in (self.style2, self.style_mix, self.mask):
            control.observe(self._on_styles, names="value")
        self.optimizer.observe(self._on_optimizer, names="value")
        self.beta.observe(self._on_beta, names="value")
        self.preset.observe(self._on_preset, names="value")
        self.frame_slider.observe(self._on_frame, names="value")
        code_inputs = [
            *(getattr(self, name) for name in CONTROL_FIELDS),
            *self.style_layer_on.values(),
            *self.style_layer_weight.values(),
            self.content,
            self.style,
            self.style2,
            self.style_blend,
            self.mask,
        ]
        for control in code_inputs:
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
        return self.runner.running

    @property
    def result(self):
        """The ``transfer.Result`` of the last run (a stopped or non-finite run keeps its partial result)."""
        return self.runner.result

    @property
    def history(self):
        """The live history during a run, the last result's afterwards."""
        return self.runner.history

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until the run and its last loss plot are done (``True``) or ``timeout`` s pass (``False``)."""
        start = time.perf_counter()
        if not self.runner.wait(timeout):
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
        # Each control's value, as the type of the field it sets (sliders give floats, text boxes ints); a
        # switched-off control leaves its field to the preset.
        values = {
            name: type(getattr(_DEFAULT, name))(getattr(self, name).value)
            for name in CONTROL_FIELDS
            if not getattr(self, name).disabled
        }
        if values.get("style_strength", 0) > 0:  # a strength: β chosen for the pair (Config.beta None)
            values["beta"] = None
        else:  # 0 in the box: the β slider's number, and the preset's strength kept for later
            values.pop("style_strength", None)
        if self.style2.value != NO_STYLE:
            w = round(float(self.style_blend.value), 6)
            shares = (round(1.0 - w, 6), w)  # (w_S, w_S₂)
        else:
            shares = self._base.style_weights if len(self._base.style_weights) == 1 else ()
        return self._base.replace(**values, style_layers=layers, style_weights=shares)

    def run_arguments(self) -> lab_runner.RunArguments:
        """What Run passes to ``transfer.run``: content, style (or [S, S₂]), ``config()`` and the masks.

        Raises ``ValueError`` with a sentence saying what to change, also for what ``transfer.run`` would
        refuse (e.g. regions with a style mix other than "sum")."""
        config = self.config()
        which = ["content", "style"] + (["style2"] if self.style2.value != NO_STYLE else [])
        sources, names, notes = zip(*(self._source(w) for w in which))
        mask = "" if self.mask.disabled else self.mask.value
        return lab_runner.RunArguments.build(sources[0], sources[1:], config, names, notes, mask)

    # ------------------------------------------------------------------ sources

    def _source(self, which: str):
        """(what transfer.run gets, name for code, note for code) of the content, style or style2 control."""
        key = getattr(self, which).value
        if key.startswith(_UPLOAD_PREFIX):
            name, image = self._uploads[_pool(which)][key]
            return (
                image,
                name,
                f"{_SOURCE_NAMES[which]}: {name!r} is the file you uploaded; put it next to this code",
            )
        return key, key, ""

    def _style2_options(self) -> list[tuple[str, str]]:
        return [("none", NO_STYLE), *((name, name) for name in samples.style_samples())] + [
            (key, key) for key in self._uploads["style"]
        ]

    def _show_sources(self) -> None:
        if self._quiet:
            return
        has_style2 = self.style2.value != NO_STYLE
        self.style2_view.layout.display = None if has_style2 else "none"
        views = [("content", self.content_view), ("style", self.style_view)]
        for which, view in views + ([("style2", self.style2_view)] if has_style2 else []):
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
            image = images.load_image(upload["content"])  # the file's bytes -> (1, 3, H, W)
        except images.ImageError as exc:
            self._set_status(
                f"The uploaded file {name!r} was not used: {exc}. The {which} image is unchanged.", "error"
            )
            return
        key = _UPLOAD_PREFIX + name
        self._uploads[_pool(which)][key] = (name, image)
        # An uploaded style is offered in both style lists; each list keeps its choice, this one takes the file.
        # New options reset a list's value: the views wait until the choices are back.
        self._quiet = True
        try:
            if which == "content":
                self.content.options = list(samples.content_samples()) + list(self._uploads["content"])
            else:
                chosen = self.style.value, self.style2.value
                self.style.options = list(samples.style_samples()) + list(self._uploads["style"])
                self.style2.options = self._style2_options()
                self.style.value, self.style2.value = chosen
        finally:
            self._quiet = False
        getattr(self, which).value = key
        _, _, H, W = image.shape
        self._set_status(f"Uploaded {name} ({W}×{H} px) as the {_SOURCE_NAMES[which]} image.", "ok")

    # ------------------------------------------------------------------ run, stop, reset

    def _on_run(self, _button=None) -> None:
        try:
            run_id = self.runner.claim()  # atomic: two clicks cannot both start
        except lab_runner.AlreadyRunningError as exc:
            self._set_status(str(exc), "warn")
            return
        try:
            args = self.run_arguments()  # a frozen config: changing a control during the run cannot reach it
        except ValueError as exc:
            self.runner.release(run_id)
            self._set_status(f"{_CANNOT_RUN}{exc}.", "error")
            return
        config = args.config
        self.save_png_button.disabled = self.save_gif_button.disabled = True
        self.loss_plot.remove_class("nst-lab-final")
        self.code_box.value = args.code(preset=self.preset.value)
        self._preview_throttle.reset()
        self._progress_throttle.reset()
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
            self.runner.start(
                args.content,
                args.style,
                config,
                args.names,
                on_step=self._on_step,  # looked up now: a test may wrap it
                on_done=lambda result, error: self._on_done(run_id, result, error),
                masks=args.masks,
            )
        except Exception as exc:  # noqa: BLE001 - e.g. no thread could be started: say so, unlock Run
            self._plotter.finish()
            self.run_button.disabled, self.stop_button.disabled = False, True
            self._set_status(f"Could not start the run: {exc}.", "error")

    def _on_stop(self, _button=None) -> None:
        if self.runner.stop():
            self._set_status("Stopping: the current step finishes first…", "info")
        else:
            self._set_status("Nothing is running.", "info")

    def _on_reset(self, _button=None) -> None:
        content, style, style2, preset, config, out_dir = self._defaults
        self.content.value, self.style.value, self.style2.value = content, style, style2
        self.style_blend.value, self.mask.value = _share(config, 0.5), ""
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
            f"{_describe_beta(config)}, {config.steps} steps at {config.size} px{note}.",
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
        self._setting_beta = True
        try:
            for name in CONTROL_FIELDS:
                if name != "optimizer":
                    getattr(self, name).value = _shown(config, name)
        finally:
            self._setting_beta = False
        self.style_blend.value = _share(config, self.style_blend.value)
        self._refresh_code()

    def _on_beta(self, change) -> None:
        """Moving the β slider asks for that β: the strength box goes to 0 (β no longer from the strength)."""
        if not self._setting_beta:
            self.style_strength.value = 0.0

    def _on_optimizer(self, change) -> None:
        self.lr.value = DEFAULT_LR[change["new"]]

    def _update_enabled(self) -> None:
        """Switch the share, the mix and the regions on with a second style; the split layer with mix "scale"."""
        two = self.style2.value != NO_STYLE
        for control in (self.style_blend, self.style_mix, self.mask):
            control.disabled = not two
        self.scale_split.disabled = not (two and self.style_mix.value == "scale")

    def _on_styles(self, _change) -> None:
        if self._quiet:
            return
        self._update_enabled()
        try:
            self.run_arguments()
        except ValueError as exc:  # e.g. regions with the mix "blend": say so now, not only at Run
            self._set_status(f"{_REFUSED}{exc}.", "warn")
            return
        if self._status_text.startswith((_REFUSED, _CANNOT_RUN)):  # outdated: the controls describe a run now
            self._set_status("The styles and regions go together now: press Run.", "info")

    # ------------------------------------------------------------------ called in the worker thread

    def _on_step(self, info) -> None:
        config = self.runner.config
        if self._progress_throttle.due(force=info.step == info.total_steps):
            rate = info.step / max(info.seconds, 1e-9)
            self.progress.value = info.step
            self.progress_label.value = f"step {info.step}/{info.total_steps} · {rate:.1f} steps/s"
            if info.step == 1:
                self._set_status(f"Running {info.total_steps} steps at {config.size} px…", "info")
        if self._preview_throttle.due(force=info.step == 1):
            # G in the colours the result will have (C's put back for luminance and keep-colours);
            # ~10 ms at 160 px: done here, in the worker
            shown = info.shown if config.colour != "style" and info.shown is not None else info.image
            self.preview.value = lab_runner.png_bytes(shown)
        # The plot takes 0.1-1 s to draw: its own thread draws the newest rows, the run does not wait for it.
        if len(info.history.rows) >= 2:  # a curve needs two points
            self._plotter.post((list(info.history.rows), info.history.style_layers, config, False))

    def _on_done(self, run_id: int, result, error) -> None:
        # This run's: a new Run (possible once the runner is released, below) replaces the lab's.
        config, steps_done, plotter = self.runner.config, self.runner.step, self._plotter
        try:
            self._set_status(*self.runner.done_message(error))
            if error is not None and not isinstance(error, lab_runner.EXPECTED_ERRORS):
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
            self.runner.release(run_id)
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

    # ------------------------------------------------------------------ outputs

    def _draw_plot(self, run_id: int, rows, style_layers, config, final: bool) -> None:
        """Runs in the plot thread: the loss curves of ``rows`` as a PNG in ``loss_plot``.

        The final plot of a run gets the CSS class ``nst-lab-final`` (a browser test waits for it)."""
        history = History(style_layers, rows)
        fig = plots.loss_curves(history, per_layer=True, config=config)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=55)
        if self.runner.is_current(run_id):  # a plot of an older run must not cover the new one
            self.loss_plot.value = buf.getvalue()
            self.loss_plot.layout.display = None
            if final:
                self.loss_plot.add_class("nst-lab-final")

    def _show_frames(self, frames) -> None:
        self._shown_frames = (list(frames), {})
        last = max(len(frames) - 1, 0)
        self.frame_slider.value = self.play.value = 0
        self.frame_slider.max = self.play.max = last
        self.frame_slider.value = last
        self._on_frame({"new": self.frame_slider.value})
        self.scrubber.layout.display = "flex" if frames else "none"

    def _on_frame(self, change) -> None:
        i = change["new"]
        frames, pngs = self._shown_frames
        if 0 <= i < len(frames):
            if i not in pngs:
                pngs[i] = lab_runner.png_bytes(frames[i][1])
            self.frame_view.value = pngs[i]
            self.frame_label.value = f"step {frames[i][0]} ({i + 1}/{len(frames)})"

    def _save(self, what: str) -> None:
        if self.result is None:
            self._set_status("Nothing to save yet: press Run first.", "warn")
            return
        try:
            path = self.runner.save(what, self.out_dir.value.strip() or ".")
        except (OSError, ValueError) as exc:
            self._set_status(f"Could not save the {what.upper()}: {exc}.", "error")
            return
        self._set_status(f"Saved {path.resolve()}.", "ok")

    def _refresh_code(self) -> None:
        if self.running or self._quiet:
            return  # while running, the box shows the run in progress
        try:
            args = self.run_arguments()
        except ValueError as exc:
            self.code_box.value = f"# the controls do not describe a valid run yet: {exc}"
            return
        self.code_box.value = args.code(preset=self.preset.value)

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


def _pool(which: str) -> str:
    """Where the uploads of a source control are kept: the content's, or the styles' (S and S₂ share them)."""
    return "content" if which == "content" else "style"


def _share(config: Config, default: float) -> float:
    """S₂'s share w of a config with two style weights (w_S, w_S₂), else ``default``."""
    if len(config.style_weights) != 2:
        return default
    w_S, w_S2 = config.style_weights
    return w_S2 / (w_S + w_S2)


def _row(cls, description: str, **kwargs):
    """A control with its label, one per row, wide enough for a readable slider."""
    return cls(
        description=description,
        style={"description_width": "120px"},
        layout=widgets.Layout(width="400px"),
        **kwargs,
    )
