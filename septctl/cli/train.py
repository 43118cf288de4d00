"""`septctl train`: prompt tuning on cached embeddings, optionally with SEPT."""

import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from septctl.cli import panels
from septctl.cli.common import err, next_step, set_threads
from septctl.cli.options import (Backbone, BackboneOption, Baseline, CompileOption, Crop, CropOption, DataRoot, Dataset,
                                 Device, Quiet, TrainingSet, Weights, with_method_flags)
from septctl.defaults import DEFAULT_BACKBONE, N_CTX
from septctl.methods.registry import METHODS

BASELINE_HELP = "The method. Classes it did not train on are scored with its learned prompt, except " + "; ".join(
    f"{s.name}: {s.unseen or 'none (it cannot score them)'}" for s in METHODS.values()
    if s.unseen != "its learned prompt") + "."


def _own_defaults(key: str, shared: object) -> str:
    """`shared` and each method's own default for `key`, for --help (e.g. "0.0125; palm 0.05")."""
    own = [f"{s.name} {s.train_defaults[key]}" for s in METHODS.values() if key in s.train_defaults]
    return f"{shared}" + (f"; {', '.join(own)}" if own else "")

if TYPE_CHECKING:
    from septctl.engine.config import TrainConfig


def train(
    dataset: Dataset,
    backbone: BackboneOption = Backbone(DEFAULT_BACKBONE),
    weights: Weights = None,
    baseline: Annotated[Baseline, typer.Option("--baseline", help=BASELINE_HELP)] = Baseline.coop,
    shots: Annotated[int, typer.Option("--shots", help="Training clips per class.")] = 16,
    seed: Annotated[Optional[int], typer.Option(
        "--seed", show_default="0", help="Seeds the few-shot rows, context init and batch order.")] = None,
    epochs: Annotated[Optional[int], typer.Option(
        "--epochs", show_default=_own_defaults("epochs", 50), help="Paper: 50.")] = None,
    lr: Annotated[Optional[float], typer.Option(
        "--lr", show_default=_own_defaults("lr", 0.0125),
        help="Learning rate (paper: 0.0125; a method's own reference where it set one).")] = None,
    batch_size: Annotated[Optional[int], typer.Option(
        "--batch-size", show_default=_own_defaults("batch_size", 16), help="PALM's 16 (the paper is silent).")] = None,
    n_ctx: Annotated[int, typer.Option("--n-ctx", help="Learned context vectors M (paper: 16).")] = N_CTX,
    fold: Annotated[Optional[int], typer.Option(
        "--fold", min=1, help="Fold k of a multi-fold dataset (default: 1).")] = None,
    classes: Annotated[TrainingSet, typer.Option(
        "--classes", help="base (base-to-new) or all (cross-dataset).")] = TrainingSet.base,
    sept: Annotated[bool, typer.Option(
        "--sept", help="Add SEPT's semantic-expansion loss (needs --neighbors, --margins).")] = False,
    neighbors: Annotated[Optional[Path], typer.Option(
        "--neighbors", help="neighbors.yaml from `septctl neighbors`.")] = None,
    margins: Annotated[Optional[Path], typer.Option(
        "--margins", help="margins.safetensors from `septctl margins`.")] = None,
    lam: Annotated[float, typer.Option("--lambda", help="Weight of L_se (paper: 3).")] = 3.0,
    no_intra: Annotated[bool, typer.Option("--no-intra", help="Ablation: drop the intra-class term.")] = False,
    no_inter: Annotated[bool, typer.Option("--no-inter", help="Ablation: drop the inter-class term.")] = False,
    no_intra_margin: Annotated[bool, typer.Option(
        "--no-intra-margin", help="Ablation: intra term without margin.")] = False,
    no_inter_margin: Annotated[bool, typer.Option(
        "--no-inter-margin", help="Ablation: inter term without margin.")] = False,
    neighbor_subset: Annotated[int, typer.Option(
        "--neighbor-subset", help="Use a random subset of this many neighbors per step (faster, inexact).")] = 0,
    reference_dropout: Annotated[bool, typer.Option(
        "--reference-dropout", help="Keep the text projection dropout on while training, as PALM did.")] = False,
    crop: CropOption = Crop.seeded,
    device: Device = "cpu",
    data_root: DataRoot = None,
    out: Annotated[Optional[Path], typer.Option(
        "--out", help="Run folder (default: runs/DATASET/BACKBONE/METHOD/CLASSES/shotsK/FOLD/SEED-HASH8); with "
        "--seeds/--folds a template with {seed} and {fold}. A new folder, or one septctl made.")] = None,
    seeds: Annotated[Optional[str], typer.Option(
        "--seeds", help="Several runs, one per seed: 0,1,2 (replaces --seed).")] = None,
    folds: Annotated[Optional[str], typer.Option(
        "--folds", help="Several runs, one per fold: 1,2,3,4,5 (replaces --fold).")] = None,
    pack_size: Annotated[int, typer.Option(
        "--pack-size", min=1, help="Train up to N of the runs together, one text-tower call per step (docs/speed.md)."
    )] = 1,
    compile_setting: CompileOption = None,
    keep_diverged: Annotated[bool, typer.Option(
        "--keep-diverged", help="Keep a run whose training loss ended above where it began and above chance "
        "(marked diverged in run.yaml and by report) instead of refusing it.")] = False,
    quiet: Quiet = False,
    **method_flags,
) -> None:
    """Learn a prompt on few-shot cached embeddings; writes prompt.safetensors and run.yaml.

    A finished run is skipped; an interrupted one resumes from its last epoch.
    """
    set_threads()
    from septctl.engine.config import SeptOptions, TrainConfig, method_default
    from septctl.engine.train import train as run_train
    from septctl.errors import SeptctlError
    from septctl.methods import method_options

    sept_opts = None
    if sept:
        if not neighbors or not margins:
            raise SeptctlError("--sept needs --neighbors FILE and --margins FILE (see `septctl neighbors`, `septctl margins`)")
        sept_opts = SeptOptions(str(neighbors), str(margins), lam, not no_intra, not no_inter, not no_intra_margin,
                                not no_inter_margin, neighbor_subset)
    for one, many, flags in ((seed, seeds, "--seed and --seeds"), (fold, folds, "--fold and --folds")):
        if one is not None and many is not None:
            raise SeptctlError(f"{flags} both given; keep one (the second lists several runs)")
    seed_list = _int_list("--seeds", seeds) if seeds is not None else [seed or 0]
    fold_list = _int_list("--folds", folds) if folds is not None else [fold]
    given = {"epochs": epochs, "lr": lr, "batch_size": batch_size, "weight_decay": None}
    settings = {k: method_default(baseline.value, k) if v is None else v for k, v in given.items()}
    cfgs = [TrainConfig(
        dataset=dataset, backbone=backbone.value, weights=str(weights) if weights else None, method=baseline.value,
        method_options=method_options(baseline.value, method_flags),
        classes=classes.value, fold=f, shots=shots, seed=s, **settings, n_ctx=n_ctx, reference_dropout=reference_dropout, crop=crop.value, device=device,
        data_root=str(data_root) if data_root else None, sept=sept_opts,
    ) for f in fold_list for s in seed_list]
    outs = [_out_for(out, c, len(seed_list) > 1, len(fold_list) > 1) for c in cfgs]
    setting = compile_setting.value if compile_setting else None  # None: SEPTCTL_COMPILE decides
    if pack_size == 1:
        run_dirs = [run_train(c, o, progress=not quiet, echo=err.print, compile_setting=setting,
                              keep_diverged=keep_diverged)
                    for c, o in zip(cfgs, outs)]
    else:
        from septctl.engine.packed import train_packed

        run_dirs = []
        for i in range(0, len(cfgs), pack_size):
            run_dirs += train_packed(cfgs[i : i + pack_size], outs[i : i + pack_size], progress=not quiet,
                                     echo=err.print, compile_setting=setting, keep_diverged=keep_diverged)
    for run_dir in run_dirs:
        err.print(f"run folder: {run_dir}")
    next_step(f"septctl eval {' '.join(shlex.quote(str(d)) for d in run_dirs)}", quiet)


def _int_list(flag: str, text: str) -> list[int]:
    from septctl.errors import SeptctlError

    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        values = []
    if not values or len(set(values)) != len(values):
        raise SeptctlError(f"{flag} {text!r}: give distinct whole numbers separated by commas, e.g. 0,1,2")
    return values


def _out_for(out: Path | None, cfg: "TrainConfig", many_seeds: bool, many_folds: bool) -> Path | None:
    """The run folder of one run: --out with {seed} and {fold} filled in (each needed when that axis has several values)."""
    from septctl.errors import SeptctlError

    if out is None:
        return None
    text = str(out)
    for key, many in (("seed", many_seeds), ("fold", many_folds)):
        if many and "{" + key + "}" not in text:
            raise SeptctlError(f"--out {text}: several {key}s need {{{key}}} in the folder name, e.g. {text}/{key}{{{key}}}")
    return Path(text.replace("{seed}", str(cfg.seed)).replace("{fold}", str(cfg.fold)))


def register(app: typer.Typer) -> None:
    app.command("train", rich_help_panel=panels.TRAIN)(with_method_flags(train))
