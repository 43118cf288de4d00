#!/usr/bin/env bash
# GPU check for packed training and compiled steps (issue 19), under 10 minutes.
# 1. The 50-epoch ESC-50-sized CoOp + SEPT run (25 base classes x 16 shots, N = 10, batch 16) on random
#    Pengi-size weights, eager: one run alone vs 15 runs packed (5 folds x 3 seeds). Goal on one H100/H200:
#    15 packed runs in under 60 s.
# 2. The same sizes with the text tower compiled (`train --compile`): alone and 15 packed, compile off vs
#    reduce-overhead (CUDA graphs), 3 timed epochs each after a warm-up epoch that holds the compile time;
#    also prints how far the compiled runs' contexts end from the eager ones.
# Run from the repository root:  bash benchmarks/gpu_packed.sh   (PYTHON=... to pick the interpreter)
set -u
cd "$(dirname "$0")/.."
PY="${PYTHON:-}"
if [ -z "$PY" ]; then
  if [ -x .venv/bin/python ]; then PY=.venv/bin/python; else PY=python3; fi
fi
export HF_HUB_OFFLINE=1
# alone: 1 run x 50 epochs (~50 s at the issue's 38 ms/step); packed: 15 runs x 50 epochs, after one warm-up epoch
timeout 300 "$PY" benchmarks/bench_packed.py --device cuda --runs 15 --alone-runs 1 --epochs 50 --shots 16 --sizes 25
timeout 270 "$PY" benchmarks/bench_compile.py --device cuda --modes off,reduce-overhead --runs 15 --alone-runs 1 \
  --epochs 3 --shots 16 --sizes 25
