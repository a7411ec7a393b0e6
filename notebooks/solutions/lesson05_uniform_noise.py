"""Solution to the exercise of notebooks/05_starting_from_noise.ipynb: content + uniform noise."""

import torch


def uniform_noise_image(C, ratio=0.6, seed=0):
    """G0 = clip((1 − r) C + r N), N ~ U(0, 1) drawn from a CPU generator seeded with ``seed``.

    Shapes: C (1, 3, H, W) in [0, 1] -> G0 (1, 3, H, W) in [0, 1]
    """
    gen = torch.Generator(device="cpu").manual_seed(seed)  # a local generator: the global RNG is untouched
    N = torch.rand(C.shape, generator=gen, dtype=torch.float32).to(C.device, C.dtype)  # (1, 3, H, W)
    return ((1 - ratio) * C + ratio * N).clamp(0, 1)  # (1, 3, H, W)
