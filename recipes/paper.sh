#!/usr/bin/env bash
# Everything in the paper's tables and figures: base-to-new (Table 1), cross-dataset (Table 2),
# shots (Table 6) and the SEPT ablation (Table 3) over DATASETS (default: all 11), then the
# tables (OUT/tables: md, tex, csv, json) and Figures 1, 4 and 8 (OUT/figures: png, pdf).
# Usage: recipes/paper.sh [--quick] [--plan [--stage prep|runs]]
#   --quick: 2 epochs, seed 0, fold 1 (a smoke test of the whole grid)
# Knobs: DATASETS, OUT (results), FIG_DATASET (esc50-actions, else the first dataset), and
# those of recipes/common.sh. A rerun skips every finished job; two copies may run at once.
set -euo pipefail
source "$(dirname "$0")/common.sh"
DATASETS=${DATASETS:-"beijing-opera crema-d esc50 esc50-actions gt-music-genre ns-instruments ravdess sesa tut2017 urbansound8k vocalsound"}
OUT=${OUT:-results}
RUNS=${RUNS:-runs}
SEPT_DIR=${SEPT_DIR:-sept}
BACKBONE=${BACKBONE:-pengi}
export RUNS SEPT_DIR BACKBONE
read -r -a datasets <<< "$DATASETS"

septctl_ grid paper "${datasets[@]}" "$@"
for arg in "$@"; do [ "$arg" = --plan ] && exit 0; done

for fmt in md latex csv json; do
  septctl_ report "$RUNS" --table all --format "$fmt" --out "$OUT/tables" > /dev/null 2>&1
done
septctl_ report "$RUNS" --table all --format md

fig=${FIG_DATASET:-esc50-actions}
[[ " $DATASETS " == *" $fig "* ]] || fig=${datasets[0]}
first_run() { ls -d "$RUNS/$fig/$BACKBONE/$1/base"/fold*/seed* 2>/dev/null | head -n 1; }
coop=$(first_run coop) sept=$(first_run coop-sept)
if [ -z "$coop" ] || [ -z "$sept" ]; then
  echo "figures: no coop and coop-sept runs of $fig; skipped" >&2
  exit 0
fi
figure_neighbors="$SEPT_DIR/$fig/neighbors-figures.yaml"  # every class, so new classes can be drawn
[ -f "$figure_neighbors" ] || septctl_ neighbors "$fig" --llm builtin --split all --out "$figure_neighbors"
draw() {  # draw NAME COMMAND...: skip figures that exist (delete them to redraw)
  local name=$1; shift
  if [ -f "$OUT/figures/$name.png" ] && [ -f "$OUT/figures/$name.pdf" ]; then
    echo "figures: $OUT/figures/$name.png exists; skipped" >&2
  else
    septctl_ plot "$@" --out "$OUT/figures/$name"
  fi
}
draw "heatmap-$fig" heatmap "$coop" "$sept" --neighbors "$SEPT_DIR/$fig/neighbors-base.yaml"
draw "tsne-$fig" tsne "$coop" "$sept" --neighbors "$figure_neighbors" --classes new
mapfile -t neighbor_files < <(ls "$SEPT_DIR"/*/neighbors-base.yaml)
draw similarity similarity "${neighbor_files[@]}" --backbone "$BACKBONE"
