#!/usr/bin/env bash
# Run an experiment grid JOBS at a time with GNU parallel (xargs -P when parallel is absent).
# The prep lines make shared files (SEPT files, embeddings) and run first; then the runs.
# Usage: JOBS=4 examples/parallel.sh EXPERIMENT [DATASETS...] [--quick]
#   e.g. JOBS=4 BACKBONE=pengi DEVICE=cuda examples/parallel.sh base2new esc50 sesa
set -euo pipefail
[ $# -ge 1 ] || { echo "usage: $0 base2new|cross|shots|ablation|paper [DATASETS...] [--quick]" >&2; exit 2; }
JOBS=${JOBS:-4}
export SEPTCTL_THREADS=${SEPTCTL_THREADS:-1}  # one torch thread per job: JOBS jobs share the cores
read -r -a SEPTCTL_CMD <<< "${SEPTCTL:-septctl}"
run_lines() {
  if command -v parallel > /dev/null; then
    parallel --halt now,fail=1 -j "$JOBS"
  else
    xargs -d '\n' -P "$JOBS" -I{} bash -c {}
  fi
}
"${SEPTCTL_CMD[@]}" grid "$@" --plan --stage prep | run_lines
"${SEPTCTL_CMD[@]}" grid "$@" --plan --stage runs | run_lines
"${SEPTCTL_CMD[@]}" report "${RUNS:-runs}" --table all
