"""The paper's experiment grids as lists of septctl commands.

A grid is printed one command per line (so GNU parallel or a SLURM array can run it) or run
here in order. Every line is idempotent: `train` skips a finished run, `grid-eval` skips
evaluations already in metrics.yaml, `grid-prep` makes SEPT files only if absent. Lines of
the `prep` stage must finish before the `runs` stage starts (they make the shared files).
"""

from __future__ import annotations

import re
import shlex
from contextlib import nullcontext
from functools import lru_cache
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from septctl.data.registry import find_dataset
from septctl.defaults import DEFAULT_BACKBONE, DEFAULT_TEMPLATE
from septctl.engine.config import method_default
from septctl.errors import SeptctlError
from septctl.methods import registry
from septctl.runs import dataset_label, metrics_key, zeroshot_run_dir

if TYPE_CHECKING:
    from septctl.backbones.registry import BackboneSpec

EXPERIMENTS = ("base2new", "cross", "shots", "ablation", "paper", "allclass")
METHODS = tuple(registry.METHODS)
ZEROSHOT = "zeroshot"  # accepted in --methods: every base2new and allclass grid has its zero-shot job anyway
# the paper's grids compare each method with and without SEPT: by default, the methods SEPT applies to
SEPT_METHODS = tuple(name for name, s in registry.METHODS.items() if s.sept_refusal is None)
PAPER_SHOTS = (2, 4, 8, 16)
# Table 2's source -> target pairs.
CROSS_PAIRS = (("esc50-actions", "urbansound8k"), ("ravdess", "crema-d"), ("ns-instruments", "beijing-opera"))
# Table 3's rows 2-6 (row 1 is plain CoOp, row 7 full SEPT; both come from base2new): train flags, the suffix
# of their run folder (coop-sept-SUFFIX).
ABLATIONS = {
    ("--no-inter", "--no-intra-margin"): "intra-nomargin",
    ("--no-inter",): "intra",
    ("--no-intra", "--no-inter-margin"): "inter-nomargin",
    ("--no-intra",): "inter",
    ("--no-intra-margin", "--no-inter-margin"): "nomargin",
}
STAGES = ("prep", "runs", "all")


@dataclass
class Knobs:
    """What every experiment shares; defaults follow the paper."""

    backbone: str = DEFAULT_BACKBONE
    epochs: int | None = None  # None: each method's own default (50; see MethodSpec.train_defaults)
    seeds: tuple[int, ...] = (0, 1, 2)
    folds: str = "all"  # all, or a comma list like "1" or "1,2"
    methods: tuple[str, ...] | None = None  # None: SEPT_METHODS (allclass: every method)
    zeroshot_template: str = DEFAULT_TEMPLATE
    shots: tuple[int, ...] = PAPER_SHOTS  # the shots experiment's grid
    data_root: str | None = None
    runs: str = "runs"
    sept_dir: str = "sept"
    device: str = "cpu"
    cross_pairs: tuple[tuple[str, str], ...] = CROSS_PAIRS
    # Runs per packed `train` (engine/packed.py). 1 (alone) on every device: the CPU measured no gain at
    # ESC-50 size and no GPU has run the packed path yet (docs/speed.md); a grid plans measured paths only.
    pack: int = 1
    llm_args: tuple[str, ...] = ()  # `grid --llm MODEL ...`, passed on to grid-prep for the neighbors (default: the bank)

    def trained(self, experiment: str = "") -> tuple[str, ...]:
        """The methods to train (zero-shot is never trained)."""
        default = METHODS if experiment == "allclass" else SEPT_METHODS
        return tuple(m for m in (self.methods or default) if m != ZEROSHOT)

    def epochs_of(self, method: str) -> int:
        return self.epochs if self.epochs is not None else int(method_default(method, "epochs"))

    def common(self) -> list[str]:
        extra = ["--data-root", self.data_root] if self.data_root else []
        return extra + (["--device", self.device] if self.device != "cpu" else [])


_CONTROL = re.compile("[\x00-\x1f\x7f]")


def script_safe(value: str, what: str) -> str:
    """`value`, if a batch script line can carry it: shlex quoting makes any other text inert, but a
    newline splits a plan line (`sed -n Np` would run its second half) or ends an `#SBATCH` line."""
    found = _CONTROL.search(value)
    if found:
        raise SeptctlError(f"{what} {value!r} holds a control character ({found.group()!r}), which a batch script "
                           "cannot carry safely; rename it or choose another value")
    return value


