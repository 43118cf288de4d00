"""docs/extending.md's in-tree recipes: one module per thing plus one registry line, nothing else edited.

The modules are the example plug-in's (examples/plugin/septctl_toy: a method `ScaledCoOp`, a backbone
`load_wide_tiny`, a dataset `toy_tones`), so both routes add the very same code; here they are named
by registry lines instead of entry points (tests/test_extending.py; tests/test_plugins.py takes the
entry-point route).

Run as `python -m tests.extending_example CMD ARGS [--then CMD ARGS ...]`: it loads the three
registries with those lines added, then runs each septctl command line in turn.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

PLUGIN = Path(__file__).resolve().parents[1] / "examples" / "plugin"  # the modules, importable as septctl_toy

# The one line each recipe adds to its registry (the dataset's also names the module in the import above it).
EDITS = {
    "septctl.backbones.registry": ('SPECS: dict[str, BackboneSpec] = {s.name: s for s in (\n',
                                   'SPECS: dict[str, BackboneSpec] = {s.name: s for s in (\n'
                                   '    BackboneSpec("wide-tiny", "septctl_toy.backbone:load_wide_tiny", embed_dim=48, '
                                   'token_dim=32, sample_rate=16000, clip_seconds=2.0, text_len=40, '
                                   'source=WeightsSource("none", notes="random")),\n'),
    "septctl.methods.registry": ('METHODS: dict[str, MethodSpec] = {spec.name: spec for spec in (\n',
                                 'METHODS: dict[str, MethodSpec] = {spec.name: spec for spec in (\n'
                                 '    MethodSpec("scaled-coop", "septctl_toy.method:ScaledCoOp", "CoOp, larger start", '
                                 '(MethodOption("init_scale", "--init-scale", 1.0, "Scaled CoOp: context scale.", float),)),\n'),
    "septctl.data.registry": ("RELEASE_MODULES: tuple[ModuleType, ...] = (",
                              "from septctl_toy import toy_tones\n"
                              "RELEASE_MODULES: tuple[ModuleType, ...] = (toy_tones, "),
}


def _load_edited(name: str, old: str, new: str) -> None:
    """Import registry `name` from its source with `old` replaced, before anything imports it (its package
    included: find_spec would import the package, and with it the unedited registry)."""
    import septctl

    path = Path(septctl.__file__).parent.joinpath(*name.split(".")[1:]).with_suffix(".py")
    source = path.read_text(encoding="utf-8")
    assert source.count(old) == 1, f"{path} no longer has {old!r}: update tests/extending_example.py"
    module = importlib.util.module_from_spec(importlib.util.spec_from_file_location(name, path))
    sys.modules[name] = module
    exec(compile(source.replace(old, new), str(path), "exec"), module.__dict__)  # noqa: S102 (our own source)


def main(argv: list[str]) -> int:
    sys.path.insert(0, str(PLUGIN))
    for name, (old, new) in EDITS.items():
        _load_edited(name, old, new)
    from septctl.cli.main import app

    command: list[str] = []
    for arg in [*argv, "--then"]:
        if arg != "--then":
            command.append(arg)
            continue
        print(f"$ septctl {' '.join(command)}", flush=True)
        code = app(args=command, standalone_mode=False)
        if code:
            return code
        command = []
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
