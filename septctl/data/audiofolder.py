"""A folder of sounds as a dataset, with Hugging Face AudioFolder's conventions and no preparation step.

Three layouts are read in place (the folder itself is never written):

- `ROOT/<class>/<file>`: one pool; septctl splits it, per class, seeded (SPLIT_SEED) and stratified,
  TEST_FRACTION of each class's files (at least one) to test.
- `ROOT/{train,test}/<class>/<file>`: the folders are the splits.
- `metadata.csv` (at ROOT, or in ROOT/train and ROOT/test) with a `file_name` column and a label column
  (`label`, `labels`, `class`, `classname` or `category`, or the one other column). File names under
  `train/` and `test/` take those splits; otherwise septctl splits them as above.

The split is recorded as common-layout CSVs (`path,classname`, paths relative to ROOT) in septctl's
cache, `<cache>/splits/<folder name>-<hash of its real path>/`, and read from there like any prepared
dataset, so the path checks (symlinks out, SEPTCTL_ALLOW_OUTSIDE) hold unchanged. The split is a pure
function of the file names, so a wiped cache gives the same split back.
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
import os
import random
from pathlib import Path

from septctl.artifacts import write_text
from septctl.errors import SeptctlError

AUDIO_SUFFIXES = {".wav", ".flac", ".mp3", ".ogg", ".opus", ".aif", ".aiff", ".au", ".m4a"}
METADATA = "metadata.csv"
LABEL_COLUMNS = ("label", "labels", "class", "classname", "category")
SPLITS = ("train", "test")
SPLIT_SEED = 0
TEST_FRACTION = 0.25

Labelled = list[tuple[str, str]]  # (path relative to ROOT, class)


def is_audiofolder(root: Path) -> bool:
    """True for a folder with no split CSVs that holds a metadata.csv, a train/ folder or class folders of audio."""
    if any((root / name).exists() for name in ("train.csv", "test.csv", "csv_files")):  # the common layout
        return False
    return (root / METADATA).is_file() or (root / "train").is_dir() or any(_audio_in(d) for d in _subdirs(root))


def split_csvs(root: Path) -> Path:
    """Write (if changed) the folder's train.csv and test.csv into the cache; return that folder."""
    from septctl.paths import cache_dir

    root = Path(root)
    _utf8_name(Path(os.path.realpath(root)))  # it names the cache folder of the split
    train, test, how = _labelled(root)
    classes = sorted({c for _, c in train + test})
    if len(classes) < 2:
        raise SeptctlError(f"{root}: {len(classes)} class ({', '.join(classes) or 'no audio'}); a dataset needs at "
                           "least 2: put each class's files in ROOT/<class>/, or write split CSVs with "
                           "`septctl data prepare` (see docs/datasets.md)")
    key = hashlib.sha256(os.path.realpath(root).encode()).hexdigest()[:12]
    out = cache_dir("splits", f"{root.resolve().name}-{key}")
    for name, rows in (("train.csv", train), ("test.csv", test)):
        _write_if_changed(out / name, rows)
    _write_if_changed(out / "README.txt", None,
                      f"split of {os.path.realpath(root)}: {how}\n"
                      f"(septctl/data/audiofolder.py; seed {SPLIT_SEED}, test fraction {TEST_FRACTION})\n")
    return out


def _labelled(root: Path) -> tuple[Labelled, Labelled, str]:
    """Train and test (path, class) pairs, and how they were split (said in the recorded README)."""
    if (root / METADATA).is_file():
        rows = _metadata(root / METADATA, root, "")
        by_split = {s: [(p, c) for p, c in rows if p.split("/", 1)[0] == s] for s in SPLITS}
        if by_split["train"] and len(by_split["train"]) + len(by_split["test"]) == len(rows):
            return by_split["train"], by_split["test"], f"{METADATA}, file names under train/ and test/"
        train, test = seeded_split(rows)
        return train, test, f"{METADATA}, seeded stratified split"
    if (root / "train").is_dir() and not _audio_in(root / "train"):  # ROOT/{train,test}/...
        found = {}
        for s in SPLITS:
            meta = root / s / METADATA
            if meta.is_file():
                found[s] = _metadata(meta, root, s + "/")
            else:
                found[s] = _class_folders(root / s, root) if (root / s).is_dir() else []
        if not found["test"]:
            raise SeptctlError(f"{root / 'test'}: missing or empty, and {root / 'train'} exists; add the test split "
                               f"as {root / 'test'}/<class>/<file>, or move the class folders up to {root} to let "
                               "septctl split them")
        return found["train"], found["test"], "the train/ and test/ folders"
    train, test = seeded_split(_class_folders(root, root))
    return train, test, "class folders, seeded stratified split"


