"""Solution to exercise 2 of notebooks/08_controlling_colour_regions_and_scale.ipynb: the guided Gram matrix."""

import torch.nn.functional as F


def guided_gram(a, mask):
    """M / Σ_k m_k² · (A m)(A m)ᵀ; a (1, n_C, n_H, n_W), mask (H, W) at the image's size -> (n_C, n_C)."""
    _, n_C, n_H, n_W = a.shape
    M = n_H * n_W
    m = F.adaptive_avg_pool2d(mask[None, None], (n_H, n_W))  # (1, 1, n_H, n_W): each position's block mean
    m = m.reshape(1, M)  # (1, M)
    A_m = a.reshape(n_C, M) * m  # (n_C, M): column k of A times m_k (unrolled channels FIRST)
    return A_m @ A_m.T * (M / (m**2).sum())  # (n_C, n_C), normalised by the region's area Σ m²
