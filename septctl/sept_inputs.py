"""SEPT's input files made from names: neighbors.yaml of a dataset's classes, prefixes.yaml, margins.

`septctl neighbors`, `prefixes` and `margins` parse their options and call these; `grid-prep`
calls them too, so a grid makes the same files, with the same messages, as the commands do.
This sits above data and backbones (it resolves dataset names and loads the text encoder);
the computations themselves live in septctl/sept/.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from septctl.console import counted, err
from septctl.data.registry import find_dataset, require_dataset
from septctl.defaults import DEFAULT_TEMPLATE, IMAGE_TEMPLATE
from septctl.errors import SeptctlError
from septctl.sept.llm import ChatClient
from septctl.sept.neighbors import Generation


def _say(message: str) -> None:
    err.print(message, highlight=False)


def read_lines(path: Path, what: str) -> list[str]:
    """A text file's non-empty lines, '#' comments dropped."""
    if not path.is_file():
        raise SeptctlError(f"{path}: {what} not found; check the path")
    lines = [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines()]
    return [ln for ln in lines if ln and not ln.startswith("#")]


OR_FOLDER = "a prepared dataset folder, or --classes FILE"  # what else `neighbors` takes for a dataset name


def _target_classes(dataset: str | None, classes_file: Path | None,
                    split: str) -> tuple[list[str], dict, str | None, str | None]:
    """Class names to expand, where they came from (for the card), the registry name if any, and the
    dataset's modality (None for a class list, which does not say)."""
    if (dataset is None) == (classes_file is None):
        raise SeptctlError("give either a DATASET name or --classes FILE (one class per line), not both or neither")
    if classes_file is not None:
        from septctl.artifacts import sha256_file

        names = read_lines(classes_file, "class list")
        if not names or len(set(names)) != len(names):
            raise SeptctlError(f"{classes_file}: needs one distinct class name per line; fix the file")
        return sorted(names), {"file": str(classes_file), "sha256": sha256_file(classes_file)}, None, None
    from septctl.data.schema import select_classes

    if find_dataset(dataset) is None and Path(dataset).is_dir():  # a dataset folder: classes from its training split
        from septctl.data.layout import open_dataset

        folder = open_dataset(dataset)
        every = {r.classname for r in folder.rows("train", folder.default_fold())}
        registry_name = folder.info.name if folder.info else None
        return (select_classes(every, split, folder.class_order), {"dataset": str(folder.root), "split": split},
                registry_name, folder.modality)
    info = require_dataset(dataset, OR_FOLDER)
    return (select_classes(info.classes, split, info.class_order), {"dataset": info.name, "split": split}, info.name,
            info.modality)


def _modality(asked: str | None, dataset_modality: str | None, dataset: str | None) -> str:
    """What the neighbors are worded for: the dataset's modality; --modality for a class list (default audio)."""
    if asked is not None and dataset_modality is not None and asked != dataset_modality:
        raise SeptctlError(f"--modality {asked}: {dataset} holds {dataset_modality} data; drop --modality (it is for "
                           "--classes FILE, whose names do not say)")
    return asked or dataset_modality or "audio"


def exchange_path(out_path: Path) -> Path:
    """Where the raw replies of `out_path` go: neighbors.yaml -> neighbors.llm.json."""
    return out_path.with_suffix(".llm.json")


def _save_exchange(path: Path, client: ChatClient, gen: Generation, error: str | None) -> None:
    """Every prompt, raw reply and refused term of an LLM generation, written even when it failed."""
    from septctl.artifacts import write_json

    write_json(path, {"model": client.model, "base_url": client.base_url, "error": error, "requests": gen.requests,
                      "refused": gen.rejected})


def write_neighbors(
    out_path: Path,
    *,
    dataset: str | None = None,
    classes_file: Path | None = None,
    split: str = "base",
    n: int = 10,
    exclude_names: Path | None = None,
    connect: Callable[[], ChatClient] | None = None,
    max_rounds: int = 4,
    notify: Callable[[str], None] = lambda _msg: None,
    force: bool = False,
    echo: Callable[[str], None] = _say,
    modality: str | None = None,
) -> str:
    """N neighbors per class of a dataset (or of a class list) into neighbors.yaml; returns their modality.

    `connect` makes the LLM client (called once the classes are known); None takes the built-in bank.
    `notify` hears each re-ask of the LLM, `echo` the closing line. `modality` words the LLM's request
    (sounds or pictures): the dataset's own, so it is given only with `classes_file` (default audio).
    """
    from septctl.artifacts import provenance, sha256_file, write_yaml
    from septctl.sept import neighbors as nb

    names, source, registry_name, held = _target_classes(dataset, classes_file, split)
    modality = _modality(modality, held, dataset)
    exclude = read_lines(exclude_names, "exclude-names file") if exclude_names else []
    if connect is None:
        table = nb.from_bank(names, n, dataset=registry_name, exclude=exclude, modality=modality)
        llm_card = {"model": "builtin", "bank_sha256": sha256_file(nb.bank_path(modality))}
        extra: dict = {}
        summary = "built-in bank"
    else:
        client = connect()
        gen, raw = nb.Generation(names={}), exchange_path(out_path)
        try:
            with err.status(f"asking {client.model} for neighbors of {counted(len(names), 'class')}"):
                nb.generate_neighbors(client, names, n, exclude=exclude, max_rounds=max_rounds, record=gen,
                                      notify=notify, modality=modality)
        except SeptctlError as exc:
            _save_exchange(raw, client, gen, str(exc))
            raise SeptctlError(f"{exc} (raw replies and refused terms: {raw})") from None
        _save_exchange(raw, client, gen, None)
        table = gen.names
        llm_card = {"model": client.model, "base_url": client.base_url}
        extra = {"seconds": gen.seconds, "rejected": gen.rejected, "requests": gen.requests, "raw_replies": str(raw)}
        hits = sum(r["cached"] for r in gen.requests)
        summary = f"{client.model}, {len(gen.requests)} requests ({hits} from cache)"
    card = provenance(kind="neighbors", llm=llm_card, n=n, classes_from=source, exclude_names=exclude,
                      modality=modality, **extra)
    write_yaml(out_path, {"neighbors": {c: table[c] for c in sorted(table)}, "card": card}, force=force)
    echo(f"wrote {out_path}: {counted(len(table), 'class')} x {counted(n, 'neighbor')} ({summary})")
    return modality


