"""`septctl report` (the paper's tables), `septctl grid` (the paper's experiment grids),
its helpers `grid-prep` / `grid-eval`, and `septctl plot` (Figures 1, 4 and 8)."""

from pathlib import Path
from typing import Annotated, Optional

import typer

from septctl.cli import grid_batch as gb
from septctl.cli import panels
from septctl.cli.common import err, next_step, out, set_threads
from septctl.cli.sept import (ApiKeyEnv, Backoff, BaseUrl, GridLlm, MaxRounds, MaxTime, MaxTries, NoCache, Timeout,
                              announce, connector, llm_flags)
from septctl.console import counted, styled
from septctl.cli.options import (Backbone, BackboneOption, ClassSet, Comparison, DataRoot, Dataset, Device,
                                 Experiment, Force, Format, GridBackbone, GridDevice, Stage, TableName, TrainingSet,
                                 Weights, ZeroshotBackbone, default_backbone)
from septctl.grid.plan import SEPT_METHODS
from septctl.methods.registry import METHODS
from septctl.defaults import DEFAULT_BACKBONE, DEFAULT_TEMPLATE, PALM_TEMPLATE


def report(
    runs: Annotated[list[Path], typer.Argument(help="Run folders, or folders to search for runs.")],
    fmt: Annotated[Format, typer.Option("--format", "-f", help="The tables' format.")] = Format.md,
    table: Annotated[TableName, typer.Option(
        "--table", "-t", help="b2n (Table 1), cross (Table 2), shots (Table 6), ablation (Table 3), all (those "
        "four) or allclass (PALM's protocol: every class trained and tested)."
    )] = TableName.b2n,
    compare: Annotated[Optional[Comparison], typer.Option(
        "--compare", help="Also print these published numbers (palm: PALM's all-class table), in a block of their "
        "own, labelled as published, never averaged with the runs'.")] = None,
    shots: Annotated[Optional[int], typer.Option(
        "--shots", min=1, help="Shot count of Tables 1 and 3 (default: 16, or the most run).")] = None,
    out_dir: Annotated[Optional[Path], typer.Option("--out", help="Also write each table to OUT/TABLE.EXT.")] = None,
    h_of_means: Annotated[bool, typer.Option(
        "--h-of-means",
        help="H of the averaged Base and New (CoCoOp convention) instead of the SEPT paper's mean of per-seed H."
    )] = False,
    force: Force = False,
) -> None:
    """The paper's tables from run folders (H as the SEPT paper takes it; lists what is missing).

    Per seed, H of the fold-averaged Base and New; a cell's H is the mean over seeds, an
    average row's the mean over datasets; the per-seed spread of H is shown. Runs that differ
    in a setting get rows of their own; whatever the grid lacks (a fold, a seed, an
    evaluation) is listed, never silently dropped.
    """
    from septctl.artifacts import write_text
    from septctl.report.paper_tables import build_tables, left_out, render_tables
    from septctl.report.tables import changed_since_training

    records = _records(runs)
    for line in changed_since_training(records):  # their results no longer describe the dataset as it is
        err.print(styled(f"warning: {line}", "yellow"), highlight=False)
    for rec in records:
        if rec.diverged:
            err.print(styled("warning:", "yellow"), f"{rec.path}: diverged ({rec.diverged}); its results are in "
                      "the tables, but retrain it with a lower --lr")
    tables = build_tables(records, table.value, shots, h_of_means, compare.value if compare else None)
    out.print(render_tables(tables, fmt.value), highlight=False, end="")
    if out_dir:
        ext = {"md": "md", "csv": "csv", "latex": "tex", "json": "json"}[fmt.value]
        for t in tables:
            write_text(Path(out_dir) / f"{t.name}.{ext}", render_tables([t], fmt.value), force=force)
        err.print(f"wrote {len(tables)} table(s) to {out_dir}")
    for t in tables:
        if not t.cells and not t.missing:
            err.print(f"{t.title}: empty; none of the {counted(len(records), 'run')} found is of this kind "
                      "(see --table, --shots)")
    for line in left_out(records, tables):
        err.print(styled(line, "yellow"), highlight=False)
    nothing = [r for r in records if r.learning_warnings]
    if nothing:
        err.print(styled(f"{_runs(len(nothing))} learned nothing", "yellow"), "(marked ! in the tables): ",
                  "; ".join(f"{r.path}: {r.learning_warnings[0]}" for r in nothing[:3]), highlight=False)
    missing = sum(len(t.missing) for t in tables)
    if missing:
        err.print(styled(f"{missing} missing result(s)", "yellow"), "; the tables cover only complete cells", sep="")


