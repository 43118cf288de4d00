"""Packed training (engine/packed.py): each run as if trained alone, to float rounding, and resumable per run."""

from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file

from septctl.engine.config import SeptOptions, TrainConfig
from septctl.methods import method_options
from tests.test_sept_train import BASE, _sept_files

METHODS = ("coop", "cocoop", "kgcoop", "dept")
TOL = 1e-4  # measured max |packed - alone| over all learned tensors: see test output / docs/speed.md


def _cfgs(synth_dataset, sept_args, epochs=2):
    sept = SeptOptions(str(sept_args[1]), str(sept_args[3]))
    cfgs = []
    for i, (method, with_sept) in enumerate((m, s) for m in METHODS for s in (False, True)):
        cfgs.append(TrainConfig(dataset=str(synth_dataset), backbone="tiny", method=method,
                                method_options=method_options(method, {}), shots=4, seed=i, epochs=epochs,
                                batch_size=4, sept=sept if with_sept else None))
    return cfgs


def _max_diff(a: Path, b: Path) -> float:
    x, y = load_file(str(a / "prompt.safetensors")), load_file(str(b / "prompt.safetensors"))
    assert x.keys() == y.keys()
    return max(float((x[k] - y[k]).abs().max()) for k in x)


def test_packed_equals_alone(run_cli, tmp_path, synth_dataset, capsys):
    from septctl.engine.packed import train_packed
    from septctl.engine.train import train

    cfgs = _cfgs(synth_dataset, _sept_files(run_cli, tmp_path, BASE))
    alone = [train(c, tmp_path / "alone" / str(i), progress=False, echo=lambda s: None) for i, c in enumerate(cfgs)]
    packed = train_packed(cfgs, [tmp_path / "packed" / str(i) for i in range(len(cfgs))], progress=False,
                          echo=lambda s: None)
    diffs = {f"{c.label} seed {c.seed}": _max_diff(a, p) for c, a, p in zip(cfgs, alone, packed)}
    with capsys.disabled():
        print(f"\npacked vs alone, max |diff| per run: {max(diffs.values()):.2e}")
    assert max(diffs.values()) < TOL, diffs
    # the runs did learn (a pack that changed nothing would pass the comparison trivially)
    first = load_file(str(packed[0] / "prompt.safetensors"))["ctx"]
    assert not torch.equal(first, load_file(str(packed[2] / "prompt.safetensors"))["ctx"])
    card = yaml.safe_load((packed[0] / "run.yaml").read_text())
    assert sorted(card["trained_packed_with"]) == sorted(str(p) for p in packed[1:])
    assert len(card["losses"]) == 2 and not (packed[0] / "state.safetensors").exists()
    alone_card = yaml.safe_load((alone[0] / "run.yaml").read_text())
    assert alone_card["few_shot"] == card["few_shot"] and "trained_packed_with" not in alone_card


def test_packed_resumes_per_run(run_cli, tmp_path, synth_dataset, monkeypatch):
    """A kill after epoch 1 of a pack; the rerun resumes each run from its own state and ends as alone."""
    from septctl.engine import packed as packed_mod
    from septctl.engine.train import train

    cfgs = _cfgs(synth_dataset, _sept_files(run_cli, tmp_path, BASE), epochs=3)[::3]  # coop, cocoop+SEPT, ...
    outs = [tmp_path / "packed" / str(i) for i in range(len(cfgs))]
    real = packed_mod.packed_epoch

    def killed_in_epoch_2(runs, epoch):
        if epoch == 2:
            raise KeyboardInterrupt
        return real(runs, epoch)

    monkeypatch.setattr(packed_mod, "packed_epoch", killed_in_epoch_2)
    with pytest.raises(KeyboardInterrupt):
        packed_mod.train_packed(cfgs, outs, progress=False, echo=lambda s: None)
    assert all((o / "state.safetensors").is_file() and not (o / "run.yaml").exists() for o in outs)
    monkeypatch.setattr(packed_mod, "packed_epoch", real)
    said = []
    packed_mod.train_packed(cfgs, outs, progress=False, echo=said.append)
    assert sum("resuming after epoch 1/3" in s for s in said) == len(cfgs)
    for i, (c, o) in enumerate(zip(cfgs, outs)):
        alone = train(c, tmp_path / "alone" / str(i), progress=False, echo=lambda s: None)
        assert _max_diff(alone, o) < TOL


