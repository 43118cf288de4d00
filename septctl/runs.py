"""Run folders: where a run goes, what its files are called, and how its card and prompt are read back.

Train, eval, verify, plot and the grid read and write run folders through here, so the
layout, the file names and the metrics key are spelled out once (report/tables.py still
reads run.yaml and metrics.yaml by name).

The default folder tells every configuration apart: readable parts for what one browses by
(dataset, backbone, method, classes, shots, fold, seed) and the first 8 hex digits of the
config hash for everything else (lr, epochs, SEPT switches, which dataset...), e.g.
runs/sesa/tiny/coop-sept/base/shots16/fold0/seed0-1a2b3c4d.

A run's identity is its content, never a path's spelling: the config with the dataset named by
its registry name or real path, plus the dataset's real path and fingerprint and the sha256 of
the SEPT files (`run_identity`). `train words`, `train ./words/` and `train ../words` from
another folder are one run.
"""

from __future__ import annotations

import csv
import fcntl
import io
import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

from septctl.artifacts import read_yaml, sha256_file, sha256_text, write_text, write_yaml
from septctl.data.layout import DatasetFolder, open_dataset
from septctl.data.registry import find_dataset
from septctl.engine.compile import SETTINGS as COMPILE_SETTINGS
from septctl.engine.config import TrainConfig
from septctl.errors import SeptctlError, doing
from septctl.filecheck import check_metrics, mapping, whole
from septctl.methods.registry import METHODS

RUN_FILE = "run.yaml"
PROMPT_FILE = "prompt.safetensors"
STATE_FILE = "state.safetensors"
METRICS_FILE = "metrics.yaml"
LOCK_FILE = "run.lock"
SPLIT_FILE = "split.csv"
RUNS_ROOT = "runs"
# what a run folder holds before its run.yaml is written (an interrupted run), besides lock files (never written
# into); anything else is someone else's
UNFINISHED_FILES = {STATE_FILE}


def dataset_id(root: str | Path) -> str:
    """8 hex digits of a dataset folder's real path: tells apart two datasets whose folders share a name."""
    return sha256_text(os.path.realpath(root))[:8]


def dataset_label(dataset: str) -> str:
    """A dataset argument as a folder name: a registry name as itself, a folder as NAME-ID8 (two `ds` differ)."""
    path = Path(dataset).expanduser()
    if path.is_dir():
        return f"{path.resolve().name}-{dataset_id(path)}"
    info = find_dataset(dataset)
    return info.name if info else dataset


def canonical_config(cfg: TrainConfig, dataset: DatasetFolder) -> TrainConfig:
    """The config as a run stores it: the dataset by registry name or real path, the files it names by real path."""
    def real(path: str | None) -> str | None:
        return os.path.realpath(Path(path).expanduser()) if path else path

    given = Path(cfg.dataset).expanduser()
    name = real(cfg.dataset) if given.is_dir() else (dataset.info.name if dataset.info else cfg.dataset)
    sept = replace(cfg.sept, neighbors=real(cfg.sept.neighbors), margins=real(cfg.sept.margins)) if cfg.sept else None
    return replace(cfg, dataset=name, weights=real(cfg.weights), sept=sept)


def run_identity(cfg: TrainConfig, dataset: DatasetFolder) -> dict:
    """What the config's paths stand for, by content: the dataset's real path and fingerprint, its label order where
    it declares one (base/new follow it), the SEPT files' sha256."""
    identity = {"dataset_path": os.path.realpath(dataset.root), "dataset_fingerprint": dataset.fingerprint()}
    if dataset.class_order:
        identity["class_order"] = list(dataset.class_order)
    if cfg.sept:
        for key, path in (("neighbors_sha256", cfg.sept.neighbors), ("margins_sha256", cfg.sept.margins)):
            identity[key] = sha256_file(Path(path)) if Path(path).is_file() else None  # missing: refused when loaded
    return identity


