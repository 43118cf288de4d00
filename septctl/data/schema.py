"""What a dataset is: its declaration (`DatasetInfo`), its release, its rows, and the base/new split.

Base/new (paper Table 5, CoCoOp's rule): classes in label order, the first ceil(K/2) are
base, the rest new; each split is its own K-way problem. PALM's labels are the sorted class
names, so without a declared order the names are sorted; a dataset whose labels come from
elsewhere (CoOp's Caltech101: sorted folder names, not sorted class names) declares its
order (`DatasetInfo.label_order`, a prepared folder's `class_order.txt`). Torch-free, and
imports nothing else of septctl's data package, so declarations, layout and preparers can
all use it without a cycle.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
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
    modality: str = "audio"  # what its files are: "audio" or "image"
    label_order: bool = False  # `classes` are in the release's label order, which base/new follow (not sorted)

    @property
    def class_order(self) -> tuple[str, ...] | None:
        """The label order base/new follow, when it is not the sorted names."""
        return self.classes if self.label_order else None

    @property
    def base(self) -> list[str]:
        return base_new_split(self.classes, self.class_order)[0]

    @property
    def new(self) -> list[str]:
        return base_new_split(self.classes, self.class_order)[1]

    @property
    def hf_repo(self) -> str | None:
        """PALM's copy on the HF hub; None for an image dataset (PALM published audio ones only)."""
        return f"MahiA/{self.folder}" if self.modality == "audio" else None

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
            "modality": self.modality,
            "label_order": self.label_order,
        }


def base_new_split(classes: Iterable[str], order: Sequence[str] | None = None) -> tuple[list[str], list[str]]:
    """Base and new classes, each sorted by name: the first ceil(K/2) of `classes` in label order are base.

    The label order is `order` (a dataset's declared one, restricted to `classes`), else the sorted names.
    Each half comes back sorted by name whatever the order, so prompts, margins and results list classes
    the same way for every dataset; only which class is base changes.
    """
    classes = set(classes)
    if order is None:
        ordered = sorted(classes)
    else:
        if unknown := sorted(classes - set(order)):
            raise SeptctlError(f"class {unknown[0]!r} is not in the dataset's class order; list every class "
                               "once in its class_order.txt")
        ordered = [c for c in order if c in classes]
    m = math.ceil(len(ordered) / 2)
    return sorted(ordered[:m]), sorted(ordered[m:])


CLASS_SETS = ("base", "new", "all")
TRAINING_SETS = ("base", "all")  # what a run trains on: base-to-new, or every class (cross-dataset)


def select_classes(classes: Iterable[str], which: str, order: Sequence[str] | None = None) -> list[str]:
    """The base, new or all classes of a class set, sorted (every command splits the same way, `base_new_split`)."""
    if which not in CLASS_SETS:
        raise SeptctlError(f"--classes {which!r}: choose base, new or all")
    if which == "all":
        return sorted(classes)
    base, new = base_new_split(classes, order)
    return base if which == "base" else new


def split_names(text: str) -> tuple[str, ...]:
    """Class names written as one comma-separated string, as PALM's CSVs spell them."""
    return tuple(c.strip() for c in text.split(","))
