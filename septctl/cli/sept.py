"""`septctl neighbors [generate|stats]`, `septctl prefixes`, `septctl margins`: SEPT's inputs.

`neighbors` is a group whose default command is `generate`, so both
`septctl neighbors esc50 --llm builtin` and `septctl neighbors stats esc50` work.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Annotated, Optional

import typer
from typer.core import TyperGroup

from septctl.cli import panels
from septctl.cli.common import err, next_step, out, set_threads
from septctl.cli.options import (AsJson, Backbone, BackboneOption, Device, Force, Quiet, Recompute, TrainingSet,
                                 Weights)
from septctl.console import counted
from septctl.defaults import DEFAULT_BACKBONE, DEFAULT_TEMPLATE
from septctl.errors import SeptctlError

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


def _read_lines(path: Path, what: str) -> list[str]:
    if not path.is_file():
        raise SeptctlError(f"{path}: {what} not found; check the path")
    lines = [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines()]
    return [ln for ln in lines if ln and not ln.startswith("#")]


def _dataset(name: str):
    from septctl.data.registry import DATASETS, find_dataset

    info = find_dataset(name)
    if info is None:
        raise SeptctlError(
            f"unknown dataset {name!r}; pass one of {', '.join(d.name for d in DATASETS)}, "
            "a prepared dataset folder, or --classes FILE"
        )
    return info


def _new_classes(dataset: Optional[str], base: list[str]) -> list[str] | None:
    """The new classes of a neighbors file's dataset: named (a registry name or a dataset folder) or guessed."""
    from septctl.data.registry import DATASETS, find_dataset
    from septctl.data.schema import base_new_split

    if dataset and find_dataset(dataset) is None and Path(dataset).is_dir():
        from septctl.data.layout import open_dataset

        folder = open_dataset(dataset)
        return base_new_split({r.classname for r in folder.rows("train", folder.default_fold())})[1]
    info = _dataset(dataset) if dataset else next((d for d in DATASETS if d.base == base), None)
    return info.new if info else None


def _target_classes(dataset: Optional[str], classes_file: Optional[Path], split: str) -> tuple[list[str], dict, str | None]:
    """Class names to expand, where they came from (for the card), and the registry name if any."""
    if (dataset is None) == (classes_file is None):
        raise SeptctlError("give either a DATASET name or --classes FILE (one class per line), not both or neither")
    if classes_file is not None:
        from septctl.artifacts import sha256_file

        names = _read_lines(classes_file, "class list")
        if not names or len(set(names)) != len(names):
            raise SeptctlError(f"{classes_file}: needs one distinct class name per line; fix the file")
        return sorted(names), {"file": str(classes_file), "sha256": sha256_file(classes_file)}, None
    from septctl.data.registry import find_dataset
    from septctl.data.schema import select_classes

    if find_dataset(dataset) is None and Path(dataset).is_dir():  # a dataset folder: classes from its training split
        from septctl.data.layout import open_dataset

        folder = open_dataset(dataset)
        every = {r.classname for r in folder.rows("train", folder.default_fold())}
        registry_name = folder.info.name if folder.info else None
        return select_classes(every, split), {"dataset": str(folder.root), "split": split}, registry_name
    info = _dataset(dataset)
    return select_classes(info.classes, split), {"dataset": info.name, "split": split}, info.name


def _client(llm: str, base_url, api_key_env, max_tries, backoff, timeout, max_time, no_cache, quiet):
    from septctl.sept.llm import ChatClient, with_scheme

    base_url, hint = with_scheme(base_url)
    if hint:
        err.print(f"note: {hint}", highlight=False)
    return ChatClient(model=llm, base_url=base_url, api_key_env=api_key_env, max_tries=max_tries,
                      backoff_s=backoff, timeout_s=timeout, total_s=max_time, use_cache=not no_cache,
                      notify=_silent if quiet else _announce)


def _silent(message: str) -> None:
    """--quiet: retries happen without a word; the final error still says everything."""


