"""Shared helpers of the benchmarks: input images, fresh-subprocess workers, medians, Markdown tables.

What it is: the plumbing that every script in ``benchmarks/`` uses, so that each script reads as its
experiment. What it is not: no timing logic of its own (``worker.py`` times steps), and nothing here is a
test: timings depend on the machine and on whatever else runs on it.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
INPUTS = RESULTS / "inputs"
CONTENT, STYLE = "chelsea", "swirls"
GiB = 1024**3
# Threads for torch's CPU kernels in every benchmark process (0: torch's default, one per core). On a machine
# shared with other busy programs, 2 threads per process can run several times slower than 1 (each parallel
# region waits for its slowest thread to be scheduled), so ``run_all.py --threads 1`` gives steadier numbers.
THREADS_ENV = "NST_BENCH_THREADS"


def set_threads() -> int:
    """Apply ``$NST_BENCH_THREADS`` to torch in this process; return the number of threads in use."""
    import torch

    n = int(os.environ.get(THREADS_ENV, "0") or 0)
    if n > 0:
        torch.set_num_threads(n)
    return torch.get_num_threads()


def use_quick_results() -> None:
    """``--quick`` runs write under results/quick/, so they never overwrite the full tables."""
    global RESULTS
    RESULTS = HERE / "results" / "quick"
    RESULTS.mkdir(parents=True, exist_ok=True)


def input_paths() -> tuple[Path, Path]:
    """The content and style images as PNG files, so that nst_edu and pastiche read the very same pixels.

    Written at their sample resolution (content 451×300, style 512×512); each program then resizes them to
    the benchmark size itself, as a user of each would.
    """
    from nst_edu.core import images

    INPUTS.mkdir(parents=True, exist_ok=True)
    paths = INPUTS / f"{CONTENT}.png", INPUTS / f"{STYLE}.png"
    for name, path in zip((CONTENT, STYLE), paths):
        if not path.exists():
            images.save_image(images.load_sample(name), path)
    return paths


def run_worker(args: list[str], timeout: float = 3600) -> dict:
    """Run ``worker.py`` with ``args`` in a fresh Python process and return the JSON it prints last.

    A fresh process per measurement keeps peak resident memory (ru_maxrss) to that measurement alone.
    """
    cmd = [sys.executable, str(HERE / "worker.py"), *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"worker failed ({' '.join(args)}):\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def median(values) -> float:
    return float(statistics.median(values))


def spread(values) -> str:
    """min–max of a list of seconds, for the noise column."""
    return f"{min(values):.3g}–{max(values):.3g}"


def load_average() -> str:
    try:
        return " / ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def machine() -> str:
    """One line naming the machine, for the header of every results file."""
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    bf16 = "avx512_bf16" in Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else False
    return (
        f"{cpu}, {os.cpu_count()} logical CPUs{' with AVX-512-BF16' if bf16 else ''}, "
        f"torch {torch.__version__} ({torch.get_num_threads()} threads), Python {platform.python_version()}"
    )


def table(header: list[str], rows: list[list]) -> str:
    """A Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def write_result(
    name: str, title: str, body: str, notes: list[str] | None = None, when: str | None = None
) -> Path:
    """Write ``results/<name>.md`` with a header naming the machine, the time and the load, and print it.

    ``when``: the time of a run whose table is rewritten later (then the load is not known)."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    run = (
        f"Run: {when}."
        if when
        else f"Run: {time.strftime('%Y-%m-%d %H:%M')}, load average at the end {load_average()} (1 / 5 / 15 min)."
    )
    header = [f"# {title}", "", f"Machine: {machine()}.  ", run, "", ""]
    text = "\n".join(header) + body.rstrip() + "\n"
    if notes:
        text += "\n" + "\n".join(f"- {n}" for n in notes) + "\n"
    path = RESULTS / f"{name}.md"
    path.write_text(text)
    print(text, flush=True)
    return path
