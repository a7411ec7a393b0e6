r"""The starting image $G_0$ of the optimization.

Gradient descent on the pixels of $G$ has to start somewhere; where it starts decides how much of
the content survives when the style cost dominates. This module makes that start, reproducibly:
the noise comes from a local ``torch.Generator`` seeded with ``seed`` (the global RNG is never
touched), drawn on the CPU and then moved to ``C``'s device and dtype, so a seed gives the same
$G_0$ on every device.

The Deep Learning Specialization's two recipes are here under their own names: ``"additive"`` with
$r = 0.25$ is the current (TensorFlow 2) notebook's $\mathrm{clip}(C + \mathcal{U}(-0.25, 0.25))$, and
``"course-tf1"`` with $r = 0.6$ is the first (TensorFlow 1) notebook's ``generate_noise_image``,
$0.6\,\mathcal{U}(-20, 20) + 0.4\,C'$ in the VGG's mean-subtracted 0–255 input space, mapped back to RGB
$[0, 1]$. Both are "noise correlated with the content": random, yet each pixel of $G_0$ rises and falls with
the same pixel of $C$.

It is not the optimizer (``transfer.py``) and does not load images (``images.py``).
"""

from __future__ import annotations

import torch

from .images import resize_to
from .vgg import CAFFE_MEAN_BGR

__all__ = ["COURSE_TF1_MEAN_RGB", "KINDS", "initial_image"]

KINDS = ("content", "style", "white", "uniform", "gaussian", "additive", "course-tf1", "content-colour")

# m in the course-tf1 recipe: the ImageNet mean pixel, RGB order, 0–255 units (the course's CONFIG.MEANS).
COURSE_TF1_MEAN_RGB = tuple(reversed(CAFFE_MEAN_BGR))  # (123.68, 116.779, 103.939)
COURSE_TF1_NOISE = 20.0  # n ~ U(−20, 20), in the same 0–255 units


