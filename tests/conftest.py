"""Shared test fixtures: no network, a private cache, small synthetic datasets, an in-process CLI."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import pytest
import torch

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"

torch.set_num_threads(1)  # 2 threads spin-wait badly when another process shares the 2 cores


def _guard_connect(self, address, *args, **kwargs):
    host = address[0] if isinstance(address, tuple) else address
    if isinstance(host, str) and not (host.startswith("127.") or host in ("localhost", "::1") or host.startswith("/")):
        raise OSError(f"tests must not touch the network (tried {address!r})")
    return _real_connect(self, address, *args, **kwargs)


_real_connect = socket.socket.connect
socket.socket.connect = _guard_connect  # every test runs with non-loopback networking refused


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SEPTCTL_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session")
def synth_dataset(tmp_path_factory) -> Path:
    """8 classes, 6 train + 4 test clips each (read-only for tests: copy it before changing it)."""
    from septctl.data.synth import synthesize_dataset

    root = tmp_path_factory.mktemp("synth") / "synth"
    synthesize_dataset(root, train_per_class=6, test_per_class=4, seconds=1.0)
    return root


def invoke(monkeypatch, capsys, *args):
    """Run `septctl ARGS` in-process; return (exit code, captured stdout and stderr)."""
    from septctl.cli.common import run_app
    from septctl.cli.main import app

    monkeypatch.setattr(sys, "argv", ["septctl", *map(str, args)])
    code = run_app(app)
    return code, capsys.readouterr()


@pytest.fixture
def run_cli(capsys, monkeypatch):
    """Run `septctl ARGS` in-process; return (exit code, stdout, stderr)."""

    def run(*args: str) -> tuple[int, str, str]:
        code, captured = invoke(monkeypatch, capsys, *args)
        return code, captured.out, captured.err

    return run


def needs_shared(*parts: str) -> Path:
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is absent (real audio lives in ../shared/data beside the checkout)")
    return path