def _announce(message: str) -> None:
    """A retry or re-ask, said as it happens (on stderr, above the spinner)."""
    err.print(f"retry: {message}", highlight=False, markup=False)


def _save_exchange(path: Path, llm: str, base_url, gen, error: str | None) -> None:
    """Every prompt, raw reply and refused term of an LLM generation, written even when it failed."""
    from septctl.artifacts import write_json

    write_json(path, {"model": llm, "base_url": base_url, "error": error, "requests": gen.requests,
                      "refused": gen.rejected})


def exchange_path(out_path: Path) -> Path:
    """Where the raw replies of `out_path` go: neighbors.yaml -> neighbors.llm.json."""
    return out_path.with_suffix(".llm.json")


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


@neighbors_app.command("generate")
def neighbors_generate(
    dataset: Optional[str] = typer.Argument(
        None, help="Registered dataset name (see `septctl data list`) or a prepared dataset folder."
    ),
    classes: Optional[Path] = typer.Option(None, "--classes", help="Text file with one class name per line."),
    llm: str = typer.Option(..., "--llm", help=_LLM_HELP),
    n: int = typer.Option(10, "--n", min=1, help="Neighbors per class (paper: 10)."),
    split: TrainingSet = typer.Option(TrainingSet.base, "--split",
                                      help="base: the base-to-new training classes; all: every class."),
    base_url: BaseUrl = None,
    api_key_env: ApiKeyEnv = "OPENAI_API_KEY",
    exclude_names: Optional[Path] = typer.Option(
        None, "--exclude-names", help="Drop (and refill) neighbors containing any name in this file (Table 12)."
    ),
    out_path: Path = typer.Option(Path("neighbors.yaml"), "--out", help="Where to write the neighbors."),
    max_tries: MaxTries = 3,
    backoff: Backoff = 2.0,
    timeout: Timeout = 30.0,
    max_time: MaxTime = 300.0,
    max_rounds: int = typer.Option(4, "--max-rounds", min=1, help="Requests before giving up on short classes."),
    no_cache: NoCache = False,
    quiet: Quiet = False,
    force: Force = False,
) -> None:
    """Generate N semantic neighbors per class and write neighbors.yaml."""
    from septctl.artifacts import provenance, sha256_file, write_yaml
    from septctl.sept import neighbors as nb

    names, source, registry_name = _target_classes(dataset, classes, split.value)
    exclude = _read_lines(exclude_names, "exclude-names file") if exclude_names else []
    if llm == "builtin":
        table = nb.from_bank(names, n, dataset=registry_name, exclude=exclude)
        llm_card = {"model": "builtin", "bank_sha256": sha256_file(nb.bank_path())}
        extra: dict = {}
        summary = "built-in bank"
    else:
        client = _client(llm, base_url, api_key_env, max_tries, backoff, timeout, max_time, no_cache, quiet)
        gen, raw = nb.Generation(names={}), exchange_path(out_path)
        try:
            with err.status(f"asking {llm} for neighbors of {counted(len(names), 'class')}"):
                nb.generate_neighbors(client, names, n, exclude=exclude, max_rounds=max_rounds, record=gen,
                                      notify=_silent if quiet else _announce)
        except SeptctlError as exc:
            _save_exchange(raw, llm, client.base_url, gen, str(exc))
            raise SeptctlError(f"{exc} (raw replies and refused terms: {raw})") from None
        _save_exchange(raw, llm, client.base_url, gen, None)
        table = gen.names
        llm_card = {"model": llm, "base_url": client.base_url}
        extra = {"seconds": gen.seconds, "rejected": gen.rejected, "requests": gen.requests, "raw_replies": str(raw)}
        hits = sum(r["cached"] for r in gen.requests)
        summary = f"{llm}, {len(gen.requests)} requests ({hits} from cache)"
    card = provenance(kind="neighbors", llm=llm_card, n=n, classes_from=source, exclude_names=exclude, **extra)
    write_yaml(out_path, {"neighbors": {c: table[c] for c in sorted(table)}, "card": card}, force=force)
    err.print(f"wrote {out_path}: {counted(len(table), 'class')} x {counted(n, 'neighbor')} ({summary})", highlight=False)
    prefixes_step = "" if Path("prefixes.yaml").is_file() else "septctl prefixes --llm builtin && "
    next_step(f"{prefixes_step}septctl margins --neighbors {shlex.quote(str(out_path))} --prefixes prefixes.yaml "
              "--backbone BACKBONE", quiet)


