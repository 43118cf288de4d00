"""Evaluation: rebuild the class prompts for the evaluated names, score cached test embeddings.

Base and new classes are separate K-way problems (CoCoOp's protocol). Results go to
the run folder's metrics.yaml, one entry per (dataset identity, fold, classes); an evaluation
never replaces another model's or another dataset's entry.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from septctl.artifacts import file_lock, provenance, write_yaml
from septctl.backbones import load_backbone
from septctl.backbones.base import Backbone
from septctl.data.layout import DatasetFolder, open_dataset
from septctl.data.registry import find_dataset
from septctl.data.schema import select_classes
from septctl.embed import embed_dataset, require_same_modality
from septctl.engine.config import TrainConfig
from septctl.engine.train import require_finite_features
from septctl.defaults import DEFAULT_BACKBONE, DEFAULT_TEMPLATE
from septctl.errors import SeptctlError
from septctl.methods import build_method
from septctl.methods.base import PromptMethod
from septctl.methods.zeroshot import ZeroShot
from septctl.runs import (METRICS_FILE, PROMPT_FILE, RUN_FILE, check_new_folder, check_prompt_sha256, load_prompt,
                          metrics_key, open_run_dataset, read_card, read_metrics, read_run, require_unchanged,
                          run_config, write_card, zeroshot_run_dir)

Backbones = dict[tuple, Backbone]  # (name, weights, device) -> a loaded backbone, shared by the runs of one call


def _backbone(name: str, weights: str | None, device: str, loaded: Backbones | None) -> Backbone:
    """A backbone loaded once per call: `eval` of many runs shares `loaded` (it is filled here)."""
    if loaded is None:
        return load_backbone(name, weights, device)
    key = (name, weights, device)
    if key not in loaded:
        loaded[key] = load_backbone(name, weights, device)
    return loaded[key]


def classification_metrics(pred: torch.Tensor, target: torch.Tensor, names: list[str]) -> dict:
    """Accuracy, macro-F1 and per-class accuracy (in %), as sklearn's report would give them."""
    per_class, f1s = {}, []
    for i, name in enumerate(names):
        tp = int(((pred == i) & (target == i)).sum())
        support = int((target == i).sum())
        predicted = int((pred == i).sum())
        recall = tp / support if support else 0.0
        precision = tp / predicted if predicted else 0.0
        f1s.append(2 * precision * recall / (precision + recall) if precision + recall else 0.0)
        per_class[name] = {"accuracy": round(100 * recall, 4), "support": support}
    return {
        "accuracy": round(100 * float((pred == target).float().mean()), 4),
        "macro_f1": round(100 * sum(f1s) / len(f1s), 4),
        "n": int(target.numel()),
        "per_class": per_class,
    }


def _score(method: PromptMethod, backbone: Backbone, dataset: DatasetFolder, fold: int | None, which: str,
           crop: str) -> dict:
    _, test_rows = dataset.splits(fold)
    names = select_classes({r.classname for r in test_rows}, which, dataset.class_order)
    index = {name: i for i, name in enumerate(names)}
    rows = [r for r in test_rows if r.classname in index]
    emb, _ = embed_dataset(dataset, backbone, crop=crop)
    feats = emb.select(rows).to(backbone.device)
    require_finite_features(feats, rows, emb.path, dataset)
    target = torch.tensor([index[r.classname] for r in rows])
    preds = []
    with torch.no_grad():
        score = method.scorer(names, split=which)
        for i in range(0, len(rows), 256):
            preds.append(score(feats[i : i + 256]).argmax(-1).cpu())
    result = classification_metrics(torch.cat(preds), target, names)
    result.update({"dataset": dataset.name, "dataset_path": str(dataset.root.resolve()), "fold": fold,
                   "classes": which, "class_names": names})
    return result


def _record(run_dir: Path, result: dict) -> None:
    path = run_dir / METRICS_FILE
    with file_lock(path):
        data = {"evaluations": read_metrics(run_dir)}  # checked, so a hand-broken file is refused, not extended
        key = metrics_key(result["dataset"], result["dataset_path"], result["fold"], result["classes"])
        data["evaluations"][key] = {**result, "card": provenance()}
        write_yaml(path, data)


