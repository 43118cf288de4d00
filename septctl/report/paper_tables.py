"""The paper's result tables from run folders: Table 1 (base-to-new), 2 (cross-dataset),
3 (SEPT ablation) and 6 (shots).

Every cell and average follows one rule, the SEPT paper's (checked on all 9 rows of its
Table 1): per seed, Base and New are averaged over folds and H = 2BN/(B+N) of those; a
cell's H is the mean of its per-seed H; an average over datasets is the mean of the
per-dataset H (Base and New are plain means throughout). `h_of_means=True` gives the
CoCoOp convention instead: H of the seed-averaged (and dataset-averaged) Base and New.
The spread is the standard deviation over seeds of the per-seed H (or accuracy).
Whatever a complete grid would hold and the runs do not (a fold, a seed, an evaluation,
a whole cell) is listed in `missing`.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from statistics import mean, pstdev

from septctl.data.registry import find_dataset
from septctl.errors import SeptctlError
from septctl.methods.registry import METHODS
from septctl.report.tables import FORMATS, RunRecord, harmonic

PAPER_TABLES = ("b2n", "cross", "shots", "ablation")  # --table all
TABLES = (*PAPER_TABLES, "allclass")
METHOD_ORDER = ("zeroshot", *METHODS)  # the row order of every table
SWITCHES = ("intra", "intra_margin", "inter", "inter_margin")


@dataclass
class Table:
    """A long-form table: one entry per (row, column group), rendered wide for md/LaTeX."""

    name: str
    title: str
    row_headers: list[str]
    metrics: list[str]  # keys of each cell, e.g. base, new, h
    group_key: str  # what a column group is, in JSON: dataset, shots, pair
    cells: list[dict] = field(default_factory=list)  # {"row": [...], "group": str, metric: value, "sd": ..., ...}
    missing: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # how H was taken; classes with fewer files than shots (*)
    runs: list[Path] = field(default_factory=list)  # the run folders this table was made from (the rest: left_out)

    def groups(self) -> list[str]:
        return list(dict.fromkeys(c["group"] for c in self.cells))

    def rows(self) -> list[tuple]:
        return list(dict.fromkeys(tuple(c["row"]) for c in self.cells))


# ---- cells -------------------------------------------------------------------------------------------------------

def _seed_means(values: list[tuple[int, float]]) -> dict[int, float]:
    """seed -> mean over that seed's folds."""
    by_seed: dict[int, list[float]] = {}
    for seed, v in values:
        by_seed.setdefault(seed, []).append(v)
    return {s: mean(v) for s, v in sorted(by_seed.items())}


def combined_h(pairs: list[tuple[float, float]], hs: list[float], h_of_means: bool) -> float:
    """H over several seeds or datasets: the mean of their H (SEPT paper), or H of the mean B and N (CoCoOp)."""
    if h_of_means:
        return harmonic(mean(b for b, _ in pairs), mean(n for _, n in pairs))
    return mean(hs)


def scores_new(method: str) -> bool:
    """False for a method that cannot score classes it did not train on (the linear probe): New and H are "-"."""
    declared = METHODS.get(method)
    return declared is None or declared.unseen is not None


def _b2n_cell(recs: list[RunRecord], h_of_means: bool) -> dict | None:
    """Base, New, H of one (row, dataset) cell from its runs; None if no run has both evaluations."""
    if not scores_new(recs[0].method):
        base_only = _seed_means([(r.seed, r.accuracy["base"]) for r in recs if "base" in r.accuracy])
        return {"base": mean(base_only.values()), "new": None, "h": None, "sd": None, "seeds": len(base_only),
                "runs": len(recs), "per_seed": {}} if base_only else None
    done = [r for r in recs if {"base", "new"} <= r.accuracy.keys()]
    if not done:
        return None
    base = _seed_means([(r.seed, r.accuracy["base"]) for r in done])
    new = _seed_means([(r.seed, r.accuracy["new"]) for r in done])
    per_seed = {s: (base[s], new[s]) for s in base}
    per_seed_h = [harmonic(b, n) for b, n in per_seed.values()]
    return {"base": mean(base.values()), "new": mean(new.values()),
            "h": combined_h(list(per_seed.values()), per_seed_h, h_of_means),
            "sd": pstdev(per_seed_h) if len(per_seed_h) > 1 else None,
            "seeds": len(base), "runs": len(done), "per_seed": per_seed}


