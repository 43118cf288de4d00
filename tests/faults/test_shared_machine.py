"""Shared machines: the files and folders septctl writes honour the umask, as open() and mkdir() do."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest


def _modes(root: Path) -> dict[str, int]:
    """The permission bits of everything under `root` septctl wrote (lock files included)."""
    return {str(p.relative_to(root)): stat.S_IMODE(p.stat().st_mode) for p in root.rglob("*")}


@pytest.mark.parametrize("umask, file_mode, dir_mode", [(0o002, 0o664, 0o775), (0o022, 0o644, 0o755)])
def test_embed_train_eval_files_follow_the_umask(world, tmp_path, monkeypatch, cli, umask, file_mode, dir_mode):
    cache, runs = tmp_path / "cache", tmp_path / "runs"
    monkeypatch.setenv("SEPTCTL_CACHE", str(cache))
    old = os.umask(umask)
    try:
        assert cli("embed", "--backbone", "tiny", world.data, "-q").code == 0
        assert cli("train", "--backbone", "tiny", world.data, "--epochs", "1", "--shots", "1", "--seed", "0",
                   "--out", runs / "r", "-q").code == 0
        assert cli("eval", runs / "r", "--classes", "base").code == 0
    finally:
        os.umask(old)
    written = {**_modes(cache), **{f"runs/{k}": v for k, v in _modes(runs).items()}}
    assert any(k.startswith("runs/r/") for k in written) and any(k.startswith("embeddings") for k in written)
    wrong = {k: oct(v) for k, v in written.items()
             if v != (dir_mode if (tmp_path / ("" if k.startswith("runs/") else "cache") / k).is_dir() else file_mode)}
    assert not wrong, f"modes other than {oct(file_mode)}/{oct(dir_mode)}: {wrong}"