def _records(runs: list[Path]) -> list:
    """The runs under `runs` as report's records; none is an error naming where it looked."""
    from septctl.errors import SeptctlError
    from septctl.report.tables import find_runs, load_record

    records = [load_record(p) for p in find_runs(runs)]
    if not records:
        raise SeptctlError(f"{', '.join(str(p) for p in runs)}: no run folders found (a run holds run.yaml); "
                           "make runs with `septctl train` and `septctl eval`, or point at the folder holding them")
    return records


def _runs(n: int) -> str:
    return "1 run" if n == 1 else f"{n} runs"


def _csv_ints(text: str, what: str, low: int = 0) -> tuple[int, ...]:
    """'0 1 2' or '0,1,2' (from an option or its environment variable) as whole numbers >= low."""
    from septctl.errors import SeptctlError

    try:
        values = tuple(int(x) for x in text.replace(",", " ").split())
    except ValueError:
        values = ()
    if not values or min(values) < low:
        raise SeptctlError(f"{what} {text!r}: give whole numbers >= {low}, e.g. '{low} {low + 1}' or {low},{low + 1}")
    return values


def _methods(text: str | None) -> tuple[str, ...] | None:
    """'coop kgcoop' or 'coop,kgcoop' (from --methods or METHODS), each a registered method or zeroshot;
    None: the experiment's default."""
    from septctl.errors import SeptctlError
    from septctl.grid.plan import ZEROSHOT

    if text is None:
        return None
    names = tuple(text.replace(",", " ").split())
    unknown = [n for n in names if n not in METHODS and n != ZEROSHOT]
    if unknown or not names:
        what = f"{', '.join(map(repr, unknown))} is not a method" if unknown else "no method given"
        raise SeptctlError(f"--methods {text!r}: {what}; choose from {ZEROSHOT}, {', '.join(METHODS)}")
    return names


