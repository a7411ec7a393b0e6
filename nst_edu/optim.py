"""L-BFGS for pixels in a box: one function evaluation per step, steps projected onto [0, 1].

What it is: ``BoxLBFGS``, a small limited-memory BFGS (Nocedal & Wright, Algorithm 7.4, two-loop recursion)
written for style transfer. Why not ``torch.optim.LBFGS``: G must stay in [0, 1]. Clamping G after a step of
torch's L-BFGS leaves it believing it moved by the unclamped step, so its curvature pairs (s, y) are wrong and
the cost oscillates or blows up (the style cost is quartic in the pixels). Here s is the step actually taken,
after projection, so every pair is true. Its first step moves the steepest pixel by ``first_step``, instead of
torch's step of L1 norm 1 that is lost in float32 noise on a 10⁵-pixel image. Pairs with too little curvature
(sᵀy ≤ ε‖s‖‖y‖) are skipped, which keeps the inverse-Hessian approximation positive definite.

What it is not: no line search (each step is one forward and one backward pass of VGG-19, so steps of Adam
and L-BFGS cost the same), no general-purpose optimizer API beyond ``step(closure)`` and ``state_dict``.

Shapes: x is any tensor (here G, (1, 3, H, W)); s, y and the direction d have x's shape.
"""

from __future__ import annotations

import torch


class BoxLBFGS:
    """Minimize f(x) for x in [lo, hi] with L-BFGS; ``step(closure)`` evaluates f and its gradient once."""

    def __init__(self, x: torch.Tensor, lr: float = 1.0, history_size: int = 20, first_step: float = 0.05,
                 lo: float = 0.0, hi: float = 1.0):
        if not x.requires_grad:
            raise ValueError("BoxLBFGS optimizes a tensor with requires_grad=True")
        self.x, self.lr, self.history_size, self.first_step = x, lr, history_size, first_step
        self.lo, self.hi = lo, hi
        self.pairs: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []  # (s, y, 1 / sᵀy)
        self.prev_x: torch.Tensor | None = None
        self.prev_g: torch.Tensor | None = None

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.x.grad = None

    @torch.no_grad()
    def _direction(self, g: torch.Tensor) -> torch.Tensor:
        """d = −H g by the two-loop recursion, with H₀ = (sᵀy / yᵀy) I from the newest pair."""
        if not self.pairs:
            return -g * (self.first_step / g.abs().max().clamp_min(1e-30))
        q = g.clone()
        alphas = []
        for s, y, rho in reversed(self.pairs):
            a = rho * (s * q).sum()
            q -= a * y
            alphas.append(a)
        s, y, _ = self.pairs[-1]
        q *= (s * y).sum() / (y * y).sum()
        for (s, y, rho), a in zip(self.pairs, reversed(alphas)):
            b = rho * (y * q).sum()
            q += (a - b) * s
        return -q

    def step(self, closure) -> torch.Tensor:
        with torch.enable_grad():
            loss = closure()
        with torch.no_grad():
            g = self.x.grad.detach()
            if self.prev_x is not None:
                s, y = self.x - self.prev_x, g - self.prev_g
                sy = (s * y).sum()
                if sy > 1e-10 * s.norm() * y.norm():
                    self.pairs.append((s, y, 1.0 / sy))
                    del self.pairs[: -self.history_size]
            d = self._direction(g)
            self.prev_x, self.prev_g = self.x.detach().clone(), g.clone()
            self.x.add_(d, alpha=self.lr).clamp_(self.lo, self.hi)
        return loss

    def state_dict(self) -> dict:
        return {"pairs": [tuple(t.clone() for t in p) for p in self.pairs],
                "prev_x": self.prev_x, "prev_g": self.prev_g,
                "lr": self.lr, "history_size": self.history_size, "first_step": self.first_step}

    def load_state_dict(self, state: dict) -> None:
        self.pairs = [tuple(p) for p in state["pairs"]]
        self.prev_x, self.prev_g = state["prev_x"], state["prev_g"]
        self.lr, self.history_size, self.first_step = state["lr"], state["history_size"], state["first_step"]
