"""Many runs: 8 short runs made one after another in one process, then by ``nst_edu.sweep`` on Dask.

What it is: the same 8 runs (``fast`` preset, 192 px, 20 steps, β varied, chelsea × swirls, every run's files
written) made (a) serially in one process with torch's default threads (one per core) and with one thread,
(b) by ``sweep`` on three layouts of a ``LocalCluster`` of this machine: one worker process per core with one
torch thread each (what ``sweep`` starts), one process computing with all cores' threads, one process with
one Dask thread per core. Each case runs in a fresh process; its wall time, runs per minute and the CPU
seconds of its whole process tree (client, scheduler, workers: ``RUSAGE_CHILDREN``) give the CPU
utilisation. Then Dask's own cost per task (no-op tasks on the same cluster), one ``fast`` step at 512 px,
and from those a paper estimate of an instructor's 30 × 5 grid at 512 px on 1, 4 and 16 machines. Writes
``results/sweep.md`` and ``results/sweep.json``.

What it is not: not a test; the runs are short so that the whole script takes a few minutes.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time

import common
from common import CONTENT, STYLE, table, write_result

RUNS, SIZE, STEPS = 8, 192, 20
BETAS = [1e-4 * 2**i for i in range(RUNS)]
CASES = {  # name: (what it is, worker processes, Dask threads per worker, torch threads per run)
    "serial": ("serial loop, one process, torch's default threads", 0, 0, 0),
    "serial-1": ("serial loop, one process, one torch thread", 0, 0, 1),
    "procs": ("sweep: one worker process per core, one thread each (the default)", -1, 1, 1),
    "one-proc": ("sweep: one worker process, one task at a time on all cores' threads", 1, 1, -1),
    "threads": ("sweep: one worker process, one Dask thread per core, one torch thread each", 1, -1, 1),
}


def config(steps: int | None = None, size: int | None = None):
    import nst_edu

    return nst_edu.preset("fast", size=size or SIZE, steps=steps or STEPS)


def case_serial(threads: int, out: str) -> dict:
    """The plain loop a user writes: run, save, next."""
    import torch

    import nst_edu

    if threads:
        torch.set_num_threads(threads)
    t0 = time.perf_counter()
    seconds = []
    for beta in BETAS:
        result = nst_edu.run(CONTENT, STYLE, config().replace(beta=beta), progress=False)
        result.save(os.path.join(out, f"beta={beta:g}"), force=True)
        seconds.append(result.seconds)
    return {"wall": time.perf_counter() - t0, "run_seconds": seconds, "threads": torch.get_num_threads()}


def case_sweep(workers: int, dask_threads: int, torch_threads: int, out: str) -> dict:
    """``sweep`` on a LocalCluster of the given layout, started inside the timed span as ``sweep`` does."""
    import logging

    from distributed import Client, LocalCluster

    from nst_edu import sweep

    cores = sweep.cores()
    workers, dask_threads = workers if workers > 0 else cores, dask_threads if dask_threads > 0 else cores
    torch_threads = torch_threads if torch_threads > 0 else cores
    t0 = time.perf_counter()
    cluster = LocalCluster(
        n_workers=workers,
        threads_per_worker=dask_threads,
        processes=True,
        dashboard_address=":0",
        silence_logs=logging.ERROR,
        env={"OMP_NUM_THREADS": str(torch_threads)},
    )
    with cluster, Client(cluster) as client:
        started = time.perf_counter()
        frame = sweep.sweep(
            CONTENT,
            STYLE,
            config(),
            vary={"beta": BETAS},
            out=out,
            client=client,
            threads=torch_threads,
            progress=False,
            checkpoint_every=STEPS,
        )
        done = time.perf_counter()
    assert list(frame["status"]) == ["done"] * RUNS, frame[["status", "error"]]
    return {
        "wall": time.perf_counter() - t0,
        "start": started - t0,
        "sweep": done - started,
        "run_seconds": list(frame["seconds"]),
        "layout": [workers, dask_threads, torch_threads],
    }


def case_overhead(n: int = 2000) -> dict:
    """Dask's cost per task: ``n`` no-op tasks through the scheduler, and one task's round trip."""
    import logging

    from distributed import Client, LocalCluster

    from nst_edu import sweep

    with (
        LocalCluster(
            n_workers=sweep.cores(), threads_per_worker=1, dashboard_address=":0", silence_logs=logging.ERROR
        ) as cluster,
        Client(cluster) as client,
    ):
        client.gather(client.map(_noop, range(50)))  # warm: connections open, function shipped
        t0 = time.perf_counter()
        client.gather(client.map(_noop, range(n), pure=False))
        per_task = (time.perf_counter() - t0) / n
        trips = []
        for i in range(50):
            t = time.perf_counter()
            client.submit(_noop, i, pure=False).result()
            trips.append(time.perf_counter() - t)
    return {"per_task": per_task, "round_trip": common.median(trips), "n": n}


def _noop(x):
    return x


def case_step512(steps: int = 4) -> dict:
    """One ``fast`` step at 512 px on one thread (median of steps 2 on), and one run's fixed costs (save)."""
    import torch

    import nst_edu

    torch.set_num_threads(1)
    ticks = []
    result = nst_edu.run(
        CONTENT,
        STYLE,
        config(steps, 512),
        progress=False,
        callback=lambda info: ticks.append(time.perf_counter()),
    )
    t = time.perf_counter()
    with tempfile.TemporaryDirectory() as out:
        result.save(out, force=True)
    per_step = common.median([b - a for a, b in zip(ticks[1:], ticks[2:])])
    return {"per_step": per_step, "save": time.perf_counter() - t}


