"""Broken cache entries: a truncated or corrupt embedding file is recomputed, saying so; --force rebuilds."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch


def _embed(cli, data: Path, *extra) -> tuple[Path, str]:
    result = cli("embed", data, "--backbone", "tiny", "-q", *extra)
    assert result.code == 0, result.err
    return Path(result.err.strip().splitlines()[-1].split(" -> ")[-1]), result.err


def _features(path: Path) -> torch.Tensor:
    from septctl.embed import load_embeddings

    return load_embeddings(path).features.clone()  # a copy: the loaded tensor may map the file


def _damage(path: Path, damage) -> None:
    """Replace the entry with damaged bytes (a new inode, as a half-finished copy would be)."""
    data = damage(path.read_bytes())
    path.unlink()
    path.write_bytes(data)


DAMAGE = {
    "truncated-half": lambda b: b[: len(b) // 2],
    "truncated-to-header": lambda b: b[:8],
    "empty": lambda b: b"",
    "zeroed": lambda b: bytes(len(b)),
    "header-garbled": lambda b: b[:8] + b"{not json" + b[17:],
    "text": lambda b: b"this is not a tensor file\n",
}


@pytest.mark.parametrize("damage", DAMAGE, ids=list(DAMAGE))
def test_broken_entry_is_recomputed_saying_so(world, tmp_path, monkeypatch, cli, damage):
    monkeypatch.setenv("SEPTCTL_CACHE", str(tmp_path / "cache"))
    path, said = _embed(cli, world.data)
    assert said.startswith("computed")
    good = _features(path)
    _damage(path, DAMAGE[damage])

    again, said = _embed(cli, world.data)
    assert again == path
    assert "recomputing a broken cache entry" in said and str(path) in said, said
    assert said.strip().splitlines()[-1].startswith("computed"), said
    assert torch.equal(_features(path), good)
    assert _embed(cli, world.data)[1].startswith("cache hit")  # whole again: the next run is a hit


def test_entry_of_another_shape_is_recomputed(world, tmp_path, monkeypatch, cli):
    """A well-formed safetensors file whose rows do not match its file list is not trusted."""
    from septctl.artifacts import load_tensors, save_tensors

    monkeypatch.setenv("SEPTCTL_CACHE", str(tmp_path / "cache"))
    path, _ = _embed(cli, world.data)
    tensors, meta = load_tensors(path)
    save_tensors(path, {"features": tensors["features"][:-1]}, meta)
    _, said = _embed(cli, world.data)
    assert "recomputing a broken cache entry" in said and "not a septctl embedding file" in said


def test_force_rebuilds_a_whole_entry(world, tmp_path, monkeypatch, cli):
    monkeypatch.setenv("SEPTCTL_CACHE", str(tmp_path / "cache"))
    path, _ = _embed(cli, world.data)
    before = path.stat().st_mtime_ns
    assert _embed(cli, world.data)[1].startswith("cache hit")
    _, said = _embed(cli, world.data, "--force")
    assert said.startswith("computed"), said
    assert path.stat().st_mtime_ns != before
    assert _embed(cli, world.data)[1].startswith("cache hit")


def test_force_overwrites_a_file_named_by_out(world, tmp_path, cli):
    out = tmp_path / "mine.safetensors"
    out.write_text("not tensors\n")
    assert cli("embed", world.data, "--backbone", "tiny", "-q", "--out", out).code == 2  # refused without --force
    path, said = _embed(cli, world.data, "--out", out, "--force")
    assert path == out and said.startswith("computed")
    assert _features(out).shape[0] > 0
