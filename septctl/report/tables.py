"""Run folders as records for the report: where runs are, and what each one measured.

The tables themselves are built in paper_tables.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from septctl.errors import SeptctlError
from septctl.runs import read_card, read_metrics

FORMATS = ("md", "csv", "latex", "json")


@dataclass
class RunRecord:
    path: Path
    label: str
    dataset: str
    seed: int
    fold: int
    accuracy: dict[str, float] = field(default_factory=dict)  # classes -> accuracy on the run's own dataset
    config: dict = field(default_factory=dict)  # run.yaml's config (method, shots, classes, sept switches...)
    evaluations: list[dict] = field(default_factory=list)  # every metrics.yaml entry: dataset, fold, classes, accuracy
    card: dict = field(default_factory=dict)  # run.yaml's card (provenance, the SEPT files' hashes)
    short_classes: dict[str, int] = field(default_factory=dict)  # class -> files, where fewer than shots
    learning_warnings: list[str] = field(default_factory=list)  # signs it learned nothing (engine/learned.py)

    @property
    def method(self) -> str:
        return str(self.config.get("method", self.label))

    @property
    def shots(self) -> int | None:
        return self.config.get("shots")

    @property
    def train_classes(self) -> str | None:
        """base (base-to-new), all (cross-dataset) or None (zero-shot: nothing trained)."""
        return self.config.get("classes") if self.method != "zeroshot" else None

    @property
    def sept(self) -> dict | None:
        return self.config.get("sept") or None


def find_runs(paths: list[Path]) -> list[Path]:
    found: list[Path] = []
    for p in paths:
        p = Path(p)
        if (p / "run.yaml").is_file():
            found.append(p)
        elif p.is_dir():
            found.extend(sorted(q.parent for q in p.rglob("run.yaml")))
        else:
            raise SeptctlError(f"{p}: not a run folder or a folder of runs")
    return found


def load_record(run_dir: Path) -> RunRecord:
    run = read_card(run_dir)
    if "dataset" not in run:
        raise SeptctlError(f"{run_dir / 'run.yaml'}: not a septctl run card; remove it from the report's inputs")
    config = run.get("config") or {}
    rec = RunRecord(run_dir, run.get("label", "?"), run["dataset"], int(config.get("seed") or 0),
                    int(run.get("fold") or 0), config=config, card=run.get("card") or {},
                    short_classes=(run.get("few_shot") or {}).get("short_classes") or {},
                    learning_warnings=[str(w) for w in run.get("learning_warnings") or []])
    for result in read_metrics(run_dir).values():  # checked: names, whole folds, accuracy in 0..100
        entry = {"dataset": result["dataset"], "fold": int(result.get("fold") or 0),
                 "classes": result["classes"], "accuracy": float(result["accuracy"])}
        rec.evaluations.append(entry)
        if entry["dataset"] == rec.dataset and entry["fold"] == rec.fold:
            rec.accuracy[entry["classes"]] = entry["accuracy"]
    return rec


def harmonic(b: float, n: float) -> float:
    return 2 * b * n / (b + n) if b + n else 0.0
