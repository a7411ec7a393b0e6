"""The GPU benchmark: seconds per step at 512 px (nst_edu variants and pastiche), and 500 steps end to end.

What it is: one script for one short session on a CUDA machine (``benchmarks/gpu_bench.sh`` sets up the
paths). In one process it measures, at 512 px on the longer side with the ``gatys`` layers:

1. per step, through each program's user path: nst_edu ``transfer.run`` in float32 (cuDNN's TF32 for
   convolutions is PyTorch's default), float32 with TF32 matrix products too, bfloat16, bfloat16 +
   channels-last, and pastiche's ``PasticheArtist.draw()``; variants alternate in rounds, medians reported;
2. 500 steps end to end with ``transfer.run`` (float32 and bfloat16): wall time from the call to the
   result on the CPU, the setup (images, model on the GPU, targets) included, the model cached by a
   previous run as in a notebook session;
3. the same 500 steps as a bare loop (``Objective`` + ``BoxLBFGS``, no history or frames), with the
   optimizer's sync-free path and without it: what the per-step host reads of ``transfer.run`` cost;
4. time to quality at 512 px: the float32 gatys objective, target 1.02 × J after 500 plain float32
   L-BFGS steps from white noise, for plain L-BFGS (white-noise and content starts, float32 and bfloat16),
   the course's Adam and the ``fast`` preset;
5. the same race at 256 px plus a sweep of coarse-to-fine candidates for the ``fast`` preset (coarse scale,
   coarse steps, precision), each running long at full size so that its curve shows the steps it needs.

It writes ``$OUT/gpu.md`` and ``$OUT/gpu.json`` (or ``--out``) and prints the table last.

What it is not: not a test, and not run by ``make bench`` (which measures the CPU). On a machine without CUDA
``--device cpu --quick`` runs a tiny version, to check the script itself.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

from nst_edu import preset  # noqa: E402
from nst_edu.core import transfer
from nst_edu.core.optim import BoxLBFGS  # noqa: E402


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def reset_peak(device):
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()


def peak(device) -> float:
    return torch.cuda.max_memory_allocated() / 2**30 if device.type == "cuda" else float("nan")


class Flags:
    """Temporarily set TF32 for matrix products and cuDNN's autotuner (both global switches of PyTorch)."""

    def __init__(self, tf32_matmul: bool = False, cudnn_benchmark: bool = False):
        self.want = (tf32_matmul, cudnn_benchmark)

    def __enter__(self):
        self.old = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.benchmark)
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.benchmark = self.want

    def __exit__(self, *exc):
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.benchmark = self.old


def per_step(size, device, rounds, steps, warmup, paths) -> list[dict]:
    content, style = (str(p) for p in paths)
    base = preset("gatys", size=size, device=device.type)
    bf16 = base.replace(precision="bfloat16")
    variants = {  # name: (config or None for pastiche, Flags)
        "nst_edu float32 (cuDNN TF32)": (base, Flags()),
        "nst_edu float32 + TF32 matmul": (base, Flags(tf32_matmul=True)),
        "nst_edu float32 + channels-last": (base.replace(channels_last=True), Flags()),
        "nst_edu bfloat16": (bf16, Flags()),
        "nst_edu bfloat16 + channels-last": (bf16.replace(channels_last=True), Flags()),
        "nst_edu bfloat16 + cudnn.benchmark": (bf16, Flags(cudnn_benchmark=True)),
        "nst_edu bfloat16 + channels-last + cudnn.benchmark": (
            bf16.replace(channels_last=True),
            Flags(cudnn_benchmark=True),
        ),
        "pastiche (float32)": (None, Flags()),
    }
    times = {name: [] for name in variants}
    peaks = {name: 0.0 for name in variants}
    for _ in range(rounds):
        for name, (cfg, flags) in variants.items():
            reset_peak(device)
            stamps = []
            with flags:
                if cfg is None:
                    from pastiche.pastiche import PasticheArtist

                    artist = PasticheArtist(content, [style], size=size, style_size=size, device=device.type)
                    for _ in range(warmup + steps):
                        artist.draw()  # reads the loss with .item(): synchronized
                        stamps.append(time.perf_counter())
                    del artist
                else:

                    def callback(info):
                        stamps.append(time.perf_counter())  # run() has read the costs: synchronized

                    transfer.run(
                        content, style, cfg.replace(steps=warmup + steps), callback=callback, progress=False
                    )
            sync(device)
            times[name] += [b - a for a, b in zip(stamps, stamps[1:])][warmup - 1 :]
            peaks[name] = max(peaks[name], peak(device))
    ref = common.median(times["pastiche (float32)"])
    return [
        {
            "variant": n,
            "median_ms": 1e3 * common.median(t),
            "min_ms": 1e3 * min(t),
            "max_ms": 1e3 * max(t),
            "ratio": common.median(t) / ref,
            "peak_gib": peaks[n],
            "n": len(t),
        }
        for n, t in times.items()
    ]


