"""Margins of eq. 4: m[i, j, n] = mean over templates of || g(t(c_i)) - g(t(p_j^n)) ||_2.

g is the frozen text encoder followed by L2 normalisation: the space in which the
classifier compares audio and text (cosine similarity), and the space in which the
trainer must evaluate the semantic-expansion loss so that distances and margins
agree. Each distinct sentence is encoded once (K*T class sentences, K*N*T neighbor
sentences, fewer if names repeat), sorted by length so that batches trim their
padding; the K x K*N distances are then taken template by template. The encoder is any
function from sentences to features, so margins can be measured for any model.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Protocol

import torch
import torch.nn.functional as F

from septctl.artifacts import load_tensors, save_tensors, sha256_text
from septctl.errors import SeptctlError
from septctl.sept.prefixes import fill


class SentenceEncoder(Protocol):
    """What margins and neighbor statistics need of a backbone (every septctl Backbone is one)."""

    def encode_sentences(self, texts: list[str], batch_size: int = 256) -> torch.Tensor: ...


Encode = Callable[[list[str]], torch.Tensor]
"""Any function from sentences to their features [len, D]: a Hugging Face CLIP text model behind its
tokenizer, open_clip's `encode_text`, a Dassl text encoder. Margins depend on nothing else of a model."""

SPACE = "l2-normalized text embeddings"


def as_encode(encoder: Encode | SentenceEncoder, batch_size: int = 256) -> Encode:
    """A callable from `encoder`: a septctl backbone's `encode_sentences`, or the callable itself."""
    if hasattr(encoder, "encode_sentences"):
        return partial(encoder.encode_sentences, batch_size=batch_size)
    if not callable(encoder):
        raise TypeError(f"expected a function from sentences to features, not {type(encoder).__name__}")
    return encoder


def encode_normalized(
    encode: Encode | SentenceEncoder, texts: list[str], batch_size: int = 256,
    progress: Callable[[int], None] | None = None,
) -> torch.Tensor:
    """[len(texts), D] unit-norm features on the CPU; texts go shortest first so each batch pads little."""
    encode = as_encode(encode, batch_size)
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    feats = torch.empty(0, 0)
    with torch.no_grad():
        for s in range(0, len(order), batch_size):
            idx = order[s : s + batch_size]
            f = torch.as_tensor(encode([texts[i] for i in idx]))
            if f.dim() != 2 or f.shape[0] != len(idx):
                raise ValueError(f"encode returned shape {tuple(f.shape)} for {len(idx)} sentences; want [{len(idx)}, D]")
            if s == 0:
                feats = torch.empty(len(texts), f.shape[1])
            feats[idx] = F.normalize(f.float(), dim=-1).cpu()
            if progress:
                progress(len(idx))
    return feats


def sentence_plan(classes: list[str], neighbors: list[list[str]], templates: list[str]):
    """Distinct sentences, and index tensors [T, K] (classes) and [T, K*N] (neighbors) into them."""
    index: dict[str, int] = {}

    def at(text: str) -> int:
        return index.setdefault(text, len(index))

    cls_idx = [[at(fill(t, c)) for c in classes] for t in templates]
    nb_idx = [[at(fill(t, p)) for row in neighbors for p in row] for t in templates]
    return list(index), torch.tensor(cls_idx), torch.tensor(nb_idx)


def compute_margins(
    encode: Encode | SentenceEncoder,
    classes: list[str],
    neighbors: Sequence[Sequence[str]] | Mapping[str, Sequence[str]],
    templates: list[str],
    *,
    batch_size: int = 256,
    progress: Callable[[int], None] | None = None,
) -> torch.Tensor:
    """Eq. 4 for all (i, j, n): float32 [K, K, N], from any text encoder.

    `encode` maps a list of sentences to features (or is a septctl backbone); `neighbors` is
    class j's N names in row j, or a {class: names} mapping. Features are L2-normalised
    before distances are taken, as the loss normalises its inputs.
    """
    rows = [list(neighbors[c]) for c in classes] if isinstance(neighbors, Mapping) else [list(r) for r in neighbors]
    k = len(classes)
    if len(rows) != k or not rows or any(len(row) != len(rows[0]) or not row for row in rows):
        raise ValueError("neighbors must be K non-empty lists of N names, aligned with classes")
    n = len(rows[0])
    texts, cls_idx, nb_idx = sentence_plan(classes, rows, templates)
    feats = encode_normalized(encode, texts, batch_size, progress)
    total = torch.zeros(k, k * n, dtype=torch.float64)
    for t in range(len(templates)):
        d = torch.cdist(feats[cls_idx[t]][None], feats[nb_idx[t]][None], compute_mode="donot_use_mm_for_euclid_dist")
        total += d[0].double()
    return (total / len(templates)).float().view(k, k, n)


