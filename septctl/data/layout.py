"""The common dataset layout (PALM's): audios/, train.csv, test.csv, csv_files/{train,test}_k.csv.

Every CSV has the columns `path` (relative to the dataset root) and `classname`.
Folds are chosen by argument; CSVs are never copied over each other and the folder
is never written by septctl after `data prepare` made it.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import posixpath
import re
import shutil
import tempfile
from collections import Counter
from functools import cached_property, lru_cache
from pathlib import Path

from septctl.artifacts import sha256_file, sha256_text, shared_mode, write_text
from septctl.data import media
from septctl.data.csvfile import describe, read_rows
from septctl.data.registry import find_dataset
from septctl.data.schema import COLUMNS, DatasetInfo, Row
from septctl.errors import SeptctlError
from septctl.paths import cache_dir

LINKS_FILE = "linked_roots.txt"  # where `data prepare --link` once recorded linked roots, in the dataset: no longer read
ALLOW_OUTSIDE = "SEPTCTL_ALLOW_OUTSIDE"  # set to 1 to let CSV rows name files outside the dataset folder
SPLIT_RECORD_COLUMNS = ("path", "classname", "split", "size", "mtime_ns")
CLASS_ORDER_FILE = "class_order.txt"  # a dataset's label order, one class a line (base/new follow it)


def read_class_order(path: Path) -> tuple[str, ...]:
    """The classes of a class_order.txt in label order: one a line, blank lines skipped, each once."""
    try:
        names = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    except (OSError, UnicodeDecodeError) as exc:
        raise SeptctlError(f"{path}: cannot read the class order ({exc}); write it as UTF-8 text, one class a "
                           "line") from None
    twice = sorted(n for n, k in Counter(names).items() if k > 1)
    if not names or twice:
        problem = f"lists {twice[0]!r} twice" if twice else "is empty"
        raise SeptctlError(f"{path}: {problem}; list each class once, one a line in label order")
    return tuple(names)


def real_path(root: str, rel: str) -> str:
    """Where a row's file really is (symlinks followed); cached, as every split names the same files."""
    return _real_path(os.path.abspath(root), rel)  # a relative root means another folder after a chdir


@lru_cache(maxsize=1 << 16)
def _real_path(root: str, rel: str) -> str:
    return os.path.realpath(os.path.join(root, rel))


def linked_roots_record(root: Path) -> Path:
    """Where `data prepare --link` records the folders a dataset's symlinks point into: septctl's cache, keyed
    by the dataset's real path, so that the dataset itself (which anyone may hand you) cannot widen the guard."""
    key = hashlib.sha256(os.path.realpath(root).encode("utf-8", "surrogateescape")).hexdigest()[:32]
    return cache_dir() / "linked-roots" / f"{key}.txt"  # not made by a reader: a read-only cache still serves


def allowed_roots(root: Path) -> list[str]:
    """Folders a row may resolve into: the dataset folder and the roots the user's `data prepare --link` recorded."""
    roots = [os.path.realpath(root)]
    record = linked_roots_record(root)
    if record.is_file():
        roots += [line for line in record.read_text(encoding="utf-8").splitlines() if line.strip()]
    return roots


def normalize_row_path(csv_path: Path, line: int, rel: str, root: Path, roots: list[str]) -> str:
    """One spelling per file (`./a//b.wav` -> `a/b.wav`); refuse rows that leave the dataset folder."""
    if "\x00" in rel or any(ord(c) < 32 for c in rel):
        raise SeptctlError(f"{csv_path}:{line}: path {describe(rel)} has control characters; fix the row")
    outside_ok = os.environ.get(ALLOW_OUTSIDE) == "1"
    if rel.startswith("/") and not outside_ok:
        raise SeptctlError(f"{csv_path}:{line}: {rel} is an absolute path; rows name files relative to {root} "
                           f"(or set {ALLOW_OUTSIDE}=1 to allow it)")
    norm = posixpath.normpath(rel)
    if (norm == ".." or norm.startswith("../")) and not outside_ok:
        raise SeptctlError(f"{csv_path}:{line}: {rel} points outside {root} ('..'); move the file into the "
                           f"dataset folder (or set {ALLOW_OUTSIDE}=1 to allow it)")
    if not outside_ok:
        real = real_path(str(root), norm)  # a symlink loop stays inside and is then "does not exist"
        if not any(real == r or real.startswith(r.rstrip(os.sep) + os.sep) for r in roots):
            old = (f"; its {LINKS_FILE} is no longer trusted (a dataset could open any file with it): if you made "
                   "it with `septctl data prepare --link`, run that again into a new --out"
                   if (root / LINKS_FILE).exists() else "; use `septctl data prepare --link`")
            raise SeptctlError(f"{csv_path}:{line}: {rel} resolves to {real}, outside {root} (a symlink out)"
                               f"{old}, or set {ALLOW_OUTSIDE}=1 to allow it")
    return norm


