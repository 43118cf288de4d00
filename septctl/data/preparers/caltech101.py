"""Caltech101 as CoOp splits it (the SEPT paper's Table 11): 101_ObjectCategories/ + split_zhou_Caltech101.json.

CoOp (KaiyangZhou/CoOp, datasets/caltech101.py) leaves out BACKGROUND_Google and Faces_easy,
renames four folders (`NEW_CNAMES`), and labels the other 100 by their index among the
Python-sorted folder names: case-sensitive, so Faces, Leopards and Motorbikes come before
accordion. Its base/new split takes the first ceil(100/2) labels as base, which is not the
first half of the sorted class NAMES (face and leopard are far apart there), so the
prepared folder records this label order in class_order.txt and base/new follow it
(septctl/data/schema.py, `base_new_split`).

The split file is {"train": [[impath, label, classname], ...], "val": [...], "test": [...]},
impath relative to 101_ObjectCategories/, classname renamed and with underscores
("car_side"; septctl reads '_' as a space, as CoOp's trainer does in prompts). train.csv is
its "train" and test.csv its "test"; "val" is left out, as CoOp draws the few shots from
"train" only and uses "val" only to choose a checkpoint, which septctl does not do (it keeps
the last epoch, as PALM). Files keep their release paths under 101_ObjectCategories/.
"""

from __future__ import annotations

import json
from pathlib import Path, PurePosixPath

from septctl.data.audiofolder import class_name
from septctl.data.preparers.base import Plan
from septctl.data.schema import DatasetInfo, Release, Row, split_names
from septctl.errors import SeptctlError

IMAGE_DIR = "101_ObjectCategories"
SPLIT_FILE = "split_zhou_Caltech101.json"
IGNORED = ("BACKGROUND_Google", "Faces_easy")
NEW_CNAMES = {"airplanes": "airplane", "Faces": "face", "Leopards": "leopard", "Motorbikes": "motorbike"}
# The release's 102 folders (101_ObjectCategories/), as its archive names them.
FOLDERS = split_names(
    "accordion, airplanes, anchor, ant, BACKGROUND_Google, barrel, bass, beaver, binocular, bonsai, brain, "
    "brontosaurus, buddha, butterfly, camera, cannon, car_side, ceiling_fan, cellphone, chair, chandelier, "
    "cougar_body, cougar_face, crab, crayfish, crocodile, crocodile_head, cup, dalmatian, dollar_bill, dolphin, "
    "dragonfly, electric_guitar, elephant, emu, euphonium, ewer, Faces, Faces_easy, ferry, flamingo, flamingo_head, "
    "garfield, gerenuk, gramophone, grand_piano, hawksbill, headphone, hedgehog, helicopter, ibis, inline_skate, "
    "joshua_tree, kangaroo, ketch, lamp, laptop, Leopards, llama, lobster, lotus, mandolin, mayfly, menorah, "
    "metronome, minaret, Motorbikes, nautilus, octopus, okapi, pagoda, panda, pigeon, pizza, platypus, pyramid, "
    "revolver, rhino, rooster, saxophone, schooner, scissors, scorpion, sea_horse, snoopy, soccer_ball, stapler, "
    "starfish, stegosaurus, stop_sign, strawberry, sunflower, tick, trilobite, umbrella, watch, water_lilly, "
    "wheelchair, wild_cat, windsor_chair, wrench, yin_yang")
# CoOp's labels: the sorted folders, the ignored ones removed; names renamed, '_' read as a space.
CLASSES = tuple(class_name(NEW_CNAMES.get(f, f)) for f in sorted(FOLDERS) if f not in IGNORED)

DATASETS = (
    DatasetInfo("caltech101", "caltech-101", "object recognition (images)", CLASSES, 1, ("caltech",),
                release=Release("https://data.caltech.edu/records/mzrjq-6wc02",
                                "download caltech-101.zip and unpack it and the 101_ObjectCategories.tar.gz inside; "
                                f"add CoOp's {SPLIT_FILE} (linked from CoOp's DATASETS.md, on Google Drive) beside "
                                f"{IMAGE_DIR}/; --source is the folder holding both"),
                modality="image", label_order=True),
)


