"""The optimization loop: paint G so that its VGG-19 features match C's content and S's style.

What it is: ``run(content, style, config)`` loads the images, computes the targets once (a_C at the content
layer, the Gram matrices of S at the style layers) without gradients, then optimizes the pixels of G in
[0, 1] with Adam or L-BFGS, minimizing

    J(G) = α J_content(C, G) + β Σ_l λ_l J_style^[l](S, G) + tv_weight · J_tv(G).

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
from . import costs, images, memory, noise, vgg
from .checkpoint import validate as validate_state
from .config import Config, as_config
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

    def metadata(self) -> dict:
        """What is needed to reproduce the run: versions and the config."""
        return {
            "nst_edu": __version__,
            "torch": torch.__version__,
            "stopped": self.stopped,
            "precision": self.precision or resolve_precision(self.config.precision),
            "seconds": round(self.seconds, 3),
            "config": self.config.to_dict(),
        }

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
    """Passed to ``callback`` after every step. ``image`` is the live G: clone it before keeping it."""

    step: int
    total_steps: int
    costs: dict[str, float]
    seconds: float
    image: torch.Tensor
    history: History


@lru_cache(maxsize=4)
def _cached_model(
    weights: str,
    layers: tuple[str, ...],
    pooling: str,
    seed: int,
    device: str,
    channels_last: bool,
    precision: str = "float32",
) -> vgg.VGG19Features:
    model = vgg.VGG19Features(weights=weights, layers=layers, pooling=pooling, seed=seed).to(device)
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
    )


def load_pair(content, style, config: Config) -> tuple[torch.Tensor, torch.Tensor]:
    """C at ``config.size`` (longer side) and S at ``round(config.size · config.style_scale)``."""
    C = images.load_image(content, size=config.size)
    S = images.load_image(style, size=max(1, round(config.size * config.style_scale)))
    return C, S


class Objective:
    """J(G) for fixed C and S: the targets are computed once, ``__call__`` gives all costs of one G.

    Each cost is the function of ``costs.py`` (one copy of each formula). The targets are checked once, here;
    each step skips the NaN/inf scan (``check_finite=False``), since ``run`` checks every step's total.

    Shapes: G (1, 3, H, W) -> dict of scalar tensors: content, style, style:<layer>, tv, total.
    """

    def __init__(self, model: vgg.VGG19Features, C: torch.Tensor, S: torch.Tensor, config: Config):
        self.model, self.config = model, config
        self.style_weights = dict(config.style_layers)
        self.precision = resolve_precision(config.precision, C.device)
        self.autocast = self.precision == "bfloat16"
        with torch.no_grad():
            a_C = self._features(C, config.layers)
            a_S = self._features(S, list(self.style_weights))
            self.a_C = a_C[config.content_layer].float()  # (1, n_C, n_H, n_W)
            # S may differ in size from G (which has C's size): each target is S's Gram matrix as if S had G's
            # M_G = n_H·n_W positions at that layer.
            self.grams_S = {
                layer: costs.rescaled_gram(a, M_G=a_C[layer].shape[-2] * a_C[layer].shape[-1])
                for layer, a in a_S.items()
            }  # {layer: (n_C, n_C)}

    def _features(self, x: torch.Tensor, layers) -> dict[str, torch.Tensor]:
        if self.config.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=self.autocast):
            return self.model(x, layers)

    def __call__(self, G: torch.Tensor) -> dict[str, torch.Tensor]:
        cfg = self.config
        acts = self._features(G, cfg.layers)
        out = {"content": costs.content_cost(self.a_C, acts[cfg.content_layer], check_finite=False)}
        J_style, J_layers = costs.style_cost_from_grams(
            self.grams_S, acts, self.style_weights, per_layer=True, check_finite=False
        )
        out.update({f"style:{layer}": J for layer, J in J_layers.items()})
        out["style"] = J_style
        out["tv"] = costs.tv_cost(G, check_finite=False) if cfg.tv_weight > 0 else G.new_zeros(())
        out["total"] = costs.total_cost(
            out["content"], out["style"], cfg.alpha, cfg.beta, out["tv"], cfg.tv_weight, check_finite=False
        )
        return out


def _make_optimizer(config: Config, G: torch.Tensor):
    if config.optimizer == "adam":
        return torch.optim.Adam([G], lr=config.lr)
    return BoxLBFGS(G, lr=config.lr, history_size=config.history_size, precondition=config.precondition)


def _stages(config: Config) -> list[tuple[float, int]]:
    stages = [(config.coarse_scale, config.coarse_steps)] if config.coarse_steps else []
    return stages + [(1.0, config.steps)] if config.steps else stages


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
) -> Result:
    """Run neural style transfer and return a ``Result``.

    ``content`` and ``style`` are anything ``images.load_image`` takes (sample name, path, URL, PIL image,
    array, tensor). ``callback(StepInfo)`` runs after each step; setting ``stop`` (a ``threading.Event``) or
    pressing Ctrl-C ends the run after the current step and returns the result so far. ``init_image``
    overrides ``config.init`` (it is resized to the first stage's size).

    Checkpoints: every ``checkpoint_every`` steps, ``checkpoint(state)`` receives a dict (image, optimizer
    state, history rows, frames, step, config) that ``resume=state`` continues from; a resumed run gives the
    same image as an uninterrupted one with the same config.
    """
    config = as_config(config)  # a Config, a preset name or None; anything else is refused in one sentence
    if resume is not None:
        validate_state(resume, config)  # every field; a bad one is named (CheckpointError, a ValueError)
    if init_image is not None:
        init_image = images.load_image(init_image)  # checked like any image: shape, NaN, range [0, 1]
    device = resolve_device(config.device)
    precision = resolve_precision(config.precision, device)  # what Result and run.json report
    torch.manual_seed(config.seed)
    C_full, S_full = load_pair(content, style, config)
    memory.check_fits(config, C_full.shape, S_full.shape, device)  # too thin or too large: refuse now
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
            C, S = (
                (C_full, S_full)
                if scale == 1.0
                else (_scaled(C_full, scale, config), _scaled(S_full, scale, config))
            )
            C, S = C.to(device), S.to(device)
            objective = Objective(model, C, S, config)
            if resume is not None and G is None:
                G0 = resume["image"].to(device)
            elif G is None:
                start_image = (
                    init_image
                    if init_image is not None
                    else noise.initial_image(C, config.init, config.noise_ratio, config.seed, S=S)
                )
                G0 = images.resize_to(start_image.to(device), tuple(C.shape[-2:]))
            else:
                G0 = F.interpolate(G.detach(), size=tuple(C.shape[-2:]), mode="bilinear", align_corners=False)
            G = G0.clamp(0, 1).contiguous().requires_grad_(True)
            optimizer = _make_optimizer(config, G)
            if resume is not None and step > first and resume.get("optimizer") is not None:
                optimizer.load_state_dict(_to_device(resume["optimizer"], device))
            last_values: dict[str, torch.Tensor] = {}

            def closure():
                optimizer.zero_grad(set_to_none=True)
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
                        frames.append((step, _to_frame(G)))
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
                    callback(StepInfo(step, config.total_steps, row, row["seconds"], G.detach(), history))
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
            # The last row: the costs of the image we return (one extra forward pass, no step).
            with torch.no_grad():
                record(objective(G.detach()))
    except KeyboardInterrupt:
        stopped = "interrupt"
    except FloatingPointError as exc:
        bar.close()
        # The last image whose costs were finite; the start image if even the first costs were not.
        image = (last_good if last_good is not None else before).float().cpu()
        result = Result(
            image,
            history,
            frames,
            config,
            "non-finite",
            time.perf_counter() - start,
            precision,
        )
        raise NonFiniteCostError(str(exc), result) from None
    finally:
        bar.close()
    if G is None:  # resumed from a finished run, or stopped before the first step
        G = (resume["image"] if resume is not None else C_full).to(device)
    final = G.detach().float().clamp(0, 1).cpu()
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
    )


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
