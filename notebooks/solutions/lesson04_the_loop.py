"""Solutions to the exercises of notebooks/04_the_loop_by_hand.ipynb: the targets, the Adam step, the closure
step."""

import torch

from nst_edu.core import costs


def compute_targets(model, C, S, config):
    """Freeze the network, then compute the targets once: a_C, and S's Gram matrices rescaled by M_G / M_S.

    Shapes: C (1, 3, H, W), S (1, 3, H_S, W_S) -> a_C (1, n_C, n_H, n_W), grams_S {layer: (n_C, n_C)}
    """
    model.requires_grad_(False)  # the weights are not optimized: no gradient for them
    model.eval()
    with torch.no_grad():  # the targets are constants: no graph behind them
        a_C = model(C, config.layers)  # {layer: (1, n_C, n_H, n_W)}, at G's size (G starts at C's size)
        a_S = model(S, [layer for layer, _ in config.style_layers])
        grams_S = {}
        for layer, a in a_S.items():
            M_S = a.shape[-2] * a.shape[-1]  # positions of S's activation
            M_G = a_C[layer].shape[-2] * a_C[layer].shape[-1]  # positions of G's (C's size)
            grams_S[layer] = costs.gram_matrix(costs.unroll(a)) * (M_G / M_S)  # (n_C, n_C)
    return a_C[config.content_layer], grams_S


def _total_cost(G, model, targets, config):
    """J(G) = α J_content + β Σ_l λ_l J_style^[l] (+ w_tv J_tv), from the package's cost functions."""
    a_C, grams_S = targets
    a_G = model(G, config.layers)  # {layer: (1, n_C, n_H, n_W)}, with the graph back to G
    J_content = costs.content_cost(a_C, a_G[config.content_layer])
    J_style = costs.style_cost_from_grams(grams_S, a_G, config.style_layers)
    J_tv = costs.tv_cost(G) if config.tv_weight else None
    return costs.total_cost(J_content, J_style, config.alpha, config.beta, J_tv, config.tv_weight)


def train_step(G, optimizer, model, targets, config):
    """One Adam step of the course's loop: returns J of G before the step; G (1, 3, H, W) changes in place."""
    optimizer.zero_grad()  # .backward() adds to G.grad: clear last step's gradient first
    J = _total_cost(G, model, targets, config)
    J.backward()  # dJ/dG into G.grad (the network is frozen, the targets are constants)
    optimizer.step()
    with torch.no_grad():  # an image lives in [0, 1]; not a step to differentiate
        G.clamp_(0, 1)
    return J.detach()


def closure_step(G, optimizer, model, targets, config):
    """One step through a closure (BoxLBFGS, or Adam); returns J of G before the step. G changes in place."""

    def closure():
        optimizer.zero_grad()
        J = _total_cost(G, model, targets, config)
        J.backward()
        return J

    J = optimizer.step(closure)  # L-BFGS evaluates the closure itself (BoxLBFGS: once a step)
    with torch.no_grad():
        G.clamp_(0, 1)
    return J.detach()
