"""A folder of sounds or images as a dataset, with Hugging Face AudioFolder's (and ImageFolder's) conventions
and no preparation step.

A folder holds one kind of media: the kind most of its files are, by suffix (`septctl/data/media.py`;
sounds win a tie). Files of the other kind are left out, and `data check` says how many. Three
layouts are read in place (the folder itself is never written):

- `ROOT/<class>/<file>`: one pool; septctl splits it file by file: a file goes to test when a hash of
  its path relative to ROOT falls below TEST_FRACTION (`hashed_split`), and keeps the split recorded
  for it, so adding files never moves others.
- `ROOT/{train,test}/<class>/<file>`: the folders are the splits.
- `metadata.csv` (at ROOT, or in ROOT/train and ROOT/test) with a `file_name` column and a label column
  (`label`, `labels`, `class`, `classname` or `category`, or the one other column). File names under
  `train/` and `test/` take those splits; otherwise septctl splits them as above.

Class names are the folder names (or labels) with '_' read as a space (`class_name`), as the registered
preparers make them: prompts, LLM requests and results say `alarm clock` for `alarm_clock/`.

The split is recorded as common-layout CSVs (`path,classname`, paths relative to ROOT) in septctl's
cache, `<cache>/splits/<folder name>-<hash of its real path>/`, and read from there like any prepared
dataset, so the path checks (symlinks out, SEPTCTL_ALLOW_OUTSIDE) hold unchanged. Files already in
the recorded split keep their split (a split recorded by septctl 0.x, which shuffled each class as a
whole, included); new files are placed by their hash. A wiped cache gives the per-file split back,
which differs from the recorded one only where a small class's fallback test file was chosen
(see `hashed_split`) or where septctl 0.x made the split; `eval` names such moves.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
from dataclasses import dataclass
from pathlib import Path

from septctl.artifacts import write_text
from septctl.data import media
from septctl.errors import SeptctlError

METADATA = "metadata.csv"
LABEL_COLUMNS = ("label", "labels", "class", "classname", "category")
SPLITS = ("train", "test")
SPLIT_SEED = 0  # salts the per-file hash
TEST_FRACTION = 0.25

Labelled = list[tuple[str, str]]  # (path relative to ROOT, class)


def is_file_folder(root: Path) -> bool:
    """True for a folder with no split CSVs that holds a metadata.csv, a train/ folder or class folders of sounds
    or images."""
    if any((root / name).exists() for name in ("train.csv", "test.csv", "csv_files")):  # the common layout
        return False
    return (root / METADATA).is_file() or (root / "train").is_dir() or any(_media_in(d) for d in _subdirs(root))


def split_csvs(root: Path) -> Path:
    """Write (if changed) the folder's train.csv and test.csv into the cache; return that folder."""
    from septctl.paths import cache_dir

    root = Path(root)
    _utf8_name(Path(os.path.realpath(root)))  # it names the cache folder of the split
    found = labelling(root)
    train, test, how = found.train, found.test, found.how
    train, test = _named(root, train, test)
    classes = sorted({c for _, c in train + test})
    if len(classes) < 2:
        raise SeptctlError(f"{root}: {len(classes)} class ({', '.join(classes) or 'no sounds or images'}); a dataset "
                           "needs at least 2: put each class's files in ROOT/<class>/, or write split CSVs with "
                           "`septctl data prepare` (see docs/datasets.md)")
    key = hashlib.sha256(os.path.realpath(root).encode()).hexdigest()[:12]
    out = cache_dir("splits", f"{root.resolve().name}-{key}")
    recorded = _recorded_splits(out)
    rows = train + test
    if sorted(recorded[0] + recorded[1]) == sorted(rows):
        return out  # the same files and classes: the recorded split stands, whichever rule made it
    if how.endswith("per-file hashed split"):  # files already recorded keep their split (a relabelled one too)
        current = {p for p, _ in rows}
        kept = {p: split for split, held in zip(SPLITS, recorded) for p, _ in held if p in current}
        train, test = hashed_split(rows, kept)
    for name, rows in (("train.csv", train), ("test.csv", test)):
        _write_if_changed(out / name, rows)
    _write_if_changed(out / "README.txt", None,
                      f"split of {os.path.realpath(root)}: {how}\n"
                      f"(septctl/data/audiofolder.py; per-file hash, salt {SPLIT_SEED}, test fraction {TEST_FRACTION})\n"
                      f"class names: the folder names (or labels) with '_' read as a space\n")
    return out


def class_name(label: str) -> str:
    """The name a class folder (or a metadata label) gets in prompts, LLM requests and results: '_' read as a space.

    The registered preparers do the same (ESC-50's `clock_alarm` is `clock alarm`), so CLIP's
    tokenizer sees words (`alarm clock`), not `alarm</w> _</w> clock</w>`.
    """
    return label.replace("_", " ")


def renamed_classes(found: Labelling) -> dict[str, str]:
    """Folder name (or label) -> class name, for those the rule changes (`data check` lists them)."""
    return {c: class_name(c) for c in sorted({c for _, c in found.train + found.test}) if class_name(c) != c}


def _named(root: Path, train: Labelled, test: Labelled) -> tuple[Labelled, Labelled]:
    """The rows with class names (`class_name`); refuses two folders that would become one class."""
    named: dict[str, str] = {}
    for label in sorted({c for _, c in train + test}):
        other = named.setdefault(class_name(label), label)
        if other != label:
            raise SeptctlError(f"{root}: classes {other!r} and {label!r} are one class once '_' is read as a space "
                               f"({class_name(label)!r}); rename one of them")
    return [(p, class_name(c)) for p, c in train], [(p, class_name(c)) for p, c in test]


