"""Reading and writing septctl's files: atomic, hashed, with a provenance card.

Every artifact is written to a temporary file in the same folder and renamed into
place, so a crash leaves either the old file or the new one, never half of one.
A file the user named with --out is replaced only when it holds what we would write
anyway, or with --force (`force=False` below), so a hand-edited file is never lost.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import fcntl
import hashlib
import json
import os
import platform
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from septctl import __version__
from septctl.errors import SeptctlError, doing
from septctl.filecheck import load_yaml


def current_umask() -> int:
    """The process umask, read without changing it where Linux allows.

    /proc/self/status reports it read-only, so no other thread can see a changed
    umask; elsewhere the os.umask set-and-restore pair is used, which briefly sets
    the umask to 0o022 for the whole process (not thread-safe, but only an instant).
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def shared_mode(dir: bool = False) -> int:
    """The mode a plain open()/mkdir() would give: 0o666 (0o777 for a folder) less the umask.

    mkstemp and mkdtemp make private 0600/0700 entries; septctl widens them to this
    before the rename, so a group-shared cache or results folder stays shared.
    """
    return (0o777 if dir else 0o666) & ~current_umask()


def refuse_to_replace(path: str | os.PathLike, force: bool, new: Path | None = None) -> None:
    """Refuse when `path` exists and differs from `new` (what we would write; None: anything differs).

    YAML files compare by content without their `card:` (which records the time), so
    rerunning the same command over its own output is fine.
    """
    path = Path(path)
    if force or not path.is_file() or (new is not None and _same_content(path, new)):  # a folder: the OS says
        return
    raise SeptctlError(f"{path}: exists and differs from what this command would write (edited by hand?); "
                       "pass --force to replace it, or choose another --out")


def _same_content(old: Path, new: Path) -> bool:
    if not old.is_file():
        return False
    if old.suffix in (".yaml", ".yml"):
        try:
            a, b = (yaml.safe_load(p.read_text(encoding="utf-8")) for p in (old, new))
        except (ValueError, yaml.YAMLError):
            return False
        strip = lambda d: {k: v for k, v in d.items() if k != "card"} if isinstance(d, dict) else d  # noqa: E731
        return strip(a) == strip(b)
    return old.read_bytes() == new.read_bytes()


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, *, force: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it onto `path` on success.

    The file gets the umask's mode (as open() would), not mkstemp's private 0600.
    `force=False`: refuse to replace a differing file (see refuse_to_replace). A file with the same content
    (for YAML: the same data, card aside) is left as it is, so a hand-added comment survives a rerun.
    """
    path = Path(path)
    with doing("writing", path):
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
        tmp_path = Path(tmp)
        try:
            yield tmp_path
            if _same_content(path, tmp_path):
                return
            refuse_to_replace(path, force, tmp_path)
            os.chmod(tmp_path, shared_mode())
            os.replace(tmp_path, path)
        finally:
            tmp_path.unlink(missing_ok=True)


def write_text(path: str | os.PathLike, text: str, *, force: bool = True) -> None:
    with atomic_path(path, force=force) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_yaml(path: str | os.PathLike, data: Any, *, force: bool = True) -> None:
    write_text(path, yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100), force=force)


def read_yaml(path: str | os.PathLike, what: str = "YAML file") -> Any:
    """Strictly: duplicate keys and absurd nesting are refused (see filecheck.py)."""
    return load_yaml(path, what)


def write_json(path: str | os.PathLike, data: Any) -> None:
    write_text(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def save_tensors(path: str | os.PathLike, tensors: dict, metadata: dict[str, str] | None = None, *,
                 force: bool = True) -> None:
    """Save tensors as safetensors (no pickle), atomically.

    The bytes are made in memory and written by Python, so a full disk raises a plain
    OSError (ENOSPC) that the CLI reports, not safetensors' own error type.
    """
    from safetensors.torch import save

    tensors = {k: v.detach().contiguous().cpu() for k, v in tensors.items()}
    with atomic_path(path, force=force) as tmp:
        tmp.write_bytes(save(tensors, metadata={k: str(v) for k, v in (metadata or {}).items()}))
        _sort_metadata(tmp)


def _sort_metadata(path: Path) -> None:
    """Rewrite the header's __metadata__ in key order, in place.

    safetensors writes it in hash-map order, which changes from process to process, so
    the same tensors and metadata would give different bytes (and sha256) on every run.
    The header is rewritten at its own length (space-padded, as the format allows).
    """
    with open(path, "r+b") as f:
        size = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(size))
        if "__metadata__" not in header:
            return
        ordered = {"__metadata__": dict(sorted(header.pop("__metadata__").items())), **header}
        text = json.dumps(ordered, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        if len(text) <= size:
            f.seek(8)
            f.write(text.ljust(size, b" "))


def load_tensors(path: str | os.PathLike, what: str = "tensor file") -> tuple[dict, dict[str, str]]:
    """Load a safetensors file and its metadata, with a clear error if it is not one."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise SeptctlError(f"{path}: {what} not found; check the path")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = dict(f.metadata() or {})
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as exc:  # safetensors raises several types for a bad header
        raise SeptctlError(f"{path}: not a readable safetensors {what} ({exc}); regenerate it") from None
    return tensors, meta


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def package_version(name: str) -> str | None:
    """The installed version of a distribution, or None when it is not installed."""
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def provenance(**extra: Any) -> dict[str, Any]:
    """The card every artifact carries: who made it, from what, when."""
    import torch

    card = {
        "septctl_version": __version__,
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "torch_version": str(torch.__version__),
        "torchaudio_version": package_version("torchaudio"),  # its resampler shapes every embedding
        "numpy_version": package_version("numpy"),
        "python_version": platform.python_version(),
    }
    card.update(extra)
    return card


@contextlib.contextmanager
def file_lock(path: str | os.PathLike) -> Iterator[None]:
    """An exclusive inter-process lock (flock) held for the duration of the block.

    flock needs only a read-only descriptor, so a lock file another user created
    (and that this user may not write) still works.
    """
    lock = Path(f"{path}.lock")
    with doing("creating its lock file", lock):
        lock.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(lock, os.O_RDONLY | os.O_CREAT, 0o666)
        except PermissionError as denied:
            try:
                fd = os.open(lock, os.O_RDONLY)  # it exists but the folder is not ours to create in
            except FileNotFoundError:
                raise denied from None  # it does not: the cause is the permission, not "No such file"
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
