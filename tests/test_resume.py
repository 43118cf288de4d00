"""Interrupted training resumes and ends bit-identical to an uninterrupted run (CPU, same seed).

`python -m septctl train` runs as a real subprocess: it is SIGKILLed once its first
epoch is saved, rerun (and resumes), Ctrl-C'd (SIGINT) a few epochs later, rerun
again, and its final prompt.safetensors must equal an uninterrupted run's byte for byte.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from septctl.artifacts import sha256_file

EPOCHS = 14
# Batch size 1 makes an epoch 32 steps long, so a signal sent after epoch E lands well before the run ends.
ARGS = ["--backbone", "tiny", "--classes", "all", "--shots", "4", "--batch-size", "1", "--epochs", str(EPOCHS),
        "--seed", "5", "-q"]


def _env(cache: Path) -> dict:
    # Same thread count as the test process (tests/conftest.py), so float reductions match.
    return {**os.environ, "SEPTCTL_CACHE": str(cache), "SEPTCTL_THREADS": "2", "HF_HUB_OFFLINE": "1"}


def _saved_epoch(state: Path) -> int:
    """The epoch a state file holds (0 while none is readable yet)."""
    from safetensors import safe_open

    try:
        with safe_open(str(state), framework="pt") as f:
            return int((f.metadata() or {}).get("epoch", 0))
    except Exception:  # not written yet
        return 0


def _start(data: Path, out: Path, env: dict, log: Path) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "septctl", "train", str(data), *ARGS, "--out", str(out)]
    # SIGINT back to its default in the child: a test run started in the background by a non-interactive shell
    # inherits SIGINT ignored, and Python then never raises KeyboardInterrupt (the Ctrl-C below would be lost).
    return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=open(log, "w"), cwd=out.parent,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def _wait_for_epoch(proc: subprocess.Popen, state: Path, epoch: int, timeout: float = 180.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = _saved_epoch(state) if state.is_file() else 0
        if got >= epoch:
            return got
        if proc.poll() is not None:
            pytest.fail(f"training exited ({proc.returncode}) before epoch {epoch} was saved")
        time.sleep(0.02)
    proc.kill()
    pytest.fail(f"no epoch {epoch} saved within {timeout} s")


@pytest.fixture(scope="module")
def reference(tmp_path_factory, synth_dataset) -> Path:
    """The uninterrupted run, trained in-process (this also fills the embedding cache the subprocesses share)."""
    from septctl.engine.config import TrainConfig
    from septctl.engine.train import train

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SEPTCTL_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))
        cfg = TrainConfig(backbone="tiny", dataset=str(synth_dataset), classes="all", shots=4, batch_size=1,
                          epochs=EPOCHS, seed=5)
        return train(cfg, tmp_path_factory.mktemp("reference") / "run", progress=False, echo=lambda _: None)


def test_kill_and_ctrl_c_then_resume_is_bit_identical(reference, synth_dataset, tmp_path, tmp_path_factory):
    env = _env(tmp_path_factory.getbasetemp() / "cache")
    out, state = tmp_path / "run", tmp_path / "run" / "state.safetensors"

    # 1. SIGKILL right after the first saved epoch: no run.yaml, a readable state.
    proc = _start(synth_dataset, out, env, tmp_path / "1.log")
    _wait_for_epoch(proc, state, 1)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=60) == -signal.SIGKILL
    killed_at = _saved_epoch(state)
    assert 1 <= killed_at < EPOCHS and not (out / "run.yaml").exists() and not (out / "prompt.safetensors").exists()

    # 2. Rerun: it resumes; Ctrl-C it two epochs later: exit 130 and a message saying where things stand.
    proc = _start(synth_dataset, out, env, tmp_path / "2.log")
    _wait_for_epoch(proc, state, killed_at + 2)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=60) == 130, (tmp_path / "2.log").read_text()
    log = (tmp_path / "2.log").read_text()
    assert f"resuming after epoch {killed_at}/{EPOCHS}" in log
    held = re.search(rf"interrupted: .*run holds epoch (\d+)/{EPOCHS}; rerun the same command to resume", log)
    assert held, log
    stopped_at = _saved_epoch(state)
    # The message may lag the file by one epoch only if Ctrl-C lands between the rename and the bookkeeping.
    assert stopped_at - 1 <= int(held.group(1)) <= stopped_at and stopped_at >= killed_at + 2
    assert "Traceback" not in log and not (out / "run.yaml").exists()

    # 3. Rerun to the end: same bytes as the uninterrupted run; the state file is gone.
    proc = _start(synth_dataset, out, env, tmp_path / "3.log")
    assert proc.wait(timeout=300) == 0, (tmp_path / "3.log").read_text()
    assert f"resuming after epoch {stopped_at}/{EPOCHS}" in (tmp_path / "3.log").read_text()
    assert sha256_file(out / "prompt.safetensors") == sha256_file(reference / "prompt.safetensors")
    assert not state.exists()
    import yaml

    losses = [e["loss"] for e in yaml.safe_load((out / "run.yaml").read_text())["losses"]]
    assert losses == [e["loss"] for e in yaml.safe_load((reference / "run.yaml").read_text())["losses"]]
