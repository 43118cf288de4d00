"""LAION-CLAP and MS-CLAP computed as their own code computes them.

References, each from the package that defines the behaviour:
- LAION-CLAP's loader (laion_clap 1.1.7, `hook.get_audio_embedding_from_filelist`):
  `librosa.load(path, sr=48000)` (mono, soxr high quality), then
  `int16_to_float32(float32_to_int16(x))`, then "repeatpad" for short clips; the mel
  front end is transformers' `ClapFeatureExtractor` with the weights' preprocessor_config.json.
- MS-CLAP's text path (msclap 1.3.4): "!" registered as the pad token, " <|endoftext|>"
  appended, `encode_plus(..., max_length=77, padding="max_length")`, pooled at
  `torch.ne(ids, 0).sum(-1) - 1`.
The real RoBERTa / GPT-2 vocabularies are not downloadable here: a byte-level BPE is trained
on a few sentences with "!" at id 0, as in GPT-2's real vocabulary.
"""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import torch
import torch.nn.functional as F

from septctl.backbones.bpe_tokenizers import BpeTokenizer
from tests.conftest import needs_shared

SENTENCES = ["Glass shatters!!", "A dog barks 3 times, then 12 more!", "Él dice: ¡hola! café", "a siren.",
             "This is a sound of rain."]
CORPUS = SENTENCES * 10 + ["the sound of an explosion far away", "This is a sound of a car horn.", "X X X X X"] * 10


def _bpe(tmp_path, special):
    from tokenizers import ByteLevelBPETokenizer

    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(CORPUS, vocab_size=500, min_frequency=1, special_tokens=special, show_progress=False)
    bpe.save_model(str(tmp_path))
    return str(tmp_path)


@pytest.fixture
def gpt2_dir(tmp_path):
    (tmp_path / "gpt2").mkdir()
    return _bpe(tmp_path / "gpt2", ["!", "<|endoftext|>"])


@pytest.fixture
def roberta_dir(tmp_path):
    (tmp_path / "roberta").mkdir()
    return _bpe(tmp_path / "roberta", ["<s>", "<pad>", "</s>", "<unk>", "<mask>"])