def grid(
    experiment: Annotated[Experiment, typer.Argument(
        help="The paper's experiment (paper: all four), or allclass: PALM's protocol, every class trained and tested.")],
    datasets: Annotated[Optional[list[str]], typer.Argument(
        help="Registry dataset names or dataset folders (cross uses --pairs instead).")] = None,
    backbone: GridBackbone = Backbone(DEFAULT_BACKBONE),
    epochs: Annotated[Optional[int], typer.Option(
        "--epochs", min=1, envvar="EPOCHS", show_default="each method's own: 50, tip-adapter-f 20",
        help="Paper: 50.")] = None,
    seeds: Annotated[str, typer.Option("--seeds", envvar="SEEDS", help="Seeds, e.g. '0 1 2'.")] = "0 1 2",
    folds: Annotated[str, typer.Option("--folds", envvar="FOLDS", help="all, or a list like 1,2.")] = "all",
    methods: Annotated[Optional[str], typer.Option(
        "--methods", envvar="METHODS", show_default=f"{' '.join(SEPT_METHODS)}; allclass: all of them",
        help=f"Methods to run, of: {' '.join(METHODS)} (zeroshot is accepted: it is always run). Each runs with "
        "and without SEPT, where SEPT applies.")] = None,
    palm_prompt: Annotated[bool, typer.Option(
        "--palm-prompt", help=f"Zero-shot with PALM's prompt {PALM_TEMPLATE!r} (sic), for numbers like-for-like "
        "with PALM's published ones.")] = False,
    shots: Annotated[str, typer.Option(
        "--shots", envvar="SHOTS", help="Shot counts of the shots experiment.")] = "2 4 8 16",
    pairs: Annotated[Optional[str], typer.Option(
        "--pairs", envvar="CROSS_PAIRS", help="Cross-dataset pairs SRC:TGT (default: the paper's three).")] = None,
    quick: Annotated[bool, typer.Option(
        "--quick", help="2 epochs, seed 0, fold 1: a smoke test of the grid.")] = False,
    data_root: DataRoot = None,
    runs: Annotated[Path, typer.Option("--runs", envvar="RUNS", help="Where run folders go.")] = Path("runs"),
    sept_dir: Annotated[Path, typer.Option(
        "--sept-dir", envvar="SEPT_DIR", help="Where SEPT files go.")] = Path("sept"),
    device: GridDevice = "cpu",
    pack_size: Annotated[int, typer.Option(
        "--pack-size", min=1, envvar="PACK_SIZE",
        help="Runs differing only in seed trained together by one `train`. Default 1 (alone) on every device: the "
        "CPU measured no gain and no GPU has run packing yet (docs/speed.md).")] = 1,
    show_plan: Annotated[bool, typer.Option(
        "--plan", help="Print one command per unfinished job (every job with --all) instead of running them."
    )] = False,
    stage: Annotated[Stage, typer.Option("--stage", help="With --plan: prep (run first), runs, or all.")] = Stage.all,
    llm: GridLlm = "builtin", base_url: BaseUrl = None, api_key_env: ApiKeyEnv = "OPENAI_API_KEY",
    max_tries: MaxTries = 3, backoff: Backoff = 2.0, timeout: Timeout = 30.0, max_time: MaxTime = 300.0,
    max_rounds: MaxRounds = 4, no_cache: NoCache = False,
    slurm: gb.Slurm = False, dry_run: gb.DryRun = False, status: gb.Status = False, everything: gb.Everything = False,
    parallel: gb.Parallel = None, profile: gb.Profile = None, partition: gb.Partition = None, gpus: gb.Gpus = None,
    cpus: gb.Cpus = None, time: gb.Time = None, mem: gb.Mem = None, account: gb.Account = None,
    sbatch_arg: gb.SbatchArg = None,
) -> None:
    """Run (or print with --plan) an experiment grid of the paper; finished jobs are skipped.

    --slurm submits it as job arrays, --parallel N runs it with GNU parallel, --status says where each job is."""
    set_threads()
    from septctl.errors import SeptctlError
    from septctl.grid import plan as g

    batch = gb.batch_options(slurm, dry_run, status, everything, parallel, profile, partition=partition, gpus=gpus,
                             cpus=cpus, time=time, mem=mem, account=account, sbatch_args=sbatch_arg)
    from septctl.devices import check_device

    device = check_device(device, here=not (show_plan or batch.slurm or batch.status))  # a plan may run elsewhere
    for flag, folder in (("--runs", runs), ("--sept-dir", sept_dir)):  # they reach every plan line
        g.script_safe(str(folder), flag)
    knobs = g.Knobs(backbone=backbone.value, epochs=2 if quick else epochs, seeds=(0,) if quick else _csv_ints(seeds, "--seeds"),
                    folds="1" if quick else folds, methods=_methods(methods),
                    shots=_csv_ints(shots, "--shots", low=1), data_root=str(data_root) if data_root else None,
                    runs=str(runs), sept_dir=str(sept_dir), device=device, pack=pack_size,
                    zeroshot_template=PALM_TEMPLATE if palm_prompt else DEFAULT_TEMPLATE,
                    llm_args=tuple(llm_flags(llm, base_url, api_key_env, max_tries, backoff, timeout, max_time,
                                             max_rounds, no_cache)))
    if pairs:
        bad = [p for p in pairs.replace(",", " ").split() if p.count(":") != 1]
        if bad:
            raise SeptctlError(f"--pairs {bad[0]!r}: write SOURCE:TARGET, e.g. ravdess:crema-d")
        knobs.cross_pairs = tuple(tuple(p.split(":")) for p in pairs.replace(",", " ").split())
    jobs = g.plan(experiment.value, knobs, list(datasets or []))
    if batch.wanted:
        show = lambda line: out.print(line, markup=False, highlight=False, soft_wrap=True)  # noqa: E731
        code = gb.run_batch(experiment.value, jobs, runs, batch, err.print, show)
        if code:
            raise typer.Exit(code)
        return
    if show_plan:
        for job in jobs:
            if stage.value in ("all", job.stage) and (everything or not job.done()):  # finished jobs only with --all
                out.print(job.line(), markup=False, highlight=False, soft_wrap=True)
        return
    from septctl.cli.main import app

    def invoke(args: list[str]) -> None:
        rv = app(args=args, standalone_mode=False)
        if rv == 130:  # Typer's silent Ctrl-C: the grid stops as interrupted, not as failed
            raise KeyboardInterrupt
        if isinstance(rv, int) and rv:
            raise SeptctlError(f"`septctl {' '.join(args)}` exited with {rv}")

    ran, skipped = g.run_jobs(jobs, invoke, err.print)
    name = experiment.value
    if ran == 0:
        err.print(f"{name}: nothing to do, all {counted(skipped, 'job')} already complete")
    else:
        err.print(f"{name}: ran {counted(ran, 'job')}, {skipped} already complete")
    _grid_table(name, jobs, runs)


