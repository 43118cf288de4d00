"""Pengi (Deshmukh et al. 2023) as a classifier: HTSAT + CLIP ViT-B/16 text tower + projections.

Only the two encoders of Pengi's released `base.pth` are used (the GPT-2 caption decoder
is skipped). Checkpoint keys map onto this module by one prefix rename (`PREFIX_MAP`):

    audio_encoder.base.htsat.*             -> audio.*            (HTSAT, septctl/backbones/htsat.py)
    audio_encoder.projection.*             -> audio_projection.* (Projection 768 -> 1024)
    caption_encoder.base.*                 -> text.core.*        (HF CLIPTextModel, 5.x names = 4.x CLIPTextTransformer)
    caption_encoder.clip_text_projection.* -> text_projection.*  (Linear 512 -> 512, no bias)
    caption_encoder.projection.*           -> projection.*       (Projection 512 -> 1024)

Audio: 44.1 kHz, 7 s (308,700 samples), channels concatenated as the reference does
(`channels="mean"` averages them instead). Text: CLIP BPE at 40 tokens, pooled at the
first end-of-text token.
"""

from __future__ import annotations

import os

import torch
from torch import nn

from septctl.backbones.base import AudioSpec, ProjectedBackbone
from septctl.backbones.clip_text import ClipTextTower, build_clip_text_model
from septctl.backbones.htsat import HTSAT
from septctl.backbones.projection import Projection
from septctl.backbones.tokenizer import ClipTokenizer
from septctl.backbones.weights import rename_prefix

PREFIX_MAP = (
    ("audio_encoder.base.htsat.", "audio."),
    ("audio_encoder.projection.", "audio_projection."),
    ("caption_encoder.base.", "text.core."),
    ("caption_encoder.clip_text_projection.", "text_projection."),
    ("caption_encoder.projection.", "projection."),
)
_ENCODERS = ("audio_encoder.", "caption_encoder.")


def pengi_key_map(key: str) -> str | None:
    """Checkpoint key -> our key; None for parts we skip (decoder); unknown encoder keys pass through unchanged."""
    renamed = rename_prefix(key, PREFIX_MAP)
    if renamed is None and key.startswith(_ENCODERS):
        return key  # kept, so that the loader reports it as unexpected
    return renamed


def to_pengi_key(key: str) -> str:
    """Our key -> Pengi's checkpoint key (the inverse of `pengi_key_map`)."""
    renamed = rename_prefix(key, tuple((dst, src) for src, dst in PREFIX_MAP))
    if renamed is None:
        raise KeyError(key)
    return renamed


class PengiBackbone(ProjectedBackbone):
    name = "pengi"

    def __init__(self, channels: str = "concat"):
        super().__init__()
        self.audio_spec = AudioSpec(sample_rate=44100, clip_seconds=7.0, channels=channels)
        self.embed_dim, self.token_dim = 1024, 512
        self.tokenizer = ClipTokenizer(context_length=40)
        self.audio = HTSAT()
        self.audio_projection = Projection(self.audio.cfg.out_dim, self.embed_dim)
        self.text = ClipTextTower(build_clip_text_model())
        self.text_projection = nn.Linear(self.token_dim, self.token_dim, bias=False)
        self.projection = Projection(self.token_dim, self.embed_dim)


def pengi_expected_shapes() -> dict[str, tuple[int, ...]]:
    """Our state-dict keys and shapes, built on the meta device (no memory, no init)."""
    with torch.device("meta"):
        model = PengiBackbone()
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def load_pengi(weights: str | os.PathLike | None = None, channels: str = "concat") -> PengiBackbone:
    """Pengi with the released weights: `weights` path, else the cached download."""
    from septctl.backbones.weights import load_checkpoint_state, resolve_pengi

    path = resolve_pengi(weights)
    state = load_checkpoint_state(path, pengi_key_map, pengi_expected_shapes(), "pengi", inverse=to_pengi_key)
    model = PengiBackbone(channels)
    model.load_state_dict(state, strict=True)
    return model