def read_csv(csv_path: Path, root: Path) -> list[Row]:
    """Read and validate one split CSV; every file it names must exist inside the dataset folder, once."""
    rows = read_rows(csv_path)
    roots = allowed_roots(Path(root))
    rows = [Row(normalize_row_path(csv_path, line, r.path, Path(root), roots), r.classname)
            for line, r in enumerate(rows, start=2)]
    check_disjoint(csv_path, rows, root)
    absent = [r.path for r in rows if not (root / r.path).is_file()]
    if absent:
        raise SeptctlError(
            f"{csv_path}: {len(absent)} listed file(s) do not exist under {root} (first: {absent[0]}); "
            "fix the paths or re-run `septctl data prepare`"
        )
    return rows


def check_disjoint(csv_path: Path, rows: list[Row], root: Path, other: list[Row] | None = None,
                   other_path: Path | None = None) -> None:
    """Refuse one file listed twice in a split (under any spelling or through a symlink), or in both splits."""
    def real(r: Row) -> str:
        return real_path(str(root), r.path)

    seen: dict[str, str] = {}
    for line, r in enumerate(rows, start=2):
        key = real(r)
        if key in seen:
            same = "" if seen[key] == r.path else f" (as {seen[key]})"
            raise SeptctlError(f"{csv_path}:{line}: {r.path} is listed twice{same}; remove the duplicate row")
        seen[key] = r.path
    for r in other or []:
        if real(r) in seen:
            raise SeptctlError(f"{csv_path}: {r.path} is also in {other_path}; a file belongs to train or test, "
                               "not both: remove it from one")


