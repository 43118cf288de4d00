"""Getting released checkpoints onto disk and into a backbone, fast and without pickle.

- `register_checkpoint` fetches a backbone's released file (its spec's URL, see registry.py)
  into cache_dir("weights") with HTTP Range resume, and records its sha256 in a card beside
  it (`<name>.yaml`). A release that publishes no hash gets one recorded at the first
  download; `--sha256` pins it.
- `load_checkpoint_state` reads a `.pth` once with `torch.load(weights_only=True)` (plus the
  harmless metadata types of `_safe_globals`; anything else only for a file whose sha256
  the user names in SEPTCTL_TRUST_CHECKPOINT), keeps
  only the backbone's weights (renamed to septctl's module names, strictly checked) and
  caches them as safetensors keyed by the file's path, size and mtime: later loads are a
  memory map, with no pickle and no 2 GB read.
- `load_pretrained` / `load_preprocessing` load a hub backbone (LAION-CLAP, CLIP) and its
  preprocessing settings from a `save_pretrained` folder or the HF hub, with one-line refusals.
Nothing here runs at import time or touches the network unless asked to download.
"""

from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from septctl.artifacts import file_lock, provenance, read_yaml, sha256_file, write_yaml
from septctl.backbones.registry import WeightsSource, get_spec
from septctl.errors import SeptctlError
from septctl.paths import cache_dir

_CHUNK = 1 << 20


def weights_dir() -> Path:
    return cache_dir("weights")


def card_path(name: str) -> Path:
    """The card recording backbone `name`'s downloaded (or registered local) checkpoint."""
    return weights_dir() / f"{name}.yaml"


def read_card(name: str) -> dict[str, Any] | None:
    card = card_path(name)
    return read_yaml(card, "weights card") if card.is_file() else None


def recorded_checkpoint(name: str) -> Path | None:
    """The checkpoint `name`'s card names, when that file is still there."""
    card = read_card(name)
    return Path(card["path"]) if card and Path(card["path"]).is_file() else None


def cached_weights(name: str) -> str | None:
    """Where `name`'s weights already are on this machine, or None (never downloads)."""
    source = get_spec(name).source
    if source.kind == "none":
        return "(no file needed)"
    if source.kind == "shipped":
        return "(ships with septctl)"
    if source.kind == "url":
        path = recorded_checkpoint(name)
        return str(path) if path else None
    from huggingface_hub import try_to_load_from_cache

    hit = try_to_load_from_cache(source.location, source.file)
    return hit if isinstance(hit, str) else None


def _open(url: str, start: int):
    headers = {"User-Agent": "septctl"}
    if start:
        headers["Range"] = f"bytes={start}-"
    try:
        return urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=60)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and start:  # nothing left to fetch: the partial file is complete
            return None
        raise SeptctlError(f"{url}: download failed (HTTP {exc.code}); retry later or pass --weights PATH") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise SeptctlError(f"{url}: cannot download ({reason}); check the network or pass --weights PATH") from None


def fetch(url: str, dest: Path, on_progress: Callable[[int, int | None], None] | None = None) -> Path:
    """Download `url` to `dest`, resuming a `dest.part` left by an interrupted run."""
    part = dest.with_name(dest.name + ".part")
    have = part.stat().st_size if part.exists() else 0
    resp = _open(url, have)
    if resp is None:
        os.replace(part, dest)
        return dest
    with resp:
        if have and resp.status != 206:  # server ignored the Range header: start over
            have = 0
        length = resp.headers.get("Content-Length")
        total = have + int(length) if length else None
        with open(part, "ab" if have else "wb") as fh:
            done = have
            while block := resp.read(_CHUNK):
                fh.write(block)
                done += len(block)
                if on_progress:
                    on_progress(done, total)
    if total is not None and part.stat().st_size != total:
        raise SeptctlError(f"{url}: connection closed early; rerun the same command to resume")
    os.replace(part, dest)
    return dest


def _check_sha(path: Path, expected: str | None) -> str:
    digest = sha256_file(path)
    if expected and digest != expected.lower():
        raise SeptctlError(
            f"{path}: sha256 is {digest}, not the pinned {expected.lower()}; delete the file and download again"
        )
    return digest


def register_checkpoint(
    name: str,
    source: WeightsSource,
    sha256: str | None = None,
    local: Path | None = None,
    on_progress: Callable[[int, int | None], None] | None = None,
) -> dict[str, Any]:
    """Fetch `source` into the weights cache (or take the existing file `local`), hash it, write its card.

    The digest is checked against `sha256`, else the source's published one, else the one
    the card recorded for the same file; the card says whether it was pinned.
    """
    out = weights_dir()
    with file_lock(card_path(name)):
        if local is not None:
            path = local.resolve()
        else:
            path = out / source.file
            if not path.is_file():
                fetch(source.location, path, on_progress)
        previous = read_card(name) or {}
        pinned = sha256 or source.sha256 or (previous.get("sha256") if previous.get("path") == str(path) else None)
        digest = _check_sha(path, pinned)
        card = provenance(
            backbone=name,
            path=str(path),
            source=source.location if local is None else "local file",
            sha256=digest,
            pinned=bool(sha256 or source.sha256) or bool(previous.get("pinned") and pinned),
            size=path.stat().st_size,
        )
        write_yaml(card_path(name), card)
    return card