def margins_metadata(
    *, classes: list[str], n: int, neighbors_sha256: str, prefixes_sha256: str, templates: list[str],
    backbone_name: str, weights_id: str,
) -> dict[str, str]:
    """What a margins file was made from; `load_margins` and the cache check compare these."""
    return {
        "classes": json.dumps(classes, ensure_ascii=False),
        "n": str(n),
        "neighbors_sha256": neighbors_sha256,
        "prefixes_sha256": prefixes_sha256,
        "templates_sha256": sha256_text(json.dumps(templates, ensure_ascii=False)),
        "T": str(len(templates)),
        "backbone": backbone_name,
        "weights_id": weights_id,
        "space": SPACE,
    }


def save_margins(path: str | Path, margins: torch.Tensor, meta: dict[str, str], card: dict, *,
                 force: bool = True) -> None:
    save_tensors(path, {"margins": margins.float()}, {**meta, "card": json.dumps(card, ensure_ascii=False)},
                 force=force)


def is_current(path: str | Path, meta: dict[str, str]) -> bool:
    """Whether `path` already holds margins made from exactly these inputs (a rerun is then a no-op)."""
    if not Path(path).is_file():
        return False
    try:
        tensors, have = load_tensors(path, "margins file")
    except SeptctlError:
        return False
    return "margins" in tensors and all(have.get(k) == v for k, v in meta.items())


def load_margins(
    path: str | Path, *, classes: list[str], n: int, neighbors_sha256: str, backbone_name: str, weights_id: str
) -> torch.Tensor:
    """The [K, K, N] margins for `classes` (in that order) and N = `n` neighbors each, refusing a file made
    from other inputs, of another shape or of a type other than floating point."""
    tensors, meta = load_tensors(path, "margins file")
    fix = "rerun `septctl margins --neighbors ... --backbone ...` with the files used for training"
    m = tensors.get("margins")
    try:
        have = json.loads(meta.get("classes", ""))
    except ValueError:
        have = None
    if m is None or m.dim() != 3 or not isinstance(have, list) or m.shape[:2] != (len(have), len(have)):
        raise SeptctlError(f"{path}: not a margins file (no [K, K, N] `margins` with its classes); {fix}")
    if not m.is_floating_point():
        raise SeptctlError(f"{path}: margins are {str(m.dtype).removeprefix('torch.')}, not floating point "
                           f"(distances); {fix}")
    if m.shape[2] != n:
        raise SeptctlError(f"{path}: margins have shape {list(m.shape)}, but the neighbors file gives {n} neighbors "
                           f"per class ([K, K, {n}]); {fix}")
    if not bool(torch.isfinite(m).all()):
        raise SeptctlError(f"{path}: margins hold NaN or inf; {fix}")
    if sorted(have) != sorted(classes):
        raise SeptctlError(f"{path}: margins are for other classes than the {len(classes)} training classes; {fix}")
    if meta.get("neighbors_sha256") != neighbors_sha256:
        raise SeptctlError(f"{path}: margins were made from another neighbors file; {fix}")
    if meta.get("backbone") != backbone_name or meta.get("weights_id") != weights_id:
        raise SeptctlError(
            f"{path}: margins were made with backbone {meta.get('backbone')} ({meta.get('weights_id')}), "
            f"not {backbone_name} ({weights_id}); {fix}"
        )
    order = torch.tensor([have.index(c) for c in classes])
    return m[order][:, order].float().contiguous()
