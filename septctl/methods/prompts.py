"""Building prompt embeddings with learned context vectors in them.

As in CoOp: the string "X X ... X <name>." (M placeholders) is tokenized and embedded
once; at every step the M placeholder rows are replaced by the learned context, so the
layout is [start][ctx_1..ctx_M][name tokens][.][end-of-text][padding].
"""

from __future__ import annotations

import torch

from septctl.backbones.base import Backbone
from septctl.errors import SeptctlError


class PromptBuilder:
    def __init__(self, backbone: Backbone, n_ctx: int):
        room = backbone.tokenizer.context_length - backbone.ctx_start - 2  # the class name's word and the end token
        if n_ctx > room:
            raise SeptctlError(f"--n-ctx {n_ctx}: {backbone.name}'s text tower holds "
                               f"{backbone.tokenizer.context_length} tokens, so at most {room} context vectors "
                               "leave room for a class name; lower --n-ctx")
        self.backbone = backbone
        self.n_ctx = n_ctx
        self._cache: dict[tuple[str, ...], tuple[torch.Tensor, torch.Tensor]] = {}

    @property
    def shared_prefix(self) -> int:
        """Positions identical in every prompt: the start token and the context."""
        return self.backbone.ctx_start + self.n_ctx

    def _frozen(self, names: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        key = tuple(names)
        if key not in self._cache:
            placeholder = " ".join(["X"] * self.n_ctx)
            ids, eot = self.backbone.tokenizer([f"{placeholder} {name}." for name in names])
            ids, eot = ids.to(self.backbone.device), eot.to(self.backbone.device)
            with torch.no_grad():
                emb = self.backbone.token_embedding()(ids)
            self._cache = {key: (emb, eot)}  # keep only the latest name set
        return self._cache[key]

    def embed(self, ctx: torch.Tensor, names: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """ctx [M, W] -> (prompt embeddings [n, L, W], end-of-text index [n])."""
        emb, eot = self._frozen(names)
        s = self.backbone.ctx_start
        n = emb.shape[0]
        full = torch.cat([emb[:, :s], ctx.unsqueeze(0).expand(n, -1, -1), emb[:, s + self.n_ctx :]], dim=1)
        return full, eot

    def encode(self, ctx: torch.Tensor, names: list[str]) -> torch.Tensor:
        """Text features [n, D] of `names` with context `ctx`, in one batched call."""
        emb, eot = self.embed(ctx, names)
        return self.backbone.encode_text(emb, eot, shared_prefix=self.shared_prefix)
