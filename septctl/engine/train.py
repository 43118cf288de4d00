"""The training loop: few-shot rows of cached embeddings, any method, optional SEPT.

Nothing encodes audio here: features come from `embed`. The state (learned tensors,
optimizer momentum, RNG states, losses) is saved after every epoch, so a rerun of
the same command after Ctrl-C or a kill resumes and ends bit-identical on the CPU.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from septctl.artifacts import load_tensors, provenance, read_yaml, save_tensors, sha256_file
from septctl.backbones import load_backbone
from septctl.backbones.base import Backbone
from septctl.data.layout import DatasetFolder, open_dataset
from septctl.data.media import ITEMS
from septctl.data.sampling import few_shot_summary, sample_few_shot
from septctl.data.schema import TRAINING_SETS, Row, select_classes
from septctl.embed import embed_dataset, require_same_modality
from septctl.engine.compile import compile_for_training, compile_mode
from septctl.engine.config import SeptOptions, TrainConfig
from septctl.engine.health import diverged
from septctl.errors import Interrupted, SeptctlError
from septctl.methods import build_method
from septctl.methods.base import PromptMethod
from septctl.runs import (PROMPT_FILE, RUN_FILE, STATE_FILE, canonical_config, check_new_folder, config_hash,
                          legacy_config_hash, nonfinite, run_folder, run_identity, run_lock, write_card,
                          write_split)


def require_finite_features(features: torch.Tensor, rows: list[Row], emb_path: Path, dataset: DatasetFolder) -> None:
    """Refuse NaN or inf features (e.g. an audio file with huge samples), naming the first such file."""
    bad = (~torch.isfinite(features)).any(-1).nonzero()
    if len(bad):
        row = rows[int(bad[0])]
        raise SeptctlError(f"{dataset.root / row.path}: its embedding in {emb_path} is not finite (NaN or inf); "
                           f"fix or drop the {dataset.modality} file, then delete the embedding cache file")


@dataclass
class Setup:
    """Everything a run needs, resolved from its config; audio features come last (`embed`)."""

    cfg: TrainConfig
    backbone: Backbone
    dataset: DatasetFolder
    fold: int | None
    classes: list[str]
    all_classes: list[str]
    rows: list[Row]  # the few-shot training rows of the training classes
    few_shot: dict
    features: torch.Tensor | None = None
    labels: torch.Tensor | None = None
    embeddings_card: dict | None = None

    def embed(self, progress: bool = True) -> None:
        """Select the few-shot rows' cached audio embeddings (computing the dataset's once)."""
        emb, _ = embed_dataset(self.dataset, self.backbone, crop=self.cfg.crop, progress=progress)
        index = {c: i for i, c in enumerate(self.classes)}
        self.features = emb.select(self.rows).to(self.cfg.device)
        require_finite_features(self.features, self.rows, emb.path, self.dataset)
        self.labels = torch.tensor([index[r.classname] for r in self.rows], device=self.cfg.device)
        self.embeddings_card = {"file": str(emb.path), **emb.card["key"]}


def resolve(cfg: TrainConfig, dataset: DatasetFolder, fold: int | None, backbone: Backbone | None = None) -> Setup:
    """Backbone, classes and few-shot rows; cheap, so bad inputs are refused before any embedding."""
    if backbone is None:
        require_same_modality(dataset, cfg.backbone)
        backbone = load_backbone(cfg.backbone, cfg.weights, cfg.device)
    train_rows, _ = dataset.splits(fold)
    all_classes = sorted({r.classname for r in train_rows})
    if cfg.classes not in TRAINING_SETS:
        raise SeptctlError(f"--classes {cfg.classes!r}: training uses base or all")
    classes = select_classes(all_classes, cfg.classes, dataset.class_order)
    few = sample_few_shot(train_rows, cfg.shots, cfg.seed)
    keep = set(classes)
    rows = [r for r in few.rows if r.classname in keep]
    return Setup(
        cfg=cfg,
        backbone=backbone,
        dataset=dataset,
        fold=fold,
        classes=classes,
        all_classes=all_classes,
        rows=rows,
        few_shot={
            "seed": cfg.seed,
            "shots": cfg.shots,
            "short_classes": {c: n for c, n in few.short_classes.items() if c in keep},
            "rows": [[r.path, r.classname] for r in rows],
        },
    )


class SeptTerm:
    """L_se on the class and neighbor prompts, encoded in one batched call with the classes."""

    def __init__(self, names: dict[str, list[str]], classes: list[str], margins: torch.Tensor, opts: SeptOptions,
                 hashes: dict | None = None):
        from septctl.sept.loss import SemanticExpansionLoss

        self.n = len(names[classes[0]])
        self.names = [n for c in classes for n in names[c]]
        self.criterion = SemanticExpansionLoss(margins, intra=opts.intra, inter=opts.inter,
                                               intra_margin=opts.intra_margin, inter_margin=opts.inter_margin)
        self.opts = opts
        self.hashes = hashes or {}
        # lambda = 0 switches the term off: neighbor prompts are then not encoded at all, so
        # the run is bit-identical to the method without SEPT (tests/test_sept_train.py).
        self.active = opts.lam != 0

    @classmethod
    def from_files(cls, setup: Setup) -> "SeptTerm":
        """Load and cross-check the run's neighbors and margins files."""
        from septctl.sept.margins import load_margins
        from septctl.sept.neighbors import load_neighbors

        opts = setup.cfg.sept
        neighbors = load_neighbors(opts.neighbors).for_classes(setup.classes)
        margins = load_margins(
            opts.margins,
            classes=setup.classes,
            n=neighbors.n,
            neighbors_sha256=neighbors.sha256,
            backbone_name=setup.backbone.name,
            weights_id=setup.backbone.weights_id(),
        ).to(setup.cfg.device)
        return cls(neighbors.names, setup.classes, margins, opts,
                   {"neighbors_sha256": neighbors.sha256, "margins": opts.margins})

    def names_for_step(self, k: int, gen: torch.Generator) -> tuple[list[str], torch.Tensor]:
        """Neighbor names to encode this step, and which neighbor indices they are."""
        idx = torch.arange(self.n)
        if 0 < self.opts.neighbor_subset < self.n:
            idx = torch.randperm(self.n, generator=gen)[: self.opts.neighbor_subset].sort().values
        names = [self.names[c * self.n + int(j)] for c in range(k) for j in idx]
        return names, idx

    def loss(self, method: PromptMethod, class_feats: torch.Tensor, neighbor_feats: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        z, p = method.sept_embeddings(class_feats, neighbor_feats, len(idx))
        return self.criterion(z, p, idx)


@dataclass
class Step:
    """One batch of one run: its audio rows, targets, the names to encode, and SEPT's neighbor indices."""

    audio: torch.Tensor
    target: torch.Tensor
    names: list[str]
    nidx: torch.Tensor | None


def plan_step(features: torch.Tensor, labels: torch.Tensor, classes: list[str], rows: torch.Tensor,
              gen: torch.Generator, sept: SeptTerm | None) -> Step:
    """The batch `rows` of a run; draws SEPT's neighbor subset from the run's own generator."""
    idx = rows.to(features.device)
    names, nidx = list(classes), None
    if sept:
        extra, nidx = sept.names_for_step(len(classes), gen)
        names += extra
    return Step(features[idx], labels[idx], names, nidx)


def step_loss(method: PromptMethod, step: Step, feats: torch.Tensor, k: int, sept: SeptTerm | None,
              epoch: int) -> tuple[torch.Tensor, dict[str, float]]:
    """The method's loss plus lambda * L_se from this step's text features; refuses a non-finite term."""
    class_feats, rest = feats[..., :k, :], feats[..., k:, :]
    loss, parts = method.loss(step.audio, step.target, class_feats)
    if sept:
        se = sept.loss(method, class_feats, rest, step.nidx)
        loss = loss + sept.opts.lam * se
        parts["se"] = se.item()
    parts["loss"] = loss.item()
    for key, v in parts.items():
        if not math.isfinite(v):
            raise SeptctlError(f"epoch {epoch}: loss term {key!r} is not finite ({v}); lower --lr "
                               f"or check the features and margins")
    return loss, parts


def add_parts(sums: dict[str, float], parts: dict[str, float], rows: int) -> None:
    for key, v in parts.items():
        sums[key] = sums.get(key, 0.0) + v * rows


def train_epoch(method: PromptMethod, features: torch.Tensor, labels: torch.Tensor, classes: list[str], opt: torch.optim.Optimizer,
                gen: torch.Generator, batch_size: int, sept: SeptTerm | None = None, epoch: int = 1) -> dict[str, float]:
    """One pass over the few-shot rows in a seeded order; returns the mean of each loss term.

    A non-finite loss term stops the run before the step is taken (a diverged run is never saved).

    Per step, the class prompts (and with SEPT the neighbor prompts) are encoded in one
    batched call with the learned context, then the method's loss plus lambda * L_se.
    """
    n = len(labels)
    perm = torch.randperm(n, generator=gen)
    sums: dict[str, float] = {}
    for b in range(0, n, batch_size):
        step = plan_step(features, labels, classes, perm[b : b + batch_size], gen, sept)
        feats = method.encode_names(step.names, step.audio)
        loss, parts = step_loss(method, step, feats, len(classes), sept, epoch)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        add_parts(sums, parts, len(step.audio))
    return {key: v / n for key, v in sums.items()}


_OPT_PREFIX = {"momentum_buffer": "momentum."}  # other optimizer state tensors: "opt.KEY.PARAM"


def _save_state(path: Path, method: PromptMethod, opt: torch.optim.Optimizer, epoch: int, gen: torch.Generator, log: list, cfg_hash: str) -> None:
    tensors = {f"param.{k}": v for k, v in method.prompt_state().items()}
    names = {id(p): n for n, p in method.named_parameters()}
    for group in opt.param_groups:
        for p in group["params"]:
            for key, value in opt.state.get(p, {}).items():  # SGD's momentum, AdamW's moments and step
                if isinstance(value, torch.Tensor):
                    tensors[f"{_OPT_PREFIX.get(key, 'opt.' + key + '.')}{names[id(p)]}"] = value
    tensors["rng.torch"] = torch.get_rng_state()
    tensors["rng.shuffle"] = gen.get_state()
    save_tensors(path, tensors, {"epoch": str(epoch), "log": json.dumps(log), "config": cfg_hash})


def _read_state(path: Path, method: PromptMethod, cfg_hash: str) -> tuple[dict, dict]:
    """A saved training state, checked before anything is computed (a refused resume leaves no new files)."""
    tensors, meta = load_tensors(path, "training state")
    if meta.get("config") != cfg_hash:
        raise SeptctlError(f"{path}: saved state is for another configuration; delete it or use another --out")
    needed = ["rng.torch", "rng.shuffle", *(f"param.{k}" for k in method.prompt_state())]
    missing = [k for k in needed if k not in tensors] + [k for k in ("epoch", "log") if k not in meta]
    if missing:
        raise SeptctlError(f"{path}: incomplete training state (no {missing[0]!r}); delete it to restart")
    return tensors, meta


def _load_state(path: Path, state: tuple[dict, dict], method: PromptMethod, opt: torch.optim.Optimizer,
                gen: torch.Generator) -> tuple[int, list]:
    tensors, meta = state
    try:
        method.load_prompt_state({k[6:]: v for k, v in tensors.items() if k.startswith("param.")})
        params = dict(method.named_parameters())
        for k, v in tensors.items():
            if k.startswith("momentum."):
                key, name = "momentum_buffer", k[9:]
            elif k.startswith("opt."):
                key, name = k[4:].split(".", 1)
            else:
                continue
            opt.state[params[name]][key] = v.to(params[name].device).clone()
        torch.set_rng_state(tensors["rng.torch"])
        gen.set_state(tensors["rng.shuffle"])
        return int(meta["epoch"]), json.loads(meta["log"])
    except (KeyError, ValueError, RuntimeError) as exc:
        raise SeptctlError(f"{path}: incomplete training state ({type(exc).__name__}: {exc}); delete it to restart") from None


def train(
    cfg: TrainConfig,
    out: Path | None = None,
    progress: bool = True,
    echo: Callable[[str], None] = print,
    compile_setting: str | None = None,
    keep_diverged: bool = False,
) -> Path:
    """Train (or resume, or skip if finished) and return the run folder, held locked throughout.

    `compile_setting`: `train --compile` (engine/compile.py); None reads SEPTCTL_COMPILE.
    `keep_diverged`: mark a diverged run complete (flagged in its card) instead of refusing it.
    """
    cfg.validate()
    mode = step_compile_mode(compile_setting, [cfg])
    given = cfg
    cfg, dataset, identity, fold = identify(cfg)
    run_dir = run_folder(out, cfg, given, identity, dataset.name, fold)
    check_new_folder(run_dir, "--out")
    with run_lock(run_dir, echo):
        _train_locked(cfg, dataset, fold, run_dir, progress, echo, mode, identity, legacy_config_hash(given),
                      keep_diverged)
    return run_dir


def identify(cfg: TrainConfig) -> tuple[TrainConfig, DatasetFolder, dict, int | None]:
    """Open the run's dataset; return the config as stored (canonical paths), the dataset, its identity and fold."""
    dataset = open_dataset(cfg.dataset, cfg.data_root)
    cfg = canonical_config(cfg, dataset)
    fold = cfg.fold if cfg.fold is not None else dataset.default_fold()
    return cfg, dataset, run_identity(cfg, dataset), fold


def step_compile_mode(setting: str | None, cfgs: list[TrainConfig]) -> str | None:
    """The compile mode for these runs' steps; eager when a run draws neighbor subsets (new shapes every step)."""
    mode = compile_mode(setting, cfgs[0].device)
    return None if any(c.sept and c.sept.neighbor_subset for c in cfgs) else mode


@dataclass
class Run:
    """A run ready to train: its setup, method, optimizer, shuffling generator and saved progress."""

    cfg: TrainConfig
    run_dir: Path
    cfg_hash: str
    identity: dict
    setup: Setup
    method: PromptMethod
    opt: torch.optim.Optimizer | None  # None: nothing learned by steps (e.g. a closed-form fit); no epochs
    gen: torch.Generator
    sept: SeptTerm | None  # None when off or lambda = 0
    sept_files: SeptTerm | None
    start: int
    log: list
    compiled: str | None = None  # the torch.compile mode of the text tower's training steps; None: eager
    fitted: dict | None = None  # what the method's `fit` and `finish` chose (run.yaml's `fitted`)
    fit_seconds: float = 0.0  # time in `fit`, counted in train_seconds

    @property
    def state_path(self) -> Path:
        return self.run_dir / STATE_FILE

    @property
    def epochs(self) -> int:
        """Epochs of gradient steps: the config's, or none for a method with nothing to step."""
        return self.cfg.epochs if self.opt is not None else 0

    def end_epoch(self, epoch: int, means: dict[str, float]) -> None:
        """Log epoch `epoch` (1-based) and save the state, so a kill resumes after it."""
        self.log.append({"epoch": epoch, **{key: round(v, 6) for key, v in means.items()}})
        _save_state(self.state_path, self.method, self.opt, epoch, self.gen, self.log, self.cfg_hash)


def prepare_run(cfg: TrainConfig, dataset: DatasetFolder, fold: int | None, run_dir: Path, progress: bool,
                echo: Callable[[str], None], identity: dict, backbone: Backbone | None = None,
                legacy_hash: str | None = None) -> Run | None:
    """Build (or resume) a run in a locked folder; None when it is already complete.

    `identity` is `run_identity`'s; `backbone` lets packed runs share one frozen backbone (engine/packed.py);
    `legacy_hash` is the config's hash as septctl 0.x spelled it, which a run folder made then carries.
    """
    cfg_hash = config_hash(cfg, identity)
    run_file = run_dir / RUN_FILE
    if run_file.is_file():
        done = read_yaml(run_file, "run card")
        if isinstance(done, dict) and done.get("config_sha256") in (cfg_hash, legacy_hash) \
                and done.get("status") == "complete":
            echo(f"{run_dir}: already complete, nothing to do")
            return None
        raise SeptctlError(f"{run_file}: holds a different run (another config or dataset); choose another --out "
                           "or delete the folder")
    setup = resolve(cfg, dataset, fold, backbone)

    torch.manual_seed(cfg.seed)
    method = build_method(cfg.method, setup.backbone, setup.classes, {"n_ctx": cfg.n_ctx, **cfg.method_options})
    method.logit_scale = cfg.logit_scale
    sept_files = SeptTerm.from_files(setup) if cfg.sept else None  # validated even when lambda = 0
    sept = sept_files if sept_files and sept_files.active else None
    setup.backbone.set_reference_dropout(cfg.reference_dropout)
    state_path = run_dir / STATE_FILE
    state = _read_state(state_path, method, cfg_hash) if state_path.is_file() else None
    setup.embed(progress)
    t0 = time.time()
    fitted = method.fit(setup.features, setup.labels, cfg.seed)  # before the optimizer: it may size parameters
    opt = method.make_optimizer(cfg)
    gen = torch.Generator().manual_seed(cfg.seed)
    run = Run(cfg, run_dir, cfg_hash, identity, setup, method, opt, gen, sept, sept_files, 0, [], fitted=fitted,
              fit_seconds=time.time() - t0)
    if state is not None and opt is not None:
        run.start, run.log = _load_state(state_path, state, method, opt, gen)
        echo(f"{run_dir}: resuming after epoch {run.start}/{cfg.epochs}")
    item = ITEMS[setup.dataset.modality]
    echo(f"{cfg.label} on {setup.dataset.name}: {few_shot_summary(setup.rows, cfg.shots, setup.classes, item=item)}; "
         f"{method.num_trainable():,} trainable parameters")
    return run


def _train_locked(cfg: TrainConfig, dataset: DatasetFolder, fold: int | None, run_dir: Path, progress: bool,
                  echo: Callable[[str], None], mode: str | None, identity: dict, legacy_hash: str,
                  keep_diverged: bool = False) -> None:
    run = prepare_run(cfg, dataset, fold, run_dir, progress, echo, identity, legacy_hash=legacy_hash)
    if run is None:
        return
    run.compiled = compile_for_training(run.setup.backbone, mode, run.method.recomputes_text, echo)
    from septctl.progress import progress_bar

    t0 = time.time()
    saved = run.start
    setup = run.setup
    try:
        with progress_bar(f"training {cfg.label}", total=run.epochs, enabled=progress) as advance:
            advance(run.start)
            for epoch in range(run.start, run.epochs):
                means = train_epoch(run.method, setup.features, setup.labels, setup.classes, run.opt, run.gen,
                                    cfg.batch_size, run.sept, epoch=epoch + 1)
                run.end_epoch(epoch + 1, means)
                saved = epoch + 1
                advance(1, "  ".join(f"{key} {v:.4f}" for key, v in means.items()))
    except KeyboardInterrupt:  # `saved`, not len(log): Ctrl-C may land between the log and the save
        echo(f"interrupted: {run_dir} holds epoch {saved}/{cfg.epochs}; rerun the same command to resume")
        raise Interrupted from None
    for warning in finish_run(run, time.time() - t0, keep_diverged=keep_diverged):
        echo(f"warning: {run_dir}: {warning}")


def finish_run(run: Run, seconds: float, packed_with: list[str] | None = None,
               keep_diverged: bool = False) -> list[str]:
    """Write the prompt and the run card, then drop the state file; return the signs that it learned nothing.

    `packed_with` names the other run folders this one was trained with in one pack. A diverged
    run (engine/health.py) is refused, its state kept, unless `keep_diverged`: then its card says so.
    """
    from septctl.engine.learned import learning_warnings

    cfg, setup, method, run_dir = run.cfg, run.setup, run.method, run.run_dir
    t0 = time.time()
    fitted = {**(run.fitted or {}), **method.finish(setup.features, setup.labels)}
    seconds += run.fit_seconds + time.time() - t0
    prompt = method.prompt_state()
    bad = nonfinite(prompt)
    if bad:
        raise SeptctlError(f"epoch {cfg.epochs}: prompt tensor {bad[0]!r} is not finite; lower --lr")
    divergence = diverged(run.log, len(setup.classes))
    if divergence and not keep_diverged:
        raise SeptctlError(f"{run_dir}: diverged, not complete: {divergence.describe()}; lower --lr, or rerun the "
                           "same command with --keep-diverged to keep it (its state is saved)")
    card = provenance(
        backbone=cfg.backbone, weights_id=setup.backbone.weights_id(), device=str(setup.backbone.device),
        embeddings=setup.embeddings_card, **(run.sept_files.hashes if run.sept_files else {}),
    )
    save_tensors(run_dir / PROMPT_FILE, prompt,
                 {"method": cfg.method, "classes": json.dumps(setup.classes), "weights_id": setup.backbone.weights_id()})
    write_split(run_dir, setup.dataset, setup.fold)
    extra = {"trained_packed_with": packed_with} if packed_with is not None else {}
    write_card(run_dir, {
        "status": "complete",
        "label": cfg.label,
        "config": cfg.as_dict(),
        "config_sha256": run.cfg_hash,
        "identity": run.identity,
        "dataset": setup.dataset.name,
        "dataset_path": str(setup.dataset.root.resolve()),
        "dataset_fingerprint": (setup.embeddings_card or {}).get("dataset_fingerprint"),
        "fold": setup.fold,
        "classes": setup.classes,
        "all_classes": setup.all_classes,
        **({"class_order": list(order)} if (order := setup.dataset.class_order) else {}),  # base/new follow it
        "trainable_parameters": method.num_trainable(),
        "few_shot": setup.few_shot,
        "losses": run.log,
        **({"fitted": fitted} if fitted else {}),  # what a method chose without gradient steps (C, alpha, beta)
        "train_seconds": round(seconds, 2),
        "compiled": run.compiled or False,  # compiled steps differ from eager ones at float rounding
        "learning_warnings": (warnings := learning_warnings(method, setup.classes, run.log, setup.features)),
        **extra,
        **({"diverged": divergence.describe()} if divergence else {}),
        "prompt_sha256": sha256_file(run_dir / PROMPT_FILE),
        "card": card,
    })
    run.state_path.unlink(missing_ok=True)
    return warnings
