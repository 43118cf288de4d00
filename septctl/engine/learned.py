"""Did a finished run learn anything? Two signs that it did not, said at the end of `train` and kept in run.yaml
(`learning_warnings`) so that `report` marks the run:

- the last epoch's classification loss is above chance, ln K (a uniform guess over K classes scores ln K);
- the class prompts collapsed onto one point (every pair of class text features nearly parallel), so every class
  scores alike whatever the audio: what the issue's heatmap showed when CoOp and CoOp + SEPT scored identically.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from septctl.data.media import ITEMS, NOUNS
from septctl.methods.base import PromptMethod

COLLAPSED = 0.995
"""Cosine similarity above which two class prompts count as one point; collapse is when even the least similar pair
is above it. Measured least similar pairs of the 12 synth-tones classes: zero-shot -0.52 on synth-clap and 0.38 on
tiny; CoOp's initial prompts -0.37 and 0.21."""


def learning_warnings(method: PromptMethod, classes: list[str], log: list[dict],
                      audio: torch.Tensor | None) -> list[str]:
    """One sentence per sign that the run learned nothing (none: it did learn, as far as these can tell)."""
    if len(classes) < 2:
        return []
    found = []
    chance = math.log(len(classes))
    last = log[-1] if log else {}
    ce = last.get("ce", last.get("loss"))
    if ce is not None and ce > chance:
        modality = method.backbone.modality
        found.append(f"final training loss {ce:.3f} is above chance (ln {len(classes)} = {chance:.3f}): the prompt "
                     f"does no better than a guess on its own training {ITEMS[modality]}s; try more --epochs or "
                     f"another --lr, and check that the labels match the {NOUNS[modality]}")
    closest = _least_similar_pair(method, classes, audio)
    if closest > COLLAPSED:
        found.append(f"the {len(classes)} class prompts collapsed onto one point (every pair at cosine similarity "
                     f"> {COLLAPSED}, least similar {closest:.4f}): every class scores alike; try a lower --lr")
    return found


@torch.no_grad()
def _least_similar_pair(method: PromptMethod, classes: list[str], audio: torch.Tensor | None) -> float:
    """The smallest cosine similarity between two class prompts (averaged over clips for per-clip prompts)."""
    was_training = method.training
    method.train(False)  # no dropout: the prompts as evaluation sees them
    try:
        feats = method.encode_names(classes, None if audio is None else audio[:16])
    finally:
        method.train(was_training)
    if feats.dim() == 3:  # CoCoOp: class prompts per clip [B, K, D]
        feats = F.normalize(feats, dim=-1).mean(0)
    feats = F.normalize(feats.float(), dim=-1)
    return float((feats @ feats.T).min())