def _digest(cfg: TrainConfig, identity: dict, drop: tuple[str, ...]) -> str:
    """sha256 of the config minus the device, where data is found (data_root, SEPT file paths) and `drop`, plus identity."""
    d = cfg.as_dict()
    for key in ("device", "data_root", *drop):
        d.pop(key, None)
    if d.get("sept"):
        d["sept"] = {k: v for k, v in d["sept"].items() if k not in ("neighbors", "margins")}
    return sha256_text(json.dumps({"config": d, "identity": identity}, sort_keys=True, default=str))


def config_hash(cfg: TrainConfig, identity: dict) -> str:
    """The run's identity as one sha256 (the same on CPU or GPU, whatever the paths were spelled as)."""
    return _digest(cfg, identity, ())


def legacy_config_hash(cfg: TrainConfig) -> str:
    """How septctl 0.x hashed a config (its literal strings): run folders made then are checked with it."""
    d = cfg.as_dict()
    d.pop("device", None)
    return sha256_text(json.dumps(d, sort_keys=True, default=str))


def method_folder(method: str, sept: bool) -> str:
    return method + ("-sept" if sept else "")


def default_run_dir(cfg: TrainConfig, identity: dict, dataset_name: str, fold: int | None,
                    root: str | Path = RUNS_ROOT) -> Path:
    """runs/DATASET/BACKBONE/METHOD[-sept]/CLASSES/shotsK/foldF/seedS-HASH8: one folder per configuration.

    HASH8 covers what the readable parts do not say, the dataset's identity included, so two
    datasets whose folders share a name never share a run folder.
    """
    return _folder(cfg, dataset_name, fold, _digest(cfg, identity, ("seed", "fold"))[:8], root)


def _folder(cfg: TrainConfig, dataset_name: str, fold: int | None, hash8: str, root: str | Path) -> Path:
    return (Path(root) / dataset_name / cfg.backbone / method_folder(cfg.method, bool(cfg.sept)) / cfg.classes
            / f"shots{cfg.shots}" / f"fold{fold or 0}" / f"seed{cfg.seed}-{hash8}")


def run_folder(out: Path | None, cfg: TrainConfig, given: TrainConfig, identity: dict, dataset_name: str,
               fold: int | None) -> Path:
    """`--out`, else the default folder; a complete run septctl 0.x made there for this config (as `given`) is reused.

    0.x named the folder by the hash of the literal config, so the same command finds its old run.
    """
    if out is not None:
        return Path(out)
    old = {k: v for k, v in given.as_dict().items() if k not in ("device", "seed", "fold")}
    legacy = _folder(cfg, dataset_name, fold, sha256_text(json.dumps(old, sort_keys=True, default=str))[:8], RUNS_ROOT)
    if (legacy / RUN_FILE).is_file() and read_card(legacy).get("config_sha256") == legacy_config_hash(given):
        return legacy
    return default_run_dir(cfg, identity, dataset_name, fold)


def zeroshot_run_dir(dataset: str, backbone: str, fold: int | None, root: str | Path = RUNS_ROOT) -> Path:
    """runs/LABEL/BACKBONE/zeroshot/foldF, LABEL from `dataset_label` (a dataset argument)."""
    return Path(root) / dataset_label(dataset) / backbone / "zeroshot" / f"fold{fold or 0}"


def metrics_key(dataset_name: str, dataset_path: str | Path, fold: int | None, classes: str) -> str:
    """The key of one evaluation in metrics.yaml: NAME@ID8/foldF/CLASSES (ID8: `dataset_id` of the folder)."""
    return f"{dataset_name}@{dataset_id(dataset_path)}/fold{fold or 0}/{classes}"


