"""`septctl verify RUN`: recompute what a run folder claims, from its own files, and compare.

"Cannot reproduce the paper's numbers" is the most common complaint about prompt-tuning
code, and it usually comes down to something that changed silently: the dataset, the
weights, the split, the code. A run folder records enough to check each of these:
the config (and its hash), the few-shot rows drawn from the dataset, the weights id, the
dataset fingerprint behind the embeddings, and every evaluation in metrics.yaml. Each
is recomputed here and compared; `--retrain` also retrains into a scratch folder and
compares the learned prompt bit for bit.
"""

from __future__ import annotations

import tempfile
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from septctl.defaults import DEFAULT_BACKBONE
from septctl.errors import SeptctlError
from septctl.runs import (METRICS_FILE, PROMPT_FILE, open_run_dataset, read_metrics, read_run,
                          recorded_hash_differs, run_config, same_dataset)

METRIC_KEYS = ("accuracy", "macro_f1")


@dataclass
class Check:
    what: str
    recorded: str
    now: str
    ok: bool

    def as_dict(self) -> dict:
        return asdict(self)


def _close(a: object, b: object, tolerance: float) -> bool:
    return isinstance(a, (int, float)) and isinstance(b, (int, float)) and abs(a - b) <= tolerance


def compare_metrics(key: str, recorded: dict, now: dict, tolerance: float) -> list[Check]:
    """Overall accuracy and macro-F1 within `tolerance` points; counts and per-class results exactly matched."""
    checks = [Check(f"{key} {m}", str(recorded.get(m)), str(now.get(m)), _close(recorded.get(m), now.get(m), tolerance))
              for m in METRIC_KEYS]
    checks.append(Check(f"{key} n", str(recorded.get("n")), str(now.get("n")), recorded.get("n") == now.get("n")))
    per_rec, per_now = recorded.get("per_class") or {}, now.get("per_class") or {}
    off = [c for c in sorted(set(per_rec) | set(per_now))
           if c not in per_rec or c not in per_now
           or per_rec[c].get("support") != per_now[c].get("support")
           or not _close(per_rec[c].get("accuracy"), per_now[c].get("accuracy"), tolerance)]
    differ = f"{len(off)} differ" + (f" ({off[0]}, ...)" if off else "")
    checks.append(Check(f"{key} per-class", f"{len(per_rec)} classes", differ, not off))
    return checks


def _entries(run_dir: Path) -> dict[str, dict]:
    path = run_dir / METRICS_FILE
    if not path.is_file():
        raise SeptctlError(f"{path}: no evaluations to verify; run `septctl eval {run_dir}` first")
    entries = read_metrics(run_dir)
    if not entries:
        raise SeptctlError(f"{path}: no `evaluations:` mapping; delete it and rerun `septctl eval`")
    return entries


def _recompute(run_dir: Path, run: dict, entry: dict, data_root: str | None, device: str) -> dict:
    """Score one metrics entry again, without writing anything."""
    from septctl.engine.evaluate import evaluate_run, evaluate_zeroshot

    cfg = run["config"]
    own = same_dataset(entry, run)
    where = entry.get("dataset_path") or (cfg.get("dataset") if own else entry.get("dataset"))
    if cfg.get("method") == "zeroshot":
        result, _ = evaluate_zeroshot(where, cfg.get("backbone", DEFAULT_BACKBONE),
                                      cfg.get("template"), entry["classes"], entry.get("fold"),
                                      weights=cfg.get("weights"), data_root=data_root, record=False, device=device)
        return result
    return evaluate_run(run_dir, entry["classes"], None if own else where, entry.get("fold"), data_root, record=False,
                        device=device)


