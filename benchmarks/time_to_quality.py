"""Time to quality: the wall time each method needs to bring one fixed objective within 2 % of a target.

What it is: the objective is the ``gatys`` preset's J(G) (the paper's normalised network, relu4_2
content, relu1_1…relu5_1 style with equal λ, α = 1, β from style strength 20, TV weight 20) evaluated in
float32 on G at full resolution (``transfer.Objective`` with a float32 config); a method's image at a coarse
stage is upsampled bilinearly to full size first, as the run itself does between stages. The target is
1.02 × the J that 500 plain float32 L-BFGS steps reach at full resolution. Methods:

- ``lbfgs-fp32-white``: plain L-BFGS in float32 from white noise (the ``gatys`` preset itself);
- ``lbfgs-fp32-content``: the same from the content image (the ``fast`` preset's start, so the two differ
  only in speed knobs);
- ``lbfgs-bf16-white``: the ``gatys`` preset with bfloat16 autocast alone (also: its final image judged in
  float32 against the float32 run's);
- ``adam-course``: the course recipe's optimizer and start (Adam, lr 0.01, content + uniform noise in ±0.25)
  on the same objective; reported at the same wall time as the L-BFGS baseline when it never gets there;
- ``fast``: the ``fast`` preset (C in S's colours as the start, bfloat16 + channels-last, L-BFGS with 50 pairs
  and the low-frequency preconditioner), which optimizes the same J.

How it is timed: all methods run in one process, each in its own thread, taking turns one optimizer step at a
time (A B C D E A B C D E …), so a burst of load from other programs on a shared machine falls on every method
alike. Each method has its own clock that runs only during its own steps (``transfer.run`` from the call to
the last step: image loading, targets, model and every step included; the evaluation of the float32
objective in the callback is excluded). CPU seconds of the process are recorded the same way, as a second
measure that load from other programs inflates less.

What it is not: not a test. Results go to ``results/time_to_quality.md`` (+ ``.json``, a plot and the
images).
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

from nst_edu import preset  # noqa: E402
from nst_edu.core import images, transfer

TOLERANCE = 0.02
BASELINE = "lbfgs-fp32-white"


def methods(size: int, steps: int, fast_changes: dict | None = None) -> dict:
    """name -> Config. Every method optimizes the gatys objective; only the speed knobs differ."""
    gatys = preset("gatys", size=size, steps=steps, device="cpu")
    fast = preset("fast", size=size, device="cpu", **(fast_changes or {}))
    return {
        "lbfgs-fp32-white": gatys,
        # It reaches the target in about 200 steps; 300 are enough to show it and save 200 steps of CPU.
        "lbfgs-fp32-content": gatys.replace(init="content", steps=min(steps, 300)),
        "lbfgs-bf16-white": gatys.replace(precision="bfloat16"),
        "adam-course": gatys.replace(optimizer="adam", lr=0.01, init="additive", noise_ratio=0.25),
        "fast": fast,
    }


def same_objective(a, b) -> bool:
    keys = (
        "content_layer",
        "style_layers",
        "alpha",
        "beta",
        "tv_weight",
        "weights",
        "pooling",
        "style_scale",
    )
    return all(getattr(a, k) == getattr(b, k) for k in keys)


class Turns:
    """Threads take turns by name: A B C A B C …; a finished thread leaves the circle."""

    def __init__(self, names):
        self.active = list(names)
        self.holder = self.active[0]
        self.cond = threading.Condition()

    def wait(self, name):
        with self.cond:
            self.cond.wait_for(lambda: self.holder == name)

    def pass_on(self, name, leave=False):
        with self.cond:
            i = self.active.index(name)
            if leave:
                self.active.remove(name)
                self.holder = self.active[i % len(self.active)] if self.active else None
            else:
                self.holder = self.active[(i + 1) % len(self.active)]
            self.cond.notify_all()


@dataclass
class Clock:
    wall: float = 0.0
    cpu: float = 0.0
    _t: tuple | None = None

    def start(self):
        self._t = (time.perf_counter(), time.process_time())

    def stop(self):
        self.wall += time.perf_counter() - self._t[0]
        self.cpu += time.process_time() - self._t[1]


@dataclass
class Trace:
    name: str
    config: object
    points: list = field(default_factory=list)  # (wall, cpu, step, J)
    image: torch.Tensor | None = None
    error: BaseException | None = None


def run_methods(configs: dict, evaluate, every: dict) -> dict[str, Trace]:
    turns = Turns(configs)
    traces = {name: Trace(name, cfg) for name, cfg in configs.items()}

    def work(name):
        trace, clock, cfg = traces[name], Clock(), configs[name]
        turns.wait(name)
        try:
            clock.start()

            def callback(info):
                clock.stop()
                if info.step % every[name] == 0 or info.step == cfg.total_steps:
                    trace.points.append((clock.wall, clock.cpu, info.step, evaluate(info.image)))
                turns.pass_on(name)
                turns.wait(name)
                clock.start()

            result = transfer.run(common.CONTENT, common.STYLE, cfg, callback=callback, progress=False)
            clock.stop()
            trace.image = result.image
        except BaseException as exc:  # reported by the main thread; the circle must go on
            trace.error = exc
        finally:
            turns.pass_on(name, leave=True)

    threads = [threading.Thread(target=work, args=(name,), name=name) for name in configs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for trace in traces.values():
        if trace.error is not None:
            raise RuntimeError(f"method {trace.name} failed") from trace.error
    return traces


def first_reach(points, target):
    for wall, cpu, step, J in points:
        if J <= target:
            return wall, cpu, step
    return None


def value_at(points, wall_limit):
    """J of the last evaluation made within ``wall_limit`` seconds of the method's clock."""
    inside = [p for p in points if p[0] <= wall_limit]
    return inside[-1] if inside else None


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="time to quality at one size")
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--steps", type=int, default=500, help="steps of the 500-step methods")
    p.add_argument("--methods", default="all", help="comma-separated subset of the method names")
    p.add_argument("--fast", default="", help="fast preset changes, e.g. coarse_steps=60,steps=40")
    p.add_argument("--name", default="time_to_quality")
    p.add_argument("--quick", action="store_true", help="128 px, 150 steps")
    p.add_argument(
        "--from-json",
        action="store_true",
        help="only rewrite the table and plot from results/<name>.json of an earlier run",
    )
    args = p.parse_args(argv)
    common.set_threads()
    if args.quick:
        common.use_quick_results()
        args.size, args.steps = 128, 150
    if args.from_json:
        saved = json.loads((common.RESULTS / f"{args.name}.json").read_text())
        args.size, args.steps = saved["size"], saved["steps"]
        torch.set_num_threads(saved.get("threads", torch.get_num_threads()))  # the header names the run's
        report(saved["methods"], args, elapsed=saved.get("elapsed"), when=saved.get("when"))
        return 0
    fast_changes = {}
    for item in filter(None, args.fast.split(",")):
        key, value = item.split("=")
        fast_changes[key] = float(value) if "." in value or "e" in value else int(value)
    configs = methods(args.size, args.steps, fast_changes)
    if args.methods != "all":
        configs = {k: v for k, v in configs.items() if k in args.methods.split(",")}
    judge = preset("gatys", size=args.size, device="cpu", precision="float32", channels_last=False)
    for name, cfg in configs.items():
        if not same_objective(cfg, judge):
            raise SystemExit(
                f"method {name} optimizes another objective than the gatys preset's; fix its config"
            )
    C, S = transfer.load_pair(common.CONTENT, common.STYLE, judge)
    objective = transfer.Objective(transfer.build_model(judge), C, S, judge)
    full = tuple(C.shape[-2:])

    def evaluate(G):
        with torch.no_grad():
            G = G.detach().float()
            if tuple(G.shape[-2:]) != full:
                G = F.interpolate(G, size=full, mode="bilinear", align_corners=False).clamp(0, 1)
            return float(objective(G)["total"])

    every = {name: (2 if name == "fast" else 5) for name in configs}
    t0 = time.perf_counter()
    traces = run_methods(configs, evaluate, every)
    elapsed = time.perf_counter() - t0

    raw = {name: {"config": tr.config.to_dict(), "points": tr.points} for name, tr in traces.items()}
    out_json = common.RESULTS / f"{args.name}.json"
    common.RESULTS.mkdir(parents=True, exist_ok=True)
    when = f"{time.strftime('%Y-%m-%d %H:%M', time.localtime(time.time() - elapsed))} to {time.strftime('%H:%M')}"
    out_json.write_text(
        json.dumps(
            {
                "size": args.size,
                "steps": args.steps,
                "threads": torch.get_num_threads(),
                "when": when,
                "load_at_end": common.load_average(),
                "elapsed": elapsed,
                "methods": raw,
            },
            indent=1,
        )
    )
    report(raw, args, traces, elapsed)
    return 0


