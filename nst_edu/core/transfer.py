"""The optimization loop: paint G so that its VGG-19 features match C's content and S's style.

What it is: ``run(content, style, config)`` loads the images, computes the targets once (a_C at the content
layer, the Gram matrices of S at the style layers) without gradients, then optimizes the pixels of G in
[0, 1] with Adam or L-BFGS, minimizing

    J(G) = α J_content(C, G) + β Σ_l λ_l J_style^[l](S, G) + w_tv · J_tv(G),

with w_tv = ``config.tv_weight_for`` (G's longer side).

``style`` may be a list of styles, each with its weight w_s and, with ``masks``, its own region of G: the
style cost is then a sum of ``StyleTerm``s (``Objective.terms``); ``config.colour`` chooses what happens to
the colours at the two ends of the run (``colour.prepare`` before the targets, ``colour.finish`` after).

It records every step's costs (content, style, each style layer, total) and elapsed time in a ``History``,
captures frames, shows a progress bar, honours a stop event and Ctrl-C by returning what it has, and stops
with ``NonFiniteCostError`` (which carries the last good result) when a cost becomes NaN or infinite.

What it is not: the formulas live in ``costs.py``, the network in ``vgg.py``, the start image in
``noise.py``, the knobs in ``config.py``; plotting and widgets only read the ``Result``.
"""

from __future__ import annotations

import csv
import io
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .. import __version__
from ..output import fileio
from . import colour, costs, images, memory, noise, tiling, vgg
from . import masks as regions
from .checkpoint import validate as validate_state
from .config import Config, as_config, check_styles
from .hardware import resolve_device, resolve_precision
from .optim import BoxLBFGS

COST_COLUMNS = ("content", "style", "tv", "total")


class NonFiniteCostError(FloatingPointError):
    """A cost became NaN or infinite; ``.result`` holds the run up to the last good step."""

    def __init__(self, message: str, result: Result):
        super().__init__(message)
        self.result = result


@dataclass
class History:
    """Per-step costs. Row i holds the costs of the image *before* optimizer step i+1 (the last row: the result).

    Columns: step, seconds (since the start of optimization), content (J_content), style (J_style),
    tv (J_tv), total (J), and one ``style:<layer>`` column per style layer (J_style^[l], unweighted).
    """

    style_layers: tuple[str, ...]
    rows: list[dict[str, float]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.rows)

    def column(self, name: str) -> np.ndarray:
        return np.array([row[name] for row in self.rows], dtype=np.float64)

    @property
    def columns(self) -> list[str]:
        return ["step", "seconds", *COST_COLUMNS, *(f"style:{layer}" for layer in self.style_layers)]

    def to_csv(self, path: str | Path | None = None, header: dict | None = None) -> str:
        """CSV text (and file, written atomically, if ``path``); ``header`` lines go first as ``# key: value``."""
        buf = io.StringIO()
        for key, value in (header or {}).items():
            buf.write(f"# {key}: {value}\n")
        writer = csv.DictWriter(buf, fieldnames=self.columns, lineterminator="\n")
        writer.writeheader()
        for row in self.rows:
            writer.writerow({k: (int(v) if k == "step" else f"{v:.9g}") for k, v in row.items()})
        text = buf.getvalue()
        if path is not None:
            fileio.atomic_write_bytes(Path(path), text.encode())
        return text

    @classmethod
    def from_csv(cls, text: str) -> History:
        lines = [line for line in text.splitlines() if not line.startswith("#")]
        reader = csv.DictReader(lines)
        layers = tuple(c.split(":", 1)[1] for c in reader.fieldnames if c.startswith("style:"))
        history = cls(layers)
        for row in reader:
            history.rows.append({k: (int(v) if k == "step" else float(v)) for k, v in row.items()})
        return history


