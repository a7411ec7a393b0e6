"""Precision chosen by the hardware: the `fast` preset with and without native bfloat16.

What it is: seconds per step of the `fast` preset (precision "auto") and of the float32 `gatys` preset, each
in a fresh process with one torch thread, natively and with oneDNN and ATen capped to AVX2 (what a CPU
without AVX-512-BF16 or AMX runs: most laptops). Under the cap "auto" resolves to float32; the last row
forces bfloat16 there, which is what `fast` did before "auto" existed (emulated bfloat16). Writes
``results/precision.md`` and ``results/precision.json``.

What it is not: not a test, and not a time-to-quality race (``time_to_quality.py``): only the cost of a step.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import common
from common import CONTENT, STYLE, table, write_result

import nst_edu

CAP = {"ONEDNN_MAX_CPU_ISA": "AVX2", "ATEN_CPU_CAPABILITY": "avx2"}
WORKER = r"""
import json, sys, time, resource
import torch
torch.set_num_threads(1)
import nst_edu
name, size, steps, precision = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
changes = dict(size=size, steps=steps)
if precision != "preset":
    changes["precision"] = precision
config = nst_edu.preset(name, **changes)
ticks = []  # process CPU seconds after each step: steadier than wall time on a shared machine
result = nst_edu.run(sys.argv[5], sys.argv[6], config, progress=False,
                     callback=lambda info: ticks.append(time.process_time()))
per_step = sorted(b - a for a, b in zip(ticks[2:-1], ticks[3:]))  # from step 3 on (warm-up excluded)
print(json.dumps({"precision": result.precision, "per_step": per_step[len(per_step) // 2],
                  "J": result.history.rows[-1]["total"]}))
"""

CASES = [  # (label, env, preset, precision, steps)
    ("native", {}, "gatys", "preset", None),
    ("native", {}, "fast", "preset", None),
    ("AVX2 cap", CAP, "gatys", "preset", None),
    ("AVX2 cap", CAP, "fast", "preset", None),
    ("AVX2 cap", CAP, "fast", "bfloat16", 6),  # emulated bfloat16: the old `fast` on such a CPU
]


def measure(env_extra: dict, name: str, precision: str, size: int, steps: int) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1", **env_extra)
    cmd = [sys.executable, "-c", WORKER, name, str(size), str(steps), precision, CONTENT, STYLE]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--quick", action="store_true", help="one repetition, 10 steps")
    args = p.parse_args(argv)
    if args.quick:
        args.repeats, args.steps = 1, 10
    rows = {i: [] for i in range(len(CASES))}
    t0 = time.perf_counter()
    for _ in range(args.repeats):  # alternated, so that a change in load hits every case alike
        for i, (label, env, name, precision, steps) in enumerate(CASES):
            rows[i].append(measure(env, name, precision, args.size, steps or args.steps))
            print(f"{label:9s} {name:6s} {precision:9s} {rows[i][-1]}", flush=True)
    med = {i: sorted(r["per_step"] for r in rs)[len(rs) // 2] for i, rs in rows.items()}
    ref = {label: med[i] for i, (label, _, name, prec, _) in enumerate(CASES) if name == "gatys"}
    body = table(
        [
            "CPU",
            "preset",
            "precision asked",
            "precision used",
            "CPU s/step",
            "vs float32 `gatys` on that CPU",
        ],
        [
            [
                label,
                f"`{name}`",
                nst_edu.preset(name).precision if precision == "preset" else precision,
                rows[i][0]["precision"],
                f"{med[i]:.3f}",
                f"{med[i] / ref[label]:.2f}×",
            ]
            for i, (label, _, name, precision, _) in enumerate(CASES)
        ],
    )
    write_result(
        "precision",
        f"Precision by hardware: seconds per step at {args.size} px",
        body,
        notes=[
            f"{CONTENT} × {STYLE}, one torch thread, each case a fresh process, process CPU seconds per step "
            "(median over steps 3 on), "
            f"median of {args.repeats} alternated repetitions; {time.perf_counter() - t0:.0f} s in all.",
            "AVX2 cap: `ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2` (no native bfloat16, as on "
            'most laptops). `gatys` is float32 everywhere; `fast` asks for "auto".',
            'The last row forces bfloat16 under the cap: what `fast` ran before "auto" (emulated).',
        ],
    )
    (common.RESULTS / "precision.json").write_text(json.dumps({str(i): rows[i] for i in rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
