"""MS-CLAP 2023 (Elizalde et al.): HTSAT audio + GPT-2 text tower, Pengi-style projections.

Audio exactly as Pengi (same HTSAT code, 44.1 kHz, 7 s, channels concatenated), with
MS-CLAP's own weights. Text: every text gets " <|endoftext|>" appended, 77 tokens padded
with "!", msclap's registered pad token (id 0); GPT-2 is causal and pooled, as msclap does,
at count_nonzero(ids) - 1: the end-of-text token, moved left by each "!" in the text. GPT-2 has no
start token, so learned context goes first (`ctx_start = 0`). Checkpoint keys map by prefix:

    audio_encoder.base.htsat.* -> audio.*     audio_encoder.projection.*   -> audio_projection.*
    caption_encoder.base.*     -> text.*      caption_encoder.projection.* -> projection.*

`logit_scale` is not used (septctl scores with a fixed scale). Weights: the msclap
release's CLAP_weights_2023.pth (HF hub microsoft/msclap, fetched lazily) or `weights`.
"""

from __future__ import annotations

import os

import torch
from torch import nn

from septctl.backbones.base import ProjectedBackbone
from septctl.data.audio import AudioSpec
from septctl.backbones.bpe_tokenizers import BpeTokenizer, hub_tokenizer
from septctl.backbones.htsat import HTSAT
from septctl.backbones.projection import Projection
from septctl.backbones.registry import SPECS
from septctl.backbones.weights import PrefixMap, check_values, load_checkpoint_state
from septctl.errors import SeptctlError

REPO, FILENAME = SPECS["ms-clap"].source.location, SPECS["ms-clap"].source.file
PREFIX_MAP = PrefixMap((
    ("audio_encoder.base.htsat.", "audio."),
    ("audio_encoder.projection.", "audio_projection."),
    ("caption_encoder.base.", "text."),
    ("caption_encoder.projection.", "projection."),
), encoders=("audio_encoder.", "caption_encoder."))
# Buffers older transformers saved in GPT-2 checkpoints; recomputed, never loaded.
TOLERATED = (".position_ids", ".attn.bias", ".attn.masked_bias")
ms_clap_key_map, to_ms_clap_key = PREFIX_MAP, PREFIX_MAP.inverse  # checkpoint key -> ours, and back


def gpt2_tokenizer(load=hub_tokenizer("gpt2")) -> BpeTokenizer:
    return BpeTokenizer(load, context_length=77, suffix=" <|endoftext|>", pad_token="!")


class MsClapBackbone(ProjectedBackbone):
    name = "ms-clap"
    ctx_start = 0

    def __init__(self, tokenizer: BpeTokenizer | None = None, **gpt2_overrides):
        super().__init__()
        from transformers import GPT2Config, GPT2Model

        self.audio_spec = AudioSpec(sample_rate=44100, clip_seconds=7.0, channels="concat")
        self.text = GPT2Model(GPT2Config(**gpt2_overrides))
        self.embed_dim, self.token_dim = 1024, self.text.config.n_embd
        self.tokenizer = tokenizer or gpt2_tokenizer()
        self.audio = HTSAT()
        self.audio_projection = Projection(self.audio.cfg.out_dim, self.embed_dim)
        self.projection = Projection(self.token_dim, self.embed_dim)

    def token_embedding(self) -> nn.Embedding:
        return self.text.wte

    def encode_text(self, token_embeds: torch.Tensor, eot_index: torch.Tensor, shared_prefix: int = 0,
                    prefix_groups: torch.Tensor | None = None) -> torch.Tensor:
        length = int(eot_index.max()) + 1  # causal: tokens after end-of-text never reach it
        hidden = self.text(inputs_embeds=token_embeds[:, :length]).last_hidden_state
        return self.projection(hidden[torch.arange(hidden.shape[0], device=hidden.device), eot_index])


def ms_clap_expected_shapes() -> dict[str, tuple[int, ...]]:
    with torch.device("meta"):
        model = MsClapBackbone(tokenizer=gpt2_tokenizer())
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def _checkpoint() -> str:
    from huggingface_hub import hf_hub_download

    try:
        return hf_hub_download(REPO, FILENAME)
    except Exception as exc:  # offline, missing repo, HTTP errors: all the same fix
        raise SeptctlError(
            f"{REPO}/{FILENAME}: MS-CLAP weights not cached and not downloadable ({type(exc).__name__}); "
            "connect once, or pass --weights PATH to CLAP_weights_2023.pth"
        ) from None


def load_ms_clap(weights: str | os.PathLike | None = None) -> MsClapBackbone:
    path = weights if weights is not None else _checkpoint()
    if not os.path.isfile(path):
        raise SeptctlError(f"{path}: MS-CLAP checkpoint not found; check the path")
    state = load_checkpoint_state(path, ms_clap_key_map, ms_clap_expected_shapes(), "ms-clap", TOLERATED, to_ms_clap_key)
    model = MsClapBackbone()
    check_values(model, state, path)
    model.load_state_dict(state, strict=True)
    return model