def normalise_keys(raw: Mapping[str, Any], tolerated: tuple[str, ...]) -> dict[str, Any]:
    """Drop a DataParallel `module.` prefix and keys ending in a tolerated suffix."""
    out = {}
    for key, value in raw.items():
        key = key[len("module.") :] if key.startswith("module.") else key
        if not key.endswith(tolerated):
            out[key] = value
    return out


def _state_dict_of(obj: Any, path: Path) -> Mapping[str, Any]:
    if isinstance(obj, Mapping) and isinstance(obj.get("model"), Mapping):
        return obj["model"]
    if isinstance(obj, Mapping) and isinstance(obj.get("state_dict"), Mapping):
        return obj["state_dict"]
    if isinstance(obj, Mapping):
        return obj
    raise SeptctlError(f"{path}: not a checkpoint (no state dict inside); pass the released .pth file")


def rename_prefix(key: str, pairs: tuple[tuple[str, str], ...]) -> str | None:
    """`key` with the first matching (old, new) prefix replaced; None when none matches."""
    for old, new in pairs:
        if key.startswith(old):
            return new + key[len(old) :]
    return None


@dataclass(frozen=True)
class PrefixMap:
    """A checkpoint's key prefixes -> ours, and back. A key of `encoders` that no pair renames passes through
    unchanged, so the loader reports it as unexpected; other keys (a decoder) map to None: not needed."""

    pairs: tuple[tuple[str, str], ...]
    encoders: tuple[str, ...]

    def __call__(self, key: str) -> str | None:
        renamed = rename_prefix(key, self.pairs)
        if renamed is None and key.startswith(self.encoders):
            return key
        return renamed

    def inverse(self, key: str) -> str:
        """Our key -> the checkpoint's (to build a reference checkpoint, or to name a missing key as it is saved)."""
        renamed = rename_prefix(key, tuple((ours, theirs) for theirs, ours in self.pairs))
        if renamed is None:
            raise KeyError(key)
        return renamed


def select_state(
    raw: Mapping[str, Any],
    key_map: Callable[[str], str | None],
    expected: Mapping[str, tuple[int, ...]],
    path: Path,
    tolerated: tuple[str, ...] = (".position_ids",),
    inverse: Callable[[str], str] | None = None,
) -> dict[str, Any]:
    """Rename the checkpoint's needed keys (key_map -> None means 'not needed') and check them strictly.

    Errors name keys as the checkpoint spells them (`inverse` maps ours back).
    """
    picked, origin = {}, {}
    for key, value in normalise_keys(raw, tolerated).items():
        ours = key_map(key)
        if ours is not None:
            picked[ours], origin[ours] = value, key
    missing = sorted((inverse or str)(k) for k in set(expected) - set(picked))
    unexpected = sorted(origin[k] for k in set(picked) - set(expected))
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing keys {_few(missing)}")
        if unexpected:
            parts.append(f"unexpected keys {_few(unexpected)}")
        raise SeptctlError(f"{path}: not the expected checkpoint ({'; '.join(parts)}); pass the released weights file")
    wrong = [k for k, shape in expected.items() if tuple(picked[k].shape) != tuple(shape)]
    if wrong:
        k = wrong[0]
        raise SeptctlError(
            f"{path}: {origin[k]} has shape {tuple(picked[k].shape)}, expected {tuple(expected[k])} "
            f"({len(wrong)} mismatched); pass the released weights file"
        )
    return picked


def check_values(model: Any, state: Mapping[str, Any], path: str | os.PathLike) -> None:
    """Refuse, naming the tensor, weights that cannot be right: integers where the model holds floats
    (an int8 file gave all-zero features), or NaN/inf values (NaN features, then blamed on an audio file)."""
    import torch

    own = model.state_dict()
    for key in sorted(state):
        value = state[key]
        if not isinstance(value, torch.Tensor) or key not in own or not own[key].is_floating_point():
            continue
        if not value.is_floating_point():
            raise SeptctlError(f"{path}: tensor {key!r} holds {str(value.dtype).removeprefix('torch.')}, not "
                               "floating-point weights; pass the released (float) weights file")
        if not bool(torch.isfinite(value).all()):
            raise SeptctlError(f"{path}: tensor {key!r} holds NaN or infinite values; pass the released weights "
                               "file (download it again)")


def _few(keys: list[str], n: int = 4) -> str:
    shown = ", ".join(keys[:n])
    return f"{shown} (+{len(keys) - n} more)" if len(keys) > n else shown


def _cache_path(path: Path, name: str) -> Path:
    st = path.stat()
    key = hashlib.sha256(f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode()).hexdigest()[:16]
    return cache_dir("weights", "converted") / f"{name}-{key}.safetensors"


TRUST_ENV = "SEPTCTL_TRUST_CHECKPOINT"