def write_prefixes(
    out_path: Path,
    *,
    n: int = 100,
    connect: Callable[[], ChatClient] | None = None,
    max_rounds: int = 4,
    force: bool = False,
    echo: Callable[[str], None] = _say,
    modality: str = "audio",
) -> None:
    """T prompt templates with one {} slot into prefixes.yaml; `connect` as for write_neighbors.

    `modality` chooses sound templates ("audio") or picture templates ("image"), from the built-in
    pool of that modality or asked of the LLM in its words; the card records it."""
    from septctl.artifacts import provenance, sha256_file, write_yaml
    from septctl.sept import prefixes as px

    if connect is None:
        templates = px.template_bank(n, modality=modality)
        card = provenance(kind="prefixes", llm={"model": "builtin", "bank_sha256": sha256_file(px.bank_path(modality))},
                          n=n, modality=modality)
    else:
        client = connect()
        gen, raw = px.Generation(names={}), exchange_path(out_path)
        try:
            with err.status(f"asking {client.model} for {n} templates"):
                px.generate_prefixes(client, n, max_rounds=max_rounds, record=gen, modality=modality)
        except SeptctlError as exc:
            _save_exchange(raw, client, gen, str(exc))
            raise SeptctlError(f"{exc} (raw replies and refused templates: {raw})") from None
        _save_exchange(raw, client, gen, None)
        templates = gen.names["prefixes"]
        card = provenance(kind="prefixes", llm={"model": client.model, "base_url": client.base_url}, n=n,
                          modality=modality, seconds=gen.seconds, rejected=gen.rejected, requests=gen.requests, raw_replies=str(raw))
    write_yaml(out_path, {"prefixes": templates, "card": card}, force=force)
    echo(f"wrote {out_path}: {len(templates)} templates")


def write_margins(
    out_path: Path,
    *,
    neighbors: Path,
    prefixes: Path | None = None,
    single_template: str | None = None,
    backbone: str,
    weights: Path | None = None,
    batch_size: int = 256,
    device: str = "cpu",
    force: bool = False,
    progress: bool = True,
    echo: Callable[[str], None] = _say,
) -> bool:
    """Eq. 4 margins of a neighbors file over prefixes.yaml's templates (or one template).

    Returns False when `out_path` already holds margins of the same inputs (nothing is computed).
    Templates made for another modality than the backbone's (sound templates for CLIP on images, or
    the reverse) are used as given, with a warning: a hand-made file may mean it.
    """
    from septctl.artifacts import provenance, refuse_to_replace, sha256_text
    from septctl.backbones import load_backbone
    from septctl.progress import progress_bar
    from septctl.sept import margins as mg
    from septctl.sept.neighbors import load_neighbors
    from septctl.sept.prefixes import load_prefixes, template_problem

    if (prefixes is None) == (single_template is None):
        raise SeptctlError(f"give either --prefixes FILE or --single-template {DEFAULT_TEMPLATE!r} (or "
                           f"{IMAGE_TEMPLATE!r} for an image backbone), not both or neither")
    ns = load_neighbors(neighbors)
    if single_template is not None:
        if (bad := template_problem(single_template)) is not None:
            raise SeptctlError(f"--single-template {single_template!r} {bad}; write it like {DEFAULT_TEMPLATE!r} "
                               f"or {IMAGE_TEMPLATE!r}")
        templates, prefixes_sha = [single_template], sha256_text(single_template)
    else:
        ps = load_prefixes(prefixes)
        templates, prefixes_sha = ps.templates, ps.sha256
    model = load_backbone(backbone, weights, device)
    if prefixes is not None and ps.modality != model.modality:
        echo(f"warning: {prefixes}: its templates are {ps.modality} templates, but {backbone} is an {model.modality} "
             f"backbone; for its own, run `septctl prefixes --llm builtin --modality {model.modality}`")
    meta = mg.margins_metadata(classes=ns.classes, n=ns.n, neighbors_sha256=ns.sha256, prefixes_sha256=prefixes_sha,
                               templates=templates, backbone_name=backbone, weights_id=model.weights_id())
    if not force and mg.is_current(out_path, meta):
        echo(f"{out_path} is up to date (same neighbors, templates and backbone); --force recomputes it")
        return False
    refuse_to_replace(out_path, force)
    rows = ns.rows()
    texts, _, _ = mg.sentence_plan(ns.classes, rows, templates)
    with progress_bar("margins", total=len(texts), enabled=progress) as advance:
        m = mg.compute_margins(model, ns.classes, rows, templates, batch_size=batch_size, progress=advance)
    card = provenance(kind="margins", neighbors=str(neighbors), prefixes=str(prefixes or ""),
                      single_template=single_template, sentences=len(texts))
    mg.save_margins(out_path, m, meta, card, force=force)
    echo(f"wrote {out_path}: margins [{len(ns.classes)}, {len(ns.classes)}, {ns.n}] over {len(templates)} templates "
         f"(mean {m.mean():.4f}, own-class mean {m.diagonal().mean():.4f})")
    return True
