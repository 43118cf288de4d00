"""What a user writes to extend septctl, as docs/extending.md tells it: one module per thing.

Here one file plays all three modules (tests/test_extending.py adds each with the one registry
line the recipe names):
- a method: `ScaledCoOp`, CoOp whose context starts `init_scale` times larger;
- a backbone: `load_wide_tiny`, the tiny architecture with a wider embedding;
- a dataset: `DATASETS` and `plan`, a release with one folder of WAVs per class.

Run as `python -m tests.extending_example CMD ARGS [--then CMD ARGS ...]`: it loads the three
registries with those lines added, then runs each septctl command line in turn.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from septctl.data.preparers.base import Plan
from septctl.data.schema import DatasetInfo, Release, Row
from septctl.defaults import N_CTX

DATASETS = (
    DatasetInfo("toy-tones", "ToyTones", "toy tone classification", ("beep", "boop", "buzz", "hum"), 1,
                release=Release("https://example.org/toy-tones", "unzip it; --source is the folder of class folders")),
)


def plan(source: Path, name: str = "toy-tones") -> Plan:
    """The first two files of each class folder train, the rest test."""
    result = Plan(source_meta="class folders")
    for split in ("train", "test"):
        result.splits[f"{split}.csv"] = []
    for folder in sorted(p for p in source.iterdir() if p.is_dir()):
        for i, wav in enumerate(sorted(folder.glob("*.wav"))):
            rel = f"audios/{folder.name}/{wav.name}"
            result.files[rel] = wav
            result.splits["train.csv" if i < 2 else "test.csv"].append(Row(rel, folder.name))
    return result


def load_wide_tiny(weights: object = None):
    from septctl.backbones.tiny import TinyBackbone

    backbone = TinyBackbone(embed_dim=48)
    backbone.name = "wide-tiny"
    return backbone


def _scaled_coop():
    from septctl.methods.coop import CoOp

    class ScaledCoOp(CoOp):
        def __init__(self, backbone, classnames, n_ctx: int = N_CTX, init_scale: float = 1.0, logit_scale=100.0):
            super().__init__(backbone, classnames, n_ctx, logit_scale)
            self.ctx.data *= init_scale

    return ScaledCoOp


def __getattr__(name: str):
    if name == "ScaledCoOp":  # built on first use: importing septctl.methods.coop loads torch
        return _scaled_coop()
    raise AttributeError(name)


# The one line each recipe adds to its registry (the dataset's also names the module in the import above it).
EDITS = {
    "septctl.backbones.registry": ('SPECS: dict[str, BackboneSpec] = {s.name: s for s in (\n',
                                   'SPECS: dict[str, BackboneSpec] = {s.name: s for s in (\n'
                                   '    BackboneSpec("wide-tiny", "tests.extending_example:load_wide_tiny", embed_dim=48, '
                                   'token_dim=32, sample_rate=16000, clip_seconds=2.0, text_len=40, '
                                   'source=WeightsSource("none", notes="random")),\n'),
    "septctl.methods.registry": ('METHODS: dict[str, MethodSpec] = {spec.name: spec for spec in (\n',
                                 'METHODS: dict[str, MethodSpec] = {spec.name: spec for spec in (\n'
                                 '    MethodSpec("scaled-coop", "tests.extending_example:ScaledCoOp", "CoOp, larger start", '
                                 '(MethodOption("init_scale", "--init-scale", 1.0, "Scaled CoOp: context scale.", float),)),\n'),
    "septctl.data.registry": ("RELEASE_MODULES: tuple[ModuleType, ...] = (",
                              "from tests import extending_example\n"
                              "RELEASE_MODULES: tuple[ModuleType, ...] = (extending_example, "),
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