def _trained_checks(run_dir: Path, run: dict, device: str) -> list[Check]:
    """Prompt sha256 and finiteness, config hash, few-shot rows, dataset fingerprint and weights id of a trained run."""
    from septctl.artifacts import load_tensors, sha256_file
    from septctl.engine.train import resolve
    from septctl.runs import nonfinite

    cfg = run_config(run_dir, run, check=False)  # an edited config is a failed check here, not a refusal
    prompt = run_dir / PROMPT_FILE
    recorded_sha = run.get("prompt_sha256")
    now_sha = sha256_file(prompt) if prompt.is_file() else "missing"
    checks = [Check("prompt sha256", str(recorded_sha)[:16], now_sha[:16], recorded_sha in (None, now_sha))]
    bad = nonfinite(load_tensors(prompt, "prompt file")[0]) if prompt.is_file() else ["(missing)"]
    checks.append(Check("prompt finite", "finite", f"NaN/inf in {bad[0]}" if bad else "finite", not bad))
    if not all(c.ok for c in checks):
        return checks  # scoring this prompt again would only be refused
    edited = recorded_hash_differs(cfg, run)
    checks.append(Check("config sha256", str(run.get("config_sha256"))[:16], "differs" if edited else "matches",
                        not edited))
    dataset = open_run_dataset(run, cfg)
    setup = resolve(replace(cfg, device=device), dataset, run.get("fold"))  # the training's own class split and few-shot draw
    drawn = setup.few_shot["rows"]
    recorded_rows = (run.get("few_shot") or {}).get("rows")
    checks.append(Check("few-shot rows", f"{len(recorded_rows or [])} rows", f"{len(drawn)} rows",
                        recorded_rows == drawn))
    card = run.get("card") or {}
    recorded_fp = (card.get("embeddings") or {}).get("dataset_fingerprint")
    now_fp = dataset.fingerprint()
    checks.append(Check("dataset fingerprint", str(recorded_fp)[:16], now_fp[:16], recorded_fp == now_fp))
    weights_id = setup.backbone.weights_id()
    checks.append(Check("weights id", str(card.get("weights_id")), weights_id, card.get("weights_id") == weights_id))
    return checks


def _retrain_check(run_dir: Path, run: dict) -> Check:
    """Train the same config into a scratch folder; the prompt must be bit-identical."""
    import torch

    from septctl.artifacts import load_tensors
    from septctl.engine.train import train

    recorded, _ = load_tensors(run_dir / PROMPT_FILE, "prompt file")
    with tempfile.TemporaryDirectory(prefix="septctl-verify-") as tmp:
        out = train(run_config(run_dir, run), Path(tmp) / "run", progress=False, echo=lambda _: None,
                    compile_setting=run.get("compiled") or "off",  # as the run was trained (older cards: eager)
                    keep_diverged=True)  # the check is bit-identity: a run kept diverged is retrained as it was
        again, _ = load_tensors(out / PROMPT_FILE, "prompt file")
    same = set(recorded) == set(again) and all(torch.equal(recorded[k], again[k]) for k in recorded)
    diff = "bit-identical" if same else "differs"
    return Check("retrained prompt", f"{len(recorded)} tensors", diff, same)


def verify_run(run_dir: str | Path, *, tolerance: float = 0.0, retrain: bool = False,
               data_root: str | None = None, device: str = "cpu") -> list[Check]:
    """Every check of one run folder; raises SeptctlError when the folder cannot be read at all."""
    from septctl.devices import check_device

    device = check_device(device)
    run_dir = Path(run_dir)
    run = read_run(run_dir)
    entries = _entries(run_dir)
    trained = run["config"].get("method") != "zeroshot"
    checks = _trained_checks(run_dir, run, device) if trained else []
    if not all(c.ok for c in checks):
        return checks  # scoring again would be refused (edited card, changed dataset, other weights)
    for key, entry in sorted(entries.items()):
        if "classes" not in entry:
            raise SeptctlError(f"{run_dir / METRICS_FILE}: entry {key} has no `classes`; rerun `septctl eval`")
        checks += compare_metrics(key, entry, _recompute(run_dir, run, entry, data_root, device), tolerance)
    if retrain:
        if not trained:
            raise SeptctlError(f"{run_dir}: a zero-shot result has nothing to retrain; drop --retrain")
        checks.append(_retrain_check(run_dir, run))
    return checks