def _safe_globals() -> list:
    """Harmless non-tensor types released checkpoints hold beside the weights.

    MS-CLAP's CLAP_weights_2023.pth (and Pengi, same training code) store their training
    arguments as an argparse.Namespace, with numpy scalars and dtypes; optimizer state is
    plain dicts and tensors, which weights_only already reads.
    """
    import argparse

    import numpy as np

    try:
        from numpy._core.multiarray import scalar
    except ImportError:  # numpy < 2
        from numpy.core.multiarray import scalar
    dtypes = [type(np.dtype(t)) for t in ("f2", "f4", "f8", "i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8", "?")]
    return [argparse.Namespace, np.dtype, *dtypes, scalar, (scalar, "numpy.core.multiarray.scalar")]


def _refuse_or_trust(path: Path) -> bool:
    """True when the user trusts this exact file (TRUST_ENV holds its sha256); else refuse by name."""
    import torch

    digest = sha256_file(path)
    if os.environ.get(TRUST_ENV, "").strip().lower() == digest:
        return True
    try:
        names = torch.serialization.get_unsafe_globals_in_checkpoint(path)
    except Exception:  # legacy (non-zip) files cannot be listed
        names = []
    what = ", ".join(sorted(names)) if names else "objects other than tensors"
    raise SeptctlError(
        f"{path}: holds {what}, which septctl will not unpickle; if you trust this file, "
        f"set {TRUST_ENV}={digest} (that file only) and rerun"
    )


def _torch_load(path: Path) -> Any:
    import pickle
    import zipfile

    import torch

    with open(path, "rb") as fh:
        legacy = fh.read(1) == b"\x80"  # pre-1.6 torch.save: a bare pickle stream
    if not (legacy or zipfile.is_zipfile(path)):
        raise SeptctlError(f"{path}: not a PyTorch checkpoint (neither zip nor pickle); download it again")

    def load(weights_only: bool) -> Any:
        try:
            return torch.load(path, map_location="cpu", weights_only=weights_only, mmap=True)
        except RuntimeError as exc:  # legacy (non-zip) format cannot be memory-mapped
            if "mmap" not in str(exc):
                raise
            return torch.load(path, map_location="cpu", weights_only=weights_only)

    try:
        try:
            with torch.serialization.safe_globals(_safe_globals()):
                return load(weights_only=True)
        except pickle.UnpicklingError as exc:
            if "Weights only load failed" not in str(exc):
                raise
            _refuse_or_trust(path)
        return load(weights_only=False)
    except pickle.UnpicklingError as exc:
        raise SeptctlError(f"{path}: not a readable PyTorch checkpoint ({exc}); download it again") from None
    except (RuntimeError, EOFError, OSError, AttributeError, ModuleNotFoundError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise SeptctlError(f"{path}: not a readable PyTorch checkpoint ({first}); download it again") from None


def load_checkpoint_state(
    path: str | os.PathLike,
    key_map: Callable[[str], str | None],
    expected: Mapping[str, tuple[int, ...]],
    name: str,
    tolerated: tuple[str, ...] = (".position_ids",),
    inverse: Callable[[str], str] | None = None,
) -> dict[str, Any]:
    """The backbone's tensors from checkpoint `path`, via the safetensors cache."""
    from septctl.artifacts import load_tensors, save_tensors

    path = Path(path)
    cached = _cache_path(path, name)
    if cached.is_file():
        tensors, _ = load_tensors(cached, "converted weights")
        if set(tensors) == set(expected):
            return tensors
    with file_lock(cached):
        state = select_state(_state_dict_of(_torch_load(path), path), key_map, expected, path, tolerated, inverse)
        save_tensors(cached, state, {"source": str(path.resolve()), "source_sha256": sha256_file(path), "backbone": name})
    return state


def load_pretrained(model_class: Any, source: str, what: str) -> Any:
    """`model_class.from_pretrained(source)`: a local `save_pretrained` folder, or a hub repo (cached after the first
    time); refused in one line when absent, and its values checked (from_pretrained casts to the model's dtype:
    NaN/inf remain)."""
    try:
        model = model_class.from_pretrained(source)
    except OSError as exc:
        raise SeptctlError(
            f"{source}: {what} weights not found ({str(exc).splitlines()[0]}); connect once so the HF hub "
            "can cache them, or pass --weights DIR holding config.json + model.safetensors"
        ) from None
    check_values(model, model.state_dict(), source)
    return model


def load_preprocessing(preprocessor_class: Any, source: str, default: Callable[[], Any], what: str,
                       default_name: str) -> Any:
    """The weights' own preprocessing settings (preprocessor_config.json); `default()` where a local folder has
    none; a damaged file refused in one line."""
    if os.path.isdir(source) and not os.path.isfile(os.path.join(source, "preprocessor_config.json")):
        return default()
    try:
        return preprocessor_class.from_pretrained(source)
    except OSError as exc:
        raise SeptctlError(
            f"{source}: {what} preprocessor_config.json unreadable ({str(exc).splitlines()[0]}); "
            f"restore it from the model's release or remove it to use {default_name}'s settings"
        ) from None
