"""Devices this machine lacks, or that are not devices: refused before any work, naming --device."""

from __future__ import annotations

import torch

from tests.faults.table import Case

GONE = ["gpu", "cuda:x", "cuda:-1", "tpu", "", "cuda:99"] + ([] if torch.cuda.is_available() else ["cuda", "cuda:0"])
GONE += [] if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available() else ["mps"]


def _commands(world, tmp_path) -> dict[str, list]:
    return {
        "embed": ["embed", world.data, "--backbone", "tiny"],
        "train": ["train", world.data, "--backbone", "tiny", "--epochs", "1", "--shots", "1", "--out", tmp_path / "r"],
        "eval-run": ["eval", world.run],
        "eval-zeroshot": ["eval", "--zeroshot", world.data, "--backbone", "tiny", "--out", tmp_path / "zs"],
        "margins": ["margins", "--neighbors", world.neighbors, "--single-template", "a {}", "--backbone", "tiny",
                    "--out", tmp_path / "m.safetensors"],
        "neighbors-stats": ["neighbors", "stats", world.neighbors, "--backbone", "tiny"],
        "grid-eval": ["grid-eval", world.run],
        "verify": ["verify", world.run],
    }


def _case(command: str, device: str) -> Case:
    def make(world, tmp_path):
        return [*_commands(world, tmp_path)[command], "--device", device], ("--device",)

    return Case(f"device-{command}-{device or 'empty'}", make, fix="cpu" if device in ("cuda", "cuda:0", "mps") else None)


CASES = [_case(c, d) for c in ("embed", "train", "eval-run", "eval-zeroshot", "margins", "neighbors-stats",
                                "grid-eval", "verify") for d in GONE]
