"""PALM (Hanif et al., EMNLP 2024): a learned vector per class mixed into its bare-name text feature.

As PALM's code computes it (notes/palm-pengi.md, section 3.5): t_c is the text tower's
feature of the bare class name (no template), L2-normalised; per class a learned vector
v_c (the joint feature width, init N(0, 0.02)) and a weight l_c (init U[0, 1)), and

    t'_c = (1 - sigmoid(l_c)) * t_c + sigmoid(l_c) * v_c,   logits = 100 * cos(a, t'_c)

with cross-entropy on the logits. Nothing passes through the text tower with gradients.

A class it did not train on has no v_c: it is scored with its bare-name feature t_c, i.e.
zero-shot with the prompt "{name}". Vectors are looked up by class name, so a training
class met again (e.g. in another dataset of the same name) keeps its vector.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from septctl.backbones.base import Backbone
from septctl.defaults import N_CTX
from septctl.methods.frozen import FrozenTextMethod


class PALM(FrozenTextMethod):
    name = "palm"

    def __init__(self, backbone: Backbone, classnames: list[str], n_ctx: int = N_CTX, logit_scale: float = 100.0):
        super().__init__(backbone, classnames, logit_scale)
        k, d = len(self.classnames), backbone.embed_dim
        self.ctx = nn.Parameter(torch.empty(k, d, device=backbone.device).normal_(std=0.02))
        self.lambdas = nn.Parameter(torch.rand(k, device=backbone.device))
        self.index = {c: i for i, c in enumerate(self.classnames)}

    def encode_names(self, names: list[str], audio: torch.Tensor | None = None) -> torch.Tensor:
        """t'_c for the trained classes among `names`, the bare-name t_c for the others (all unit length)."""
        text = F.normalize(self.text_features(names), dim=-1)
        rows = [self.index.get(n, -1) for n in names]
        known = torch.tensor([r >= 0 for r in rows], device=text.device)
        if not known.any():
            return text
        idx = torch.tensor([max(r, 0) for r in rows], device=text.device)
        w = torch.sigmoid(self.lambdas[idx]).unsqueeze(-1)
        mixed = F.normalize((1 - w) * text + w * self.ctx[idx], dim=-1)
        return torch.where(known.unsqueeze(-1), mixed, text)