def _recorded_splits(out: Path) -> tuple[Labelled, Labelled]:
    """The train and test (path, class) rows recorded earlier in `out` (none when absent or unreadable)."""
    splits: list[Labelled] = []
    for name in SPLITS:
        try:
            with open(out / f"{name}.csv", newline="", encoding="utf-8") as f:
                splits.append([(r["path"], r["classname"]) for r in csv.DictReader(f)])
        except (OSError, KeyError, UnicodeDecodeError, csv.Error):
            return [], []
    return splits[0], splits[1]


@dataclass(frozen=True)
class Labelling:
    """A folder's train and test (path, class) pairs of its one kind of media, and what was left out."""

    train: Labelled
    test: Labelled
    how: str  # how they were split (said in the recorded README)
    modality: str  # "audio" or "image": the kind most of its files are
    ignored: int  # files of the other kind, left out


def _one_kind(rows: Labelled) -> tuple[Labelled, str, int]:
    """The rows without the other kind's files (rows of no known suffix, from a metadata.csv, stay), the kind,
    and how many were left out."""
    counts = media.count(p for p, _ in rows)
    modality = media.majority(counts)
    kept = [(p, c) for p, c in rows if media.kind(p) in (modality, None)]
    return kept, modality, len(rows) - len(kept)


def labelling(root: Path) -> Labelling:
    """Train and test (path, class) pairs of the folder's one kind of media, and how they were split."""
    root = Path(root)
    if (root / METADATA).is_file():
        rows, modality, ignored = _one_kind(_metadata(root / METADATA, root, ""))
        by_split = {s: [(p, c) for p, c in rows if p.split("/", 1)[0] == s] for s in SPLITS}
        if by_split["train"] and len(by_split["train"]) + len(by_split["test"]) == len(rows):
            return Labelling(by_split["train"], by_split["test"], f"{METADATA}, file names under train/ and test/",
                             modality, ignored)
        train, test = hashed_split(rows)
        return Labelling(train, test, f"{METADATA}, per-file hashed split", modality, ignored)
    if (root / "train").is_dir() and not _media_in(root / "train"):  # ROOT/{train,test}/...
        found = {}
        for s in SPLITS:
            meta = root / s / METADATA
            if meta.is_file():
                found[s] = _metadata(meta, root, s + "/")
            else:
                found[s] = _class_folders(root / s, root) if (root / s).is_dir() else []
        rows, modality, ignored = _one_kind(found["train"] + found["test"])
        kept = set(rows)
        found = {s: [r for r in found[s] if r in kept] for s in SPLITS}
        if not found["test"]:
            raise SeptctlError(f"{root / 'test'}: missing or empty, and {root / 'train'} exists; add the test split "
                               f"as {root / 'test'}/<class>/<file>, or move the class folders up to {root} to let "
                               "septctl split them")
        return Labelling(found["train"], found["test"], "the train/ and test/ folders", modality, ignored)
    rows, modality, ignored = _one_kind(_class_folders(root, root))
    train, test = hashed_split(rows)
    return Labelling(train, test, "class folders, per-file hashed split", modality, ignored)


def _draw(path: str) -> float:
    """A file's place in [0, 1), from its path relative to ROOT alone."""
    return int(hashlib.sha256(f"{SPLIT_SEED}/{path}".encode()).hexdigest()[:12], 16) / 16**12


def hashed_split(rows: Labelled, kept: dict[str, str] | None = None) -> tuple[Labelled, Labelled]:
    """A file goes to test when its draw is below TEST_FRACTION, unless `kept` (path -> split) holds its split.

    Stratification is approximated: a class of 2 or more files none of which is in test sends its
    lowest-drawing new file (any file, when none is new) to test, and one all in test sends its
    highest-drawing new file to train, so every such class is trained and tested.
    With the recorded split as `kept`, adding files never moves another. A class of one file stays
    in train (`data check` names classes left without test files).
    """
    kept = kept or {}
    by_class: dict[str, list[str]] = {}
    for path, cls in rows:
        by_class.setdefault(cls, []).append(path)
    train: Labelled = []
    test: Labelled = []
    for cls in sorted(by_class):
        paths = sorted(by_class[cls])
        chosen = {p for p in paths if kept.get(p, "test" if _draw(p) < TEST_FRACTION else "train") == "test"}
        new = [p for p in paths if p not in kept] or paths
        if not chosen and len(paths) > 1:
            chosen = {min(new, key=_draw)}
        elif len(chosen) == len(paths) > 1:
            chosen -= {max(new, key=_draw)}
        test += [(p, cls) for p in paths if p in chosen]
        train += [(p, cls) for p in paths if p not in chosen]
    return train, test


def _subdirs(folder: Path) -> list[Path]:
    return sorted(d for d in folder.iterdir() if d.is_dir() and not d.name.startswith("."))


def _media_in(folder: Path) -> bool:
    return any(media.kind(p) for p in folder.iterdir() if not p.name.startswith("."))


def _class_folders(folder: Path, root: Path) -> Labelled:
    """(path, class) for every sound or image in folder/<class>/ (nested folders included), paths relative to root."""
    rows: Labelled = []
    for d in _subdirs(folder):
        for dirpath, dirnames, filenames in os.walk(d):
            dirnames[:] = sorted(n for n in dirnames if not n.startswith("."))
            for name in sorted(filenames):
                if not name.startswith(".") and media.kind(name):
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
