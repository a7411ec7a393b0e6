"""Each speed choice of one optimizer step measured on its own: seconds per step with and without it.

What it is: one step of the ``gatys`` objective (one VGG-19 forward and backward pass, the costs, one box
L-BFGS step) at one size, in variants that each change one thing from nst_edu's step:

- ``ours``: the network truncated at relu5_1, targets (a_C, Gram matrices of S) computed once, ReLUs in place,
  float32, contiguous (NCHW) layout;
- ``full-forward``: the whole 37-layer network run every step (no truncation at the deepest layer needed);
- ``targets-every-step``: C's and S's activations and S's Gram matrices recomputed every step;
- ``relu-copies``: ReLUs that write a new tensor instead of overwriting the convolution's output;
- ``host-reads``: every cost read back as a Python float inside the step (a host sync on a GPU), plus a copy
  of G per step;
- ``channels-last``: NHWC memory layout for image and network (``Config.channels_last``);
- ``bfloat16``: autocast of the network to bfloat16 (``Config.precision``), costs summed in float32;
- ``bfloat16+channels-last``;
- ``proposal: …``: changes outside the benchmarks measured before anyone makes them: a Gram matrix whose
  backward pass is one matrix product, (dJ/dG + dJ/dGᵀ) A, instead of autograd's two (``costs.py``), and the
  network's weights kept in bfloat16 when autocasting (``transfer.py``), so they are not cast every step.

How it is timed: in one process, the variants take turns (round robin, a few steps each per round, after a
warm-up), each from the same white-noise start, and the median seconds per step is reported with the ratio
to ``ours``. Coarse-to-fine is not a per-step choice: ``time_to_quality.py`` measures it.

What it is not: not a test; the peak memory of our step is in ``per_step.py`` and ``scaling.py``.
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

from nst_edu import preset  # noqa: E402
from nst_edu.core import costs, noise, transfer, vgg
from nst_edu.core.optim import BoxLBFGS  # noqa: E402


class FullForward(torch.nn.Module):
    """A VGG19Features built to pool5 that always runs all 37 layers, then returns the layers asked for."""

    def __init__(self, config):
        super().__init__()
        self.net = vgg.VGG19Features(weights=config.weights, layers=(*config.layers, "pool5"))

    def forward(self, x, layers):
        out = self.net(x, (*layers, "pool5"))
        return {name: out[name] for name in layers}


class _SymmetricGram(torch.autograd.Function):
    """G = A Aᵀ with the backward pass dJ/dA = (dJ/dG + dJ/dGᵀ) A: one matrix product instead of autograd's two
    (it differentiates A and Aᵀ separately, then adds the two results)."""

    @staticmethod
    def forward(ctx, A):
        ctx.save_for_backward(A)
        return A @ A.T  # (n_C, M) @ (M, n_C) -> (n_C, n_C)

    @staticmethod
    def backward(ctx, grad):
        (A,) = ctx.saved_tensors
        return (grad + grad.T) @ A  # (n_C, n_C) @ (n_C, M) -> (n_C, M)


def symmetric_gram(A, *, check_finite=True):
    """A drop-in for ``costs.gram_matrix`` (a proposal measured here, not used by nst_edu yet)."""
    A = costs._accurate(A)
    with costs._autocast_off(A.device.type):
        return _SymmetricGram.apply(A)


class PatchedGram:
    """Use ``symmetric_gram`` inside ``costs`` while a step runs."""

    def __enter__(self):
        self.saved = costs.gram_matrix
        costs.gram_matrix = symmetric_gram  # the loop's layer_style_cost_from_gram looks it up at call time

    def __exit__(self, *exc):
        costs.gram_matrix = self.saved


def bf16_weights(model):
    """The network with its conv weights stored in bfloat16, so that autocast need not cast them every step."""
    model = copy.deepcopy(model)
    model.body.to(torch.bfloat16)
    return model


def relu_copies(model):
    model = copy.deepcopy(model)
    for module in model.modules():
        if isinstance(module, torch.nn.ReLU):
            module.inplace = False
    return model


def make_variants(size: int) -> dict:
    base = preset("gatys", size=size, device="cpu")
    C, S = transfer.load_pair(common.CONTENT, common.STYLE, base)
    G0 = noise.initial_image(C, base.init, base.noise_ratio, base.seed, S=S)
    variants = {}

    def add(name, config, model=None, targets_every_step=False, host_reads=False, gram_1mm=False):
        model = model if model is not None else transfer.build_model(config)
        objective = transfer.Objective(model, C, S, config)
        G = G0.clone()
        if config.channels_last:
            G = G.contiguous(memory_format=torch.channels_last)
        G.requires_grad_(True)
        opt = BoxLBFGS(G, lr=config.lr)

        def closure():
            opt.zero_grad()
            obj = transfer.Objective(model, C, S, config) if targets_every_step else objective
            values = obj(G)
            values["total"].backward()
            if host_reads:
                [float(v.detach()) for v in values.values()]
            return values["total"]

        def step():
            if gram_1mm:
                with PatchedGram():
                    opt.step(closure)
            else:
                opt.step(closure)
            if host_reads:
                G.detach().clone()

        variants[name] = step

    add("ours", base)
    add("full-forward", base, model=FullForward(base))
    add("targets-every-step", base, targets_every_step=True)
    add("relu-copies", base, model=relu_copies(transfer.build_model(base)))
    add("host-reads", base, host_reads=True)
    add("channels-last", base.replace(channels_last=True))
    add("bfloat16", base.replace(precision="bfloat16"))
    add("bfloat16+channels-last", base.replace(precision="bfloat16", channels_last=True))
    # Proposals, not in nst_edu yet: a one-product Gram backward (costs.py) and bfloat16 weights (transfer.py).
    add("proposal: gram-1mm", base, gram_1mm=True)
    fast = base.replace(precision="bfloat16", channels_last=True)
    add("proposal: bfloat16+channels-last+gram-1mm", fast, gram_1mm=True)
    add(
        "proposal: bfloat16+channels-last+gram-1mm+bf16-weights",
        fast,
        model=bf16_weights(transfer.build_model(fast)),
        gram_1mm=True,
    )
    return variants


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="per-step ablations")
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--rounds", type=int, default=4)
    p.add_argument("--per-round", type=int, default=2)
    p.add_argument("--quick", action="store_true", help="128 px, 2 rounds")
    args = p.parse_args(argv)
    common.set_threads()
    if args.quick:
        common.use_quick_results()
        args.size, args.rounds = 128, 2
    variants = make_variants(args.size)
    for step in variants.values():  # warm-up: allocator, oneDNN kernels, the first L-BFGS pairs
        for _ in range(2):
            step()
    times = {name: [] for name in variants}
    cpu = {name: [] for name in variants}
    for _ in range(args.rounds):
        for name, step in variants.items():
            for _ in range(args.per_round):
                t0, c0 = time.perf_counter(), time.process_time()
                step()
                times[name].append(time.perf_counter() - t0)
                cpu[name].append(time.process_time() - c0)
    ref, ref_cpu = common.median(times["ours"]), common.median(cpu["ours"])
    rows = []
    for name, ts in times.items():
        m, mc = common.median(ts), common.median(cpu[name])
        rows.append(
            [
                f"`{name}`",
                f"{m:.3f}",
                common.spread(ts),
                f"{m / ref:.2f}",
                f"{mc:.3f}",
                f"**{mc / ref_cpu:.2f}**",
            ]
        )
    body = (
        f"One step of the `gatys` objective at {args.size} px (longer side), box L-BFGS, "
        f"{args.rounds} rounds × {args.per_round} steps per variant after 2 warm-up steps, variants "
        f"interleaved.\n\n"
    )
    body += common.table(
        [
            "variant",
            "median wall s / step",
            "min–max",
            "× ours (wall)",
            "median CPU s / step",
            "× ours (CPU)",
        ],
        rows,
    )
    common.write_result(
        f"ablations_{args.size}",
        f"Per-step ablations at {args.size} px",
        body,
        [
            "Ratios > 1: the variant is slower than nst_edu's step, i.e. the choice it undoes saves that much.",
            "CPU s: time.process_time of the process; with one torch thread it counts the work done and little of "
            "the waiting for a core that other programs cause, so it is the steadier ratio on a busy machine.",
            "On a CPU a host read costs nothing; see gpu.md for the same choice on a GPU.",
        ],
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
