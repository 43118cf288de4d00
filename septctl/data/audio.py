"""Reading audio and shaping it the way a backbone expects.

soundfile reads wav/flac/ogg/mp3 in any sample format (SESA is 8-bit unsigned) into
float32 in [-1, 1]. Each backbone's `AudioSpec` says how its own loader shapes audio:
Pengi and MS-CLAP resample with `torchaudio.transforms.Resample` and tile short clips;
LAION-CLAP averages channels, resamples with soxr at high quality (librosa.load's default),
rounds through int16 and pads short clips with whole copies and then zeros.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from septctl.defaults import CROPS
from septctl.errors import SeptctlError


@dataclass(frozen=True)
class AudioSpec:
    """What a backbone expects of a waveform."""

    sample_rate: int
    clip_seconds: float
    channels: str  # "concat": channels joined end to end (Pengi's reshape(-1)); "mean": averaged
    resampler: str = "torchaudio"  # "torchaudio": Resample, then channels (Pengi); "soxr_hq": mono, then soxr (librosa)
    fill: str = "tile"  # short clips: "tile" repeats to length; "repeatpad": whole copies, then zeros (LAION-CLAP)
    int16: bool = False  # round the waveform through int16 before the model, as LAION-CLAP's loader does

    @property
    def clip_samples(self) -> int:
        return int(round(self.sample_rate * self.clip_seconds))


def read_audio(path: str | Path, target_rate: int | None = None) -> tuple[torch.Tensor, int]:
    """Return ([channels, samples] float32, sample rate); refuse unreadable, empty or lying files.

    The header is checked first (data/headers.py), so a lie cannot make decoding or
    resampling to `target_rate` allocate more than SEPTCTL_MAX_AUDIO_MB.
    """
    import soundfile as sf

    from septctl.data.headers import check_header

    check_header(path, target_rate)
    try:
        data, sr = sf.read(os.fsencode(path), dtype="float32", always_2d=True)  # bytes: any locale, any name
    except Exception as exc:  # soundfile raises LibsndfileError, RuntimeError, TypeError...
        reason = re.sub(r"^Error opening .*?: ", "", str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        raise SeptctlError(f"{path}: unreadable audio ({reason}); re-download or remove it") from None
    if data.shape[0] == 0:
        raise SeptctlError(f"{path}: audio has zero samples; remove it from the dataset CSVs")
    if not np.isfinite(data).all():
        raise SeptctlError(f"{path}: audio contains NaN or infinite samples; re-encode the file")
    return torch.from_numpy(np.ascontiguousarray(data.T)), int(sr)


@lru_cache(maxsize=16)
def _resampler(sr: int, target: int) -> torch.nn.Module:
    """The transform Pengi builds, once per rate pair (its sinc kernel is the costly part)."""
    import torchaudio.transforms as AT

    return AT.Resample(sr, target)


def resample(wave: torch.Tensor, sr: int, target: int) -> torch.Tensor:
    """`torchaudio.transforms.Resample(sr, target)` with its defaults, exactly as Pengi and msclap.

    Not `torchaudio.functional.resample`: its kernel is built differently and the output
    differs by up to ~7e-6 (see tests/test_audio.py).
    """
    if sr == target:
        return wave
    with torch.no_grad():
        return _resampler(sr, target)(wave)


def soxr_resample(mono: torch.Tensor, sr: int, target: int) -> torch.Tensor:
    """librosa.load's default resampler (`res_type="soxr_hq"`), on a 1-D float32 waveform."""
    if sr == target:
        return mono
    import soxr

    return torch.from_numpy(soxr.resample(mono.numpy(), sr, target, quality="soxr_hq"))


def int16_round_trip(wave: torch.Tensor) -> torch.Tensor:
    """LAION-CLAP's float32 -> int16 -> float32 (clip, scale by 32767, truncate; divide in float64)."""
    quantised = (wave.clamp(-1.0, 1.0) * 32767.0).to(torch.int16)
    return (quantised.double() / 32767.0).float()


def _fill(flat: torch.Tensor, length: int, fill: str) -> torch.Tensor:
    n = flat.shape[0]
    if fill == "repeatpad":
        return torch.nn.functional.pad(flat.repeat(length // n), (0, length - (length // n) * n))
    return flat.repeat(-(-length // n))[:length]


def _crop_start(n: int, length: int, crop: str, key: str) -> int:
    if crop == "center":
        return (n - length) // 2
    if crop == "start":
        return 0
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "little") % (n - length + 1)


def prepare_waveform(wave: torch.Tensor, sr: int, spec: AudioSpec, crop: str = "seeded", key: str = "") -> torch.Tensor:
    """[C, N] at `sr` -> [spec.clip_samples] at `spec.sample_rate`.

    Channels: "concat" joins them end to end (Pengi's reshape(-1)); "mean" averages.
    Short clips are filled as `spec.fill` says; long ones cropped. The "seeded"
    crop is a pseudo-random start derived from `key` (file path + seed), so the same
    file gives the same clip on every run and machine, unlike the reference's
    unseeded random crop.
    """
    if crop not in CROPS:
        raise SeptctlError(f"unknown crop {crop!r}; choose one of {', '.join(CROPS)}")
    if spec.resampler == "soxr_hq":
        flat = soxr_resample(wave.mean(dim=0), sr, spec.sample_rate)
    else:
        wave = resample(wave, sr, spec.sample_rate)
        flat = wave.reshape(-1) if spec.channels == "concat" else wave.mean(dim=0)
    if spec.int16:
        flat = int16_round_trip(flat)
    length = spec.clip_samples
    n = flat.shape[0]
    if n <= length:
        return _fill(flat, length, spec.fill)
    start = _crop_start(n, length, crop, key)
    return flat[start : start + length]


def load_clip(path: str | Path, spec: AudioSpec, crop: str = "seeded", key: str = "") -> torch.Tensor:
    wave, sr = read_audio(path, spec.sample_rate)
    return prepare_waveform(wave, sr, spec, crop, key or str(path))
