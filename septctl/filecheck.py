"""One strict reader for the YAML files people edit by hand: neighbors, prefixes, run.yaml, metrics.yaml.

PyYAML's safe loader keeps the last of two equal keys, reads `- no` as false and
recurses once per nesting level (100,000 levels end in a RecursionError). Every
septctl reader goes through `load_yaml`, which refuses the first two by line and
stops at MAX_DEPTH; the `check_*` functions then refuse wrong shapes naming file,
key and item (runs.py checks run.yaml the same way), so nothing downstream meets a
list where it expects a mapping.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import yaml

from septctl.errors import SeptctlError

MAX_DEPTH = 64  # septctl's own files nest 4 deep


class Refused(yaml.YAMLError):
    def __init__(self, message: str, mark: yaml.Mark | None):
        super().__init__(message)
        self.message, self.line = message, (mark.line + 1 if mark else None)


class StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys and nesting deeper than MAX_DEPTH."""

    depth = 0

    def compose_node(self, parent, index):
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                raise Refused(f"nested deeper than {MAX_DEPTH} levels", self.peek_event().start_mark)
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1

    def construct_mapping(self, node, deep=False):
        seen: set = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *base` may be overridden, by design
                continue
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, (list, dict)):
                raise Refused("a mapping key is itself a list or mapping", key_node.start_mark)
            if key in seen:
                raise Refused(f"key {key!r} appears twice (YAML would keep the last)", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep)


def load_yaml(path: str | Path, what: str = "YAML file") -> Any:
    """Parse `path` strictly; every failure is one line naming the file (and line)."""
    path = Path(path)
    if not path.is_file():
        raise SeptctlError(f"{path}: {what} not found; check the path")
    fix = "fix or regenerate the file"
    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=StrictLoader)  # noqa: S506 (a SafeLoader)
    except Refused as exc:
        raise SeptctlError(f"{path}:{exc.line}: {exc.message}; {fix}") from None
    except (yaml.YAMLError, UnicodeDecodeError, RecursionError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise SeptctlError(f"{path}: not valid UTF-8 YAML ({first}); {fix}") from None
    except OSError as exc:
        raise SeptctlError(f"{path}: cannot read {what} ({exc.strerror}); check the file") from None


def yaml_spelling(value: Any) -> str:
    """How a non-string item was read, so `- no` is shown as what the user typed and what YAML made of it."""
    if isinstance(value, bool):
        return f"{value!r} (YAML reads yes/no/on/off as booleans: quote it)"
    if value is None:
        return "empty"
    return f"{value!r} (a {type(value).__name__}, not a name: quote it)"


def check_names(path: Path | str, key: str, items: Any, fix: str) -> list[str]:
    """A non-empty list of non-empty strings, or a refusal naming the item."""
    if not isinstance(items, list) or not items:
        raise SeptctlError(f"{path}: {key} must be a non-empty list of names; {fix}")
    for i, item in enumerate(items, start=1):
        if not isinstance(item, str):
            raise SeptctlError(f"{path}: {key}, item {i} is {yaml_spelling(item)}; {fix}")
        if not item.strip():
            raise SeptctlError(f"{path}: {key}, item {i} is blank; {fix}")
    return items


def mapping(path: Path | str, key: str, value: Any, fix: str) -> dict:
    if not isinstance(value, dict):
        raise SeptctlError(f"{path}: {key} must be a mapping, not {type(value).__name__}; {fix}")
    return value


def whole(path: Path | str, key: str, value: Any, fix: str, optional: bool = False) -> int | None:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise SeptctlError(f"{path}: {key} must be a whole number, not {value!r}; {fix}")
    return value


def check_metrics(path: Path | str, data: Any) -> dict[str, dict]:
    """metrics.yaml's `evaluations`: key -> {dataset, fold, classes, accuracy in 0..100}."""
    fix = "delete the file and rerun `septctl eval`"
    if data is None:
        return {}
    evals = mapping(path, "the file", data, fix).get("evaluations") or {}
    mapping(path, "evaluations", evals, fix)
    for name, entry in evals.items():
        key = f"evaluations.{name}"
        mapping(path, key, entry, fix)
        for field in ("dataset", "classes"):
            if not isinstance(entry.get(field), str):
                raise SeptctlError(f"{path}: {key}.{field} must be a name, not {entry.get(field)!r}; {fix}")
        whole(path, f"{key}.fold", entry.get("fold"), fix, optional=True)
        acc = entry.get("accuracy")
        if isinstance(acc, bool) or not isinstance(acc, (int, float)) or not math.isfinite(acc) or not 0 <= acc <= 100:
            raise SeptctlError(f"{path}: {key}.accuracy must be a percentage in 0..100, not {acc!r}; {fix}")
    return evals
