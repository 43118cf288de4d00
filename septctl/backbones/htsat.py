"""HTSAT, the Swin-transformer audio tower of Pengi and MS-CLAP, in eval mode only.

Our own implementation with the parameter names of the released checkpoints
(`audio_encoder.base.htsat.*` minus that prefix), so they load strictly. It computes
what the reference module computes in eval mode (see docs/backbones.md and
tests/test_pengi.py, which compares it with msclap's module):

waveform -> STFT as two fixed 1-D convolutions (kernels from the checkpoint) -> power
-> mel (`melW` from the checkpoint) -> 10*log10 -> bn0 over mel bins -> time resized
to 1024 frames (bicubic) and folded into a 256x256 image -> 4 Swin stages -> LayerNorm
-> mean over the 64 final positions = the 768-d embedding.

Training-only parts of the reference (SpecAugment, mixup, DropPath) are left out:
backbones are frozen and stay in eval mode. The classification head (`tscam_conv`,
`head`) is kept only so checkpoints load strictly; the embedding is taken before it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class HTSATConfig:
    """The reference class defaults (its constructor arguments are ignored upstream)."""

    n_fft: int = 1024
    hop: int = 320
    mel_bins: int = 64
    spec_size: int = 256
    patch: int = 4
    embed_dim: int = 96
    depths: tuple[int, ...] = (2, 2, 6, 2)
    heads: tuple[int, ...] = (4, 8, 16, 32)
    window: int = 8
    mlp_ratio: float = 4.0
    classes: int = 527
    # The mel filterbank the reference builds (and stores as `melW`): made for 32 kHz
    # although it is applied to 44.1 kHz STFT bins (notes/palm-pengi.md §1.4).
    mel_sample_rate: int = 32000
    fmin: float = 50.0
    fmax: float = 14000.0

    @property
    def freq_ratio(self) -> int:
        return self.spec_size // self.mel_bins

    @property
    def out_dim(self) -> int:
        return self.embed_dim * 2 ** (len(self.depths) - 1)


class _Stft(nn.Module):
    """The DFT as two fixed convolutions with hann-windowed kernels (`conv_real`, `conv_imag`).

    Built as the reference builds them, so a random-weight HTSAT still hears its input;
    a checkpoint's kernels replace them on loading.
    """

    def __init__(self, n_fft: int, hop: int):
        super().__init__()
        bins = n_fft // 2 + 1
        self.conv_real = nn.Conv1d(1, bins, n_fft, stride=hop, bias=False)
        self.conv_imag = nn.Conv1d(1, bins, n_fft, stride=hop, bias=False)
        if self.conv_real.weight.is_meta:  # shapes only (pengi_expected_shapes)
            return
        angle = 2 * math.pi * torch.arange(bins, dtype=torch.float64)[:, None] * torch.arange(n_fft) / n_fft
        window = torch.hann_window(n_fft, periodic=True, dtype=torch.float64)
        with torch.no_grad():
            self.conv_real.weight.copy_((torch.cos(angle) * window)[:, None].float())
            self.conv_imag.weight.copy_((-torch.sin(angle) * window)[:, None].float())


class _Spectrogram(nn.Module):
    def __init__(self, n_fft: int, hop: int):
        super().__init__()
        self.n_fft = n_fft
        self.stft = _Stft(n_fft, hop)

    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        """[B, N] -> power spectrogram [B, 1, T, bins] (centered, reflect padding)."""
        x = F.pad(wav[:, None, :], (self.n_fft // 2, self.n_fft // 2), mode="reflect")
        real, imag = self.stft.conv_real(x), self.stft.conv_imag(x)
        return (real**2 + imag**2).transpose(1, 2)[:, None]


class _LogMel(nn.Module):
    """Power -> log-mel with `melW`, initialised to the reference's Slaney filterbank."""

    def __init__(self, cfg: HTSATConfig):
        super().__init__()
        import torchaudio.functional as AF

        with torch.device("cpu"):  # also when the module is built on the meta device
            fb = AF.melscale_fbanks(cfg.n_fft // 2 + 1, cfg.fmin, cfg.fmax, cfg.mel_bins, cfg.mel_sample_rate,
                                    norm="slaney", mel_scale="slaney")
        self.melW = nn.Parameter(fb.to(torch.empty(0).device), requires_grad=False)

    def forward(self, power: torch.Tensor) -> torch.Tensor:
        return 10.0 * torch.log10(torch.clamp(power @ self.melW, min=1e-10))


