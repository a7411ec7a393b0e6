"""A second, short GPU session: the optimizer's host syncs, and tuning the ``fast`` preset in steps.

What it is: on a CUDA machine (``OUT=… bash benchmarks/gpu_bench.sh --tune`` runs it instead of
``gpu_bench.py``), in one process:

1. 500 steps at 512 px as a bare loop (``Objective`` + ``BoxLBFGS``), with the optimizer's sync-free path and
   with a host read per step, float32 and bfloat16 + channels-last; and 500 steps of ``transfer.run``;
2. the float32 ``gatys`` objective against steps at 256 px from the content image in bfloat16 +
   channels-last, for L-BFGS step scales ``lr`` and history lengths, full size only (a GPU runs these steps
   in seconds; the number of steps to the target carries over to a CPU, where each step costs far more);
3. coarse-to-fine candidates at 512 px (where a coarse stage at 256 px has more to offer than at 256 px).

Each race is ``gpu_bench.race``: the target is 1.02 × J after 500 plain float32 L-BFGS steps from white
noise. Writes ``$OUT/gpu_tune.md`` and ``.json``.

What it is not: not a test; the history length is not a ``Config`` field, so part 2 swaps the optimizer
class inside ``transfer`` for the duration of a run (an experiment, not an API).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402
import gpu_bench as gb  # noqa: E402

from nst_edu import preset  # noqa: E402
from nst_edu.core import optim, transfer


def with_history(m: int):
    """A BoxLBFGS factory with history length m, for ``transfer._make_optimizer``."""

    class Box(optim.BoxLBFGS):
        def __init__(self, x, lr=1.0, **kw):
            super().__init__(x, lr=lr, history_size=m, **kw)

    return Box


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="GPU tuning session")
    p.add_argument("--device", default="cuda")
    p.add_argument("--out", default=os.environ.get("OUT", str(common.RESULTS)))
    p.add_argument("--quick", action="store_true")
    args = p.parse_args(argv)
    device = torch.device(args.device)
    big, small, steps, full = (512, 256, 500, 300) if not args.quick else (64, 48, 4, 3)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    paths = common.input_paths()
    res = {
        "env": gb.environment(device),
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "loops": [],
        "errors": [],
    }
    t_all = time.perf_counter()
    try:
        for precision in ("float32", "bfloat16"):
            for sync_free in (True, False):
                res["loops"].append(gb.bare_loop(big, device, steps, paths, precision, sync_free))
        res["loops"].append(gb.end_to_end(big, device, steps, paths, "float32"))
        res["loops"].append(gb.end_to_end(big, device, steps, paths, "bfloat16", True))
    except Exception as exc:
        res["errors"].append(f"loops: {exc!r}")
    print(f"loops done at {time.perf_counter() - t_all:.0f} s", flush=True)

    try:  # part 2: lr and history at the small size, full size only, content start, bf16 + channels-last
        gatys = preset("gatys", size=small, steps=steps, device=device.type)
        fast = gatys.replace(init="content", precision="bfloat16", channels_last=True, steps=full)
        methods = {"lbfgs-fp32-white": gatys}
        for lr in (1.0, 1.25, 1.5, 2.0):
            methods[f"content-bf16-cl lr={lr}"] = fast.replace(lr=lr)
        raw = gb.race(small, device, methods, paths, {n: 2 for n in methods})
        for m in (50, 100):
            saved = transfer.BoxLBFGS
            transfer.BoxLBFGS = with_history(m)
            try:
                raw.update(
                    {
                        f"{n} m={m}": v
                        for n, v in gb.race(
                            small,
                            device,
                            {"content-bf16-cl lr=1.0": fast},
                            paths,
                            {"content-bf16-cl lr=1.0": 2},
                        ).items()
                    }
                )
            finally:
                transfer.BoxLBFGS = saved
        res["lr_history"] = {"size": small, "rows": gb.summarize_race(raw)}
    except Exception as exc:
        res["errors"].append(f"lr/history: {exc!r}")
    print(f"lr/history done at {time.perf_counter() - t_all:.0f} s", flush=True)

    try:  # part 3: coarse-to-fine at the big size
        gatys = preset("gatys", size=big, steps=steps, device=device.type)
        base = gatys.replace(init="content", precision="bfloat16", channels_last=True, steps=full)
        methods = {"lbfgs-fp32-white": gatys, "content-bf16-cl": base}
        for scale, coarse in ((0.5, 50), (0.5, 100), (0.5, 200), (0.25, 100)):
            methods[f"c2f x{scale} {coarse}"] = base.replace(coarse_scale=scale, coarse_steps=coarse)
        raw = gb.race(big, device, methods, paths, {n: 2 for n in methods})
        res["c2f"] = {"size": big, "rows": gb.summarize_race(raw)}
    except Exception as exc:
        res["errors"].append(f"c2f: {exc!r}")
    res["seconds_total"] = time.perf_counter() - t_all

    lines = [
        "# GPU tuning session",
        "",
        f"Machine: {res['env']}.  ",
        f"Run: {res['when']}.",
        "",
        "## 500 steps at 512 px: bare loop vs transfer.run",
        "",
    ]
    lines.append(
        common.table(
            ["what", "steps", "seconds"],
            [[r["what"], r["steps"], f"{r['seconds']:.2f}"] for r in res["loops"]],
        )
    )
    for key, title in (
        ("lr_history", "Step scale and history, content start, bf16 + channels-last"),
        ("c2f", "Coarse-to-fine, content start, bf16 + channels-last"),
    ):
        if key not in res:
            continue
        rows = res[key]["rows"]
        lines += ["", f"## {title}, {res[key]['size']} px (target {rows[0]['target']:.5g})", ""]
        lines.append(
            common.table(
                ["method", "final J vs J_500", "steps to target", "seconds to target", "GPU s total"],
                [
                    [
                        o["method"],
                        f"{o['J_final'] / o['J_500'] - 1:+.2%}",
                        o["step_to_target"] or "never",
                        f"{o['seconds_to_target']:.2f}" if o["seconds_to_target"] else "–",
                        f"{o['seconds_total']:.2f}",
                    ]
                    for o in rows
                ],
            )
        )
    if res["errors"]:
        lines += ["", "Errors:", ""] + [f"- {e}" for e in res["errors"]]
    text = "\n".join(lines) + "\n"
    (out / "gpu_tune.md").write_text(text)
    (out / "gpu_tune.json").write_text(json.dumps(res, indent=1, default=str))
    print(text, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