@dataclass
class Job:
    stage: str  # prep or runs
    steps: list[list[str]]  # septctl argument lists, run in order
    run_dir: Path | None = None  # a run folder, or for prep the SEPT folder holding the stamp
    expect: dict = field(default_factory=dict)  # config values a finished run must have
    eval_keys: list[str] = field(default_factory=list)  # metrics.yaml keys a finished job has

    def line(self) -> str:
        """The job as one shell line of a plan file (each value quoted; see `script_safe`)."""
        for step in self.steps:
            for arg in step:
                script_safe(arg, f"`septctl {step[0]}` value")
        return " && ".join(shlex.join(["septctl", *step]) for step in self.steps)

    def done(self) -> bool:
        """True when the run is complete with this config and every evaluation is recorded."""
        if self.run_dir is None:
            return False
        from septctl.artifacts import read_yaml
        from septctl.runs import RUN_FILE, read_card, read_metrics

        if self.stage == "prep":
            stamp = self.run_dir / self.eval_keys[0]
            return stamp.is_file() and (read_yaml(stamp, "prep stamp") or {}).get("made") == self.expect

        run_file = self.run_dir / RUN_FILE
        if not run_file.is_file():
            return False
        run = read_card(self.run_dir)
        config = run.get("config") or {}
        if run.get("status") != "complete" or any(config.get(k) != v for k, v in self.expect.items()):
            return False
        have = read_metrics(self.run_dir)
        return all(k in have for k in self.eval_keys)


def _dataset_info(name: str):
    info = find_dataset(name)
    if info is None:
        raise SeptctlError(f"unknown dataset {name!r}; the recipes take registry names (see `septctl data list`)")
    return info


def _dataset_arg(name: str) -> str:
    """What the grid's commands are given: a registry name, or a dataset folder's absolute path."""
    if find_dataset(name) is None and Path(name).is_dir():
        return str(Path(name).resolve())
    return _dataset_info(name).name


@lru_cache(maxsize=None)
def _located(dataset: str, data_root: str | None) -> tuple[str, str, int | None]:
    """A dataset argument's name, real path and default fold, opened once per plan."""
    from septctl.data.layout import open_dataset

    ds = open_dataset(dataset, data_root)
    return ds.name, str(ds.root.resolve()), ds.default_fold()


def _key(knobs: Knobs, dataset: str, fold: int | None, classes: str) -> str:
    name, path, _ = _located(dataset, knobs.data_root)
    return metrics_key(name, path, fold, classes)


def _folds(name: str, knobs: Knobs) -> list[int | None]:
    """Folds to run on, from the prepared folder (None: a single train/test split)."""
    from septctl.data.layout import open_dataset

    ds = open_dataset(name, knobs.data_root)
    if ds.default_fold() is None:
        return [None]
    have = list(range(1, ds.folds + 1))
    if knobs.folds == "all":
        return have
    try:
        wanted = [int(f) for f in knobs.folds.split(",")]
    except ValueError:
        raise SeptctlError(f"--folds {knobs.folds!r}: give 'all' or a comma list like 1,2") from None
    bad = [f for f in wanted if f not in have]
    if bad:
        raise SeptctlError(f"--folds {knobs.folds}: {ds.root} has folds 1..{ds.folds}; drop {bad[0]}")
    return wanted


def sept_files(knobs: Knobs, dataset: str, classes: str) -> tuple[Path, Path]:
    """neighbors.yaml and margins for a dataset's training classes (base or all)."""
    root = Path(knobs.sept_dir) / dataset_label(dataset)
    return root / f"neighbors-{classes}.yaml", root / f"margins-{classes}-{knobs.backbone}.safetensors"


def prefixes_for(sept_dir: str | Path, spec: "BackboneSpec") -> tuple[Path, str]:
    """The grid's prefixes file for a backbone, and what its built-in templates describe: the backbone's
    modality. Sound templates live in prefixes.yaml, an image backbone's (CLIP's) picture templates in
    prefixes-image.yaml, so one SEPT folder serves both."""
    name = "prefixes.yaml" if spec.modality == "audio" else f"prefixes-{spec.modality}.yaml"
    return Path(sept_dir) / name, spec.modality