@dataclass
class Result:
    """What a run returns: the final image G (1, 3, H, W) in [0, 1] on the CPU, its history, frames, config.

    ``frames`` is a list of ``(step, uint8 array (H, W, 3))``; ``stopped`` is ``None`` for a complete run,
    or ``"stop"`` / ``"interrupt"`` / ``"non-finite"``.
    """

    image: torch.Tensor
    history: History
    frames: list[tuple[int, np.ndarray]]
    config: Config
    stopped: str | None = None
    seconds: float = 0.0
    precision: str = ""  # what the run computed in: config.precision with "auto" resolved
    tile: int = 0  # the tile side J was evaluated with at full size (config.tile, "auto" resolved; 0: none)
    inputs: dict = field(default_factory=dict)  # {"content": …, "styles": […], "masks": […]} as given
    # the β the costs were weighted with: config.beta, or the one style_strength chose (the last stage's)
    beta: float | None = None

    def metadata(self) -> dict:
        """What is needed to reproduce the run: versions, the config and (when known) the input images."""
        meta = {
            "nst_edu": __version__,
            "torch": torch.__version__,
            "stopped": self.stopped,
            "precision": self.precision or resolve_precision(self.config.precision),
            "tile": self.tile,
            "beta": self.config.beta if self.beta is None else self.beta,
            "seconds": round(self.seconds, 3),
            "config": self.config.to_dict(),
        }
        if self.inputs:
            meta["inputs"] = dict(self.inputs)
        return meta

    def save(self, out_dir: str | Path, force: bool = False) -> dict[str, Path]:
        """Write result.png, progress.gif, losses.png, history.csv and run.json into ``out_dir``."""
        from ..output import animation, plots  # plotting is optional for headless runs

        out = Path(out_dir)
        paths = {
            name: out / name
            for name in ("result.png", "progress.gif", "losses.png", "history.csv", "run.json")
        }
        existing = [p.name for p in paths.values() if p.exists()]
        if existing and not force:
            raise FileExistsError(
                f"{out} already holds {', '.join(existing)}; choose another folder or pass force"
            )
        out.mkdir(parents=True, exist_ok=True)
        images.save_image(self.image, paths["result.png"])
        animation.save_gif(self.frames, paths["progress.gif"])
        plots.save_figure(plots.loss_curves(self.history, config=self.config), paths["losses.png"])
        meta = self.metadata()
        self.history.to_csv(
            paths["history.csv"],
            header={"nst_edu": meta["nst_edu"], "torch": meta["torch"], "config": json.dumps(meta["config"])},
        )
        fileio.atomic_write_bytes(paths["run.json"], json.dumps(meta, indent=2).encode())
        return paths


@dataclass
class StepInfo:
    """Passed to ``callback`` after every step. ``image`` is the live G: clone it before keeping it.

    ``shown`` is G as the result will show it: with C's colours put back for ``colour="luminance"`` and
    ``"keep-colours"`` (``colour.finish``), else ``image`` itself."""

    step: int
    total_steps: int
    costs: dict[str, float]
    seconds: float
    image: torch.Tensor
    history: History
    shown: torch.Tensor | None = None


