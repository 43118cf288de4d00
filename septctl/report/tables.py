"""Run folders as records for the report: where runs are, and what each one measured.

The tables themselves are built in paper_tables.py.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from septctl.data.layout import DatasetFolder
from septctl.engine.health import diverged
from septctl.errors import SeptctlError
from septctl.runs import (dataset_changes, open_run_dataset, read_card, read_metrics, run_config,
                          same_dataset)

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
    diverged: str | None = None  # how its training loss rose (engine/health.py), or None
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
            found.extend(_runs_below(p))
        else:
            raise SeptctlError(f"{p}: not a run folder or a folder of runs")
    return found


def _runs_below(top: Path) -> list[Path]:
    """Folders under `top` holding a run.yaml, at any depth: a loop, not recursion (`rglob` raised
    RecursionError 1,000 folders down); each real folder once, so a symlink loop ends."""
    found, stack, seen = [], [top], set()
    while stack:
        folder = stack.pop()
        real = os.path.realpath(folder)
        if real in seen:
            continue
        seen.add(real)
        try:
            with os.scandir(folder) as entries:
                for entry in entries:
                    if entry.is_dir():
                        stack.append(Path(entry.path))
                    elif entry.name == "run.yaml" and entry.is_file():
                        found.append(folder)
        except OSError:  # an unreadable folder holds no run we could read (as rglob skipped it)
            continue
    return sorted(found)


def load_record(run_dir: Path) -> RunRecord:
    run = read_card(run_dir)
    if "dataset" not in run:
        raise SeptctlError(f"{run_dir / 'run.yaml'}: not a septctl run card; remove it from the report's inputs")
    config = run.get("config") or {}
    rec = RunRecord(run_dir, run.get("label", "?"), run["dataset"], int(config.get("seed") or 0),
                    int(run.get("fold") or 0), config=config, card=run.get("card") or {},
                    short_classes=(run.get("few_shot") or {}).get("short_classes") or {},
                    learning_warnings=[str(w) for w in run.get("learning_warnings") or []])
    losses, classes = run.get("losses"), run.get("classes")
    if isinstance(losses, list) and isinstance(classes, list):  # runs kept with --keep-diverged, or made before it
        found = diverged(losses, len(classes))
        rec.diverged = found.describe() if found else None
    for result in read_metrics(run_dir).values():  # checked: names, whole folds, accuracy in 0..100
        entry = {"dataset": result["dataset"], "fold": int(result.get("fold") or 0),
                 "classes": result["classes"], "accuracy": float(result["accuracy"])}
        rec.evaluations.append(entry)
        if same_dataset(result, run) and entry["fold"] == rec.fold:
            rec.accuracy[entry["classes"]] = entry["accuracy"]
    return rec


def changed_since_training(records: list[RunRecord]) -> list[str]:
    """One line per trained run whose dataset changed since training, naming the change (`eval` refuses such runs).

    Runs whose dataset is not here (results read on another machine) are counted in one line, not checked.
    """
    lines = []
    opened: dict[tuple, DatasetFolder | None] = {}
    absent = []
    for rec in records:
        if rec.train_classes is None:
            continue
        run = read_card(rec.path)
        try:
            cfg = run_config(rec.path, run)
            where = (run.get("dataset_path"), cfg.dataset, cfg.data_root)
            if where not in opened:
                try:
                    opened[where] = open_run_dataset(run, cfg)
                except SeptctlError:
                    opened[where] = None
            if opened[where] is None:
                absent.append(rec.path)
                continue
            change = dataset_changes(rec.path, run, opened[where], run.get("fold"))
        except SeptctlError as exc:
            change = f"cannot be checked ({exc})"
        if change:
            lines.append(f"{rec.path}: dataset changed since training: {change}")
    if absent:
        lines.append(f"{len(absent)} run(s) not checked for dataset changes: their dataset is not here "
                     f"(first: {absent[0]})")
    return lines


def harmonic(b: float, n: float) -> float:
    return 2 * b * n / (b + n) if b + n else 0.0