def read_metrics(run_dir: Path) -> dict[str, dict]:
    """metrics.yaml's evaluations (empty when the run has none yet), every key in today's form.

    Keys written before dataset ids (NAME/foldF/CLASSES) are read under the key their entry's
    recorded dataset_path gives; a newer entry for the same evaluation wins.
    """
    path = Path(run_dir) / METRICS_FILE
    entries = check_metrics(path, read_yaml(path, "metrics file")) if path.is_file() else {}
    current = {k: v for k, v in entries.items() if "@" in k or not v.get("dataset_path")}
    for key, entry in entries.items():
        if key not in current:
            current.setdefault(metrics_key(entry["dataset"], entry["dataset_path"], entry.get("fold"),
                                           entry["classes"]), entry)
    return current


def check_new_folder(folder: Path, flag: str, allowed: set[str] = UNFINISHED_FILES) -> None:
    """Refuse a folder septctl did not make: one that holds files (other than `allowed` and locks) and no run.yaml."""
    if str(folder) in ("", ".") and not (folder / RUN_FILE).is_file():
        raise SeptctlError(f"{flag} {str(folder)!r}: the working folder is not a run folder; name a new folder")
    if not folder.is_dir() or (folder / RUN_FILE).is_file():
        return
    foreign = sorted(p.name for p in folder.iterdir() if p.name not in allowed and not p.name.endswith(".lock"))
    if foreign:
        raise SeptctlError(f"{folder}: holds files septctl did not make ({foreign[0]}"
                           f"{f' and {len(foreign) - 1} more' if len(foreign) > 1 else ''}) and no {RUN_FILE}; "
                           f"choose a new or empty folder for {flag}")


def same_dataset(entry: dict, run: dict) -> bool:
    """Whether a metrics entry scored the run's own dataset: by recorded real path, by name where one lacks it."""
    if entry.get("dataset_path") and run.get("dataset_path"):
        return os.path.realpath(entry["dataset_path"]) == os.path.realpath(run["dataset_path"])
    return entry.get("dataset") == run.get("dataset")


def read_card(run_dir: str | Path) -> dict:
    """run.yaml, checked for shape (a mapping; seed and fold whole numbers), complete or not."""
    path = Path(run_dir) / RUN_FILE
    return _checked_card(path, read_yaml(path, "run card"))


def _checked_card(path: Path | str, data: Any) -> dict:
    """run.yaml: a mapping with a dataset name, an optional fold and a config whose seed is a whole number."""
    fix = "restore it from the run's backup or rerun `septctl train`"
    card = mapping(path, "the run card", data, fix)
    if "dataset" in card and not isinstance(card["dataset"], str):
        raise SeptctlError(f"{path}: dataset must be a name, not {card['dataset']!r}; {fix}")
    whole(path, "fold", card.get("fold"), fix, optional=True)
    compiled = card.get("compiled", False)  # verify --retrain trains with it
    if compiled is not False and compiled not in COMPILE_SETTINGS:
        raise SeptctlError(f"{path}: compiled must be false or a compile mode ({', '.join(COMPILE_SETTINGS)}), "
                           f"not {compiled!r}; {fix}")
    if "config" in card:
        config = mapping(path, "config", card["config"], fix)
        whole(path, "config.seed", config.get("seed"), fix, optional=True)
        for field in ("shots", "epochs"):
            whole(path, f"config.{field}", config.get(field), fix, optional=True)
        _check_method(path, config, fix)
    return card


def _check_method(path: Path | str, config: dict, fix: str) -> None:
    """A known method, and only options it declares: a misspelt key would otherwise be ignored for its default."""
    method = config.get("method")
    if method is None or method == "zeroshot":
        return
    if method not in METHODS:
        raise SeptctlError(f"{path}: config.method {method!r} is not one of {', '.join(METHODS)}; {fix}")
    options = mapping(path, "config.method_options", config.get("method_options", {}), fix)
    declared = [o.key for o in METHODS[method].options]
    for key in options:
        if key not in declared:
            raise SeptctlError(f"{path}: config.method_options.{key} is not an option of {method} "
                               f"(it takes {', '.join(declared) or 'none'}); {fix}")


def write_card(run_dir: Path, card: dict) -> None:
    write_yaml(Path(run_dir) / RUN_FILE, card)