def end_to_end(size, device, steps, paths, precision, channels_last=False, flags=None) -> dict:
    content, style = (str(p) for p in paths)
    cfg = preset(
        "gatys", size=size, steps=steps, device=device.type, precision=precision, channels_last=channels_last
    )
    flags = flags or Flags()
    with flags:
        transfer.run(content, style, cfg.replace(steps=3), progress=False)  # model cached, kernels loaded
        sync(device)
        reset_peak(device)
        t0 = time.perf_counter()
        result = transfer.run(content, style, cfg, progress=False)
        sync(device)
        wall = time.perf_counter() - t0
    what = (
        f"transfer.run, gatys, {precision}"
        + (", channels-last" if channels_last else "")
        + (", cudnn.benchmark" if flags.want[1] else "")
    )
    return {
        "what": what,
        "steps": steps,
        "seconds": wall,
        "final_J": float(result.history.column("total")[-1]),
        "peak_gib": peak(device),
    }


def bare_loop(size, device, steps, paths, precision, sync_free) -> dict:
    cfg = preset("gatys", size=size, device=device.type, precision=precision)
    C, S = transfer.load_pair(str(paths[0]), str(paths[1]), cfg)
    C, S = C.to(device), S.to(device)
    model = transfer.build_model(cfg, device)

    def once(n):
        objective = transfer.Objective(model, C, S, cfg)
        G = torch.rand(C.shape, generator=torch.Generator().manual_seed(0)).to(device).requires_grad_(True)
        opt = BoxLBFGS(G, sync_free=sync_free)

        def closure():
            opt.zero_grad()
            J = objective(G)["total"]
            J.backward()
            return J

        for _ in range(n):
            opt.step(closure)
        return G

    once(3)
    sync(device)
    t0 = time.perf_counter()
    G = once(steps)
    sync(device)
    wall = time.perf_counter() - t0
    return {
        "what": f"bare loop, {precision}, optimizer {'sync-free' if sync_free else 'with a sync per step'}",
        "steps": steps,
        "seconds": wall,
        "finite": bool(torch.isfinite(G).all()),
    }


def race(size, device, methods: dict, paths, every: dict) -> dict:
    """Run each method (name -> Config) in turn; evaluate the float32 gatys J at full size every few steps.

    Each method's clock runs from the call of ``transfer.run`` to each step's callback, the evaluation
    excluded. Returns name -> {points: [(seconds, step, J)], image}.
    """
    content, style = (str(p) for p in paths)
    judge = preset("gatys", size=size, device=device.type)
    C, S = transfer.load_pair(content, style, judge)
    objective = transfer.Objective(transfer.build_model(judge, device), C.to(device), S.to(device), judge)
    full = tuple(C.shape[-2:])
    out = {}
    for name, cfg in methods.items():
        points, clock = [], {"t": 0.0, "last": None}

        def callback(info):
            sync(device)
            clock["t"] += time.perf_counter() - clock["last"]
            if info.step % every.get(name, 5) == 0 or info.step == cfg.total_steps:
                with torch.no_grad():
                    G = info.image.detach().float()
                    if tuple(G.shape[-2:]) != full:
                        G = F.interpolate(G, size=full, mode="bilinear", align_corners=False).clamp(0, 1)
                    points.append((clock["t"], info.step, float(objective(G)["total"])))
            clock["last"] = time.perf_counter()

        clock["last"] = time.perf_counter()
        result = transfer.run(content, style, cfg, callback=callback, progress=False)
        out[name] = {"points": points, "image": result.image, "config": cfg.to_dict()}
    return out


def summarize_race(raw: dict, baseline: str = "lbfgs-fp32-white") -> list[dict]:
    J_500 = raw[baseline]["points"][-1][2]
    target = 1.02 * J_500
    rows = []
    for name, r in raw.items():
        pts = r["points"]
        hit = next((p for p in pts if p[2] <= target), None)
        cfg = r["config"]
        rows.append(
            {
                "method": name,
                "target": target,
                "J_500": J_500,
                "J_final": pts[-1][2],
                "seconds_total": pts[-1][0],
                "steps_total": pts[-1][1],
                "seconds_to_target": hit[0] if hit else None,
                "step_to_target": hit[1] if hit else None,
                "coarse_steps": cfg["coarse_steps"],
                "coarse_scale": cfg["coarse_scale"],
                "precision": cfg["precision"],
                "init": cfg["init"],
                "optimizer": cfg["optimizer"],
                "points": pts,
            }
        )
    return rows


