"""Released checkpoints hold metadata beside the weights: the harmless kinds load, others need an opt-in."""

import argparse
import datetime
from pathlib import Path

import numpy as np
import pytest
import torch

from septctl.backbones.weights import TRUST_ENV, _torch_load
from septctl.errors import SeptctlError

from .test_clap_backbones import gpt2_tok  # noqa: F401  (fixture)


def _metadata() -> dict:
    """What MS-CLAP's and Pengi's training code saves beside the weights."""
    net = torch.nn.Linear(3, 2)
    opt = torch.optim.Adam(net.parameters())
    net(torch.ones(1, 3)).sum().backward()
    opt.step()
    args = argparse.Namespace(lr=np.float64(1e-4), epochs=np.int64(45), dtype=np.dtype("float32"), name="base")
    return {"args": args, "optimizer": opt.state_dict(), "best": np.float64(0.5), "step": np.int64(3),
            "kinds": [np.dtype("int64"), np.dtype("float64")]}


def test_harmless_metadata_loads_with_weights_only(tmp_path):
    ckpt = tmp_path / "meta.pth"
    torch.save({"model": {"w": torch.arange(4.0)}, **_metadata()}, ckpt)
    got = _torch_load(ckpt)
    assert torch.equal(got["model"]["w"], torch.arange(4.0))
    assert got["args"].epochs == 45 and got["args"].dtype == np.dtype("float32") and got["step"] == 3


def test_unknown_global_is_refused_by_name_until_trusted(tmp_path, monkeypatch):
    from septctl.artifacts import sha256_file

    ckpt, other = tmp_path / "a.pth", tmp_path / "b.pth"
    torch.save({"model": {"w": torch.ones(2)}, "when": datetime.datetime(2023, 1, 1)}, ckpt)
    torch.save({"model": {"w": torch.zeros(2)}, "when": datetime.datetime(2024, 1, 1)}, other)
    with pytest.raises(SeptctlError) as exc:
        _torch_load(ckpt)
    msg = str(exc.value)
    assert "\n" not in msg and "datetime.datetime" in msg and f"{TRUST_ENV}={sha256_file(ckpt)}" in msg
    monkeypatch.setenv(TRUST_ENV, sha256_file(ckpt))
    assert _torch_load(ckpt)["when"].year == 2023
    with pytest.raises(SeptctlError, match="datetime.datetime"):  # the opt-in names one file only
        _torch_load(other)


def _embed_both(state: dict, backbone: str, tmp_path: Path, run_cli, data: Path) -> None:
    """Embed `data` through the CLI from `state` saved plain and with metadata; they must be equal."""
    from septctl.artifacts import load_tensors

    outs = []
    for name, extra in (("plain", {}), ("meta", _metadata())):
        ckpt, out = tmp_path / f"{name}.pth", tmp_path / f"{name}.safetensors"
        torch.save({"model": state, **extra}, ckpt)
        code, _, err = run_cli("embed", data, "--backbone", backbone, "--weights", ckpt, "--out", out, "-q")
        assert code == 0, err
        outs.append(load_tensors(out if out.is_file() else next(out.rglob("*.safetensors")), "embeddings")[0])
    a, b = outs
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.slow
def test_pengi_checkpoint_with_metadata_embeds_like_plain(tmp_path, run_cli, synth_dataset):
    from septctl.backbones.pengi import PengiBackbone

    from .test_pengi import _pengi_state

    torch.manual_seed(0)
    _embed_both(_pengi_state(PengiBackbone()), "pengi", tmp_path, run_cli, synth_dataset)


@pytest.mark.slow
def test_ms_clap_checkpoint_with_metadata_embeds_like_plain(tmp_path, run_cli, synth_dataset, gpt2_tok, monkeypatch):
    import septctl.backbones.ms_clap as ms_clap

    monkeypatch.setattr(ms_clap, "gpt2_tokenizer", lambda: gpt2_tok)  # no hub access in tests
    torch.manual_seed(0)
    sd = ms_clap.MsClapBackbone(tokenizer=gpt2_tok).state_dict()
    state = {f"module.{ms_clap.to_ms_clap_key(k)}": sd[k] for k in ms_clap.ms_clap_expected_shapes()}
    _embed_both(state, "ms-clap", tmp_path, run_cli, synth_dataset)
