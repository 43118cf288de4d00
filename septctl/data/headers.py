"""Audio headers checked before decoding: a header can lie, and decoding trusts it.

A WAV claiming a 1 Hz sample rate makes resampling ask for gigabytes; one claiming
more frames than the file holds is silently read as a short clip (libsndfile clamps
it). `check_header` reads the header only (soundfile's `info`, plus the RIFF chunk
sizes for WAV) and refuses what no real recording has, before any sample is decoded.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path

from septctl.errors import SeptctlError

MIN_RATE, MAX_RATE = 1_000, 768_000  # telephone speech .. the fastest studio converters
MAX_CHANNELS = 64
MAX_AUDIO_MB = "SEPTCTL_MAX_AUDIO_MB"  # memory one decoded (and resampled) clip may take
DEFAULT_MAX_MB = 2048


@dataclass(frozen=True)
class Header:
    samplerate: int
    channels: int
    frames: int


def max_audio_bytes() -> int:
    raw = os.environ.get(MAX_AUDIO_MB, str(DEFAULT_MAX_MB))
    try:
        mb = int(raw)
        if mb < 1:
            raise ValueError
    except ValueError:
        raise SeptctlError(f"{MAX_AUDIO_MB}={raw!r}: must be a whole number of megabytes >= 1") from None
    return mb << 20


def wav_data_shortfall(path: Path) -> tuple[int, int] | None:
    """(bytes the RIFF data chunk claims, bytes present) when the file holds less than it claims."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(12)
        if len(head) < 12 or head[:4] not in (b"RIFF", b"RIFX") or head[8:12] != b"WAVE":
            return None
        fmt = "<I" if head[:4] == b"RIFF" else ">I"
        pos = 12
        while pos + 8 <= size:
            f.seek(pos)
            chunk = f.read(8)
            if len(chunk) < 8:
                return None
            length = struct.unpack(fmt, chunk[4:8])[0]
            if chunk[:4] == b"data":
                present = size - pos - 8
                return (length, present) if length > present and length != 0xFFFFFFFF else None
            pos += 8 + length + (length & 1)
    return None


def check_header(path: str | Path, target_rate: int | None = None) -> Header:
    """Refuse a header with an absurd rate or channel count, frames the file cannot hold, or a clip too big."""
    import soundfile as sf

    path = Path(path)
    try:
        info = sf.info(os.fsencode(path))  # bytes: soundfile encodes a str path strictly in the locale's codec
    except Exception as exc:  # soundfile raises LibsndfileError, RuntimeError, TypeError...
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        reason = reason.split(": ", 1)[-1] if reason.startswith("Error opening") else reason
        raise SeptctlError(f"{path}: unreadable audio ({reason}); re-download or remove it") from None
    if not MIN_RATE <= info.samplerate <= MAX_RATE:
        raise SeptctlError(f"{path}: header claims a sample rate of {info.samplerate} Hz (sane: {MIN_RATE}.."
                           f"{MAX_RATE}); the file is damaged: re-encode or remove it")
    if not 1 <= info.channels <= MAX_CHANNELS:
        raise SeptctlError(f"{path}: header claims {info.channels} channels (sane: 1..{MAX_CHANNELS}); "
                           "re-encode or remove it")
    if info.frames <= 0:
        raise SeptctlError(f"{path}: audio has zero samples; remove it from the dataset CSVs")
    short = wav_data_shortfall(path)
    if short:
        raise SeptctlError(f"{path}: header claims {short[0]} bytes of audio but the file holds {short[1]} "
                           "(truncated or a lying header); re-download or remove it")
    samples = info.frames * info.channels
    if target_rate:
        samples = max(samples, samples * target_rate // info.samplerate)
    need, limit = samples * 4, max_audio_bytes()
    if need > limit:
        raise SeptctlError(f"{path}: decoding needs {need >> 20} MB, over the {limit >> 20} MB bound; "
                           f"shorten the file or raise {MAX_AUDIO_MB}")
    return Header(info.samplerate, info.channels, info.frames)
