"""Tip-Adapter and Tip-Adapter-F (Zhang et al., ECCV 2022): a key-value cache of the few-shot features.

Keys are the L2-normalised few-shot audio features F [NK, D], values their one-hot labels
L [NK, K]; with a the normalised test feature and T the zero-shot class features,

    logits = 100 * a T^T + alpha * exp(-beta * (1 - a F^T)) L

Tip-Adapter builds the cache and learns nothing else. Tip-Adapter-F makes the keys a
parameter and fine-tunes them with cross-entropy on those logits (the paper: AdamW, lr 0.001,
20 epochs, batch 256; septctl keeps the lr constant, without the paper's cosine schedule).
Both then choose alpha and beta by the papers' grid search (beta over 200 steps of [0.1, 7),
alpha over 20 steps of [0.1, 3), the official ImageNet setting) on the **training shots**,
never the test split: scored leave-one-out, each shot with its own cache entry masked out
(scored with itself in the cache, every shot would be its own nearest key, and the search
would always pick the largest alpha). Before the search, alpha = 1 and beta = 5.5 (the paper's
initial values), which Tip-Adapter-F trains with.

Zero-shot features use septctl's hand-written template ("This is a sound of {}."), one
template where the paper averages CLIP's prompt ensemble. A class list other than the trained
one (new classes, another dataset) gets the zero-shot logits alone, as the papers fall back.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from septctl.backbones.base import Backbone
from septctl.defaults import DEFAULT_TEMPLATE, N_CTX
from septctl.methods.base import OptimizerSettings
from septctl.methods.frozen import FrozenTextMethod

INIT_ALPHA, INIT_BETA = 1.0, 5.5
BETA_SEARCH = (7.0, 200)  # (scale, steps): beta_i = 0.1 + i * (scale - 0.1) / steps
ALPHA_SEARCH = (3.0, 20)
ADAMW_EPS = 1e-4  # Tip-Adapter-F's optimizer setting


def search_values(scale: float, steps: int) -> list[float]:
    return [0.1 + i * (scale - 0.1) / steps for i in range(steps)]


class TipAdapter(FrozenTextMethod):
    name = "tip-adapter"
    template = DEFAULT_TEMPLATE
    train_keys = False

    def __init__(self, backbone: Backbone, classnames: list[str], n_ctx: int = N_CTX, logit_scale: float = 100.0):
        super().__init__(backbone, classnames, logit_scale)
        dev = backbone.device
        # the cache is sized by `fit` (it needs the shots); every tensor is saved with the run
        self.keys = nn.Parameter(torch.zeros(0, backbone.embed_dim, device=dev), requires_grad=self.train_keys)
        self.values = nn.Parameter(torch.zeros(0, len(self.classnames), device=dev), requires_grad=False)
        self.alpha = nn.Parameter(torch.tensor(INIT_ALPHA, device=dev), requires_grad=False)
        self.beta = nn.Parameter(torch.tensor(INIT_BETA, device=dev), requires_grad=False)

    def size_like(self, state: dict[str, torch.Tensor]) -> None:
        """A saved cache has as many entries as its run had shots."""
        if "keys" in state:
            self._size_cache(len(state["keys"]))

    def _size_cache(self, n: int) -> None:
        if self.keys.shape[0] != n:
            self.keys = nn.Parameter(self.keys.new_zeros(n, self.keys.shape[1]), requires_grad=self.train_keys)
            self.values = nn.Parameter(self.values.new_zeros(n, self.values.shape[1]), requires_grad=False)

    def fit(self, features: torch.Tensor, labels: torch.Tensor, seed: int) -> dict:
        """The cache: normalised shot features as keys, one-hot labels as values."""
        self._size_cache(len(labels))
        self.keys.data.copy_(F.normalize(features.float(), dim=-1))
        self.values.data.copy_(F.one_hot(labels, len(self.classnames)).float())
        return {"cache_size": len(labels)}

    def cache_logits(self, audio: torch.Tensor, alpha: torch.Tensor, beta: torch.Tensor,
                     leave_out: bool = False) -> torch.Tensor:
        """alpha * exp(-beta (1 - a k^T)) v; `leave_out`: row i of `audio` is cache entry i, masked out."""
        affinity = F.normalize(audio, dim=-1) @ self.keys.T
        weights = torch.exp(-beta * (1 - affinity))
        if leave_out:
            weights = weights * (1 - torch.eye(len(self.keys), device=weights.device))
        return alpha * weights @ self.values

    def tip_logits(self, audio: torch.Tensor, class_feats: torch.Tensor) -> torch.Tensor:
        return self.cosine_logits(audio, class_feats) + self.cache_logits(audio, self.alpha, self.beta)

    def loss(self, audio: torch.Tensor, labels: torch.Tensor, class_feats: torch.Tensor) -> tuple[torch.Tensor, dict]:
        ce = F.cross_entropy(self.tip_logits(audio, class_feats), labels)
        return ce, {"ce": ce.item()}

    def logits(self, audio: torch.Tensor, names: list[str], split: str = "all") -> torch.Tensor:
        text = self.encode_names(names)
        if not self.trained_rows(names):  # no cache entries for these classes: zero-shot
            return self.cosine_logits(audio, text)
        return self.tip_logits(audio, text)

    def finish(self, features: torch.Tensor, labels: torch.Tensor) -> dict:
        """alpha and beta by grid search, leave-one-out on the training shots (module docstring)."""
        with torch.no_grad():
            zero_shot = self.cosine_logits(features, self.encode_names(self.classnames))
            affinity = F.normalize(features, dim=-1) @ self.keys.T
            mask = 1 - torch.eye(len(self.keys), device=features.device)
            best = (-1.0, INIT_ALPHA, INIT_BETA)
            for beta in search_values(*BETA_SEARCH):
                cache = (torch.exp(-beta * (1 - affinity)) * mask) @ self.values
                for alpha in search_values(*ALPHA_SEARCH):
                    acc = 100 * float(((zero_shot + alpha * cache).argmax(-1) == labels).float().mean())
                    if acc > best[0]:
                        best = (acc, alpha, beta)
            acc, alpha, beta = best
            self.alpha.fill_(alpha)
            self.beta.fill_(beta)
        return {"alpha": round(alpha, 6), "beta": round(beta, 6), "search_accuracy": round(acc, 4)}


class TipAdapterF(TipAdapter):
    name = "tip-adapter-f"
    train_keys = True

    def make_optimizer(self, cfg: OptimizerSettings) -> torch.optim.Optimizer:
        """AdamW on the keys, as the paper (its lr: 0.001 by default; weight decay from --weight-decay)."""
        return torch.optim.AdamW([self.keys], lr=cfg.lr, eps=ADAMW_EPS, weight_decay=cfg.weight_decay)