def standard_methods(size, device, steps) -> dict:
    gatys = preset("gatys", size=size, steps=steps, device=device.type)
    return {
        "lbfgs-fp32-white": gatys,
        "lbfgs-fp32-content": gatys.replace(init="content"),
        "lbfgs-bf16-white": gatys.replace(precision="bfloat16"),
        "lbfgs-bf16-content": gatys.replace(precision="bfloat16", init="content"),
        "adam-course": gatys.replace(optimizer="adam", lr=0.01, init="additive", noise_ratio=0.25),
        "fast (preset)": preset("fast", size=size, device=device.type),
    }


def sweep_methods(size, device, full_steps, scales, coarse, precisions) -> dict:
    """Coarse-to-fine candidates for the fast preset: each runs long at full size, so that the curve shows
    how many full-size steps each needs."""
    base = preset("fast", size=size, device=device.type, steps=full_steps)
    return {
        f"c2f-{p}-x{s}-{c}": base.replace(precision=p, coarse_scale=s, coarse_steps=c)
        for p in precisions
        for s in scales
        for c in coarse
    }


def montage(images: list, titles: list, path: Path, height: int = 170) -> None:
    """A row of images (tensors (1, 3, H, W) in [0, 1]) with titles, as one PNG (few files come back)."""
    from PIL import Image, ImageDraw

    tiles = []
    for img, title in zip(images, titles):
        arr = (img[0].float().clamp(0, 1).permute(1, 2, 0).cpu().numpy() * 255).round().astype("uint8")
        tile = Image.fromarray(arr)
        tile = tile.resize((round(tile.width * height / tile.height), height))
        canvas = Image.new("RGB", (tile.width, height + 16), "white")
        canvas.paste(tile, (0, 16))
        ImageDraw.Draw(canvas).text((2, 2), title[:40], fill="black")
        tiles.append(canvas)
    sheet = Image.new("RGB", (sum(t.width for t in tiles), height + 16), "white")
    x = 0
    for t in tiles:
        sheet.paste(t, (x, 0))
        x += t.width
    sheet.save(path)


def environment(device) -> str:
    lines = [f"torch {torch.__version__}, Python {platform.python_version()}"]
    if device.type == "cuda":
        p = torch.cuda.get_device_properties(0)
        lines.append(
            f"{p.name}, {p.total_memory / 2**30:.0f} GiB, {p.multi_processor_count} SMs, "
            f"cuDNN {torch.backends.cudnn.version()}"
        )
        try:
            smi = subprocess.run(
                ["nvidia-smi", "--query-gpu=driver_version,clocks.sm,clocks.mem", "--format=csv,noheader"],
                capture_output=True,
                text=True,
                timeout=20,
            )
            lines.append(f"driver, SM clock, memory clock: {smi.stdout.strip()}")
        except (OSError, subprocess.SubprocessError):
            pass
    return "; ".join(lines)


