"""Audio embeddings of every file of a dataset, computed once per (dataset, backbone, crop).

Splits and folds only select rows of the cache, so a 10-fold dataset costs one pass.
The cache key hashes the file list (path, size, mtime) and the CSVs, the backbone and
its weights, the audio policy and the crop seed; a rerun with the same inputs is a
hit. A hit needs no lock (entries are renamed into place whole), so a read-only cache
serves hits; a miss takes a lock, so a second process waits for the first and then
reuses its result. An entry that cannot be read (truncated, corrupt) is recomputed.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from septctl.artifacts import (
    file_lock, load_tensors, provenance, refuse_to_replace, save_tensors, sha256_text, write_yaml,
)
from septctl.backbones.base import Backbone
from septctl.data.layout import DatasetFolder
from septctl.data.schema import Row
from septctl.console import counted
from septctl.errors import SeptctlError, doing
from septctl.paths import cache_dir


@dataclass
class Embeddings:
    path: Path
    features: torch.Tensor  # [N, D], unnormalised
    files: list[str]
    card: dict

    def select(self, rows: list[Row]) -> torch.Tensor:
        index = {f: i for i, f in enumerate(self.files)}
        missing = [r.path for r in rows if r.path not in index]
        if missing:
            raise SeptctlError(f"{self.path}: no embedding for {missing[0]}; rerun `septctl embed` for this dataset")
        return self.features[[index[r.path] for r in rows]]


def _key(dataset: DatasetFolder, backbone: Backbone, crop: str, seed: int) -> dict:
    return {
        "dataset": dataset.name,
        "dataset_root": str(dataset.root.resolve()),
        "dataset_fingerprint": dataset.fingerprint(),
        "backbone": backbone.name,
        "weights_id": backbone.weights_id(),
        **backbone.input_policy(),
        "crop": crop,
        "crop_seed": seed,
    }


def default_path(dataset: DatasetFolder, key: dict) -> Path:
    digest = sha256_text(json.dumps(key, sort_keys=True))[:16]
    return cache_dir("embeddings") / f"{dataset.name.replace('/', '_')}-{key['backbone']}-{digest}.safetensors"


def load_embeddings(path: Path) -> Embeddings:
    tensors, meta = load_tensors(path, "embedding file")
    not_ours = SeptctlError(f"{path}: not a septctl embedding file; recompute it with `septctl embed --force`")
    if "features" not in tensors or "card" not in meta or "files" not in meta:
        raise not_ours
    try:
        files, card = json.loads(meta["files"]), json.loads(meta["card"])
    except ValueError:
        raise not_ours from None
    if not isinstance(files, list) or not isinstance(card, dict) or tensors["features"].ndim != 2 \
            or len(files) != tensors["features"].shape[0]:
        raise not_ours
    return Embeddings(Path(path), tensors["features"], files, card)


def _cached(path: Path, key: dict, echo: Callable[[str], None], own: bool) -> Embeddings | None:
    """The entry at `path` if it is whole and made from `key`; a broken one is reported, then recomputed.

    A broken file the user named (`own` false: `--out`) may be theirs, so it is refused, not overwritten.
    """
    with doing("reading the cache entry", path):
        if not path.is_file():
            return None
    try:
        cached = load_embeddings(path)
    except SeptctlError as exc:
        if not own:
            raise SeptctlError(f"{path}: exists and is not a readable septctl embedding file; "
                               "choose another --out, or pass --force to overwrite it") from None
        echo(f"recomputing a broken cache entry: {exc}")
        return None
    return cached if cached.card.get("key") == key else None


def _require_finite(features: torch.Tensor, files: list[str], dataset: DatasetFolder, backbone: Backbone) -> None:
    """Never cache a NaN or inf feature (train would later blame the cache): name the first such file."""
    bad = (~torch.isfinite(features)).any(-1).nonzero()
    if len(bad):
        raise SeptctlError(f"{dataset.root / files[int(bad[0])]}: its embedding by {backbone.name} is not finite "
                           f"(NaN or inf; {counted(len(bad), 'file')} in all), so nothing was cached; "
                           f"fix or drop the {dataset.modality} file")


def require_same_modality(dataset: DatasetFolder, backbone: str, modality: str | None = None) -> None:
    """Refuse images for an audio backbone (Pengi, the default) and sounds for an image one, naming those that fit.

    `modality`: the backbone's (default: its registry entry's), so commands can refuse before loading weights."""
    from septctl.backbones.registry import SPECS, backbones_for

    if modality is None:
        modality = SPECS[backbone].modality if backbone in SPECS else dataset.modality
    if dataset.modality == modality:
        return
    fits = backbones_for(dataset.modality)
    raise SeptctlError(f"{dataset.root}: holds {dataset.modality} files, and {backbone} embeds {modality}; "
                       f"pass --backbone {' | '.join(fits) or '(none is registered)'}")


def _say(message: str) -> None:
    from septctl.console import err

    err.print(message, highlight=False)


def embed_dataset(
    dataset: DatasetFolder,
    backbone: Backbone,
    *,
    crop: str = "seeded",
    seed: int = 0,
    batch_size: int = 16,
    out: Path | None = None,
    progress: bool = True,
    force: bool = False,
    echo: Callable[[str], None] = _say,
) -> tuple[Embeddings, bool]:
    """Return the dataset's embeddings and whether they came from the cache (`force`: recompute them)."""
    require_same_modality(dataset, backbone.name, backbone.modality)
    files = dataset.all_files()
    key = _key(dataset, backbone, crop, seed)
    path = Path(out) if out else default_path(dataset, key)
    if not force and (cached := _cached(path, key, echo, own=out is None)) is not None:
        return cached, True
    if out is not None:
        refuse_to_replace(path, force)  # a file the user named, made from other inputs
    with file_lock(path):
        if not force and (cached := _cached(path, key, lambda _: None, own=True)) is not None:  # made while we waited
            return cached, True
        features = _compute(dataset, backbone, files, crop, seed, batch_size, progress)
        _require_finite(features, files, dataset, backbone)
        card = provenance(key=key, count=len(files), dim=int(features.shape[1]))
        save_tensors(path, {"features": features},
                     {"card": json.dumps(card), "files": json.dumps(files)})
        write_yaml(path.with_suffix(".yaml"), card)
    return Embeddings(path, features, files, card), False