def _expected_folds(dataset: str, seen: set[int]) -> set[int]:
    info = find_dataset(dataset)
    if info is not None and info.folds > 1 and seen != {0}:
        return set(range(1, info.folds + 1))
    return seen


def _grid_gaps(what: str, recs: list[RunRecord], seeds: set[int], folds: set[int]) -> list[str]:
    """Seeds and folds a cell lacks, e.g. 'coop on esc50: seed 2 has no run on fold 3'."""
    have = {(r.seed, r.fold) for r in recs}
    gaps = []
    for seed in sorted(seeds):
        who = "it" if all(r.method == "zeroshot" for r in recs) else f"seed {seed}"
        absent = sorted(f for f in folds if (seed, f) not in have)
        if absent == sorted(folds) and absent:
            gaps.append(f"{what}: {who} has no run")
        elif absent:
            gaps.append(f"{what}: {who} has no run on fold(s) {', '.join(map(str, absent))}")
    return gaps


def _eval_gaps(recs: list[RunRecord], needed: tuple[str, ...]) -> list[str]:
    return [f"{r.path}: no {which}-class evaluation (run `septctl eval {r.path} --classes {which}`)"
            for r in recs for which in needed if which not in r.accuracy]


def _row_sort_key(label: str) -> tuple:
    method = label.split(" ")[0]
    rank = METHOD_ORDER.index(method) if method in METHOD_ORDER else len(METHOD_ORDER)
    return (rank, method, label)


def row_label(rec: RunRecord) -> str:
    """The method row of Tables 1, 2 and 6: "coop", "coop + SEPT", "coop + SEPT (λ=1)"."""
    if rec.method == "zeroshot":
        return "zeroshot"
    sept = rec.sept
    if not sept:
        return rec.method
    lam = float(sept.get("lam", 3.0))
    return f"{rec.method} + SEPT" + ("" if lam == 3.0 else f" (λ={lam:g})")


def _full_sept(rec: RunRecord) -> bool:
    """Plain baselines and SEPT with every term and margin on: the rows of Tables 1, 2 and 6."""
    sept = rec.sept
    return not sept or all(sept.get(k, True) for k in SWITCHES)


# ---- settings: what tells two runs' results apart ---------------------------------------------------------------

NOT_A_SETTING = {"seed", "fold", "device", "data_root", "dataset", "sept.neighbors", "sept.margins"}
PER_DATASET = ("neighbors_sha256", "margins_sha256")  # card hashes of the SEPT files: they differ by dataset


def _flat(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict) and v:
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def setting(rec: RunRecord) -> dict:
    """Everything in run.yaml's config that changes a result (defaults filled in), plus the SEPT files' hashes."""
    from septctl.engine.config import SeptOptions, TrainConfig

    config = dict(rec.config)
    if rec.method != "zeroshot":
        config = {**TrainConfig(dataset="").as_dict(), **config}
        if config.get("sept"):
            config["sept"] = {**asdict(SeptOptions(neighbors="", margins="")), **config["sept"]}
    flat = {k: v for k, v in _flat(config).items() if k not in NOT_A_SETTING}
    flat.update({k: rec.card[k] for k in PER_DATASET if rec.card.get(k)})
    return flat


def _show(key: str, value: object) -> str:
    name = key.removeprefix("sept.")
    return f"{name}={str(value)[:8] if key in PER_DATASET else value}"


def labeller(pool: list[RunRecord], base_row: Callable[[RunRecord], str],
             column: Callable[[RunRecord], object] = lambda r: None) -> Callable[[RunRecord], str]:
    """rec -> its row label: `base_row` plus, where runs of one row and column differ in a
    setting, that setting ("coop (epochs=5)" vs "coop (epochs=50)").

    Refuses two runs of one (setting, dataset, seed, fold), naming both.
    """
    settings = {id(r): setting(r) for r in pool}
    seen: dict[tuple, RunRecord] = {}
    for r in pool:
        key = (r.dataset, r.seed, r.fold, tuple(sorted((k, repr(v)) for k, v in settings[id(r)].items())))
        if key in seen:
            raise SeptctlError(f"{seen[key].path} and {r.path}: two runs of one setting, seed {r.seed} and fold "
                               f"{r.fold}; remove one from the report's inputs")
        seen[key] = r
    buckets: dict[tuple, list[dict]] = {}
    for r in pool:
        buckets.setdefault((base_row(r), column(r)), []).append(settings[id(r)])
        buckets.setdefault((base_row(r), column(r), r.dataset), []).append(settings[id(r)])
    differing: dict[str, set[str]] = {}  # base row -> the settings its runs differ in
    for where, group in buckets.items():  # SEPT file hashes compare within a dataset, the rest across datasets
        for k in set().union(*group):
            if (k in PER_DATASET) == (len(where) == 3) and len({repr(s.get(k)) for s in group}) > 1:
                differing.setdefault(where[0], set()).add(k)

    def label(r: RunRecord) -> str:
        base = base_row(r)
        shown = [_show(k, settings[id(r)].get(k)) for k in sorted(differing.get(base, ()))]
        return f"{base} ({', '.join(shown)})" if shown else base

    return label


