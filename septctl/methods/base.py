"""The interface every prompt-tuning method implements, so the engine and SEPT never branch on names.

A method owns its learnable parameters and knows how to
- encode any list of names with its learned context (`encode_names`), used for the
  class prompts and, with SEPT, the neighbor prompts in the same batched call;
- turn audio features and class features into its training loss (`loss`);
- score audio against class names at evaluation time (`logits`).

Methods that learn no prompt (PALM, the linear probe, Tip-Adapter) fit the same interface:
their `encode_names` is frozen text features (no prompt goes through the text tower with
gradients, so `encodes_prompts` is False and packed training calls it per run), `fit` sets up
what they learn from the few-shot features before the first epoch (a closed-form fit, a
cache), and `finish` after the last (a hyperparameter search on the training shots). A
method with no parameter that needs gradients runs no epochs at all.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable
from typing import Protocol

import torch
import torch.nn.functional as F
from torch import nn

from septctl.backbones.base import Backbone


class OptimizerSettings(Protocol):
    """What a method's optimizer is built from (a run's TrainConfig)."""

    lr: float
    momentum: float
    weight_decay: float


class PromptMethod(nn.Module):
    name: str
    recomputes_text = False  # True: training steps recompute the text tower in the backward pass (checkpointing)
    encodes_prompts = True  # False: encode_names is frozen text features; no prompt_batch for packed training

    def __init__(self, backbone: Backbone, classnames: list[str], logit_scale: float = 100.0):
        super().__init__()
        self.backbone = backbone
        self.classnames = list(classnames)
        self.logit_scale = logit_scale

    def trainable_parameters(self) -> list[nn.Parameter]:
        return [p for n, p in self.named_parameters() if p.requires_grad and not n.startswith("backbone.")]

    def num_trainable(self) -> int:
        return sum(p.numel() for p in self.trainable_parameters())

    def prompt_state(self) -> dict[str, torch.Tensor]:
        """The learned tensors only (what a run saves)."""
        return {n: p.detach() for n, p in self.named_parameters() if not n.startswith("backbone.")}

    def size_like(self, state: dict[str, torch.Tensor]) -> None:
        """Resize tensors whose size depends on the training shots (Tip-Adapter's cache) to a saved state's."""

    def load_prompt_state(self, state: dict[str, torch.Tensor]) -> None:
        self.size_like(state)
        own = dict(self.named_parameters())
        for k, v in state.items():
            own[k].data.copy_(v)

    @abstractmethod
    def encode_names(self, names: list[str], audio: torch.Tensor | None = None) -> torch.Tensor:
        """Text features of `names` with the learned context: [n, D]."""

    def prompt_batch(self, names: list[str], audio: torch.Tensor | None = None):
        """(prompt embeddings [n, L, W], end-of-text index [n], prefix group id per row [n]) for `names`.

        Packed training (engine/packed.py) puts several runs' batches into one text-tower
        call, offsetting the group ids per run; `unflatten` turns this method's rows of
        the result back into what `encode_names` returns.
        """
        raise NotImplementedError(f"{self.name} cannot be trained packed")

    def unflatten(self, feats: torch.Tensor, names: list[str], audio: torch.Tensor | None = None) -> torch.Tensor:
        """This method's rows of a packed text-tower call -> `encode_names`' shape."""
        return feats

    def loss(self, audio: torch.Tensor, labels: torch.Tensor, class_feats: torch.Tensor) -> tuple[torch.Tensor, dict]:
        logits = self.cosine_logits(audio, class_feats)
        ce = F.cross_entropy(logits, labels)
        return ce, {"ce": ce.item()}

    def logits(self, audio: torch.Tensor, names: list[str], split: str = "all") -> torch.Tensor:
        """Evaluation logits [B, len(names)]; `split` tells methods with a base-class head which path to use."""
        return self.scorer(names, split)(audio)

    def scorer(self, names: list[str], split: str = "all") -> Callable[[torch.Tensor], torch.Tensor]:
        """`logits(audio, names, split)` as a function of the audio, the class features computed once, here
        (methods whose prompts depend on the clip override this)."""
        text = self.encode_names(names)
        return lambda audio: self.cosine_logits(audio, text)

    def cosine_logits(self, audio: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        a = F.normalize(audio, dim=-1)
        t = F.normalize(text, dim=-1)
        if t.dim() == 3:  # per-instance class features [B, K, D]
            return self.logit_scale * torch.einsum("bd,bkd->bk", a, t)
        return self.logit_scale * a @ t.T

    def make_optimizer(self, cfg: OptimizerSettings) -> torch.optim.Optimizer | None:
        """SGD over the learned tensors (methods with several groups override this); None: nothing to step."""
        params = self.trainable_parameters()
        if not params:
            return None
        return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)

    def fit(self, features: torch.Tensor, labels: torch.Tensor, seed: int) -> dict:
        """Before the first epoch: learn what needs no gradient steps from the few-shot features.

        Returns what was chosen (written to run.yaml's `fitted`). Also called on a resume,
        before the saved state is loaded, so it must be deterministic given `seed`.
        """
        return {}

    def finish(self, features: torch.Tensor, labels: torch.Tensor) -> dict:
        """After the last epoch: e.g. a hyperparameter search on the training shots; returns what was chosen."""
        return {}

    def sept_embeddings(self, class_feats: torch.Tensor, neighbor_feats: torch.Tensor, n: int):
        """(z [K, D], p [K, n, D]) for the semantic-expansion loss from this step's features."""
        k = class_feats.shape[-2]
        return class_feats, neighbor_feats.reshape(k, n, -1)
