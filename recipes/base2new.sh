#!/usr/bin/env bash
# Table 1 for one dataset: zero-shot, then coop, cocoop, kgcoop and dept with and without SEPT,
# on base classes, every fold, 3 seeds; each run evaluated on base and new classes.
# SEPT files (built-in neighbors and prefixes, margins) are made first, once.
# Usage: recipes/base2new.sh DATASET [--quick] [--plan [--stage prep|runs]]   (knobs: recipes/common.sh)
# Finished runs and recorded evaluations are skipped, so a rerun does nothing.
set -euo pipefail
source "$(dirname "$0")/common.sh"
[ $# -ge 1 ] && [[ $1 != -* ]] || { echo "usage: $0 DATASET [--quick] [--plan]" >&2; exit 2; }
septctl_ grid base2new "$@"
