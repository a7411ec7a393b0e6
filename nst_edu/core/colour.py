r"""Colour control (Gatys, Ecker, Bethge, Hertzmann & Shechtman, CVPR 2017): keep the photo's colours.

What it is: the colour formulas, each a small function on RGB images (1, 3, H, W) in [0, 1]:

- ``rgb_to_yiq`` / ``yiq_to_rgb``: the NTSC YIQ transform; Y is luminance, I and Q chrominance;
- ``match_luminance``: the style's luminance given the content's mean and standard deviation (the paper's
  luminance-only transfer matches them before the transfer);
- ``luminance_image``: Y repeated on three channels, what VGG sees in a luminance-only transfer;
- ``match_colour``: the paper's colour-histogram matching, a linear map of S's pixels that gives them C's
  mean and covariance;
- ``keep_colours``: G's luminance with C's chrominance (after a transfer, or after the loop);
- ``prepare`` and ``finish``: what each colour mode of ``Config.colour`` does at the two ends of a run;
- ``speckle_index``: how much high-frequency colour noise G has next to the style image (a measurement of
  results, not part of any cost).

What it is not: no costs (they do not change: colour control happens at the two ends of the flow, before the
targets are computed and after the loop), no image loading.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = [
    "YIQ",
    "rgb_to_yiq",
    "yiq_to_rgb",
    "match_luminance",
    "luminance_image",
    "match_colour",
    "keep_colours",
    "prepare",
    "finish",
    "chroma_detail",
    "speckle_index",
]

# Rows give Y, I, Q from R, G, B (FCC NTSC). Y's row sums to 1, I's and Q's to 0: a grey pixel has I = Q = 0.
YIQ = ((0.299, 0.587, 0.114), (0.595716, -0.274453, -0.321263), (0.211456, -0.522591, 0.311135))


def _check_rgb(name: str, x: object) -> None:
    if not (isinstance(x, Tensor) and x.dim() == 4 and x.shape[:2] == (1, 3) and x.is_floating_point()):
        shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ValueError(f"{name} must be a float RGB image of shape (1, 3, H, W), got {shape}")


def _yiq_matrix(x: Tensor) -> Tensor:
    return torch.tensor(YIQ, dtype=torch.float64, device=x.device)


def rgb_to_yiq(x: Tensor) -> Tensor:
    r"""$[Y, I, Q]^T = M_{YIQ} [R, G, B]^T$ at every pixel.

    Shapes: x (1, 3, H, W) -> (1, 3, H, W); channel 0 is Y (luminance), 1 and 2 are I, Q (chrominance)
    """
    _check_rgb("x", x)
    M = _yiq_matrix(x).to(x.dtype)  # (3, 3)
    return torch.einsum("ij,bjhw->bihw", M, x)  # (1, 3, H, W)


def yiq_to_rgb(yiq: Tensor) -> Tensor:
    r"""$[R, G, B]^T = M_{YIQ}^{-1} [Y, I, Q]^T$ at every pixel (the exact inverse, not clipped).

    Shapes: yiq (1, 3, H, W) -> (1, 3, H, W)
    """
    _check_rgb("yiq", yiq)
    M_inv = torch.linalg.inv(_yiq_matrix(yiq)).to(yiq.dtype)  # (3, 3), inverted in float64
    return torch.einsum("ij,bjhw->bihw", M_inv, yiq)  # (1, 3, H, W)


def match_luminance(Y_S: Tensor, Y_C: Tensor) -> Tensor:
    r"""$Y_S' = \frac{\sigma_C}{\sigma_S} (Y_S - \mu_S) + \mu_C$: S's luminance with C's mean and std.

    μ, σ: mean and standard deviation over all pixels (σ_S at least 10⁻⁶, so a flat S stays flat).
    Shapes: Y_S (1, 1, H_S, W_S), Y_C (1, 1, H_C, W_C) -> (1, 1, H_S, W_S)
    """
    sigma_S = Y_S.std(unbiased=False).clamp_min(1e-6)
    return (Y_S - Y_S.mean()) * (Y_C.std(unbiased=False) / sigma_S) + Y_C.mean()  # (1, 1, H_S, W_S)


def luminance_image(x: Tensor) -> Tensor:
    r"""$Y$ of ``x`` on three equal channels, clipped to [0, 1]: a grey image VGG can read.

    Shapes: x (1, 3, H, W) -> (1, 3, H, W)
    """
    Y = rgb_to_yiq(x)[:, :1]  # (1, 1, H, W)
    return Y.clamp(0, 1).expand(-1, 3, -1, -1).contiguous()  # (1, 3, H, W)


def match_colour(S: Tensor, C: Tensor) -> Tensor:
    r"""$x_{S'} = A (x_S - \mu_S) + \mu_C$ per pixel, $A = \Sigma_C^{1/2} \Sigma_S^{-1/2}$, so that $S'$ has
    C's mean μ and covariance Σ (over pixels, 3 × 3); $\Sigma^{1/2}$ is the symmetric square root.

    Not clipped: the caller clips to [0, 1] (``transfer`` does), which moves the statistics slightly.
    Shapes: S (1, 3, H_S, W_S), C (1, 3, H_C, W_C) -> (1, 3, H_S, W_S)
    """
    _check_rgb("S", S)
    _check_rgb("C", C)
    x_S = S.reshape(3, -1).double()  # (3, H_S·W_S)
    x_C = C.reshape(3, -1).double()  # (3, H_C·W_C)
    mu_S, mu_C = x_S.mean(1, keepdim=True), x_C.mean(1, keepdim=True)  # (3, 1)
    A = _sqrtm(_cov(x_C)) @ _sqrtm(_cov(x_S), inverse=True)  # (3, 3)
    return (A @ (x_S - mu_S) + mu_C).reshape(S.shape).to(S.dtype)  # (1, 3, H_S, W_S)


def keep_colours(G: Tensor, C: Tensor) -> Tensor:
    r"""$\mathrm{clip}_{[0,1]}\big(\mathrm{RGB}(Y_G, I_C, Q_C)\big)$: G's luminance, C's chrominance.

    Shapes: G (1, 3, H, W), C (1, 3, H, W) -> (1, 3, H, W)
    """
    if G.shape != C.shape:
        raise ValueError(
            f"G and C must have the same shape to combine them, got {tuple(G.shape)} and {tuple(C.shape)}"
        )
    yiq = torch.cat([rgb_to_yiq(G)[:, :1], rgb_to_yiq(C)[:, 1:]], dim=1)  # (1, 3, H, W)
    return yiq_to_rgb(yiq).clamp(0, 1)


def prepare(C: Tensor, styles: list[Tensor], mode: str) -> tuple[Tensor, list[Tensor]]:
    r"""What VGG sees in colour mode ``mode`` (``Config.colour``): C and the styles, before the targets.

    - ``"style"``, ``"keep-colours"``: C and S as they are;
    - ``"luminance"``: $Y_C$ and each $Y_S$ matched to $Y_C$'s mean and std (``match_luminance``), as grey
      images (three equal channels, clipped to [0, 1]); the loop then optimizes G's luminance only;
    - ``"histogram"``: each S recoloured to C's mean and covariance (``match_colour``), clipped to [0, 1].

    Shapes: C (1, 3, H, W), styles[s] (1, 3, H_s, W_s) -> the same shapes
    """
    if mode == "luminance":
        Y_C = rgb_to_yiq(C)[:, :1]  # (1, 1, H, W)
        grey = [match_luminance(rgb_to_yiq(S)[:, :1], Y_C).clamp(0, 1) for S in styles]  # (1, 1, H_s, W_s)
        return luminance_image(C), [Y.expand(-1, 3, -1, -1).contiguous() for Y in grey]
    if mode == "histogram":
        return C, [match_colour(S, C).clamp(0, 1) for S in styles]
    return C, list(styles)


def finish(G: Tensor, C: Tensor, mode: str) -> Tensor:
    r"""The image a run shows in colour mode ``mode``: ``keep_colours(G, C)`` for ``"luminance"`` and
    ``"keep-colours"`` ($Y_G$ with C's $I, Q$), G itself for the others.

    Shapes: G, C (1, 3, H, W) -> (1, 3, H, W)
    """
    return keep_colours(G, C) if mode in ("luminance", "keep-colours") else G


def _cov(x: Tensor) -> Tensor:
    """Covariance over pixels of a (3, M) matrix, plus 10⁻⁸ I so that a grey image stays invertible."""
    d = x - x.mean(1, keepdim=True)  # (3, M)
    return d @ d.T / x.shape[1] + 1e-8 * torch.eye(3, dtype=x.dtype, device=x.device)  # (3, 3)


def _sqrtm(sigma: Tensor, inverse: bool = False) -> Tensor:
    """Σ^{1/2} (or Σ^{-1/2}) of a symmetric positive definite 3 × 3 matrix, by its eigendecomposition."""
    w, V = torch.linalg.eigh(sigma)  # (3,), (3, 3)
    w = w.clamp_min(1e-12)
    return V @ torch.diag(w.rsqrt() if inverse else w.sqrt()) @ V.T  # (3, 3)


def chroma_detail(x: Tensor) -> Tensor:
    r"""Energy of the fine detail of the chrominance: the mean over pixels of the squared difference between I
    and Q and their blur (a 5×5 Gaussian, σ = 1 px, reflected at the border).

    $$E_{hf}(x) = \frac{1}{H W} \sum_{ij} \big[(I - g_1 * I)_{ij}^2 + (Q - g_1 * Q)_{ij}^2\big]$$

    Shapes: x (1, 3, H, W) in [0, 1] -> scalar tensor (float64)
    """
    _check_rgb("x", x)
    IQ = rgb_to_yiq(x.double())[:, 1:]  # (1, 2, H, W)
    k = torch.exp(-0.5 * torch.arange(-2, 3, dtype=torch.float64, device=x.device) ** 2)
    g = (k[:, None] * k[None, :] / k.sum() ** 2).expand(2, 1, 5, 5)  # (2, 1, 5, 5), one kernel per channel
    padded = torch.nn.functional.pad(IQ, (2, 2, 2, 2), mode="reflect")  # (1, 2, H+4, W+4)
    blurred = torch.nn.functional.conv2d(padded, g, groups=2)  # (1, 2, H, W)
    return ((IQ - blurred) ** 2).sum(1).mean()  # ()


def speckle_index(G: Tensor, S: Tensor) -> float:
    r"""Rainbow speckle of a result: $E_{hf}(G) / E_{hf}(S')$, S' the style image resized to G's H × W.

    1 means G's colours are as finely detailed as the style's own; far above 1, G carries colour noise that
    the style does not have (magenta and green pixels). Shapes: G (1, 3, H, W), S (1, 3, H_S, W_S) -> float
    """
    _check_rgb("G", G)
    _check_rgb("S", S)
    S = torch.nn.functional.interpolate(S.double(), size=tuple(G.shape[-2:]), mode="bicubic", antialias=True)
    return float(chroma_detail(G) / chroma_detail(S.clamp(0, 1)).clamp_min(1e-12))
