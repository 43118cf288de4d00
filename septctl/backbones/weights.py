"""Getting released checkpoints onto disk and into a backbone, fast and without pickle.

- `download_pengi` fetches Pengi's `base.pth` into cache_dir("weights") with a progress
  bar and HTTP Range resume, and records its sha256 in a card beside it (`pengi.yaml`).
  The release publishes no hash, so the first download records one; `--sha256` pins it.
- `load_checkpoint_state` reads a `.pth` once with `torch.load(weights_only=True)` (plus the
  harmless metadata types of `_safe_globals`; anything else only for a file whose sha256
  the user names in SEPTCTL_TRUST_CHECKPOINT), keeps
  only the backbone's weights (renamed to septctl's module names, strictly checked) and
  caches them as safetensors keyed by the file's path, size and mtime: later loads are a
  memory map, with no pickle and no 2 GB read.
Nothing here runs at import time or touches the network unless asked to download.
"""

from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from septctl.artifacts import file_lock, provenance, read_yaml, sha256_file, write_yaml
from septctl.errors import SeptctlError
from septctl.paths import cache_dir

PENGI_URL = "https://zenodo.org/records/8387083/files/base.pth"
PENGI_FILE = "pengi-base.pth"
CARD = "pengi.yaml"
_CHUNK = 1 << 20


def weights_dir() -> Path:
    return cache_dir("weights")


def _hint(name: str) -> str:
    return f"run `septctl download {name}` or pass --weights PATH to a local copy"


def pengi_card() -> dict[str, Any] | None:
    """The card of the cached (or registered local) Pengi checkpoint, if any."""
    card = weights_dir() / CARD
    return read_yaml(card, "weights card") if card.is_file() else None


def resolve_pengi(weights: str | os.PathLike | None) -> Path:
    """The checkpoint to load: an explicit path, else the one the cache card names."""
    if weights is not None:
        path = Path(weights).expanduser()
        if not path.is_file():
            raise SeptctlError(f"{path}: Pengi checkpoint not found; check the path or {_hint('pengi')}")
        return path
    card = pengi_card()
    if card and Path(card["path"]).is_file():
        return Path(card["path"])
    raise SeptctlError(f"Pengi (the default backbone) has no weights in {weights_dir()}; {_hint('pengi')} "
                      f"(base.pth from {PENGI_URL}), or try septctl with --backbone tiny (random weights)")


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


def download_pengi(
    sha256: str | None = None,
    local: str | os.PathLike | None = None,
    on_progress: Callable[[int, int | None], None] | None = None,
) -> dict[str, Any]:
    """Make Pengi's checkpoint available to `load_pengi(None)`; return its card.

    With `local`, the file is not copied: the card points at it. Either way the file is
    hashed (and checked against `sha256` when given), then converted to the fast cache.
    """
    out = weights_dir()
    with file_lock(out / CARD):
        if local is not None:
            path = resolve_pengi(local).resolve()
        else:
            path = out / PENGI_FILE
            if not path.is_file():
                fetch(PENGI_URL, path, on_progress)
        previous = pengi_card() or {}
        pinned = sha256 or (previous.get("sha256") if previous.get("path") == str(path) else None)
        digest = _check_sha(path, pinned)
        card = provenance(
            backbone="pengi",
            path=str(path),
            source=PENGI_URL if local is None else "local file",
            sha256=digest,
            pinned=bool(sha256) or bool(previous.get("pinned") and pinned),
            size=path.stat().st_size,
        )
        write_yaml(out / CARD, card)
    from septctl.backbones.pengi import pengi_expected_shapes, pengi_key_map, to_pengi_key

    load_checkpoint_state(path, pengi_key_map, pengi_expected_shapes(), "pengi", inverse=to_pengi_key)
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


# What `septctl backbones` lists; kept free of torch so the CLI stays fast.
BACKBONE_INFO = (
    dict(name="tiny", embed_dim=64, token_dim=32, sample_rate=16000, clip_seconds=2.0, text_len=40,
         weights="random, fixed seed (tests, demos)"),
    dict(name="pengi", embed_dim=1024, token_dim=512, sample_rate=44100, clip_seconds=7.0, text_len=40,
         weights="zenodo 8387083 base.pth: septctl download pengi"),
    dict(name="laion-clap", embed_dim=512, token_dim=768, sample_rate=48000, clip_seconds=10.0, text_len=77,
         weights="HF hub laion/clap-htsat-unfused, on first use"),
    dict(name="ms-clap", embed_dim=1024, token_dim=768, sample_rate=44100, clip_seconds=7.0, text_len=77,
         weights="HF hub microsoft/msclap, on first use"),
    dict(name="synth-clap", embed_dim=128, token_dim=64, sample_rate=16000, clip_seconds=1.0, text_len=40,
         weights="ships with septctl (trained on the synth world; python -m septctl.backbones.synth_clap_train)"),
)
HF_WEIGHTS = {
    "laion-clap": ("laion/clap-htsat-unfused", "model.safetensors"),
    "ms-clap": ("microsoft/msclap", "CLAP_weights_2023.pth"),
}


def cached_weights(name: str) -> str | None:
    """Where `name`'s weights already are on this machine, or None (never downloads)."""
    if name == "tiny":
        return "(no file needed)"
    if name == "synth-clap":
        return "(ships with septctl)"
    if name == "pengi":
        card = pengi_card()
        return card["path"] if card and Path(card["path"]).is_file() else None
    from huggingface_hub import try_to_load_from_cache

    hit = try_to_load_from_cache(*HF_WEIGHTS[name])
    return hit if isinstance(hit, str) else None
