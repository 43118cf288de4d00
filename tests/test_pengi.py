"""Pengi backbone: HTSAT equals msclap's, the loader takes Pengi's exact checkpoint layout
and refuses others, audio and text paths are exact and deterministic.

No real weights here: a full-size random checkpoint in Pengi's key layout is written to
tmp_path and loaded through the real loader.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

from septctl.backbones.htsat import HTSAT
from septctl.backbones.pengi import (
    PREFIX_MAP,
    PengiBackbone,
    download_pengi,
    load_pengi,
    pengi_expected_shapes,
    pengi_key_map,
    to_pengi_key,
)
from septctl.backbones.weights import select_state
from septctl.errors import SeptctlError

FIXTURES = Path(__file__).resolve().parent / "fixtures"
SESA = Path(__file__).resolve().parents[2] / "shared" / "data" / "SESA"
sys.path.insert(0, str(FIXTURES))
from htsat_weights import deterministic_state  # noqa: E402


def _reference():
    from safetensors import safe_open

    with safe_open(str(FIXTURES / "htsat_reference.safetensors"), "pt") as f:
        meta = f.metadata()
        return meta, f.get_tensor("input"), f.get_tensor("embedding")


def test_htsat_names_and_shapes_match_msclap():
    meta, _, _ = _reference()
    with torch.device("meta"):
        ours = {k: list(v.shape) for k, v in HTSAT().state_dict().items()}
    assert ours == json.loads(meta["shapes"])


@pytest.mark.slow
def test_htsat_output_matches_msclap():
    meta, wav, expected = _reference()
    model = HTSAT().eval()
    model.load_state_dict(deterministic_state(model.state_dict(), int(meta["seed"])), strict=True)
    with torch.no_grad():
        got = model(wav)
    assert got.shape == (2, 768)
    assert (got - expected).abs().max() <= 1e-5


def test_key_map_is_one_prefix_rename():
    expected = pengi_expected_shapes()
    pengi_keys = {
        "audio_encoder.base.htsat.logmel_extractor.melW": "audio.logmel_extractor.melW",
        "audio_encoder.base.htsat.layers.0.blocks.1.attn_mask": "audio.layers.0.blocks.1.attn_mask",
        "audio_encoder.projection.linear1.weight": "audio_projection.linear1.weight",
        "caption_encoder.base.encoder.layers.11.mlp.fc2.bias": "text.core.encoder.layers.11.mlp.fc2.bias",
        "caption_encoder.base.embeddings.token_embedding.weight": "text.core.embeddings.token_embedding.weight",
        "caption_encoder.clip_text_projection.weight": "text_projection.weight",
        "caption_encoder.projection.layer_norm.bias": "projection.layer_norm.bias",
    }
    for src, ours in pengi_keys.items():
        assert pengi_key_map(src) == ours and ours in expected
    assert pengi_key_map("caption_decoder.gpt.transformer.wte.weight") is None
    assert pengi_key_map("audio_encoder.something.else") == "audio_encoder.something.else"  # -> "unexpected"
    assert all(any(k.startswith(dst) for _, dst in PREFIX_MAP.pairs) for k in expected)


def _pengi_state(model: PengiBackbone) -> dict[str, torch.Tensor]:
    """`model`'s weights under the key names of Pengi's base.pth, decoder and quirks included."""
    parts = {
        "audio_encoder.base.htsat.": model.audio,
        "audio_encoder.projection.": model.audio_projection,
        "caption_encoder.base.": model.text.core,
        "caption_encoder.clip_text_projection.": model.text_projection,
        "caption_encoder.projection.": model.projection,
    }
    state = {f"module.{prefix}{k}": v.clone() for prefix, mod in parts.items() for k, v in mod.state_dict().items()}
    state["module.caption_encoder.base.embeddings.position_ids"] = torch.arange(77)[None]
    state["module.caption_decoder.gpt.transformer.wte.weight"] = torch.randn(8, 4)
    state["module.caption_decoder.gpt.transformer.h.0.attn.bias"] = torch.ones(1, 1, 4, 4)
    state["module.caption_decoder.audio_project.linear.weight"] = torch.randn(4, 4)
    return state


@pytest.fixture(scope="module")
def pengi(tmp_path_factory):
    """(source model, checkpoint path, model loaded from it through the real loader)."""
    tmp = tmp_path_factory.mktemp("pengi")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SEPTCTL_CACHE", str(tmp / "cache"))
        torch.manual_seed(0)
        source = PengiBackbone()
        source.audio.load_state_dict(deterministic_state(source.audio.state_dict(), 7))
        source.freeze()
        ckpt = tmp / "base.pth"
        torch.save({"model": _pengi_state(source), "epoch": 3}, ckpt)
        card = download_pengi(local=ckpt)  # registers the file, hashes it, builds the fast cache
        loaded = load_pengi(None).freeze()
        yield source, ckpt, loaded, card


@pytest.mark.slow
def test_loader_reads_pengi_layout_exactly(pengi):
    source, ckpt, loaded, card = pengi
    ref = source.state_dict()
    got = loaded.state_dict()
    assert set(got) == set(ref)
    assert all(torch.equal(got[k], ref[k]) for k in ref)
    assert len(card["sha256"]) == 64 and card["path"] == str(ckpt.resolve()) and not card["pinned"]


@pytest.mark.slow
def test_second_load_uses_safetensors_cache_without_pickle(pengi, monkeypatch, tmp_path):
    source, ckpt, _, _ = pengi
    monkeypatch.setenv("SEPTCTL_CACHE", str(ckpt.parent / "cache"))

    def no_pickle(*a, **k):
        raise AssertionError("torch.load called although the converted cache exists")

    monkeypatch.setattr(torch, "load", no_pickle)
    again = load_pengi(ckpt)
    assert again.weights_id() == source.weights_id()


@pytest.mark.slow
def test_pinned_sha256_is_checked(pengi, monkeypatch):
    _, ckpt, _, card = pengi
    monkeypatch.setenv("SEPTCTL_CACHE", str(ckpt.parent / "cache"))
    with pytest.raises(SeptctlError, match="not the pinned"):
        download_pengi(local=ckpt, sha256="0" * 64)
    assert download_pengi(local=ckpt, sha256=card["sha256"].upper())["pinned"] is True


@pytest.mark.slow
@pytest.mark.shared
def test_sesa_clips_embed_deterministically(pengi):
    if not SESA.is_dir():
        pytest.skip(f"{SESA} absent (needs ../shared/data beside the checkout)")
    from septctl.data.audio import load_clip

    _, _, model, _ = pengi
    files = sorted((SESA / "test").glob("*.wav"))[::40][:3]
    wav = torch.stack([load_clip(f, model.audio_spec) for f in files])
    assert wav.shape == (len(files), 308_700)
    with torch.no_grad():
        a, b = model.encode_audio(wav), model.encode_audio(wav)
    assert a.shape == (len(files), 1024) and torch.isfinite(a).all()
    assert torch.equal(a, b)
    assert (a[0] - a[1]).abs().max() > 1e-3  # different clips, different embeddings


@pytest.mark.slow
def test_prompt_path_equals_hf_forward(pengi):
    _, _, model, _ = pengi
    texts = ["a recording of a siren.", "gunshot", "the sound of an explosion far away, echoing twice"]
    ids, eot = model.tokenizer(texts)
    from septctl.backbones.clip_text import build_clip_text_model

    reference = build_clip_text_model()  # transformers' CLIPTextModel with the loaded weights (ours are plain modules)
    missing, unexpected = reference.load_state_dict(model.text.core.state_dict(), strict=False)
    assert not unexpected and set(missing) <= {"embeddings.position_ids"}  # a buffer in some transformers versions
    with torch.no_grad():
        hf = reference(input_ids=ids).pooler_output
        expected = model.projection(model.text_projection(hf))
        got = model.encode_text(model.token_embedding()(ids), eot)
        # Anything after each prompt's end-of-text token is ignored.
        noisy = model.token_embedding()(ids)
        after = torch.arange(ids.shape[1])[None] > eot[:, None]
        noisy[after] = torch.randn(int(after.sum()), model.token_dim)
        trimmed = model.encode_text(noisy, eot)
    assert got.shape == (3, 1024)
    assert (got - expected).abs().max() <= 1e-5
    assert (trimmed - got).abs().max() <= 1e-5


@pytest.mark.slow
def test_reference_dropout_is_opt_in(pengi):
    _, _, model, _ = pengi
    (drop,) = model.text_dropout_modules()
    assert drop.p == 0.5 and drop is model.projection.drop
    ids, eot = model.tokenizer(["a siren"])
    x = model.token_embedding()(ids).expand(4, -1, -1)
    with torch.no_grad():
        model.train()
        plain = model.encode_text(x, eot.expand(4))
        model.set_reference_dropout(True)
        noisy = model.encode_text(x, eot.expand(4))
        model.set_reference_dropout(False)
    assert not model.training and not drop.training
    assert torch.allclose(plain[0], plain[1]) and not torch.allclose(noisy[0], noisy[1])


def _meta_pengi_state() -> dict[str, torch.Tensor]:
    return {to_pengi_key(k): torch.empty(s, device="meta") for k, s in pengi_expected_shapes().items()}


def test_missing_and_unknown_keys_are_refused():
    expected = pengi_expected_shapes()
    path = Path("base.pth")
    state = _meta_pengi_state()
    assert set(select_state(state, pengi_key_map, expected, path)) == set(expected)

    missing = dict(state)
    del missing["audio_encoder.projection.linear2.weight"]
    with pytest.raises(SeptctlError, match=r"base\.pth: .*missing keys audio_encoder\.projection\.linear2\.weight"):
        select_state(missing, pengi_key_map, expected, path, inverse=to_pengi_key)

    extra = {**state, "audio_encoder.base.htsat.fc_doa.weight": torch.empty(3, device="meta")}
    with pytest.raises(SeptctlError, match=r"unexpected keys audio_encoder\.base\.htsat\.fc_doa\.weight"):
        select_state(extra, pengi_key_map, expected, path)

    wrong = {**state, "caption_encoder.clip_text_projection.weight": torch.empty(512, 768, device="meta")}
    with pytest.raises(SeptctlError, match=r"text_projection\.weight has shape \(512, 768\)"):
        select_state(wrong, pengi_key_map, expected, path)


def test_wrong_file_named_in_error(tmp_path, monkeypatch):
    monkeypatch.setenv("SEPTCTL_CACHE", str(tmp_path / "cache"))
    bad = tmp_path / "other.pth"
    torch.save({"model": {"audio_encoder.projection.linear1.weight": torch.zeros(2, 2)}}, bad)
    with pytest.raises(SeptctlError, match=r"other\.pth: not the expected checkpoint \(missing keys"):
        load_pengi(bad)
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(SeptctlError, match=r"junk\.pth: not a PyTorch checkpoint"):
        load_pengi(tmp_path / "junk.pth")


def test_no_weights_says_how_to_get_them(tmp_path, monkeypatch):
    monkeypatch.setenv("SEPTCTL_CACHE", str(tmp_path))
    with pytest.raises(SeptctlError, match=r"septctl download pengi.*--weights PATH"):
        load_pengi(None)
    with pytest.raises(SeptctlError, match=r"nope\.pth: Pengi checkpoint not found"):
        load_pengi(tmp_path / "nope.pth")


class _FakeResponse:
    """What urllib returns, serving `data` from the Range header's offset (206) or whole (200)."""

    def __init__(self, data: bytes, start: int, honour_range: bool):
        self.status = 206 if start and honour_range else 200
        self._body = data[start:] if self.status == 206 else data
        self.headers = {"Content-Length": str(len(self._body))}

    def read(self, n: int) -> bytes:
        block, self._body = self._body[:n], self._body[n:]
        return block

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