@lru_cache(maxsize=4)
def _cached_model(
    weights: str,
    layers: tuple[str, ...],
    pooling: str,
    seed: int,
    device: str,
    channels_last: bool,
    precision: str = "float32",
    normalized: bool = False,
) -> vgg.VGG19Features:
    model = vgg.VGG19Features(
        weights=weights, layers=layers, pooling=pooling, seed=seed, normalized=normalized
    ).to(device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    if precision == "bfloat16":
        # Store the convolutions' weights in bfloat16 once: autocast would cast them again at every forward
        # pass (it caches casts only for weights that require grad). Same numbers, 2–4 % less time a step.
        # The preprocessing stays float32; autocast casts the conv inputs as before.
        model.body.to(torch.bfloat16)
    return model


def build_model(config: Config, device: torch.device | str = "cpu") -> vgg.VGG19Features:
    """The (cached) VGG-19 truncated at the deepest layer the config reads, on ``device``.

    Where the precision resolves to bfloat16 its convolution weights are bfloat16: call it under
    ``torch.autocast`` (``Objective`` does)."""
    return _cached_model(
        config.weights,
        config.layers,
        config.pooling,
        config.seed,
        str(device),
        config.channels_last,
        resolve_precision(config.precision, device),
        config.normalized,
    )


def load_pair(content, style, config: Config) -> tuple[torch.Tensor, torch.Tensor]:
    """C at ``config.size`` (longer side) and S at ``round(config.size · config.style_scale)``."""
    C = images.load_image(content, size=config.size)
    S = images.load_image(style, size=max(1, round(config.size * config.style_scale)))
    return C, S


def style_list(style) -> list:
    """``style`` as a list of sources: a list or tuple is several styles, anything else one."""
    return list(style) if isinstance(style, (list, tuple)) else [style]


def load_styles(style, config: Config) -> list[torch.Tensor]:
    """Each style (one source or a list) at ``round(config.size · config.style_scale)``; sizes and aspect
    ratios may differ (each target is rescaled to G's positions, M_G / M_S)."""
    side = max(1, round(config.size * config.style_scale))
    return [images.load_image(s, size=side) for s in style_list(style)]


@dataclass(frozen=True, eq=False)
class StyleTerm:
    r"""One Gram-matrix comparison of the style cost: $\lambda_l\, w_s\, J^{[l]}_{style}(target, G)$.

    ``target`` (n_C, n_C): a style's Gram matrix at ``layer``, rescaled to G's M = n_H·n_W positions (or a
    blend of several); ``mask`` (n_H, n_W): the region's weights at this layer (a guided Gram matrix,
    ``costs.guided_gram``), None for all positions; ``share``: w_s; ``style``: the style's index (-1: a
    blend). ``area`` = Σ m² of the whole layer's mask (None without a mask).
    """

    layer: str
    lam: float
    share: float
    target: torch.Tensor
    mask: torch.Tensor | None = None
    style: int = 0
    area: float | None = field(default=None, init=False, repr=False)

    def __post_init__(self):
        if self.mask is not None:
            object.__setattr__(self, "area", float((self.mask.double() ** 2).sum()))  # Σ_k m_k², once

    def gram(self, a: torch.Tensor, positions: tuple[slice, slice] | None = None) -> torch.Tensor:
        """G's (guided) Gram matrix at this layer, (n_C, n_C). With ``positions`` = (rows, cols) of the layer,
        ``a`` is a tile's core there and the result is its share: the shares of a partition add up to the
        whole layer's (the normalisation M / Σ m² is the whole layer's)."""
        if self.mask is None:
            return costs.gram_matrix(costs.unroll(a), check_finite=False)  # (n_C, n_C)
        m = self.mask if positions is None else self.mask[positions]  # (h, w)
        return costs.guided_gram(a, m, M=self.mask.numel(), area=self.area, check_finite=False)


def style_terms(
    config: Config, grams: list[dict], shares, masks=None, layer_hw=None
) -> tuple[StyleTerm, ...]:
    """The terms of J_style from each style's targets ``grams[s]`` {layer: (n_C, n_C)} and weights ``shares``.

    ``style_mix="sum"``: one term per style and layer, share w_s (with ``masks``, guided by masks[s] resized
    to ``layer_hw[layer]``); ``"blend"``: one term per layer, target ``costs.blended_gram``, share 1;
    ``"scale"``: one term per layer, from style 0 before ``scale_split`` and from style 1 after.
    """
    fine, _ = config.scale_groups
    terms = []
    for layer, lam in config.style_layers:
        targets = [g[layer] for g in grams]  # [(n_C, n_C)], one per style
        if config.style_mix == "blend":
            terms.append(StyleTerm(layer, lam, 1.0, costs.blended_gram(targets, list(shares)), style=-1))
        elif config.style_mix == "scale":
            s = 0 if layer in fine else 1
            terms.append(StyleTerm(layer, lam, shares[s], targets[s], style=s))
        else:
            for s, target in enumerate(targets):
                mask = None
                if masks is not None:
                    mask = regions.to_layer(masks[s], layer_hw[layer]).to(target.device)  # (n_H, n_W)
                terms.append(StyleTerm(layer, lam, shares[s], target, mask, s))
    return tuple(terms)


class Objective:
    r"""J(G) for fixed C and styles: the targets are computed once, ``__call__`` gives all costs of one G.

    $$J_{style} = \sum_l \lambda_l \sum_{t \text{ at } l} w_t\, J^{[l]}_{style}(target_t, G^{(t)}_{gram})$$
    over ``terms`` (``StyleTerm``; ``style_terms`` makes them). ``S`` is one style image or a list; ``masks``
    (one (H, W) mask per style, any size) give each style its region. With one style and no mask there is
    one term per layer and J is the 2016 paper's. In ``colour="luminance"`` mode VGG sees the mean of G's
    channels on all three: the gradient is the same on R, G and B, so a grey G stays grey.

    Each cost is the function of ``costs.py`` (one copy of each formula). The targets are checked once, here;
    each step skips the NaN/inf scan (``check_finite=False``), since ``run`` checks every step's total.

    Shapes: G (1, 3, H, W) -> dict of scalar tensors: content, style, style:<layer>, tv, total.
    """

    def __init__(
        self,
        model: vgg.VGG19Features,
        C: torch.Tensor,
        S: torch.Tensor | list[torch.Tensor],
        config: Config,
        tile: int = 0,
        masks: list[torch.Tensor] | None = None,
    ):
        self.model, self.config = model, config
        self.style_weights = dict(config.style_layers)  # {layer: λ_l}
        self.precision = resolve_precision(config.precision, C.device)
        self.autocast = self.precision == "bfloat16"
        styles = [S] if isinstance(S, torch.Tensor) else list(S)
        shares = config.shares(len(styles))  # w_s; refuses weights or a mix that do not fit the styles
        check_styles(config, len(styles), None if masks is None else len(masks))
        layer_hw = {
            layer: vgg.layer_shape(layer, C.shape)[1:] for layer in self.style_weights
        }  # G's (n_H, n_W)
        with torch.no_grad():
            self.a_C = self._content_target(C, tile)  # (1, n_C, n_H, n_W)
            grams = [
                self._style_targets(S_s, C.shape[-2:], layer_hw, tile) for S_s in styles
            ]  # [{layer: (n_C, n_C)}]
        self.terms = style_terms(config, grams, shares, masks, layer_hw)
        self.tv_weight = config.tv_weight_for(max(C.shape[-2:]))  # w_tv at G's size
        self.beta = 0.0 if config.beta is None else config.beta  # β; J_style(S, C) needs only the style terms
        if config.beta is None:
            self.beta = self._balanced_beta(C, tile)

    def _balanced_beta(self, C: torch.Tensor, tile: int) -> float:
        r"""β when ``config.beta`` is None, from ``config.style_strength`` = s:
        $\beta = s\,\alpha / J_{style}(S, C)$ (α = 1 when α = 0), so that
        $J / \alpha = J_{content}(C, G) + s\, J_{style}(S, G) / J_{style}(S, C)$: the style cost counted in
        units of how far C's own style is from S's, which means the same on every pair of images."""
        with torch.no_grad():
            J_style_C = float((tiling.tiled_value(self, C, tile) if tile else self(C))["style"])
        if not J_style_C > 0:
            raise ValueError(
                "style_strength needs a content image whose style differs from the style image's "
                "(J_style(S, C) is 0 here); give a number for beta instead"
            )
        return self.config.style_strength * (self.config.alpha or 1.0) / J_style_C

    def _content_target(self, C, tile: int) -> torch.Tensor:
        """a_C at the content layer, float32; tile by tile for images too large for one pass."""
        layer = self.config.content_layer
        if tile > 0:
            return tiling.tiled_features(self.features, C, [layer], tile)[layer]
        return self.features(C, [layer])[layer].float()

    def _style_targets(self, S, hw, layer_hw, tile: int) -> dict[str, torch.Tensor]:
        """S's Gram matrices rescaled to the positions of a G of ``hw`` = C's (H, W); tile by tile when ``tile``."""
        if tile > 0:
            return tiling.tiled_style_targets(self.features, S, hw, self.config, tile)
        a_S = self.features(S, list(self.style_weights))
        # S may differ in size from G (which has C's size): each target is S's Gram matrix as if S had G's
        # M_G = n_H·n_W positions at that layer.
        return {
            layer: costs.rescaled_gram(a, M_G=layer_hw[layer][0] * layer_hw[layer][1])
            for layer, a in a_S.items()
        }  # {layer: (n_C, n_C)}

    @property
    def grams_S(self) -> dict[str, torch.Tensor]:
        """{layer: target} when each style layer has one term (one style, or style_mix blend or scale)."""
        targets = {t.layer: t.target for t in self.terms if t.mask is None}
        if len(targets) != len(self.terms):
            raise ValueError("this Objective has several style terms per layer; read objective.terms instead")
        return targets

    def features(self, x: torch.Tensor, layers) -> dict[str, torch.Tensor]:
        """VGG-19 activations {layer: a^[l]} of x (1, 3, h, w) in [0, 1], as the costs see them: channels-last
        and bfloat16 autocast as the config asks; in luminance mode, the channels' mean on all three."""
        if self.config.colour == "luminance":
            x = x.mean(1, keepdim=True).expand(-1, 3, -1, -1)  # (1, 3, h, w): grey in, equal gradients out
        if self.config.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=self.autocast):
            return self.model(x, layers)

    def __call__(self, G: torch.Tensor) -> dict[str, torch.Tensor]:
        cfg = self.config
        acts = self.features(G, cfg.layers)
        out = {"content": costs.content_cost(self.a_C, acts[cfg.content_layer], check_finite=False)}
        J_terms = []  # (layer, w_t, J_t): each term's (guided) Gram matrix of G against its target
        for t in self.terms:
            a = acts[t.layer]  # (1, n_C, n_H, n_W)
            M = a.shape[-2] * a.shape[-1]
            J_t = costs.layer_style_cost_from_grams(t.target, t.gram(a), M, check_finite=False)  # ()
            J_terms.append((t.layer, t.share, J_t))
        J_style, J_layers = costs.style_cost_from_terms(
            J_terms, cfg.style_layers, per_layer=True, check_finite=False
        )  # Σ_l λ_l Σ_t w_t J_t, and each layer's Σ_t w_t J_t
        out.update({f"style:{layer}": J for layer, J in J_layers.items()})
        out["style"] = J_style
        out["tv"] = costs.tv_cost(G, check_finite=False) if self.tv_weight > 0 else G.new_zeros(())
        out["total"] = costs.total_cost(
            out["content"], out["style"], cfg.alpha, self.beta, out["tv"], self.tv_weight, check_finite=False
        )
        return out


