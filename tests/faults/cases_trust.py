"""Inputs that load but cannot be right: weights of integers or NaN, margins of the wrong shape or type.

Before, an int8 `--weights` file gave all-zero features and a "complete" run at loss ln K, NaN
weights gave NaN features that `embed` cached (and `train` blamed an audio file), a K x K x (N-1)
margins file ended in an IndexError and int64 margins were used. Each is refused where it is
loaded, naming the file and the tensor, before anything is computed or cached.
"""

from __future__ import annotations

import torch

from septctl.artifacts import load_tensors, save_tensors
from tests.faults.table import Case

TENSOR = "text.core.embeddings.position_embedding.weight"  # one synth-clap tensor, spoiled in a copy of the shipped weights


def _weights(damage, *names: str):
    def spoil(tmp_path):
        from septctl.backbones.synth_clap import WEIGHTS, asset_path

        tensors, meta = load_tensors(asset_path(WEIGHTS))
        assert TENSOR in tensors, sorted(tensors)[:5]
        tensors[TENSOR] = damage(tensors[TENSOR])
        path = tmp_path / "spoiled-weights.safetensors"
        save_tensors(path, tensors, meta)
        return path

    return spoil


def _nan(t: torch.Tensor) -> torch.Tensor:
    t = t.clone()
    t[0, 0] = float("nan")
    return t


def _inf(t: torch.Tensor) -> torch.Tensor:
    t = t.clone()
    t[-1, -1] = float("-inf")
    return t


WEIGHTS = {
    "int8": (_weights(lambda t: t.to(torch.int8)), "int8"),
    "int64": (_weights(lambda t: (t * 100).to(torch.int64)), "int64"),
    "nan": (_weights(_nan), "NaN"),
    "inf": (_weights(_inf), "NaN or infinite"),
}


def _weights_case(label: str, command: str) -> Case:
    spoil, word = WEIGHTS[label]

    def make(world, tmp_path):
        path = spoil(tmp_path)
        common = ["--backbone", "synth-clap", "--weights", path]
        args = {"embed": ["embed", world.data, *common],
                "train": ["train", world.data, *common, "--epochs", "1", "--shots", "1", "--out", tmp_path / "run"],
                "zeroshot": ["eval", "--zeroshot", world.data, *common, "--out", tmp_path / "zs"]}[command]
        return args, (str(path), repr(TENSOR), word)

    return Case(f"weights-{label}-{command}", make, fix="weights file")


def _margins(change, *names: str):
    """Train --sept on the world's neighbors with its margins file changed by `change(tensor) -> tensor`."""

    def make(world, tmp_path):
        tensors, meta = load_tensors(world.margins)
        path = tmp_path / "odd-margins.safetensors"
        save_tensors(path, {"margins": change(tensors["margins"])}, meta)
        return (["train", "--backbone", "tiny", world.data, "--epochs", "1", "--shots", "1", "--out", tmp_path / "r",
                 "-q", "--sept", "--neighbors", world.neighbors, "--margins", path], (str(path), *names))

    return make


CASES = [_weights_case(label, command) for label in WEIGHTS for command in ("embed", "train", "zeroshot")]
CASES += [
    Case("margins-one-neighbor-short", _margins(lambda m: m[:, :, :-1], "[4, 4, 1]", "2 neighbors"),
         fix="septctl margins"),
    Case("margins-one-neighbor-long", _margins(lambda m: torch.cat([m, m[:, :, :1]], 2), "[4, 4, 3]", "2 neighbors"),
         fix="septctl margins"),
    Case("margins-int64", _margins(lambda m: (m * 100).to(torch.int64), "int64"), fix="septctl margins"),
    Case("margins-int8", _margins(lambda m: m.to(torch.int8), "int8"), fix="septctl margins"),
    Case("margins-bool", _margins(lambda m: m > 0, "bool"), fix="septctl margins"),
]
