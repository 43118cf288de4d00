"""KgCoOp: CoOp plus a pull of each learned class feature towards its hand-written one.

loss = CE + W * (1 - mean_i cos(learned_i, handcrafted_i)). The hand-written features
come from the frozen text tower, once per class set, without gradients: from one
template by default ("This is a sound of {}.", as the paper), or averaged (unit
features, then the mean) over a template pool, the paper's KgCoOp-dagger (Table 8).
Prediction is CoOp's: the term only shapes training.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from septctl.backbones.base import Backbone
from septctl.defaults import N_CTX
from septctl.methods.coop import CoOp


class KgCoOp(CoOp):
    name = "kgcoop"

    def __init__(self, backbone: Backbone, classnames: list[str], n_ctx: int = N_CTX, *, kg_weight: float,
                 kg_templates: list[str], logit_scale: float = 100.0):
        super().__init__(backbone, classnames, n_ctx, logit_scale)
        self.weight = kg_weight
        self.templates = list(kg_templates)
        self._handcrafted: tuple[tuple[str, ...], torch.Tensor] | None = None

    def handcrafted(self, names: list[str]) -> torch.Tensor:
        """Unit hand-written features [n, D] of `names`, template-averaged; computed once per name list."""
        key = tuple(names)
        if self._handcrafted is None or self._handcrafted[0] != key:
            dropout = self.backbone.text_dropout_modules()
            modes = [m.training for m in dropout]
            for m in dropout:  # the reference is the frozen model's own feature, never a noisy one
                m.training = False
            try:
                feats = torch.stack([
                    F.normalize(self.backbone.encode_sentences([t.replace("{}", c) for c in names]), dim=-1)
                    for t in self.templates
                ]).mean(0)
            finally:
                for m, mode in zip(dropout, modes):
                    m.training = mode
            self._handcrafted = (key, F.normalize(feats, dim=-1))
        return self._handcrafted[1]

    def knowledge_term(self, class_feats: torch.Tensor) -> torch.Tensor:
        """1 - mean over classes of cos(learned, hand-written)."""
        ref = self.handcrafted(self.classnames).to(class_feats.device, class_feats.dtype)
        return 1 - F.cosine_similarity(class_feats, ref, dim=-1, eps=1e-7).mean()

    def loss(self, audio: torch.Tensor, labels: torch.Tensor, class_feats: torch.Tensor) -> tuple[torch.Tensor, dict]:
        ce, parts = super().loss(audio, labels, class_feats)
        kg = self.knowledge_term(class_feats)
        return ce + self.weight * kg, {**parts, "kg": kg.item()}
