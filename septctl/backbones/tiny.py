"""A small random-weight backbone with exactly Pengi's interface.

For tests and the offline demo: built on the fly from a fixed seed (so every machine
gets the same weights), log-mel band statistics for audio, a 2-layer CLIP text tower with the
real CLIP tokenizer, and Pengi-style projection heads. Its numbers show the plumbing,
not the method.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from septctl.backbones.base import ProjectedBackbone
from septctl.data.audio import AudioSpec
from septctl.backbones.clip_text import ClipTextTower, build_clip_text_model
from septctl.backbones.projection import Projection
from septctl.backbones.tokenizer import ClipTokenizer
from septctl.errors import SeptctlError

SEED = 0
# Query/key init gain. At HF's default init the attention is near uniform, so the pooled
# end-of-text feature is mostly the average of the 16 learned context vectors and a class
# name is ~2 of ~22 tokens: after CoOp training every class feature had cos > 0.99 with
# every other, and no prompt method could learn the demo. A gain of 3 makes attention
# content-dependent, as in trained towers (docs/methods.md has the measurements).
ATTENTION_GAIN = 3.0


class TinyAudio(nn.Module):
    """Log-mel band statistics (mean and spread over time) through a random linear layer."""

    def __init__(self, sample_rate: int, width: int = 32, n_mels: int = 32):
        super().__init__()
        import torchaudio

        self.n_fft, self.hop = 512, 160
        fb = torchaudio.functional.melscale_fbanks(self.n_fft // 2 + 1, 0.0, sample_rate / 2, n_mels, sample_rate)
        self.register_buffer("mel", fb, persistent=False)
        self.register_buffer("window", torch.hann_window(self.n_fft), persistent=False)
        self.linear = nn.Linear(2 * n_mels, width)

    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        spec = torch.stft(wav, self.n_fft, self.hop, window=self.window, return_complex=True).abs() ** 2
        logmel = 10 * torch.log10((spec.transpose(1, 2) @ self.mel).clamp(min=1e-10))  # [B, T, mels]
        stats = torch.cat([logmel.mean(dim=1), logmel.std(dim=1)], dim=-1)
        return F.gelu(self.linear((stats - stats.mean(dim=-1, keepdim=True)) / 20.0))


class TinyBackbone(ProjectedBackbone):
    name = "tiny"

    def __init__(self, embed_dim: int = 64, token_dim: int = 32):
        super().__init__()
        self.audio_spec = AudioSpec(sample_rate=16000, clip_seconds=2.0, channels="mean")
        self.embed_dim, self.token_dim = embed_dim, token_dim
        self.tokenizer = ClipTokenizer(context_length=40)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(SEED)
            self.audio = TinyAudio(self.audio_spec.sample_rate)
            self.audio_projection = Projection(32, embed_dim)
            core = build_clip_text_model(
                hidden_size=token_dim, intermediate_size=4 * token_dim, num_hidden_layers=2, num_attention_heads=2
            )
            for layer in core.encoder.layers:
                layer.self_attn.q_proj.weight.data *= ATTENTION_GAIN
                layer.self_attn.k_proj.weight.data *= ATTENTION_GAIN
            self.text = ClipTextTower(core)
            self.text_projection = nn.Linear(token_dim, token_dim, bias=False)
            self.projection = Projection(token_dim, embed_dim)
        self.freeze()


def load_tiny(weights: object = None) -> TinyBackbone:
    """The tiny backbone; it has no weights file, so `weights` must be None."""
    if weights is not None:
        raise SeptctlError(f"{weights}: the tiny backbone has built-in random weights; drop --weights")
    return TinyBackbone()
