"""DePT on CoOp: a second, base-class-only head on channel-wise transformed features.

Training: loss = (1 - lam) * CE(cosine logits) + lam * CE(head), where the head
(Linear(D, K_base)) sees the FiLM-transformed unnormalised audio features and the
ground-truth classes' text features as extra rows (2B rows, labels repeated). Both
terms reach the context, since the text rows come from the learned prompt. The FiLM
layers and the head train at `head_lr_mult` x the prompt's learning rate.

Prediction: for the class list the head was trained on, the head alone (the paper ran
DePT without test-time fusion), or with `fusion` (1 - lam) * cosine + lam * head
logits. Any other class list (new classes, all classes, another dataset) gets the
learned prompt's cosine logits only: the head never sees those classes.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from septctl.backbones.base import Backbone
from septctl.defaults import N_CTX
from septctl.methods.base import OptimizerSettings
from septctl.methods.coop import CoOp

HEAD_WEIGHT = 0.7  # DePT's LINEAR_PROBE.WEIGHT, used in the loss and in fusion
HEAD_LR_MULT = 6.5  # DePT's LR_EXP for the FiLM layers and the head


class FiLM(nn.Module):
    """y = scale * x + bias per channel, starting at the identity."""

    def __init__(self, dim: int):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(dim))
        self.bias = nn.Parameter(torch.zeros(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.scale * x + self.bias


class DePT(CoOp):
    name = "dept"

    def __init__(self, backbone: Backbone, classnames: list[str], n_ctx: int = N_CTX, *, dept_fusion: bool,
                 head_weight: float = HEAD_WEIGHT, head_lr_mult: float = HEAD_LR_MULT, logit_scale: float = 100.0):
        super().__init__(backbone, classnames, n_ctx, logit_scale)
        d = backbone.embed_dim
        self.film_audio = FiLM(d).to(backbone.device)
        self.film_text = FiLM(d).to(backbone.device)
        self.head = nn.Linear(d, len(classnames)).to(backbone.device)
        self.fusion = dept_fusion
        self.head_weight = head_weight
        self.head_lr_mult = head_lr_mult

    def head_logits(self, audio: torch.Tensor) -> torch.Tensor:
        return self.head(self.film_audio(audio))

    def loss(self, audio: torch.Tensor, labels: torch.Tensor, class_feats: torch.Tensor) -> tuple[torch.Tensor, dict]:
        ce_itm = F.cross_entropy(self.cosine_logits(audio, class_feats), labels)
        rows = torch.cat([self.film_text(class_feats[labels]), self.film_audio(audio)])
        ce_head = F.cross_entropy(self.head(rows), torch.cat([labels, labels]))
        lam = self.head_weight
        return (1 - lam) * ce_itm + lam * ce_head, {"ce": ce_itm.item(), "ce_head": ce_head.item()}

    def scorer(self, names: list[str], split: str = "all") -> Callable[[torch.Tensor], torch.Tensor]:
        cosine = super().scorer(names, split)
        if list(names) != self.classnames:  # the head only knows the classes it was trained on
            return cosine
        if not self.fusion:
            return self.head_logits
        return lambda audio: (1 - self.head_weight) * cosine(audio) + self.head_weight * self.head_logits(audio)

    def make_optimizer(self, cfg: OptimizerSettings) -> torch.optim.Optimizer:
        """Prompt at cfg.lr; FiLM and head at head_lr_mult x cfg.lr (same momentum and decay)."""
        new = [p for m in (self.film_audio, self.film_text, self.head) for p in m.parameters()]
        groups = [{"params": [self.ctx]}, {"params": new, "lr": cfg.lr * self.head_lr_mult}]
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
