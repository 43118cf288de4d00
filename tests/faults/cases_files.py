"""Hand-edited YAML (neighbors, prefixes, run.yaml, metrics.yaml): refused naming file, key and item."""

from __future__ import annotations

from pathlib import Path

import yaml

from tests.faults.table import Case

DEEP = 100_000


def neighbors_text(world) -> str:
    return world.neighbors.read_text(encoding="utf-8")


def first_class(world) -> str:
    return sorted(world.base)[0]


# --- neighbors files: each returns (file text, what the line must name) --------------------------

def nb_duplicate_class(world):
    c = first_class(world)
    return neighbors_text(world) + f"  {c}:\n  - a\n  - b\n", ("appears twice", c)


def nb_duplicate_top(world):
    return neighbors_text(world) + "neighbors: {}\n", ("'neighbors' appears twice",)


def nb_no_item(world):
    c = first_class(world)
    return neighbors_text(world).replace(f"- loud {c}", "- no", 1), ("item 2", "False", "quote it")


def nb_yes_item(world):
    c = first_class(world)
    return neighbors_text(world).replace(f"- loud {c}", "- yes", 1), ("item 2", "True")


def nb_number_item(world):
    c = first_class(world)
    return neighbors_text(world).replace(f"- loud {c}", "- 3.25", 1), ("item 2", "3.25", "a float")


def nb_null_item(world):
    c = first_class(world)
    return neighbors_text(world).replace(f"- loud {c}", "- ~", 1), ("item 2", "empty")


def nb_blank_item(world):
    c = first_class(world)
    return neighbors_text(world).replace(f"- loud {c}", "- '  '", 1), ("item 2", "blank")


def nb_own_class(world):
    c = first_class(world)
    return neighbors_text(world).replace(f"- loud {c}", f"- {c.upper()}", 1), ("its own class", "item 2")


def nb_other_class(world):
    c, other = sorted(world.base)[:2]
    return neighbors_text(world).replace(f"- loud {c}", f"- {other.replace(' ', '_')}", 1), (f"the class {other!r}",)


def nb_list_top(world):
    return "- neighbors\n- dog\n", ("no `neighbors:` mapping",)


def nb_mapping_items(world):
    c = first_class(world)
    return neighbors_text(world).replace(f"  {c}:\n", f"  {c}:\n    x: 1\n  {c} 2:\n", 1), ("neighbors of",)


def nb_deep_flow(world):
    return "neighbors: " + "[" * DEEP + "]" * DEEP + "\n", ("nested deeper than 64",)


def nb_deep_block(world):
    return "neighbors:\n" + "".join(" " * i + "- \n" for i in range(2, 300)) + " " * 300 + "- x\n", ("nested deeper",)


def nb_alias_bomb(world):
    """Billion laughs: aliases are shared, not expanded, so this stays small; its shape is refused."""
    lines = ["l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]" for i in range(1, 9)]
    return "\n".join(lines) + "\nneighbors: *l8\n", ("no `neighbors:` mapping",)


def nb_tab_indent(world):
    return neighbors_text(world).replace("  - ", "\t- ", 1), ("not valid UTF-8 YAML",)


def nb_utf16(world):
    return neighbors_text(world).encode("utf-16"), ("not valid UTF-8 YAML",)


def nb_mapping_key_list(world):
    return "neighbors:\n  ? [a, b]\n  : [c, d]\n", ("mapping key",)


def nb_python_tag(world):
    return "neighbors: !!python/object/apply:os.system ['true']\n", ("not valid UTF-8 YAML",)


NEIGHBORS = [nb_duplicate_class, nb_duplicate_top, nb_no_item, nb_yes_item, nb_number_item, nb_null_item, nb_blank_item,
             nb_own_class, nb_other_class, nb_list_top, nb_mapping_items, nb_deep_flow, nb_deep_block, nb_alias_bomb,
             nb_tab_indent, nb_utf16, nb_mapping_key_list, nb_python_tag]