def read_run(run_dir: str | Path) -> dict:
    """A complete run's card; refuses a missing, foreign or unfinished one with the fix."""
    path = Path(run_dir) / RUN_FILE
    run = read_card(run_dir)
    if run.get("status") != "complete" or not isinstance(run.get("config"), dict):
        raise SeptctlError(f"{path}: not a complete run; finish it with `septctl train` first")
    return run


def run_config(run_dir: Path, run: dict, check: bool = True) -> TrainConfig:
    """The TrainConfig a trained run was made with; `check`: refuse one edited since (its hash differs).

    Cards with an `identity` are hashed with it; older cards with the literal strings they were hashed by.
    """
    path = Path(run_dir) / RUN_FILE
    try:
        cfg = TrainConfig.from_dict(run["config"])
    except (KeyError, TypeError) as exc:
        raise SeptctlError(f"{path}: no usable training config ({exc}); rerun `septctl train`") from None
    if check and recorded_hash_differs(cfg, run):
        raise SeptctlError(f"{path}: config differs from the one the run was trained with (config_sha256 does not "
                           "match: edited by hand?); restore the file or retrain the run")
    return cfg


def recorded_hash_differs(cfg: TrainConfig, run: dict) -> bool:
    """True when the card's config_sha256 is not the hash of its config (cards without one pass)."""
    recorded = run.get("config_sha256")
    if not recorded:
        return False
    identity = run.get("identity")
    return recorded != (config_hash(cfg, identity) if isinstance(identity, dict) else legacy_config_hash(cfg))


def open_run_dataset(run: dict, cfg: TrainConfig) -> DatasetFolder:
    """The run's training dataset: at the real path its card recorded (whatever the working folder), else as configured.

    The path in `identity` (covered by config_sha256) comes first; the configured name or path is only a
    fallback for a dataset that moved, and `dataset_changes` then says whether its content is still the
    one the run was trained on.
    """
    identity = run.get("identity")
    recorded = (identity.get("dataset_path") if isinstance(identity, dict) else None) or run.get("dataset_path")
    if not (recorded and Path(recorded).is_dir()):
        return open_dataset(cfg.dataset, cfg.data_root)
    dataset = open_dataset(recorded)
    info = find_dataset(cfg.dataset)
    if info and not Path(cfg.dataset).expanduser().is_dir() and dataset.info != info:
        return DatasetFolder(dataset.root, info, dataset.csv_dir)
    return dataset


def write_split(run_dir: Path, dataset: DatasetFolder, fold: int | None) -> None:
    """split.csv: every file of the run's split (path, class, split, size, mtime), to name what changes later."""
    write_text(Path(run_dir) / SPLIT_FILE, dataset.split_record(fold))


def _split_rows(text: str) -> dict[str, tuple[str, ...]]:
    """path -> (class, split, size, mtime_ns) of a split record."""
    return {r["path"]: (r["classname"], r["split"], r["size"], r["mtime_ns"])
            for r in csv.DictReader(io.StringIO(text, newline=""))}


def dataset_changes(run_dir: str | Path, run: dict, dataset: DatasetFolder, fold: int | None) -> str | None:
    """What changed in a run's dataset since it was trained, in words (None: nothing).

    Runs with a split.csv name the files added, removed, moved between splits, relabelled or
    modified; older runs compare the card's dataset fingerprint and cannot name files. A label
    order (class_order.txt) other than the one the run recorded is a change too: base and new
    would be other classes.
    """
    said = [s for s in (_file_changes(run_dir, run, dataset, fold), _order_change(run, dataset)) if s]
    return "; ".join(said) or None


def _order_change(run: dict, dataset: DatasetFolder) -> str | None:
    trained = run.get("class_order")  # recorded only where base/new followed a label order
    now = list(dataset.class_order) if dataset.class_order else None
    if trained == now:
        return None
    return ("its label order (class_order.txt) is not the one the run was trained with, so base and new would be "
            "other classes; restore the file or retrain it")