def embed_named(
    dataset: str,
    backbone: str,
    *,
    weights: Path | None = None,
    data_root: str | Path | None = None,
    device: str = "cpu",
    crop: str = "seeded",
    batch_size: int = 16,
    out: Path | None = None,
    progress: bool = True,
    force: bool = False,
    echo: Callable[[str], None] = _say,
) -> Embeddings:
    """`septctl embed`: a dataset (registry name or folder) embedded by a backbone (by name), said in one line."""
    from septctl.backbones import load_backbone
    from septctl.console import counted
    from septctl.data.layout import open_dataset

    folder = open_dataset(dataset, data_root)
    require_same_modality(folder, backbone)
    model = load_backbone(backbone, weights, device)
    emb, hit = embed_dataset(folder, model, crop=crop, batch_size=batch_size, out=out, progress=progress, force=force,
                             echo=echo)
    shape = tuple(emb.features.shape)
    echo(f"{'cache hit' if hit else 'computed'}: {counted(len(emb.files), 'embedding')} of {folder.name} [{shape}] "
         f"-> {emb.path}")
    return emb


def _compute(dataset: DatasetFolder, backbone: Backbone, files: list[str], crop: str, seed: int, batch_size: int,
             progress: bool) -> torch.Tensor:
    from septctl.progress import progress_bar

    with progress_bar(f"embedding {dataset.name}", total=len(files), enabled=progress) as advance:
        return backbone.encode_files([dataset.root / rel for rel in files], crop, batch_size,
                                     keys=[f"{seed}:{rel}" for rel in files], on_batch=advance)
