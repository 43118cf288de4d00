#!/usr/bin/env bash
# Table 6: base-to-new runs at 2, 4, 8 and 16 shots per class (SHOTS to change) for each method
# with and without SEPT; the 16-shot runs are shared with base2new.sh.
# Usage: recipes/shots.sh DATASET... [--quick] [--plan [--stage prep|runs]]   (knobs: recipes/common.sh)
set -euo pipefail
source "$(dirname "$0")/common.sh"
[ $# -ge 1 ] && [[ $1 != -* ]] || { echo "usage: $0 DATASET... [--quick] [--plan]" >&2; exit 2; }
septctl_ grid shots "$@"
