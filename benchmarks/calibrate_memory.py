"""The memory model against real runs: ``memory.estimate_bytes`` next to the measured peak of ``transfer.run``.

What it is: for each preset and size, one run of ``transfer.run`` on the CPU in a fresh process (this script
again, with ``--one``), chelsea with swirls, ``history_size + 2`` steps so that L-BFGS's history is full, no
coarse stage, a frame every 10 steps. "Measured" is the peak resident memory of the run minus the resident
memory just before it; "estimated" is ``memory.estimate_bytes`` for the same config and image shapes. Writes
``results/memory_calibration.md``. ``memory.K`` and ``memory.FIXED`` were fitted (least squares, rounded up)
to such a table; rerun it after a change to the model or to what ``transfer.run`` keeps.

How the peak is read: from /proc/self/status, ``VmHWM`` after resetting it to the current RSS through
/proc/self/clear_refs just before the run (Linux ≥ 4.0); ``resource.getrusage(RUSAGE_SELF).ru_maxrss`` is only
the fallback, because Linux carries a parent's peak across fork and exec, so a child of a big process (pytest)
would report the parent's peak.

What it is not: not a test, no fit (it prints the ratios; the constants are set by hand in ``memory.py``), and
CPU only: on CUDA the model's fixed part is a guess (``memory.CUDA_FIXED``).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402
from common import CONTENT, STYLE, table, write_result  # noqa: E402

SIZES = (128, 256, 384, 512)
PRESETS = ("fast", "gatys", "course")
MiB = 2**20
HEADER = "preset|precision|optimizer|size|C (H×W)|measured|estimated|estimated / measured".split("|")


def _status_bytes(field: str) -> int:
    """A memory line of /proc/self/status ("VmRSS:", "VmHWM:") in bytes; ru_maxrss where there is none."""
    try:
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) * 1024 for line in f if line.startswith(field))  # kB
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


def one(config_json: str, content: str, style: str) -> dict:
    """In the fresh process: run the config and return the RSS before the run, its peak and the shapes."""
    from nst_edu.core import transfer
    from nst_edu.core.config import Config

    common.set_threads()
    config = Config.from_dict(json.loads(config_json))
    C, S = transfer.load_pair(content, style, config)
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # reset the peak (VmHWM) to the current RSS
    except OSError:
        pass
    base = _status_bytes("VmRSS:")
    transfer.run(C, S, config, progress=False)
    peak = _status_bytes("VmHWM:")
    return {"base": base, "peak": peak, "C": list(C.shape[-2:]), "S": list(S.shape[-2:])}


def measure(config, content: str = CONTENT, style: str = STYLE, timeout: float = 3600) -> dict:
    """Run ``config`` on the CPU in a fresh process; bytes ``measured`` (peak − before) and ``estimated``."""
    from nst_edu.core import memory

    config = config.replace(device="cpu")
    script = str(Path(__file__).resolve())
    cmd = [sys.executable, script, "--one", json.dumps(config.to_dict()), content, style]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"the measuring process failed:\n{proc.stderr[-3000:]}")
    data = json.loads(proc.stdout.strip().splitlines()[-1])
    data["measured"] = data["peak"] - data["base"]
    data["estimated"] = memory.estimate_bytes(config, data["C"], data["S"], "cpu")
    return data


def calibration_config(name: str, size: int):
    """The config a row measures: the preset at ``size``, no coarse stage, L-BFGS's history filled."""
    from nst_edu.core.config import preset

    config = preset(name, size=size, coarse_steps=0, frame_every=10, device="cpu")
    return config.replace(steps=config.history_size + 2)


def calibration_rows(sizes=SIZES, presets=PRESETS) -> list[list]:
    """One table row per preset and size, each measured in its own process."""
    from nst_edu.core.hardware import resolve_precision

    rows = []
    for name in presets:
        for size in sizes:
            config = calibration_config(name, size)
            d = measure(config)
            rows.append(
                [
                    name,
                    resolve_precision(config.precision, "cpu"),
                    config.optimizer,
                    size,
                    f"{d['C'][0]}×{d['C'][1]}",
                    f"{d['measured'] / MiB:.0f} MiB",
                    f"{d['estimated'] / MiB:.0f} MiB",
                    f"{d['estimated'] / max(1, d['measured']):.2f}",
                ]
            )
            print(" | ".join(str(c) for c in rows[-1]), flush=True)
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", help=f"comma-separated longer sides (default {','.join(map(str, SIZES))})")
    p.add_argument("--presets", help=f"comma-separated presets (default {','.join(PRESETS)})")
    p.add_argument("--quick", action="store_true", help="gatys at 128 and 256 px, into results/quick/")
    p.add_argument("--one", nargs=3, metavar=("CONFIG_JSON", "CONTENT", "STYLE"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.one:
        print(json.dumps(one(*args.one)), flush=True)
        return 0
    sizes, presets = SIZES, PRESETS
    if args.quick:
        common.use_quick_results()
        sizes, presets = (128, 256), ("gatys",)
    sizes = [int(s) for s in args.sizes.split(",")] if args.sizes else sizes
    presets = args.presets.split(",") if args.presets else presets
    rows = calibration_rows(sizes, presets)
    write_result(
        "memory_calibration",
        "Memory model: estimated against measured peak memory",
        table(HEADER, rows),
        notes=[
            f"{CONTENT} with {STYLE}, one fresh process per row, on the CPU; history_size + 2 steps (L-BFGS's "
            "history full), coarse_steps=0, frame_every=10.",
            "measured: peak RSS of the run (VmHWM, reset through /proc/self/clear_refs just before it) minus "
            "the RSS before it; estimated: `memory.estimate_bytes` for the same config and shapes.",
            "A run is allowed when its estimate is at most `memory.SAFETY` of the free memory; "
            "`memory.K` and `memory.FIXED` were fitted to a table like this one.",
        ],
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
