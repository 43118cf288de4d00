"""Compiled training steps (engine/compile.py): off on the CPU by default, and equal to eager to float rounding."""

import pytest
import torch
import yaml

from septctl.engine.config import SeptOptions, TrainConfig
from septctl.methods import method_options
from tests.test_packed import _max_diff
from tests.test_sept_train import BASE, _sept_files

TOL = 1e-4  # max |compiled - eager| over all learned tensors; the tests print the measured figure


def test_compile_settings(monkeypatch):
    from septctl.engine import compile as comp
    from septctl.engine.compile import compile_mode
    from septctl.errors import SeptctlError

    monkeypatch.delenv("SEPTCTL_COMPILE", raising=False)
    assert compile_mode(None, "cpu") is None and compile_mode("auto", "cpu") is None
    monkeypatch.setattr(comp, "has_toolchain", lambda: True)
    assert compile_mode(None, "cuda") is None  # off unless asked for: not yet run on a GPU
    assert compile_mode("auto", "cuda") == compile_mode("auto", "cuda:1") == "reduce-overhead"
    monkeypatch.setattr(comp, "has_toolchain", lambda: False)  # no Triton or no C compiler: auto stays eager
    assert compile_mode("auto", "cuda") is None and compile_mode("on", "cuda") == "reduce-overhead"
    assert compile_mode("on", "cpu") == compile_mode("1", "cpu") == "default"  # no CUDA graphs without CUDA
    assert compile_mode("OFF", "cuda") is compile_mode("0", "cuda") is None
    assert compile_mode("max-autotune", "cuda") == "max-autotune"
    monkeypatch.setenv("SEPTCTL_COMPILE", "1")
    assert compile_mode(None, "cpu") == "default" and compile_mode("off", "cpu") is None  # the flag wins
    monkeypatch.setenv("SEPTCTL_COMPILE", "fast")
    with pytest.raises(SeptctlError, match="SEPTCTL_COMPILE=fast: not a compile setting"):
        compile_mode(None, "cpu")
    with pytest.raises(SeptctlError, match="--compile fast: not a compile setting"):
        compile_mode("fast", "cpu")


def test_cpu_default_is_eager(run_cli, tmp_path, synth_dataset, monkeypatch):
    """With the default settings on the CPU, alone and packed, torch.compile is never called."""

    def refuse(*args, **kwargs):
        raise AssertionError("torch.compile was called")

    monkeypatch.setattr(torch, "compile", refuse)
    monkeypatch.delenv("SEPTCTL_COMPILE", raising=False)
    common = ["train", "--backbone", "tiny", synth_dataset, "--epochs", "1", "--shots", "2", "--batch-size", "4", "-q"]
    code, _, err = run_cli(*common, "--out", tmp_path / "alone")
    assert code == 0, err
    code, _, err = run_cli(*common, "--seeds", "0,1", "--pack-size", "2", "--out", tmp_path / "p{seed}")
    assert code == 0, err
    for run in ("alone", "p0", "p1"):
        assert yaml.safe_load((tmp_path / run / "run.yaml").read_text())["compiled"] is False


def test_bad_setting_refused_before_any_file(run_cli, tmp_path, synth_dataset, monkeypatch):
    from tests.faults.conftest import Result, assert_refused

    monkeypatch.setenv("SEPTCTL_COMPILE", "fast")
    out = tmp_path / "x"
    assert_refused(Result(*run_cli("train", "--backbone", "tiny", synth_dataset, "--epochs", "1", "--out", out)),
                   "SEPTCTL_COMPILE=fast", "auto, on, off")
    assert not out.exists()
    assert_refused(Result(*run_cli("train", "--backbone", "tiny", synth_dataset, "--compile", "fast", "--out", out)),
                   "--compile", "'fast' is not one of 'auto', 'on', 'off'")
    assert not out.exists()


def _cfgs(synth_dataset, sept_args):
    sept = SeptOptions(str(sept_args[1]), str(sept_args[3]))
    return [TrainConfig(dataset=str(synth_dataset), backbone="tiny", method=m, method_options=method_options(m, {}),
                        shots=4, seed=i, epochs=2, batch_size=4, sept=sept)
            for i, m in enumerate(("coop", "cocoop", "kgcoop", "dept"))]


