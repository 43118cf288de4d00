"""Prompt-tuning methods behind one interface (base.PromptMethod); which exist: registry.METHODS.

Torch-free on import, so the CLI can read the registry for its help and choices.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from septctl.defaults import N_CTX
from septctl.methods.registry import METHODS, method_options, spec

if TYPE_CHECKING:
    from septctl.backbones.base import Backbone
    from septctl.methods.base import PromptMethod

__all__ = ["METHODS", "build_method", "method_options"]


def build_method(name: str, backbone: Backbone, classnames: list[str], options: dict) -> PromptMethod:
    """Instantiate a method by name with its options (run.yaml's n_ctx and method_options; defaults filled in)."""
    declared = spec(name)
    kwargs = {o.key: options.get(o.key, o.default) for o in declared.options}
    return declared.load()(backbone, classnames, n_ctx=options.get("n_ctx", N_CTX), **kwargs)
