"""LAION-CLAP and MS-CLAP computed as their own code computes them.

References, each from the package that defines the behaviour (./dev test installs both
packages without their dependencies, since both pin transformers < 5; the tests skip without them):
- LAION-CLAP's loader (laion_clap 1.1.7, `hook.get_audio_embedding_from_filelist`):
  `librosa.load(path, sr=48000)`, then laion_clap's own `float32_to_int16`, `int16_to_float32`
  and `get_audio_features` ("repeatpad"); the mel front end and model are transformers'
  `ClapFeatureExtractor` (with the weights' preprocessor_config.json) and `ClapModel`, the
  layout septctl loads.
- MS-CLAP (msclap 1.3.4): its own `CLAP` module and `CLAPWrapper` audio loader; its text
  procedure ("!" registered as the pad token, " <|endoftext|>" appended, 77 tokens, pooled at
  `torch.ne(ids, 0).sum(-1) - 1`) is typed in, because it calls `encode_plus`, which
  transformers 5 removed.
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


def test_laion_clap_ids_match_laion_claps_tokenizer(roberta_dir):
    """laion_clap's hook.CLAP_Module.tokenizer: slow RobertaTokenizer, padded to 77, truncated."""
    from transformers import RobertaTokenizer, RobertaTokenizerFast

    slow = RobertaTokenizer.from_pretrained(roberta_dir)
    reference = slow(SENTENCES, padding="max_length", truncation=True, max_length=77, return_tensors="pt")
    ids, eot = BpeTokenizer(lambda: RobertaTokenizerFast.from_pretrained(roberta_dir), 77)(SENTENCES)
    assert torch.equal(ids, reference["input_ids"])
    # septctl attends up to each row's </s>, which is where the reference mask ends
    assert torch.equal(eot, reference["attention_mask"].sum(-1) - 1)
    assert (ids[torch.arange(len(SENTENCES)), eot] == slow.eos_token_id).all()


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

def _laion_data(monkeypatch=None):
    """laion_clap.training.data (1.1.7), its own loader steps; ./dev test installs it without deps."""
    data = pytest.importorskip("laion_clap.training.data", reason="laion_clap not installed (./dev test installs it)")
    if monkeypatch is not None:  # rand_trunc at offset 0 is septctl's "start" crop
        monkeypatch.setattr(data.np.random, "randint", lambda low, high: 0)
    return data


def _laion_loader(path) -> np.ndarray:
    """laion_clap's get_audio_embedding_from_filelist up to the extractor: librosa.load, int16 round trip."""
    import librosa

    data = _laion_data()
    x, _ = librosa.load(str(path), sr=48000)
    return data.int16_to_float32(data.float32_to_int16(x))


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
def test_laion_waveform_is_laions_loader(tmp_path, monkeypatch):
    from septctl.backbones.laion_clap import AUDIO as spec
    from septctl.data.audio import load_clip

    data, n = _laion_data(monkeypatch), spec.clip_samples
    for path in _clips(tmp_path):
        wave = torch.from_numpy(_laion_loader(path)).float()  # as hook.py hands it on
        ref = data.get_audio_features({}, wave, n, "rand_trunc", "repeatpad", {})["waveform"]
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
def test_laion_audio_and_text_embeddings_match_the_reference(tmp_path, roberta_dir):
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

    from transformers import RobertaTokenizer

    reference_ids = RobertaTokenizer.from_pretrained(roberta_dir)(  # laion_clap's hook tokenizer call
        SENTENCES, padding="max_length", truncation=True, max_length=77, return_tensors="pt")
    with torch.no_grad():
        features = model.get_text_features(**reference_ids)
        features = getattr(features, "pooler_output", features)  # transformers 5 returns an output object
        expected = F.normalize(features, dim=-1)
        got = F.normalize(ours.encode_sentences(SENTENCES), dim=-1)
    assert (got - expected).abs().max() <= 1e-5


# ---------------------------------------------------------------- MS-CLAP audio

def _msclap_reference(monkeypatch):
    """msclap's own CLAP module (2023 config) and its CLAPWrapper audio loader, with random GPT-2.

    msclap pins transformers < 5, so ./dev installs it without its dependencies; its text tower
    comes from the hub (`AutoModel.from_pretrained("gpt2")`), replaced by a random GPT2Model of the
    same config. torchaudio 2.9's `load` needs torchcodec (not installed): soundfile returns the
    same float32 samples, channels first, for these WAV files.
    """
    clap_module = pytest.importorskip("msclap.models.clap", reason="msclap not installed (./dev test installs it)")
    wrapper_module = pytest.importorskip("msclap.CLAPWrapper")
    import torchaudio
    from transformers import GPT2Config, GPT2Model

    monkeypatch.setattr(clap_module.AutoModel, "from_pretrained", lambda name: GPT2Model(GPT2Config()))
    monkeypatch.setattr(torchaudio, "load", lambda p: (torch.from_numpy(sf.read(p, dtype="float32", always_2d=True)[0].T.copy()),
                                                      sf.info(p).samplerate))
    monkeypatch.setattr(wrapper_module.random, "randrange", lambda n: 0)  # crop at the start, as crop="start"
    cfg = dict(audioenc_name="HTSAT", sample_rate=44100, window_size=1024, hop_size=320, mel_bins=64, fmin=50,
               fmax=8000, classes_num=527, out_emb=768, text_model="gpt2", transformer_embed_dim=768, d_proj=1024)
    model = _perturbed(clap_module.CLAP(**cfg), 5).eval()

    class Loader:  # the two CLAPWrapper methods that load audio, without loading its weights
        args = type("Args", (), {"sampling_rate": 44100, "duration": 7})
        read_audio = wrapper_module.CLAPWrapper.read_audio
        load_audio_into_tensor = wrapper_module.CLAPWrapper.load_audio_into_tensor

    return model, Loader()


@pytest.mark.slow
@pytest.mark.shared
def test_ms_clap_matches_msclaps_own_module(tmp_path, monkeypatch, gpt2_dir):
    from septctl.backbones.ms_clap import load_ms_clap
    from septctl.data.audio import load_clip

    torch.manual_seed(0)
    reference, loader = _msclap_reference(monkeypatch)
    checkpoint = tmp_path / "CLAP_weights_2023.pth"
    torch.save({"model": reference.state_dict()}, checkpoint)  # the release's layout
    ours = load_ms_clap(checkpoint).freeze()
    worst = 0.0
    with torch.no_grad():
        for path in _clips(tmp_path):
            wave = loader.load_audio_into_tensor(str(path), 7, resample=True)
            expected = F.normalize(reference.audio_encoder(wave[None])[0], dim=-1)
            got = F.normalize(ours.encode_audio(load_clip(path, ours.audio_spec, crop="start")[None]), dim=-1)
            worst = max(worst, float((got - expected).abs().max()))
    print(f"MS-CLAP audio vs msclap: max |difference| {worst:.2e}")
    assert worst <= 1e-5

    ours.tokenizer = _ms_tokenizer(gpt2_dir)
    ids, mask, _ = _msclap_reference_ids(gpt2_dir, SENTENCES)
    with torch.no_grad():
        expected = F.normalize(reference.caption_encoder({"input_ids": ids, "attention_mask": mask}), dim=-1)
        got = F.normalize(ours.encode_sentences(SENTENCES), dim=-1)
    text_worst = float((got - expected).abs().max())
    print(f"MS-CLAP text vs msclap: max |difference| {text_worst:.2e}")
    assert text_worst <= 1e-5