def _windows(x: torch.Tensor, w: int) -> torch.Tensor:
    """[B, H, W, C] -> [B * nW, w*w, C], windows in row-major order."""
    b, h, wd, c = x.shape
    x = x.view(b, h // w, w, wd // w, w, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, w * w, c)


def _unwindows(x: torch.Tensor, w: int, h: int, wd: int) -> torch.Tensor:
    """Inverse of `_windows`: [B * nW, w*w, C] -> [B, H, W, C]."""
    c = x.shape[-1]
    b = x.shape[0] // ((h // w) * (wd // w))
    x = x.view(b, h // w, wd // w, w, w, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(b, h, wd, c)


class WindowAttention(nn.Module):
    """Multi-head self-attention inside a window, with a learned relative-position bias."""

    def __init__(self, dim: int, window: int, heads: int):
        super().__init__()
        self.heads = heads
        self.scale = (dim // heads) ** -0.5
        self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * window - 1) ** 2, heads))
        ys, xs = torch.meshgrid(torch.arange(window), torch.arange(window), indexing="ij")
        coords = torch.stack([ys.flatten(), xs.flatten()])  # [2, w*w]
        rel = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0) + (window - 1)
        self.register_buffer("relative_position_index", rel[..., 0] * (2 * window - 1) + rel[..., 1])
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        bw, n, c = x.shape
        q, k, v = self.qkv(x).view(bw, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        attn = (q * self.scale) @ k.transpose(-2, -1)
        bias = self.relative_position_bias_table[self.relative_position_index.view(-1)].view(n, n, -1)
        attn = attn + bias.permute(2, 0, 1)[None]
        if mask is not None:
            nw = mask.shape[0]
            attn = (attn.view(bw // nw, nw, self.heads, n, n) + mask[None, :, None]).view(bw, self.heads, n, n)
        y = attn.softmax(dim=-1) @ v
        return self.proj(y.transpose(1, 2).reshape(bw, n, c))


class _Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x)))


