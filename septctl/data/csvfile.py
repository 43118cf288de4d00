"""Reading a split CSV (`path,classname` rows) the way people save them, with one-line refusals.

Shared by the dataset layout (which then checks that every file exists inside the folder) and
by PALM's copies (which may lack some files). Excel's BOM and spaces around column names are
accepted; UTF-16, NUL bytes, empty cells and invisible characters in class names are refused.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from septctl.data.schema import COLUMNS, Row
from septctl.errors import SeptctlError

INVISIBLE = {"\ufeff": "BOM (U+FEFF)", "\u200b": "zero-width space (U+200B)", "\u200c": "zero-width non-joiner (U+200C)",
             "\u200d": "zero-width joiner (U+200D)", "\u00a0": "no-break space (U+00A0)", "\u2060": "word joiner (U+2060)",
             "\x00": "NUL byte", "\r": "carriage return", "\t": "tab"}


def describe(text: str) -> str:
    """`text` with invisible characters named, so a refusal quoting it is not a riddle."""
    named = [name for ch, name in INVISIBLE.items() if ch in text]
    named += [f"control character U+{ord(c):04X}" for c in sorted(set(text))
              if (ord(c) < 32 or 0x7F <= ord(c) < 0xA0) and c not in INVISIBLE]
    return repr(text) + (f" (contains {', '.join(named)})" if named else "")


def _columns(csv_path: Path, fieldnames: list[str] | None) -> dict[str, str]:
    """Map each wanted column to its spelling in the file: a BOM and spaces around names are accepted."""
    found = {(name or "").strip(): name for name in (fieldnames or [])}
    missing = [c for c in COLUMNS if c not in found]
    if missing:
        got = ", ".join(describe(n or "") for n in (fieldnames or [])) or "nothing"
        raise SeptctlError(f"{csv_path}: missing column(s) {', '.join(missing)} (header has {got}); "
                           "the header must be 'path,classname'")
    return {c: found[c] for c in COLUMNS}


def read_rows(csv_path: Path) -> list[Row]:
    """The rows of one split CSV, each with a path and a class name (neither checked against any folder)."""
    try:
        raw = Path(csv_path).read_bytes()
    except OSError as exc:
        raise SeptctlError(f"{csv_path}: cannot read ({exc.strerror}); check the file") from None
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")) or b"\x00" in raw:
        raise SeptctlError(f"{csv_path}: UTF-16 text or NUL bytes; re-save it as UTF-8 CSV")
    try:
        text = raw.decode("utf-8-sig")  # Excel writes a BOM
    except UnicodeDecodeError:
        raise SeptctlError(f"{csv_path}: not UTF-8 text; re-save it as UTF-8") from None
    try:
        reader = csv.DictReader(io.StringIO(text, newline=""))
        cols = _columns(csv_path, reader.fieldnames)
        rows = [Row((r[cols["path"]] or "").strip(), (r[cols["classname"]] or "").strip()) for r in reader]
    except csv.Error as exc:
        raise SeptctlError(f"{csv_path}: malformed CSV ({exc}); fix the file") from None
    if not rows:
        raise SeptctlError(f"{csv_path}: no rows; the split needs at least one labelled file")
    for line, r in enumerate(rows, start=2):
        if not r.path or not r.classname:
            raise SeptctlError(f"{csv_path}:{line}: empty path or classname; fill it in or delete the row")
        bad = [c for c in r.classname if c in INVISIBLE or ord(c) < 32]
        if bad:
            raise SeptctlError(f"{csv_path}:{line}: classname {describe(r.classname)} has invisible characters; "
                               "retype it")
    return rows