def _make_optimizer(config: Config, G: torch.Tensor):
    if config.optimizer == "adam":
        return torch.optim.Adam([G], lr=config.lr)
    return BoxLBFGS(G, lr=config.lr, history_size=config.history_size, precondition=config.precondition)


def _stages(config: Config) -> list[tuple[float, int]]:
    """[(scale, steps)]: the coarse stage at ``config.coarse_factor``, then full size. A "coarse" stage that is
    not smaller than the image is no stage of its own: its steps run at full size, with the others."""
    if config.coarse_steps and config.coarse_factor < 1.0:
        stages, full = [(config.coarse_factor, config.coarse_steps)], config.steps
    else:
        stages, full = [], config.coarse_steps + config.steps
    return stages + [(1.0, full)] if full else stages


def _scaled(image: torch.Tensor, scale: float, config: Config) -> torch.Tensor:
    side = max(vgg.min_side(config.layers), round(max(image.shape[-2:]) * scale))
    return images.resize(image, side)


def _to_frame(G: torch.Tensor) -> np.ndarray:
    return (G.detach()[0].float().clamp(0, 1).permute(1, 2, 0) * 255).round().to(torch.uint8).cpu().numpy()


def run(
    content,
    style,
    config: Config | None = None,
    callback: Callable[[StepInfo], None] | None = None,
    stop: threading.Event | None = None,
    progress: bool = True,
    init_image: torch.Tensor | None = None,
    checkpoint: Callable[[dict], None] | None = None,
    checkpoint_every: int = 0,
    resume: dict | None = None,
    masks: list | None = None,
) -> Result:
    """Run neural style transfer and return a ``Result``.

    ``content`` and ``style`` are anything ``images.load_image`` takes (sample name, path, URL, PIL image,
    array, tensor); ``style`` may also be a list of them, combined as ``config.style_mix`` says with the
    weights ``config.style_weights``. ``masks``: one mask per style (``masks.load_mask`` sources: a
    black-and-white image or a 2-D array of weights in [0, 1], any size; ``masks.label_masks`` and
    ``masks.split_mask`` make such lists), each the region of G its style paints. ``config.colour`` keeps
    the style's colours or C's (``colour.prepare`` / ``colour.finish``); the frames and the result show the
    final colours. Styles, weights and masks that do not go together are refused (ValueError, one
    sentence) before any work. ``callback(StepInfo)`` runs after each step; setting ``stop`` (a ``threading.Event``) or
    pressing Ctrl-C ends the run after the current step and returns the result so far. ``init_image``
    overrides ``config.init`` (it is resized to the first stage's size).

    Large images: ``config.coarse_steps`` run first at a coarse size (``config.coarse_factor``), their result
    upsampled for the full-size steps; ``config.tile`` evaluates J and ∂J/∂G tile by tile (``tiling.py``,
    exact), always (N px), never (-1) or, by default (0), only when the untiled run would not fit in free
    memory; ``Result.tile`` says which. A run that fits in neither way is refused before any work.

    Checkpoints: every ``checkpoint_every`` steps, ``checkpoint(state)`` receives a dict (image, optimizer
    state, history rows, frames, step, config) that ``resume=state`` continues from; a resumed run gives the
    same image as an uninterrupted one with the same config, also from the end of the coarse stage (its image is
    upsampled, its optimizer state left behind, as the uninterrupted run does).
    """
    config = as_config(config)  # a Config, a preset name or None; anything else is refused in one sentence
    sources = style_list(style)
    if masks is not None and not isinstance(masks, (list, tuple)):
        raise ValueError(f"masks must be a list with one mask per style, got a {type(masks).__name__}")
    check_styles(config, len(sources), None if masks is None else len(masks))  # in one sentence, before work
    mask_list = None
    if masks is not None:
        mask_list = [regions.load_mask(m, f"the mask of style {i + 1}") for i, m in enumerate(masks)]
    if resume is not None:
        validate_state(resume, config)  # every field; a bad one is named (CheckpointError, a ValueError)
    if init_image is not None:
        init_image = images.load_image(init_image)  # checked like any image: shape, NaN, range [0, 1]
    device = resolve_device(config.device)
    precision = resolve_precision(config.precision, device)  # what Result and run.json report
    torch.manual_seed(config.seed)
    C_full = images.load_image(content, size=config.size)
    styles_full = load_styles(sources, config)
    if mask_list is not None:
        check_regions(mask_list, C_full, config)  # a region too small at some stage's style layer: refuse now
    S_full = _largest(styles_full)  # what the memory for the targets must hold
    C_in, styles_in = colour.prepare(C_full, styles_full, config.colour)  # what VGG sees
    available = memory.available_bytes(device)  # read once: each stage's tiling is decided against it
    # Too thin, or too large even in tiles: refuse now. Tiling (config.tile) changes how J is evaluated, not J.
    full_tile = tiling.check_fits(config, C_full.shape, S_full.shape, device, available=available)
    model = build_model(config, device)
    history = History(tuple(name for name, _ in config.style_layers))
    frames: list[tuple[int, np.ndarray]] = []
    step = 0
    if resume is not None:
        history.rows = [dict(row) for row in resume["history"]]
        frames = [(int(k), np.asarray(f)) for k, f in resume["frames"]]
        step = int(resume["step"])
    offset = history.rows[-1]["seconds"] if history.rows else 0.0
    stopped = None
    G = last_good = before = objective = None
    tile = 0  # the current stage's tile side (0: untiled)
    start = time.perf_counter()
    bar = _progress_bar(config.total_steps, progress, initial=step)

    def record(values: dict[str, torch.Tensor]) -> dict[str, float]:
        row = {"step": step, "seconds": offset + time.perf_counter() - start}
        row.update({k: float(v) for k, v in values.items()})
        if not np.isfinite(row["total"]):
            bad = [k for k in COST_COLUMNS if not np.isfinite(row[k])]
            raise FloatingPointError(
                f"the {bad[0]} cost became {row[bad[0]]} at step {step}; the learning rate (lr={config.lr}) "
                f"is likely too high or α/β (alpha={config.alpha}, beta={config.beta}) too extreme"
            )
        history.rows.append(row)
        return row

    try:
        first = 0
        for scale, n_steps in _stages(config):
            last = first + n_steps
            if step >= last:  # a resumed run skips the stages it has finished
                first = last
                continue
            C, styles, C_show = (
                (C_in, styles_in, C_full)
                if scale == 1.0
                else (
                    _scaled(C_in, scale, config),
                    [_scaled(S_s, scale, config) for S_s in styles_in],
                    _scaled(C_full, scale, config),
                )
            )
            C, styles, C_show = C.to(device), [S_s.to(device) for S_s in styles], C_show.to(device)
            S = styles[0]
            tile = tiling.choose_tile(config, C.shape, _largest(styles).shape, device, available)
            objective = Objective(model, C, styles, config, tile=tile, masks=mask_list)

            def show(x: torch.Tensor, C_show=C_show) -> torch.Tensor:  # G in the colours the result shows
                return colour.finish(x.detach(), C_show, config.colour)

            if resume is not None and G is None:
                G0 = resume["image"].to(device)
                if G0.shape[-2:] != C.shape[-2:]:  # taken at the end of the coarse stage: upsample it
                    G0 = F.interpolate(G0, size=tuple(C.shape[-2:]), mode="bilinear", align_corners=False)
            elif G is None:
                start_image = (
                    init_image
                    if init_image is not None
                    else noise.initial_image(C, config.init, config.noise_ratio, config.seed, S=S)
                )
                G0 = images.resize_to(start_image.to(device), tuple(C.shape[-2:]))
                if config.colour == "luminance":  # G is grey: its luminance is what the loop optimizes
                    G0 = colour.luminance_image(G0)
            else:
                G0 = F.interpolate(G.detach(), size=tuple(C.shape[-2:]), mode="bilinear", align_corners=False)
            G = G0.clamp(0, 1).contiguous().requires_grad_(True)
            optimizer = _make_optimizer(config, G)
            if resume is not None and step > first and resume.get("optimizer") is not None:
                optimizer.load_state_dict(_to_device(resume["optimizer"], device))
            last_values: dict[str, torch.Tensor] = {}

            def closure():
                optimizer.zero_grad(set_to_none=True)
                if tile:  # the same J and ∂J/∂G, tile by tile: memory follows a tile, not G
                    values, G.grad = tiling.tiled_value_and_grad(objective, G, tile)
                else:
                    values = objective(G)
                    values["total"].backward()
                last_values.clear()
                last_values.update({k: v.detach() for k, v in values.items()})
                return values["total"]

            while step < last:
                if stop is not None and stop.is_set():
                    stopped = "stop"
                    break
                if (config.frame_every and step % config.frame_every == 0) or step == 0:
                    if not frames or frames[-1][0] != step:
                        frames.append((step, _to_frame(show(G))))
                before = G.detach().clone()
                optimizer.step(closure)
                row = record(last_values)  # the costs of `before`: raises if they are not finite
                last_good = before
                with torch.no_grad():
                    G.clamp_(0, 1)
                step += 1
                bar.update(1)
                if step % 10 == 0 or step == config.total_steps:
                    bar.set_postfix(total=f"{row['total']:.4g}", refresh=False)
                if callback is not None:
                    callback(
                        StepInfo(step, config.total_steps, row, row["seconds"], G.detach(), history, show(G))
                    )
                if (
                    checkpoint is not None
                    and checkpoint_every
                    and step % checkpoint_every == 0
                    and step < config.total_steps
                ):
                    checkpoint(_state(G, optimizer, history, frames, step, config))
            if stopped:
                break
            first = last
        if not stopped and objective is not None:
            # The last row: the costs of the image we return (one extra forward pass, no step). The last step
            # is a trial: where it raised J, the safeguarded L-BFGS's lowest point is the result instead.
            with torch.no_grad():
                values = _evaluate(objective, G.detach(), tile)
                best = getattr(optimizer, "best", None)
                if best is not None and not float(values["total"]) <= best[0]:
                    G = best[1].clone().requires_grad_(True)
                    values = _evaluate(objective, G.detach(), tile)
                record(values)
    except KeyboardInterrupt:
        stopped = "interrupt"
    except FloatingPointError as exc:
        bar.close()
        # The last image whose costs were finite; the start image if even the first costs were not.
        image = _finish(last_good if last_good is not None else before, C_full, config).float().cpu()
        result = Result(
            image,
            history,
            frames,
            config,
            "non-finite",
            time.perf_counter() - start,
            precision,
            full_tile,
            _inputs(content, sources, masks),
            None if objective is None else objective.beta,
        )
        raise NonFiniteCostError(str(exc), result) from None
    finally:
        bar.close()
    if G is None:  # resumed from a finished run, or stopped before the first step
        G = (resume["image"] if resume is not None else C_full).to(device)
    final = _finish(G.detach().float().clamp(0, 1), C_full, config).cpu()
    if not frames or frames[-1][0] != step:
        frames.append((step, _to_frame(final)))
    return Result(
        final,
        history,
        frames,
        config,
        stopped,
        offset + time.perf_counter() - start,
        precision,
        full_tile,
        _inputs(content, sources, masks),
        None if objective is None else objective.beta,
    )


