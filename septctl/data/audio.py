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


def to_model_rate(wave: torch.Tensor, sr: int, spec: AudioSpec) -> torch.Tensor:
    """[C, N] at `sr` -> [C', N'] at `spec.sample_rate`, resampled as the backbone's loader does (C' = 1 for soxr,
    which averages the channels first, as librosa.load does)."""
    if spec.resampler == "soxr_hq":
        return soxr_resample(wave.mean(dim=0), sr, spec.sample_rate)[None]
    return resample(wave, sr, spec.sample_rate)


def join_channels(wave: torch.Tensor, spec: AudioSpec) -> torch.Tensor:
    """[C, N] at the model's rate -> one flat waveform: "concat" joins channels end to end (Pengi's reshape(-1)),
    "mean" averages them; then LAION-CLAP's int16 round trip where the spec asks for it."""
    flat = wave.reshape(-1) if spec.channels == "concat" else wave.mean(dim=0)
    return int16_round_trip(flat) if spec.int16 else flat


def fit_clip(flat: torch.Tensor, spec: AudioSpec, crop: str = "seeded", key: str = "") -> torch.Tensor:
    """A flat waveform at the model's rate -> [spec.clip_samples]: short ones filled as `spec.fill` says, long ones cut.

    The "seeded" crop is a pseudo-random start derived from `key` (file path + seed), so the
    same file gives the same clip on every run and machine, unlike the reference's unseeded
    random crop.
    """
    if crop not in CROPS:
        raise SeptctlError(f"unknown crop {crop!r}; choose one of {', '.join(CROPS)}")
    length = spec.clip_samples
    n = flat.shape[0]
    if n <= length:
        return _fill(flat, length, spec.fill)
    start = _crop_start(n, length, crop, key)
    return flat[start : start + length]


def window_starts(n: int, window: int, hop: int) -> list[int]:
    """Start samples of `window`-long windows `hop` apart over n samples; the last one ends at the end.

    A signal no longer than one window gets one window at 0 (filled later, as a short clip is).
    """
    if n <= window:
        return [0]
    starts = list(range(0, n - window + 1, hop))
    if starts[-1] + window < n:  # the tail would be lost: one more window, flush with the end
        starts.append(n - window)
    return starts


def windows(wave: torch.Tensor, sr: int, spec: AudioSpec, window: int, hop: int, crop: str = "seeded",
            key: str = "") -> tuple[list[torch.Tensor], list[tuple[int, int]]]:
    """[C, N] at `sr` -> (W clips of [spec.clip_samples], (start, end) sample of each at the model's rate).

    Windows (`window`, `hop` in samples at the model's rate) are cut in time, before the
    channels are joined, and each is shaped as `prepare_waveform` shapes a whole file (with
    `crop` and `key`), so a file no longer than one window gives exactly the clip `embed`
    makes of it; a window shorter than the backbone's clip is filled as a short file is.
    """
    at_rate = to_model_rate(wave, sr, spec)
    n = at_rate.shape[1]
    spans = [(s, min(s + window, n)) for s in window_starts(n, window, hop)]
    return [fit_clip(join_channels(at_rate[:, s:e], spec), spec, crop, key) for s, e in spans], spans


def prepare_waveform(wave: torch.Tensor, sr: int, spec: AudioSpec, crop: str = "seeded", key: str = "") -> torch.Tensor:
    """[C, N] at `sr` -> [spec.clip_samples] at `spec.sample_rate` (resampled, channels joined, then fit)."""
    return fit_clip(join_channels(to_model_rate(wave, sr, spec), spec), spec, crop, key)


def load_clip(path: str | Path, spec: AudioSpec, crop: str = "seeded", key: str = "") -> torch.Tensor:
    wave, sr = read_audio(path, spec.sample_rate)
    return prepare_waveform(wave, sr, spec, crop, key or str(path))