def prep_stamp(knobs: Knobs, classes: str) -> str:
    """File name of the record `grid-prep` leaves beside the SEPT files it made."""
    return f"prep-{classes}-{knobs.backbone}.yaml"


def prep_record(knobs: Knobs, dataset: str, classes: str, embed: tuple[str, ...]) -> dict:
    neighbors, margins = sept_files(knobs, dataset, classes)
    return {"neighbors": str(neighbors), "margins": str(margins), "embedded": sorted({dataset, *embed})}


def _prep(knobs: Knobs, dataset: str, classes: str, embed: tuple[str, ...] = ()) -> Job:
    """SEPT files (neighbors of the training classes, margins) and embeddings, made once per dataset."""
    step = ["grid-prep", dataset, "--classes", classes, "--backbone", knobs.backbone, "--sept-dir", knobs.sept_dir,
            *[a for t in embed for a in ("--embed", t)], *knobs.llm_args, *knobs.common()]
    return Job("prep", [step], Path(knobs.sept_dir) / dataset_label(dataset), prep_record(knobs, dataset, classes, embed),
               [prep_stamp(knobs, classes)])


def _run_dir(knobs: Knobs, dataset: str, method: str, classes: str, shots: int, fold: int | None, seed: int) -> Path:
    """The grid's own layout, passed to `train --out`: each job's config is fixed by the grid's knobs, and
    Job.done / train refuse a folder holding another config, so readable parts suffice (no hash)."""
    part = classes if shots == 16 else f"{classes}-{shots}shot"
    return Path(knobs.runs) / dataset_label(dataset) / knobs.backbone / method / part / f"fold{fold or 0}" / f"seed{seed}"


def _train_job(knobs: Knobs, dataset: str, method: str, fold: int | None, seed: int, *, shots: int = 16,
               classes: str = "base", sept: tuple[str, ...] | None = None, targets: tuple[str, ...] = ()) -> Job:
    variant = ABLATIONS.get(sept or ())
    folder = method + ("-sept" if sept is not None else "") + (f"-{variant}" if variant else "")
    run_dir = _run_dir(knobs, dataset, folder, classes, shots, fold, seed)
    epochs = knobs.epochs_of(method)
    train = ["train", dataset, "--backbone", knobs.backbone, "--baseline", method, "--epochs", str(epochs),
             "--seed", str(seed), "--shots", str(shots), "--classes", classes]
    train += ["--fold", str(fold)] if fold is not None else []
    if sept is not None:
        neighbors, margins = sept_files(knobs, dataset, classes)
        train += ["--sept", "--neighbors", str(neighbors), "--margins", str(margins), *sept]
    train += [*knobs.common(), "--out", str(run_dir), "--quiet"]
    which = ("base", "new") if classes == "base" else ("all",)
    if registry.METHODS[method].unseen is None:  # it cannot score classes it did not train on
        which = tuple(c for c in which if c != "new")
    evaluate = ["grid-eval", str(run_dir), *[a for c in which for a in ("--classes", c)], *knobs.common()]
    steps = [train, evaluate]
    keys = [_key(knobs, dataset, fold, c) for c in which]
    for target in targets:
        steps.append(["grid-eval", str(run_dir), "--dataset", target, "--classes", "all", *knobs.common()])
        keys.append(_key(knobs, target, _located(target, knobs.data_root)[2], "all"))
    expect = {"method": method, "seed": seed, "shots": shots, "epochs": epochs, "classes": classes,
              "backbone": knobs.backbone}
    return Job("runs", steps, run_dir, expect, keys)


def _zeroshot_job(knobs: Knobs, dataset: str, fold: int | None, classes: tuple[str, ...] = ("base", "new")) -> Job:
    """Zero-shot with the grid's template; another template than septctl's gets its own folder."""
    out = zeroshot_run_dir(dataset, knobs.backbone, fold, knobs.runs)
    if knobs.zeroshot_template != DEFAULT_TEMPLATE:
        out = out.parent.with_name("zeroshot-template") / _template_folder(knobs.zeroshot_template) / out.name
    step = ["grid-eval", dataset, "--zeroshot", "--backbone", knobs.backbone,
            *[a for c in classes for a in ("--classes", c)], "--out", str(out), *knobs.common()]
    step += ["--template", knobs.zeroshot_template] if knobs.zeroshot_template != DEFAULT_TEMPLATE else []
    step += ["--fold", str(fold)] if fold is not None else []
    return Job("runs", [step], out, {}, [_key(knobs, dataset, fold, c) for c in classes])


