"""The memory bound on one decoded clip, and `data check` reporting headers that lie."""

from __future__ import annotations

import numpy as np
import soundfile as sf

from tests.faults.cases_headers import data_4x, rate_1hz
from tests.faults.cases_paths import first


def test_clip_over_the_memory_bound_is_refused(world, tmp_path, refused, monkeypatch):
    data = world.copy_data(tmp_path / "ds")
    rel = first(data)
    sf.write(data / rel, np.zeros(20 * 16000, dtype=np.float32), 16000, subtype="PCM_16")  # 1.2 MB as float32
    monkeypatch.setenv("SEPTCTL_MAX_AUDIO_MB", "1")
    refused(["embed", "--backbone", "tiny", data], rel, "over the 1 MB bound", fix="SEPTCTL_MAX_AUDIO_MB")


def test_bad_memory_bound_is_refused(world, tmp_path, refused, monkeypatch):
    monkeypatch.setenv("SEPTCTL_MAX_AUDIO_MB", "lots")
    data = world.copy_data(tmp_path / "ds")
    refused(["embed", "--backbone", "tiny", data], "SEPTCTL_MAX_AUDIO_MB='lots'")


def test_data_check_reports_lying_headers(world, tmp_path, cli):
    data = world.copy_data(tmp_path / "ds")
    rows = (data / "train.csv").read_text(encoding="utf-8").splitlines()[1:3]
    (a, _), (b, _) = (r.split(",") for r in rows)
    rate_1hz(data / a)
    data_4x(data / b)
    result = cli("data", "check", data)
    assert result.code == 1
    assert f"unreadable {a}: header claims a sample rate of 1 Hz" in result.err
    assert f"unreadable {b}: header claims 64000 bytes of audio but the file holds 16000" in result.err
    assert "Traceback" not in result.err
