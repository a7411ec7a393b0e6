"""The one configuration object of a style-transfer run, and the named presets.

What it is: ``Config``, a frozen dataclass holding every knob of ``transfer.run`` (layers and their weights
λ_l, α, β, optimizer, steps, initialization, image size, precision, device…), validated on creation so that a
bad value fails before any work starts; ``PRESETS`` with the ``course``, ``gatys``, ``fast`` and ``hires``
recipes; and ``preset(name, **overrides)``.

What it is not: no optimization (``transfer.py``), no file handling (``images.py``).
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from . import noise, vgg

OPTIMIZERS = ("lbfgs", "adam")
COLOURS = ("style", "luminance", "histogram", "keep-colours")  # colour.py: what each does
STYLE_MIXES = ("sum", "blend", "scale")
PRECISIONS = ("auto", "float32", "bfloat16")
DEVICES = ("auto", "cpu", "cuda", "mps")

GATYS_STYLE_LAYERS = (
    ("relu1_1", 0.2),
    ("relu2_1", 0.2),
    ("relu3_1", 0.2),
    ("relu4_1", 0.2),
    ("relu5_1", 0.2),
)
# The course names Keras layers ("block1_conv1" … "block5_conv1"); a Keras Conv2D layer includes its ReLU,
# so what the course calls conv1_1 is our relu1_1.
COURSE_STYLE_LAYERS = GATYS_STYLE_LAYERS


TV_SIDE = 256  # the longer side (px) up to which tv_weight is used as it is
SEED_MAX = 2**63 - 1  # torch.Generator.manual_seed takes a signed 64-bit seed


def _show(value) -> str:
    """repr of a value for a message; a NumPy scalar shows as its plain number."""
    return repr(value.item() if isinstance(value, np.generic) else value)


def _number(name: str, value, low: float, *, above: bool = False) -> float:
    """``value`` as a finite float ≥ ``low`` (> ``low`` if ``above``); NumPy scalars welcome, booleans not."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{name} must be a number, got {_show(value)} ({type(value).__name__})")
    number = float(value)
    if not math.isfinite(number) or number < low or (above and number == low):
        raise ValueError(
            f"{name} must be a finite number {'>' if above else '≥'} {low:g}, got {_show(value)}"
        )
    return number