def _short_notes(what: str, recs: list[RunRecord]) -> list[str]:
    """One line per cell whose runs had classes short of --shots (the * on its cells), e.g.
    "* coop on sesa: fewer files than 16 shots: 'gunshot' 9 (fold 1)"."""
    short = sorted({(r.fold, c, n, r.shots) for r in recs for c, n in r.short_classes.items()})
    if not short:
        return []
    shots = "/".join(sorted({str(s) for *_, s in short}, key=int))
    return [f"* {what}: fewer files than {shots} shots: "
            + ", ".join(f"{c!r} {n}" + (f" (fold {f})" if f else "") for f, c, n, _ in short)]


def _learning_notes(what: str, recs: list[RunRecord]) -> list[str]:
    """One line per sign that a run of the cell learned nothing (the ! on its cells), e.g.
    "! coop on sesa: seed 0: final training loss 2.31 is above chance (ln 5 = 1.61) ..."."""
    return [f"! {what}: seed {r.seed}" + (f" fold {r.fold}" if r.fold else "") + f": {w}"
            for r in sorted(recs, key=lambda r: (r.seed, r.fold)) for w in r.learning_warnings]


def _b2n_cells(records: list[RunRecord], row_of: Callable[[RunRecord], str], group_of: Callable[[RunRecord], str],
               table: Table, full_cross: bool,
               h_of_means: bool) -> dict:
    """(row, group, dataset) -> cell over base-class runs; gaps go to table.missing.

    Expected cells: every row x every (group, dataset) pair seen, or with `full_cross`
    every row x group x dataset (a shot count or ablation row not run on some dataset).
    """
    by_cell: dict[tuple, list[RunRecord]] = {}
    for r in records:
        by_cell.setdefault((row_of(r), group_of(r), r.dataset), []).append(r)
    rows = sorted({k[0] for k in by_cell}, key=_row_sort_key)
    pairs = sorted({(k[1], k[2]) for k in by_cell})
    if full_cross:
        pairs = [(g, d) for g in sorted({p[0] for p in pairs}) for d in sorted({p[1] for p in pairs})]
    folds_seen: dict[str, set[int]] = {}
    for r in records:
        folds_seen.setdefault(r.dataset, set()).add(r.fold)
    seeds = _trained_seeds(records)
    out: dict[tuple, dict] = {}
    for row in rows:
        for group, dataset in pairs:
            recs = by_cell.get((row, group, dataset), [])
            what = f"{row} on {dataset}" + (f" ({group})" if group != dataset else "")
            if not recs:
                table.missing.append(f"{what}: no runs")
                continue
            folds = _expected_folds(dataset, folds_seen[dataset])
            zeroshot = all(r.method == "zeroshot" for r in recs)
            table.missing += _grid_gaps(what, recs, {0} if zeroshot else seeds, folds)
            table.missing += _eval_gaps(recs, ("base", "new") if scores_new(recs[0].method) else ("base",))
            cell = _b2n_cell(recs, h_of_means)
            if cell:
                table.notes += (short := _short_notes(what, recs))
                table.notes += (nothing := _learning_notes(what, recs))
                out[(row, group, dataset)] = {**cell, "short": bool(short), "learned_nothing": bool(nothing)}
    return out


