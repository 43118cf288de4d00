"""Label new recordings with a tuned prompt (a run) or a hand-written template (zero-shot).

The same code serves `septctl predict` and Python users: `load_run` / `load_zeroshot` give a
`Classifier` for any list of class names (names never trained on are the point of base-to-new),
whose `predict` takes files, folders, globs or waveforms and returns the top-k labels with
probabilities, a softmax at the run's logit scale.

A recording is cut into windows of the backbone's clip length (or `window` seconds) every
`hop` seconds, the last one flush with the end; each window is shaped exactly as `embed`
shapes a file (resampled, channels joined, a short one filled), so a file no longer than one
window is embedded as `embed` embeds it. A file's row is the mean of its windows'
probabilities; `per_window` gives one row per window instead. An image backbone (`clip-vit-b16`)
reads image files instead: one input per file, no windows (its rows' start_s and end_s are 0).

Window embeddings are cached by content (`_Cache`): the sha256 of the file's bytes with the
backbone, its weights, its audio policy and the window settings name one row of
$SEPTCTL_CACHE/predict/embeddings.sqlite, so a file seen before (under any name) is not
encoded again. `septctl embed`'s per-dataset caches are keyed by path and not consulted.
"""

from __future__ import annotations

import contextlib
import dataclasses
import glob
import hashlib
import json
import os
import sqlite3
import sys
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Union

import numpy as np
import torch

from septctl.artifacts import sha256_text
from septctl.backbones.base import Backbone
from septctl.data.audio import read_audio, windows
from septctl.data.media import SUFFIXES
from septctl.data.schema import CLASS_SETS, select_classes
from septctl.defaults import zeroshot_template
from septctl.engine.config import TrainConfig
from septctl.errors import SeptctlError
from septctl.methods.base import PromptMethod
from septctl.paths import cache_dir

Input = Union[str, Path, torch.Tensor, np.ndarray]


@dataclass
class Prediction:
    """One row: a whole file (`window` None, probabilities averaged over its windows) or one window of it."""

    file: str
    window: int | None
    start_s: float
    end_s: float
    labels: list[str]  # top-k, best first
    probs: list[float]

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass
class _Item:
    """One input: a file (path) or an in-memory waveform (wave at the backbone's rate)."""

    name: str
    path: Path | None = None
    wave: torch.Tensor | None = None