def report(raw: dict, args, traces: dict | None = None, elapsed: float | None = None, when=None) -> None:
    base = raw.get(BASELINE)
    if base is None:
        raise SystemExit(f"the baseline {BASELINE} is needed for the target")
    J_500 = base["points"][-1][3]
    target = (1 + TOLERANCE) * J_500
    base_hit = first_reach(base["points"], target)
    base_total = base["points"][-1][0]
    same = raw.get("lbfgs-fp32-content")
    same_hit = first_reach(same["points"], target) if same else None
    rows = []
    for name, data in raw.items():
        pts = data["points"]
        hit = first_reach(pts, target)
        wall_end, cpu_end, step_end, J_end = pts[-1]
        cfg = data["config"]
        knobs = (
            f"{cfg['optimizer']}, init {cfg['init']}, {cfg['precision']}"
            + (", channels-last" if cfg.get("channels_last") else "")
            + (
                f", {cfg['history_size']} L-BFGS pairs"
                if cfg["optimizer"] == "lbfgs" and cfg.get("history_size", 20) != 20
                else ""
            )
            + (f", preconditioner k = {cfg['precondition']:g}" if cfg.get("precondition") else "")
            + (f", {cfg['coarse_steps']} steps at ×{cfg['coarse_scale']} then" if cfg["coarse_steps"] else "")
            + f" {cfg['steps']} at full size"
        )
        if hit:
            speedup = base_hit[0] / hit[0] if base_hit else float("nan")
            speedup_cpu = base_hit[1] / hit[1] if base_hit else float("nan")
            reached = f"{hit[0]:.1f} s (step {hit[2]})"
            ratio = f"**{speedup_cpu:.2f}×** ({speedup:.2f}×)"
            ratio_same = f"{same_hit[1] / hit[1]:.2f}× ({same_hit[0] / hit[0]:.2f}×)" if same_hit else "–"
        else:
            at = value_at(pts, base_total)
            reached = "never" + (f"; J = {at[3]:.4g} at {at[0]:.0f} s" if at else "")
            ratio = ratio_same = "–"
        rows.append(
            [
                f"`{name}`",
                knobs,
                f"{J_end:.4g} ({J_end / J_500 - 1:+.1%})",
                f"{wall_end:.1f} s / {step_end} steps",
                reached,
                ratio,
                ratio_same,
            ]
        )
    body = (
        f"Objective: the `gatys` preset's J(G) in float32 at {args.size} px (longer side), "
        f"content `{common.CONTENT}`, style `{common.STYLE}`. Target: J ≤ {target:.5g} "
        f"= 1.02 × {J_500:.5g}, the value {BASELINE} reaches after {base['points'][-1][2]} steps.\n\n"
    )
    n_ref = base["points"][-1][2]
    body += common.table(
        [
            "method",
            "what it does",
            f"final J (vs J_{n_ref} of {BASELINE})",
            "run time / steps",
            "time to target (wall)",
            "speed-up vs plain L-BFGS (white-noise start): CPU s (wall)",
            "vs plain L-BFGS from the content image: CPU s (wall)",
        ],
        rows,
    )
    body += "\n\n![J vs time](time_to_quality.png)\n\n![final images](time_to_quality_images.png)\n"
    notes = [
        "Times are each method's own clock (its steps only, the float32 evaluation excluded); methods took "
        "turns step by step in one process, so load from other programs falls on each alike.",
        "Evaluations every 5 steps (every 2 for `fast`): a time to target is accurate to that many steps.",
        "Speed-ups: first in CPU seconds of the process (one torch thread: the work itself), in parentheses "
        "in wall seconds. Taking turns evens out load only while all methods still run; once the short ones finish, "
        "the long ones run their last steps under whatever load there is then, so on a machine whose load "
        "changes the CPU-second ratio is the steadier one.",
    ]
    if "lbfgs-bf16-white" in raw:
        J_bf16 = raw["lbfgs-bf16-white"]["points"][-1][3]
        notes.append(
            f"bfloat16 alone: after the same {raw['lbfgs-bf16-white']['points'][-1][2]} steps from the same "
            f"start, the float32 J of its image is {J_bf16 / J_500 - 1:+.2%} from the float32 run's."
        )
    if elapsed:
        notes.append(f"Whole benchmark: {elapsed:.0f} s of wall time.")
    common.write_result(args.name, "Time to quality", body, notes, when=when)
    plot(raw, target, args.name)
    if traces:
        save_images(traces, args.name)