def seeded_split(rows: Labelled) -> tuple[Labelled, Labelled]:
    """Per class: sort, shuffle with a seed named by the class, send ceil(TEST_FRACTION*n) files to test.

    A class of one file stays in train (`data check` names classes left without test files).
    """
    by_class: dict[str, list[str]] = {}
    for path, cls in rows:
        by_class.setdefault(cls, []).append(path)
    train: Labelled = []
    test: Labelled = []
    for cls in sorted(by_class):
        paths = sorted(by_class[cls])
        random.Random(f"{SPLIT_SEED}/{cls}").shuffle(paths)
        n_test = math.ceil(TEST_FRACTION * len(paths)) if len(paths) > 1 else 0
        test += [(p, cls) for p in sorted(paths[:n_test])]
        train += [(p, cls) for p in sorted(paths[n_test:])]
    return train, test


def _subdirs(folder: Path) -> list[Path]:
    return sorted(d for d in folder.iterdir() if d.is_dir() and not d.name.startswith("."))


def _audio_in(folder: Path) -> bool:
    return any(p.suffix.lower() in AUDIO_SUFFIXES for p in folder.iterdir() if not p.name.startswith("."))


def _class_folders(folder: Path, root: Path) -> Labelled:
    """(path, class) for every audio file in folder/<class>/ (nested folders included), paths relative to root."""
    rows: Labelled = []
    for d in _subdirs(folder):
        for dirpath, dirnames, filenames in os.walk(d):
            dirnames[:] = sorted(n for n in dirnames if not n.startswith("."))
            for name in sorted(filenames):
                if not name.startswith(".") and Path(name).suffix.lower() in AUDIO_SUFFIXES:
                    rows.append((_utf8_name(Path(dirpath, name)).relative_to(root).as_posix(), d.name))
    return rows


def _utf8_name(path: Path) -> Path:
    """`path`, if every name in it is UTF-8: a split CSV (and a class name) is UTF-8 text, so a Latin-1 name
    from an old archive is refused by name (its bytes shown) instead of failing to encode later."""
    try:
        str(path).encode("utf-8")
    except UnicodeEncodeError:
        shown = os.fsencode(path).decode("utf-8", "backslashreplace")
        raise SeptctlError(f"{shown}: a file or folder name that is not UTF-8; rename it to UTF-8 "
                           "(e.g. `convmv -f latin1 -t utf8 -r --notest FOLDER`)") from None
    return path


def _metadata(path: Path, root: Path, prefix: str) -> Labelled:
    """Rows of a metadata.csv: `file_name` (relative to the CSV's folder) and one label column."""
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError:
        raise SeptctlError(f"{path}: not UTF-8 text; re-save it as UTF-8") from None
    try:
        reader = csv.DictReader(io.StringIO(text, newline=""))
        fields = [(f or "").strip() for f in reader.fieldnames or []]
        reader.fieldnames = fields
        rows = list(reader)
    except csv.Error as exc:
        raise SeptctlError(f"{path}: malformed CSV ({exc}); fix the file") from None
    label = next((c for c in LABEL_COLUMNS if c in fields), None)
    others = [f for f in fields if f != "file_name"]
    if label is None and len(others) == 1:
        label = others[0]
    if "file_name" not in fields or label is None:
        raise SeptctlError(f"{path}: needs a file_name column and a label column ({', '.join(LABEL_COLUMNS)}); "
                           f"the header has {', '.join(fields) or 'nothing'}")
    return [(prefix + (r["file_name"] or "").strip(), (r[label] or "").strip()) for r in rows]


def _write_if_changed(dest: Path, rows: Labelled | None, text: str | None = None) -> None:
    """Write atomically (temporary file, then rename), and not at all when the content is the same."""
    if rows is not None:
        buf = io.StringIO(newline="")
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(("path", "classname"))
        w.writerows(rows)
        text = buf.getvalue()
    if dest.is_file() and dest.read_text(encoding="utf-8") == text:
        return
    write_text(dest, text or "")