class Classifier:
    """A prompt (learned or hand-written) on a frozen backbone, scoring recordings (or images) against fixed class names.

    The class features are computed once, here (CoCoOp's prompts depend on the clip: its
    features are recomputed per batch, as in `eval`).
    """

    def __init__(self, method: PromptMethod, classes: Sequence[str], split: str = "all"):
        names = list(classes)
        if len(names) < 2:
            raise SeptctlError(f"classes {names}: give at least two class names to choose between")
        if len(set(names)) != len(names):
            twice = sorted({n for n in names if names.count(n) > 1})
            raise SeptctlError(f"class {twice[0]!r} is named twice; give each class once")
        self.method = method
        self._backbone = method.backbone  # read per file: not through nn.Module's attribute look-up
        self.classes = names
        self.failures: list[tuple[str, str]] = []
        self.dataset_change: str | None = None  # a run's training dataset changed since training (load_run says)
        with torch.no_grad():
            self._score = method.scorer(names, split=split)

    @property
    def backbone(self) -> Backbone:
        return self._backbone

    @property
    def logit_scale(self) -> float:
        return float(self.method.logit_scale)

    def predict(self, inputs: Input | Iterable[Input], top_k: int = 5, window: float | None = None,
                hop: float | None = None, per_window: bool = False, *, strict: bool = False,
                batch_size: int = 16, cache: bool = True, progress: bool = False) -> list[Prediction]:
        """Top-k labels for each file (or window, with `per_window`), in input order.

        `inputs`: paths (folders searched recursively for audio files, or image files for an image
        backbone; globs expanded) or waveforms ([samples] or [channels, samples] at the backbone's sample rate).
        `window`, `hop`: seconds (default: the backbone's clip length; hop = window); not for images.
        A file that cannot be read is recorded in `self.failures` as (file, reason) and the
        rest are predicted; with `strict` it raises SeptctlError instead.
        """
        if top_k < 1:
            raise SeptctlError(f"top_k {top_k}: give at least 1")
        win, step = self._window(window, hop)
        self.failures = []
        items = self._expand(inputs, strict)
        feats, spans = self._embed(items, win, step, strict, batch_size, cache, progress)
        done = [i for i, f in enumerate(feats) if f is not None]
        if not done:
            return []
        probs = self._probs(torch.cat([feats[i] for i in done]))  # [all windows, K]
        rate = 1 if self._images else self.backbone.audio_spec.sample_rate
        if per_window:
            where = [(items[i].name, w, a, b) for i in done for w, (a, b) in enumerate(spans[i])]
        else:  # a file's row: the mean of its windows' probabilities
            counts = torch.tensor([len(feats[i]) for i in done])
            owner = torch.repeat_interleave(torch.arange(len(done)), counts)
            probs = torch.zeros(len(done), probs.shape[1]).index_add_(0, owner, probs) / counts[:, None]
            where = [(items[i].name, None, spans[i][0][0], spans[i][-1][1]) for i in done]
        top = probs.topk(min(top_k, len(self.classes)))
        return [Prediction(name, w, round(a / rate, 6), round(b / rate, 6), [self.classes[j] for j in labels], values)
                for (name, w, a, b), labels, values in zip(where, top.indices.tolist(), top.values.tolist())]

    @property
    def _images(self) -> bool:
        return self.backbone.modality == "image"

    def _window(self, window: float | None, hop: float | None) -> tuple[int, int]:
        """(window, hop) in samples at the backbone's rate; a window longer than the clip would be cropped: refused.

        An image has no windows: (0, 0), and a window or hop asked for is refused."""
        if self._images:
            if window is not None or hop is not None:
                raise SeptctlError(f"window/hop: {self.backbone.name} reads images, which have no windows; drop them")
            return 0, 0
        spec = self.backbone.audio_spec
        window = spec.clip_seconds if window is None else window
        hop = window if hop is None else hop
        if not 0 < window <= spec.clip_seconds:
            raise SeptctlError(f"window {window:g} s: give more than 0 and at most {self.backbone.name}'s clip length, "
                               f"{spec.clip_seconds:g} s")
        if hop <= 0:
            raise SeptctlError(f"hop {hop:g} s: give more than 0 seconds")
        win, step = round(window * spec.sample_rate), round(hop * spec.sample_rate)
        if win < 1 or step < 1:
            raise SeptctlError(f"window {window:g} s / hop {hop:g} s: shorter than one sample at {spec.sample_rate} Hz")
        return win, step

    def _fail(self, name: str, reason: str, strict: bool) -> None:
        reason = reason[len(name) + 2:] if reason.startswith(f"{name}: ") else reason
        if strict:
            raise SeptctlError(f"{name}: {reason}")
        self.failures.append((name, reason))

    def _expand(self, inputs: Input | Iterable[Input], strict: bool) -> list[_Item]:
        if isinstance(inputs, (str, Path, torch.Tensor)) or _is_array(inputs):
            inputs = [inputs]
        items, seen = [], set()
        for i, x in enumerate(inputs):
            if isinstance(x, torch.Tensor) or _is_array(x):
                if self._images:
                    raise SeptctlError(f"input {i}: an in-memory array is a waveform; {self.backbone.name} reads "
                                       "image files: give their paths")
                items.append(_Item(f"<waveform {i}>", wave=_as_wave(x, i)))
                continue
            paths, reason = expand_path(x, self.backbone.modality)
            if reason:
                self._fail(str(x), reason, strict)
            for p in map(Path, paths):
                if str(p) not in seen:  # a file named twice (or found twice) is predicted once
                    seen.add(str(p))
                    items.append(_Item(str(p), path=p))
        return items

    def _embed(self, items: list[_Item], win: int, hop: int, strict: bool, batch_size: int, cache: bool,
               progress: bool) -> tuple[list[torch.Tensor | None], list[list[tuple[int, int]]]]:
        """Each item's window features [W, D] (None where it failed) and window spans, encoded in full batches."""
        from septctl.progress import progress_bar

        feats: list[torch.Tensor | None] = [None] * len(items)
        spans: list[list[tuple[int, int]]] = [[] for _ in items]
        parts: dict[int, list[torch.Tensor]] = {}
        queue: list[tuple[int, torch.Tensor]] = []  # (item, one window clip) waiting for a full batch
        store = _Cache.open(self.backbone, win, hop) if cache and any(it.path for it in items) else None
        keys: dict[int, str] = {}

        def flush(everything: bool) -> None:
            while len(queue) >= batch_size or (everything and queue):
                batch, queue[:] = queue[:batch_size], queue[batch_size:]
                out = self.backbone.encode_batched(torch.stack([c for _, c in batch]), batch_size)
                for (i, _), f in zip(batch, out):
                    parts[i].append(f)
                    if len(parts[i]) == len(spans[i]):  # the item's last window
                        done = parts.pop(i)
                        feats[i] = done[0][None] if len(done) == 1 else torch.stack(done)
                        if i in keys:
                            store.put(keys[i], feats[i], spans[i])
                if store is not None:
                    store.commit()

        keys_ahead: Iterable[str | None] = [None] * len(items)
        with progress_bar("predicting", total=len(items), enabled=progress) as advance, \
                contextlib.ExitStack() as stack:
            if store is not None:
                stack.callback(store.close)
                hasher = ThreadPoolExecutor(max_workers=1)  # hashes files while others decode (hashlib drops the GIL)
                stack.callback(hasher.shutdown, cancel_futures=True)  # on an error (strict), hash no further
                keys_ahead = hasher.map(lambda it: it.path and store.key(it.path), items)
            for i, (item, key) in enumerate(zip(items, keys_ahead)):
                if key is not None and (hit := store.get(key)) is not None:
                    feats[i], spans[i] = hit
                else:
                    try:
                        clips, spans[i] = self._clips(item, win, hop)
                    except SeptctlError as exc:
                        self._fail(item.name, str(exc), strict)
                        advance(1)
                        continue
                    parts[i] = []
                    queue.extend((i, c) for c in clips)
                    if key is not None:
                        keys[i] = key
                flush(everything=False)
                advance(1)
            flush(everything=True)
        return feats, spans

    def _clips(self, item: _Item, win: int, hop: int) -> tuple[torch.Tensor, list[tuple[int, int]]]:
        if self._images:
            return self.backbone.load_input(item.path)[None], [(0, 0)]
        spec = self.backbone.audio_spec
        if item.wave is not None:
            return windows(item.wave, spec.sample_rate, spec, win, hop, "start", item.name)
        wave, sr = read_audio(item.path, spec.sample_rate)
        return windows(wave, sr, spec, win, hop, "start", str(item.path))

    def _probs(self, feats: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return torch.cat([self._score(feats[i : i + 256].to(self.backbone.device)).float().softmax(-1).cpu()
                              for i in range(0, len(feats), 256)])

def _is_array(x: object) -> bool:
    return isinstance(x, np.ndarray)


def _as_wave(x: object, i: int) -> torch.Tensor:
    wave = torch.as_tensor(x, dtype=torch.float32).cpu()
    if wave.dim() == 1:
        wave = wave[None]
    if wave.dim() != 2 or wave.shape[1] == 0:
        raise SeptctlError(f"waveform {i}: shape {tuple(wave.shape)}; give [samples] or [channels, samples]")
    if not bool(torch.isfinite(wave).all()):
        raise SeptctlError(f"waveform {i}: holds NaN or infinite samples")
    return wave


def expand_path(x: str | Path, modality: str = "audio") -> tuple[list[str], str | None]:
    """A file, a folder (its files of `modality`, recursively, sorted; hidden ones skipped) or a glob ->
    (files, why none)."""
    suffixes = SUFFIXES[modality]
    x = str(x)
    if os.path.isdir(x):
        found = []
        for folder, dirs, names in os.walk(x):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            found += sorted(os.path.join(folder, n) for n in names
                            if not n.startswith(".") and os.path.splitext(n)[1].lower() in suffixes)
        return found, None if found else f"no {modality} files ({', '.join(sorted(suffixes))}) in this folder"
    if os.path.exists(x):
        return [x], None
    if glob.has_magic(x):
        found = []
        for match in sorted(glob.glob(x, recursive=True)):
            found += expand_path(match, modality)[0] if os.path.isdir(match) else [match]
        return found, None if found else "no file matches this pattern"
    return [], "no such file or folder"


def read_list(path: str | Path) -> list[str]:
    """A list file's inputs: one per line (blank lines and lines starting with # skipped); "-" is stdin.

    Relative paths are taken from the current folder, as `find` writes them.
    """
    if str(path) == "-":
        text = sys.stdin.read()
    else:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise SeptctlError(f"{path}: cannot read the list file ({exc}); give a UTF-8 text file of paths") from None
    return [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def class_names(spec: str | Sequence[str], run_classes: Sequence[str] | None = None,
                order: Sequence[str] | None = None) -> list[str]:
    """`base`, `new` or `all` of a run's classes (split in its dataset's label `order`, if it has one), a comma
    list, a file of names (one a line), or a list."""
    if not isinstance(spec, str):
        return [str(n).strip() for n in spec]
    if spec in CLASS_SETS:
        if run_classes is None:
            raise SeptctlError(f"--classes {spec}: a zero-shot classifier has no run classes; give the names as a "
                               "comma list or a file")
        return select_classes(run_classes, spec, order)
    if "," not in spec and Path(spec).is_file():
        return read_list(spec)
    names = [n.strip() for n in spec.split(",") if n.strip()]
    if len(names) < 2:
        raise SeptctlError(f"--classes {spec!r}: not base, new, all, a file, or a comma list of at least two names")
    return names


def load_run(path: str | Path, classes: str | Sequence[str] | None = None, device: str | None = None,
             weights: str | Path | None = None) -> Classifier:
    """The classifier of a trained run: its learned prompt over `classes` (default: all its dataset's classes).

    `classes`: "base", "new" or "all" of the classes the run's dataset has, or any names.
    """
    from septctl.engine.evaluate import load_trained_method
    from septctl.runs import RUN_FILE

    if not (Path(path) / RUN_FILE).is_file():
        raise SeptctlError(f"{path}: not a run folder (no {RUN_FILE}); name a run folder first, or predict without one "
                           "with --zeroshot --backbone B")
    method, run, cfg = load_trained_method(Path(path), device or "cpu", weights)
    known = run.get("all_classes")
    if not (isinstance(known, list) and all(isinstance(c, str) for c in known)):
        known = None  # an older card: only explicit names work
    which = "all" if classes is None else classes
    names = class_names(which, known, run.get("class_order"))
    classifier = Classifier(method, names, split=which if isinstance(which, str) and which in CLASS_SETS else "all")
    classifier.dataset_change = _dataset_change(Path(path), run, cfg)
    return classifier


def _dataset_change(run_dir: Path, run: dict, cfg: TrainConfig) -> str | None:
    """What changed in the run's training dataset since training, where that dataset is on this machine.

    Predicting needs only the prompt, so a changed or absent dataset does not stop it; the caller says so.
    """
    from septctl.runs import dataset_changes, open_run_dataset

    try:
        return dataset_changes(run_dir, run, open_run_dataset(run, cfg), run["fold"])
    except SeptctlError:
        return None


def load_zeroshot(backbone: str | Backbone, classes: str | Sequence[str], template: str | None = None,
                  weights: str | Path | None = None, device: str | None = None,
                  logit_scale: float = 100.0) -> Classifier:
    """A classifier from a hand-written template, nothing learned (default: "This is a sound of {}.", or
    "a photo of a {}." on an image backbone)."""
    from septctl.backbones import load_backbone
    from septctl.methods.zeroshot import ZeroShot

    model = backbone if isinstance(backbone, Backbone) else load_backbone(backbone, weights, device or "cpu")
    template = zeroshot_template(model.modality) if template is None else template
    if "{}" not in template:
        raise SeptctlError(f"template {template!r} has no {{}} slot for the class name")
    return Classifier(ZeroShot(model, [], template, logit_scale), class_names(classes))


class _Cache:
    """Window features by file content: one SQLite table, $SEPTCTL_CACHE/predict/embeddings.sqlite.

    A row's key is the sha256 of the file's bytes and of the setting (backbone, weights,
    audio policy, window and hop). Rows are committed after each encoded batch, so an
    interrupted run keeps what it encoded; SQLite's own locking lets processes share the
    file. Nothing is fsynced (it would cost more than encoding a small clip); a file left
    unreadable by a system crash is started afresh, and a cache that cannot be opened or
    written (read-only) is skipped: it only saves time.
    """

    def __init__(self, db: sqlite3.Connection, setting: str):
        self.db, self.setting = db, setting

    @classmethod
    def open(cls, backbone: Backbone, win: int, hop: int) -> _Cache | None:
        setting = sha256_text(json.dumps({"backbone": backbone.name, "weights_id": backbone.weights_id(),
                                          **backbone.input_policy(), "window": win, "hop": hop},
                                         sort_keys=True))
        path = cache_dir("predict") / "embeddings.sqlite"
        for _ in range(2):
            try:
                db = sqlite3.connect(path, timeout=60)
                db.execute("PRAGMA synchronous=OFF")  # no fsync: a cache may lose its last rows in a system crash
                db.execute("PRAGMA journal_mode=WAL")  # readers and one writer at once, across processes
                db.execute("CREATE TABLE IF NOT EXISTS windows (key TEXT PRIMARY KEY, dim INTEGER, features BLOB, "
                           "spans TEXT)")
                return cls(db, setting)
            except sqlite3.DatabaseError as exc:  # not a database (a crash mid-write): start it afresh, once
                if "not a database" not in str(exc) and "malformed" not in str(exc):
                    return None
                for leftover in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
                    leftover.unlink(missing_ok=True)
            except (sqlite3.Error, OSError):
                return None
        return None

    def key(self, path: Path) -> str | None:
        """sha256 of the setting and the file's bytes (None: unreadable; decoding it says why)."""
        h = hashlib.sha256(self.setting.encode())
        try:
            with open(path, "rb") as f:
                while block := f.read(1 << 20):
                    h.update(block)
        except OSError:
            return None
        return h.hexdigest()

    def get(self, key: str) -> tuple[torch.Tensor, list[tuple[int, int]]] | None:
        try:
            row = self.db.execute("SELECT dim, features, spans FROM windows WHERE key = ?", (key,)).fetchone()
        except sqlite3.Error:
            return None
        if row is None:
            return None
        dim, blob, spans = row
        feats = torch.frombuffer(bytearray(blob), dtype=torch.float32).view(-1, dim)
        spans = [tuple(s) for s in json.loads(spans)]
        return (feats, spans) if len(feats) == len(spans) else None

    def put(self, key: str, feats: torch.Tensor, spans: list[tuple[int, int]]) -> None:
        try:
            self.db.execute("INSERT OR REPLACE INTO windows VALUES (?, ?, ?, ?)",
                            (key, feats.shape[1], feats.float().contiguous().numpy().tobytes(), json.dumps(spans)))
        except sqlite3.Error:
            pass

    def commit(self) -> None:
        try:
            self.db.commit()
        except sqlite3.Error:
            pass

    def close(self) -> None:
        self.commit()
        self.db.close()
