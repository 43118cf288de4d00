#!/usr/bin/env bash
# Run an experiment grid JOBS at a time on this machine: `septctl grid --parallel JOBS` (GNU parallel over
# the grid's plan files, logs in RUNS/grid-EXPERIMENT/logs, `--status` to see failures), or xargs -P over
# `--plan` when GNU parallel is absent. The prep lines make shared files (SEPT files, embeddings) and run first.
# Usage: JOBS=4 examples/parallel.sh EXPERIMENT [DATASETS...] [--quick]
#   e.g. JOBS=4 BACKBONE=pengi DEVICE=cuda examples/parallel.sh base2new esc50 sesa
set -euo pipefail
[ $# -ge 1 ] || { echo "usage: $0 base2new|cross|shots|ablation|paper [DATASETS...] [--quick]" >&2; exit 2; }
JOBS=${JOBS:-4}
export SEPTCTL_THREADS=${SEPTCTL_THREADS:-1}  # one torch thread per job: JOBS jobs share the cores
read -r -a SEPTCTL_CMD <<< "${SEPTCTL:-septctl}"
if command -v parallel > /dev/null; then
  "${SEPTCTL_CMD[@]}" grid "$@" --parallel "$JOBS"
else
  "${SEPTCTL_CMD[@]}" grid "$@" --plan --stage prep | xargs -d '\n' -P "$JOBS" -I{} bash -c {}
  "${SEPTCTL_CMD[@]}" grid "$@" --plan --stage runs | xargs -d '\n' -P "$JOBS" -I{} bash -c {}
fi
"${SEPTCTL_CMD[@]}" report "${RUNS:-runs}" --table all
