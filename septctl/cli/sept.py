"""`septctl neighbors [generate|stats]`, `septctl prefixes`, `septctl margins`: SEPT's inputs.

`neighbors` is a group whose default command is `generate`, so both
`septctl neighbors esc50 --llm builtin` and `septctl neighbors stats esc50` work.
"""

import json
import shlex
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer
from typer.core import TyperGroup

from septctl.cli import panels
from septctl.cli.common import err, next_step, out, set_threads
from septctl.cli.options import (AsJson, Backbone, BackboneOption, Device, Force, Modality, Quiet, Recompute,
                                 TrainingSet, Weights)
from septctl.defaults import DEFAULT_BACKBONE, DEFAULT_TEMPLATE, IMAGE_TEMPLATE, zeroshot_template
from septctl.errors import SeptctlError

if TYPE_CHECKING:
    from septctl.sept.llm import ChatClient

class _DefaultToGenerate(TyperGroup):
    """A group that runs `generate` when its first argument is not a subcommand."""

    def parse_args(self, ctx, args):
        if args and args[0] not in self.commands and args[0] not in ctx.help_option_names:
            args = ["generate", *args]
        return super().parse_args(ctx, args)


neighbors_app = typer.Typer(
    cls=_DefaultToGenerate,
    no_args_is_help=True,
    help="Semantic neighbors of class names (default command: generate).",
)


def _new_classes(dataset: Optional[str], base: list[str]) -> list[str] | None:
    """The new classes of a neighbors file's dataset: named (a registry name or a dataset folder) or guessed."""
    from septctl.data.registry import DATASETS, find_dataset, require_dataset
    from septctl.data.schema import base_new_split
    from septctl.sept_inputs import OR_FOLDER

    if dataset and find_dataset(dataset) is None and Path(dataset).is_dir():
        from septctl.data.layout import open_dataset

        folder = open_dataset(dataset)
        return base_new_split({r.classname for r in folder.rows("train", folder.default_fold())}, folder.class_order)[1]
    info = require_dataset(dataset, OR_FOLDER) if dataset else next((d for d in DATASETS if d.base == base), None)
    return info.new if info else None


def connector(llm: str, base_url: str | None, api_key_env: str, max_tries: int, backoff: float, timeout: float,
               max_time: float, no_cache: bool, quiet: bool) -> "Callable[[], ChatClient] | None":
    """What makes the LLM client once the work needs it; None for 'builtin' (the shipped bank)."""
    if llm == "builtin":
        return None

    def connect():
        from septctl.sept.llm import ChatClient, with_scheme

        url, hint = with_scheme(base_url)
        if hint:
            err.print(f"note: {hint}", highlight=False)
        return ChatClient(model=llm, base_url=url, api_key_env=api_key_env, max_tries=max_tries,
                          backoff_s=backoff, timeout_s=timeout, total_s=max_time, use_cache=not no_cache,
                          notify=_silent if quiet else announce)

    return connect


def _silent(message: str) -> None:
    """--quiet: retries happen without a word; the final error still says everything."""


def announce(message: str) -> None:
    """A retry or re-ask, said as it happens (on stderr, above the spinner)."""
    err.print(f"retry: {message}", highlight=False, markup=False)


_LLM_HELP = "'builtin' (the shipped bank, no network) or a chat model name, e.g. gpt-4o"

# The LLM client's options, shared by `neighbors` and `prefixes`.
BaseUrl = Annotated[Optional[str], typer.Option("--base-url", help="OpenAI-compatible endpoint (default: OpenAI).")]
ApiKeyEnv = Annotated[str, typer.Option("--api-key-env", help="Environment variable holding the key.")]
MaxTries = Annotated[int, typer.Option("--max-tries", min=1, help="HTTP attempts per request (429, 5xx, timeouts).")]
Backoff = Annotated[float, typer.Option(
    "--backoff", min=0.0, help="First retry wait in seconds; doubles each try (a 429's Retry-After wins).")]
Timeout = Annotated[float, typer.Option("--timeout", min=0.1, help="Seconds to wait for one reply.")]
MaxTime = Annotated[float, typer.Option(
    "--max-time", min=1.0, help="Seconds for all requests and retries together; a server that never answers "
    "fails after at most this long.")]
NoCache = Annotated[bool, typer.Option("--no-cache", help="Ask the LLM even if this request is cached.")]
MaxRounds = Annotated[int, typer.Option("--max-rounds", min=1, help="Requests before giving up on short classes.")]
GridLlm = Annotated[str, typer.Option("--llm", help=_LLM_HELP + "; makes the neighbors of datasets the built-in "
                                      "bank lacks (your own classes)")]


def llm_flags(llm: str, base_url: str | None, api_key_env: str, max_tries: int, backoff: float, timeout: float,
              max_time: float, max_rounds: int, no_cache: bool) -> list[str]:
    """The LLM options as `neighbors` takes them, for a command line that runs it later (a grid's prep step)."""
    if llm == "builtin":
        return []
    flags = ["--llm", llm, "--api-key-env", api_key_env, "--max-tries", str(max_tries), "--backoff", str(backoff),
             "--timeout", str(timeout), "--max-time", str(max_time), "--max-rounds", str(max_rounds)]
    return flags + (["--base-url", base_url] if base_url else []) + (["--no-cache"] if no_cache else [])


