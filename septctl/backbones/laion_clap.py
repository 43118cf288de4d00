"""LAION-CLAP (HTSAT audio, RoBERTa text) through transformers' `ClapModel`.

Audio as LAION-CLAP's own loader prepares it: channels averaged, soxr high-quality
resampling to 48 kHz (librosa.load), an int16 round trip, short clips repeated whole and
zero-padded to 10 s (480,000 samples) -> ClapFeatureExtractor log-mel with the settings of
the weights' own preprocessor_config.json (HTSAT-tiny: 50 Hz to 14 kHz) -> audio tower ->
audio projection (512). Text: RoBERTa pools its first token (<s>), so the
learned context goes right after it (`ctx_start = 1`); the attention mask covers tokens
up to each row's </s> (`eot_index`), and rows are trimmed to the longest prompt. RoBERTa
attends both ways, so `shared_prefix` cannot skip work here and is ignored.
Weights: `ClapModel.from_pretrained` of laion/clap-htsat-unfused (HF cache) or a local
folder given as `weights`.
"""

from __future__ import annotations

import os
from typing import Any

import torch
from torch import nn

from septctl.backbones.base import Backbone
from septctl.data.audio import AudioSpec
from septctl.backbones.bpe_tokenizers import BpeTokenizer, hub_tokenizer
from septctl.backbones.registry import SPECS
from septctl.backbones.weights import load_preprocessing, load_pretrained

REPO = SPECS["laion-clap"].source.location
AUDIO = AudioSpec(sample_rate=48000, clip_seconds=10.0, channels="mean", resampler="soxr_hq", fill="repeatpad", int16=True)


class LaionClapBackbone(Backbone):
    name = "laion-clap"
    ctx_start = 1

    def __init__(self, model: nn.Module, tokenizer: BpeTokenizer, features: Any | None = None):
        super().__init__()
        self.model = model
        self.audio_spec = AUDIO
        self.embed_dim = model.config.projection_dim
        self.token_dim = model.config.text_config.hidden_size
        self.tokenizer = tokenizer
        self.features = features if features is not None else htsat_tiny_features()

    def encode_audio(self, waveforms: torch.Tensor) -> torch.Tensor:
        feats = self.features(
            list(waveforms.detach().cpu().float().numpy()), sampling_rate=self.audio_spec.sample_rate, return_tensors="pt"
        )
        out = self.model.audio_model(
            input_features=feats["input_features"].to(self.device), is_longer=feats["is_longer"].to(self.device)
        )
        return self.model.audio_projection(out.pooler_output)

    def token_embedding(self) -> nn.Embedding:
        return self.model.text_model.embeddings.word_embeddings

    def encode_text(self, token_embeds: torch.Tensor, eot_index: torch.Tensor, shared_prefix: int = 0,
                    prefix_groups: torch.Tensor | None = None) -> torch.Tensor:
        length = int(eot_index.max()) + 1
        x = token_embeds[:, :length]
        mask = (torch.arange(length, device=x.device)[None] <= eot_index[:, None]).long()
        out = self.model.text_model(inputs_embeds=x, attention_mask=mask)
        return self.model.text_projection(out.pooler_output)


def htsat_tiny_features() -> Any:
    """The mel front end of the released HTSAT-tiny checkpoints (their preprocessor_config.json)."""
    from transformers import ClapFeatureExtractor

    return ClapFeatureExtractor(frequency_min=50, frequency_max=14000, truncation="rand_trunc", padding="repeatpad")


def _features_from(source: str) -> Any:
    """The weights' own preprocessing settings; the HTSAT-tiny ones where a local folder has none."""
    from transformers import ClapFeatureExtractor

    return load_preprocessing(ClapFeatureExtractor, source, htsat_tiny_features, "LAION-CLAP", "HTSAT-tiny")


def load_laion_clap(weights: str | os.PathLike | None = None) -> LaionClapBackbone:
    """LAION-CLAP from a local `from_pretrained` folder, else the HF hub (cached after the first time)."""
    from transformers import ClapModel

    source = str(weights) if weights is not None else REPO
    model = load_pretrained(ClapModel, source, "LAION-CLAP")
    return LaionClapBackbone(model, BpeTokenizer(hub_tokenizer(source), context_length=77), _features_from(source))