def _whole(name: str, value, low: int, high: int | None = None) -> int:
    """``value`` as an int in [low, high]; NumPy integers welcome, booleans and floats not."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise ValueError(
            f"{name} must be a whole number ≥ {low}, got {_show(value)} ({type(value).__name__})"
        )
    number = int(value)
    if number < low or (high is not None and number > high):
        bound = f"between {low} and {high}" if high is not None else f"≥ {low}"
        raise ValueError(f"{name} must be a whole number {bound}, got {_show(value)}")
    return number


def _as_layer_weights(value) -> tuple[tuple[str, float], ...]:
    """((layer, λ_l), …) from a dict or a sequence of pairs; refuses a bare string, non-pairs, bad λ."""
    if isinstance(value, str) or not isinstance(value, (Mapping, list, tuple)):
        raise ValueError(
            f"style_layers must be (layer, λ) pairs such as (('relu1_1', 1.0),) or a dict "
            f"{{'relu1_1': 1.0}}, got {value!r}"
        )
    items = list(value.items() if isinstance(value, Mapping) else value)
    pairs = []
    for item in items:
        if isinstance(item, str) or not isinstance(item, (list, tuple)) or len(item) != 2:
            raise ValueError(
                f"style_layers must be (layer, λ) pairs such as (('relu1_1', 1.0),); {item!r} is not a pair"
            )
        name, weight = item
        if not isinstance(name, str):
            raise ValueError(f"style_layers: the layer name {name!r} is not a string")
        pairs.append((name, _number(f"style layer weight λ for {name}", weight, 0.0)))
    return tuple(pairs)


@dataclass(frozen=True)
class Config:
    """Every setting of a run. Build one directly, with ``preset(name, **changes)``, or ``config.replace(...)``.

    J(G) = α J_content(C, G) + β Σ_l λ_l J_style^[l](S, G) + w_tv(L) · J_tv(G),  w_tv(L) = tv_weight_for(L)
    """

    content_layer: str = "relu4_2"
    style_layers: tuple[tuple[str, float], ...] = GATYS_STYLE_LAYERS  # ((layer, λ_l), …)
    alpha: float = 1.0  # α, weight of the content cost
    # β, weight of the style cost; None: chosen for each pair from style_strength (the gatys and fast presets)
    beta: float | None = 1e-3
    # s, used when beta is None: β = s·α / J_style(S, C), "more / less style" that means the same on any pair
    style_strength: float = 20.0
    # weight of the total-variation cost (smoothness) at up to TV_SIDE px; it grows above (tv_weight_for)
    tv_weight: float = 0.0
    # VGG-19 weight source: caffe | torchvision | random
    weights: str = "caffe"
    # the paper's network: each filter's mean activation 1 on the reference set (vgg.normalized_state)
    normalized: bool = False
    # max | avg
    pooling: str = "max"
    optimizer: str = "lbfgs"  # lbfgs | adam
    lr: float = 1.0  # learning rate (L-BFGS step scale, or Adam's step in pixel units)
    steps: int = 200  # optimizer steps at full size
    init: str = "white"  # noise.KINDS: content | style | white | uniform | gaussian | additive | course-tf1
    # | content-colour
    noise_ratio: float = 0.6  # r in G0 = clip((1 − r)·C + r·N), or the ± range for "additive"
    size: int = 256  # longer side of the content image, in pixels
    style_scale: float = 1.0  # the style image's longer side is size · style_scale
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | mps
    precision: str = (
        "float32"  # auto | float32 | bfloat16 (autocast of the VGG forward pass; costs stay float32);
    )
    # auto: bfloat16 only where the device runs it natively (hardware.resolve_precision), else float32
    channels_last: bool = False  # NHWC memory layout for the convolutions
    coarse_steps: int = 0  # steps at a coarse size (coarse_size, else size · coarse_scale) before the rest
    coarse_scale: float = 0.5
    coarse_size: int = 0  # longer side of the coarse stage in px (0: size · coarse_scale; ≥ size: no coarse
    # stage, its steps run at full size)
    tile: int = 0  # evaluate J tile by tile (tiling.py, exact): 0 auto (only when the untiled run would not
    # fit in free memory), -1 never, N ≥ 1 always, with tiles of at most N px (+ a halo)
    history_size: int = 20  # L-BFGS: (s, y) pairs kept
    # L-BFGS: k in H₀ = γ (I + k Σ_f B_f), B_f the 2×2, 4×4, 8×8 block means (0: off; 1 in the fast preset)
    precondition: float = 0.0
    frame_every: int = 10  # record a frame of G every this many steps (0: only first and last)
    # Several styles and colour (run(content, [S_0, S_1, …], config, masks=…)):
    colour: str = "style"  # COLOURS: style (the style's colours) | luminance | histogram | keep-colours
    style_weights: tuple[float, ...] = ()  # w_s, one per style; () = equal: 1/N (sum, blend), 1 (scale)
    style_mix: str = "sum"  # STYLE_MIXES: sum Σ_s w_s J_style(S_s) | blend (one target Σ ŵ_s G_gram(S_s))
    # | scale (two styles: style layers before scale_split from style 0, the rest from style 1)
    scale_split: str = "relu3_1"  # style_mix="scale": the first style layer that takes style 1 (coarse)

    def __post_init__(self):
        # Every field is checked for its type and range here, so a bad value fails with its name before any
        # work starts. NumPy scalars are accepted and stored as plain Python numbers (JSON, repr, equality).
        def put(name, value):
            object.__setattr__(self, name, value)

        put("style_layers", _as_layer_weights(self.style_layers))
        for name, choices in (
            ("weights", vgg.WEIGHT_SOURCES),
            ("pooling", vgg.POOLINGS),
            ("optimizer", OPTIMIZERS),
            ("init", noise.KINDS),
            ("precision", PRECISIONS),
            ("device", DEVICES),
        ):
            if not isinstance(getattr(self, name), str) or getattr(self, name) not in choices:
                raise ValueError(f"{name} must be one of {', '.join(choices)}; got {getattr(self, name)!r}")
        if not isinstance(self.content_layer, str):
            raise ValueError(
                f"content_layer must be a layer name such as 'relu4_2', got {self.content_layer!r}"
            )
        vgg.check_layers([self.content_layer])
        if not self.style_layers:
            raise ValueError(
                "style_layers is empty; give at least one (layer, λ) pair such as ('relu1_1', 1.0)"
            )
        vgg.check_layers(name for name, _ in self.style_layers)
        names = [name for name, _ in self.style_layers]
        if len(set(names)) != len(names):
            raise ValueError(f"style_layers names a layer twice: {names}")
        self._check_styles()
        for name in ("alpha", "tv_weight", "precondition", "style_strength"):
            put(name, _number(name, getattr(self, name), 0.0))
        if self.beta is not None:
            put("beta", _number("beta", self.beta, 0.0))
        elif self.style_strength == 0:
            raise ValueError(
                "beta is None, so β comes from style_strength, which is 0; give a beta or a style_strength > 0"
            )
        put("lr", _number("lr", self.lr, 0.0, above=True))
        put("noise_ratio", _number("noise_ratio", self.noise_ratio, 0.0))
        if self.noise_ratio > 1:
            raise ValueError(f"noise_ratio must be between 0 and 1, got {self.noise_ratio}")
        for name, high in (("style_scale", 8), ("coarse_scale", 1)):
            put(name, _number(name, getattr(self, name), 0.0, above=True))
            if getattr(self, name) > high:
                raise ValueError(f"{name} must be in (0, {high}], got {getattr(self, name)}")
        for name in ("steps", "coarse_steps", "frame_every", "size"):
            put(name, _whole(name, getattr(self, name), 0))
        put("seed", _whole("seed", self.seed, 0, SEED_MAX))
        put("history_size", _whole("history_size", self.history_size, 1))
        if (
            isinstance(self.tile, (bool, np.bool_))
            or not isinstance(self.tile, (int, np.integer))
            or self.tile < -1
        ):
            raise ValueError(
                f"tile must be 0 (auto), -1 (never) or a tile side of at least 1 pixel, got {_show(self.tile)}"
            )
        put("tile", int(self.tile))
        put("coarse_size", _whole("coarse_size", self.coarse_size, 0))
        for name in ("channels_last", "normalized"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                raise ValueError(f"{name} must be True or False, got {getattr(self, name)!r}")
            put(name, bool(getattr(self, name)))
        if self.steps + self.coarse_steps < 1:
            raise ValueError("steps must be at least 1")
        min_size = vgg.min_side(self.layers)
        if self.size < min_size:
            raise ValueError(
                f"size must be at least {min_size} pixels for layer "
                f"{max(self.layers, key=vgg.downsampling)}, got {self.size}"
            )
        if 0 < self.coarse_size < min_size:
            raise ValueError(
                f"coarse_size must be 0 (size · coarse_scale) or at least {min_size} pixels for layer "
                f"{max(self.layers, key=vgg.downsampling)}, got {self.coarse_size}"
            )

    def _check_styles(self) -> None:
        """colour, style_mix, scale_split and style_weights (which ``check_styles`` matches to the styles)."""
        for name, choices in (("colour", COLOURS), ("style_mix", STYLE_MIXES)):
            if not isinstance(getattr(self, name), str) or getattr(self, name) not in choices:
                raise ValueError(f"{name} must be one of {', '.join(choices)}; got {getattr(self, name)!r}")
        if not isinstance(self.scale_split, str):
            raise ValueError(f"scale_split must be a layer name such as 'relu3_1', got {self.scale_split!r}")
        vgg.check_layers([self.scale_split])
        if self.style_mix == "scale":
            fine, coarse = self.scale_groups
            if not fine or not coarse:
                raise ValueError(
                    f"scale_split {self.scale_split!r} puts every style layer on one side, so one style would "
                    f"have no layer; choose a layer between {self.style_layers[0][0]} and "
                    f"{self.style_layers[-1][0]}, e.g. 'relu3_1'"
                )
        value = self.style_weights
        if isinstance(value, str) or not isinstance(value, (list, tuple)):
            raise ValueError(f"style_weights must be a sequence of numbers such as (0.7, 0.3), got {value!r}")
        for w in value:
            if isinstance(w, (bool, np.bool_)) or not isinstance(w, (int, float, np.integer, np.floating)):
                raise ValueError(f"style_weights must be numbers, one per style, got {_show(w)} in {value!r}")
            if not math.isfinite(w) or w < 0:
                raise ValueError(f"style_weights must be finite numbers ≥ 0, one per style, got {_show(w)}")
        weights = tuple(float(w) for w in value)
        if weights and not any(weights):
            raise ValueError(
                f"style_weights are all 0 {weights}, so no style would count; give at least one style a "
                f"weight > 0"
            )
        object.__setattr__(self, "style_weights", weights)

    @property
    def scale_groups(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """The style layers before ``scale_split`` (style 0, fine) and from it on (style 1, coarse)."""
        split = vgg.LAYER_INDEX[self.scale_split]
        names = [name for name, _ in self.style_layers]
        return (
            tuple(n for n in names if vgg.LAYER_INDEX[n] < split),
            tuple(n for n in names if vgg.LAYER_INDEX[n] >= split),
        )

    def shares(self, n_styles: int) -> tuple[float, ...]:
        """w_s for ``n_styles`` styles: ``style_weights``, or the default (1/N for sum and blend, 1 for scale).

        Raises ValueError (one sentence) when the styles and the weights do not go together.
        """
        check_styles(self, n_styles)
        if self.style_weights:
            return self.style_weights
        return (1.0,) * n_styles if self.style_mix == "scale" else (1.0 / n_styles,) * n_styles

    def tv_weight_for(self, side: int) -> float:
        r"""The TV weight of a G whose longer side is ``side`` px: $w_{tv}(L) = w \cdot \max(1, L / 256)^3$.

        Why: at a fixed weight, results carry more high-frequency colour speckle the larger they are; the cube
        is the measured growth that keeps the speckle index of ``fast`` at about 1.5 or below up to 512 px,
        and it leaves every run at up to 256 px as it was (README, "TV weight and image size").
        """
        return self.tv_weight * max(1.0, side / TV_SIDE) ** 3

    @property
    def layers(self) -> tuple[str, ...]:
        """Every VGG-19 layer the run reads: the content layer, then the style layers."""
        return tuple(dict.fromkeys([self.content_layer, *(name for name, _ in self.style_layers)]))

    @property
    def coarse_factor(self) -> float:
        """The coarse stage's scale: coarse_size / size when coarse_size is set (1.0, no coarse stage, when it
        is not smaller than size), else coarse_scale."""
        return min(1.0, self.coarse_size / self.size) if self.coarse_size else self.coarse_scale

    @property
    def total_steps(self) -> int:
        return self.coarse_steps + self.steps

    def replace(self, **changes) -> Config:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        data = dataclasses.asdict(self)
        data["style_layers"] = [list(pair) for pair in self.style_layers]
        data["style_weights"] = list(self.style_weights)
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_dict(cls, data: Mapping) -> Config:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown Config field(s): {', '.join(unknown)}")
        return cls(**dict(data))

    def to_code(self) -> str:
        """Python source that rebuilds this exact Config (only the fields that differ from the defaults)."""
        default = Config()
        parts = []
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value != getattr(default, f.name):
                parts.append(f"    {f.name}={value!r},")
        return "Config(\n" + "\n".join(parts) + "\n)" if parts else "Config()"


PRESETS: dict[str, Config] = {
    # The Deep Learning Specialization's recipe: Adam on the pixels, content layer "conv5_4" and style layers
    # "conv1_1"…"conv5_1" with λ = 0.2 (Keras names: post-ReLU, hence relu*), content + uniform noise in ±0.25.
    # α/β re-tuned: the course feeds [0, 1] pixels to VGG, we use the weights' own preprocessing (×255, mean).
    "course": Config(
        content_layer="relu5_4",
        style_layers=COURSE_STYLE_LAYERS,
        alpha=10.0,
        beta=40.0 * 1e-3,
        optimizer="adam",
        lr=0.01,
        steps=300,
        init="additive",
        noise_ratio=0.25,
    ),
    # Gatys, Ecker & Bethge 2016: L-BFGS, relu4_2 content, relu1_1…relu5_1 style (equal λ), white-noise start,
    # on the paper's normalised network, where equal λ means every layer counts. Max pooling: the paper's
    # average pooling left a faint lattice of 2^k-pixel blocks in the results (benchmarks/results/quality.md).
    # β is chosen for each pair from the style strength (β = 20 α / J_style(S, C)); the TV term removes the
    # high-frequency colour speckle that the fine layers otherwise leave on flat regions.
    "gatys": Config(
        content_layer="relu4_2",
        style_layers=GATYS_STYLE_LAYERS,
        alpha=1.0,
        beta=None,
        style_strength=20.0,
        tv_weight=20.0,
        normalized=True,
        pooling="max",
        optimizer="lbfgs",
        lr=1.0,
        steps=300,
        init="white",
    ),
}
# Best time-to-quality found by benchmarks/ (see benchmarks/results/time_to_quality.md): the gatys
# objective (same layers, α, β) reached sooner by speed knobs only: start from the content image in the
# style's colours (per-channel mean/std of S), bfloat16 with channels-last where the hardware runs bfloat16
# natively (precision="auto": float32 elsewhere, where emulated bfloat16 is many times slower), and
# L-BFGS with 50 pairs and H₀ = γ (I + Σ 2×2/4×4/8×8 block means), which
# takes larger steps on the low frequencies that plain γ I leaves to a long tail (optim.py). No coarse
# stage: with the preconditioner it cost more steps than it saved.
PRESETS["fast"] = PRESETS["gatys"].replace(
    steps=150,
    init="content-colour",
    precision="auto",
    channels_last=True,
    history_size=50,
    precondition=1.0,
)
# Large images (Gatys et al. 2017, coarse-to-fine): the fast recipe run first at 512 px on the longer side, its
# result upsampled, then a few steps at full size, which add the fine texture. It lays out the style's large
# structures at a quarter of a full-size step's cost; it does not reach a lower J sooner than `fast` at 1024 px
# (benchmarks/results/large_images.md). Below 512 px it is `fast` (no coarse stage).
PRESETS["hires"] = PRESETS["fast"].replace(size=1024, coarse_size=512, coarse_steps=100, steps=40)


def preset(name: str, **changes) -> Config:
    """The named preset (``course``, ``gatys``, ``fast`` or ``hires``), with optional field changes."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    return PRESETS[name].replace(**changes)


