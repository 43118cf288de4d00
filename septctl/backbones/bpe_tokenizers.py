"""Hugging Face byte-level BPE tokenizers (RoBERTa, GPT-2) behind ClipTokenizer's call signature.

`texts -> (ids [B, context_length], eot_index [B])`, padded with the model's pad id.
A `pad_token` is registered as a special token, as msclap registers "!": it is then split
out of any text ("shatters!!" gives two pad ids) and the pooled row is the last non-pad
token, exactly msclap's `torch.ne(ids, 0).sum(-1) - 1`.
The vocabulary files come from the Hugging Face hub on first real use (they are not
redistributable here); tests pass a `load` callable that builds a small vocabulary offline.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from septctl.console import shortened
from septctl.errors import SeptctlError


class BpeTokenizer:
    """Fixed-length rows; the end-of-text position is the last token of each encoded text, or with a
    `pad_token`, the position before the count of non-pad tokens (which moves left per pad token in the text)."""

    def __init__(self, load: Callable[[], Any], context_length: int, suffix: str = "", pad_token: str | None = None):
        self._load, self._tok = load, None
        self.context_length = context_length
        self.suffix = suffix  # MS-CLAP appends " <|endoftext|>" to every text
        self.pad_token = pad_token

    @property
    def hf(self) -> Any:
        if self._tok is None:
            self._tok = self._load()
            if self.pad_token is not None:
                self._tok.add_special_tokens({"pad_token": self.pad_token})
        return self._tok

    @property
    def pad_id(self) -> int:
        return int(self.hf.pad_token_id)

    def ids(self, text: str) -> list[int]:
        return list(self.hf(text + self.suffix)["input_ids"])

    def __call__(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        rows = [self.ids(t) for t in texts]
        for t, r in zip(texts, rows):
            if len(r) > self.context_length:
                raise SeptctlError(
                    f"prompt {shortened(t)!r} is {len(r)} tokens, over the text tower's {self.context_length}; "
                    "shorten the class name or the template, or lower --n-ctx"
                )
        ids = torch.full((len(rows), self.context_length), self.pad_id, dtype=torch.long)
        for i, r in enumerate(rows):
            ids[i, : len(r)] = torch.tensor(r)
        if self.pad_token is None:
            return ids, torch.tensor([len(r) - 1 for r in rows], dtype=torch.long)
        return ids, (ids != self.pad_id).sum(-1) - 1


def hub_tokenizer(repo: str) -> Callable[[], Any]:
    """A loader for `repo`'s tokenizer files (HF cache; downloads on first use)."""

    def load() -> Any:
        from transformers import AutoTokenizer

        try:
            return AutoTokenizer.from_pretrained(repo)
        except OSError as exc:
            raise SeptctlError(
                f"tokenizer {repo}: not in the Hugging Face cache and not downloadable ({str(exc).splitlines()[0]}); "
                "connect once to fetch it, or set HF_HOME to a cache that has it"
            ) from None

    return load
