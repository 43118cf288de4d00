"""Two `septctl embed` processes on one dataset: one computes, the other waits on the lock and reuses it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch


def _waiters(lock: Path) -> int:
    """Processes blocked on `lock` right now, from /proc/locks ("->" marks a waiting request)."""
    st = lock.stat()
    inode = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    return sum(1 for line in Path("/proc/locks").read_text().splitlines() if "->" in line and f" {inode} " in line)


@pytest.mark.skipif(not Path("/proc/locks").exists(), reason="needs Linux /proc/locks to see lock waiters")
def test_parallel_embeds_compute_once(synth_dataset, tmp_path, monkeypatch):
    from septctl.artifacts import file_lock
    from septctl.backbones import load_backbone
    from septctl.data.layout import DatasetFolder
    from septctl.embed import _key, default_path, embed_dataset, load_embeddings

    cache = tmp_path / "cache"
    monkeypatch.setenv("SEPTCTL_CACHE", str(cache))
    dataset, backbone = DatasetFolder(synth_dataset), load_backbone("tiny")
    target = default_path(dataset, _key(dataset, backbone, "seeded", 0))
    env = {**os.environ, "SEPTCTL_CACHE": str(cache), "SEPTCTL_THREADS": "2", "HF_HUB_OFFLINE": "1"}
    cmd = [sys.executable, "-m", "septctl", "embed", str(synth_dataset), "--backbone", "tiny"]
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    with file_lock(target):  # hold the cache entry so both processes must queue behind it
        procs = [subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=open(log, "w")) for log in logs]
        deadline = time.monotonic() + 180
        while _waiters(Path(f"{target}.lock")) < 2:
            assert all(p.poll() is None for p in procs), [log.read_text() for log in logs]
            assert time.monotonic() < deadline, "the two processes never both waited on the cache lock"
            time.sleep(0.05)
    assert [p.wait(timeout=300) for p in procs] == [0, 0], [log.read_text() for log in logs]
    outcomes = sorted(log.read_text().split(":")[0] for log in logs)
    assert outcomes == ["cache hit", "computed"], [log.read_text() for log in logs]

    entries = sorted(p.name for p in (cache / "embeddings").iterdir() if not p.name.endswith(".lock"))
    assert entries == [target.name, target.with_suffix(".yaml").name]  # one entry, no *.tmp left
    cached = load_embeddings(target)
    assert cached.card["key"] == _key(dataset, backbone, "seeded", 0)
    fresh, hit = embed_dataset(dataset, backbone, out=tmp_path / "fresh.safetensors", progress=False)
    assert not hit and cached.files == fresh.files
    assert torch.equal(cached.features, fresh.features)
