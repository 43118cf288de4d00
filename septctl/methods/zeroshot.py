"""Zero-shot: a hand-written template per class, nothing learned."""

from __future__ import annotations

import torch

from septctl.backbones.base import Backbone
from septctl.methods.base import PromptMethod

from septctl.defaults import DEFAULT_TEMPLATE


class ZeroShot(PromptMethod):
    name = "zeroshot"

    def __init__(self, backbone: Backbone, classnames: list[str], template: str = DEFAULT_TEMPLATE,
                 logit_scale: float = 100.0):
        super().__init__(backbone, classnames, logit_scale)
        self.template = template

    def encode_names(self, names: list[str], audio: torch.Tensor | None = None) -> torch.Tensor:
        return self.backbone.encode_sentences([self.template.format(n) for n in names])
