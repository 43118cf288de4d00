"""Out-of-range training settings and a bad SEPTCTL_THREADS are one-line refusals (exit 2), before any work."""

from __future__ import annotations

import pytest

from tests.faults.conftest import Result, assert_refused

BAD_TRAIN = [
    ("--shots", "0"), ("--shots", "-3"), ("--epochs", "0"), ("--n-ctx", "0"), ("--batch-size", "0"),
    ("--lr", "-1"), ("--lr", "0"), ("--lr", "nan"), ("--lr", "inf"),
]


@pytest.mark.parametrize("option,value", BAD_TRAIN)
def test_train_refuses_out_of_range(run_cli, synth_dataset, tmp_path, option, value):
    out = tmp_path / "run"
    code, stdout, stderr = run_cli("train", synth_dataset, "--backbone", "tiny", "--epochs", "1", option, value,
                                   "--out", out, "-q")
    assert_refused(Result(code, stdout, stderr), option)
    assert not out.exists()  # refused before the run folder (or its lock) is made


@pytest.mark.parametrize("value", ["nan", "-1"])
def test_train_refuses_bad_lambda(run_cli, synth_dataset, tmp_path, value):
    code, stdout, stderr = run_cli("train", synth_dataset, "--backbone", "tiny", "--sept", "--neighbors", "n.yaml",
                                   "--margins", "m.safetensors", "--lambda", value, "--out", tmp_path / "run")
    assert_refused(Result(code, stdout, stderr), "--lambda")


@pytest.mark.parametrize("value", ["abc", "0", "-1", "1.5"])
def test_bad_thread_count_is_refused(run_cli, synth_dataset, monkeypatch, value):
    monkeypatch.setenv("SEPTCTL_THREADS", value)
    code, stdout, stderr = run_cli("embed", synth_dataset, "--backbone", "tiny", "-q")
    assert_refused(Result(code, stdout, stderr), "SEPTCTL_THREADS")
