#!/usr/bin/env bash
# Table 3: CoOp with each subset of SEPT's intra/inter terms and their margins
# (plain CoOp and full CoOp + SEPT are shared with base2new.sh).
# Usage: recipes/ablation.sh DATASET... [--quick] [--plan [--stage prep|runs]]   (knobs: recipes/common.sh)
set -euo pipefail
source "$(dirname "$0")/common.sh"
[ $# -ge 1 ] && [[ $1 != -* ]] || { echo "usage: $0 DATASET... [--quick] [--plan]" >&2; exit 2; }
septctl_ grid ablation "$@"