def _write(path: Path, body) -> Path:
    path.write_bytes(body if isinstance(body, bytes) else body.encode("utf-8"))
    return path


def neighbor_commands(world, f: Path, tmp_path: Path) -> dict[str, list]:
    return {
        "margins": ["margins", "--neighbors", f, "--single-template", "a {}", "--backbone", "tiny",
                    "--out", tmp_path / "m.safetensors"],
        "stats": ["neighbors", "stats", f, "--backbone", "tiny"],
        "train": ["train", "--backbone", "tiny", world.data, "--epochs", "1", "--shots", "1", "--out", tmp_path / "r",
                  "-q", "--sept", "--neighbors", f, "--margins", world.margins],
    }


def _neighbors_case(bad, command: str) -> Case:
    def make(world, tmp_path):
        body, names = bad(world)
        f = _write(tmp_path / "neighbors.yaml", body)
        return neighbor_commands(world, f, tmp_path)[command], ("neighbors.yaml", *names)

    return Case(f"yaml-{bad.__name__.replace('_', '-')}-{command}", make)


# --- prefixes files ------------------------------------------------------------------------------

PREFIXES = {
    "no-item": ("prefixes:\n- a sound of {}.\n- no\n", ("item 2", "False")),
    "number-item": ("prefixes:\n- a sound of {}.\n- 12\n", ("item 2", "12")),
    "duplicate-key": ("prefixes:\n- a sound of {}.\nprefixes:\n- the {} sound.\n", ("'prefixes' appears twice",)),
    "deep": ("prefixes: " + "[" * DEEP + "]" * DEEP + "\n", ("nested deeper",)),
    "mapping": ("prefixes: {a: 1}\n", ("prefixes",)),
}


def _prefixes_case(name: str) -> Case:
    def make(world, tmp_path):
        body, names = PREFIXES[name]
        f = _write(tmp_path / "prefixes.yaml", body)
        return (["margins", "--neighbors", world.neighbors, "--prefixes", f, "--backbone", "tiny",
                 "--out", tmp_path / "m.safetensors"], ("prefixes.yaml", *names))

    return Case(f"yaml-prefixes-{name}", make)


# --- run.yaml and metrics.yaml -------------------------------------------------------------------

def _card(world) -> dict:
    return yaml.safe_load((world.run / "run.yaml").read_text(encoding="utf-8"))


def metrics_entry(world, **change) -> dict:
    card = _card(world)
    entry = {"dataset": card["dataset"], "fold": 0, "classes": "base", "accuracy": 50.0}
    return {"evaluations": {"synth/fold0/base": {**entry, **change}}}


METRICS = {
    "list": lambda w: yaml.safe_dump([1, 2]),
    "evaluations-list": lambda w: yaml.safe_dump({"evaluations": [metrics_entry(w)["evaluations"]["synth/fold0/base"]]}),
    "entry-string": lambda w: yaml.safe_dump({"evaluations": {"x": "high"}}),
    "accuracy-1e9": lambda w: yaml.safe_dump(metrics_entry(w, accuracy=1e9)),
    "accuracy-negative": lambda w: yaml.safe_dump(metrics_entry(w, accuracy=-3.0)),
    "accuracy-nan": lambda w: yaml.safe_dump(metrics_entry(w, accuracy=float("nan"))),
    "accuracy-inf": lambda w: yaml.safe_dump(metrics_entry(w, accuracy=float("inf"))),
    "accuracy-string": lambda w: yaml.safe_dump(metrics_entry(w, accuracy="97%")),
    "accuracy-bool": lambda w: yaml.safe_dump(metrics_entry(w, accuracy=True)),
    "accuracy-missing": lambda w: yaml.safe_dump({"evaluations": {"k": {"dataset": "synth", "classes": "base"}}}),
    "fold-string": lambda w: yaml.safe_dump(metrics_entry(w, fold="one")),
    "fold-float": lambda w: yaml.safe_dump(metrics_entry(w, fold=1.5)),
    "dataset-number": lambda w: yaml.safe_dump(metrics_entry(w, dataset=3)),
    "classes-list": lambda w: yaml.safe_dump(metrics_entry(w, classes=["base"])),
    "duplicate-key": lambda w: yaml.safe_dump(metrics_entry(w)).replace("evaluations:", "evaluations: {}\nevaluations:", 1),
    "deep": lambda w: "evaluations: " + "{a: " * 2000 + "1" + "}" * 2000 + "\n",
}