def as_config(config) -> Config:
    """``config`` as a ``Config``: a Config as it is, a preset name (``"fast"``) as that preset, None as ``Config()``.

    Anything else is refused with a sentence saying what ``run`` wants (not an ``AttributeError`` later on).
    """
    if config is None:
        return Config()
    if isinstance(config, Config):
        return config
    if isinstance(config, str):
        return preset(config)
    raise ValueError(
        f"config must be a Config, e.g. nst_edu.preset('fast', steps=50), or a preset name "
        f"({', '.join(repr(name) for name in PRESETS)}); got {type(config).__name__} {config!r:.60}"
    )


def check_styles(config: Config, n_styles: int, n_masks: int | None = None) -> None:
    """Refuse, in one sentence (ValueError), styles, weights and masks that do not go together.

    ``n_styles`` style images, and ``n_masks`` masks (None: no masks): one weight per style when
    ``style_weights`` is given, two styles for ``style_mix="scale"``, one mask per style and
    ``style_mix="sum"`` with masks. ``transfer.run`` and the command line call it before any work.
    """
    if n_styles < 1:
        raise ValueError("there is no style image; give at least one")
    if config.style_weights and len(config.style_weights) != n_styles:
        raise ValueError(
            f"style_weights has {len(config.style_weights)} weight{'s' * (len(config.style_weights) != 1)} "
            f"for {n_styles} style{'s' * (n_styles != 1)}; give one weight per style (or none for equal weights)"
        )
    if config.style_mix == "scale" and n_styles != 2:
        raise ValueError(
            f"style_mix 'scale' takes exactly two styles (the layers before {config.scale_split} from the "
            f"first, the others from the second), got {n_styles}"
        )
    if n_masks is None:
        return
    if n_masks != n_styles:
        raise ValueError(
            f"there are {n_masks} mask{'s' * (n_masks != 1)} for {n_styles} style{'s' * (n_styles != 1)}; "
            f"give one mask per style (its region of the image)"
        )
    if config.style_mix != "sum":
        raise ValueError(
            f"masks give each style its own region, which needs style_mix 'sum', not {config.style_mix!r}"
        )