def _compare(run_cli, tmp_path, synth_dataset, capsys, monkeypatch, backend: str) -> None:
    """Each method + SEPT alone and all four packed, compiled, against the same runs alone and eager."""
    from septctl.engine import compile as comp
    from septctl.engine.packed import train_packed
    from septctl.engine.train import train

    quiet = dict(progress=False, echo=lambda s: None)
    cfgs = _cfgs(synth_dataset, _sept_files(run_cli, tmp_path, BASE))
    eager = [train(c, tmp_path / "eager" / str(i), compile_setting="off", **quiet) for i, c in enumerate(cfgs)]
    calls, steps = [], []
    real = torch.compile

    def counted(*args, **kwargs):
        calls.append(kwargs)
        compiled = real(*args, **kwargs)
        return lambda *a: steps.append(1) or compiled(*a)

    monkeypatch.setattr(comp, "BACKEND", backend)
    monkeypatch.setattr(torch, "compile", counted)
    alone = [train(c, tmp_path / "alone" / str(i), compile_setting="on", **quiet) for i, c in enumerate(cfgs)]
    packed = train_packed(cfgs, [tmp_path / "packed" / str(i) for i in range(len(cfgs))], compile_setting="on", **quiet)
    assert len(calls) == len(cfgs) + 1 and all(c["backend"] == backend and not c["dynamic"] for c in calls)
    assert len(steps) >= 2 * 4 * (len(cfgs) + 1)  # every training step went through the compiled tower
    diff_alone = max(_max_diff(e, r) for e, r in zip(eager, alone))
    diff_packed = max(_max_diff(e, r) for e, r in zip(eager, packed))
    with capsys.disabled():
        print(f"\ncompiled ({backend}) vs eager alone, max |diff| over CoOp/CoCoOp/KgCoOp/DePT + SEPT: "
              f"alone {diff_alone:.2e}, packed {diff_packed:.2e}")
    assert max(diff_alone, diff_packed) < TOL
    card = yaml.safe_load((packed[0] / "run.yaml").read_text())
    assert card["compiled"] == "default" and yaml.safe_load((eager[0] / "run.yaml").read_text())["compiled"] is False


def test_compiled_equals_eager_graphs(run_cli, tmp_path, synth_dataset, capsys, monkeypatch):
    """The compiled graphs (dynamo + AOT autograd, run without inductor's C++ kernels) train as eager does."""
    _compare(run_cli, tmp_path, synth_dataset, capsys, monkeypatch, "aot_eager")


@pytest.mark.slow
def test_compiled_equals_eager_inductor(run_cli, tmp_path, synth_dataset, capsys, monkeypatch):
    """The real thing on the CPU: inductor's generated kernels (needs a C++ compiler; about a minute)."""
    import shutil

    if not shutil.which("g++") and not shutil.which("c++"):
        pytest.skip("inductor needs a C++ compiler on the CPU")
    _compare(run_cli, tmp_path, synth_dataset, capsys, monkeypatch, "inductor")


def test_checkpointed_steps_get_no_cuda_graphs(monkeypatch):
    """CoCoOp's chunks recompute the tower in backward, where CUDA graphs fail: reduce-overhead becomes default."""
    from septctl.backbones.tiny import TinyBackbone
    from septctl.engine.compile import compile_for_training
    from septctl.methods.cocoop import CoCoOp

    modes = []
    monkeypatch.setattr(torch, "compile", lambda fn, **kw: modes.append(kw["mode"]) or fn)
    backbone = TinyBackbone()
    assert CoCoOp(backbone, ["a", "b"], chunk=8).recomputes_text and not CoCoOp(backbone, ["a"], chunk=0).recomputes_text
    assert compile_for_training(backbone, "reduce-overhead", checkpointed=True) == "default"
    assert compile_for_training(backbone, "reduce-overhead") == "reduce-overhead"
    assert compile_for_training(backbone, "max-autotune", checkpointed=True) == "max-autotune-no-cudagraphs"
    assert compile_for_training(backbone, None) is None
    assert modes == ["default", "reduce-overhead", "max-autotune-no-cudagraphs"]