def measure(case: str, *args) -> dict:
    """Run one case in a fresh Python process; return its JSON plus the CPU seconds of its process tree."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    cmd = [sys.executable, __file__, "--case", case, *map(str, args)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    if proc.returncode != 0:
        raise RuntimeError(f"{case} failed:\n{proc.stderr[-3000:]}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    found = json.loads(proc.stdout.strip().splitlines()[-1])
    found["cpu"] = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    print(case, {k: v for k, v in found.items() if k != "run_seconds"}, flush=True)
    return found


def run_case(name: str) -> dict:
    _, workers, dask_threads, torch_threads = CASES[name]
    with tempfile.TemporaryDirectory() as out:
        if workers == 0:
            return measure("serial", torch_threads, out)
        return measure("sweep", workers, dask_threads, torch_threads, out)


def estimate(step512: float, fixed: float, per_task: float, start: float, steps: int = 150) -> list[list]:
    """An instructor's 30 photos × 5 settings at 512 px, ``fast`` (150 steps): on paper, from measured costs.

    One run = steps × step + fixed (save); a machine of c cores runs c at once; the scheduler adds its
    per-task cost for each of the 150 tasks (it handles them one after another), plus a cluster's start.
    """
    runs, run_s = 150, steps * step512 + fixed
    rows = []
    for cores in (2, 16):
        for machines in (1, 4, 16):
            workers = cores * machines
            wall = math.ceil(runs / workers) * run_s + runs * per_task + start
            rows.append(
                [
                    f"{machines} × {cores} cores",
                    workers,
                    f"{math.ceil(runs / workers)}",
                    f"{wall / 60:.1f} min",
                    f"{wall / 3600:.2f} h",
                ]
            )
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--case", help=argparse.SUPPRESS)
    p.add_argument("rest", nargs="*", help=argparse.SUPPRESS)
    p.add_argument("--only", help="comma-separated cases: " + ", ".join(CASES))
    p.add_argument(
        "--repeats", type=int, default=2, help="alternated rounds; the fastest of each case is shown"
    )
    p.add_argument("--quick", action="store_true", help="64 px, 3 steps: checks the script (results/quick/)")
    args = p.parse_args(argv)
    if args.quick or os.environ.get("NST_SWEEP_QUICK"):
        global SIZE, STEPS
        SIZE, STEPS = 64, 3
        os.environ["NST_SWEEP_QUICK"] = "1"  # the cases' fresh processes too
        common.use_quick_results()
    if args.case:  # inside a fresh process
        found = {
            "serial": lambda: case_serial(int(args.rest[0]), args.rest[1]),
            "sweep": lambda: case_sweep(*map(int, args.rest[:3]), args.rest[3]),
            "overhead": case_overhead,
            "step512": case_step512,
        }[args.case]()
        print(json.dumps(found))
        return 0
    t0 = time.perf_counter()
    names = args.only.split(",") if args.only else list(CASES)
    rounds = {name: [] for name in names}
    for r in range(args.repeats):  # alternated: a change in the machine's load hits every case alike
        for name in names[r % len(names) :] + names[: r % len(names)]:
            rounds[name].append(run_case(name))
    results = {name: min(found, key=lambda f: f["wall"]) for name, found in rounds.items()}
    overhead, step512 = measure("overhead"), measure("step512")
    cores = os.cpu_count()
    serial = results.get("serial", {}).get("wall")
    rows = []
    for name, found in results.items():
        rows.append(
            [
                CASES[name][0],
                f"{found['wall']:.1f} ({', '.join(format(f['wall'], '.0f') for f in rounds[name])})",
                f"{found.get('start', 0):.1f}" if "start" in found else "–",
                f"{RUNS / found['wall'] * 60:.1f}",
                f"{found['cpu']:.0f}",
                f"{found['cpu'] / (found['wall'] * cores):.0%}",
                f"{serial / found['wall']:.2f}×" if serial else "–",
                f"{common.median(found['run_seconds']):.1f}",
            ]
        )
    body = table(
        [
            "case",
            "wall s (each round)",
            "of which cluster start s",
            "runs / min",
            "CPU s (process tree)",
            f"CPU use of {cores} cores",
            "speed-up vs serial loop",
            "median s in one run's optimization",
        ],
        rows,
    )
    procs = results.get("procs")
    start = procs["start"] if procs else 3.0
    fixed = step512["save"] + 1.0  # saving its files, and loading its images and targets (about 1 s)
    body += (
        f"\n\n**Dask's cost per task**: {overhead['per_task'] * 1e3:.2f} ms per no-op task through the scheduler "
        f"({overhead['n']} tasks on {cores} workers), {overhead['round_trip'] * 1e3:.1f} ms for one task's round "
        f"trip (submit to result)."
    )
    if procs:
        busy = sum(procs["run_seconds"])
        per_run = (procs["sweep"] * procs["layout"][0] - busy) / RUNS
        body += (
            f" Per run, the sweep spent {per_run:.2f} s of a worker's time outside the optimization (the run's "
            f"images and targets, its checkpoint and its files: result.png, progress.gif, losses.png, …; the "
            f"first run on each worker also imports torch and builds VGG-19)."
        )
    body += (
        f"\n\n## On paper: an instructor's 30 photos × 5 settings at 512 px\n\n"
        f"From the measured `fast` step at 512 px on one core ({step512['per_step']:.2f} s), 150 steps a run "
        f"and {fixed:.1f} s of fixed cost per run (its files at 512 px: {step512['save']:.1f} s), Dask's "
        f"{overhead['per_task'] * 1e3:.1f} ms per task and {start:.0f} s to start a cluster: one run takes "
        f"{(150 * step512['per_step'] + fixed) / 60:.1f} min of one core; each machine runs one per core.\n\n"
    )
    body += table(
        ["machines", "workers", "runs per worker", "wall", ""],
        estimate(step512["per_step"], fixed, overhead["per_task"], start),
    )
    notes = [
        f"{RUNS} runs: `fast` preset at {SIZE} px, {STEPS} steps, β = {', '.join(f'{b:g}' for b in BETAS)}, "
        f"{CONTENT} × {STYLE}; each run writes result.png, progress.gif, losses.png, history.csv and run.json. "
        f"Each case a fresh process, {args.repeats} alternated rounds, the fastest shown (the machine is "
        f"shared: another program's load slows whichever case it meets); {time.perf_counter() - t0:.0f} s in all.",
        "CPU use = CPU seconds of the case's whole process tree / (wall seconds × cores); the rest of the "
        "machine's CPU went to other programs (the load average in the header) or sat idle.",
        "The estimate assumes the machines are like this one per core, files on a shared disk, and enough "
        "memory: a 512 px `fast` run holds about 1.2 GB (its 50 L-BFGS pairs and VGG-19's activations).",
    ]
    write_result("sweep", f"Many runs: {RUNS} runs at {SIZE} px, serially and by `sweep`", body, notes=notes)
    (common.RESULTS / "sweep.json").write_text(
        json.dumps({"cases": rounds, "overhead": overhead, "step512": step512}, indent=1)
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
