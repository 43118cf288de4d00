"""A small world of sounds and words: what `synth-clap` is trained on and what the synth datasets name.

A sound has six independent attributes, each audible: its source (timbre), pitch, pitch motion,
rhythm, loudness envelope and background texture. Every value has English words, synonyms
and graded terms among them ("high", "shrill", "piercing"), the first being its canonical
name. A caption says some of a sound's attributes in varied order and style, inside one of
the 100 built-in prompt templates, so the model learns the templates SEPT's margins use.
Everything is a pure function of a numpy Generator, so a seed fixes clips and captions.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

SR = 16000
SECONDS = 1.0

# attribute -> value -> words (the first is the canonical name used in class names)
WORDS: dict[str, dict[str, tuple[str, ...]]] = {
    "source": {
        "whistle": ("whistle", "tone", "pure tone", "flute-like whistle"),
        "buzzer": ("buzzer", "buzz", "raspy buzz", "electric buzzer"),
        "bell": ("bell", "chime", "ringing bell", "metallic ping"),
        "hiss": ("hiss", "noise", "static", "breathy rush"),
        "knock": ("knock", "thud", "tap", "wooden knock"),
    },
    "pitch": {
        "low": ("low", "deep", "bass", "rumbling"),
        "mid": ("mid", "medium", "middle", "moderate"),
        "high": ("high", "shrill", "piercing", "squeaky"),
    },
    "motion": {
        "steady": ("steady", "flat", "constant", "level"),
        "rising": ("rising", "climbing", "ascending", "upward"),
        "falling": ("falling", "dropping", "descending", "sinking"),
    },
    "rhythm": {
        "continuous": ("continuous", "sustained", "unbroken", "droning"),
        "slow": ("slow", "slowly repeating", "unhurried", "lazy"),
        "fast": ("fast", "rapid", "quick", "hurried"),
    },
    "envelope": {
        "even": ("even", "unchanging", "level volume", "uniform"),
        "fading": ("fading", "dying away", "softening", "decaying"),
        "swelling": ("swelling", "growing", "building", "crescendo"),
    },
    "texture": {
        "clean": ("clean", "clear", "pure", "crisp"),
        "noisy": ("noisy", "hissy", "grainy", "rough"),
    },
}
ATTRIBUTES = tuple(WORDS)
# Where a word goes in a noun phrase: adjectives in this order, then the source noun.
ADJECTIVE_ORDER = ("rhythm", "envelope", "texture", "pitch", "motion")
_PITCH_HZ = {"low": 180.0, "mid": 520.0, "high": 1500.0}


@dataclass(frozen=True)
class Sound:
    """One value per attribute."""

    source: str
    pitch: str
    motion: str
    rhythm: str
    envelope: str
    texture: str

    def value(self, attribute: str) -> str:
        return getattr(self, attribute)


def random_sound(rng: np.random.Generator, fixed: dict[str, str] | None = None) -> Sound:
    """A sound with the `fixed` attribute values and the others drawn uniformly."""
    fixed = fixed or {}
    return Sound(**{a: fixed.get(a) or str(rng.choice(list(WORDS[a]))) for a in ATTRIBUTES})


def parse_name(name: str) -> dict[str, str]:
    """Attribute values of a class name made of canonical words ("slow rising whistle")."""
    canon = {words[0]: (a, v) for a, values in WORDS.items() for v, words in values.items()}
    out: dict[str, str] = {}
    rest = name.split()
    while rest:
        for n in (2, 1):
            key = " ".join(rest[:n])
            if key in canon:
                attribute, value = canon[key]
                out[attribute] = value
                rest = rest[n:]
                break
        else:
            raise ValueError(f"{name!r}: {rest[0]!r} is not a word of the synth world")
    return out


def class_name(attributes: dict[str, str]) -> str:
    """Canonical name of a set of attribute values, adjectives in the usual order."""
    words = [WORDS[a][attributes[a]][0] for a in ADJECTIVE_ORDER if a in attributes]
    return " ".join(words + ([WORDS["source"][attributes["source"]][0]] if "source" in attributes else []))


# -- audio ------------------------------------------------------------------------------

def render(sound: Sound, rng: np.random.Generator, seconds: float = SECONDS) -> np.ndarray:
    """The waveform [seconds * SR] of `sound`, peak 0.5, with random detail (exact pitch, phase, rate)."""
    n = int(SR * seconds)
    t = np.arange(n) / SR
    f0 = _PITCH_HZ[sound.pitch] * rng.uniform(0.85, 1.15)
    glide = {"steady": 1.0, "rising": 2.2, "falling": 1 / 2.2}[sound.motion]
    freq = f0 * glide ** (t / seconds)  # exponential glide over the clip
    phase = 2 * np.pi * np.cumsum(freq) / SR
    if sound.source == "whistle":
        x = np.sin(phase)
    elif sound.source == "buzzer":
        x = sum(np.sin(k * phase) / k for k in range(1, 8))
    elif sound.source == "bell":
        x = sum(np.sin(r * phase + rng.uniform(0, 6.3)) / (i + 1) for i, r in enumerate((1.0, 2.76, 5.40, 8.93)))
    elif sound.source == "hiss":
        x = _band_noise(rng, phase)
    else:  # knock: short decaying bursts whatever the rhythm, so give it a body at the pitch
        x = np.sin(phase) * 0.7 + 0.3 * _band_noise(rng, phase) / 4
    x = x * _rhythm(sound, rng, t) * _envelope(sound.envelope, t / seconds)
    x = x / (np.abs(x).max() + 1e-9)
    noise = {"clean": 0.01, "noisy": 0.35}[sound.texture] * rng.uniform(0.7, 1.3)
    x = x + noise * rng.standard_normal(n)
    return (0.5 * x / (np.abs(x).max() + 1e-9)).astype(np.float32)


def _band_noise(rng: np.random.Generator, phase: np.ndarray) -> np.ndarray:
    """Noise in a band around the (gliding) pitch: many partials at random nearby ratios and phases."""
    ratios = 1 + 0.12 * rng.standard_normal(32)
    return np.sin(ratios[:, None] * phase[None] + rng.uniform(0, 2 * np.pi, (32, 1))).sum(axis=0)


def _rhythm(sound: Sound, rng: np.random.Generator, t: np.ndarray) -> np.ndarray:
    rate = {"continuous": 0.0, "slow": rng.uniform(2.5, 3.5), "fast": rng.uniform(8.0, 11.0)}[sound.rhythm]
    decay = 25.0 if sound.source in ("knock", "bell") else 0.0
    if rate == 0.0:
        return np.exp(-decay * t / 4) if decay else np.ones_like(t)
    since = (t + rng.uniform(0, 1 / rate)) % (1 / rate)  # time since the last onset
    if decay:
        return np.exp(-decay * since * (rate / 3))
    return (since < 0.5 / rate).astype(float)


def _envelope(kind: str, u: np.ndarray) -> np.ndarray:
    return {"even": np.ones_like(u), "fading": (1 - u) ** 1.5 + 0.03, "swelling": u**1.5 + 0.03}[kind]


# -- words ------------------------------------------------------------------------------

@lru_cache(maxsize=1)
def templates() -> tuple[str, ...]:
    """The 100 built-in prompt templates (septctl/sept/banks/prefixes.yaml), each with one {}."""
    from septctl.sept.prefixes import template_bank

    return tuple(template_bank(100))


def describe(sound: Sound, rng: np.random.Generator) -> tuple[str, tuple[str, ...]]:
    """A phrase naming some of the sound's attributes with varied words, order and style; and those attributes."""
    k = int(rng.integers(1, 5))  # adjectives besides the source
    adjectives = [str(a) for a in rng.choice(ADJECTIVE_ORDER, size=k, replace=False)]
    word = {a: str(rng.choice(WORDS[a][sound.value(a)])) for a in ATTRIBUTES}
    noun, named = word["source"], ("source", *adjectives)
    style = int(rng.integers(0, 3))
    if style == 0:  # "slow rising whistle"
        ordered = [a for a in ADJECTIVE_ORDER if a in adjectives]
        return " ".join([word[a] for a in ordered] + [noun]), named
    if style == 1:  # "a whistle, slow and rising"
        rest = [word[a] for a in adjectives]
        return f"a {noun}, " + (", ".join(rest[:-1]) + " and " + rest[-1] if len(rest) > 1 else rest[0]), named
    first, rest = adjectives[0], [word[a] for a in adjectives[1:]]  # "a rising whistle that is slow"
    tail = f" that is {' and '.join(rest)}" if rest else ""
    return f"a {word[first]} {noun}{tail}", named


def caption(sound: Sound, rng: np.random.Generator) -> tuple[str, tuple[str, ...]]:
    """A training caption (a description inside a random built-in template) and the attributes it names."""
    from septctl.sept.prefixes import fill

    phrase, named = describe(sound, rng)
    return fill(str(rng.choice(templates())), phrase), named
