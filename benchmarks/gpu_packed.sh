#!/usr/bin/env bash
# GPU check for packed training (issue 19), under 10 minutes: the 50-epoch ESC-50-sized CoOp + SEPT run
# (25 base classes x 16 shots, N = 10, batch 16) on random Pengi-size weights, one run alone vs 15 runs packed
# (5 folds x 3 seeds). Goal on one H100/H200: 15 packed runs in under 60 s.
# Run from the repository root:  bash benchmarks/gpu_packed.sh   (PYTHON=... to pick the interpreter)
set -u
cd "$(dirname "$0")/.."
PY="${PYTHON:-}"
if [ -z "$PY" ]; then
  if [ -x .venv/bin/python ]; then PY=.venv/bin/python; else PY=python3; fi
fi
export HF_HUB_OFFLINE=1
# alone: 1 run x 50 epochs (~50 s at the issue's 38 ms/step); packed: 15 runs x 50 epochs, after one warm-up epoch
timeout 540 "$PY" benchmarks/bench_packed.py --device cuda --runs 15 --alone-runs 1 --epochs 50 --shots 16 --sizes 25
