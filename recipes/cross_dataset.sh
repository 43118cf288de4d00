#!/usr/bin/env bash
# Table 2: train on all classes of a source dataset, evaluate on its test split and on a target
# dataset: ESC50-Actions -> UrbanSound8K, RAVDESS -> CREMA-D, NS-Instruments -> Beijing-Opera
# (CROSS_PAIRS="src:tgt ..." to change). The target is scored on its default fold.
# Usage: recipes/cross_dataset.sh [--quick] [--plan [--stage prep|runs]]   (knobs: recipes/common.sh)
set -euo pipefail
source "$(dirname "$0")/common.sh"
septctl_ grid cross "$@"