def _grid_table(experiment: str, jobs: list, runs: Path) -> None:
    """The table of the grid just run (its own runs only), and the report command that shows it again."""
    from septctl.report.paper_tables import build_tables, render_tables
    from septctl.report.tables import load_record

    table = {"base2new": "b2n", "paper": "all"}.get(experiment, experiment)
    records = [load_record(j.run_dir) for j in jobs
               if j.stage == "runs" and j.run_dir and (j.run_dir / "run.yaml").is_file()]
    if records:
        out.print(render_tables(build_tables(records, table), "md"), highlight=False, end="")
    next_step(f"septctl report {runs} --table {table}")


def grid_prep(
    dataset: Dataset,
    classes: Annotated[TrainingSet, typer.Option(
        "--classes", help="Training classes: base (base-to-new) or all (cross).")] = TrainingSet.base,
    backbone: BackboneOption = Backbone(DEFAULT_BACKBONE),
    sept_dir: Annotated[Path, typer.Option("--sept-dir", help="Where SEPT files go.")] = Path("sept"),
    embed: Annotated[list[str], typer.Option(
        "--embed", help="Also embed this dataset (a cross-dataset target).")] = [],
    data_root: DataRoot = None,
    device: Device = "cpu",
    llm: GridLlm = "builtin", base_url: BaseUrl = None, api_key_env: ApiKeyEnv = "OPENAI_API_KEY",
    max_tries: MaxTries = 3, backoff: Backoff = 2.0, timeout: Timeout = 30.0, max_time: MaxTime = 300.0,
    max_rounds: MaxRounds = 4, no_cache: NoCache = False,
) -> None:
    """Make a dataset's SEPT files (neighbors from the built-in bank or --llm, built-in prefixes of the backbone's
    modality, margins) and embeddings, once, under a lock."""
    set_threads()
    backbone, classes = backbone.value, classes.value  # the library takes plain names
    from septctl.artifacts import file_lock, write_yaml
    from septctl.backbones.registry import get_spec
    from septctl.embed import embed_named
    from septctl.grid import plan as g
    from septctl.sept_inputs import write_margins, write_prefixes

    knobs = g.Knobs(backbone=backbone, sept_dir=str(sept_dir), data_root=str(data_root) if data_root else None,
                    device=device)
    neighbors, margins = g.sept_files(knobs, dataset, classes)
    prefixes, modality = g.prefixes_for(sept_dir, get_spec(backbone))
    with file_lock(Path(sept_dir) / g.dataset_label(dataset) / "files"):
        for name in sorted({dataset, *embed}):
            embed_named(name, backbone, data_root=knobs.data_root, device=device)
        if not neighbors.is_file():
            connect = connector(llm, base_url, api_key_env, max_tries, backoff, timeout, max_time, no_cache, False)
            _grid_neighbors(neighbors, dataset, classes, connect, max_rounds)
        with file_lock(prefixes):
            if not prefixes.is_file():
                write_prefixes(prefixes, modality=modality)
        write_margins(margins, neighbors=neighbors, prefixes=prefixes, backbone=backbone, device=device)
        write_yaml(Path(sept_dir) / g.dataset_label(dataset) / g.prep_stamp(knobs, classes),
                   {"made": g.prep_record(knobs, dataset, classes, tuple(embed))})