def _file_changes(run_dir: str | Path, run: dict, dataset: DatasetFolder, fold: int | None) -> str | None:
    path = Path(run_dir) / SPLIT_FILE
    if not path.is_file():
        recorded = run.get("dataset_fingerprint")
        if recorded and recorded != dataset.fingerprint():
            return ("its files or split CSVs changed (the dataset fingerprint differs; this run predates "
                    f"{SPLIT_FILE}, so the files cannot be named); retrain it")
        return None
    current = dataset.split_record(fold)
    try:
        recorded = path.read_text(encoding="utf-8")
        if recorded == current:
            return None
        before = _split_rows(recorded)
    except (UnicodeDecodeError, KeyError, csv.Error):
        raise SeptctlError(f"{path}: not the split record septctl wrote (edited by hand?); retrain the run") from None
    now = _split_rows(current)
    kinds = {
        "added": [p for p in now if p not in before],
        "removed": [p for p in before if p not in now],
        "moved between splits": [f"{p} ({before[p][1]} -> {now[p][1]})" for p in before
                                 if p in now and before[p][1] != now[p][1]],
        "relabelled": [f"{p} ({before[p][0]} -> {now[p][0]})" for p in before if p in now and before[p][0] != now[p][0]],
        "modified (size or time)": [p for p in before if p in now and before[p][2:] != now[p][2:]],
    }
    said = [f"{len(v)} file{'s' if len(v) > 1 else ''} {k} (first: {v[0]})" for k, v in kinds.items() if v]
    return "; ".join(said) + "; retrain it" if said else None


def require_unchanged(run_dir: str | Path, run: dict, dataset: DatasetFolder, fold: int | None) -> None:
    """Refuse to use a run whose dataset changed since training (`eval` and `predict` call this), naming the change."""
    change = dataset_changes(run_dir, run, dataset, fold)
    if change:
        raise SeptctlError(f"{run_dir}: its dataset {dataset.root} changed since training: {change} "
                           "(`septctl train` makes a new run for the changed dataset) or restore the files")


def nonfinite(tensors: dict) -> list[str]:
    """Names of the tensors holding NaN or inf."""
    import torch

    return [k for k, v in tensors.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]


def check_prompt_sha256(run_dir: str | Path, run: dict) -> None:
    """Refuse a prompt.safetensors whose bytes are not the ones the card recorded (older cards record none)."""
    path = Path(run_dir) / PROMPT_FILE
    recorded = run.get("prompt_sha256")
    if recorded and sha256_file(path) != recorded:
        raise SeptctlError(f"{path}: sha256 differs from the one in {RUN_FILE} (the file was changed or replaced); "
                           f"retrain the run")


def load_prompt(run_dir: str | Path, run: dict, check_sha256: bool = True) -> tuple[dict, dict]:
    """prompt.safetensors, refused when it is not finite or (unless the caller checks it later) its sha256 differs.

    `eval` checks the sha256 after its own, more specific, checks of the tensors' metadata and shapes.
    """
    from septctl.artifacts import load_tensors

    path = Path(run_dir) / PROMPT_FILE
    tensors, meta = load_tensors(path, "prompt file")
    bad = nonfinite(tensors)
    if bad:
        raise SeptctlError(f"{path}: tensor {bad[0]!r} holds NaN or inf (the run diverged); retrain with a lower --lr")
    if check_sha256:
        check_prompt_sha256(run_dir, run)
    return tensors, meta


@contextmanager
def run_lock(run_dir: Path, echo: Callable[[str], None] = print) -> Iterator[None]:
    """Hold the run folder for one writer; a second process waits for it, then sees what the first left."""
    with doing("creating the run folder's lock file", run_dir / LOCK_FILE):
        run_dir.mkdir(parents=True, exist_ok=True)
        fh = open(run_dir / LOCK_FILE, "a")
    with fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            echo(f"{run_dir}: being written by another process; waiting for it")
            fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