def plot(raw: dict, target: float, name: str) -> None:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 4.2), dpi=110)
    lo = min(p[3] for d in raw.values() for p in d["points"])
    for ax, column, label in zip(fig.subplots(1, 2), (0, 1), ("wall seconds", "CPU seconds")):
        for method, data in raw.items():
            pts = data["points"]
            ax.plot([p[column] for p in pts], [p[3] for p in pts], label=method, lw=1.5)
        ax.axhline(target, color="k", ls="--", lw=0.8, label="target (1.02 × final J of plain L-BFGS)")
        ax.set_yscale("log")
        ax.set_xlabel(f"{label} (each method's own clock)")
        ax.set_ylabel("J(G), float32, full size")
        ax.set_ylim(lo * 0.8, lo * 30)
        ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(common.RESULTS / f"{name}.png")


def save_images(traces: dict, name: str) -> None:
    from nst_edu.output import plots

    shown = [(n, tr.image) for n, tr in traces.items() if tr.image is not None]
    for n, img in shown:
        images.save_image(img, common.RESULTS / f"{name}_{n}.png")
    fig = plots.grid([img for _, img in shown], titles=[n for n, _ in shown], ncols=len(shown))
    plots.save_figure(fig, common.RESULTS / f"{name}_images.png")


if __name__ == "__main__":
    sys.exit(main())
