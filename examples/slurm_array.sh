#!/usr/bin/env bash
#SBATCH --job-name=sept-grid
#SBATCH --cpus-per-task=4
#SBATCH --gres=gpu:1
#SBATCH --time=02:00:00
# One line of a septctl grid plan per SLURM array task (task N runs line N), for plans made by hand.
# `septctl grid EXPERIMENT DATASETS --slurm` does all of this itself (scripts, plans of unfinished jobs,
# dependencies, MaxArraySize chunks, logs and --status); see docs/experiments.md.
#   septctl grid paper esc50 sesa --plan --stage prep > prep.txt
#   septctl grid paper esc50 sesa --plan --stage runs > runs.txt
#   prep=$(sbatch --parsable --array=1-$(wc -l < prep.txt) examples/slurm_array.sh prep.txt)
#   sbatch --dependency=afterok:$prep --array=1-$(wc -l < runs.txt)%32 examples/slurm_array.sh runs.txt
# Plan with DEVICE=cuda to train on the GPU. A rerun of a task skips what is finished.
set -euo pipefail
PLAN=${1:?usage: sbatch --array=1-N $0 PLAN_FILE}
TASK=${SLURM_ARRAY_TASK_ID:?run this as a SLURM array task (or set SLURM_ARRAY_TASK_ID)}
LINE=$(sed -n "${TASK}p" "$PLAN")
[ -n "$LINE" ] || { echo "$PLAN has no line $TASK" >&2; exit 2; }
echo "task $TASK: $LINE" >&2
bash -c "$LINE"
