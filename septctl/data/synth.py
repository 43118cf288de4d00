"""Synthetic labelled audio datasets in the common layout, for the offline demo and tests.

`synthesize_dataset`: 8 clearly distinct sounds named by ESC-50 classes (the built-in SEPT
banks cover them). `synthesize_world`: the registry's synth-* datasets, clips of the synthetic
world (septctl/data/world.py) that the `synth-clap` backbone was trained on. `synthesize_like`:
fake copies of the paper's datasets for recipe tests.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from septctl.data.layout import write_layout
from septctl.data.schema import Row

SR = 16000
BACKGROUND = 0.4  # level of the background sound in synth-* clips, against the named one (docs/methods.md)


@dataclass(frozen=True)
class Recording:
    """How a synth-* dataset differs from the clips and captions synth-clap was trained on."""

    background: float = BACKGROUND  # level of the second sound in every clip
    register: dict[str, str] = field(default_factory=dict)  # the dataset's own word -> the world's canonical one


# synth-jargon names the high range by the musician's "alto", a word no synth-clap caption has, so
# zero-shot cannot read it and 16 shots can teach it; with the quieter background the audio is not
# what limits zero-shot (docs/methods.md, "A benchmark in the paper's regime").
RECORDINGS: dict[str, Recording] = {"synth-jargon": Recording(background=0.15, register={"alto": "high"})}


def _t(seconds: float) -> np.ndarray:
    return np.arange(int(SR * seconds)) / SR


def _siren(rng, s):
    t = _t(s)
    f = rng.uniform(600, 900) + rng.uniform(200, 400) * np.sin(2 * np.pi * rng.uniform(0.5, 2) * t)
    return np.sin(2 * np.pi * np.cumsum(f) / SR)


def _bells(rng, s):
    t = _t(s)
    f0 = rng.uniform(300, 600)
    env = np.exp(-t * rng.uniform(1.5, 3))
    return env * sum(np.sin(2 * np.pi * f0 * k * t) / k for k in (1, 2.76, 5.4))


def _rain(rng, s):
    return rng.standard_normal(len(_t(s))) * 0.5


def _ticks(rng, s):
    x = np.zeros(len(_t(s)))
    period = int(SR * rng.uniform(0.2, 0.4))
    for start in range(rng.integers(0, period), len(x) - 200, period):
        x[start : start + 200] = rng.standard_normal(200) * np.exp(-np.arange(200) / 30)
    return x


def _engine(rng, s):
    t = _t(s)
    f0 = rng.uniform(40, 80)
    return sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 6)) * (1 + 0.3 * np.sin(2 * np.pi * 8 * t))


def _chirps(rng, s):
    t = _t(s)
    x = np.zeros(len(t))
    for start in rng.uniform(0, s - 0.15, size=int(rng.integers(4, 8))):
        i = int(start * SR)
        tt = np.arange(int(0.1 * SR)) / SR
        x[i : i + len(tt)] += np.sin(2 * np.pi * (3000 * tt + 20000 * tt**2)) * np.hanning(len(tt))
    return x


def _drum(rng, s):
    t = _t(s)
    x = np.zeros(len(t))
    beat = rng.uniform(0.3, 0.6)
    for start in np.arange(0, s - 0.3, beat):
        i = int(start * SR)
        tt = np.arange(int(0.3 * SR)) / SR
        x[i : i + len(tt)] += np.sin(2 * np.pi * 60 * tt) * np.exp(-tt * 15)
    return x


def _whistle(rng, s):
    t = _t(s)
    return np.sin(2 * np.pi * rng.uniform(1800, 2400) * t) * (0.8 + 0.2 * np.sin(2 * np.pi * 5 * t))


SOUNDS: dict[str, Callable] = {
    "siren": _siren,
    "church bells": _bells,
    "rain": _rain,
    "clock tick": _ticks,
    "engine": _engine,
    "chirping birds": _chirps,
    "door wood knock": _drum,
    "clock alarm": _whistle,
}


def synthesize_dataset(out: Path, train_per_class: int = 20, test_per_class: int = 10, seconds: float = 2.0,
                       seed: int = 0) -> list[str]:
    """Write a dataset in the common layout (train.csv/test.csv) to `out`; return its classes."""
    import soundfile as sf

    rng = np.random.default_rng(seed)
    with tempfile.TemporaryDirectory() as tmp:
        files: dict[str, Path] = {}
        splits: dict[str, list[Row]] = {"train.csv": [], "test.csv": []}
        for cls, make in SOUNDS.items():
            for split, count in (("train", train_per_class), ("test", test_per_class)):
                for i in range(count):
                    x = make(rng, seconds) + 0.02 * rng.standard_normal(int(SR * seconds))
                    x = 0.5 * x / (np.abs(x).max() + 1e-9)
                    name = f"{cls.replace(' ', '_')}_{split}_{i:03d}.wav"
                    src = Path(tmp) / name
                    sf.write(src, x.astype(np.float32), SR, subtype="PCM_16")
                    files[f"audios/{name}"] = src
                    splits[f"{split}.csv"].append(Row(f"audios/{name}", cls))
        write_layout(Path(out), files, splits)
    return sorted(SOUNDS)


def synthesize_world(name: str, out: Path, train_per_class: int = 16, test_per_class: int = 20,
                     seed: int = 0) -> list[str]:
    """Write registry dataset `name` (synth-tones, synth-patterns, synth-jargon) to `out`; return its classes.

    A clip of class "slow rising whistle" has those three attribute values and random others
    (pitch, envelope, texture...), so a class is a description, not one fixed sound. Every clip
    also has a second sound of random attributes in the background (`BACKGROUND`): clean clips
    like the training ones were classified zero-shot at 99-100 % on base and new classes, which
    leaves prompt tuning nothing to learn; as with real datasets against an ALM's training data,
    these recordings differ from what the model saw. At level 0.8 zero-shot fell to 55-73 % and
    SEPT's effect drowned in the seed spread; at 0.4 CoOp loses new-class accuracy and SEPT
    recovers it (docs/methods.md, "On the synth world"). A dataset in `RECORDINGS` has its own
    background level and words. Clip i of class c in a split comes from seed
    (seed, c, split, i): the test clips never depend on how many training clips were asked for.
    """
    import soundfile as sf

    from septctl.data import world
    from septctl.data.registry import SYNTH_DATASETS
    from septctl.errors import SeptctlError

    sounds = [d for d in SYNTH_DATASETS if d.modality == "audio"]
    info = next((d for d in sounds if d.name == name), None)
    if info is None:
        raise SeptctlError(f"--dataset {name!r}: choose one of {', '.join(d.name for d in sounds)}")
    recording = RECORDINGS.get(name, Recording())
    with tempfile.TemporaryDirectory() as tmp:
        files: dict[str, Path] = {}
        splits: dict[str, list[Row]] = {"train.csv": [], "test.csv": []}
        for c, cls in enumerate(info.classes):
            attributes = world.parse_name(" ".join(recording.register.get(w, w) for w in cls.split()))
            for s, (split, count) in enumerate((("train", train_per_class), ("test", test_per_class))):
                for i in range(count):
                    rng = np.random.default_rng([seed, c, s, i])
                    x = world.render(world.random_sound(rng, attributes), rng)
                    x = x + recording.background * world.render(world.random_sound(rng), rng)
                    x = 0.5 * x / np.abs(x).max()
                    name_ = f"{cls.replace(' ', '_')}_{split}_{i:03d}.wav"
                    sf.write(Path(tmp) / name_, x, world.SR, subtype="PCM_16")
                    files[f"audios/{name_}"] = Path(tmp) / name_
                    splits[f"{split}.csv"].append(Row(f"audios/{name_}", cls))
        write_layout(Path(out), files, splits)
    return sorted(info.classes)


def synthesize_like(name: str, out: Path, per_class: int = 6, test_per_class: int = 2, folds: int | None = None,
                    seconds: float = 0.5, seed: int = 0) -> list[str]:
    """A fake copy of registry dataset `name`: its class names and fold layout, synthetic sounds.

    Recipes and reports key on registry names and folds, so tests need datasets shaped like
    the real ones without their audio. Fold k tests on a rotating slice of each class's clips.
    """
    import soundfile as sf

    from septctl.data.registry import find_dataset
    from septctl.errors import SeptctlError

    info = find_dataset(name)
    if info is None:
        raise SeptctlError(f"unknown dataset {name!r}; see `septctl data list`")
    n_folds = info.folds if folds is None else min(folds, info.folds)
    makers = list(SOUNDS.values())
    rng = np.random.default_rng(seed)
    with tempfile.TemporaryDirectory() as tmp:
        files: dict[str, Path] = {}
        clips: dict[str, list[str]] = {}
        for c, cls in enumerate(sorted(info.classes)):
            make, shift = makers[c % len(makers)], 1.0 + 0.35 * (c // len(makers))
            for i in range(per_class + test_per_class):
                x = make(rng, seconds * shift)[: int(SR * seconds)] + 0.02 * rng.standard_normal(int(SR * seconds))
                x = 0.5 * x / (np.abs(x).max() + 1e-9)
                rel = f"audios/c{c:02d}_{i:03d}.wav"
                sf.write(Path(tmp) / rel.replace("/", "_"), x.astype(np.float32), SR, subtype="PCM_16")
                files[rel] = Path(tmp) / rel.replace("/", "_")
                clips.setdefault(cls, []).append(rel)
        splits: dict[str, list[Row]] = {}
        for k in range(1, n_folds + 1) if n_folds > 1 else [0]:
            train, test = [], []
            for cls, paths in clips.items():
                start = ((k or 1) - 1) * test_per_class % len(paths)
                held = {paths[(start + j) % len(paths)] for j in range(test_per_class)}
                test += [Row(p, cls) for p in paths if p in held]
                train += [Row(p, cls) for p in paths if p not in held]
            names = ("train.csv", "test.csv") if k == 0 else (f"csv_files/train_{k}.csv", f"csv_files/test_{k}.csv")
            splits[names[0]], splits[names[1]] = train, test
        write_layout(Path(out), files, splits)
    return sorted(info.classes)