@pytest.mark.parametrize("honour_range", [True, False])
def test_fetch_resumes_a_partial_download(tmp_path, monkeypatch, honour_range):
    from septctl.backbones import weights

    data = bytes(range(256)) * 9000
    seen = []

    def fake_urlopen(req, timeout):
        rng = req.get_header("Range")
        seen.append(rng)
        start = int(rng.split("=")[1].rstrip("-")) if rng else 0
        return _FakeResponse(data, start, honour_range)

    monkeypatch.setattr(weights.urllib.request, "urlopen", fake_urlopen)
    dest = tmp_path / "base.pth"
    (tmp_path / "base.pth.part").write_bytes(data[:1000])
    progress = []
    weights.fetch("https://example.invalid/base.pth", dest, lambda done, total: progress.append((done, total)))
    assert dest.read_bytes() == data and not (tmp_path / "base.pth.part").exists()
    assert seen == ["bytes=1000-"]
    assert progress[-1] == (len(data), len(data))


def test_backbones_command_lists_cache_state(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from septctl.cli.main import app

    monkeypatch.setenv("SEPTCTL_CACHE", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    result = CliRunner().invoke(app, ["backbones", "--json"])
    assert result.exit_code == 0, result.output
    rows = {r["name"]: r for r in json.loads(result.stdout)}
    assert set(rows) == {"tiny", "pengi", "laion-clap", "ms-clap", "synth-clap", "clip-vit-b16", "clip-tiny"}
    assert rows["clip-vit-b16"]["modality"] == "image" and rows["clip-vit-b16"]["image_size"] == 224
    assert rows["pengi"]["embed_dim"] == 1024 and rows["pengi"]["sample_rate"] == 44100
    assert rows["pengi"]["cached"] is None


@pytest.mark.slow
@pytest.mark.shared
def test_embed_sesa_on_pengi_checkpoint(pengi, run_cli, tmp_path):
    """`septctl embed sesa --backbone pengi --weights CKPT` end to end: all 585 real SESA clips."""
    if not SESA.is_dir():
        pytest.skip(f"{SESA} absent (needs ../shared/data beside the checkout)")
    _, ckpt, _, _ = pengi
    data = tmp_path / "data"
    code, _, err = run_cli("data", "prepare", "sesa", "--source", SESA, "--out", data / "SESA", "--link")
    assert code == 0, err
    code, _, err = run_cli("embed", "sesa", "--data-root", data, "--backbone", "pengi", "--weights", ckpt,
                           "--batch-size", "8")
    assert code == 0, err
    assert "computed: 585 embeddings of sesa" in err and "(585, 1024)" in err
    code, _, err = run_cli("embed", "sesa", "--data-root", data, "--backbone", "pengi", "--weights", ckpt)
    assert code == 0 and "cache hit" in err


def test_fresh_htsat_front_end_is_a_real_stft_and_mel():
    """Before any checkpoint, the STFT kernels compute torch.stft's power and melW is a filterbank.

    (Once compared with msclap/torchlibrosa's freshly built front end: max difference 6e-8.)
    """
    from septctl.backbones.htsat import _LogMel, _Spectrogram, HTSATConfig

    wav = torch.randn(2, 16000, generator=torch.Generator().manual_seed(0))
    ours = _Spectrogram(1024, 320)(wav)[:, 0]
    spec = torch.stft(wav, 1024, 320, window=torch.hann_window(1024), center=True, pad_mode="reflect",
                      return_complex=True)
    ref = (spec.abs() ** 2).transpose(1, 2)
    assert torch.allclose(ours, ref, rtol=1e-3, atol=1e-2)
    mel = _LogMel(HTSATConfig()).melW
    assert mel.shape == (513, 64) and (mel >= 0).all() and (mel.sum(0) > 0).all()
    assert mel[mel.sum(1) > 0].shape[0] < 513  # fmax 14 kHz at 32 kHz: the top bins stay empty
