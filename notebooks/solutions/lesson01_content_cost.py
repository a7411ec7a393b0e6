"""Solutions to the exercises of notebooks/01_content_cost.ipynb: unroll and the content cost."""

import torch


def unroll(a):
    """a (1, n_C, n_H, n_W) -> A (n_C, n_H*n_W): one row per channel."""
    _, n_C, n_H, n_W = a.shape
    return a.reshape(n_C, n_H * n_W)  # (n_C, n_H*n_W)


def content_cost(a_C, a_G):
    """J_content = 1/(4 n_H n_W n_C) Σ (a_C − a_G)²; a_C, a_G (1, n_C, n_H, n_W) -> scalar tensor."""
    _, n_C, n_H, n_W = a_G.shape
    return torch.sum((a_C - a_G) ** 2) / (4 * n_H * n_W * n_C)
