"""Methods whose class features are the frozen text tower's, not a learned prompt's (PALM, linear probe, Tip-Adapter).

Their text features need no gradient, so they are computed without one and kept per name
list; only with `--reference-dropout` (the text projection's dropout on while training, as
PALM ran) are they recomputed at every call, each a fresh draw, as PALM's forward does.
"""

from __future__ import annotations

import torch

from septctl.backbones.base import Backbone
from septctl.methods.base import PromptMethod


class FrozenTextMethod(PromptMethod):
    encodes_prompts = False
    template = "{}"  # how a class name is written before the text tower

    def __init__(self, backbone: Backbone, classnames: list[str], logit_scale: float = 100.0):
        super().__init__(backbone, classnames, logit_scale)
        self._text: tuple[tuple[str, ...], torch.Tensor] | None = None

    def text_features(self, names: list[str]) -> torch.Tensor:
        """[n, D] frozen text features of `names` written with `template` (unnormalised)."""
        key = tuple(names)
        noisy = any(m.training for m in self.backbone.text_dropout_modules())
        if noisy or self._text is None or self._text[0] != key:
            feats = self.backbone.encode_sentences([self.template.format(n) for n in names])
            if noisy:
                return feats
            self._text = (key, feats)
        return self._text[1]

    def encode_names(self, names: list[str], audio: torch.Tensor | None = None) -> torch.Tensor:
        return self.text_features(names)

    def trained_rows(self, names: list[str]) -> bool:
        """True when `names` are exactly the classes this method learned from, in its order."""
        return list(names) == self.classnames
