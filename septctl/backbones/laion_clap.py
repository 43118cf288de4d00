"""LAION-CLAP (HTSAT audio, RoBERTa text) through transformers' `ClapModel`.

Audio: 48 kHz mono, 10 s (480,000 samples) -> ClapFeatureExtractor log-mel (numpy) ->
audio tower -> audio projection (512). Text: RoBERTa pools its first token (<s>), so the
learned context goes right after it (`ctx_start = 1`); the attention mask covers tokens
up to each row's </s> (`eot_index`), and rows are trimmed to the longest prompt. RoBERTa
attends both ways, so `shared_prefix` cannot skip work here and is ignored.
Weights: `ClapModel.from_pretrained` of laion/clap-htsat-unfused (HF cache) or a local
folder given as `weights`.
"""

from __future__ import annotations

import os

import torch
from torch import nn

from septctl.backbones.base import AudioSpec, Backbone
from septctl.backbones.bpe_tokenizers import BpeTokenizer, hub_tokenizer
from septctl.errors import SeptctlError

REPO = "laion/clap-htsat-unfused"


class LaionClapBackbone(Backbone):
    name = "laion-clap"
    ctx_start = 1

    def __init__(self, model: nn.Module, tokenizer: BpeTokenizer):
        super().__init__()
        from transformers import ClapFeatureExtractor

        self.model = model
        self.audio_spec = AudioSpec(sample_rate=48000, clip_seconds=10.0, channels="mean")
        self.embed_dim = model.config.projection_dim
        self.token_dim = model.config.text_config.hidden_size
        self.tokenizer = tokenizer
        self.features = ClapFeatureExtractor(truncation="rand_trunc", padding="repeatpad")

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


def load_laion_clap(weights: str | os.PathLike | None = None) -> LaionClapBackbone:
    """LAION-CLAP from a local `from_pretrained` folder, else the HF hub (cached after the first time)."""
    from transformers import ClapModel

    source = str(weights) if weights is not None else REPO
    try:
        model = ClapModel.from_pretrained(source)
    except OSError as exc:
        raise SeptctlError(
            f"{source}: LAION-CLAP weights not found ({str(exc).splitlines()[0]}); connect once so the HF hub "
            "can cache them, or pass --weights DIR holding config.json + model.safetensors"
        ) from None
    return LaionClapBackbone(model, BpeTokenizer(hub_tokenizer(source), context_length=77))
