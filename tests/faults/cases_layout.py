"""A folder that holds audio but no split CSVs (raw, never prepared) is refused by every reader, by name."""

from __future__ import annotations

import shutil

from tests.faults.table import Case


def _unprepared(world, tmp_path):
    root = tmp_path / "raw"
    (root / "audios").mkdir(parents=True)
    for wav in sorted(world.data.rglob("*.wav"))[:2]:
        shutil.copy(wav, root / "audios" / wav.name)
    return root


def _command(args: list[str]):
    def make(world, tmp_path):
        root = _unprepared(world, tmp_path)
        swap = {"DATA": root, "OUT": tmp_path / "run"}
        return [swap.get(a, a) for a in args], (str(root),)

    return make


CASES = [
    Case("layout-unprepared-embed", _command(["embed", "DATA", "--backbone", "tiny"]), fix="data prepare"),
    Case("layout-unprepared-train", _command(["train", "DATA", "--backbone", "tiny", "--out", "OUT"]),
         fix="data prepare"),
    Case("layout-unprepared-check", _command(["data", "check", "DATA"]), fix="data prepare"),
]