def _template_folder(template: str) -> str:
    """A folder name for a zero-shot template: its words, then 8 hex digits of its sha256 (templates differ by a typo)."""
    import hashlib
    import re

    words = re.sub(r"[^a-z0-9]+", "-", template.lower().replace("{}", "x")).strip("-")[:40]
    return f"{words}-{hashlib.sha256(template.encode()).hexdigest()[:8]}"


def _sept_variants(method: str) -> tuple[tuple[str, ...] | None, ...]:
    """Plain, and with SEPT where it applies to the method (MethodSpec.sept_refusal)."""
    return (None,) if registry.METHODS[method].sept_refusal else (None, ())


def _method_runs(knobs: Knobs, dataset: str, fold: int | None, shots: int = 16) -> list[Job]:
    """Each method with and without SEPT on base classes, every seed."""
    return [_train_job(knobs, dataset, method, fold, seed, shots=shots, sept=sept)
            for method in knobs.trained() for sept in _sept_variants(method) for seed in knobs.seeds]


def base2new(knobs: Knobs, datasets: list[str]) -> list[Job]:
    """Table 1: zero-shot, then each method with and without SEPT on base classes, every fold and seed."""
    jobs = []
    for name in datasets:
        dataset = _dataset_arg(name)
        jobs.append(_prep(knobs, dataset, "base"))
        for fold in _folds(dataset, knobs):
            jobs.append(_zeroshot_job(knobs, dataset, fold))
            jobs += _method_runs(knobs, dataset, fold)
    return jobs


def shots(knobs: Knobs, datasets: list[str]) -> list[Job]:
    """Table 6: the base-to-new runs at each shot count (16 shots are the base2new runs)."""
    jobs = []
    for name in datasets:
        dataset = _dataset_arg(name)
        jobs.append(_prep(knobs, dataset, "base"))
        for fold in _folds(dataset, knobs):
            for n in knobs.shots:
                jobs += _method_runs(knobs, dataset, fold, shots=n)
    return jobs


def ablation(knobs: Knobs, datasets: list[str]) -> list[Job]:
    """Table 3: CoOp with each subset of SEPT's terms and margins (plain and full CoOp + SEPT included)."""
    jobs = []
    for name in datasets:
        dataset = _dataset_arg(name)
        jobs.append(_prep(knobs, dataset, "base"))
        for fold in _folds(dataset, knobs):
            for seed in knobs.seeds:
                jobs.append(_train_job(knobs, dataset, "coop", fold, seed))
                jobs.append(_train_job(knobs, dataset, "coop", fold, seed, sept=()))
                jobs += [_train_job(knobs, dataset, "coop", fold, seed, sept=flags) for flags in ABLATIONS]
    return jobs


def cross(knobs: Knobs, pairs: list[tuple[str, str]] | None = None) -> list[Job]:
    """Table 2: train on all source classes, evaluate on the source test split and on the target."""
    jobs = []
    for src, tgt in pairs or knobs.cross_pairs:
        source, target = _dataset_arg(src), _dataset_arg(tgt)
        jobs.append(_prep(knobs, source, "all", embed=(target,)))
        for fold in _folds(source, knobs):
            for method in knobs.trained():
                for sept in _sept_variants(method):
                    jobs += [_train_job(knobs, source, method, fold, seed, classes="all", sept=sept, targets=(target,))
                             for seed in knobs.seeds]
    return jobs


def allclass(knobs: Knobs, datasets: list[str]) -> list[Job]:
    """PALM's protocol: every class trained and tested, every fold and seed; zero-shot, then each method
    (with SEPT, neighbors of all classes, where it applies)."""
    jobs = []
    methods = knobs.trained("allclass")
    for name in datasets:
        dataset = _dataset_arg(name)
        if any(len(_sept_variants(m)) > 1 for m in methods):
            jobs.append(_prep(knobs, dataset, "all"))
        for fold in _folds(dataset, knobs):
            jobs.append(_zeroshot_job(knobs, dataset, fold, ("all",)))
            jobs += [_train_job(knobs, dataset, method, fold, seed, classes="all", sept=sept)
                     for method in methods for sept in _sept_variants(method) for seed in knobs.seeds]
    return jobs


