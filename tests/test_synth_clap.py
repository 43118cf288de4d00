"""synth-clap is a real model of its world, and its training script reproduces it.

On the shipped weights: zero-shot accuracy on held-out clips of both synth datasets (base and
new classes) is at least 3x chance, and captions retrieve fresh clips far above chance. The
training script, rerun, gives the recorded first losses bit for bit. Clips here never come from
the training pool (its clip i has seed (0, i); these use other seeds).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import yaml

from septctl.backbones.synth_clap import CARD, WEIGHTS, asset_path
from septctl.data import world
from septctl.data.registry import SYNTH_DATASETS


@pytest.fixture(scope="module")
def model():
    from septctl.backbones import load_backbone

    return load_backbone("synth-clap")


def test_shipped_weights_match_their_card():
    from septctl.artifacts import sha256_file

    card = yaml.safe_load(asset_path(CARD).read_text())
    assert card["sha256"] == sha256_file(asset_path(WEIGHTS))
    assert asset_path(WEIGHTS).stat().st_size <= 20 * 2**20


@pytest.mark.parametrize("info", [d for d in SYNTH_DATASETS if d.modality == "audio"], ids=lambda d: d.name)
def test_zero_shot_is_at_least_three_times_chance(run_cli, tmp_path, info):
    from septctl.data.synth import synthesize_world

    root = tmp_path / info.name
    synthesize_world(info.name, root, train_per_class=1, test_per_class=10, seed=7)
    for classes in ("base", "new"):
        code, out, err = run_cli("eval", "--zeroshot", root, "--backbone", "synth-clap", "--classes", classes,
                                 "--out", tmp_path / f"zs-{classes}", "--json")
        assert code == 0, err
        chance = 100 / len(getattr(info, classes))
        assert json.loads(out)["accuracy"] >= 3 * chance, (info.name, classes, out)


def test_captions_retrieve_fresh_clips_far_above_chance(model):
    """Caption -> clip among 64 fresh clips; a hit is a clip with every attribute the caption names."""
    rng = np.random.default_rng([2024, 1])
    sounds = [world.random_sound(rng) for _ in range(64)]
    waves = torch.from_numpy(np.stack([world.render(s, rng) for s in sounds]))
    caps = [world.caption(s, rng) for s in sounds]
    with torch.no_grad():
        audio = F.normalize(model.encode_audio(waves), dim=-1)
        text = F.normalize(model.encode_sentences([c for c, _ in caps]), dim=-1)
    best = (text @ audio.T).argmax(dim=1)
    ok = [all(sounds[int(j)].value(a) == s.value(a) for a in named) for j, s, (_, named) in zip(best, sounds, caps)]
    chance = np.mean([np.mean([all(o.value(a) == s.value(a) for a in named) for o in sounds])
                      for s, (_, named) in zip(sounds, caps)])
    hit_rate = float(np.mean(ok))
    assert hit_rate >= 0.6 and hit_rate >= 4 * chance, (hit_rate, chance)


def test_training_reproduces_the_recorded_first_losses():
    from septctl.backbones.synth_clap_train import TrainConfig, train

    card = yaml.safe_load(asset_path(CARD).read_text())
    cfg = TrainConfig(**card["config"])
    threads = torch.get_num_threads()
    try:
        _, losses = train(cfg, steps=3, log_every=0)
    finally:
        torch.set_num_threads(threads)
    assert losses == card["first_losses"][:3]


def test_backbones_listing_matches_the_model(model):
    from septctl.backbones.registry import SPECS

    info = SPECS["synth-clap"].listing()
    spec = model.audio_spec
    assert (info["embed_dim"], info["token_dim"], info["sample_rate"], info["clip_seconds"], info["text_len"]) == (
        model.embed_dim, model.token_dim, spec.sample_rate, spec.clip_seconds, model.tokenizer.context_length)
