"""CoOp: M generic context vectors shared by all classes, class name last, init N(0, 0.02)."""

from __future__ import annotations

import torch
from torch import nn

from septctl.backbones.base import Backbone
from septctl.defaults import N_CTX
from septctl.methods.base import PromptMethod
from septctl.methods.prompts import PromptBuilder


class CoOp(PromptMethod):
    name = "coop"

    def __init__(self, backbone: Backbone, classnames: list[str], n_ctx: int = N_CTX, logit_scale: float = 100.0):
        super().__init__(backbone, classnames, logit_scale)
        self.ctx = nn.Parameter(torch.empty(n_ctx, backbone.token_dim, device=backbone.device).normal_(std=0.02))
        self.prompts = PromptBuilder(backbone, n_ctx)

    def encode_names(self, names: list[str], audio: torch.Tensor | None = None) -> torch.Tensor:
        return self.prompts.encode(self.ctx, names)

    def prompt_batch(self, names: list[str], audio: torch.Tensor | None = None):
        emb, eot = self.prompts.embed(self.ctx, names)
        return emb, eot, torch.zeros(len(names), dtype=torch.long, device=emb.device)
