#!/usr/bin/env bash
# The offline demo: synthesize a dataset -> embed -> zero-shot -> SEPT files from the built-in
# banks -> each baseline with and without SEPT on base classes -> eval base and new -> report.
# Runs on 2 CPU cores in a few minutes (METHODS="coop" for a shorter one).
# The `tiny` backbone has random weights: the numbers show the plumbing, not the method.
set -euo pipefail
OUT=${1:-demo-out}
EPOCHS=${EPOCHS:-50}
METHODS=${METHODS:-coop cocoop kgcoop dept}
export SEPTCTL_CACHE=${SEPTCTL_CACHE:-$OUT/cache}
mkdir -p "$OUT"
[ -d "$OUT/synth" ] || septctl data synth --out "$OUT/synth"
septctl data check "$OUT/synth" > /dev/null
septctl embed "$OUT/synth" --backbone tiny
for classes in base new; do
  septctl eval --zeroshot "$OUT/synth" --backbone tiny --classes "$classes" --out "$OUT/runs/zeroshot"
done
# SEPT's inputs, offline: neighbors and templates from the shipped banks, margins on tiny.
[ -f "$OUT/neighbors.yaml" ] || septctl neighbors "$OUT/synth" --llm builtin --out "$OUT/neighbors.yaml"
[ -f "$OUT/prefixes.yaml" ] || septctl prefixes --llm builtin --out "$OUT/prefixes.yaml"
[ -f "$OUT/margins.safetensors" ] || septctl margins --neighbors "$OUT/neighbors.yaml" \
  --prefixes "$OUT/prefixes.yaml" --backbone tiny --out "$OUT/margins.safetensors"
for method in $METHODS; do
  for sept in "" "--sept"; do
    run="$OUT/runs/$method${sept:+-sept}"
    septctl train "$OUT/synth" --backbone tiny --baseline "$method" --epochs "$EPOCHS" --seed 0 --out "$run" \
      ${sept:+--sept --neighbors "$OUT/neighbors.yaml" --margins "$OUT/margins.safetensors"}
    for classes in base new; do
      septctl eval "$run" --classes "$classes"
    done
  done
done
septctl report "$OUT/runs"
