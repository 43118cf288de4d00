"""LAION-CLAP and MS-CLAP backbones with random weights and small offline BPE vocabularies.

The real RoBERTa / GPT-2 vocabularies come from the HF hub; here a byte-level BPE is
trained on a few sentences (same tokenizer classes, same special tokens), which is all
the prompt path needs: ids index the model's full embedding table either way.
"""

from __future__ import annotations

import pytest
import torch

from septctl.backbones.bpe_tokenizers import BpeTokenizer
from septctl.errors import SeptctlError

CORPUS = ["a recording of a siren.", "gunshot", "the sound of an explosion far away!", "casual talk in a cafe"] * 20
TEXTS = ["a recording of a siren.", "gunshot", "the sound of an explosion far away"]


def _bpe_dir(tmp_path, special: list[str]):
    from tokenizers import ByteLevelBPETokenizer

    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(CORPUS, vocab_size=400, min_frequency=1, special_tokens=special, show_progress=False)
    bpe.save_model(str(tmp_path))
    return tmp_path


@pytest.fixture
def roberta_tokenizer(tmp_path):
    from transformers import RobertaTokenizerFast

    d = _bpe_dir(tmp_path, ["<s>", "<pad>", "</s>", "<unk>", "<mask>"])
    return BpeTokenizer(lambda: RobertaTokenizerFast.from_pretrained(str(d)), context_length=77)


@pytest.fixture
def gpt2_tok(tmp_path):
    from transformers import GPT2TokenizerFast

    from septctl.backbones.ms_clap import gpt2_tokenizer

    d = _bpe_dir(tmp_path, ["<|endoftext|>"])
    return gpt2_tokenizer(lambda: GPT2TokenizerFast.from_pretrained(str(d)))


def test_roberta_rows_start_with_bos_and_end_at_eos(roberta_tokenizer):
    ids, eot = roberta_tokenizer(TEXTS)
    assert ids.shape == (3, 77)
    assert (ids[:, 0] == 0).all()  # <s>: learned context goes right after it (ctx_start = 1)
    assert (ids[torch.arange(3), eot] == 2).all()  # </s>
    assert (ids[1, eot[1] + 1 :] == 1).all()  # <pad>
    with pytest.raises(SeptctlError, match="over the text tower's 77"):
        roberta_tokenizer(["siren " * 80])


def test_gpt2_rows_end_with_appended_endoftext(gpt2_tok):
    ids, eot = gpt2_tok(TEXTS)
    end = gpt2_tok.hf.convert_tokens_to_ids("<|endoftext|>")
    assert (ids[torch.arange(3), eot] == end).all()
    assert gpt2_tok.pad_id == gpt2_tok.hf.convert_tokens_to_ids("!")
    assert (ids[1, eot[1] + 1 :] == gpt2_tok.pad_id).all()


@pytest.mark.slow
def test_laion_clap_prompt_path_and_audio(roberta_tokenizer):
    from transformers import ClapConfig, ClapModel

    from septctl.backbones.laion_clap import LaionClapBackbone

    torch.manual_seed(0)
    model = LaionClapBackbone(ClapModel(ClapConfig()), roberta_tokenizer).freeze()
    ids, eot = model.tokenizer(TEXTS)
    with torch.no_grad():
        ref = model.model.text_model(input_ids=ids, attention_mask=(ids != model.tokenizer.pad_id).long())
        expected = model.model.text_projection(ref.pooler_output)
        x = model.token_embedding()(ids)
        got = model.encode_text(x, eot)
        after = torch.arange(77)[None] > eot[:, None]
        x[after] = torch.randn(int(after.sum()), model.token_dim)
        noisy = model.encode_text(x, eot)
        wav = 0.1 * torch.randn(2, model.audio_spec.clip_samples, generator=torch.Generator().manual_seed(1))
        a, b = model.encode_audio(wav), model.encode_audio(wav)
    assert got.shape == (3, 512) and (got - expected).abs().max() <= 1e-5
    assert (noisy - got).abs().max() <= 1e-5
    assert a.shape == (2, 512) and torch.equal(a, b) and (a[0] - a[1]).abs().max() > 1e-4