@neighbors_app.command("generate")
def neighbors_generate(
    dataset: Annotated[Optional[str], typer.Argument(
        help="Registered dataset name (see `septctl data list`) or a prepared dataset folder.")] = None,
    classes: Annotated[Optional[Path], typer.Option(
        "--classes", help="Text file with one class name per line.")] = None,
    llm: Annotated[str, typer.Option("--llm", help=_LLM_HELP)] = ...,
    n: Annotated[int, typer.Option("--n", min=1, help="Neighbors per class (paper: 10).")] = 10,
    split: Annotated[TrainingSet, typer.Option(
        "--split", help="base: the base-to-new training classes; all: every class.")] = TrainingSet.base,
    base_url: BaseUrl = None,
    api_key_env: ApiKeyEnv = "OPENAI_API_KEY",
    exclude_names: Annotated[Optional[Path], typer.Option(
        "--exclude-names", help="Drop (and refill) neighbors containing any name in this file (Table 12).")] = None,
    out_path: Annotated[Path, typer.Option("--out", help="Where to write the neighbors.")] = Path("neighbors.yaml"),
    max_tries: MaxTries = 3,
    backoff: Backoff = 2.0,
    timeout: Timeout = 30.0,
    max_time: MaxTime = 300.0,
    max_rounds: Annotated[int, typer.Option(
        "--max-rounds", min=1, help="Requests before giving up on short classes.")] = 4,
    no_cache: NoCache = False,
    modality: Annotated[Optional[Modality], typer.Option(
        "--modality", show_default="the dataset's; audio for --classes",
        help="What the classes are: the LLM is asked for sound or picture neighbors, and 'builtin' reads the "
        "sound or the image bank. For --classes FILE; a dataset says it itself.")] = None,
    quiet: Quiet = False,
    force: Force = False,
) -> None:
    """Generate N semantic neighbors per class and write neighbors.yaml."""
    from septctl.sept_inputs import write_neighbors

    connect = connector(llm, base_url, api_key_env, max_tries, backoff, timeout, max_time, no_cache, quiet)
    made = write_neighbors(out_path, dataset=dataset, classes_file=classes, split=split.value, n=n,
                           exclude_names=exclude_names, connect=connect, max_rounds=max_rounds,
                           notify=_silent if quiet else announce, force=force,
                           modality=modality.value if modality else None)
    flag = "" if made == "audio" else f" --modality {made}"
    prefixes_step = "" if Path("prefixes.yaml").is_file() else f"septctl prefixes --llm builtin{flag} && "
    next_step(f"{prefixes_step}septctl margins --neighbors {shlex.quote(str(out_path))} --prefixes prefixes.yaml "
              "--backbone BACKBONE", quiet)


@neighbors_app.command("stats")
def neighbors_stats(
    sources: Annotated[list[str], typer.Argument(
        help="neighbors.yaml files, dataset names (built-in bank), or 'all' (the paper's 11 audio datasets).")],
    backbone: BackboneOption = Backbone(DEFAULT_BACKBONE),
    weights: Weights = None,
    split: Annotated[TrainingSet, typer.Option(
        "--split", help="Classes of a dataset name: base or all.")] = TrainingSet.base,
    dataset: Annotated[Optional[str], typer.Option(
        "--dataset",
        help="Dataset (name or folder) of a neighbors file, for the new-name overlap (guessed when omitted).")] = None,
    template: Annotated[Optional[str], typer.Option(
        "--template", show_default=f"{DEFAULT_TEMPLATE!r}; {IMAGE_TEMPLATE!r} for an image backbone",
        help="Template with one {}.")] = None,
    as_json: AsJson = False,
    device: Device = "cpu",
) -> None:
    """Similarity to own / other classes' neighbors, diversity (eq. 10), overlap with new-class names."""
    set_threads()
    from septctl.backbones import load_backbone
    from septctl.data.registry import DATASETS, require_dataset
    from septctl.sept import neighbors as nb
    from septctl.sept.prefixes import template_problem
    from septctl.sept.stats import neighbor_stats
    from septctl.sept_inputs import OR_FOLDER

    if template is not None and (bad := template_problem(template)) is not None:
        raise SeptctlError(f"--template {template!r} {bad}; write it like {DEFAULT_TEMPLATE!r} or {IMAGE_TEMPLATE!r}")
    jobs = []  # (label, classes, neighbor lists, new classes)
    for src in [d.name for d in DATASETS if d.modality == "audio"] if sources == ["all"] else sources:
        if Path(src).is_file():
            ns = nb.load_neighbors(src)
            jobs.append((src, ns.classes, ns.rows(), _new_classes(dataset, ns.classes)))
        else:
            info = require_dataset(src, OR_FOLDER)
            names = info.base if split is TrainingSet.base else sorted(info.classes)
            table = nb.from_bank(names, 10, dataset=info.name, modality=info.modality)
            jobs.append((info.name, names, [table[c] for c in names], info.new if split is TrainingSet.base else None))
    model = load_backbone(backbone.value, weights, device)
    template = template or zeroshot_template(model.modality)
    rows = [neighbor_stats(model, c, p, source=label, new_classes=new, template=template) for label, c, p, new in jobs]
    if as_json:
        typer.echo(json.dumps([r.as_dict() for r in rows], indent=2, ensure_ascii=False))
        return
    from rich.table import Table

    def mean(xs):
        return sum(xs) / len(xs) if xs else None

    def fmt(x, pct=False):
        return "-" if x is None else (f"{100 * x:.1f}%" if pct else f"{x:.4f}")

    table = Table(title=f"neighbor quality ({backbone.value}, template {template!r})")
    for col in ("source", "K", "N", "positive sim", "negative sim", "diversity", "new-name overlap"):
        table.add_column(col, justify="left" if col == "source" else "right", no_wrap=col == "source")
    for r in rows:
        table.add_row(r.source, str(r.classes), str(r.n), fmt(r.positive_sim), fmt(r.negative_sim),
                      fmt(r.diversity), fmt(r.new_overlap, pct=True))
    if len(rows) > 1:
        over = [r.new_overlap for r in rows if r.new_overlap is not None]
        neg = [r.negative_sim for r in rows if r.negative_sim is not None]
        table.add_row("average", "", "", fmt(mean([r.positive_sim for r in rows])), fmt(mean(neg)),
                      fmt(mean([r.diversity for r in rows])), fmt(mean(over), pct=True))
    out.print(table)