def average_cell(cells: list[dict], h_of_means: bool = False) -> dict:
    """A row's average over datasets, by the same rule as a cell's average over seeds.

    Its spread is over seeds of the per-seed average, when every dataset has the same seeds.
    """
    if any(c["new"] is None for c in cells):  # a method that scores no new class: Base only
        return {"base": mean(c["base"] for c in cells), "new": None, "h": None, "sd": None, "datasets": len(cells),
                "runs": sum(c.get("runs", 0) for c in cells), "short": any(c.get("short") for c in cells)}
    pairs = [(c["base"], c["new"]) for c in cells]
    avg = {"base": mean(b for b, _ in pairs), "new": mean(n for _, n in pairs),
           "h": combined_h(pairs, [c["h"] for c in cells], h_of_means), "sd": None, "datasets": len(cells),
           "runs": sum(c.get("runs", 0) for c in cells), "short": any(c.get("short") for c in cells),
           "learned_nothing": any(c.get("learned_nothing") for c in cells)}
    seed_sets = {tuple(c.get("per_seed", {})) for c in cells}
    if len(seed_sets) == 1 and len(seeds := next(iter(seed_sets))) > 1:
        per_seed = [[c["per_seed"][s] for c in cells] for s in seeds]
        avg["sd"] = pstdev(combined_h(p, [harmonic(b, n) for b, n in p], h_of_means) for p in per_seed)
    return avg


def _trained_seeds(records: list[RunRecord]) -> set[int]:
    return {r.seed for r in records if r.method != "zeroshot"}


# ---- the four tables ---------------------------------------------------------------------------------------------

def _largest_shots(records: list[RunRecord]) -> int:
    """Tables 1 and 3 default to the largest shot count run (16 in the paper's grid)."""
    counts = {r.shots for r in records if r.train_classes == "base" and r.shots}
    return max(counts) if counts else 16


H_RULES = {False: "H: per seed, of the fold-averaged Base and New; then the mean over seeds, and over datasets "
                  "for an average (the SEPT paper's reading)",
           True: "H: of the seed-averaged Base and New, and of the dataset-averaged ones for an average "
                 "(the CoCoOp convention, --h-of-means)"}


def _shots_text(pool: list[RunRecord]) -> str:
    """The shot counts the runs used, e.g. "16-shot"; a * where some class had fewer files."""
    counts = sorted({r.shots for r in pool if r.method != "zeroshot" and r.shots})
    short = "*" if any(r.short_classes for r in pool) else ""
    return "/".join(map(str, counts)) + f"-shot{short}" if counts else "zero-shot"



def base_to_new_table(records: list[RunRecord], shots: int | None = None, h_of_means: bool = False) -> Table:
    """Table 1: Base / New / H per dataset and method, then the average over datasets (when several)."""
    shots = shots or _largest_shots(records)
    pool = [r for r in records if r.method == "zeroshot" or
            (r.train_classes == "base" and r.shots == shots and _full_sept(r))]
    table = Table("b2n", f"Base-to-new generalization ({_shots_text(pool)})", ["Method"], ["base", "new", "h"],
                  "dataset")
    table.runs = [r.path for r in pool]
    table.notes.append(H_RULES[h_of_means])
    cells = _b2n_cells(pool, labeller(pool, row_label), lambda r: r.dataset, table, False, h_of_means)
    labels = sorted({k[0] for k in cells}, key=_row_sort_key)
    datasets = sorted({k[2] for k in cells})
    for label in labels:
        for dataset in datasets:
            if (label, dataset, dataset) in cells:
                table.cells.append({"row": [label], "group": dataset, **cells[(label, dataset, dataset)]})
    for label in labels if len(datasets) > 1 else []:  # one dataset: its own columns say it all
        got = [cells[(label, d, d)] for d in datasets if (label, d, d) in cells]
        if got:
            table.cells.append({"row": [label], "group": f"Average ({len(got)})", **average_cell(got, h_of_means)})
    return table


def shots_table(records: list[RunRecord], h_of_means: bool = False) -> Table:
    """Table 6: Base / New / H averaged over datasets, per shot count and method."""
    pool = [r for r in records if r.train_classes == "base" and r.shots and _full_sept(r)]
    table = Table("shots", "Shots per class (averaged over datasets)", ["Method"], ["base", "new", "h"], "shots")
    table.runs = [r.path for r in pool]
    table.notes.append(H_RULES[h_of_means])
    group = lambda r: f"{r.shots}-shot"  # noqa: E731
    cells = _b2n_cells(pool, labeller(pool, row_label, group), group, table, True, h_of_means)
    labels = sorted({k[0] for k in cells}, key=_row_sort_key)
    groups = sorted({k[1] for k in cells}, key=lambda g: int(g.split("-")[0]))
    datasets = sorted({k[2] for k in cells})
    for label in labels:
        for group in groups:
            got = [cells[(label, group, d)] for d in datasets if (label, group, d) in cells]
            if got:
                table.cells.append({"row": [label], "group": group, **average_cell(got, h_of_means)})
    return table