def _grid_neighbors(path: Path, dataset: str, classes: str, connect, max_rounds: int) -> None:
    """neighbors.yaml of a grid's dataset; when the bank lacks a class, the error names where the grid looks."""
    from septctl.errors import SeptctlError
    from septctl.sept_inputs import write_neighbors

    try:
        write_neighbors(path, dataset=dataset, split=classes, connect=connect, max_rounds=max_rounds,
                        notify=announce)
    except SeptctlError as exc:
        if connect is not None:
            raise
        raise SeptctlError(f"{exc}; the grid reads {path}: write it there, or give `septctl grid` (or grid-prep) "
                           "--llm MODEL [--base-url URL]") from None


def grid_eval(
    target: Annotated[str, typer.Argument(help="A run folder; with --zeroshot, a dataset.")],
    classes: Annotated[list[ClassSet], typer.Option("--classes", help="Repeat for several.")] = [ClassSet.new],
    dataset: Annotated[Optional[str], typer.Option(
        "--dataset", help="Evaluate on another dataset (cross-dataset).")] = None,
    fold: Annotated[Optional[int], typer.Option("--fold", min=1, help="Fold of the evaluated dataset.")] = None,
    zeroshot: Annotated[bool, typer.Option("--zeroshot", help="No run: the hand-written template.")] = False,
    template: Annotated[str, typer.Option("--template", help="Zero-shot template with one {}.")] = DEFAULT_TEMPLATE,
    backbone: ZeroshotBackbone = None,
    data_root: DataRoot = None,
    out_dir: Annotated[Optional[Path], typer.Option("--out", help="Zero-shot result folder.")] = None,
    device: Device = "cpu",
) -> None:
    """`septctl eval` for grids: evaluates only what metrics.yaml lacks, so a rerun does nothing."""
    set_threads()
    from septctl.data.layout import open_dataset
    from septctl.engine.evaluate import evaluate_run, evaluate_zeroshot
    from septctl.runs import metrics_key, open_run_dataset, read_metrics, read_run, run_config, zeroshot_run_dir

    root = str(data_root) if data_root else None
    backbone = backbone.value if backbone else default_backbone()
    if zeroshot:
        ds = open_dataset(target, root)
        where = out_dir or zeroshot_run_dir(target, backbone, fold)
        at = ds.default_fold() if fold is None else fold
    else:
        where = Path(target)
        run = read_run(where)
        ds = open_dataset(dataset, root or run["config"].get("data_root")) if dataset else open_run_dataset(
            run, run_config(where, run))
        at = fold if fold is not None else (ds.default_fold() if dataset else run.get("fold"))
    have = read_metrics(where)
    for which in (c.value for c in classes):
        key = metrics_key(ds.name, ds.root.resolve(), at, which)
        if key in have:
            err.print(f"{where}: {key} already evaluated")
            continue
        if zeroshot:
            result, _ = evaluate_zeroshot(target, backbone, template, classes=which, fold=fold, out=where,
                                          data_root=root, device=device)
        else:
            result = evaluate_run(where, which, dataset, fold, root, device=device)
        err.print(f"{where}: {key} accuracy {result['accuracy']:.2f}", highlight=False)


plot_app = typer.Typer(help="Figures as PNG and PDF: the paper's similarity heatmap (Fig. 1), t-SNE (Fig. 4) and "
                            "similarity histogram (Fig. 8), and the results (Base, New, H per method).",
                       no_args_is_help=True)


