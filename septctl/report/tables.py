"""The base-to-new table from run folders: Base, New and H per dataset and method.

Accuracies are averaged over seeds and folds first; H = 2BN/(B+N) of those averages
(never the mean of per-run H). The average row averages B and N over datasets, then
takes H. Anything missing is listed, never silently dropped.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from statistics import mean, pstdev

from septctl.artifacts import read_yaml
from septctl.data.registry import find_dataset
from septctl.errors import SeptctlError

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
    run = read_yaml(run_dir / "run.yaml", "run card")
    if not isinstance(run, dict) or "dataset" not in run:
        raise SeptctlError(f"{run_dir / 'run.yaml'}: not a septctl run card; remove it from the report's inputs")
    config = run.get("config") or {}
    rec = RunRecord(run_dir, run.get("label", "?"), run["dataset"], int(config.get("seed", 0)),
                    int(run.get("fold") or 0), config=config)
    metrics = run_dir / "metrics.yaml"
    if metrics.is_file():
        for result in (read_yaml(metrics, "metrics file") or {}).get("evaluations", {}).values():
            try:
                entry = {"dataset": result["dataset"], "fold": int(result.get("fold") or 0),
                         "classes": result["classes"], "accuracy": float(result["accuracy"])}
            except (KeyError, TypeError, ValueError):
                raise SeptctlError(f"{metrics}: an evaluation lacks dataset/classes/accuracy; delete the file and "
                                   "rerun `septctl eval`") from None
            rec.evaluations.append(entry)
            if entry["dataset"] == rec.dataset and entry["fold"] == rec.fold:
                rec.accuracy[entry["classes"]] = entry["accuracy"]
    return rec


def harmonic(b: float, n: float) -> float:
    return 2 * b * n / (b + n) if b + n else 0.0


def base_to_new(records: list[RunRecord]) -> tuple[list[dict], list[str]]:
    """Rows (method, dataset, Base, New, H, spread, runs) and a list of what is missing."""
    missing: list[str] = []
    cells: dict[tuple[str, str], list[RunRecord]] = {}
    for r in records:
        cells.setdefault((r.label, r.dataset), []).append(r)
    seeds_by_dataset: dict[str, set[int]] = {}
    for r in records:
        if r.label != "zeroshot":
            seeds_by_dataset.setdefault(r.dataset, set()).add(r.seed)
    rows = []
    for (label, dataset), recs in sorted(cells.items()):
        for r in recs:
            for which in ("base", "new"):
                if which not in r.accuracy:
                    missing.append(f"{r.path}: no {which}-class evaluation (run `septctl eval {r.path} --classes {which}`)")
        info = find_dataset(dataset)
        folds_expected = set(range(1, info.folds + 1)) if info and info.folds > 1 else {0}
        folds_seen = {r.fold for r in recs}
        if folds_seen != folds_expected and folds_expected != {0}:
            absent = sorted(folds_expected - folds_seen)
            if absent:
                missing.append(f"{label} on {dataset}: folds {', '.join(map(str, absent))} have no run")
        if label != "zeroshot":
            absent_seeds = sorted(seeds_by_dataset.get(dataset, set()) - {r.seed for r in recs})
            if absent_seeds:
                missing.append(f"{label} on {dataset}: seeds {', '.join(map(str, absent_seeds))} have no run")
        base = [r.accuracy["base"] for r in recs if "base" in r.accuracy]
        new = [r.accuracy["new"] for r in recs if "new" in r.accuracy]
        if not base or not new:
            continue
        b, n = mean(base), mean(new)
        per_run_h = [harmonic(r.accuracy["base"], r.accuracy["new"]) for r in recs if {"base", "new"} <= r.accuracy.keys()]
        rows.append({"method": label, "dataset": dataset, "base": round(b, 2), "new": round(n, 2),
                     "h": round(harmonic(b, n), 2), "h_sd": round(pstdev(per_run_h), 2) if len(per_run_h) > 1 else 0.0,
                     "runs": len(recs)})
    by_method: dict[str, list[dict]] = {}
    for row in rows:
        by_method.setdefault(row["method"], []).append(row)
    for label, group in sorted(by_method.items()):
        if len(group) > 1:
            b, n = mean(g["base"] for g in group), mean(g["new"] for g in group)
            rows.append({"method": label, "dataset": f"Average ({len(group)})", "base": round(b, 2),
                         "new": round(n, 2), "h": round(harmonic(b, n), 2), "h_sd": None,
                         "runs": sum(g["runs"] for g in group)})
    return rows, missing


def render(rows: list[dict], missing: list[str], fmt: str) -> str:
    if fmt not in FORMATS:
        raise SeptctlError(f"--format {fmt!r}: choose one of {', '.join(FORMATS)}")
    if fmt == "json":
        return json.dumps({"rows": rows, "missing": missing}, indent=2)
    headers = ["Method", "Dataset", "Base", "New", "H", "H sd (runs)", "Runs"]
    table = [[r["method"], r["dataset"], r["base"], r["new"], r["h"], "" if r["h_sd"] is None else r["h_sd"],
              r["runs"]] for r in rows]
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(headers)
        w.writerows(table)
        return buf.getvalue()
    from tabulate import tabulate

    text = tabulate(table, headers, tablefmt="github" if fmt == "md" else "latex_booktabs", floatfmt=".2f")
    if missing:
        note = "\n".join(f"- {m}" for m in missing)
        text += f"\n\nMissing ({len(missing)}):\n{note}" if fmt == "md" else "\n% missing: " + "; ".join(missing)
    return text + "\n"