@neighbors_app.command("stats")
def neighbors_stats(
    sources: list[str] = typer.Argument(..., help="neighbors.yaml files, dataset names (built-in bank), or 'all'."),
    backbone: BackboneOption = Backbone(DEFAULT_BACKBONE),
    weights: Weights = None,
    split: TrainingSet = typer.Option(TrainingSet.base, "--split", help="Classes of a dataset name: base or all."),
    dataset: Optional[str] = typer.Option(
        None, "--dataset", help="Dataset (name or folder) of a neighbors file, for the new-name overlap (guessed when omitted)."
    ),
    template: Optional[str] = typer.Option(None, "--template", help="Template with one {} (default: This is a sound of {}.)."),
    as_json: AsJson = False,
    device: Device = "cpu",
) -> None:
    """Similarity to own / other classes' neighbors, diversity (eq. 10), overlap with new-class names."""
    set_threads()
    from septctl.backbones import load_backbone
    from septctl.data.registry import DATASETS
    from septctl.sept import neighbors as nb
    from septctl.sept.prefixes import template_problem
    from septctl.sept.stats import neighbor_stats

    template = template or DEFAULT_TEMPLATE
    if (bad := template_problem(template)) is not None:
        raise SeptctlError(f"--template {template!r} {bad}; write it like 'This is a sound of {{}}.'")
    jobs = []  # (label, classes, neighbor lists, new classes)
    for src in [d.name for d in DATASETS] if sources == ["all"] else sources:
        if Path(src).is_file():
            ns = nb.load_neighbors(src)
            jobs.append((src, ns.classes, ns.rows(), _new_classes(dataset, ns.classes)))
        else:
            info = _dataset(src)
            names = info.base if split is TrainingSet.base else sorted(info.classes)
            table = nb.from_bank(names, 10, dataset=info.name)
            jobs.append((info.name, names, [table[c] for c in names], info.new if split is TrainingSet.base else None))
    model = load_backbone(backbone.value, weights, device)
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
    llm: str = typer.Option(..., "--llm", help=_LLM_HELP),
    n: int = typer.Option(100, "--n", min=1, help="Number of templates (paper: T = 100)."),
    base_url: BaseUrl = None,
    api_key_env: ApiKeyEnv = "OPENAI_API_KEY",
    out_path: Path = typer.Option(Path("prefixes.yaml"), "--out", help="Where to write the templates."),
    max_tries: MaxTries = 3,
    backoff: Backoff = 2.0,
    timeout: Timeout = 30.0,
    max_time: MaxTime = 300.0,
    max_rounds: int = typer.Option(4, "--max-rounds", min=1, help="Requests before giving up."),
    no_cache: NoCache = False,
    quiet: Quiet = False,
    force: Force = False,
) -> None:
    """Write prefixes.yaml: T prompt templates with one {} slot, for the margins."""
    from septctl.artifacts import provenance, sha256_file, write_yaml
    from septctl.sept import prefixes as px

    if llm == "builtin":
        templates = px.from_bank(n)
        card = provenance(kind="prefixes", llm={"model": "builtin", "bank_sha256": sha256_file(px.bank_path())}, n=n)
    else:
        client = _client(llm, base_url, api_key_env, max_tries, backoff, timeout, max_time, no_cache, quiet)
        with err.status(f"asking {llm} for {n} templates"):
            gen = px.generate_prefixes(client, n, max_rounds=max_rounds)
        templates = gen.names["prefixes"]
        card = provenance(kind="prefixes", llm={"model": llm, "base_url": client.base_url}, n=n, seconds=gen.seconds,
                          rejected=gen.rejected, requests=gen.requests)
    write_yaml(out_path, {"prefixes": templates, "card": card}, force=force)
    err.print(f"wrote {out_path}: {len(templates)} templates", highlight=False)


