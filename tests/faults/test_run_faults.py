"""Bad backbones, weights, options, run folders and embeddings for embed / train / eval."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml

from septctl.artifacts import load_tensors, save_tensors


def _train_args(world, out: Path, *extra) -> list:
    return ["train", "--backbone", "tiny", world.data, "--epochs", "1", "--shots", "1", "--seed", "0", "--out", out, "-q", *extra]


def _edit_yaml(path: Path, edit) -> None:
    path.write_text(yaml.safe_dump(edit(yaml.safe_load(path.read_text()))))


# --- backbones and weights -------------------------------------------------------------------------

def test_unknown_backbone_is_refused(world, refused):
    refused(["embed", world.data, "--backbone", "clapx"], "--backbone", "'clapx'", fix="is not one of 'tiny', 'pengi'")


def test_weights_for_the_tiny_backbone_are_refused(world, tmp_path, refused):
    weights = tmp_path / "some.pth"
    torch.save({"w": torch.zeros(2)}, weights)
    refused(["embed", world.data, "--backbone", "tiny", "--weights", weights], "some.pth", "tiny")


def test_weights_of_another_model_are_refused(world, tmp_path, refused):
    weights = tmp_path / "resnet.pth"
    torch.save({"conv1.weight": torch.zeros(4, 3, 3, 3), "fc.bias": torch.zeros(10)}, weights)
    refused(["embed", world.data, "--backbone", "pengi", "--weights", weights], "resnet.pth", "missing keys")


def test_weights_that_are_not_a_checkpoint_are_refused(world, tmp_path, refused):
    weights = tmp_path / "base.pth"
    weights.write_text("<html>404 Not Found</html>")
    refused(["embed", world.data, "--backbone", "pengi", "--weights", weights], "base.pth", "not a PyTorch checkpoint")


def test_unknown_crop_is_refused(world, refused):
    refused(["embed", "--backbone", "tiny", world.data, "--crop", "middle"], "'middle'", fix="seeded")


# --- embeddings --------------------------------------------------------------------------------------

def test_corrupt_embeddings_file_is_refused(world, tmp_path, refused):
    target = tmp_path / "emb.safetensors"
    target.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json")
    refused(["embed", "--backbone", "tiny", world.data, "--out", target], "emb.safetensors")


def test_embeddings_of_another_backbone_are_recomputed_not_reused(world, tmp_path, cli):
    target = tmp_path / "emb.safetensors"
    assert cli("embed", "--backbone", "tiny", world.data, "--out", target).code == 0
    tensors, meta = load_tensors(target)
    meta["card"] = meta["card"].replace('"backbone": "tiny"', '"backbone": "pengi"')
    assert '"pengi"' in meta["card"]
    save_tensors(target, {"features": torch.zeros_like(tensors["features"])}, meta)
    result = cli("embed", "--backbone", "tiny", world.data, "--out", target)  # --out is the user's: not replaced
    assert result.code == 2 and "--force" in result.err and "pengi" in load_tensors(target)[1]["card"]
    result = cli("embed", "--backbone", "tiny", world.data, "--out", target, "--force")
    assert result.code == 0 and "computed" in result.err and "cache hit" not in result.err
    assert torch.equal(load_tensors(target)[0]["features"], tensors["features"])


# --- options ------------------------------------------------------------------------------------------

def test_training_on_new_classes_is_refused(world, tmp_path, refused):
    refused(_train_args(world, tmp_path / "run", "--classes", "new"), "--classes", "'new'", fix="one of 'base', 'all'")


def test_bad_eval_classes_value_is_refused(world, refused):
    refused(["eval", world.run, "--classes", "novel"], "--classes", "'novel'", fix="one of 'base', 'new', 'all'")


def test_zeroshot_template_without_slot_is_refused(world, tmp_path, refused):
    refused(["eval", "--zeroshot", "--backbone", "tiny", world.data, "--template", "This is a sound.", "--out", tmp_path / "zs"],
            "--template", "{}")


def test_sept_without_neighbors_is_refused(world, tmp_path, refused):
    refused(_train_args(world, tmp_path / "run", "--sept"), "--neighbors", "--margins")


# --- run folders ----------------------------------------------------------------------------------------

def test_run_folder_with_another_config_is_refused(world, refused):
    refused(["train", "--backbone", "tiny", world.data, "--epochs", "2", "--shots", "1", "--out", world.run, "-q"], "run.yaml",
            fix="another --out")


def test_corrupt_run_yaml_is_refused_by_eval(world, tmp_path, refused):
    run = world.copy_run(tmp_path / "run")
    (run / "run.yaml").write_text("status: complete\nconfig: {dataset: [unclosed\n")
    refused(["eval", run, "--classes", "base"], "run.yaml", "not valid")


def test_corrupt_run_yaml_is_refused_by_train(world, tmp_path, refused):
    run = world.copy_run(tmp_path / "run")
    (run / "run.yaml").write_bytes(b"\xff\xfe garbage")
    refused(_train_args(world, run), "run.yaml", "not valid")


def test_run_yaml_that_is_not_a_mapping_is_refused(world, tmp_path, refused):
    run = world.copy_run(tmp_path / "run")
    (run / "run.yaml").write_text("- just\n- a list\n")
    refused(_train_args(world, run), "run.yaml")


def test_run_yaml_without_config_is_refused(world, tmp_path, refused):
    run = world.copy_run(tmp_path / "run")
    _edit_yaml(run / "run.yaml", lambda d: {k: v for k, v in d.items() if k != "config"})
    refused(["eval", run, "--classes", "base"], "run.yaml")


def test_unfinished_run_is_refused_by_eval(world, tmp_path, refused):
    run = world.copy_run(tmp_path / "run")
    _edit_yaml(run / "run.yaml", lambda d: {**d, "status": "running"})
    refused(["eval", run, "--classes", "base"], "run.yaml", fix="septctl train")


def test_prompt_for_other_weights_is_refused(world, tmp_path, refused):
    run = world.copy_run(tmp_path / "run")
    tensors, meta = load_tensors(run / "prompt.safetensors")
    save_tensors(run / "prompt.safetensors", tensors, {**meta, "weights_id": "0123456789abcdef"})
    refused(["eval", run, "--classes", "base"], "prompt.safetensors", "other tiny weights")


def test_corrupt_prompt_file_is_refused(world, tmp_path, refused):
    run = world.copy_run(tmp_path / "run")
    data = (run / "prompt.safetensors").read_bytes()
    (run / "prompt.safetensors").write_bytes(data[: len(data) // 2])
    refused(["eval", run, "--classes", "base"], "prompt.safetensors", "regenerate")


def test_prompt_file_missing_its_tensors_is_refused(world, tmp_path, refused):
    run = world.copy_run(tmp_path / "run")
    _, meta = load_tensors(run / "prompt.safetensors")
    save_tensors(run / "prompt.safetensors", {"unrelated": torch.zeros(3)}, meta)
    refused(["eval", run, "--classes", "base"], "prompt.safetensors")


def test_state_of_another_config_is_refused(world, tmp_path, refused):
    run = tmp_path / "run"
    save_tensors(run / "state.safetensors", {"param.ctx": torch.zeros(16, 32)}, {"epoch": "1", "config": "other"})
    refused(_train_args(world, run), "state.safetensors", fix="another --out")


def test_corrupt_state_is_refused(world, tmp_path, refused):
    run = tmp_path / "run"
    run.mkdir()
    (run / "state.safetensors").write_bytes(b"PK\x03\x04 not safetensors")
    refused(_train_args(world, run), "state.safetensors")


def test_state_missing_its_tensors_is_refused(world, tmp_path, refused):
    from septctl.engine.config import TrainConfig
    from septctl.engine.train import config_hash, identify

    cfg, _, identity, _ = identify(TrainConfig(backbone="tiny", dataset=str(world.data), epochs=1, shots=1, seed=0))
    run = tmp_path / "run"
    save_tensors(run / "state.safetensors", {"param.ctx": torch.zeros(16, 32)},
                 {"epoch": "1", "log": "[]", "config": config_hash(cfg, identity)})
    refused(_train_args(world, run), "state.safetensors")


@pytest.mark.parametrize("one,many", [(("--seed", "1"), ("--seeds", "0,1")), (("--fold", "1"), ("--folds", "1,2"))])
def test_one_and_several_seeds_or_folds_together_are_refused(world, tmp_path, refused, one, many):
    """--seed with --seeds was silently ignored: the runs made were not the ones asked for."""
    refused(_train_args(world, tmp_path / "run{seed}{fold}", *one, *many), one[0], many[0], fix="keep one")