def initial_image(
    C: torch.Tensor,
    kind: str = "content",
    ratio: float = 0.6,
    seed: int = 0,
    S: torch.Tensor | None = None,
) -> torch.Tensor:
    r"""The starting image $G_0$, with $r$ = ``ratio`` and noise $N$ drawn per pixel and channel.

    - ``"content"``:  $G_0 = C$
    - ``"style"``:    $G_0 = \mathrm{resize}(S, H \times W)$
    - ``"content-colour"``: C with each channel's mean and standard deviation set to S's,
      $G_0 = \mathrm{clip}_{[0,1]}\big((C - \mu_C) / \sigma_C \cdot \sigma_S + \mu_S\big)$ per channel
      with μ, σ each channel's mean and standard deviation over the pixels, σ_C at least 10⁻⁶
      (a colour transfer: a start closer to the style's colours; the content cost still compares with C)
    - ``"white"``:    $G_0 = N,\; N \sim \mathcal{U}(0, 1)$
    - ``"uniform"``:  $G_0 = \mathrm{clip}_{[0,1]}\big((1 - r)\,C + r\,N\big)$,
      $N \sim \mathcal{U}(0, 1)$ (the lesson-05 exercise; with $r = 0.6$ the noise has standard
      deviation $0.6/\sqrt{12} \approx 0.17$: far noisier than either course recipe)
    - ``"gaussian"``: $G_0 = \mathrm{clip}_{[0,1]}\big((1 - r)\,C + r\,N\big)$,
      $N \sim \mathcal{N}(0.5, 0.25^2)$
    - ``"additive"``: $G_0 = \mathrm{clip}_{[0,1]}\big(C + r\,(2U - 1)\big)$,
      $U \sim \mathcal{U}(0, 1)$, i.e. noise uniform in $[-r, r]$
      (with $r = 0.25$: the Deep Learning Specialization's current, TensorFlow 2 recipe,
      ``clip(C + tf.random.uniform(shape, -0.25, 0.25), 0, 1)``; the ``course`` preset)
    - ``"course-tf1"``: the course's first (TensorFlow 1) recipe, ``generate_noise_image``, which mixed
      $r\,n + (1 - r)\,C'$ with $n \sim \mathcal{U}(-20, 20)$ in VGG's input space $C' = 255\,C - m$
      ($m$ = ``COURSE_TF1_MEAN_RGB``, the ImageNet mean pixel in 0–255 units; $r = 0.6$ in the course).
      Mapped back by $x = (x' + m) / 255$:

      $$G_0 = \mathrm{clip}_{[0,1]}\Big((1 - r)\,C + r\,\frac{m + n}{255}\Big),
      \quad n \sim \mathcal{U}(-20, 20),\ n = 40U - 20$$

      i.e. ``"uniform"`` with its noise drawn from $\mathcal{U}\big(\frac{m - 20}{255}, \frac{m + 20}{255}\big)$,
      a band 40/255 wide around the mean colour, instead of $\mathcal{U}(0, 1)$: with $r = 0.6$ the noise's
      standard deviation is $0.6 \cdot 40 / (255 \sqrt{12}) \approx 0.027$, and $G_0$ is 40 % of $C$'s
      contrast on a grey of the mean colour. Every value lies in
      $[r\,(m - 20)/255,\ 1 - r + r\,(m + 20)/255] \subset [0, 1]$, so the clip never acts.

    ``ratio`` is ignored by ``"content"``, ``"style"``, ``"white"`` and ``"content-colour"``; ``S`` is
    needed only by ``"style"`` and ``"content-colour"``. The result is a new tensor that does not require grad,
    on ``C``'s device and dtype.

    Shapes: C: (1, 3, H, W), S: (1, 3, H_S, W_S) -> G0: (1, 3, H, W)
    """
    _check_image(C, "C")
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(map(repr, KINDS))}, got {kind!r}")
    if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or not 0.0 <= ratio <= 1.0:
        raise ValueError(f"ratio must be a number in [0, 1], got {ratio!r}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"seed must be an int, got {seed!r}")

    C = C.detach()
    if kind == "content":
        return C.clone()
    if kind in ("style", "content-colour"):
        if S is None:
            raise ValueError(f'kind="{kind}" needs the style image: pass it as S=...')
        _check_image(S, "S")
    if kind == "content-colour":
        S = S.detach().to(C.device, torch.float32)
        C32 = C.float()
        mu_C, sd_C = C32.mean((2, 3), keepdim=True), C32.std((2, 3), keepdim=True).clamp_min(1e-6)
        mu_S, sd_S = S.mean((2, 3), keepdim=True), S.std((2, 3), keepdim=True)
        return ((C32 - mu_C) / sd_C * sd_S + mu_S).clamp_(0.0, 1.0).to(C.dtype)
    if kind == "style":
        return resize_to(S.detach().to(C.device, torch.float32), tuple(C.shape[-2:])).to(C.dtype)

    gen = torch.Generator(device="cpu").manual_seed(seed)
    draw = torch.randn if kind == "gaussian" else torch.rand
    # Drawn on the CPU in float32 whatever C is, so that a seed means the same picture everywhere.
    N = draw(C.shape, generator=gen, dtype=torch.float32).to(C.device, C.dtype)  # (1, 3, H, W)
    r = float(ratio)
    if kind == "white":
        return N
    if kind == "uniform":
        return ((1.0 - r) * C + r * N).clamp_(0.0, 1.0)
    if kind == "gaussian":
        return ((1.0 - r) * C + r * (0.5 + 0.25 * N)).clamp_(0.0, 1.0)
    if kind == "course-tf1":
        m = torch.tensor(COURSE_TF1_MEAN_RGB, device=C.device, dtype=C.dtype).view(1, 3, 1, 1)  # (1, 3, 1, 1)
        n = COURSE_TF1_NOISE * (2.0 * N - 1.0)  # (1, 3, H, W), U(−20, 20) in 0–255 units
        return ((1.0 - r) * C + r * (m + n) / 255.0).clamp_(0.0, 1.0)
    return (C + r * (2.0 * N - 1.0)).clamp_(0.0, 1.0)  # "additive": 2N - 1 ~ U(-1, 1)


def _check_image(x, name: str) -> None:
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"{name} must be a torch tensor of shape (1, 3, H, W), got {type(x).__name__}")
    if x.ndim != 4 or x.shape[0] != 1 or x.shape[1] != 3 or x.shape[2] < 1 or x.shape[3] < 1:
        raise ValueError(f"{name} must have shape (1, 3, H, W), got {tuple(x.shape)}")
    if not x.is_floating_point():
        raise ValueError(f"{name} must be a float tensor in [0, 1], got dtype {x.dtype}")
    if not bool(torch.isfinite(x.detach()).all()):
        raise ValueError(f"{name} contains NaN or infinite values")
