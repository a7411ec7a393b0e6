"""Solutions to the exercises of notebooks/02_gram_and_style_cost.ipynb: Gram matrix, style costs, rescaled Gram matrix."""

import torch


def gram_matrix(A):
    """G_gram = A Aᵀ; A (n_C, n_H*n_W) -> (n_C, n_C)."""
    return A @ A.T  # (n_C, M) @ (M, n_C) -> (n_C, n_C)


def layer_style_cost(a_S, a_G):
    """J_style^[l] = 1/(4 n_C² (n_H n_W)²) Σ_ij (G_gram(S)_ij − G_gram(G)_ij)²; (1, n_C, n_H, n_W) x 2 -> scalar."""
    _, n_C, n_H, n_W = a_G.shape
    A_S = a_S.reshape(n_C, n_H * n_W)  # (n_C, n_H*n_W): reshape channels-FIRST, never channels-last
    A_G = a_G.reshape(n_C, n_H * n_W)  # (n_C, n_H*n_W)
    G_gram_S, G_gram_G = gram_matrix(A_S), gram_matrix(A_G)  # (n_C, n_C) each
    return torch.sum((G_gram_S - G_gram_G) ** 2) / (4 * n_C**2 * (n_H * n_W) ** 2)


def style_cost(a_S, a_G, style_weights):
    """J_style = Σ_l λ^[l] J_style^[l]; a_S, a_G: {layer: (1, n_C, n_H, n_W)}, style_weights: [(layer, λ), ...]."""
    return sum(weight * layer_style_cost(a_S[layer], a_G[layer]) for layer, weight in style_weights)


def rescaled_gram(a_S, M_G):
    """(M_G / M_S) A_S A_Sᵀ: S's Gram matrix as if S had G's M_G positions; (1, n_C, n_H, n_W), int -> (n_C, n_C)."""
    _, n_C, n_H, n_W = a_S.shape
    M_S = n_H * n_W  # positions of S at this layer
    A_S = a_S.reshape(n_C, M_S)  # (n_C, M_S)
    return gram_matrix(A_S) * (M_G / M_S)  # (n_C, n_C)