def plan(experiment: str, knobs: Knobs, datasets: list[str]) -> list[Job]:
    """The jobs of one experiment (paper: all four), each once, prep jobs first."""
    if experiment not in EXPERIMENTS:
        raise SeptctlError(f"unknown experiment {experiment!r}; choose one of {', '.join(EXPERIMENTS)}")
    if experiment != "cross" and not datasets:
        raise SeptctlError(f"{experiment} needs dataset names (see `septctl data list`)")
    _located.cache_clear()  # datasets are read as they are now
    makers: dict[str, Callable[[], list[Job]]] = {
        "base2new": lambda: base2new(knobs, datasets),
        "shots": lambda: shots(knobs, datasets),
        "ablation": lambda: ablation(knobs, datasets),
        "cross": lambda: cross(knobs),
        "allclass": lambda: allclass(knobs, datasets),
    }
    names = ("base2new", "cross", "shots", "ablation") if experiment == "paper" else (experiment,)
    seen: dict[str, Job] = {}
    for name in names:
        for job in makers[name]():
            seen.setdefault(job.line(), job)
    jobs = pack_jobs(list(seen.values()), knobs.pack)
    return [j for j in jobs if j.stage == "prep"] + [j for j in jobs if j.stage == "runs"]


@dataclass
class PackedJob(Job):
    """Runs that differ only in their seed, trained by one `train --seeds ... --pack-size N`, then each evaluated."""

    members: list[Job] = field(default_factory=list)

    def done(self) -> bool:
        return all(m.done() for m in self.members)


def _seedless(job: Job) -> tuple:
    """A run job's train command with its seed and run folder taken out (the key runs are packed by)."""
    train = list(job.steps[0])
    i, o = train.index("--seed"), train.index("--out")
    return tuple(train[:i] + train[i + 2 : o] + train[o + 2 :]) + (str(job.run_dir.parent),)


def pack_jobs(jobs: list[Job], size: int) -> list[Job]:
    """Merge run jobs that differ only in seed (same dataset, backbone, epochs, method, fold) into packs of `size`."""
    if size <= 1:
        return jobs
    groups: dict[tuple, list[Job]] = {}
    for job in jobs:
        key = _seedless(job) if job.stage == "runs" and job.run_dir and "--seed" in job.steps[0] else ("alone", id(job))
        groups.setdefault(key, []).append(job)
    out: list[Job] = []
    for members in groups.values():
        for i in range(0, len(members), size):
            part = members[i : i + size]
            out.append(part[0] if len(part) == 1 else _packed(part))
    return out


def _packed(members: list[Job]) -> PackedJob:
    train = list(members[0].steps[0])
    i = train.index("--seed")
    train[i : i + 2] = ["--seeds", ",".join(m.steps[0][m.steps[0].index("--seed") + 1] for m in members),
                        "--pack-size", str(len(members))]
    o = train.index("--out")
    train[o + 1] = str(members[0].run_dir.parent / "seed{seed}")
    steps = [train] + [step for m in members for step in m.steps[1:]]
    return PackedJob("runs", steps, members[0].run_dir, members[0].expect, members[0].eval_keys, members)


def run_jobs(jobs: list[Job], invoke: Callable[[list[str]], None], echo: Callable[[str], None]) -> tuple[int, int]:
    """Run jobs in order, skipping finished ones; a per-run lock lets concurrent copies share the grid.

    Returns (ran, skipped). `invoke` runs one septctl argument list.
    """
    from septctl.artifacts import file_lock

    ran = skipped = 0
    for i, job in enumerate(jobs, 1):
        if job.done():
            skipped += 1
            continue
        lock = job.run_dir / ("grid" if job.stage == "runs" else "prep") if job.run_dir else None
        with file_lock(lock) if lock else nullcontext():
            if job.done():  # another copy finished it while we waited
                skipped += 1
                continue
            echo(f"[{i}/{len(jobs)}] {job.line()}")
            for step in job.steps:
                invoke(step)
            ran += 1
    return ran, skipped


