"""L-BFGS for pixels in a box: one function evaluation per step, steps projected onto [0, 1].

What it is: ``BoxLBFGS``, a small limited-memory BFGS (Nocedal & Wright, Algorithm 7.4, two-loop recursion)
written for style transfer. Why not ``torch.optim.LBFGS``: G must stay in [0, 1]. Clamping G after a step of
torch's L-BFGS leaves it believing it moved by the unclamped step, so its curvature pairs (s, y) are wrong and
the cost oscillates or blows up (the style cost is quartic in the pixels). Here s is the step actually taken,
after projection, so every pair is true. Its first step moves the steepest pixel by ``first_step``, instead of
torch's step of L1 norm 1 that is lost in float32 noise on a 10⁵-pixel image. Pairs with too little curvature
(sᵀy ≤ ε‖s‖‖y‖) are skipped, which keeps the inverse-Hessian approximation positive definite.

    s_k = x_{k+1} − x_k,   y_k = ∇f(x_{k+1}) − ∇f(x_k),   ρ_k = 1 / (s_kᵀ y_k)
    d = −H g  (two-loop recursion over the newest ``history_size`` pairs, H₀ = γ I or γ P (below),
               γ = sᵀy / yᵀy of the newest)
    x ← clip(x + lr · d, lo, hi)

Host syncs: on a GPU, reading a device value on the host (``if sy > …``, ``float(t)``) stalls the Python thread
until the GPU has finished all queued work, so the next kernels cannot be queued while it computes. With
``sync_free`` (the default off the CPU) the curvature test never leaves the device: every pair is stored, a
rejected one with ρ = 0, which makes it an exact no-op in both loops (a = ρ sᵀq = 0 and b = ρ yᵀq = 0), and
γ is kept from the newest accepted pair with ``torch.where``. The host reads one flag per step only until the
first pair has been accepted (usually the second step), to know when to leave the steepest-descent start. The
one difference from the CPU path: a rejected pair still takes a slot of the history until it is pushed out.
On the CPU (where a sync costs nothing) the default keeps the plain ``if``, so CPU results are bit-for-bit
those of the simple version above; with no rejected pair, the two paths give bit-identical steps. Measured on
an H200 (benchmarks/results/gpu.md): 500 float32 steps at 512 px took 3.94 s sync-free, 4.32 s with a sync.

History length: 50 or 100 pairs instead of 20 reached the benchmark's quality target in about 6 % fewer steps
at 256 px, for 2.5–5× the memory of the history (2m images); the default stays 20 (the ``fast`` preset: 50).

Preconditioning (``precondition`` = k > 0): H₀ = γ P with P q = q + k Σ_f B_f q, B_f the mean over f×f pixel
blocks (f in ``blocks``, 2, 4, 8), each an orthogonal projection, so P is symmetric positive definite and the
two-loop recursion stays valid. With H₀ = γ I, the ~10⁵ directions that the m pairs do not span all get the
step γ fitted to the newest pair, which is dominated by high frequencies; smooth (low-frequency) changes of G
then converge in a long tail. P lets them move up to 1 + 3k times farther. Measured at 256 px on the
time-to-quality benchmark (bfloat16, content start, 20 pairs): k = 1 cut the steps to the target from 196 to 166
(from 233 to 202 with a coarse stage); k = 3 diverged before the safeguard below existed; k = 3 with γ = sᵀy / yᵀPy
was stable but slower (222 steps with the coarse stage). Default 0 (off).

Safeguard (``safeguard=True``, the default): there is no line search, so nothing stops a step that raises
J, and on a stiff objective (the paper's normalised network, where every style layer counts) a run from some
starts would climb into saturated noise. Each evaluation f(x_trial) is therefore compared with the largest f
of the last ``memory`` accepted points (a non-monotone test, Grippo et al. 1986, which tolerates the
rounding noise of a bfloat16 forward pass):

    accept  if f(x_trial) ≤ max(f_{k−memory+1} … f_k)       (and f(x_trial) is finite)
    else    x_trial ← x_k + t (x_trial − x_k),  t = the minimiser of the quadratic through f_k, gᵀs, f(x_trial),
            kept in [0.1, 0.5]

A rejected trial costs one evaluation and changes neither the pairs nor the reference values; after
``max_backtracks`` rejections in a row the pairs are dropped and the next step is a steepest-descent one.
Every accepted f is at most f(x_0), so a run never ends worse than it began; ``best`` holds the lowest
accepted point. The test reads the loss on the host: one sync per step on a GPU.

Known limit: the step is projected, with no active set. Where variables sit on a bound and are coupled to
free ones, the projected quasi-Newton step can stop short of the box optimum (seen on random coupled quadratics
with many active bounds). Zeroing the gradient and the step on the bound-held pixels (Bertsekas' projected
Newton) fixes that, but on style transfer it changed nothing measurable (J after 150 steps at 128 px within
0.3 %), so the simpler rule stays.

What it is not: no line search (each step is one forward and one backward pass of VGG-19, so steps of Adam
and L-BFGS cost the same), no general-purpose optimizer API beyond ``step(closure)`` and ``state_dict``.

Shapes: x is any tensor (here G, (1, 3, H, W)); s, y and the direction d have x's shape; ρ, γ are 0-d.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

_CURVATURE_EPS = 1e-10  # accept a pair when sᵀy > ε‖s‖‖y‖


class BoxLBFGS:
    """Minimize f(x) for x in [lo, hi] with L-BFGS; ``step(closure)`` evaluates f and its gradient once."""

    def __init__(
        self,
        x: torch.Tensor,
        lr: float = 1.0,
        history_size: int = 20,
        first_step: float = 0.05,
        lo: float = 0.0,
        hi: float = 1.0,
        sync_free: bool | None = None,
        precondition: float = 0.0,
        blocks: tuple[int, ...] = (2, 4, 8),
        safeguard: bool = True,
        memory: int = 5,
        max_backtracks: int = 5,
    ):
        if not x.requires_grad:
            raise ValueError("BoxLBFGS optimizes a tensor with requires_grad=True")
        if not lr > 0 or not first_step > 0:
            raise ValueError(f"lr and first_step must be > 0, got lr={lr!r}, first_step={first_step!r}")
        if not isinstance(history_size, int) or history_size < 1:
            raise ValueError(f"history_size must be a whole number ≥ 1, got {history_size!r}")
        if not precondition >= 0:
            raise ValueError(f"precondition must be ≥ 0, got {precondition!r}")
        if precondition and x.dim() not in (3, 4):
            raise ValueError(f"precondition needs an image x of shape (N, C, H, W), got {tuple(x.shape)}")
        if not lo < hi:
            raise ValueError(f"the box needs lo < hi, got lo={lo}, hi={hi}")
        self.x, self.lr, self.history_size, self.first_step = x, lr, history_size, first_step
        self.lo, self.hi = lo, hi
        self.precondition, self.blocks = float(precondition), tuple(int(f) for f in blocks)
        self.safeguard, self.memory, self.max_backtracks = bool(safeguard), int(memory), int(max_backtracks)
        self.recent: list[float] = []  # f of the newest accepted points (safeguard)
        self.prev_f: float | None = None  # f(prev_x)
        self.backtracks = 0  # rejections in a row
        self.rejected = 0  # rejections in all
        self.best: tuple[float, torch.Tensor] | None = None  # (f, x) of the lowest accepted point
        self.sync_free = x.device.type != "cpu" if sync_free is None else bool(sync_free)
        self.pairs: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []  # (s, y, ρ = 1 / sᵀy)
        self.prev_x: torch.Tensor | None = None
        self.prev_g: torch.Tensor | None = None
        # sync_free only: γ of the newest accepted pair, and whether any pair was accepted (0-d tensors),
        # and whether the host has seen that flag become true (after which it is never read again).
        self.gamma: torch.Tensor | None = None
        self.accepted: torch.Tensor | None = None
        self._seen_accepted = False

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.x.grad = None

    def _steepest(self, g: torch.Tensor) -> torch.Tensor:
        """The first step: −g scaled so that the steepest pixel moves by ``first_step``."""
        return -g * (self.first_step / g.abs().max().clamp_min(1e-30))

    def _smooth(self, q: torch.Tensor) -> torch.Tensor:
        """P q = q + k Σ_f B_f q; B_f: the mean over f×f pixel blocks (an orthogonal projection), k = precondition."""
        H, W = q.shape[-2:]
        out = q.clone()
        for f in self.blocks:
            block_mean = F.avg_pool2d(q, f, ceil_mode=True)
            out += self.precondition * F.interpolate(block_mean, scale_factor=f, mode="nearest")[..., :H, :W]
        return out

    @torch.no_grad()
    def _two_loop(self, g: torch.Tensor, gamma: torch.Tensor) -> torch.Tensor:
        """d = −H g by the two-loop recursion, with H₀ = γ I (γ P with ``precondition``)."""
        q = g.clone()
        alphas = []
        for s, y, rho in reversed(self.pairs):
            a = rho * (s * q).sum()
            q -= a * y
            alphas.append(a)
        if self.precondition:
            q = self._smooth(q)
        q *= gamma
        for (s, y, rho), a in zip(self.pairs, reversed(alphas)):
            b = rho * (y * q).sum()
            q += (a - b) * s
        return -q

    @torch.no_grad()
    def _direction(self, g: torch.Tensor) -> torch.Tensor:
        if self.sync_free:
            if self.pairs and not self._seen_accepted:
                self._seen_accepted = bool(self.accepted)  # a host read, only until the first accepted pair
            if not self._seen_accepted:
                return self._steepest(g)
            return self._two_loop(g, self.gamma)
        if not self.pairs:
            return self._steepest(g)
        s, y, _ = self.pairs[-1]
        return self._two_loop(g, (s * y).sum() / (y * y).sum())

    def _remember(self, s: torch.Tensor, y: torch.Tensor) -> None:
        """Store the pair (s, y) if its curvature sᵀy is large enough (see the module docstring)."""
        sy = (s * y).sum()
        ok = sy > _CURVATURE_EPS * s.norm() * y.norm()  # 0-d bool tensor
        if self.sync_free:
            gamma = sy / (y * y).sum()
            self.gamma = gamma if self.gamma is None else torch.where(ok, gamma, self.gamma)
            self.accepted = ok if self.accepted is None else self.accepted | ok
            self.pairs.append((s, y, torch.where(ok, 1.0 / sy, 0.0)))  # ρ = 0: a no-op pair
        elif ok:  # a host sync, free on the CPU
            self.pairs.append((s, y, 1.0 / sy))
        del self.pairs[: -self.history_size]

    def step(self, closure) -> torch.Tensor:
        """Evaluate f at x (``closure``), then move x: a quasi-Newton step, or a backtrack when f rose."""
        with torch.enable_grad():
            loss = closure()
        with torch.no_grad():
            g = self.x.grad.detach()
            if self.safeguard:
                f = float(loss.detach())
                if self.prev_x is not None and not f <= max(self.recent):  # NaN fails too
                    self._backtrack(f)
                    return loss
                self._accept(f)
            if self.prev_x is not None:
                self._remember(self.x - self.prev_x, g - self.prev_g)
            d = self._direction(g)
            self.prev_x, self.prev_g = self.x.detach().clone(), g.clone()
            self.x.add_(d, alpha=self.lr).clamp_(self.lo, self.hi)
        return loss

    def _accept(self, f: float) -> None:
        self.recent = (self.recent + [f])[-self.memory :]
        self.prev_f, self.backtracks = f, 0
        if self.best is None or f < self.best[0]:
            self.best = (f, self.x.detach().clone())

    def _backtrack(self, f: float) -> None:
        """x ← x_k + t (x − x_k): t minimises the quadratic q(0) = f_k, q'(0) = g_kᵀs, q(1) = f, in [0.1, 0.5]."""
        s = self.x - self.prev_x  # the rejected (projected) step
        slope = float((self.prev_g * s).sum())  # g_kᵀ s, < 0 for a descent step
        rise = f - self.prev_f - slope
        t = -slope / (2.0 * rise) if slope < 0 and rise > 0 and f == f and f != float("inf") else 0.1
        # Clamped too: the point it backtracks to may be a start outside the box (x0 is not projected).
        self.x.copy_(self.prev_x + min(0.5, max(0.1, t)) * s).clamp_(self.lo, self.hi)
        self.backtracks += 1
        self.rejected += 1
        if (
            self.backtracks >= self.max_backtracks
        ):  # the pairs lead nowhere: start again from steepest descent
            self.pairs.clear()
            self.gamma = self.accepted = None
            self._seen_accepted = False
            self.x.copy_(self.prev_x + self._steepest(self.prev_g))
            self.x.clamp_(self.lo, self.hi)
            self.backtracks = 0

    def state_dict(self) -> dict:
        state = {
            "pairs": [tuple(t.clone() for t in p) for p in self.pairs],
            "prev_x": self.prev_x,
            "prev_g": self.prev_g,
            "lr": self.lr,
            "history_size": self.history_size,
            "first_step": self.first_step,
            "precondition": self.precondition,
            "blocks": list(self.blocks),
            "safeguard": {
                "recent": list(self.recent),
                "prev_f": self.prev_f,
                "backtracks": self.backtracks,
                "rejected": self.rejected,
                "best_f": None if self.best is None else self.best[0],
                "best_x": None if self.best is None else self.best[1].clone(),
            },
        }
        if self.sync_free and self.gamma is not None:
            state["gamma"], state["accepted"] = self.gamma.clone(), self.accepted.clone()
        return state

    def load_state_dict(self, state: dict) -> None:
        self.pairs = [tuple(p) for p in state["pairs"]]
        if not self.sync_free:
            # A state saved by the sync-free path may hold rejected pairs (ρ = 0): the CPU path keeps none.
            self.pairs = [p for p in self.pairs if float(p[2]) != 0.0]
        self.prev_x, self.prev_g = state["prev_x"], state["prev_g"]
        self.lr, self.history_size, self.first_step = state["lr"], state["history_size"], state["first_step"]
        self.precondition = float(state.get("precondition", self.precondition))
        self.blocks = tuple(int(f) for f in state.get("blocks", self.blocks))
        self.gamma, self.accepted = state.get("gamma"), state.get("accepted")
        guard = state.get("safeguard") or {}
        self.recent = [float(f) for f in guard.get("recent", [])]
        self.prev_f = guard.get("prev_f")
        self.backtracks, self.rejected = int(guard.get("backtracks", 0)), int(guard.get("rejected", 0))
        self.best = None if guard.get("best_x") is None else (float(guard["best_f"]), guard["best_x"])
        self._seen_accepted = False
        if self.sync_free and self.pairs and self.gamma is None:
            # A state saved by the CPU path holds only accepted pairs: γ comes from the newest one.
            s, y, _ = self.pairs[-1]
            self.gamma = (s * y).sum() / (y * y).sum()
            self.accepted = torch.ones((), dtype=torch.bool, device=s.device)