def _release_root(source: Path) -> Path:
    """The folder holding the split file: --source itself, or its caltech-101/ (CoOp's $DATA layout)."""
    for cand in (source, source / "caltech-101"):
        if (cand / SPLIT_FILE).is_file():
            return cand
    raise SeptctlError(f"{source / SPLIT_FILE}: not found; put CoOp's split file (linked from CoOp's DATASETS.md) "
                       f"beside {IMAGE_DIR}/ in --source")


def _entries(path: Path) -> dict[str, list[tuple[str, int, str]]]:
    """The split file's train and test entries (impath, label, classname), refused unless in CoOp's format."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return {s: [(str(p), int(label), str(c)) for p, label, c in data[s]] for s in ("train", "test")}
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        raise SeptctlError(f"{path}: not CoOp's split file ({{\"train\": [[impath, label, classname], ...], "
                           "\"test\": ...}); download it again") from None


def _label_order(path: Path, entries: dict[str, list[tuple[str, int, str]]]) -> list[str]:
    """The split file's class names in label order; refused when a label and a name do not pair one to one,
    when an ignored class is listed, or when the labels are not in CoOp's order (that of `CLASSES`)."""
    by_label: dict[int, str] = {}
    by_name: dict[str, int] = {}
    for impath, label, cname in (e for rows in entries.values() for e in rows):
        folder = PurePosixPath(impath).parts[0] if impath else ""
        if cname in IGNORED or folder in IGNORED:
            raise SeptctlError(f"{path}: lists {impath} of {cname!r}, a class CoOp leaves out "
                               f"({', '.join(IGNORED)}); use CoOp's own {SPLIT_FILE}")
        if by_label.setdefault(label, cname) != cname:
            raise SeptctlError(f"{path}: label {label} names both {by_label[label]!r} and {cname!r} ({impath}); "
                               f"a label names one class: use CoOp's own {SPLIT_FILE}")
        if by_name.setdefault(cname, label) != label:
            raise SeptctlError(f"{path}: class {cname!r} has labels {by_name[cname]} and {label} ({impath}); "
                               f"a class has one label: use CoOp's own {SPLIT_FILE}")
    order = [class_name(by_label[k]) for k in sorted(by_label)]
    rank = {c: i for i, c in enumerate(CLASSES)}
    known = [c for c in order if c in rank]  # other names are refused by name after planning (prepare.py)
    if known != sorted(known, key=rank.__getitem__):
        raise SeptctlError(f"{path}: its labels do not follow CoOp's order (sorted folder names: Faces, Leopards, "
                           f"Motorbikes, accordion, ...); use CoOp's own {SPLIT_FILE}")
    return order


def plan(source: Path, name: str = "caltech101") -> Plan:
    root = _release_root(source)
    images = root / IMAGE_DIR
    if not images.is_dir():
        raise SeptctlError(f"{images}: not found; unpack 101_ObjectCategories.tar.gz from the Caltech101 release "
                           f"beside {SPLIT_FILE}")
    split_file = root / SPLIT_FILE
    entries = _entries(split_file)
    order = _label_order(split_file, entries)
    result = Plan(source_meta=SPLIT_FILE)
    for split, rows in entries.items():
        kept = []
        for impath, _, cname in rows:
            rel = PurePosixPath(impath)
            if rel.is_absolute() or ".." in rel.parts:
                raise SeptctlError(f"{split_file}: path {impath!r} leaves {IMAGE_DIR}/; use CoOp's own {SPLIT_FILE}")
            dest = f"{IMAGE_DIR}/{rel}"
            if dest in result.files or dest in result.missing:
                raise SeptctlError(f"{split_file}: lists {impath} twice; use CoOp's own {SPLIT_FILE}")
            if not (images / rel).is_file():
                result.missing.append(dest)
                continue
            result.files[dest] = images / rel
            kept.append(Row(dest, class_name(cname)))
        result.splits[f"{split}.csv"] = kept
    result.class_order = [c for c in order if c in result.classes()]
    return result
