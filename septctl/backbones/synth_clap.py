"""synth-clap: a small audio-language model trained on septctl's synthetic world of sounds and words.

It knows only that world (septctl/data/world.py: whistles, buzzers, bells, hisses and knocks
that are high or low, rising or falling, fast or slow...), but there it has real meaning,
so base-to-new runs on the synth datasets show what prompt tuning and SEPT do. Layout as
Pengi's (ProjectedBackbone): a log-mel CNN audio encoder and a small CLIP causal text tower
with the real CLIP tokenizer, 40 tokens, pooled at the first end-of-text token, so every
exact fast path of the text tower runs on it unchanged. The weights ship with septctl
(assets/synth-clap.safetensors) and `python -m septctl.backbones.synth_clap_train` remakes
them; assets/synth-clap.yaml records the training configuration, time and sha256.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from septctl.backbones.base import ProjectedBackbone
from septctl.data.audio import AudioSpec
from septctl.backbones.clip_text import ClipTextTower, build_clip_text_core, build_clip_text_model
from septctl.backbones.projection import Projection
from septctl.backbones.tokenizer import ClipTokenizer
from septctl.backbones.weights import check_values
from septctl.errors import SeptctlError

WEIGHTS = "assets/synth-clap.safetensors"
CARD = "assets/synth-clap.yaml"
TEXT_CONFIG = dict(hidden_size=64, intermediate_size=256, num_hidden_layers=3, num_attention_heads=4)
AUDIO_WIDTH = 128
EMBED_DIM = 128


class LogMel(nn.Module):
    """Waveform [B, samples] -> log-mel [B, 1, mels, frames], each clip centred (loudness carries no label)."""

    def __init__(self, sample_rate: int, n_mels: int = 40, n_fft: int = 512, hop: int = 256):
        super().__init__()
        import torchaudio

        self.n_fft, self.hop = n_fft, hop
        fb = torchaudio.functional.melscale_fbanks(n_fft // 2 + 1, 50.0, sample_rate / 2, n_mels, sample_rate)
        self.register_buffer("mel", fb, persistent=False)
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)

    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        spec = torch.stft(wav, self.n_fft, self.hop, window=self.window, return_complex=True).abs() ** 2
        logmel = 10 * torch.log10((spec.transpose(1, 2) @ self.mel).clamp(min=1e-8)).transpose(1, 2)
        return ((logmel - logmel.mean(dim=(1, 2), keepdim=True)) / 20.0)[:, None]


class SynthAudio(nn.Module):
    """Log-mel -> four conv blocks -> a 4 x 4 grid of (frequency, time) cells -> [B, AUDIO_WIDTH].

    The grid keeps where energy sits in pitch and when, which pitch motion, rhythm and
    envelope need; GroupNorm rather than BatchNorm because backbones always run in eval mode.
    """

    def __init__(self, sample_rate: int):
        super().__init__()
        self.features = LogMel(sample_rate)
        layers: list[nn.Module] = []
        for c_in, c_out in ((1, 8), (8, 16), (16, 32), (32, 64)):
            layers += [nn.Conv2d(c_in, c_out, 3, padding=1), nn.GroupNorm(4, c_out), nn.GELU(), nn.MaxPool2d(2)]
        self.cnn = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(4), nn.Flatten())
        self.out = nn.Linear(64 * 16, AUDIO_WIDTH)

    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        return self.embed_features(self.features(wav))

    def embed_features(self, logmel: torch.Tensor) -> torch.Tensor:
        """From precomputed `features` (training caches them)."""
        return F.gelu(self.out(self.cnn(logmel)))


class SynthClapBackbone(ProjectedBackbone):
    name = "synth-clap"

    def __init__(self, clip_init: bool = False):
        """`clip_init`: the text layers start from CLIP's random initial values (transformers' CLIPTextModel), as
        the training script needs; loading the shipped weights needs only the layers (faster to import)."""
        super().__init__()
        self.audio_spec = AudioSpec(sample_rate=16000, clip_seconds=1.0, channels="mean")
        self.embed_dim, self.token_dim = EMBED_DIM, TEXT_CONFIG["hidden_size"]
        self.tokenizer = ClipTokenizer(context_length=40)
        self.audio = SynthAudio(self.audio_spec.sample_rate)
        self.audio_projection = Projection(AUDIO_WIDTH, EMBED_DIM)
        self.text = ClipTextTower((build_clip_text_model if clip_init else build_clip_text_core)(**TEXT_CONFIG))
        self.text_projection = nn.Linear(self.token_dim, self.token_dim, bias=False)
        self.projection = Projection(self.token_dim, EMBED_DIM)


def asset_path(name: str) -> Path:
    return Path(str(resources.files("septctl.backbones").joinpath(name)))


def load_synth_clap(weights: str | os.PathLike | None = None) -> SynthClapBackbone:
    """synth-clap with the shipped weights, or with `weights` (a file the training script wrote)."""
    from safetensors.torch import load_file

    path = Path(weights) if weights is not None else asset_path(WEIGHTS)
    if not path.is_file():
        raise SeptctlError(f"{path}: no synth-clap weights there; pass the .safetensors that "
                           "`python -m septctl.backbones.synth_clap_train` wrote, or drop --weights")
    model = SynthClapBackbone()
    try:
        state = load_file(str(path))
        model.load_state_dict(state, strict=True)
    except Exception as e:  # noqa: BLE001 - a wrong file shows up as many different errors
        raise SeptctlError(f"{path}: not synth-clap weights ({str(e).splitlines()[0]}); "
                           "pass a file written by `python -m septctl.backbones.synth_clap_train`") from None
    check_values(model, state, path)
    return model