def check_regions(mask_list: list[torch.Tensor], C: torch.Tensor, config: Config, names=None) -> None:
    """Refuse (ValueError) a region that covers less than one position of a style layer at any stage's size
    of G (``masks.check_regions``); C at ``config.size``."""
    stage_hw = [tuple(_scaled(C, scale, config).shape[-2:]) for scale, _ in _stages(config)]
    regions.check_regions(mask_list, stage_hw, [layer for layer, _ in config.style_layers], names)


def _evaluate(objective: Objective, G: torch.Tensor, tile: int) -> dict[str, torch.Tensor]:
    return tiling.tiled_value(objective, G, tile) if tile else objective(G)


def _largest(styles: list[torch.Tensor]) -> torch.Tensor:
    return max(styles, key=lambda S: S.shape[-2] * S.shape[-1])


def _finish(G: torch.Tensor, C_full: torch.Tensor, config: Config) -> torch.Tensor:
    """G in the colours the result shows (``colour.finish``), with C at G's size (a coarse G, a resumed one)."""
    if config.colour not in ("luminance", "keep-colours"):
        return G
    C = C_full.to(G.device)
    C = C if C.shape[-2:] == G.shape[-2:] else images.resize_to(C, tuple(G.shape[-2:]))
    return colour.finish(G.float(), C, config.colour)


