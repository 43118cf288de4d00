#!/usr/bin/env bash
# Table 11 (paper Appendix B.7): CoOp and CoOp + SEPT on CLIP ViT-B/16, base-to-new on Caltech101
# (CoOp's split), 3 seeds, each run evaluated on base and new; zero-shot ("a photo of a {}.") beside it.
# Needs (docs/images.md): Caltech101 prepared under DATA_ROOT (`septctl data prepare caltech101 --source
# caltech-101/ --out $DATA_ROOT/Caltech101`), CLIP's weights (Hugging Face openai/clip-vit-base-patch16,
# cached on first use), neighbors for the 50 base classes (LLM=gpt-4o with OPENAI_API_KEY, or your own
# SEPT_DIR/caltech101/neighbors-base.yaml written first) and, for the paper's 50 epochs, a GPU (DEVICE=cuda).
# Usage: recipes/table11.sh [--quick] [--plan [--stage prep|runs]]   (knobs: recipes/common.sh)
set -euo pipefail
source "$(dirname "$0")/common.sh"
export BACKBONE=${BACKBONE:-clip-vit-b16} METHODS=${METHODS:-coop}
septctl_ grid base2new caltech101 ${LLM:+--llm "$LLM"} "$@"
