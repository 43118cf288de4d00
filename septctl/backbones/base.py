"""The one interface every audio-language model implements.

Prompt learners only ever see this: the token-embedding table (to build prompts with
learned vectors in them), `encode_text` on those embeddings, and `encode_audio`.
Backbones are frozen: parameters never require gradients and the module stays in
eval mode, except the text projection dropout when `reference_dropout` is asked for.
"""

from __future__ import annotations

import dataclasses
import hashlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from septctl.backbones.tokenizer import ClipTokenizer
from septctl.data.audio import AudioSpec, load_clip


class Backbone(nn.Module, ABC):
    name: str
    modality: str = "audio"  # what `encode_files` reads: "audio", or "image" (backbones/clip_vit.py)
    audio_spec: AudioSpec
    embed_dim: int  # joint audio-text space
    token_dim: int  # width of the text tower's token embeddings
    tokenizer: ClipTokenizer
    ctx_start: int = 1  # learned context goes right after the start token

    def freeze(self) -> "Backbone":
        for p in self.parameters():
            p.requires_grad_(False)
        return self.eval()

    def train(self, mode: bool = True) -> "Backbone":
        """Frozen encoders always run in eval mode (see `set_reference_dropout`)."""
        return super().train(False)

    def set_reference_dropout(self, active: bool) -> None:
        """Turn the text projection dropout on, as the reference code had it while training."""
        for m in self.text_dropout_modules():
            m.training = active

    def text_dropout_modules(self) -> list[nn.Module]:
        return []

    @abstractmethod
    def encode_audio(self, waveforms: torch.Tensor) -> torch.Tensor:
        """[B, clip_samples] at `audio_spec.sample_rate` -> [B, embed_dim], unnormalised."""

    @abstractmethod
    def token_embedding(self) -> nn.Embedding:
        """The text tower's token-embedding table."""

    @abstractmethod
    def encode_text(self, token_embeds: torch.Tensor, eot_index: torch.Tensor, shared_prefix: int = 0,
                    prefix_groups: torch.Tensor | None = None) -> torch.Tensor:
        """[B, L, token_dim] embeddings, end-of-text row per prompt -> [B, embed_dim], unnormalised.

        Positions after `eot_index` are padding. `shared_prefix = P` promises that the
        first P positions are identical in every row (or in every row of one group, with
        `prefix_groups` [B] of group ids), so a backbone may compute them once per group;
        backbones that cannot share simply ignore both.
        """

    def encode_sentences(self, texts: list[str], batch_size: int = 256) -> torch.Tensor:
        """Plain sentences -> [len(texts), embed_dim] features, without gradients."""
        out = []
        with torch.no_grad():
            for i in range(0, len(texts), batch_size):
                ids, eot = self.tokenizer(texts[i : i + batch_size])
                ids, eot = ids.to(self.device), eot.to(self.device)
                out.append(self.encode_text(self.token_embedding()(ids), eot))
        return torch.cat(out) if out else torch.zeros(0, self.embed_dim)

    def load_input(self, path: str | Path, crop: str = "seeded", key: str = "") -> torch.Tensor:
        """One file as this model's input, exactly as `septctl embed` prepares it: a clip [clip_samples]
        (loaded, resampled, filled or cropped; `key` seeds the "seeded" crop). Image backbones return pixels [3, H, W]."""
        return load_clip(path, self.audio_spec, crop, key=key)

    def encode_inputs(self, inputs: torch.Tensor) -> torch.Tensor:
        """A batch of `load_input` results -> [B, embed_dim], unnormalised."""
        return self.encode_audio(inputs)

    def encode_batched(self, inputs: torch.Tensor, batch_size: int = 16,
                       on_batch: Callable[[int], None] | None = None) -> torch.Tensor:
        """[N, ...] stacked `load_input` results -> [N, embed_dim] float on the CPU, `batch_size` at a time."""
        out = []
        with torch.inference_mode():
            for i in range(0, len(inputs), batch_size):
                chunk = inputs[i : i + batch_size]
                out.append(self.encode_inputs(chunk.to(self.device)).float().cpu())
                if on_batch is not None:
                    on_batch(len(chunk))
        return torch.cat(out) if out else torch.zeros(0, self.embed_dim)

    def encode_files(self, paths: Sequence[str | Path], crop: str = "seeded", batch_size: int = 16,
                     keys: Sequence[str] | None = None,
                     on_batch: Callable[[int], None] | None = None) -> torch.Tensor:
        """Files -> [N, embed_dim], each read by `load_input` (what `septctl embed` does).

        `keys` seed the "seeded" crop per file (default: the path itself); a file is read only when
        its batch is encoded, so memory holds one batch of inputs. An unreadable file raises SeptctlError.
        """
        keys = [str(p) for p in paths] if keys is None else list(keys)
        out = []
        for i in range(0, len(paths), batch_size):
            inputs = torch.stack([self.load_input(p, crop, k)
                                  for p, k in zip(paths[i : i + batch_size], keys[i : i + batch_size])])
            out.append(self.encode_batched(inputs, batch_size, on_batch))
        return torch.cat(out) if out else torch.zeros(0, self.embed_dim)

    def input_policy(self) -> dict[str, Any]:
        """What besides the weights decides a file's embedding (part of every embedding cache key)."""
        return {"audio": dataclasses.asdict(self.audio_spec)}

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def weights_id(self) -> str:
        """A short hash that identifies these weights (recorded in every artifact card)."""
        if not hasattr(self, "_weights_id"):
            h = hashlib.sha256()
            for k, v in sorted(self.state_dict().items()):
                h.update(k.encode())
                h.update(v.detach().cpu().contiguous().numpy().tobytes())
            self._weights_id = h.hexdigest()[:16]
        return self._weights_id


class ProjectedBackbone(Backbone):
    """Pengi's layout: audio encoder -> Projection; CLIP text tower -> text projection -> Projection.

    Subclasses build `audio`, `audio_projection`, `text` (a ClipTextTower), `text_projection`
    and `projection`; the forward paths are shared (Pengi, tiny; MS-CLAP swaps the text side).
    """

    audio: nn.Module
    audio_projection: nn.Module
    text: nn.Module
    text_projection: nn.Module
    projection: nn.Module

    def text_dropout_modules(self) -> list[nn.Module]:
        return [self.projection.drop]

    def encode_audio(self, waveforms: torch.Tensor) -> torch.Tensor:
        return self.audio_projection(self.audio(waveforms))

    def token_embedding(self) -> nn.Embedding:
        return self.text.token_embedding

    def encode_text(self, token_embeds: torch.Tensor, eot_index: torch.Tensor, shared_prefix: int = 0,
                    prefix_groups: torch.Tensor | None = None) -> torch.Tensor:
        return self.projection(self.text_projection(self.text(token_embeds, eot_index, shared_prefix, prefix_groups)))