def _switches(rec: RunRecord) -> tuple[bool, bool, bool, bool]:
    """(L_intra, m_intra, L_inter, m_inter) as Table 3 marks them; a margin counts only with its term."""
    sept = rec.sept
    if not sept:
        return (False, False, False, False)
    intra, inter = bool(sept.get("intra", True)), bool(sept.get("inter", True))
    return (intra, intra and bool(sept.get("intra_margin", True)), inter, inter and bool(sept.get("inter_margin", True)))


ABLATION_ORDER = [(False, False, False, False), (True, False, False, False), (True, True, False, False),
                  (False, False, True, False), (False, False, True, True), (True, False, True, False),
                  (True, True, True, True)]


def ablation_table(records: list[RunRecord], method: str = "coop", shots: int | None = None,
                   h_of_means: bool = False) -> Table:
    """Table 3: which SEPT terms and margins are on, Base / New / H averaged over datasets.

    Runs that differ in another setting (e.g. epochs) get their own column group, "coop (epochs=5)".
    """
    shots = shots or _largest_shots(records)
    pool = [r for r in records if r.method == method and r.train_classes == "base" and r.shots == shots
            and float((r.sept or {}).get("lam", 3.0)) == 3.0]
    table = Table("ablation", f"SEPT ablation on {method} ({_shots_text(pool)}, averaged over datasets)",
                  ["#", "L_intra", "m_intra", "L_inter", "m_inter"], ["base", "new", "h"], "datasets")
    table.runs = [r.path for r in pool]
    table.notes.append(H_RULES[h_of_means])
    cells = _b2n_cells(pool, labeller(pool, lambda r: method, _switch_key), _switch_key, table, True, h_of_means)
    keys = sorted({k[1] for k in cells}, key=lambda g: _ablation_rank(g))
    datasets = sorted({k[2] for k in cells})
    for label in sorted({k[0] for k in cells}):
        for key in keys:
            got = [c for (lab, g, d), c in cells.items() if g == key and lab == label]
            if got:
                group = f"Average ({len(datasets)})" if label == method else f"{label} Average ({len(datasets)})"
                table.cells.append({"row": [str(_ablation_rank(key) + 1), *_key_flags(key)], "group": group,
                                    **average_cell(got, h_of_means)})
    return table


SWITCH_NAMES = ("L_intra", "m_intra", "L_inter", "m_inter")


def _switch_key(rec: RunRecord) -> str:
    """A readable ablation row key, e.g. "L_intra+m_intra" or "no SEPT"."""
    on = [name for name, flag in zip(SWITCH_NAMES, _switches(rec)) if flag]
    return "+".join(on) if on else "no SEPT"


def _key_flags(key: str) -> tuple[bool, ...]:
    return tuple(name in key.split("+") for name in SWITCH_NAMES)


def _ablation_rank(key: str) -> int:
    flags = _key_flags(key)
    return ABLATION_ORDER.index(flags) if flags in ABLATION_ORDER else len(ABLATION_ORDER)


def cross_dataset_table(records: list[RunRecord]) -> Table:
    """Table 2: accuracy on the source's test split and on each target, for runs trained on all source classes."""
    pool = [r for r in records if r.train_classes == "all" and _full_sept(r)]
    table = Table("cross", f"Cross-dataset transfer (accuracy, {_shots_text(pool)})", ["Method"],
                  ["source", "target"], "pair")
    table.runs = [r.path for r in pool]
    row_of = labeller(pool, row_label)
    seeds = _trained_seeds(pool)
    pairs: dict[tuple[str, str], dict[str, list[RunRecord]]] = {}
    for r in pool:
        targets = {e["dataset"] for e in r.evaluations if e["classes"] == "all" and e["dataset"] != r.dataset}
        if "all" not in r.accuracy:
            table.missing.append(f"{r.path}: no source evaluation (run `septctl eval {r.path} --classes all`)")
        if not targets:
            table.missing.append(f"{r.path}: no target evaluation "
                                 f"(run `septctl eval {r.path} --dataset TARGET --classes all`)")
        for t in targets or {"?"}:
            pairs.setdefault((r.dataset, t), {}).setdefault(row_of(r), []).append(r)
    labels = sorted({lab for per in pairs.values() for lab in per}, key=_row_sort_key)
    for (source, target), per_label in sorted(pairs.items()):
        if target == "?":
            continue
        group = f"{source} -> {target}"
        folds = _expected_folds(source, {r.fold for recs in per_label.values() for r in recs})
        for label in labels:
            recs = per_label.get(label, [])
            if not recs:
                table.missing.append(f"{label} on {group}: no runs")
                continue
            table.missing += _grid_gaps(f"{label} on {group}", recs, seeds, folds)
            src = _seed_means([(r.seed, r.accuracy["all"]) for r in recs if "all" in r.accuracy])
            tgt = _seed_means([(r.seed, e["accuracy"]) for r in recs for e in r.evaluations
                               if e["dataset"] == target and e["classes"] == "all"])
            if not src or not tgt:
                continue
            table.notes += (short := _short_notes(f"{label} on {source}", recs))
            table.notes += (nothing := _learning_notes(f"{label} on {source}", recs))
            table.cells.append({"row": [label], "group": group, "source": mean(src.values()),
                                "target": mean(tgt.values()),
                                "sd": pstdev(tgt.values()) if len(tgt) > 1 else None,
                                "seeds": len(tgt), "runs": len(recs), "short": bool(short),
                                "learned_nothing": bool(nothing)})
    return table


