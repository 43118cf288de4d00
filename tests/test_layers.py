"""The layers: cli -> engine, methods, backbones, sept, data -> artifacts; nothing below cli/ reaches up into it."""

from __future__ import annotations

import ast
from pathlib import Path

import septctl

PACKAGE = Path(septctl.__file__).parent


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_no_module_below_the_cli_imports_it():
    below = [p for p in PACKAGE.rglob("*.py") if "cli" not in p.relative_to(PACKAGE).parts and p.name != "__main__.py"]
    assert len(below) > 40
    offenders = {str(p.relative_to(PACKAGE)): sorted(m for m in _imports(p) if m == "septctl.cli" or m.startswith("septctl.cli."))
                 for p in below}
    assert {k: v for k, v in offenders.items() if v} == {}


def test_generic_weights_code_imports_no_backbone():
    """weights.py is shared loading code: no backbone module may be imported from it (lazily either)."""
    from septctl.backbones.registry import SPECS

    imported = _imports(PACKAGE / "backbones" / "weights.py")
    backbone_modules = {s.factory.split(":")[0] for s in SPECS.values()}
    assert not imported & backbone_modules, imported & backbone_modules
