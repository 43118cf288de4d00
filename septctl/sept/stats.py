"""Neighbor quality, as the paper measures it (Appendix B.6 and C.1).

All similarities are cosines between features of one hand-crafted template
("This is a sound of {}." by default):
- positive: class c_i vs its own neighbors p_i^n (C.1 reports 0.64 over 11 datasets; Fig. 8),
- negative: class c_i vs the neighbors p_j^n of every other class j (C.1: 0.34),
- diversity (eq. 10, Table 10): 1 - mean over pairs n < m of sim(p_i^n, p_i^m), averaged over classes,
- new-name overlap (C.1: 1.7%): share of neighbors that contain a new-class name as whole words.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch

from septctl.defaults import DEFAULT_TEMPLATE
from septctl.sept.margins import SentenceEncoder, encode_normalized
from septctl.sept.neighbors import contains_name
from septctl.sept.prefixes import fill



@dataclass
class NeighborStats:
    source: str
    classes: int
    n: int
    positive_sim: float
    negative_sim: float | None  # None with a single class
    diversity: float
    new_overlap: float | None  # None when the new classes are unknown or there are none
    overlapping: list[str]

    def as_dict(self) -> dict:
        return asdict(self)


def neighbor_stats(
    backbone: SentenceEncoder,
    classes: list[str],
    neighbors: list[list[str]],
    *,
    source: str,
    new_classes: list[str] | None = None,
    template: str = DEFAULT_TEMPLATE,
) -> NeighborStats:
    k, n = len(classes), len(neighbors[0])
    texts = [fill(template, c) for c in classes] + [fill(template, p) for row in neighbors for p in row]
    feats = encode_normalized(backbone, texts)
    cls, nb = feats[:k], feats[k:].view(k, n, -1)
    sim = torch.einsum("id,jnd->ijn", cls, nb)  # [K, K, N]
    eye = torch.eye(k, dtype=torch.bool)
    positive = sim[eye].mean().item()
    negative = sim[~eye].mean().item() if k > 1 else None
    if n > 1:
        pair = nb @ nb.transpose(1, 2)  # [K, N, N]
        upper = torch.triu(torch.ones(n, n, dtype=torch.bool), diagonal=1)
        diversity = (1 - pair[:, upper].mean(dim=1)).mean().item()
    else:
        diversity = float("nan")
    overlap, hits = None, []
    if new_classes:
        hits = sorted({p for row in neighbors for p in row if any(contains_name(p, c) for c in new_classes)})
        flagged = sum(any(contains_name(p, c) for c in new_classes) for row in neighbors for p in row)
        overlap = flagged / (k * n)
    return NeighborStats(source, k, n, positive, negative, diversity, overlap, hits)
