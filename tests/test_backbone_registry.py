"""septctl/backbones/registry.py is the one place a backbone is declared: every reader lists exactly its entries."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from septctl.backbones.registry import BACKBONES, SPECS, resolve


@pytest.fixture
def fresh_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SEPTCTL_CACHE", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def test_backbones_command_lists_the_registry(fresh_cache, run_cli):
    code, out, err = run_cli("backbones", "--json")
    assert code == 0, err
    rows = json.loads(out)
    assert [r["name"] for r in rows] == list(BACKBONES) == list(SPECS)
    for row in rows:
        assert {k: v for k, v in row.items() if k != "cached"} == SPECS[row["name"]].listing()


def test_doctor_lists_the_registry(fresh_cache):
    from septctl.cli.doctor import collect_report

    report = collect_report()
    assert list(report["weights"]) == list(SPECS)
    assert report["weights"]["tiny"] == "(no file needed)"
    assert report["weights"]["ms-clap"] == "not cached (HF hub microsoft/msclap, on first use)"
    assert report["weights"]["clip-vit-b16"] == "not cached (HF hub openai/clip-vit-base-patch16, on first use)"
    assert report["weights"]["clip-tiny"] == "(no file needed)"


def test_download_refuses_a_backbone_without_a_url(fresh_cache, run_cli):
    code, _, err = run_cli("download", "ms-clap")
    assert code == 2
    assert ("only pengi is fetched by septctl; laion-clap, ms-clap and clip-vit-b16 come from the Hugging Face hub"
            in err)


def test_every_factory_and_download_resolves():
    for spec in SPECS.values():
        assert callable(resolve(spec.factory)), spec.name
        assert bool(spec.download) == (spec.source.kind == "url"), spec.name
        if spec.download:
            assert callable(resolve(spec.download)), spec.name


@pytest.mark.parametrize("name", ["tiny", "pengi"])
def test_spec_dimensions_match_the_model(name):
    import torch

    from septctl.backbones.pengi import PengiBackbone
    from septctl.backbones.tiny import TinyBackbone

    if name == "tiny":
        model = TinyBackbone()  # small; its seeded init does not run on the meta device
    else:
        with torch.device("meta"):
            model = PengiBackbone()
    spec = SPECS[name]
    assert (spec.embed_dim, spec.token_dim, spec.sample_rate, spec.clip_seconds, spec.text_len) == (
        model.embed_dim, model.token_dim, model.audio_spec.sample_rate, model.audio_spec.clip_seconds,
        model.tokenizer.context_length)


@pytest.mark.parametrize("name", ["clip-tiny", "clip-vit-b16"])
def test_image_spec_dimensions_match_the_model(name):
    """An image backbone has no audio format: its spec's image side and text length are the model's."""
    import torch

    from septctl.backbones.clip_vit import B16_CONFIG, ClipVitBackbone, clip_config, image_processor

    if name == "clip-tiny":
        model = resolve(SPECS[name].factory)()
    else:
        from transformers import CLIPModel

        with torch.device("meta"):
            model = ClipVitBackbone(CLIPModel(clip_config(B16_CONFIG)), image_processor())
    spec = SPECS[name]
    assert (spec.modality, spec.embed_dim, spec.token_dim, spec.image_size, spec.text_len) == (
        model.modality, model.embed_dim, model.token_dim, model.image_size, model.tokenizer.context_length)
    assert (spec.sample_rate, spec.clip_seconds) == (0, 0)


def test_registry_loads_no_torch():
    code = "import sys, septctl.backbones.registry, septctl.backbones; print('torch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