class DatasetFolder:
    """A dataset in the common layout, optionally matched to a registry entry.

    `csv_dir` holds the split CSVs: the dataset folder itself, or, for a folder of sounds or images
    (data/audiofolder.py), the cache folder where septctl recorded its split. A `class_order.txt` in
    the dataset folder declares its label order, which base/new follow (`class_order`).
    """

    def __init__(self, root: Path, info: DatasetInfo | None = None, csv_dir: Path | None = None):
        self.root = Path(root)
        self.csv_dir = Path(csv_dir) if csv_dir is not None else self.root
        self.info = info if info is not None else find_dataset(self.root.name)
        self.name = self.info.name if self.info else self.root.name
        self._fingerprint: str | None = None
        self._split_records: dict[int | None, str] = {}

    @cached_property
    def modality(self) -> str:
        """"audio" or "image": the registry's word, else the kind most files its split CSVs name are (by suffix)."""
        if self.info is not None:
            return self.info.modality
        return media.majority(media.count(r.path for p in self.csv_files() for r in read_rows(p)))

    @cached_property
    def class_order(self) -> tuple[str, ...] | None:
        """The label order base/new follow (`schema.base_new_split`): the folder's class_order.txt, one class a
        line, which must list exactly the classes its split CSVs name; else the registry's declared order; None
        (sorted names) for most datasets."""
        path = self.root / CLASS_ORDER_FILE
        if not path.is_file():
            return self.info.class_order if self.info else None
        order = read_class_order(path)
        have, listed = {r.classname for p in self.csv_files() for r in read_rows(p)}, set(order)
        if have != listed:
            odd = sorted(have - listed) or sorted(listed - have)
            where = "is not listed" if odd[0] in have else "is in no split CSV"
            raise SeptctlError(f"{path}: class {odd[0]!r} {where}; list exactly the dataset's classes, one a line in "
                               "label order (or delete the file to split base/new by sorted names)")
        return order

    @property
    def folds(self) -> int:
        """Number of folds in csv_files/ (0 when only train.csv/test.csv exist)."""
        found = [p for p in (self.csv_dir / "csv_files").glob("train_*.csv") if re.fullmatch(r"train_\d+", p.stem)]
        return len(found)

    def csv_path(self, split: str, fold: int | None) -> Path:
        if split not in ("train", "test"):
            raise SeptctlError(f"unknown split {split!r}; use train or test")
        if fold is None:
            path = self.csv_dir / f"{split}.csv"
            if not path.is_file() and self.folds:
                raise SeptctlError(f"{self.root}: has {self.folds} folds and no {split}.csv; pass --fold 1..{self.folds}")
        else:
            path = self.csv_dir / "csv_files" / f"{split}_{fold}.csv"
            if not path.is_file():
                have = f"folds 1..{self.folds}" if self.folds else "no folds: drop --fold"
                raise SeptctlError(f"{path}: fold {fold} not found; this dataset has {have}")
        if not path.is_file():
            raise SeptctlError(f"{path}: not found; is {self.root} a prepared dataset? (see `septctl data prepare`)")
        return path

    def default_fold(self) -> int | None:
        return None if (self.csv_dir / "train.csv").is_file() or not self.folds else 1

    def rows(self, split: str, fold: int | None = None) -> list[Row]:
        return read_csv(self.csv_path(split, fold), self.root)

    def splits(self, fold: int | None = None) -> tuple[list[Row], list[Row]]:
        """Train and test rows, checked to share one class set (and its class_order.txt, if any, to list it)."""
        train, test = self.rows("train", fold), self.rows("test", fold)
        check_disjoint(self.csv_path("train", fold), train, self.root, test, self.csv_path("test", fold))
        extra = sorted({r.classname for r in test} - {r.classname for r in train})
        fold_key = {" ".join(c.split()).casefold(): c for c in {r.classname for r in train}}
        near = [(c, fold_key[k]) for c in extra if (k := " ".join(c.split()).casefold()) in fold_key]
        if near:
            pairs = ", ".join(f"{describe(t)} vs {describe(c)}" for t, c in near)
            raise SeptctlError(f"{self.csv_path('test', fold)}: test label(s) differ from training labels only by case "
                               f"or spaces ({pairs}: test vs train); spell them the same in both splits")
        if extra:
            raise SeptctlError(
                f"{self.csv_path('test', fold)}: class {extra[0]!r} is not in the training split; "
                "fix the labels or add training files for it"
            )
        self.class_order  # a class_order.txt is checked against the classes before anything splits them
        return train, test

    def fingerprint(self) -> str:
        """Cheap identity of the dataset's content: its CSVs' sha256 and each file's size and mtime (computed once)."""
        if self._fingerprint is None:
            parts = [f"{p.relative_to(self.csv_dir)}:{sha256_file(p)}" for p in self.csv_files()]
            for rel in self.all_files():
                st = (self.root / rel).stat()
                parts.append(f"{rel}:{st.st_size}:{st.st_mtime_ns}")
            self._fingerprint = sha256_text("\n".join(parts))
        return self._fingerprint

    def split_record(self, fold: int | None) -> str:
        """The fold's split as CSV text (path, classname, split, size, mtime_ns; computed once): runs keep it."""
        if fold not in self._split_records:
            buf = io.StringIO(newline="")
            w = csv.writer(buf, lineterminator="\n")
            w.writerow(SPLIT_RECORD_COLUMNS)
            for split, rows in zip(("train", "test"), self.splits(fold)):
                for r in rows:
                    st = (self.root / r.path).stat()
                    w.writerow((r.path, r.classname, split, st.st_size, st.st_mtime_ns))
            self._split_records[fold] = buf.getvalue()
        return self._split_records[fold]

    def csv_files(self) -> list[Path]:
        paths = [self.csv_dir / "train.csv", self.csv_dir / "test.csv"]
        paths += sorted((self.csv_dir / "csv_files").glob("*.csv"))
        return [p for p in paths if p.is_file()]

    def all_files(self) -> list[str]:
        """Every sound or image named by any split CSV, once, in a stable order.

        Train and test of every fold (and train.csv/test.csv) are checked to share no file.
        """
        csvs = self.csv_files()
        if not csvs:
            raise SeptctlError(f"{self.root}: no split CSVs (train.csv and test.csv, or csv_files/); "
                               "make them with `septctl data prepare` (see docs/datasets.md)")
        read = {p: read_csv(p, self.root) for p in csvs}
        both = all((self.csv_dir / f"{s}.csv").is_file() for s in ("train", "test"))
        for fold in ([None] if both else []) + list(range(1, self.folds + 1)):
            train, test = self.csv_path("train", fold), self.csv_path("test", fold)
            check_disjoint(train, read[train], self.root, read[test], test)
        return sorted({r.path: None for rows in read.values() for r in rows})