@pytest.mark.slow
def test_ms_clap_prompt_path_matches_reference(gpt2_tok):
    from septctl.backbones.ms_clap import MsClapBackbone

    torch.manual_seed(0)
    model = MsClapBackbone(tokenizer=gpt2_tok).freeze()
    ids, eot = model.tokenizer(TEXTS)
    with torch.no_grad():
        # msclap: hidden state at the last non-pad token, with the padding mask
        mask = ids != model.tokenizer.pad_id
        hidden = model.text(input_ids=ids, attention_mask=mask.long()).last_hidden_state
        expected = model.projection(hidden[torch.arange(3), mask.sum(-1) - 1])
        got = model.encode_text(model.token_embedding()(ids), eot)
        audio = model.encode_audio(0.1 * torch.randn(1, model.audio_spec.clip_samples))
    assert got.shape == (3, 1024) and (got - expected).abs().max() <= 1e-5
    assert audio.shape == (1, 1024) and torch.isfinite(audio).all()


def test_ms_clap_checkpoint_layout_is_checked(tmp_path):
    from septctl.backbones.ms_clap import TOLERATED, ms_clap_expected_shapes, ms_clap_key_map, to_ms_clap_key
    from septctl.backbones.weights import select_state

    expected = ms_clap_expected_shapes()
    raw = {f"module.{to_ms_clap_key(k)}": torch.empty(s, device="meta") for k, s in expected.items()}
    raw["module.caption_encoder.base.h.0.attn.bias"] = torch.empty(1, 1, 1024, 1024, device="meta")
    raw["module.logit_scale"] = torch.empty((), device="meta")
    assert set(select_state(raw, ms_clap_key_map, expected, tmp_path / "c.pth", TOLERATED)) == set(expected)
    del raw["module.caption_encoder.base.ln_f.weight"]
    with pytest.raises(SeptctlError, match=r"c\.pth: .*missing keys caption_encoder\.base\.ln_f\.weight"):
        select_state(raw, ms_clap_key_map, expected, tmp_path / "c.pth", TOLERATED, to_ms_clap_key)


def test_ms_clap_missing_file_is_named(tmp_path):
    from septctl.backbones.ms_clap import load_ms_clap

    with pytest.raises(SeptctlError, match=r"nope\.pth: MS-CLAP checkpoint not found"):
        load_ms_clap(tmp_path / "nope.pth")


@pytest.mark.slow
@pytest.mark.shared
@pytest.mark.parametrize("which", ["laion-clap", "ms-clap"])
def test_real_sesa_clips_and_padding(which, roberta_tokenizer, gpt2_tok):
    """Real clips embed deterministically at the model's rate; padding after end-of-text changes nothing."""
    from tests.conftest import needs_shared

    from septctl.data.audio import load_clip

    sesa = needs_shared("SESA")
    torch.manual_seed(0)
    if which == "laion-clap":
        from transformers import ClapConfig, ClapModel

        from septctl.backbones.laion_clap import LaionClapBackbone

        model = LaionClapBackbone(ClapModel(ClapConfig()), roberta_tokenizer).freeze()
    else:
        from septctl.backbones.ms_clap import MsClapBackbone

        model = MsClapBackbone(tokenizer=gpt2_tok).freeze()
    files = sorted((sesa / "test").glob("*.wav"))[::50][:2]
    wav = torch.stack([load_clip(f, model.audio_spec) for f in files])  # 16 kHz 8-bit files, resampled
    ids, eot = model.tokenizer(TEXTS)
    with torch.no_grad():
        a, b = model.encode_audio(wav), model.encode_audio(wav)
        x = model.token_embedding()(ids)
        clean = model.encode_text(x, eot)
        after = torch.arange(ids.shape[1])[None] > eot[:, None]
        x[after] = torch.randn(int(after.sum()), model.token_dim)
        noisy = model.encode_text(x, eot)
    assert wav.shape == (2, model.audio_spec.clip_samples)
    assert a.shape == (2, model.embed_dim) and torch.isfinite(a).all() and torch.equal(a, b)
    assert (a[0] - a[1]).abs().max() > 1e-4
    assert (noisy - clean).abs().max() <= 1e-5