class SwinBlock(nn.Module):
    """Pre-norm window attention + MLP; odd blocks shift the windows by half a window."""

    def __init__(self, dim: int, resolution: int, heads: int, window: int, shift: int, mlp_ratio: float):
        super().__init__()
        if resolution <= window:  # one window covers the map: no shift needed
            window, shift = resolution, 0
        self.resolution, self.window, self.shift = resolution, window, shift
        self.norm1 = nn.LayerNorm(dim)
        self.attn = WindowAttention(dim, window, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = _Mlp(dim, int(dim * mlp_ratio))
        self.register_buffer("attn_mask", self._shift_mask() if shift else None)

    def _shift_mask(self) -> torch.Tensor:
        """-100 between tokens that the cyclic shift brought together from different regions."""
        r, w, s = self.resolution, self.window, self.shift
        region = torch.zeros(1, r, r, 1)
        bands = (slice(0, -w), slice(-w, -s), slice(-s, None))
        for i, hs in enumerate(bands):
            for j, ws in enumerate(bands):
                region[:, hs, ws, :] = i * 3 + j
        ids = _windows(region, w).squeeze(-1)  # [nW, w*w]
        diff = ids[:, None, :] - ids[:, :, None]
        return torch.where(diff != 0, torch.tensor(-100.0), torch.tensor(0.0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        r, w, s = self.resolution, self.window, self.shift
        h = self.norm1(x).view(b, r, r, c)
        if s:
            h = torch.roll(h, shifts=(-s, -s), dims=(1, 2))
        h = _unwindows(self.attn(_windows(h, w), self.attn_mask), w, r, r)
        if s:
            h = torch.roll(h, shifts=(s, s), dims=(1, 2))
        x = x + h.reshape(b, n, c)
        return x + self.mlp(self.norm2(x))


class PatchMerging(nn.Module):
    """2x2 neighbouring tokens -> one token of twice the width."""

    def __init__(self, dim: int, resolution: int):
        super().__init__()
        self.resolution = resolution
        self.norm = nn.LayerNorm(4 * dim)
        self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, c = x.shape
        r = self.resolution
        x = x.view(b, r, r, c)
        x = torch.cat([x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2]], dim=-1)
        return self.reduction(self.norm(x.view(b, -1, 4 * c)))


class SwinStage(nn.Module):
    def __init__(self, dim: int, resolution: int, depth: int, heads: int, cfg: HTSATConfig, last: bool):
        super().__init__()
        self.blocks = nn.ModuleList(
            SwinBlock(dim, resolution, heads, cfg.window, 0 if i % 2 == 0 else cfg.window // 2, cfg.mlp_ratio)
            for i in range(depth)
        )
        self.downsample = None if last else PatchMerging(dim, resolution)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for blk in self.blocks:
            x = blk(x)
        return x if self.downsample is None else self.downsample(x)


class PatchEmbed(nn.Module):
    def __init__(self, cfg: HTSATConfig):
        super().__init__()
        self.proj = nn.Conv2d(1, cfg.embed_dim, cfg.patch, stride=cfg.patch)
        self.norm = nn.LayerNorm(cfg.embed_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.proj(x).flatten(2).transpose(1, 2))


class HTSAT(nn.Module):
    """Waveform [B, N] -> mean-pooled latent [B, 768] (the reference's `latent_output`)."""

    def __init__(self, cfg: HTSATConfig = HTSATConfig()):
        super().__init__()
        self.cfg = cfg
        self.spectrogram_extractor = _Spectrogram(cfg.n_fft, cfg.hop)
        self.logmel_extractor = _LogMel(cfg)
        self.bn0 = nn.BatchNorm2d(cfg.mel_bins)
        self.patch_embed = PatchEmbed(cfg)
        res = cfg.spec_size // cfg.patch
        n = len(cfg.depths)
        self.layers = nn.ModuleList(
            SwinStage(cfg.embed_dim * 2**i, res // 2**i, d, h, cfg, last=i == n - 1)
            for i, (d, h) in enumerate(zip(cfg.depths, cfg.heads))
        )
        self.norm = nn.LayerNorm(cfg.out_dim)
        sf = cfg.spec_size // 2 ** (n - 1) // cfg.patch // cfg.freq_ratio
        self.tscam_conv = nn.Conv2d(cfg.out_dim, cfg.classes, kernel_size=(sf, 3), padding=(0, 1))
        self.head = nn.Linear(cfg.classes, cfg.classes)

    def logmel(self, wav: torch.Tensor) -> torch.Tensor:
        """[B, N] -> normalised log-mel [B, 1, T, mel_bins]."""
        x = self.logmel_extractor(self.spectrogram_extractor(wav))
        return self.bn0(x.transpose(1, 3)).transpose(1, 3)

    def to_image(self, x: torch.Tensor) -> torch.Tensor:
        """[B, 1, T, mel] -> [B, 1, 256, 256]: time resized to 4*256 frames, cut in 4, stacked on frequency."""
        cfg = self.cfg
        target_t = cfg.spec_size * cfg.freq_ratio
        if x.shape[2] > target_t:
            raise ValueError(f"HTSAT takes at most {target_t} frames, got {x.shape[2]}")
        if x.shape[2] < target_t:
            x = F.interpolate(x, (target_t, x.shape[3]), mode="bicubic", align_corners=True)
        b, c, t, f = x.shape
        x = x.transpose(2, 3).reshape(b, c, f, cfg.freq_ratio, t // cfg.freq_ratio)
        return x.permute(0, 1, 3, 2, 4).reshape(b, c, cfg.freq_ratio * f, t // cfg.freq_ratio)

    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        x = self.patch_embed(self.to_image(self.logmel(wav)))
        for stage in self.layers:
            x = stage(x)
        return self.norm(x).mean(dim=1)
