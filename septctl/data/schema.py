"""What a dataset is: its declaration (`DatasetInfo`), its release, its rows, and the base/new split.

Base/new (paper Table 5, CoCoOp's rule): classes sorted, the first ceil(K/2) are
base, the rest new; each split is its own K-way problem. Torch-free, and imports
nothing else of septctl's data package, so declarations, layout and preparers can
all use it without a cycle.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

from septctl.errors import SeptctlError

COLUMNS = ("path", "classname")


@dataclass(frozen=True)
class Row:
    path: str
    classname: str


@dataclass(frozen=True)
class Release:
    url: str
    steps: str  # what to fetch and unpack, and what --source is
    gated: bool = False  # a licence must be accepted or a form filled in by hand


@dataclass(frozen=True)
class DatasetInfo:
    name: str  # canonical CLI name
    folder: str  # folder name of PALM's copy (MahiA/<folder> on the HF hub)
    task: str
    classes: tuple[str, ...]
    folds: int
    aliases: tuple[str, ...] = field(default=())
    release: Release | None = None  # where the original release is and how to unpack it (None: made by septctl)
    palm_test_sizes: tuple[int, ...] = ()  # test-split sizes of PALM's copy, per fold (palm-pengi notes, section 4)

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


def base_new_split(classes: Iterable[str]) -> tuple[list[str], list[str]]:
    ordered = sorted(classes)
    m = math.ceil(len(ordered) / 2)
    return ordered[:m], ordered[m:]


CLASS_SETS = ("base", "new", "all")
TRAINING_SETS = ("base", "all")  # what a run trains on: base-to-new, or every class (cross-dataset)


def select_classes(classes: Iterable[str], which: str) -> list[str]:
    """The base, new or all classes of a class set, sorted (every command splits the same way)."""
    if which not in CLASS_SETS:
        raise SeptctlError(f"--classes {which!r}: choose base, new or all")
    if which == "all":
        return sorted(classes)
    base, new = base_new_split(classes)
    return base if which == "base" else new




def split_names(text: str) -> tuple[str, ...]:
    """Class names written as one comma-separated string, as PALM's CSVs spell them."""
    return tuple(c.strip() for c in text.split(","))