def prefixes(
    llm: Annotated[str, typer.Option("--llm", help=_LLM_HELP)] = ...,
    n: Annotated[int, typer.Option("--n", min=1, help="Number of templates (paper: T = 100).")] = 100,
    base_url: BaseUrl = None,
    api_key_env: ApiKeyEnv = "OPENAI_API_KEY",
    out_path: Annotated[Path, typer.Option("--out", help="Where to write the templates.")] = Path("prefixes.yaml"),
    max_tries: MaxTries = 3,
    backoff: Backoff = 2.0,
    timeout: Timeout = 30.0,
    max_time: MaxTime = 300.0,
    max_rounds: Annotated[int, typer.Option("--max-rounds", min=1, help="Requests before giving up.")] = 4,
    no_cache: NoCache = False,
    modality: Annotated[Modality, typer.Option(
        "--modality", help="What the backbone embeds: sound templates for audio, picture templates (a photo of "
        "a {}.) for image backbones such as CLIP.")] = Modality("audio"),
    quiet: Quiet = False,
    force: Force = False,
) -> None:
    """Write prefixes.yaml: T prompt templates with one {} slot, for the margins."""
    from septctl.sept_inputs import write_prefixes

    connect = connector(llm, base_url, api_key_env, max_tries, backoff, timeout, max_time, no_cache, quiet)
    write_prefixes(out_path, n=n, connect=connect, max_rounds=max_rounds, force=force, modality=modality.value)


def margins(
    neighbors: Annotated[Path, typer.Option("--neighbors", help="neighbors.yaml from `septctl neighbors`.")],
    prefixes_path: Annotated[Optional[Path], typer.Option(
        "--prefixes", help="prefixes.yaml from `septctl prefixes`.")] = None,
    single_template: Annotated[Optional[str], typer.Option(
        "--single-template", help="Use this one template instead of --prefixes (SEPT-, Table 7).")] = None,
    backbone: BackboneOption = Backbone(DEFAULT_BACKBONE),
    weights: Weights = None,
    out_path: Annotated[Path, typer.Option("--out", help="Where to write the margins.")] = Path("margins.safetensors"),
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Sentences per forward pass.")] = 256,
    device: Device = "cpu",
    force: Recompute = False,
    quiet: Quiet = False,
) -> None:
    """Compute eq. 4 margins m[i,j,n] (K x K x N) in the L2-normalized text space."""
    set_threads()
    from septctl.artifacts import read_yaml
    from septctl.sept_inputs import write_margins

    if not write_margins(out_path, neighbors=neighbors, prefixes=prefixes_path, single_template=single_template,
                         backbone=backbone.value, weights=weights, batch_size=batch_size, device=device, force=force,
                         progress=not quiet):
        return
    source = (read_yaml(neighbors, "neighbors file").get("card") or {}).get("classes_from") or {}
    dataset = source.get("dataset", "DATASET") if isinstance(source, dict) else "DATASET"
    next_step(f"septctl train {shlex.quote(str(dataset))} --backbone {backbone.value} --sept --neighbors "
              f"{shlex.quote(str(neighbors))} --margins {shlex.quote(str(out_path))}", quiet)


def register(app: typer.Typer) -> None:
    app.add_typer(neighbors_app, name="neighbors", rich_help_panel=panels.SEPT)
    app.command("prefixes", rich_help_panel=panels.SEPT)(prefixes)
    app.command("margins", rich_help_panel=panels.SEPT)(margins)
