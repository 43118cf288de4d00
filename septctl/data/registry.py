"""The paper's 11 datasets (names, class names as in PALM's CSVs, folds), the synthetic ones, base/new split.

Base/new (paper Table 5, CoCoOp's rule): classes sorted, the first ceil(K/2) are
base, the rest new; each split is its own K-way problem.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from septctl.errors import SeptctlError


@dataclass(frozen=True)
class DatasetInfo:
    name: str  # canonical CLI name
    folder: str  # folder name of PALM's copy (MahiA/<folder> on the HF hub)
    task: str
    classes: tuple[str, ...]
    folds: int
    aliases: tuple[str, ...] = field(default=())

    @property
    def base(self) -> list[str]:
        return base_new_split(self.classes)[0]

    @property
    def new(self) -> list[str]:
        return base_new_split(self.classes)[1]

    @property
    def hf_repo(self) -> str:
        return f"MahiA/{self.folder}"

    def as_dict(self) -> dict:
        return {
            "name": self.name,
            "folder": self.folder,
            "aliases": list(self.aliases),
            "task": self.task,
            "classes": list(self.classes),
            "folds": self.folds,
            "base": self.base,
            "new": self.new,
            "hf_repo": self.hf_repo,
        }


def base_new_split(classes) -> tuple[list[str], list[str]]:
    ordered = sorted(classes)
    m = math.ceil(len(ordered) / 2)
    return ordered[:m], ordered[m:]


CLASS_SETS = ("base", "new", "all")


def select_classes(classes, which: str) -> list[str]:
    """The base, new or all classes of a class set, sorted (every command splits the same way)."""
    if which not in CLASS_SETS:
        raise SeptctlError(f"--classes {which!r}: choose base, new or all")
    if which == "all":
        return sorted(classes)
    base, new = base_new_split(classes)
    return base if which == "base" else new


_ESC50 = (
    "airplane, breathing, brushing teeth, can opening, car horn, cat, chainsaw, chirping birds, church bells, "
    "clapping, clock alarm, clock tick, coughing, cow, crackling fire, crickets, crow, crying baby, dog, "
    "door wood creaks, door wood knock, drinking sipping, engine, fireworks, footsteps, frog, glass breaking, "
    "hand saw, helicopter, hen, insects, keyboard typing, laughing, mouse click, pig, pouring water, rain, "
    "rooster, sea waves, sheep, siren, sneezing, snoring, thunderstorm, toilet flush, train, vacuum cleaner, "
    "washing machine, water drops, wind"
)
ESC50_ACTIONS = (
    "breathing", "brushing teeth", "clapping", "coughing", "crying baby",
    "drinking sipping", "footsteps", "laughing", "sneezing", "snoring",
)


def _split(text: str) -> tuple[str, ...]:
    return tuple(c.strip() for c in text.split(","))


DATASETS: tuple[DatasetInfo, ...] = (
    DatasetInfo("beijing-opera", "Beijing-Opera", "instrument classification",
                ("bangu", "daluo", "naobo", "xiaoluo"), 5, ("beijing_opera", "beijingopera")),
    DatasetInfo("crema-d", "CREMA-D", "emotion recognition",
                ("anger", "disgust", "fear", "happy", "neutral", "sad"), 1, ("cremad", "crema_d")),
    DatasetInfo("esc50", "ESC50", "sound event classification", _split(_ESC50), 5, ("esc-50",)),
    DatasetInfo("esc50-actions", "ESC50-Actions", "sound event classification", ESC50_ACTIONS, 5,
                ("esc50_actions", "esc50actions")),
    DatasetInfo("gt-music-genre", "GT-Music-Genre", "music genre classification",
                _split("blues, classical, country, disco, hiphop, jazz, metal, pop, reggae, rock"), 1,
                ("gtzan", "gt_music_genre")),
    DatasetInfo("ns-instruments", "NS-Instruments", "instrument classification",
                _split("bass, brass, flute, guitar, keyboard, mallet, organ, reed, string, vocal"), 1,
                ("nsynth", "ns_instruments")),
    DatasetInfo("ravdess", "RAVDESS", "emotion recognition",
                _split("angry, calm, disgust, fearful, happy, neutral, sad, surprised"), 1),
    DatasetInfo("sesa", "SESA", "surveillance sound classification",
                ("casual", "explosion", "gunshot", "siren"), 1),
    DatasetInfo("tut2017", "TUT2017", "acoustic scene classification",
                _split("beach, bus, cafe/restaurant, car, city_center, forest_path, grocery_store, home, library, "
                       "metro_station, office, park, residential_area, train, tram"), 4, ("tut-2017",)),
    DatasetInfo("urbansound8k", "UrbanSound8K", "sound event classification",
                _split("air conditioner, car horn, children playing, dog bark, drilling, engine idling, gun shot, "
                       "jackhammer, siren, street music"), 10, ("us8k", "urbansound")),
    DatasetInfo("vocalsound", "VocalSound", "vocal sound classification",
                ("Cough", "Laughter", "Sigh", "Sneeze", "Sniff", "Throat clearing"), 1, ("vocal-sound",)),
)


# Made offline by `septctl data synth --dataset NAME` (septctl/data/world.py) for the `synth-clap`
# backbone: named by attribute words, so base and new classes share words but never a whole name.
SYNTH_DATASETS: tuple[DatasetInfo, ...] = (
    DatasetInfo("synth-tones", "synth-tones", "synthetic sound description (pitch, pitch motion, source)",
                _split("high falling bell, high rising whistle, high steady buzzer, high steady hiss, "
                       "low falling whistle, low rising buzzer, low rising knock, low steady bell, "
                       "mid falling hiss, mid falling knock, mid rising bell, mid steady whistle"), 1),
    DatasetInfo("synth-patterns", "synth-patterns", "synthetic sound description (rhythm, loudness envelope, source)",
                _split("continuous even whistle, continuous fading buzzer, continuous swelling bell, "
                       "continuous swelling hiss, fast even knock, fast even whistle, fast fading hiss, "
                       "fast swelling buzzer, slow even bell, slow fading knock, slow fading whistle, "
                       "slow swelling buzzer"), 1),
)


def find_dataset(name: str) -> DatasetInfo | None:
    """Look a dataset up by canonical name, alias or PALM folder name (case-insensitive)."""
    key = name.strip().lower()
    for d in DATASETS + SYNTH_DATASETS:
        if key in (d.name, d.folder.lower(), *d.aliases):
            return d
    return None