def _inputs(content, styles: list, masks) -> dict:
    """What run.json records about the inputs: names and paths as given, other sources described."""
    inputs = {"content": _describe(content), "styles": [_describe(s) for s in styles]}
    if masks is not None:
        inputs["masks"] = [_describe(m) for m in masks]
    return inputs


def _describe(source) -> str:
    if isinstance(source, (str, Path)):
        return str(source)
    shape = getattr(source, "shape", None) or getattr(source, "size", None)
    return f"{type(source).__name__} {tuple(shape)}" if shape is not None else type(source).__name__


def _state(G, optimizer, history: History, frames, step: int, config: Config) -> dict:
    """Everything ``run(resume=…)`` needs, on the CPU, safe for ``torch.save`` / ``torch.load(weights_only=True)``."""
    return {
        "image": G.detach().float().cpu().clone(),
        "optimizer": _to_device(optimizer.state_dict(), "cpu"),
        "history": [dict(row) for row in history.rows],
        "frames": [(k, torch.from_numpy(f.copy())) for k, f in frames],
        "step": step,
        "config": config.to_dict(),
        "nst_edu": __version__,
    }


def _to_device(obj, device):
    if isinstance(obj, torch.Tensor):
        return obj.to(device).clone()
    if isinstance(obj, dict):
        return {k: _to_device(v, device) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_to_device(v, device) for v in obj)
    return obj


def _progress_bar(total: int, enabled: bool, initial: int = 0):
    from tqdm.auto import tqdm

    return tqdm(
        total=total, initial=initial, disable=not enabled, desc="style transfer", unit="step", leave=False
    )
