"""Prompt-tuning methods behind one interface (base.PromptMethod)."""

from __future__ import annotations

from pathlib import Path

from septctl.backbones.base import Backbone
from septctl.errors import SeptctlError
from septctl.methods.base import PromptMethod

METHODS = ("coop", "cocoop", "kgcoop", "dept")

# Method-specific CLI flags: method -> {option key in TrainConfig.method_options: flag}.
FLAGS = {
    "cocoop": {"chunk": "--cocoop-chunk"},
    "kgcoop": {"kg_weight": "--kg-weight", "kg_templates": "--kg-templates"},
    "dept": {"dept_fusion": "--dept-fusion"},
}


def method_options(name: str, given: dict) -> dict:
    """The run's method_options from the flags the user gave (None / False = not given).

    Defaults are written out, so run.yaml says exactly what ran; a template file is
    read here and stored as its list, so a run does not depend on the file later.
    """
    if name not in METHODS:
        raise SeptctlError(f"unknown baseline {name!r}; choose one of {', '.join(METHODS)}")
    own = FLAGS.get(name, {})
    for key, value in given.items():
        if value not in (None, False) and key not in own:
            owner = next(m for m, flags in FLAGS.items() if key in flags)
            raise SeptctlError(f"{FLAGS[owner][key]} applies to --baseline {owner}, not {name}; drop it")
    if name == "cocoop":
        chunk = given.get("chunk")
        if chunk is not None and chunk < 0:
            raise SeptctlError(f"--cocoop-chunk {chunk}: give clips per chunk (0 = the whole batch at once)")
        return {"chunk": 8 if chunk is None else int(chunk)}
    if name == "kgcoop":
        from septctl.methods.kgcoop import DEFAULT_WEIGHT
        from septctl.methods.zeroshot import DEFAULT_TEMPLATE

        path = given.get("kg_templates")
        templates = [DEFAULT_TEMPLATE]
        if path is not None:
            from septctl.sept.prefixes import load_prefixes

            templates = load_prefixes(Path(path)).templates
        weight = given.get("kg_weight")
        return {"kg_weight": DEFAULT_WEIGHT if weight is None else float(weight), "kg_templates": templates}
    if name == "dept":
        return {"dept_fusion": bool(given.get("dept_fusion"))}
    return {}


def build_method(name: str, backbone: Backbone, classnames: list[str], options: dict) -> PromptMethod:
    """Instantiate a method by name with its options (from the run config)."""
    n_ctx = options.get("n_ctx", 16)
    if name == "coop":
        from septctl.methods.coop import CoOp

        return CoOp(backbone, classnames, n_ctx=n_ctx)
    if name == "cocoop":
        from septctl.methods.cocoop import CoCoOp

        return CoCoOp(backbone, classnames, n_ctx=n_ctx, chunk=options.get("chunk", 8))
    if name == "kgcoop":
        from septctl.methods.kgcoop import DEFAULT_WEIGHT, KgCoOp

        return KgCoOp(backbone, classnames, n_ctx=n_ctx, weight=options.get("kg_weight", DEFAULT_WEIGHT),
                      templates=options.get("kg_templates"))
    if name == "dept":
        from septctl.methods.dept import DePT

        return DePT(backbone, classnames, n_ctx=n_ctx, fusion=options.get("dept_fusion", False))
    raise SeptctlError(f"unknown baseline {name!r}; choose one of {', '.join(METHODS)}")
