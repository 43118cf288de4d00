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
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from septctl.backbones.base import ProjectedBackbone
from septctl.data.audio import AudioSpec
from septctl.backbones.clip_text import ClipTextTower, build_clip_text_core, build_clip_text_model
from septctl.backbones.htsat import HTSAT
from septctl.backbones.projection import Projection
from septctl.backbones.tokenizer import ClipTokenizer
from septctl.backbones.registry import SPECS
from septctl.backbones.weights import (
    PrefixMap,
    check_values,
    load_checkpoint_state,
    recorded_checkpoint,
    register_checkpoint,
    weights_dir,
)
from septctl.errors import SeptctlError
from septctl.defaults import BACKBONE_ENV

SOURCE = SPECS["pengi"].source

# Checkpoint key -> ours (None: a part we skip, the decoder), and back with `to_pengi_key`.
PREFIX_MAP = PrefixMap((
    ("audio_encoder.base.htsat.", "audio."),
    ("audio_encoder.projection.", "audio_projection."),
    ("caption_encoder.base.", "text.core."),
    ("caption_encoder.clip_text_projection.", "text_projection."),
    ("caption_encoder.projection.", "projection."),
), encoders=("audio_encoder.", "caption_encoder."))
pengi_key_map, to_pengi_key = PREFIX_MAP, PREFIX_MAP.inverse


class PengiBackbone(ProjectedBackbone):
    name = "pengi"

    def __init__(self, channels: str = "concat", clip_init: bool = False):
        """`clip_init`: a text tower of transformers' CLIPTextModel with CLIP's random initial values (random-weight
        benchmarks and their HF reference path); loading weights needs only the layers (faster to import)."""
        super().__init__()
        self.audio_spec = AudioSpec(sample_rate=44100, clip_seconds=7.0, channels=channels)
        self.embed_dim, self.token_dim = 1024, 512
        self.tokenizer = ClipTokenizer(context_length=40)
        self.audio = HTSAT()
        self.audio_projection = Projection(self.audio.cfg.out_dim, self.embed_dim)
        self.text = ClipTextTower(build_clip_text_model() if clip_init else build_clip_text_core())
        self.text_projection = nn.Linear(self.token_dim, self.token_dim, bias=False)
        self.projection = Projection(self.token_dim, self.embed_dim)


def pengi_expected_shapes() -> dict[str, tuple[int, ...]]:
    """Our state-dict keys and shapes, built on the meta device (no memory, no init)."""
    with torch.device("meta"):
        model = PengiBackbone()
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def _hint() -> str:
    return "run `septctl download pengi` or pass --weights PATH to a local copy"


def resolve_pengi(weights: str | os.PathLike | None) -> Path:
    """The checkpoint to load: an explicit path, else the one the cache card names."""
    if weights is not None:
        path = Path(weights).expanduser()
        if not path.is_file():
            raise SeptctlError(f"{path}: Pengi checkpoint not found; check the path or {_hint()}")
        return path
    recorded = recorded_checkpoint("pengi")
    if recorded is not None:
        return recorded
    raise SeptctlError(f"Pengi (the default backbone) has no weights in {weights_dir()}; {_hint()} "
                      f"(base.pth from {SOURCE.location}), or try septctl with --backbone synth-clap (shipped, trained on "
                      f"synthetic sounds) or tiny (random weights); {BACKBONE_ENV}=NAME sets it for every command")


def _state(path: Path) -> dict[str, Any]:
    return load_checkpoint_state(path, pengi_key_map, pengi_expected_shapes(), "pengi", inverse=to_pengi_key)


def download_pengi(
    sha256: str | None = None,
    local: str | os.PathLike | None = None,
    on_progress: Callable[[int, int | None], None] | None = None,
) -> dict[str, Any]:
    """Make Pengi's checkpoint available to `load_pengi(None)`; return its card.

    With `local`, the file is not copied: the card points at it. Either way the file is
    hashed (and checked against `sha256` when given), then converted to the fast cache.
    """
    card = register_checkpoint("pengi", SOURCE, sha256, None if local is None else resolve_pengi(local), on_progress)
    _state(Path(card["path"]))
    return card


def load_pengi(weights: str | os.PathLike | None = None, channels: str = "concat") -> PengiBackbone:
    """Pengi with the released weights: `weights` path, else the cached download."""
    path = resolve_pengi(weights)
    state = _state(path)
    model = PengiBackbone(channels)
    check_values(model, state, path)
    model.load_state_dict(state, strict=True)
    return model