def test_packed_refuses_mixed_backbones(tmp_path, synth_dataset):
    from septctl.engine.packed import train_packed
    from septctl.errors import SeptctlError

    a = TrainConfig(dataset=str(synth_dataset), backbone="tiny", epochs=1)
    b = TrainConfig(dataset=str(synth_dataset), backbone="tiny", epochs=1, n_ctx=4)
    with pytest.raises(SeptctlError, match="n_ctx"):
        train_packed([a, b], [tmp_path / "a", tmp_path / "b"], progress=False)
    assert not (tmp_path / "a").exists()


def test_cli_seeds_packed(run_cli, tmp_path, synth_dataset):
    common = ["train", "--backbone", "tiny", synth_dataset, "--epochs", "2", "--shots", "4", "--batch-size", "4", "-q"]
    code, _, err = run_cli(*common, "--seeds", "0,1", "--pack-size", "2", "--out", tmp_path / "p" / "s{seed}")
    assert code == 0, err
    code, _, err = run_cli(*common, "--seed", "1", "--out", tmp_path / "alone")
    assert code == 0, err
    assert _max_diff(tmp_path / "p" / "s1", tmp_path / "alone") < TOL
    card = yaml.safe_load((tmp_path / "p" / "s1" / "run.yaml").read_text())
    assert card["config"]["seed"] == 1 and card["trained_packed_with"] == [str(tmp_path / "p" / "s0")]
    code, _, err = run_cli(*common, "--seeds", "0,1", "--out", tmp_path / "q")
    assert code == 2 and "{seed}" in err and not (tmp_path / "q").exists()


def test_grid_packs_seeds(run_cli, tmp_path):
    """`grid --pack-size 2`: one `train --seeds 0,1` per method, SEPT setting and fold; the pack runs and is done."""
    import shlex

    from septctl.data.synth import synthesize_like
    from septctl.grid import plan as g

    synthesize_like("beijing-opera", tmp_path / "data" / "Beijing-Opera", per_class=3, test_per_class=1, folds=2,
                    seconds=0.2)
    knobs = g.Knobs(backbone="tiny", epochs=1, seeds=(0, 1), methods=("coop", "dept"), data_root=str(tmp_path / "data"),
                    runs=str(tmp_path / "runs"), pack=2)
    jobs = g.plan("base2new", knobs, ["Beijing-Opera"])
    assert len(jobs) == 1 + 2 * (1 + 2 * 2)  # prep; per fold: zero-shot + 2 methods x SEPT on/off, seeds packed
    packs = [j for j in jobs if isinstance(j, g.PackedJob)]
    assert len(packs) == 2 * 2 * 2 and all(" --seeds 0,1 --pack-size 2 " in j.line() for j in packs)
    for device in ("cpu", "cuda"):  # by default every device plans measured paths only: alone, eager
        plain = g.Knobs(backbone="tiny", seeds=(0, 1), data_root=str(tmp_path / "data"), device=device)
        lines = [j.line() for j in g.plan("base2new", plain, ["Beijing-Opera"])]
        assert not any(" --pack-size " in line or " --seeds " in line or " --compile" in line for line in lines)
        assert any(" --seed 1 " in line for line in lines)
    coop = next(j for j in packs if " --sept " not in j.line())
    assert shlex.split(coop.line())[1:len(coop.steps[0]) + 1] == coop.steps[0]
    for step in coop.steps:
        code, _, err = run_cli(*step)
        assert code == 0, err
    assert coop.done() and all(m.done() for m in coop.members)
    card = yaml.safe_load((coop.members[1].run_dir / "run.yaml").read_text())
    assert card["config"]["seed"] == 1 and card["trained_packed_with"] == [str(coop.members[0].run_dir)]
