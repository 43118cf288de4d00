"""The layers: cli -> grid, report, predict -> engine -> methods, embed, sept_inputs -> backbones -> data -> sept -> artifacts.

Every import counts, the lazy ones inside functions included: a lazy import hides a cycle
from Python at start-up, not from a reader.
"""

from __future__ import annotations

import ast
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import pytest

import septctl

PACKAGE = Path(septctl.__file__).parent

# Lowest first. A module may import its own layer and those below, never one above.
# The most specific prefix decides a module's layer (septctl.engine.config sits below septctl.engine).
LAYERS = (
    ("septctl", "septctl.errors", "septctl.paths", "septctl.defaults", "septctl.console", "septctl.devices",
     "septctl.filecheck", "septctl.plugins"),
    ("septctl.progress", "septctl.artifacts"),
    ("septctl.sept",),  # neighbors, prefixes, margins, the loss and the LLM client: a model is passed in
    ("septctl.data",),
    ("septctl.backbones",),
    ("septctl.methods", "septctl.embed", "septctl.sept_inputs"),  # sept_inputs: SEPT's files from dataset names
    ("septctl.engine.config", "septctl.engine.compile", "septctl.runs"),
    ("septctl.engine",),
    ("septctl.verify", "septctl.report", "septctl.grid", "septctl.predict"),  # predict: a run (engine) applied to files
    ("septctl.cli", "septctl.__main__"),
)


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


MODULES = _modules()


def _imports(path: Path) -> set[str]:
    """The septctl modules `path` imports anywhere in its body (`from a import b` counts as a.b when b is a module)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.update(f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in MODULES else node.module
                         for a in node.names)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return {n for n in names if n == "septctl" or n.startswith("septctl.")}


GRAPH = {name: _imports(path) - {name} for name, path in MODULES.items()}


def _layer(module: str) -> int:
    matches = [(len(prefix), rank) for rank, layer in enumerate(LAYERS) for prefix in layer
               if module == prefix or module.startswith(prefix + ".")]
    assert matches, f"{module} is in no layer: add it to LAYERS in tests/test_layers.py"
    return max(matches)[1]


def test_the_graph_is_the_package():
    assert len(MODULES) > 60
    assert "septctl.engine.train" in GRAPH["septctl.engine.packed"]  # `from septctl.engine.train import ...`
    assert "septctl.sept.neighbors" in GRAPH["septctl.cli.sept"]  # lazy, and `from septctl.sept import neighbors`


def test_no_import_cycle():
    try:
        TopologicalSorter(GRAPH).prepare()
    except CycleError as exc:
        pytest.fail(f"import cycle: {' -> '.join(exc.args[1])}")


def test_no_upward_import():
    upward = sorted(f"{module} imports {dep}" for module, deps in GRAPH.items() for dep in deps
                    if _layer(dep) > _layer(module))
    assert upward == []


def test_a_cycle_and_an_upward_import_would_be_caught():
    with pytest.raises(CycleError):
        TopologicalSorter({**GRAPH, "septctl.errors": {"septctl.artifacts"}}).prepare()
    assert _layer("septctl.engine.train") > _layer("septctl.methods.coop") > _layer("septctl.artifacts")


def test_generic_weights_code_imports_no_backbone():
    """weights.py is shared loading code: no backbone module may be imported from it (lazily either)."""
    from septctl.backbones.registry import SPECS

    backbone_modules = {s.factory.split(":")[0] for s in SPECS.values()}
    assert not GRAPH["septctl.backbones.weights"] & backbone_modules


def test_no_module_takes_a_name_from_the_front_door():
    """septctl/__init__.py re-exports names of every layer, each imported on first use (its table is strings, so
    the graph above does not see it); a module of the package that took one from there would depend on a layer
    above it unseen. Modules import a name from the module that defines it."""
    used = sorted(f"{module} imports septctl.{alias.name}" for module, path in MODULES.items()
                  for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
                  if isinstance(node, ast.ImportFrom) and node.module == "septctl"
                  for alias in node.names if alias.name in septctl._EXPORTS)
    assert used == []
