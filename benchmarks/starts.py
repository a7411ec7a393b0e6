"""Every start converges: the `fast` settings from each start kind, final J against the best start's.

What it is: for each pair and size, one run of the `fast` preset (its steps, its objective: the paper's
normalised network, β from the style strength, TV) from each of ``noise.KINDS`` but "style"; each run's final
J divided by the lowest final J of the pair and size. A ratio near 1 means the start does not matter by the
end; the safeguarded L-BFGS (``optim.py``) is what keeps the noisy starts from climbing into noise. Also
reported: how many trial steps the safeguard rejected.

What it is not: not a test. Results go to ``results/starts.md`` and ``results/starts.json``; records of
earlier invocations for other pairs, sizes or starts are kept.

    python benchmarks/starts.py [--sizes 192,256] [--pairs chelsea:swirls,...] [--quick]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402
import quality  # noqa: E402

from nst_edu import preset, run  # noqa: E402
from nst_edu.core import optim, transfer  # noqa: E402

STARTS = ("white", "content", "additive", "course-tf1", "uniform", "gaussian", "content-colour")
DEFAULT_PAIRS = "chelsea:swirls,astronaut:woman_with_hat,coffee:udnie,rocket:stained_glass"


class CountingLBFGS(optim.BoxLBFGS):
    """BoxLBFGS that remembers its instances, to read how many trials each rejected."""

    made: list = []

    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        CountingLBFGS.made.append(self)


def one(content: str, style: str, size: int, init: str) -> dict:
    CountingLBFGS.made.clear()
    config = preset("fast", size=size, init=init, device="cpu", frame_every=0)
    t0 = time.perf_counter()
    result = run(quality.png_path(content), quality.png_path(style), config, progress=False)
    J = result.history.column("total")
    return {
        "J0": float(J[0]),
        "J": float(J[-1]),
        "seconds": time.perf_counter() - t0,
        "rejected": sum(o.rejected for o in CountingLBFGS.made),
    }


def merged(records: list[dict], path) -> list[dict]:
    """This invocation's records, after those of earlier ones in ``path`` for other pairs, sizes or starts."""
    key = ("content", "style", "size", "init")
    new = {tuple(r[k] for k in key) for r in records}
    old = json.loads(path.read_text()) if path.exists() else []
    return [r for r in old if tuple(r[k] for k in key) not in new] + records


def machines(records: list[dict]) -> str:
    """Which machine ran which pairs: "machine A: c × s, …; machine B: …"."""
    by_machine: dict[str, dict] = {}
    for r in records:
        by_machine.setdefault(r["machine"], {})[f"{r['content']} × {r['style']}"] = None
    return "; ".join(f"{m}: {', '.join(pairs)}" for m, pairs in by_machine.items())


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="192,256")
    parser.add_argument("--pairs", default=DEFAULT_PAIRS)
    parser.add_argument("--quick", action="store_true", help="one pair at 128 px, under results/quick/")
    args = parser.parse_args(argv)
    if args.quick:
        common.use_quick_results()
        args.sizes, args.pairs = "128", DEFAULT_PAIRS.split(",")[0]
    threads = common.set_threads()
    transfer.BoxLBFGS = CountingLBFGS
    records, started = [], time.perf_counter()
    for size in [int(s) for s in args.sizes.split(",")]:
        for pair in args.pairs.split(","):
            content, style = pair.split(":")
            for init in STARTS:
                rec = {
                    "content": content,
                    "style": style,
                    "size": size,
                    "init": init,
                    **one(content, style, size, init),
                    "machine": common.machine().split(",")[0],
                }
                records.append(rec)
                print(json.dumps(rec), flush=True)
    records = merged(records, common.RESULTS / "starts.json")
    (common.RESULTS / "starts.json").write_text(json.dumps(records, indent=1))
    rows, worst = [], 1.0
    for size in sorted({r["size"] for r in records}):
        for pair in dict.fromkeys((r["content"], r["style"]) for r in records if r["size"] == size):
            group = [r for r in records if r["size"] == size and (r["content"], r["style"]) == pair]
            best = min(r["J"] for r in group)
            ratios = {r["init"]: r["J"] / best for r in group}
            worst = max(worst, *ratios.values())
            rows.append(
                [f"{pair[0]} × {pair[1]}", size, f"{best:.4g}"]
                + [
                    f"{ratios[s]:.2f} ({next(r['rejected'] for r in group if r['init'] == s)})"
                    for s in STARTS
                ]
            )
    body = common.table(["pair", "px", "lowest final J"] + [f"`{s}`" for s in STARTS], rows)
    notes = [
        "Each cell: final J / the lowest final J among the starts of that pair and size (in parentheses: "
        "trial steps the safeguard rejected, each one evaluation of the run's steps).",
        f"Worst ratio: {worst:.2f}. `fast` settings and steps; torch threads: {threads}; this invocation "
        f"{time.perf_counter() - started:.0f} s.",
        "The table merges every invocation's records (`results/starts.json`); the runs of one pair and size "
        f"come from one machine: {machines(records)}.",
    ]
    common.write_result("starts", "Every start converges: final J by start kind", body, notes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