def load_trained_method(run_dir: Path, device: str = "cpu", weights: str | Path | None = None,
                        backbones: Backbones | None = None) -> tuple[PromptMethod, dict, TrainConfig]:
    """A complete run's learned prompt on its backbone, on `device` (whichever it was trained on), ready to score.

    Returns (method, run card, config); `weights` overrides the checkpoint the run names (same weights only);
    `backbones` shares loaded backbones between the runs of one call.
    """
    run_dir = Path(run_dir)
    run = read_run(run_dir)
    cfg = run_config(run_dir, run)
    backbone = _backbone(cfg.backbone, weights or cfg.weights, device, backbones)
    tensors, meta = load_prompt(run_dir, run, check_sha256=False)
    if meta.get("weights_id") != backbone.weights_id():
        raise SeptctlError(f"{run_dir / PROMPT_FILE}: trained on other {cfg.backbone} weights; evaluate with those")
    try:
        trained_on = json.loads(meta["classes"])
    except (KeyError, ValueError):
        raise SeptctlError(f"{run_dir / PROMPT_FILE}: no class list in its metadata; retrain the run") from None
    method = build_method(cfg.method, backbone, trained_on, {"n_ctx": cfg.n_ctx, **cfg.method_options})
    method.size_like(tensors)
    shapes = {k: tuple(v.shape) for k, v in method.prompt_state().items()}
    if {k: tuple(v.shape) for k, v in tensors.items()} != shapes:
        raise SeptctlError(f"{run_dir / PROMPT_FILE}: does not hold the {cfg.method} prompt tensors {shapes}; retrain the run")
    check_prompt_sha256(run_dir, run)
    method.load_prompt_state(tensors)
    method.logit_scale = cfg.logit_scale
    method.eval()
    return method, run, cfg


def evaluate_run(run_dir: Path, classes: str = "new", dataset: str | None = None, fold: int | None = None,
                 data_root: str | None = None, record: bool = True, device: str = "cpu",
                 backbones: Backbones | None = None) -> dict:
    """Score a trained run on `device` (whichever it was trained on: the prompt is loaded onto it).

    The run's own dataset is the one at the real path its card recorded, refused when it changed
    since training; `backbones` shares loaded backbones between the runs of one `eval` call.
    """
    run_dir = Path(run_dir)
    method, run, cfg = load_trained_method(run_dir, device, backbones=backbones)
    backbone = method.backbone
    if dataset is None:
        target = open_run_dataset(run, cfg)
        fold = run["fold"] if fold is None else fold
        require_unchanged(run_dir, run, target, run["fold"])
    else:
        target = open_dataset(dataset, data_root or cfg.data_root)
        fold = target.default_fold() if fold is None else fold
    result = _score(method, backbone, target, fold, classes, cfg.crop)
    if record:
        _record(run_dir, result)
    return result


def evaluate_zeroshot(dataset: str, backbone_name: str = DEFAULT_BACKBONE, template: str = DEFAULT_TEMPLATE,
                      classes: str = "all", fold: int | None = None, out: Path | None = None,
                      weights: str | None = None, data_root: str | None = None, crop: str = "seeded",
                      record: bool = True, device: str = "cpu") -> tuple[dict, Path]:
    """Score the hand-written template; recorded in `out` (default under runs/), which must hold this zero-shot model."""
    target = open_dataset(dataset, data_root)
    fold = target.default_fold() if fold is None else fold
    run_dir = Path(out) if out is not None else zeroshot_run_dir(dataset, backbone_name, fold)
    config = {"method": "zeroshot", "backbone": backbone_name, "template": template, "seed": 0,
              "dataset": dataset if find_dataset(dataset) and not Path(dataset).is_dir() else str(target.root.resolve())}
    if record:
        _check_zeroshot_folder(run_dir, config, weights)
    require_same_modality(target, backbone_name)
    backbone = load_backbone(backbone_name, weights, device)
    method = ZeroShot(backbone, [], template)
    result = _score(method, backbone, target, fold, classes, crop)
    if not record:
        return result, run_dir
    if not (run_dir / RUN_FILE).is_file():
        write_card(run_dir, {"status": "complete", "label": "zeroshot", "dataset": target.name, "fold": fold,
                              "config": {**config, "weights": weights}, "card": provenance(weights_id=backbone.weights_id())})
    _record(run_dir, result)
    return result, run_dir


def _check_zeroshot_folder(run_dir: Path, config: dict, weights: str | None) -> None:
    """Refuse a folder that holds another model's results (a trained run, another template or backbone) or foreign files."""
    check_new_folder(run_dir, "--out", allowed=set())
    if not (run_dir / RUN_FILE).is_file():
        return
    held = read_card(run_dir).get("config") or {}
    fix = "choose another --out"
    if held.get("method") != "zeroshot":
        raise SeptctlError(f"{run_dir}: holds a trained {held.get('method', 'model')} run, not zero-shot results; "
                           f"its metrics are not replaced by zero-shot ones: {fix}")
    for key, want in (("backbone", config["backbone"]), ("template", config["template"]), ("weights", weights)):
        if held.get(key) != want:
            raise SeptctlError(f"{run_dir}: holds zero-shot results of {key} {held.get(key)!r}, not {want!r}; {fix}")
