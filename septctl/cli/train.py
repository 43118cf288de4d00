"""`septctl train`: prompt tuning on cached embeddings, optionally with SEPT."""

from __future__ import annotations

import shlex
from pathlib import Path

import typer

from septctl.cli import panels
from septctl.cli.common import err, next_step, set_threads
from septctl.cli.options import BACKBONE_HELP, Baseline, Device, method_flag
from septctl.defaults import DEFAULT_BACKBONE, N_CTX
from septctl.engine.compile import HELP as COMPILE_HELP


def train(
    dataset: str = typer.Argument(..., help="A prepared dataset folder, or a dataset name under --data-root."),
    backbone: str = typer.Option(DEFAULT_BACKBONE, "--backbone", "-b", help=BACKBONE_HELP),
    weights: Path = typer.Option(None, "--weights", help="Local checkpoint for the backbone."),
    baseline: Baseline = typer.Option(Baseline.coop, "--baseline", help="The prompt-tuning method."),
    shots: int = typer.Option(16, "--shots", help="Training clips per class."),
    seed: int = typer.Option(0, "--seed", help="Seeds the few-shot rows, context init and batch order."),
    epochs: int = typer.Option(50, "--epochs", help="Paper: 50."),
    lr: float = typer.Option(0.0125, "--lr", help="SGD learning rate (paper: 0.0125)."),
    batch_size: int = typer.Option(16, "--batch-size", help="PALM's 16 (the paper is silent)."),
    n_ctx: int = typer.Option(N_CTX, "--n-ctx", help="Learned context vectors M (paper: 16)."),
    fold: int = typer.Option(None, "--fold", min=1, help="Fold k of a multi-fold dataset (default: 1)."),
    classes: str = typer.Option("base", "--classes", help="base (base-to-new) or all (cross-dataset)."),
    sept: bool = typer.Option(False, "--sept", help="Add SEPT's semantic-expansion loss (needs --neighbors, --margins)."),
    neighbors: Path = typer.Option(None, "--neighbors", help="neighbors.yaml from `septctl neighbors`."),
    margins: Path = typer.Option(None, "--margins", help="margins.safetensors from `septctl margins`."),
    lam: float = typer.Option(3.0, "--lambda", help="Weight of L_se (paper: 3)."),
    no_intra: bool = typer.Option(False, "--no-intra", help="Ablation: drop the intra-class term."),
    no_inter: bool = typer.Option(False, "--no-inter", help="Ablation: drop the inter-class term."),
    no_intra_margin: bool = typer.Option(False, "--no-intra-margin", help="Ablation: intra term without margin."),
    no_inter_margin: bool = typer.Option(False, "--no-inter-margin", help="Ablation: inter term without margin."),
    neighbor_subset: int = typer.Option(0, "--neighbor-subset",
                                        help="Use a random subset of this many neighbors per step (faster, inexact)."),
    cocoop_chunk: int = method_flag("chunk"),
    kg_templates: Path = method_flag("kg_templates"),
    kg_weight: float = method_flag("kg_weight"),
    dept_fusion: bool = method_flag("dept_fusion"),
    reference_dropout: bool = typer.Option(False, "--reference-dropout",
                                           help="Keep the text projection dropout on while training, as PALM did."),
    crop: str = typer.Option("seeded", "--crop", help="How long clips are cut: seeded (default), center, start."),
    device: Device = "cpu",
    data_root: Path = typer.Option(None, "--data-root", envvar="SEPTCTL_DATA", help="Where prepared datasets live."),
    out: Path = typer.Option(None, "--out", help="Run folder (default: runs/DATASET/BACKBONE/METHOD/CLASSES/shotsK/FOLD/SEED-HASH8); "
                                                 "with --seeds/--folds a template with {seed} and {fold}."),
    seeds: str = typer.Option(None, "--seeds", help="Several runs, one per seed: 0,1,2 (replaces --seed)."),
    folds: str = typer.Option(None, "--folds", help="Several runs, one per fold: 1,2,3,4,5 (replaces --fold)."),
    pack_size: int = typer.Option(1, "--pack-size", min=1,
                                  help="Train up to N of the runs together, one text-tower call per step (docs/speed.md)."),
    compile_setting: str = typer.Option(None, "--compile", show_default=False, help=COMPILE_HELP),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
) -> None:
    """Learn a prompt on few-shot cached embeddings; writes prompt.safetensors and run.yaml.

    A finished run is skipped; an interrupted one resumes from its last epoch.
    """
    set_threads()
    from septctl.engine.config import SeptOptions, TrainConfig
    from septctl.engine.train import train as run_train
    from septctl.errors import SeptctlError
    from septctl.methods import method_options

    sept_opts = None
    if sept:
        if not neighbors or not margins:
            raise SeptctlError("--sept needs --neighbors FILE and --margins FILE (see `septctl neighbors`, `septctl margins`)")
        sept_opts = SeptOptions(str(neighbors), str(margins), lam, not no_intra, not no_inter, not no_intra_margin,
                                not no_inter_margin, neighbor_subset)
    seed_list = _int_list("--seeds", seeds) if seeds is not None else [seed]
    fold_list = _int_list("--folds", folds) if folds is not None else [fold]
    cfgs = [TrainConfig(
        dataset=dataset, backbone=backbone, weights=str(weights) if weights else None, method=baseline.value,
        method_options=method_options(baseline.value, {"chunk": cocoop_chunk, "kg_templates": kg_templates,
                                                 "kg_weight": kg_weight, "dept_fusion": dept_fusion}),
        classes=classes, fold=f, shots=shots, seed=s, epochs=epochs, lr=lr, batch_size=batch_size,
        n_ctx=n_ctx, reference_dropout=reference_dropout, crop=crop, device=device,
        data_root=str(data_root) if data_root else None, sept=sept_opts,
    ) for f in fold_list for s in seed_list]
    outs = [_out_for(out, c, len(seed_list) > 1, len(fold_list) > 1) for c in cfgs]
    if pack_size == 1:
        run_dirs = [run_train(c, o, progress=not quiet, echo=err.print, compile_setting=compile_setting)
                    for c, o in zip(cfgs, outs)]
    else:
        from septctl.engine.packed import train_packed

        run_dirs = []
        for i in range(0, len(cfgs), pack_size):
            run_dirs += train_packed(cfgs[i : i + pack_size], outs[i : i + pack_size], progress=not quiet,
                                     echo=err.print, compile_setting=compile_setting)
    for run_dir in run_dirs:
        err.print(f"run folder: {run_dir}")
    if len(run_dirs) == 1:
        next_step(f"septctl eval {shlex.quote(str(run_dirs[0]))}", quiet)


def _int_list(flag: str, text: str) -> list[int]:
    from septctl.errors import SeptctlError

    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        values = []
    if not values or len(set(values)) != len(values):
        raise SeptctlError(f"{flag} {text!r}: give distinct whole numbers separated by commas, e.g. 0,1,2")
    return values


def _out_for(out: Path | None, cfg, many_seeds: bool, many_folds: bool) -> Path | None:
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
    app.command("train", rich_help_panel=panels.TRAIN)(train)