def _msclap_reference_ids(folder: str, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """msclap's CLAPWrapper.preprocess_text and TextEncoder pooling, step for step."""
    from transformers import GPT2TokenizerFast

    tok = GPT2TokenizerFast.from_pretrained(folder)
    tok.add_special_tokens({"pad_token": "!"})
    # msclap calls encode_plus, which transformers 5 removed; __call__ on one text is the same
    rows = [tok(text=t + " <|endoftext|>", add_special_tokens=True, max_length=77, padding="max_length",
                return_tensors="pt") for t in texts]
    ids = torch.stack([r["input_ids"].reshape(-1) for r in rows])
    mask = torch.stack([r["attention_mask"].reshape(-1) for r in rows])  # 0 only on the padding, not on "!" in text
    return ids, mask, torch.ne(ids, 0).sum(-1) - 1


def _ms_tokenizer(folder: str) -> BpeTokenizer:
    from transformers import GPT2TokenizerFast

    from septctl.backbones.ms_clap import gpt2_tokenizer

    return gpt2_tokenizer(lambda: GPT2TokenizerFast.from_pretrained(folder))


def test_ms_clap_ids_and_pooling_match_msclap(gpt2_dir):
    ref_ids, _, ref_pool = _msclap_reference_ids(gpt2_dir, SENTENCES)
    tok = _ms_tokenizer(gpt2_dir)
    ids, eot = tok(SENTENCES)
    assert tok.pad_id == 0
    assert torch.equal(ids, ref_ids) and torch.equal(eot, ref_pool)
    # "!!" is two pad ids inside the text, so pooling sits two tokens before <|endoftext|>
    row = ids[0].tolist()
    end = row.index(tok.hf.convert_tokens_to_ids("<|endoftext|>"))
    assert row[:end].count(0) == 2 and int(eot[0]) == end - 2


def _perturbed(model: torch.nn.Module, seed: int) -> torch.nn.Module:
    """Random weights with non-trivial norms and biases (default inits leave biases at zero)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.02 * torch.randn(p.shape, generator=g))
    return model


@pytest.mark.slow
def test_ms_clap_text_matches_msclap_forward(gpt2_dir):
    from septctl.backbones.ms_clap import MsClapBackbone

    torch.manual_seed(0)
    model = _perturbed(MsClapBackbone(tokenizer=_ms_tokenizer(gpt2_dir)), 1).freeze()
    ref_ids, mask, pool = _msclap_reference_ids(gpt2_dir, SENTENCES)
    with torch.no_grad():
        hidden = model.text(input_ids=ref_ids, attention_mask=mask).last_hidden_state
        expected = F.normalize(model.projection(hidden[torch.arange(len(SENTENCES)), pool]), dim=-1)
        got = F.normalize(model.encode_sentences(SENTENCES), dim=-1)
    assert (got - expected).abs().max() <= 1e-5


def _prompt_path_reproduces_sentences(model, names: list[str]) -> float:
    """Learned context set to the token embeddings of "This is a sound of" vs the plain sentences."""
    from septctl.methods.prompts import PromptBuilder

    words = model.tokenizer.hf("This is a sound of", add_special_tokens=False)["input_ids"]
    ctx = model.token_embedding()(torch.tensor(words))
    with torch.no_grad():
        got = F.normalize(PromptBuilder(model, len(words)).encode(ctx, names), dim=-1)
        plain = F.normalize(model.encode_sentences([f"This is a sound of {n}." for n in names]), dim=-1)
    return float((got - plain).abs().max())


@pytest.mark.slow
def test_prompt_path_reproduces_the_sentence_on_both_clap_backbones(gpt2_dir, roberta_dir):
    from transformers import ClapConfig, ClapModel, RobertaTokenizerFast

    from septctl.backbones.laion_clap import LaionClapBackbone
    from septctl.backbones.ms_clap import MsClapBackbone

    torch.manual_seed(0)
    names = ["rain", "car horn", "explosion far away"]
    ms = _perturbed(MsClapBackbone(tokenizer=_ms_tokenizer(gpt2_dir)), 2).freeze()
    laion = LaionClapBackbone(_perturbed(ClapModel(ClapConfig()), 3),
                              BpeTokenizer(lambda: RobertaTokenizerFast.from_pretrained(roberta_dir), 77)).freeze()
    assert _prompt_path_reproduces_sentences(ms, names) <= 1e-5
    assert _prompt_path_reproduces_sentences(laion, names) <= 1e-5


# ---------------------------------------------------------------- LAION-CLAP audio

def _laion_loader(path) -> np.ndarray:
    """laion_clap's get_audio_embedding_from_filelist up to the model: librosa.load, int16 round trip."""
    librosa = pytest.importorskip("librosa")
    x, _ = librosa.load(str(path), sr=48000)
    x = (np.clip(x, -1.0, 1.0) * 32767.0).astype(np.int16)  # laion_clap.training.data.float32_to_int16
    return (x / 32767.0).astype(np.float32)  # int16_to_float32


def _stereo_48k(tmp_path):
    t = np.arange(12 * 48000) / 48000
    g = np.random.default_rng(0)
    left = 0.3 * np.sin(2 * np.pi * 440 * t) + 0.05 * g.standard_normal(t.size)
    right = 0.2 * np.sin(2 * np.pi * 3000 * t) + 0.05 * g.standard_normal(t.size)
    path = tmp_path / "long48k.wav"
    sf.write(path, np.stack([left, right], 1).astype(np.float32), 48000, subtype="FLOAT")
    return path


def _clips(tmp_path):
    sesa = needs_shared("SESA")
    return sorted((sesa / "train").glob("*.wav"))[:3] + [_stereo_48k(tmp_path)]


@pytest.mark.shared
def test_laion_waveform_is_laions_loader(tmp_path):
    from septctl.backbones.laion_clap import AUDIO as spec
    from septctl.data.audio import load_clip

    n = spec.clip_samples
    for path in _clips(tmp_path):
        ref = torch.from_numpy(_laion_loader(path))
        if ref.numel() <= n:  # laion_clap.training.data.get_audio_features, data_filling="repeatpad"
            ref = F.pad(ref.repeat(n // ref.numel()), (0, n - (n // ref.numel()) * ref.numel()))
        else:  # rand_trunc at offset 0 is septctl's "start" crop
            ref = ref[:n]
        got = load_clip(path, spec, crop="start")
        assert got.shape == ref.shape and (got - ref).abs().max() <= 1e-7, path


def _features_folder(tmp_path, **settings):
    from transformers import ClapFeatureExtractor

    folder = tmp_path / "clap"
    ClapFeatureExtractor(**settings).save_pretrained(str(folder))
    return folder


def test_laion_features_come_from_the_weights_folder(tmp_path):
    from septctl.backbones.laion_clap import _features_from, htsat_tiny_features

    assert (htsat_tiny_features().frequency_min, htsat_tiny_features().frequency_max) == (50, 14000)
    assert _features_from(str(tmp_path)).frequency_min == 50  # a folder without the file: HTSAT-tiny's
    assert _features_from(str(_features_folder(tmp_path, frequency_min=40))).frequency_min == 40


@pytest.mark.slow
@pytest.mark.shared
def test_laion_audio_embeddings_match_the_reference(tmp_path, roberta_dir):
    from transformers import ClapConfig, ClapFeatureExtractor, ClapModel, RobertaTokenizerFast

    from septctl.backbones.laion_clap import LaionClapBackbone, _features_from
    from septctl.data.audio import load_clip

    torch.manual_seed(0)
    folder = _features_folder(tmp_path, frequency_min=50, frequency_max=14000, truncation="rand_trunc",
                              padding="repeatpad")
    model = _perturbed(ClapModel(ClapConfig()), 4).eval()
    ours = LaionClapBackbone(model, BpeTokenizer(lambda: RobertaTokenizerFast.from_pretrained(roberta_dir), 77),
                             _features_from(str(folder))).freeze()
    reference_fe = ClapFeatureExtractor.from_pretrained(str(folder))

    def reference(wave: np.ndarray) -> torch.Tensor:  # the extractor pads short clips itself (repeatpad)
        feats = reference_fe(wave[:480000], sampling_rate=48000, return_tensors="pt")
        out = model.audio_model(input_features=feats["input_features"], is_longer=feats["is_longer"])
        return F.normalize(model.audio_projection(out.pooler_output), dim=-1)

    worst = 0.0
    with torch.no_grad():
        for path in _clips(tmp_path):
            expected = reference(_laion_loader(path))
            got = F.normalize(ours.encode_audio(load_clip(path, ours.audio_spec, crop="start")[None]), dim=-1)
            worst = max(worst, float((got - expected).abs().max()))
    assert worst <= 1e-5
