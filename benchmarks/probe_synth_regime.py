"""The cheap probe behind docs/methods.md, "A benchmark in the paper's regime": zero-shot against CoOp
(base / new accuracy per seed) on a candidate synth benchmark, in memory, before making it a dataset.

A candidate is a dict {class name: attribute values}, a background level and a recording condition
(a function of the waveform, see the conditions below). Clips are rendered from the synth world with
their own seeds (not the registry's), embedded once by synth-clap and cached under /tmp; CoOp trains
with the engine's own `train_epoch` (SGD 0.0125, batch 16, 16 shots). One torch thread. Example:

    PYTHONPATH=. python -c "from benchmarks.probe_synth_regime import *; run(jargon24('alto'), bg=0.2, seeds=(0, 1, 2))"

Each call prints zero-shot base/new and CoOp base/new per seed. Numbers differ from the registry
dataset's (other clips), which is why a candidate is then checked with `septctl grid`.
"""
from __future__ import annotations

import hashlib
import json
import os
import random
import time
from pathlib import Path

import numpy as np
import torch

torch.set_num_threads(1)
from septctl.backbones.synth_clap import load_synth_clap
from septctl.data import world
from septctl.data.schema import base_new_split
from septctl.engine.train import train_epoch
from septctl.methods.coop import CoOp
from septctl.methods.zeroshot import ZeroShot

CACHE = Path(os.environ.get("PROBE_CACHE", "/tmp/probe-synth-regime"))
CACHE.mkdir(parents=True, exist_ok=True)
BB = load_synth_clap().eval()
for p in BB.parameters():
    p.requires_grad_(False)


def render_clip(attrs, rng, bg, condition):
    secs = getattr(condition, "seconds", 1.0)
    x = world.render(world.random_sound(rng, attrs), rng, secs)
    x = x + bg * world.render(world.random_sound(rng), rng, secs)
    x = condition(x, rng) if condition else x
    return (0.5 * x / np.abs(x).max()).astype(np.float32)


def features(classes: dict[str, dict], bg: float, condition, cond_key: str, n_train=16, n_test=30, seed=0):
    """{name: (train feats, test feats)}; keyed by attributes + condition so renames reuse the cache."""
    out = {}
    for c, (name, attrs) in enumerate(classes.items()):
        key = hashlib.sha1(json.dumps([sorted(attrs.items()), bg, cond_key, n_train, n_test, seed]).encode()).hexdigest()
        f = CACHE / f"{key}.pt"
        if f.exists():
            out[name] = torch.load(f)
            continue
        feats = []
        for s, count in ((0, n_train), (1, n_test)):
            wav = [render_clip(attrs, np.random.default_rng([seed, 1000 + hash_attrs(attrs), s, i]), bg, condition)
                   for i in range(count)]
            with torch.no_grad():
                feats.append(BB.encode_audio(torch.from_numpy(np.stack(wav))))
        torch.save(tuple(feats), f)
        out[name] = tuple(feats)
    return out


def hash_attrs(attrs):
    return int(hashlib.sha1(json.dumps(sorted(attrs.items())).encode()).hexdigest()[:6], 16)


def acc(method, feats, names):
    x = torch.cat([feats[n][1] for n in names])
    y = torch.cat([torch.full((len(feats[n][1]),), i) for i, n in enumerate(names)])
    with torch.no_grad():
        return 100 * (method.logits(x, names).argmax(1) == y).float().mean().item()


def run(classes, bg=0.4, condition=None, cond_key="none", epochs=10, seeds=(0,), label=""):
    t0 = time.time()
    feats = features(classes, bg, condition, cond_key)
    base, new = base_new_split(classes)
    zs = ZeroShot(BB, base)
    zb, zn = acc(zs, feats, base), acc(zs, feats, new)
    res = []
    for seed in seeds:
        torch.manual_seed(seed)
        m = CoOp(BB, base)
        opt = torch.optim.SGD(m.trainable_parameters(), lr=0.0125, momentum=0.9)
        gen = torch.Generator().manual_seed(seed)
        x = torch.cat([feats[n][0] for n in base])
        y = torch.cat([torch.full((len(feats[n][0]),), i) for i, n in enumerate(base)])
        for e in range(epochs):
            train_epoch(m, x, y, base, opt, gen, 16, None, e + 1)
        res.append((acc(m, feats, base), acc(m, feats, new)))
    line = (f"{label:40s} K={len(classes)} zs {zb:5.1f}/{zn:5.1f}  coop " +
            " ".join(f"{b:5.1f}/{n:5.1f}" for b, n in res) + f"  ({time.time() - t0:.0f}s)")
    print(line, flush=True)
    return zb, zn, res


# -- recording conditions tried (x: waveform, rng: the clip's generator) ----------------------------

SR = world.SR
def fft_filter(x, gain_fn):
    X = np.fft.rfft(x); f = np.fft.rfftfreq(len(x), 1 / SR)
    return np.fft.irfft(X * gain_fn(f), len(x))
def lowpass(fc):
    return lambda x, rng: fft_filter(x, lambda f: 1 / np.sqrt(1 + (f / fc) ** 8))
def bandpass(lo, hi):
    return lambda x, rng: fft_filter(x, lambda f: (1 / np.sqrt(1 + (lo / np.maximum(f, 1)) ** 8)) / np.sqrt(1 + (f / hi) ** 8))
def reverb(rt):
    def c(x, rng):
        n = int(SR * rt)
        ir = rng.standard_normal(n) * np.exp(-6.9 * np.arange(n) / n); ir[0] = 1.0
        y = np.convolve(x, ir)[: len(x)]
        return y
    return c
def speed(factor):
    def c(x, rng):
        idx = (np.arange(len(x)) * factor) % len(x)
        return np.interp(idx, np.arange(len(x)), x)
    return c
def hum(level, f0=100.0):
    def c(x, rng):
        t = np.arange(len(x)) / SR
        h = sum(np.sin(2 * np.pi * f0 * k * t + rng.uniform(0, 6.3)) / k for k in range(1, 6))
        return x / np.abs(x).max() + level * h / np.abs(h).max()
    return c
def resonance(fc, q=8.0, gain=10.0):
    return lambda x, rng: fft_filter(x, lambda f: 1 + gain / (1 + (q * (f / fc - fc / np.maximum(f, 1))) ** 2))
def playback(factor):
    """Recorded `factor` x slower than played back: render factor seconds, keep the band that fits, squeeze to 1 s."""
    def c(x, rng):
        X = np.fft.rfft(x)[: SR // 2 + 1]
        return np.fft.irfft(X, SR)
    c.seconds = factor
    return c
def lowpass_n(fc, order):
    return lambda x, rng: fft_filter(x, lambda f: 1 / np.sqrt(1 + (f / fc) ** (2 * order)))


# -- candidate class sets ---------------------------------------------------------------------------

def tones24() -> list[dict]:
    """24 of the 45 pitch x motion x source combinations (a seeded shuffle), the class set of synth-jargon."""
    combos = [dict(pitch=p, motion=m, source=s) for p in world.WORDS["pitch"] for m in world.WORDS["motion"]
              for s in world.WORDS["source"]]
    random.Random(0).shuffle(combos)
    return combos[:24]


def jargon24(high: str = "alto", words: dict | None = None) -> dict[str, dict]:
    """tones24 named canonically except `words` (value -> the dataset's word; default: high -> `high`)."""
    words = {"high": high} if words is None else words
    return {" ".join(words.get(a[k], a[k]) for k in ("pitch", "motion", "source")): a for a in tones24()}
