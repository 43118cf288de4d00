#!/usr/bin/env bash
# The offline demo, on `synth-clap` (a small model trained on septctl's synthetic world, shipped):
# synthesize a synth-* dataset -> the base-to-new grid in one process (embeddings once, SEPT files
# from the built-in banks, zero-shot, each method with and without SEPT, 3 seeds, eval base and
# new) -> the table with mean and spread -> Figure 1 (heatmap) and Figure 4 (t-SNE).
# A synthetic world, not Pengi: the numbers show what the methods do to a model that knows
# something, not what they do on real audio (README.md, docs/methods.md).
set -euo pipefail
OUT=${1:-demo-out}
DATASETS=${DATASETS:-synth-jargon}
EPOCHS=${EPOCHS:-10}
SEEDS=${SEEDS:-0 1 2}
METHODS=${METHODS:-coop kgcoop dept}  # cocoop too: METHODS="coop cocoop kgcoop dept" (its SEPT runs take most of the time)
export SEPTCTL_CACHE=${SEPTCTL_CACHE:-$OUT/cache}
mkdir -p "$OUT/data"
for dataset in $DATASETS; do
  [ -d "$OUT/data/$dataset" ] || septctl data synth --dataset "$dataset" --train-per-class 16 --test-per-class 30 --out "$OUT/data/$dataset"
done
# shellcheck disable=SC2086
septctl grid base2new $DATASETS --backbone synth-clap --epochs "$EPOCHS" --seeds "$SEEDS" --methods "$METHODS" \
  --data-root "$OUT/data" --runs "$OUT/runs" --sept-dir "$OUT/sept"
septctl report "$OUT/runs" --out "$OUT/tables"
first=${DATASETS%% *}
runs="$OUT/runs/$first/synth-clap"
[ -f "$OUT/neighbors-all.yaml" ] || septctl neighbors "$OUT/data/$first" --llm builtin --split all \
  --out "$OUT/neighbors-all.yaml"
septctl plot heatmap "$runs/coop/base/fold0/seed0" "$runs/coop-sept/base/fold0/seed0" \
  --neighbors "$OUT/sept/$first/neighbors-base.yaml" --out "$OUT/figures/heatmap"
septctl plot tsne "$runs/coop/base/fold0/seed0" "$runs/coop-sept/base/fold0/seed0" \
  --neighbors "$OUT/neighbors-all.yaml" --out "$OUT/figures/tsne"