def report(res: dict) -> str:
    L = [
        f"# GPU benchmark ({res['size']} px)",
        "",
        f"Machine: {res['env']}.  ",
        f"Run: {res['when']}; CPU: {os.cpu_count()} logical CPUs.",
        "",
        "## Per step (transfer.run / PasticheArtist.draw, host-synchronized each step as each program does)",
        "",
    ]
    L.append(
        common.table(
            ["implementation", "median ms / step", "min–max ms", "× pastiche", "peak GPU GiB"],
            [
                [
                    r["variant"],
                    f"{r['median_ms']:.2f}",
                    f"{r['min_ms']:.2f}–{r['max_ms']:.2f}",
                    f"{r['ratio']:.2f}",
                    f"{r['peak_gib']:.2f}",
                ]
                for r in res["per_step"]
            ],
        )
    )
    L += ["", f"## {res['steps']} steps end to end", ""]
    L.append(
        common.table(
            ["what", "steps", "seconds", "peak GPU GiB / final J"],
            [
                [
                    r["what"],
                    r["steps"],
                    f"{r['seconds']:.2f}",
                    f"{r.get('peak_gib', float('nan')):.2f} / {r.get('final_J', float('nan')):.4g}"
                    if "peak_gib" in r
                    else ("finite" if r.get("finite") else "NOT FINITE"),
                ]
                for r in res["end_to_end"]
            ],
        )
    )
    for key, title in (("ttq", "Time to quality at {size} px"), ("sweep", "Fast-preset sweep at {size} px")):
        if not res.get(key):
            continue
        rows = res[key]["rows"]
        L += [
            "",
            "## " + title.format(size=res[key]["size"]) + f" (float32 gatys J; target 1.02 × J of "
            f"{res['steps']} plain float32 L-BFGS steps from white noise = {rows[0]['target']:.5g})",
            "",
        ]
        base = rows[0]["seconds_to_target"]
        L.append(
            common.table(
                ["method", "final J (vs J_500)", "seconds / steps", "seconds to target (step)", "speed-up"],
                [
                    [
                        o["method"],
                        f"{o['J_final']:.5g} ({o['J_final'] / o['J_500'] - 1:+.1%})",
                        f"{o['seconds_total']:.2f} / {o['steps_total']}",
                        f"{o['seconds_to_target']:.2f} ({o['step_to_target']})"
                        if o["seconds_to_target"] is not None
                        else "never",
                        f"{base / o['seconds_to_target']:.1f}×" if o["seconds_to_target"] and base else "–",
                    ]
                    for o in rows
                ],
            )
        )
    if res.get("errors"):
        L += ["", "Errors:", ""] + [f"- {e}" for e in res["errors"]]
    return "\n".join(L) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="GPU benchmark")
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--steps", type=int, default=500)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--device", default="cuda")
    p.add_argument("--out", default=os.environ.get("OUT", str(common.RESULTS)))
    p.add_argument("--sweep-size", type=int, default=256)
    p.add_argument("--sweep-full-steps", type=int, default=300)
    p.add_argument("--quick", action="store_true", help="tiny sizes and steps, to check the script")
    args = p.parse_args(argv)
    args.scales, args.coarse = (0.5, 0.35, 0.25), (50, 100, 200)
    device = torch.device(args.device)
    per_step_steps, warmup = 30, 5
    if args.quick:
        args.size, args.steps, args.rounds, per_step_steps, warmup = 64, 6, 1, 3, 2
        args.sweep_size, args.sweep_full_steps, args.scales, args.coarse = 64, 4, (0.5,), (3,)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    paths = common.input_paths()
    res = {
        "size": args.size,
        "steps": args.steps,
        "env": environment(device),
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "errors": [],
        "end_to_end": [],
    }
    t_all = time.perf_counter()
    res["per_step"] = per_step(args.size, device, args.rounds, per_step_steps, warmup, paths)
    print(f"per step done at {time.perf_counter() - t_all:.0f} s", flush=True)
    for precision, cl, flags in (
        ("float32", False, None),
        ("bfloat16", False, None),
        ("bfloat16", True, None),
        ("bfloat16", True, Flags(cudnn_benchmark=True)),
    ):
        res["end_to_end"].append(end_to_end(args.size, device, args.steps, paths, precision, cl, flags))
    for precision in ("float32", "bfloat16"):
        for sync_free in (True, False):
            res["end_to_end"].append(bare_loop(args.size, device, args.steps, paths, precision, sync_free))
    print(f"end to end done at {time.perf_counter() - t_all:.0f} s", flush=True)
    shown = []
    for key, size, extra in (("ttq", args.size, {}), ("sweep", args.sweep_size, None)):
        try:
            methods = standard_methods(size, device, args.steps)
            if extra is None:  # the sweep: baselines + coarse-to-fine candidates
                methods.update(
                    sweep_methods(
                        size, device, args.sweep_full_steps, args.scales, args.coarse, ("bfloat16", "float32")
                    )
                )
            every = {name: (2 if name.startswith(("c2f", "fast")) else 5) for name in methods}
            raw = race(size, device, methods, paths, every)
            res[key] = {"size": size, "rows": summarize_race(raw)}
            shown += [
                (raw[n]["image"], f"{n} {size}px")
                for n in ("lbfgs-fp32-white", "lbfgs-fp32-content", "adam-course", "fast (preset)")
            ]
            print(f"{key} done at {time.perf_counter() - t_all:.0f} s", flush=True)
        except Exception as exc:  # the earlier tables are worth keeping
            res["errors"].append(f"{key}: {exc!r}")
    if shown:
        montage([i for i, _ in shown], [n for _, n in shown], out / "gpu_images.png")
    res["seconds_total"] = time.perf_counter() - t_all
    (out / "gpu.json").write_text(json.dumps(res, indent=1))
    text = report(res)
    (out / "gpu.md").write_text(text)
    print(text, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
