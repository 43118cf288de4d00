"""Audio headers that lie (absurd rates, channel counts, more data than the file holds): refused before decoding."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import soundfile as sf

from tests.faults.cases_paths import commands, first, set_first_path
from tests.faults.table import Case


def patch(path: Path, offset: int, fmt: str, value: int) -> None:
    raw = bytearray(path.read_bytes())
    raw[offset:offset + struct.calcsize(fmt)] = struct.pack(fmt, value)
    path.write_bytes(bytes(raw))


def data_offset(path: Path) -> int:
    return path.read_bytes().index(b"data")


def pcm16(path: Path, n: int = 8000, sr: int = 16000, channels: int = 1, fmt: str = "WAV") -> None:
    sf.write(path, np.zeros((n, channels), dtype=np.float32), sr, subtype="PCM_16", format=fmt)


# Each damage rewrites the first training clip (or points the row at a new file) and returns what the line names.
def rate_1hz(wav):
    pcm16(wav)
    patch(wav, 24, "<I", 1)
    return ("1 Hz",)


def rate_7hz_real(wav):
    pcm16(wav, n=100, sr=7)
    return ("7 Hz",)


def rate_500hz_real(wav):
    pcm16(wav, sr=500)
    return ("500 Hz",)


def rate_above_max(wav):
    pcm16(wav)
    patch(wav, 24, "<I", 2_000_000)
    return ("2000000 Hz",)


def rate_too_big_for_libsndfile(wav):
    pcm16(wav)
    patch(wav, 24, "<I", 4_000_000_000)
    return ("unreadable",)


def rate_zero(wav):
    pcm16(wav)
    patch(wav, 24, "<I", 0)
    return ("unreadable",)


def channels_zero(wav):
    pcm16(wav)
    patch(wav, 22, "<H", 0)
    return ("unreadable",)


def channels_1000(wav):
    pcm16(wav)
    patch(wav, 22, "<H", 1000)
    return ("1000 channels",)


def channels_65_real(wav):
    pcm16(wav, n=200, channels=65)
    return ("65 channels",)


def data_4x(wav):
    pcm16(wav)
    at = data_offset(wav)
    patch(wav, at + 4, "<I", 4 * 16000)
    return ("64000 bytes", "16000")


def data_huge(wav):
    pcm16(wav)
    patch(wav, data_offset(wav) + 4, "<I", 0xFFFFFFF0)
    return ("lying header",)


def data_cut(wav):
    pcm16(wav)
    wav.write_bytes(wav.read_bytes()[:2000])
    return ("truncated",)


def data_after_junk_chunk(wav):
    """A JUNK chunk before `data`: the check walks chunks, not fixed offsets."""
    pcm16(wav)
    raw = wav.read_bytes()
    at = raw.index(b"data")
    info = b"JUNK" + struct.pack("<I", 10) + bytes(10)
    raw = raw[:at] + info + raw[at:]
    raw = raw[:4] + struct.pack("<I", len(raw) - 8) + raw[8:]
    at += len(info)
    raw = raw[:at + 4] + struct.pack("<I", 3 * 16000) + raw[at + 8:]
    wav.write_bytes(raw)
    return ("48000 bytes",)


def rifx_data_lie(wav):
    """Big-endian WAV (RIFX): its sizes are read big-endian."""
    sf.write(wav, np.zeros(8000, dtype=np.float32), 16000, subtype="PCM_16", format="WAV", endian="BIG")
    assert wav.read_bytes()[:4] == b"RIFX"
    patch(wav, data_offset(wav) + 4, ">I", 2 * 16000)
    return ("32000 bytes",)


def flac_rate_low(wav):
    sf.write(wav, np.zeros(2000, dtype=np.float32), 600, format="FLAC")
    return ("600 Hz",)


def aiff_rate_low(wav):
    sf.write(wav, np.zeros(2000, dtype=np.float32), 900, format="AIFF")
    return ("900 Hz",)


def ogg_rate_low(wav):
    sf.write(wav, np.zeros(4000, dtype=np.float32), 800, format="OGG")
    return ("800 Hz",)


DAMAGES = [rate_1hz, rate_7hz_real, rate_500hz_real, rate_above_max, rate_too_big_for_libsndfile, rate_zero,
           channels_zero, channels_1000, channels_65_real, data_4x, data_huge, data_cut, data_after_junk_chunk,
           rifx_data_lie, flac_rate_low, aiff_rate_low, ogg_rate_low]


def _case(damage, command: str) -> Case:
    def make(world, tmp_path):
        data = world.copy_data(tmp_path / "ds")
        rel = first(data)
        if damage in (flac_rate_low, aiff_rate_low, ogg_rate_low):
            rel = rel.rsplit(".", 1)[0] + "." + damage.__name__.split("_")[0]
            set_first_path(data, "train", rel)
        names = damage(data / rel)
        return commands(data, tmp_path)[command], (rel, *names)

    return Case(f"header-{damage.__name__.replace('_', '-')}-{command}", make)


CASES = [_case(d, c) for d in DAMAGES for c in ("embed", "train")]
