"""Run folders: where a run goes, what its files are called, and how its card and prompt are read back.

Train, eval, verify, plot and the grid read and write run folders through here, so the
layout, the file names and the metrics key are spelled out once (report/tables.py still
reads run.yaml and metrics.yaml by name).

The default folder tells every configuration apart: readable parts for what one browses by
(dataset, backbone, method, classes, shots, fold, seed) and the first 8 hex digits of the
config hash for everything else (lr, epochs, SEPT switches...), e.g.
runs/sesa/tiny/coop-sept/base/shots16/fold0/seed0-1a2b3c4d.
"""

from __future__ import annotations

import fcntl
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from septctl.artifacts import read_yaml, sha256_file, sha256_text, write_yaml
from septctl.data.layout import DatasetFolder, open_dataset
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
RUNS_ROOT = "runs"


def config_hash(cfg: TrainConfig) -> str:
    """sha256 of the training config minus the device (a run is the same run on CPU or GPU)."""
    d = cfg.as_dict()
    d.pop("device", None)
    return sha256_text(json.dumps(d, sort_keys=True, default=str))


def _layout_hash(cfg: TrainConfig) -> str:
    """8 hex digits of the config minus what the readable parts already say (seed, fold) and the device."""
    d = cfg.as_dict()
    for k in ("device", "seed", "fold"):
        d.pop(k, None)
    return sha256_text(json.dumps(d, sort_keys=True, default=str))[:8]


def method_folder(method: str, sept: bool) -> str:
    return method + ("-sept" if sept else "")


def default_run_dir(cfg: TrainConfig, dataset_name: str, fold: int | None, root: str | Path = RUNS_ROOT) -> Path:
    """runs/DATASET/BACKBONE/METHOD[-sept]/CLASSES/shotsK/foldF/seedS-HASH8: one folder per configuration."""
    return (Path(root) / dataset_name / cfg.backbone / method_folder(cfg.method, bool(cfg.sept)) / cfg.classes
            / f"shots{cfg.shots}" / f"fold{fold or 0}" / f"seed{cfg.seed}-{_layout_hash(cfg)}")


def zeroshot_run_dir(dataset_name: str, backbone: str, fold: int | None, root: str | Path = RUNS_ROOT) -> Path:
    return Path(root) / dataset_name / backbone / "zeroshot" / f"fold{fold or 0}"


def metrics_key(dataset_name: str, fold: int | None, classes: str) -> str:
    """The key of one evaluation in metrics.yaml."""
    return f"{dataset_name}/fold{fold or 0}/{classes}"


def read_metrics(run_dir: Path) -> dict[str, dict]:
    """metrics.yaml's evaluations (empty when the run has none yet)."""
    path = Path(run_dir) / METRICS_FILE
    return check_metrics(path, read_yaml(path, "metrics file")) if path.is_file() else {}


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


def run_config(run_dir: Path, run: dict) -> TrainConfig:
    """The TrainConfig a trained run was made with."""
    try:
        return TrainConfig.from_dict(run["config"])
    except (KeyError, TypeError) as exc:
        raise SeptctlError(f"{Path(run_dir) / RUN_FILE}: no usable training config ({exc}); rerun `septctl train`") from None


def open_run_dataset(run: dict, cfg: TrainConfig) -> DatasetFolder:
    """The run's training dataset: as configured from here, else by the absolute path the card recorded."""
    try:
        return open_dataset(cfg.dataset, cfg.data_root)
    except SeptctlError:
        recorded = run.get("dataset_path")
        if recorded and Path(recorded).is_dir():
            return open_dataset(recorded)
        raise


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
