"""Train synth-clap from scratch: `python -m septctl.backbones.synth_clap_train [--out DIR]`.

Contrastive (CLIP-style) on (clip, caption) pairs of the synthetic world (septctl/data/world.py).
Clips come from a pool whose clip i is a pure function of (seed, i), rendered on first use and
kept as log-mel; each step draws a batch and writes a fresh caption for every clip. A caption
names only some attributes, so every clip that has them all is a positive for it (soft targets),
not only the clip it was written for. Writes synth-clap.safetensors and synth-clap.yaml (this
configuration, first and last losses, seconds, machine, sha256) into --out, by default the
package's assets folder, which is what ships.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from septctl.backbones.synth_clap import CARD, WEIGHTS, SynthClapBackbone, asset_path
from septctl.data import world


@dataclass(frozen=True)
class TrainConfig:
    seed: int = 0
    steps: int = 2500
    batch: int = 128
    pool: int = 12000  # distinct clips
    lr: float = 2e-3
    weight_decay: float = 0.01
    warmup: int = 100
    threads: int = 2  # fixed: the float sums, hence the losses bit for bit, depend on it
    record_losses: int = 5  # first losses kept in the card (the reproducibility check)


class ClipPool:
    """Log-mels and attributes of clips 0..size-1, clip i rendered from seed (seed, i) when first asked for."""

    def __init__(self, model: SynthClapBackbone, seed: int):
        self.features, self.seed = model.audio.features, seed
        self.sounds: dict[int, world.Sound] = {}
        self.logmel: dict[int, torch.Tensor] = {}

    def batch(self, idx: np.ndarray) -> tuple[torch.Tensor, list[world.Sound]]:
        missing = [int(i) for i in idx if int(i) not in self.logmel]
        if missing:
            waves = []
            for i in missing:
                rng = np.random.default_rng([self.seed, i])
                self.sounds[i] = world.random_sound(rng)
                waves.append(world.render(self.sounds[i], rng))
            with torch.no_grad():
                mels = self.features(torch.from_numpy(np.stack(waves)))
            self.logmel.update(zip(missing, mels))
        return torch.stack([self.logmel[int(i)] for i in idx]), [self.sounds[int(i)] for i in idx]


def match_matrix(sounds: list[world.Sound], named: list[tuple[str, ...]]) -> torch.Tensor:
    """[clips, captions]: 1 where the clip has every attribute value its caption names."""
    return torch.tensor(
        [[float(all(s.value(a) == c.value(a) for a in names)) for c, names in zip(sounds, named)] for s in sounds]
    )


def contrastive_loss(audio: torch.Tensor, text: torch.Tensor, scale: torch.Tensor, match: torch.Tensor) -> torch.Tensor:
    """Symmetric InfoNCE with every matching pair as a positive (targets spread over them)."""
    logits = scale * F.normalize(audio, dim=-1) @ F.normalize(text, dim=-1).T
    a2t = -(match / match.sum(1, keepdim=True) * logits.log_softmax(1)).sum(1).mean()
    t2a = -(match / match.sum(0, keepdim=True) * logits.log_softmax(0)).sum(0).mean()
    return (a2t + t2a) / 2


def train(cfg: TrainConfig, steps: int | None = None, log_every: int = 100) -> tuple[SynthClapBackbone, list[float]]:
    """The model after `steps` (default cfg.steps) steps, and the loss of every step."""
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    model = SynthClapBackbone(clip_init=True)
    log_scale = torch.nn.Parameter(torch.tensor(math.log(1 / 0.07)))
    params = [p for p in model.parameters()] + [log_scale]
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    total = cfg.steps if steps is None else steps
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / cfg.warmup) * 0.5 * (1 + math.cos(math.pi * min(s, cfg.steps) / cfg.steps))
    )
    pool = ClipPool(model, cfg.seed)
    rng = np.random.default_rng([cfg.seed, 1])
    losses: list[float] = []
    start = time.time()
    for step in range(total):
        idx = rng.choice(cfg.pool, size=cfg.batch, replace=False)
        mels, sounds = pool.batch(idx)
        caps = [world.caption(s, rng) for s in sounds]
        ids, eot = model.tokenizer([c for c, _ in caps])
        audio = model.audio_projection(model.audio.embed_features(mels))
        text = model.encode_text(model.token_embedding()(ids), eot)
        loss = contrastive_loss(audio, text, log_scale.exp().clamp(max=100), match_matrix(sounds, [n for _, n in caps]))
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        losses.append(loss.item())
        if log_every and (step + 1) % log_every == 0:
            recent = sum(losses[-log_every:]) / log_every
            print(f"step {step + 1}/{total} loss {recent:.4f} ({time.time() - start:.0f} s)", flush=True)
    return model, losses


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=asset_path(WEIGHTS).parent, help="folder for the weights and card")
    parser.add_argument("--steps", type=int, default=TrainConfig.steps)
    args = parser.parse_args(argv)
    from septctl.artifacts import save_tensors, sha256_file, write_yaml

    cfg = TrainConfig(steps=args.steps)
    start = time.time()
    model, losses = train(cfg)
    seconds = time.time() - start
    weights = args.out / Path(WEIGHTS).name
    save_tensors(weights, model.state_dict())
    card = {
        "model": "synth-clap",
        "weights": weights.name,
        "sha256": sha256_file(weights),
        "trained_by": "python -m septctl.backbones.synth_clap_train",
        "config": asdict(cfg),
        "first_losses": losses[: cfg.record_losses],
        "last_100_mean_loss": sum(losses[-100:]) / len(losses[-100:]),
        "seconds": round(seconds, 1),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores visible, torch {torch.__version__}",
    }
    write_yaml(args.out / Path(CARD).name, card)
    print(f"wrote {weights} in {seconds:.0f} s")


if __name__ == "__main__":
    main()