def allclass_table(records: list[RunRecord], shots: int | None = None) -> Table:
    """PALM's table: accuracy with every class trained and tested, per dataset, and the plain mean over datasets.

    A cell is the mean over seeds of the fold-averaged accuracy, ± its spread over seeds (as
    PALM's logs average folds per seed, then seeds). Zero-shot rows are its all-class evaluations.
    """
    shots = shots or max({r.shots for r in records if r.train_classes == "all" and r.shots} or {16})
    pool = [r for r in records if (r.method == "zeroshot" and "all" in r.accuracy)
            or (r.train_classes == "all" and r.shots == shots and _full_sept(r))]
    table = Table("allclass", f"All classes trained and tested (accuracy, {_shots_text(pool)})", ["Method"], ["acc"],
                  "dataset")
    table.notes.append("Accuracy: per seed, the mean over folds; a cell, the mean over seeds ± their spread; "
                       "the average, the plain mean over datasets (PALM's).")
    row_of = labeller(pool, row_label)
    by_cell: dict[tuple[str, str], list[RunRecord]] = {}
    for r in pool:
        by_cell.setdefault((row_of(r), r.dataset), []).append(r)
    labels = sorted({k[0] for k in by_cell}, key=_row_sort_key)
    datasets = sorted({k[1] for k in by_cell})
    seeds = _trained_seeds(pool)
    per_row: dict[str, list[dict]] = {}
    for label in labels:
        for dataset in datasets:
            recs = by_cell.get((label, dataset), [])
            what = f"{label} on {dataset}"
            if not recs:
                table.missing.append(f"{what}: no runs")
                continue
            zeroshot = all(r.method == "zeroshot" for r in recs)
            folds = _expected_folds(dataset, {r.fold for r in pool if r.dataset == dataset})
            table.missing += _grid_gaps(what, recs, {0} if zeroshot else seeds, folds)
            table.missing += _eval_gaps(recs, ("all",))
            per_seed = _seed_means([(r.seed, r.accuracy["all"]) for r in recs if "all" in r.accuracy])
            if not per_seed:
                continue
            table.notes += (short := _short_notes(what, recs))
            cell = {"acc": mean(per_seed.values()), "sd": pstdev(per_seed.values()) if len(per_seed) > 1 else None,
                    "seeds": len(per_seed), "runs": len(recs), "short": bool(short), "per_seed": per_seed}
            table.cells.append({"row": [label], "group": dataset, **cell})
            per_row.setdefault(label, []).append(cell)
    for label, got in per_row.items() if len(datasets) > 1 else ():
        avg = {"acc": mean(c["acc"] for c in got), "sd": None, "datasets": len(got),
               "runs": sum(c["runs"] for c in got), "short": any(c["short"] for c in got)}
        seed_sets = {tuple(c["per_seed"]) for c in got}
        if len(seed_sets) == 1 and len(common := next(iter(seed_sets))) > 1:
            avg["sd"] = pstdev(mean(c["per_seed"][s] for c in got) for s in common)
        table.cells.append({"row": [label], "group": f"Average ({len(got)})", **avg})
    return table


