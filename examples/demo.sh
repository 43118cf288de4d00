#!/usr/bin/env bash
# The offline demo: synthesize a dataset -> embed -> zero-shot -> CoOp on base classes
# -> eval base and new -> report. Runs on 2 CPU cores in about a minute.
# The `tiny` backbone has random weights: the numbers show the plumbing, not the method.
set -euo pipefail
OUT=${1:-demo-out}
EPOCHS=${EPOCHS:-50}
export SEPTCTL_CACHE=${SEPTCTL_CACHE:-$OUT/cache}
mkdir -p "$OUT"
[ -d "$OUT/synth" ] || septctl data synth --out "$OUT/synth"
septctl data check "$OUT/synth" > /dev/null
septctl embed "$OUT/synth" --backbone tiny
for classes in base new; do
  septctl eval --zeroshot "$OUT/synth" --backbone tiny --classes "$classes" --out "$OUT/runs/zeroshot"
done
septctl train "$OUT/synth" --backbone tiny --baseline coop --epochs "$EPOCHS" --seed 0 --out "$OUT/runs/coop"
for classes in base new; do
  septctl eval "$OUT/runs/coop" --classes "$classes"
done
septctl report "$OUT/runs"