@plot_app.command("heatmap")
def plot_heatmap(
    runs: Annotated[list[Path], typer.Argument(help="Run folders to compare (zero-shot is always the first panel).")],
    neighbors: Annotated[Path, typer.Option("--neighbors", help="neighbors.yaml of the classes to show.")],
    per_class: Annotated[int, typer.Option("--per-class", min=1, help="Neighbors shown per class.")] = 3,
    out_path: Annotated[Path, typer.Option("--out", help="Writes OUT.png and OUT.pdf.")] = Path("figures/heatmap"),
    force: Force = False,
) -> None:
    """Figure 1: cosine similarity of each class prompt to every class's neighbor prompts."""
    set_threads()
    from septctl.report.figures import heatmap_figure

    files = heatmap_figure(runs, neighbors, out_path, per_class, force=force)
    err.print(f"wrote {', '.join(map(str, files))}")


@plot_app.command("tsne")
def plot_tsne(
    runs: Annotated[list[Path], typer.Argument(help="Run folders to compare (zero-shot is always the first panel).")],
    neighbors: Annotated[Path, typer.Option(
        "--neighbors", help="neighbors.yaml covering the new classes (--split all).")],
    classes: Annotated[ClassSet, typer.Option("--classes", help="Which of the runs' dataset classes.")] = ClassSet.new,
    perplexity: Annotated[float, typer.Option("--perplexity", min=1.0, help="t-SNE perplexity.")] = 10.0,
    out_path: Annotated[Path, typer.Option("--out", help="Writes OUT.png and OUT.pdf.")] = Path("figures/tsne"),
    force: Force = False,
) -> None:
    """Figure 4: exact t-SNE of class prompts (diamonds) and their neighbors' prompts (circles)."""
    set_threads()
    from septctl.report.figures import tsne_figure

    files = tsne_figure(runs, neighbors, out_path, classes.value, perplexity, force=force)
    err.print(f"wrote {', '.join(map(str, files))}")


@plot_app.command("similarity")
def plot_similarity(
    neighbors: Annotated[list[Path], typer.Argument(help="neighbors.yaml files (one per dataset).")],
    backbone: BackboneOption = Backbone(DEFAULT_BACKBONE),
    weights: Weights = None,
    out_path: Annotated[Path, typer.Option("--out", help="Writes OUT.png and OUT.pdf.")] = Path("figures/similarity"),
    force: Force = False,
) -> None:
    """Figure 8: histogram of class-to-own-neighbor cosine similarities (other classes' neighbors for contrast)."""
    set_threads()
    from septctl.report.figures import similarity_figure

    files = similarity_figure(neighbors, backbone.value, str(weights) if weights else None, out_path, force=force)
    err.print(f"wrote {', '.join(map(str, files))}")


@plot_app.command("results")
def plot_results(
    runs: Annotated[list[Path], typer.Argument(help="Run folders, or folders to search for runs (as for report).")],
    shots: Annotated[Optional[int], typer.Option(
        "--shots", min=1, help="Shot count (default: 16, or the most run), as for report's Table 1.")] = None,
    out_path: Annotated[Path, typer.Option("--out", help="Writes OUT.png and OUT.pdf.")] = Path("figures/results"),
    force: Force = False,
) -> None:
    """Results: Base, New and H per method with the spread over seeds, one panel per dataset (Table 1's runs)."""
    from septctl.report.figures import results_figure
    from septctl.report.paper_tables import build_tables, left_out

    records = _records(runs)
    tables = build_tables(records, "b2n", shots)
    files = results_figure(tables[0], out_path, force=force)
    for line in left_out(records, tables):
        err.print(styled(line, "yellow"), highlight=False)
    err.print(f"wrote {', '.join(map(str, files))}")


def register(app: typer.Typer) -> None:
    app.command("report", rich_help_panel=panels.RESULTS)(report)
    app.command("grid", rich_help_panel=panels.GRIDS)(grid)
    app.command("grid-prep", rich_help_panel=panels.GRIDS)(grid_prep)
    app.command("grid-eval", rich_help_panel=panels.GRIDS)(grid_eval)
    app.add_typer(plot_app, name="plot", rich_help_panel=panels.RESULTS)