def _metrics_case(name: str, command: str) -> Case:
    def make(world, tmp_path):
        run = world.copy_run(tmp_path / "run")
        _write(run / "metrics.yaml", METRICS[name](world))
        args = {"report": ["report", run], "verify": ["verify", run]}[command]
        return args, ("metrics.yaml",)

    return Case(f"yaml-metrics-{name}-{command}", make)


def _set(card: dict, dotted: str, value) -> dict:
    *parents, last = dotted.split(".")
    node = card
    for p in parents:
        node = node[p]
    node[last] = value
    return card


RUNS = {
    "list": (lambda w: yaml.safe_dump([_card(w)]), ("must be a mapping",)),
    "seed-string": (lambda w: yaml.safe_dump(_set(_card(w), "config.seed", "seven")), ("config.seed", "'seven'")),
    "seed-quoted-number": (lambda w: yaml.safe_dump(_set(_card(w), "config.seed", "7")), ("config.seed", "'7'")),
    "seed-bool": (lambda w: yaml.safe_dump(_set(_card(w), "config.seed", True)), ("config.seed",)),
    "seed-float": (lambda w: yaml.safe_dump(_set(_card(w), "config.seed", 0.5)), ("config.seed",)),
    "fold-string": (lambda w: yaml.safe_dump(_set(_card(w), "fold", "all")), ("fold",)),
    "shots-string": (lambda w: yaml.safe_dump(_set(_card(w), "config.shots", "16")), ("config.shots",)),
    "config-list": (lambda w: yaml.safe_dump(_set(_card(w), "config", [1])), ("config must be a mapping",)),
    "dataset-list": (lambda w: yaml.safe_dump(_set(_card(w), "dataset", ["synth"])), ("dataset must be a name",)),
    "duplicate-status": (lambda w: yaml.safe_dump(_card(w)) + "status: complete\n", ("'status' appears twice",)),
    "deep": (lambda w: yaml.safe_dump(_card(w)) + "x: " + "[" * DEEP + "]" * DEEP + "\n", ("nested deeper",)),
    "method-unknown": (lambda w: yaml.safe_dump(_set(_card(w), "config.method", "maple")), ("config.method", "'maple'")),
    "method-option-misspelt": (lambda w: yaml.safe_dump(_set(_card(w), "config.method_options", {"kg_wieght": 2.0})),
                               ("config.method_options.kg_wieght",)),
    "method-options-list": (lambda w: yaml.safe_dump(_set(_card(w), "config.method_options", [1])),
                            ("config.method_options must be a mapping",)),
    "compiled-unknown": (lambda w: yaml.safe_dump(_set(_card(w), "compiled", "fast")), ("compiled", "'fast'")),
}


def _run_case(name: str, command: str) -> Case:
    def make(world, tmp_path):
        run = world.copy_run(tmp_path / "run")
        body, names = RUNS[name]
        _write(run / "run.yaml", body(world))
        args = {"report": ["report", run], "eval": ["eval", run, "--classes", "base"]}[command]
        return args, ("run.yaml", *names)

    return Case(f"yaml-run-{name}-{command}", make)


CASES = ([_neighbors_case(b, c) for b in NEIGHBORS for c in ("margins", "stats", "train")]
         + [_prefixes_case(n) for n in PREFIXES]
         + [_metrics_case(n, c) for n in METRICS for c in ("report", "verify")]
         + [_run_case(n, c) for n in RUNS for c in ("report", "eval")])
