import yaml
from safetensors.torch import load_file

from septctl.backbones import load_backbone
from septctl.data.layout import DatasetFolder
from septctl.embed import embed_dataset
from septctl.engine.config import TrainConfig
from septctl.engine.evaluate import classification_metrics, evaluate_run
from septctl.engine.train import train


def test_embed_once_then_cache_hit(synth_dataset):
    ds, bb = DatasetFolder(synth_dataset), load_backbone("tiny")
    first, hit1 = embed_dataset(ds, bb, progress=False)
    second, hit2 = embed_dataset(ds, bb, progress=False)
    assert (hit1, hit2) == (False, True)
    assert first.features.shape == (80, bb.embed_dim)
    assert first.features.equal(second.features)
    other, hit3 = embed_dataset(ds, bb, crop="center", progress=False)
    assert not hit3 and other.path != first.path


def _cfg(root, **kw):
    return TrainConfig(backbone="tiny", dataset=str(root), shots=4, epochs=kw.pop("epochs", 8), **kw)


def test_coop_lowers_loss_and_records_run(synth_dataset, tmp_path):
    run = train(_cfg(synth_dataset), tmp_path / "run", progress=False, echo=lambda s: None)
    card = yaml.safe_load((run / "run.yaml").read_text())
    losses = [e["loss"] for e in card["losses"]]
    assert losses[-1] < losses[0]
    assert card["trainable_parameters"] == 16 * 32
    assert card["classes"] == ["chirping birds", "church bells", "clock alarm", "clock tick"]
    assert len(card["few_shot"]["rows"]) == 16
    assert card["card"]["weights_id"] and card["config"]["lr"] == 0.0125
    prompt = load_file(str(run / "prompt.safetensors"))
    assert prompt["ctx"].shape == (16, 32)
    assert not (run / "state.safetensors").exists()


def test_same_seed_bit_identical_and_rerun_skips(synth_dataset, tmp_path):
    a = train(_cfg(synth_dataset, epochs=2), tmp_path / "a", progress=False, echo=lambda s: None)
    b = train(_cfg(synth_dataset, epochs=2), tmp_path / "b", progress=False, echo=lambda s: None)
    assert load_file(str(a / "prompt.safetensors"))["ctx"].equal(load_file(str(b / "prompt.safetensors"))["ctx"])
    said = []
    train(_cfg(synth_dataset, epochs=2), tmp_path / "a", progress=False, echo=said.append)
    assert "already complete" in said[0]


def test_eval_base_new_separately(synth_dataset, tmp_path):
    run = train(_cfg(synth_dataset, epochs=1), tmp_path / "run", progress=False, echo=lambda s: None)
    base = evaluate_run(run, "base")
    new = evaluate_run(run, "new")
    assert base["class_names"] == ["chirping birds", "church bells", "clock alarm", "clock tick"]
    assert new["class_names"] == ["door wood knock", "engine", "rain", "siren"]
    assert base["n"] == new["n"] == 16
    metrics = yaml.safe_load((run / "metrics.yaml").read_text())["evaluations"]
    from septctl.runs import dataset_id

    assert set(metrics) == {f"synth@{dataset_id(synth_dataset)}/fold0/{c}" for c in ("base", "new")}


def test_metrics_values():
    import torch

    m = classification_metrics(torch.tensor([0, 0, 1, 1]), torch.tensor([0, 1, 1, 1]), ["a", "b"])
    assert m["accuracy"] == 75.0
    assert m["per_class"]["b"]["accuracy"] == round(100 * 2 / 3, 4)
    assert abs(m["macro_f1"] - 100 * (2 / 3 + 0.8) / 2) < 1e-3