def open_dataset(name_or_path: str, data_root: str | Path | None = None) -> DatasetFolder:
    """Resolve a CLI DATASET argument: a folder (common layout or a folder of sounds or images), or a registry name."""
    from septctl.data import audiofolder

    path = Path(name_or_path).expanduser()
    if path.is_dir():
        if audiofolder.is_file_folder(path):
            return DatasetFolder(path, csv_dir=audiofolder.split_csvs(path))
        return DatasetFolder(path)
    info = find_dataset(name_or_path)
    if info is None:
        raise SeptctlError(
            f"{name_or_path}: neither a dataset folder (no folder {path.absolute()}) nor a registered dataset name "
            "(see `septctl data list`); give the path of your folder of sounds or images, or a registered name"
        )
    root = Path(data_root or os.environ.get("SEPTCTL_DATA", "data")).expanduser() / info.folder
    if not root.is_dir():
        raise SeptctlError(
            f"{root}: dataset {info.name} is not prepared there; run `septctl data prepare {info.name} "
            f"--source RELEASE --out {root}`, or pass --data-root / set SEPTCTL_DATA"
        )
    return DatasetFolder(root, info)


def write_layout(
    out: Path,
    files: dict[str, Path],
    splits: dict[str, list[Row]],
    link: bool = False,
    class_order: list[str] | None = None,
) -> None:
    """Write a dataset folder atomically: copy (or symlink) `files` (dest relpath -> source) and the CSVs.

    `splits` maps a CSV path relative to `out` (e.g. "train.csv", "csv_files/test_3.csv") to its rows;
    `class_order`, the dataset's label order where it is not the sorted names, goes to class_order.txt.
    The folder is built beside `out` and renamed into place, so a failure leaves nothing half-made.
    """
    out = Path(out)
    if out.exists():
        raise SeptctlError(f"{out}: already exists; choose another --out or delete it first")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        for rel, src in files.items():
            dest = tmp / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            if link:
                dest.symlink_to(Path(src).resolve())
            else:
                shutil.copyfile(src, dest)
        for rel, rows in splits.items():
            dest = tmp / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            with open(dest, "w", newline="", encoding="utf-8") as f:
                w = csv.writer(f)
                w.writerow(COLUMNS)
                w.writerows((r.path, r.classname) for r in rows)
        if class_order is not None:
            (tmp / CLASS_ORDER_FILE).write_text("".join(f"{c}\n" for c in class_order), encoding="utf-8")
        os.chmod(tmp, shared_mode(dir=True))  # mkdtemp makes it 0700
        os.replace(tmp, out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    if link:
        sources = sorted({os.path.realpath(Path(src).parent) for src in files.values()})
        record = linked_roots_record(out)
        cache_dir(record.parent.name)
        write_text(record, "".join(f"{s}\n" for s in sources))