def published_table(name: str, covered: set[str]) -> Table:
    """A comparison's published numbers as a table of their own (report --compare), labelled as published."""
    from septctl.report.published import COMPARISONS, palm_cells

    if name not in COMPARISONS:
        raise SeptctlError(f"--compare {name!r}: choose one of {', '.join(COMPARISONS)}")
    cells, notes = palm_cells(covered)
    return Table(f"{name}-published", "PALM's published numbers (not septctl's runs)", ["Method (published)"],
                 ["acc"], "dataset", cells=cells, notes=notes)


def build_tables(records: list[RunRecord], which: str = "all", shots: int | None = None,
                 h_of_means: bool = False, compare: str | None = None) -> list[Table]:
    """The tables named by `which` (all: the paper's four); `h_of_means` switches H to the CoCoOp convention
    (module docstring); `compare` adds a block of published numbers after them."""
    if which not in (*TABLES, "all"):
        raise SeptctlError(f"--table {which!r}: choose one of {', '.join(TABLES)} or all")
    makers = {"b2n": lambda: base_to_new_table(records, shots, h_of_means),
              "cross": lambda: cross_dataset_table(records),
              "shots": lambda: shots_table(records, h_of_means),
              "ablation": lambda: ablation_table(records, shots=shots, h_of_means=h_of_means),
              "allclass": lambda: allclass_table(records, shots)}
    tables = [makers[name]() for name in (PAPER_TABLES if which == "all" else (which,))]
    if compare:
        tables.append(published_table(compare, {g for t in tables for g in t.groups()}))
    return tables


def left_out(records: list[RunRecord], tables: list[Table]) -> list[str]:
    """One line per kind of run that none of `tables` shows, naming the runs and the option that shows them
    (a report never leaves runs out without a word)."""
    shown = {p for t in tables for p in t.runs}
    shown_shots = {r.shots for r in records if r.path in shown}
    groups: dict[tuple[str, str], list[RunRecord]] = {}
    for r in records:
        if r.path not in shown:
            groups.setdefault(_shown_by(r, shown_shots), []).append(r)
    lines = []
    for (what, option), recs in sorted(groups.items()):
        names = ", ".join(str(r.path) for r in recs[:3]) + (f" and {len(recs) - 3} more" if len(recs) > 3 else "")
        lines.append(f"left out {_count_runs(len(recs))} ({what}): {names}; {option} shows them")
    return lines


def _count_runs(n: int) -> str:
    return "1 run" if n == 1 else f"{n} runs"


def _shown_by(rec: RunRecord, shown_shots: set) -> tuple[str, str]:
    """(what kind of run, the report option whose table shows it)."""
    if rec.method == "zeroshot":
        return "zero-shot", "--table b2n"
    if rec.train_classes == "all":
        return "trained on all classes", "--table cross"
    if rec.train_classes == "base" and not _full_sept(rec):
        return "SEPT with terms switched off", "--table ablation"
    if rec.train_classes == "base" and rec.shots and rec.shots not in shown_shots:
        return f"{rec.shots}-shot", f"--shots {rec.shots} (or --table shots)"
    if rec.train_classes == "base":
        return f"{rec.method}, base classes", "--table b2n"
    return "not of any table's kind", "--table all"


# ---- rendering ---------------------------------------------------------------------------------------------------

METRIC_NAMES = {"base": "Base", "new": "New", "h": "H", "source": "Source", "target": "Target", "acc": "Acc"}
SPREAD_METRIC = {"h": "h", "target": "target", "acc": "acc"}  # the metric whose cells carry the per-seed spread


def _fmt(cell: dict | None, metric: str, latex: bool) -> str:
    if cell is None:
        return "-" if not latex else "--"
    if cell[metric] is None:  # a result the method cannot give (the linear probe's New)
        return "—" if not latex else "---"
    text = f"{cell[metric]:.2f}"
    if metric in SPREAD_METRIC and cell.get("sd") is not None:
        text += f" $\\pm$ {cell['sd']:.2f}" if latex else f" ±{cell['sd']:.2f}"
    if metric in SPREAD_METRIC and cell.get("short"):
        text += "*"  # some class had fewer files than shots: see the table's notes
    if metric in SPREAD_METRIC and cell.get("learned_nothing"):
        text += "!"  # a run of the cell learned nothing: see the table's notes
    return text


def _row_text(value: object, latex: bool) -> str:
    if isinstance(value, bool):
        return ("\\checkmark" if latex else "✓") if value else ""
    return str(value).replace("_", "\\_") if latex else str(value)


