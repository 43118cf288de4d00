"""Run identity, the run lock, the run card's dataset path and prompt sha256, and non-finite values stopping a run."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from septctl.artifacts import load_tensors, save_tensors, sha256_file
from septctl.engine.config import TrainConfig
from septctl.engine.evaluate import evaluate_run
from septctl.engine.train import train
from septctl.errors import SeptctlError
from septctl.runs import PROMPT_FILE, RUN_FILE, read_run
from septctl.verify import verify_run

QUIET = {"progress": False, "echo": lambda s: None}
KEEP = {**QUIET, "keep_diverged": True}  # tiny's random tower: the loss may rise over 2 epochs, kept on purpose


def test_default_folder_tells_shots_apart_and_eval_works_from_root(synth_dataset, tmp_path, monkeypatch):
    shutil.copytree(synth_dataset, tmp_path / "synth")
    monkeypatch.chdir(tmp_path)
    runs = [train(TrainConfig(backbone="tiny", dataset="synth", shots=k, epochs=2), **KEEP).resolve() for k in (2, 4)]
    assert runs[0] != runs[1]
    assert [read_run(r)["config"]["shots"] for r in runs] == [2, 4]
    assert runs[0].relative_to(tmp_path).parts[:6] == ("runs", "synth", "tiny", "coop", "base", "shots2")
    card = read_run(runs[0])
    assert card["dataset_path"] == str(tmp_path / "synth") and card["dataset_fingerprint"]
    assert card["prompt_sha256"] == sha256_file(runs[0] / PROMPT_FILE)

    monkeypatch.chdir("/")  # the recorded relative path "synth" no longer resolves
    result = evaluate_run(runs[0], "new")
    assert result["dataset_path"] == str(tmp_path / "synth") and result["n"] == 16
    assert all(c.ok for c in verify_run(runs[0])), [c for c in verify_run(runs[0]) if not c.ok]


def _train_cmd(dataset: Path, out: Path, shots: int) -> list[str]:
    return [sys.executable, "-m", "septctl", "train", str(dataset), "--backbone", "tiny", "--shots", str(shots), "--epochs", "30",
            "--out", str(out), "--quiet"]


def test_two_trains_with_different_configs_on_one_folder(synth_dataset, tmp_path):
    env = {**os.environ, "SEPTCTL_THREADS": "1", "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(Path(__file__).parents[1])}
    out = tmp_path / "run"
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    procs = [subprocess.Popen(_train_cmd(synth_dataset, out, k), env=env, stdout=subprocess.DEVNULL,
                              stderr=open(log, "w")) for k, log in zip((2, 4), logs)]
    codes = [p.wait(timeout=600) for p in procs]
    texts = [log.read_text() for log in logs]
    assert sorted(codes) == [0, 2], texts
    winner = codes.index(0)
    loser_err = texts[1 - winner].strip().splitlines()[-1]
    assert "different run" in loser_err or "another configuration" in loser_err, texts
    assert read_run(out)["config"]["shots"] == (2, 4)[winner]


def test_two_trains_with_one_config_both_report_complete(synth_dataset, tmp_path):
    env = {**os.environ, "SEPTCTL_THREADS": "1", "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(Path(__file__).parents[1])}
    out = tmp_path / "run"
    procs = [subprocess.Popen(_train_cmd(synth_dataset, out, 2), env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True) for _ in range(2)]
    outputs = [p.communicate(timeout=600)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    assert sum("already complete" in o for o in outputs) == 1, outputs
    assert read_run(out)["config"]["shots"] == 2


def test_diverging_run_stops_with_epoch_and_term(synth_dataset, tmp_path, run_cli):
    out = tmp_path / "run"
    # on tiny, --lr 1e12 stays finite (loss about 7); 1e30 overflows in the second epoch
    code, _, err = run_cli("train", "--backbone", "tiny", synth_dataset, "--shots", "4", "--epochs", "5", "--lr", "1e30", "--out", out,
                           "--quiet")
    assert code == 2, err
    line = err.strip().splitlines()[-1]
    assert re.fullmatch(r"error: epoch [1-5]: loss term '\w+' is not finite \((nan|inf|-inf)\); lower --lr.*", line), err
    assert not (out / RUN_FILE).exists() and not (out / PROMPT_FILE).exists()


def test_nan_margins_refused_on_load(tmp_path):
    from septctl.sept.margins import load_margins

    m = torch.rand(2, 2, 3)
    m[0, 1, 2] = float("nan")
    path = tmp_path / "margins.safetensors"
    save_tensors(path, {"margins": m}, {"classes": '["a", "b"]', "neighbors_sha256": "x", "backbone": "tiny",
                                        "weights_id": "w"})
    with pytest.raises(SeptctlError, match="NaN or inf") as exc:
        load_margins(path, classes=["a", "b"], n=3, neighbors_sha256="x", backbone_name="tiny", weights_id="w")
    assert str(path) in str(exc.value)


def _trained(synth_dataset, tmp_path) -> Path:
    run = train(TrainConfig(backbone="tiny", dataset=str(synth_dataset), shots=2, epochs=2), tmp_path / "run", **KEEP)
    evaluate_run(run, "new")
    return run


def _replace_prompt(run: Path, change) -> None:
    tensors, meta = load_tensors(run / PROMPT_FILE)
    save_tensors(run / PROMPT_FILE, {k: change(v) for k, v in tensors.items()}, meta)


def test_verify_fails_on_non_finite_prompt(synth_dataset, tmp_path):
    run = _trained(synth_dataset, tmp_path)
    _replace_prompt(run, lambda v: torch.full_like(v, float("nan")))
    card = yaml.safe_load((run / RUN_FILE).read_text())
    card["prompt_sha256"] = sha256_file(run / PROMPT_FILE)  # a consistent card: only finiteness is at fault
    (run / RUN_FILE).write_text(yaml.safe_dump(card))
    failed = [c.what for c in verify_run(run) if not c.ok]
    assert failed == ["prompt finite"]
    with pytest.raises(SeptctlError, match="NaN or inf"):
        evaluate_run(run, "new")


def test_prompt_sha256_mismatch_refused_on_load(synth_dataset, tmp_path):
    run = _trained(synth_dataset, tmp_path)
    _replace_prompt(run, lambda v: v + 1.0)
    with pytest.raises(SeptctlError, match="sha256 differs"):
        evaluate_run(run, "new")
    assert [c.what for c in verify_run(run) if not c.ok] == ["prompt sha256"]


def test_audio_with_huge_samples_is_refused_naming_the_file(synth_dataset, tmp_path):
    import numpy as np
    import soundfile as sf

    data = tmp_path / "synth"
    shutil.copytree(synth_dataset, data)
    loud = data / "audios" / "chirping_birds_train_000.wav"  # a base-class training clip (6 shots: all are drawn)
    sf.write(loud, np.full(16000, 3e38, dtype=np.float32), 16000, subtype="FLOAT")
    with pytest.raises(SeptctlError, match="is not finite") as exc:
        train(TrainConfig(backbone="tiny", dataset=str(data), shots=6, epochs=1), tmp_path / "run", **QUIET)
    assert str(exc.value).startswith(f"{loud}: its embedding by tiny is not finite")  # and nothing was cached
    assert not (tmp_path / "run" / RUN_FILE).exists()
