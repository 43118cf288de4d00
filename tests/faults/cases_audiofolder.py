"""Labels and splits that would fail later in eval or train: refused by `data check` (and the readers), by name."""

from __future__ import annotations

import shutil

from tests.faults.table import Case


def _case_mismatch(args: list[str]):
    """test.csv spells one class `Siren` where train.csv has `siren`."""
    def make(world, tmp_path):
        root = world.copy_data(tmp_path / "data")
        test = root / "test.csv"
        test.write_text(test.read_text(encoding="utf-8").replace(",siren\n", ",Siren\n"), encoding="utf-8")
        return [root if a == "DATA" else a for a in args], ("test.csv", "'Siren' vs 'siren'", "case")

    return make


def _train_only(args: list[str]):
    """ROOT/train/<class>/ with no ROOT/test/."""
    def make(world, tmp_path):
        root = tmp_path / "words"
        for i, wav in enumerate(sorted(world.data.rglob("*.wav"))[:4]):
            (root / "train" / f"c{i % 2}").mkdir(parents=True, exist_ok=True)
            shutil.copy(wav, root / "train" / f"c{i % 2}" / wav.name)
        return [root if a == "DATA" else a for a in args], (str(root / "test"), "test split")

    return make


CASES = [
    Case("label-case-check", _case_mismatch(["data", "check", "DATA"]), fix="spell them the same"),
    Case("label-case-train", _case_mismatch(["train", "DATA", "--backbone", "tiny", "--out", "run"]),
         fix="spell them the same"),
    Case("audiofolder-no-test-check", _train_only(["data", "check", "DATA"]), fix="septctl split them"),
    Case("audiofolder-no-test-embed", _train_only(["embed", "DATA", "--backbone", "tiny"]), fix="septctl split them"),
]