def _wide(table: Table, groups: list[str], latex: bool) -> tuple[list[str], list[list[str]]]:
    index = {(tuple(c["row"]), c["group"]): c for c in table.cells}
    headers = [(_row_text(h, latex)) for h in table.row_headers]
    headers += [f"{g} {METRIC_NAMES[m]}" for g in groups for m in table.metrics]
    body = [[_row_text(v, latex) for v in row] + [_fmt(index.get((row, g)), m, latex) for g in groups
                                                 for m in table.metrics] for row in table.rows()]
    return headers, body


def _chunks(groups: list[str], size: int) -> list[list[str]]:
    return [groups[i : i + size] for i in range(0, len(groups), size)] or [[]]


def _markdown(table: Table, per_block: int) -> str:
    from tabulate import tabulate

    parts = [f"## {table.title}"]
    for block in _chunks(table.groups(), per_block):
        headers, body = _wide(table, block, latex=False)
        parts.append(tabulate(body, headers, tablefmt="github", disable_numparse=True))
    if table.notes:
        parts.append("\n".join(f"- {n}" for n in table.notes))
    if table.missing:
        parts.append(f"Missing ({len(table.missing)}):\n" + "\n".join(f"- {m}" for m in table.missing))
    return "\n\n".join(parts) + "\n"


def _latex(table: Table, per_block: int) -> str:
    parts = [f"% {table.title}"]
    width = len(table.metrics)
    for block in _chunks(table.groups(), per_block):
        headers, body = _wide(table, block, latex=True)
        cols = "l" * len(table.row_headers) + "|" + "|".join("c" * width for _ in block)
        top = " & ".join([""] * len(table.row_headers) + [f"\\multicolumn{{{width}}}{{c}}{{{_row_text(g, True)}}}"
                                                          for g in block])
        sub = " & ".join(table.row_headers + [METRIC_NAMES[m] for _ in block for m in table.metrics])
        lines = [f"\\begin{{tabular}}{{{cols}}}", "\\toprule", top + " \\\\", sub + " \\\\", "\\midrule"]
        lines += [" & ".join(r) + " \\\\" for r in body]
        lines += ["\\bottomrule", "\\end{tabular}"]
        parts.append("\n".join(lines))
    if table.notes:
        parts.append("\n".join(f"% {n}" for n in table.notes))
    if table.missing:
        parts.append("\n".join(f"% missing: {m}" for m in table.missing))
    return "\n\n".join(parts) + "\n"


def _csv(tables: list[Table]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["table", "row", "group", "metric", "value", "sd", "seeds", "runs", "short_classes"])
    for t in tables:
        for c in t.cells:
            for m in t.metrics:
                w.writerow([t.name, " | ".join(_row_text(v, False) or "-" for v in c["row"]), c["group"], m,
                            "" if c[m] is None else f"{c[m]:.4f}", "" if c.get("sd") is None or m not in SPREAD_METRIC else f"{c['sd']:.4f}",
                            c.get("seeds", ""), c.get("runs", ""), int(bool(c.get("short")))])
    return buf.getvalue()


def _json_key(header: str) -> str:
    return "row" if header == "#" else header.lower()


def json_rows(table: Table) -> list[dict]:
    """Long-form rows: the row headers by name, the group, each metric, the spread, seeds and runs."""
    spread = next(m for m in table.metrics if m in SPREAD_METRIC)
    rows = []
    for c in table.cells:
        row = {_json_key(h): v for h, v in zip(table.row_headers, c["row"])}
        row[table.group_key] = c["group"]
        row.update({m: None if c[m] is None else round(c[m], 2) for m in table.metrics})
        row[f"{spread}_sd"] = None if c.get("sd") is None else round(c["sd"], 2)
        row.update({k: c[k] for k in ("seeds", "datasets", "runs") if k in c})
        row["short_classes"] = bool(c.get("short"))
        rows.append(row)
    return rows


def render_tables(tables: list[Table], fmt: str, per_block: int = 4) -> str:
    if fmt not in FORMATS:
        raise SeptctlError(f"--format {fmt!r}: choose one of {', '.join(FORMATS)}")
    if fmt == "json":
        blocks = {t.name: {"title": t.title, "rows": json_rows(t), "notes": t.notes, "missing": t.missing}
                  for t in tables}
        return json.dumps(next(iter(blocks.values())) if len(blocks) == 1 else blocks, indent=2,
                          ensure_ascii=False) + "\n"
    if fmt == "csv":
        return _csv(tables)
    render = _markdown if fmt == "md" else _latex
    return "\n".join(render(t, per_block) for t in tables)