def margins(
    neighbors: Path = typer.Option(..., "--neighbors", help="neighbors.yaml from `septctl neighbors`."),
    prefixes_path: Optional[Path] = typer.Option(None, "--prefixes", help="prefixes.yaml from `septctl prefixes`."),
    single_template: Optional[str] = typer.Option(
        None, "--single-template", help="Use this one template instead of --prefixes (SEPT-, Table 7)."
    ),
    backbone: BackboneOption = Backbone(DEFAULT_BACKBONE),
    weights: Weights = None,
    out_path: Path = typer.Option(Path("margins.safetensors"), "--out", help="Where to write the margins."),
    batch_size: int = typer.Option(256, "--batch-size", min=1, help="Sentences per forward pass."),
    device: Device = "cpu",
    force: Recompute = False,
    quiet: Quiet = False,
) -> None:
    """Compute eq. 4 margins m[i,j,n] (K x K x N) in the L2-normalized text space."""
    set_threads()
    from septctl.artifacts import provenance, read_yaml, refuse_to_replace, sha256_text
    from septctl.backbones import load_backbone
    from septctl.progress import progress_bar
    from septctl.sept import margins as mg
    from septctl.sept.neighbors import load_neighbors
    from septctl.sept.prefixes import load_prefixes, template_problem

    if (prefixes_path is None) == (single_template is None):
        raise SeptctlError("give either --prefixes FILE or --single-template 'This is a sound of {}.', not both or neither")
    ns = load_neighbors(neighbors)
    if single_template is not None:
        if (bad := template_problem(single_template)) is not None:
            raise SeptctlError(f"--single-template {single_template!r} {bad}; write it like 'This is a sound of {{}}.'")
        templates, prefixes_sha = [single_template], sha256_text(single_template)
    else:
        ps = load_prefixes(prefixes_path)
        templates, prefixes_sha = ps.templates, ps.sha256
    model = load_backbone(backbone.value, weights, device)
    meta = mg.margins_metadata(classes=ns.classes, n=ns.n, neighbors_sha256=ns.sha256, prefixes_sha256=prefixes_sha,
                               templates=templates, backbone_name=backbone.value, weights_id=model.weights_id())
    if not force and mg.is_current(out_path, meta):
        err.print(f"{out_path} is up to date (same neighbors, templates and backbone); --force recomputes it")
        return
    refuse_to_replace(out_path, force)
    rows = ns.rows()
    texts, _, _ = mg.sentence_plan(ns.classes, rows, templates)
    with progress_bar("margins", total=len(texts), enabled=not quiet) as advance:
        m = mg.compute_margins(model, ns.classes, rows, templates, batch_size=batch_size, progress=advance)
    card = provenance(kind="margins", neighbors=str(neighbors), prefixes=str(prefixes_path or ""),
                      single_template=single_template, sentences=len(texts))
    mg.save_margins(out_path, m, meta, card, force=force)
    err.print(
        f"wrote {out_path}: margins [{len(ns.classes)}, {len(ns.classes)}, {ns.n}] over {len(templates)} templates "
        f"(mean {m.mean():.4f}, own-class mean {m.diagonal().mean():.4f})",
        highlight=False,
    )
    source = (read_yaml(neighbors, "neighbors file").get("card") or {}).get("classes_from") or {}
    dataset = source.get("dataset", "DATASET") if isinstance(source, dict) else "DATASET"
    next_step(f"septctl train {shlex.quote(str(dataset))} --backbone {backbone.value} --sept --neighbors "
              f"{shlex.quote(str(neighbors))} --margins {shlex.quote(str(out_path))}", quiet)


def register(app: typer.Typer) -> None:
    app.add_typer(neighbors_app, name="neighbors", rich_help_panel=panels.SEPT)
    app.command("prefixes", rich_help_panel=panels.SEPT)(prefixes)
    app.command("margins", rich_help_panel=panels.SEPT)(margins)
