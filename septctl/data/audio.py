"""Reading audio and shaping it the way a backbone expects.

soundfile reads wav/flac/ogg/mp3 in any sample format (SESA is 8-bit unsigned) into
float32 in [-1, 1]; `torchaudio.transforms.Resample` with its default settings (the
transform Pengi's and msclap's loaders build) changes the rate; clips are tiled when
short and cropped when long.
"""

from __future__ import annotations

import hashlib
import re
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from septctl.backbones.base import AudioSpec
from septctl.errors import SeptctlError

CROPS = ("seeded", "center", "start")
RESAMPLER = "torchaudio.transforms.Resample"  # recorded in embedding cache keys: a change of resampler changes every embedding


def read_audio(path: str | Path, target_rate: int | None = None) -> tuple[torch.Tensor, int]:
    """Return ([channels, samples] float32, sample rate); refuse unreadable, empty or lying files.

    The header is checked first (data/headers.py), so a lie cannot make decoding or
    resampling to `target_rate` allocate more than SEPTCTL_MAX_AUDIO_MB.
    """
    import soundfile as sf

    from septctl.data.headers import check_header

    check_header(path, target_rate)
    try:
        data, sr = sf.read(str(path), dtype="float32", always_2d=True)
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
    Short clips are tiled (repeat-padding, no zeros); long ones cropped. The "seeded"
    crop is a pseudo-random start derived from `key` (file path + seed), so the same
    file gives the same clip on every run and machine, unlike the reference's
    unseeded random crop.
    """
    if crop not in CROPS:
        raise SeptctlError(f"unknown crop {crop!r}; choose one of {', '.join(CROPS)}")
    wave = resample(wave, sr, spec.sample_rate)
    flat = wave.reshape(-1) if spec.channels == "concat" else wave.mean(dim=0)
    length = spec.clip_samples
    n = flat.shape[0]
    if n <= length:
        reps = -(-length // n)
        return flat.repeat(reps)[:length]
    start = _crop_start(n, length, crop, key)
    return flat[start : start + length]


def load_clip(path: str | Path, spec: AudioSpec, crop: str = "seeded", key: str = "") -> torch.Tensor:
    wave, sr = read_audio(path, spec.sample_rate)
    return prepare_waveform(wave, sr, spec, crop, key or str(path))
