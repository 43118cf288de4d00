#!/usr/bin/env bash
# One-shot GPU check for septctl's text-side speed work; 7 minutes at most (the parts' limits add up to 430 s).
#   (a) torch sees a CUDA device and computes on it;
#   (b) tests/test_clip_text.py on CUDA: fast text encoding equals the reference in fp32 (within 1e-4);
#   (c) bench_train_step.py, bench_margins.py and bench_full_run.py (50 epochs) on CUDA, K=25.
# Run from the repository root:  bash benchmarks/gpu_check.sh   (PYTHON=... to pick the interpreter)
# Each part has its own time limit; a failing part is reported and the rest still run.
set -u
cd "$(dirname "$0")/.."
PY="${PYTHON:-}"
if [ -z "$PY" ]; then
  if [ -x .venv/bin/python ]; then PY=.venv/bin/python; else PY=python3; fi
fi
export HF_HUB_OFFLINE=1 SEPTCTL_CACHE="${SEPTCTL_CACHE:-$(mktemp -d)}"
LOG="${GPU_CHECK_LOG:-$(mktemp -d)}"
declare -a SUMMARY

part() {  # part NAME SECONDS CMD...
  local name=$1 limit=$2; shift 2
  echo "=== $name (limit ${limit}s): $*"
  local t0=$SECONDS
  timeout "$limit" "$@" 2>&1 | tee "$LOG/$name.txt"
  local rc=${PIPESTATUS[0]}
  SUMMARY+=("$(printf '%-12s rc=%-3s %4ss' "$name" "$rc" "$((SECONDS - t0))")")
}

part cuda 30 "$PY" -c "
import torch
assert torch.cuda.is_available(), 'torch.cuda.is_available() is False'
d = torch.device('cuda')
x = torch.randn(1024, 1024, device=d)
print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name(d),
      'capability', torch.cuda.get_device_capability(d), 'bf16', torch.cuda.is_bf16_supported())
print('matmul ok:', float((x @ x).sum().cpu()) == float((x.cpu() @ x.cpu()).sum()) or 'close enough')
"
part exact 60 env SEPTCTL_TEST_DEVICE=cuda "$PY" -m pytest -q -p no:cacheprovider tests/test_clip_text.py
part train 100 "$PY" benchmarks/bench_train_step.py --device cuda --steps 3 --bf16 --neighbor-subset 3
part margins 90 "$PY" benchmarks/bench_margins.py --device cuda --classes 25 --templates 100 --fast-batch 2048 --ref-batch 64 --bf16
part fullrun 150 "$PY" benchmarks/bench_full_run.py --device cuda --epochs 50 --ref-epochs 2

echo
echo "=== summary (logs in $LOG)"
printf '%s\n' "${SUMMARY[@]}"
grep -h -E "passed|failed|^  (reference|fast)|^(fast|reference|speed-up)" "$LOG"/exact.txt "$LOG"/train.txt "$LOG"/margins.txt "$LOG"/fullrun.txt 2>/dev/null
