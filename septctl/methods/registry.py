"""The prompt-tuning methods septctl knows: one entry each, torch-free (read by `--help`).

An entry names the class that implements the method (imported only when a run is built)
and the options it takes beyond the shared ones (`n_ctx`), each with its CLI flag, default
and help. The option key is both the constructor keyword and the key in run.yaml's
`method_options`, where every default is written out so a card says exactly what ran.
Adding a method is one module with its class plus one entry here, or a plug-in package
that registers its MethodSpec (septctl/plugins.py), merged at the end of this module.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from septctl.backbones.registry import resolve
from septctl.defaults import DEFAULT_TEMPLATE
from septctl import plugins
from septctl.errors import SeptctlError


@dataclass(frozen=True)
class MethodOption:
    key: str
    flag: str
    default: Any
    help: str
    parse: Callable[[Any], Any] = lambda value: value  # a given value -> what the run stores
    kind: type | None = None  # the flag's value type (default: the default's type)

    @property
    def flag_type(self) -> type:
        return self.kind or type(self.default)


ZERO_SHOT_FALLBACK = "zero-shot with its hand-written prompt"


@dataclass(frozen=True)
class MethodSpec:
    name: str
    target: str  # "module:Class"
    summary: str
    options: tuple[MethodOption, ...] = ()
    # training settings its reference sets where they differ from the shared ones (lr, epochs, batch_size,
    # weight_decay): `train` and `grid` use them unless told otherwise, and run.yaml records what ran
    train_defaults: dict[str, Any] = field(default_factory=dict)
    unseen: str | None = "its learned prompt"  # how it scores classes it did not train on; None: it cannot
    sept_refusal: str | None = None  # why --sept does not apply to it (None: it does)

    def load(self) -> type:
        return resolve(self.target)


def _chunk(value: int) -> int:
    if value < 0:
        raise SeptctlError(f"--cocoop-chunk {value}: give clips per chunk (0 = the whole batch at once)")
    return int(value)


def _templates(path: Any) -> list[str]:
    """A prefixes.yaml read once and stored as its list, so the run does not depend on the file later."""
    from septctl.sept.prefixes import load_prefixes

    return load_prefixes(Path(path)).templates



METHODS: dict[str, MethodSpec] = {spec.name: spec for spec in (
    MethodSpec("coop", "septctl.methods.coop:CoOp", "M context vectors shared by all classes"),
    MethodSpec("cocoop", "septctl.methods.cocoop:CoCoOp", "CoOp plus a per-clip bias from a small meta-net", (
        MethodOption("chunk", "--cocoop-chunk", 8,
                     "CoCoOp: clips per text-tower chunk, bounds memory (0 = whole batch).", _chunk),
    )),
    MethodSpec("kgcoop", "septctl.methods.kgcoop:KgCoOp", "CoOp pulled towards the hand-written prompt", (
        MethodOption("kg_weight", "--kg-weight", 8.0,
                     "KgCoOp: weight W on 1 - cos (KgCoOp's base-to-new runs; DePT's repo used 2.0).", float),
        MethodOption("kg_templates", "--kg-templates", [DEFAULT_TEMPLATE],
                     "KgCoOp: prefixes.yaml whose templates are averaged (KgCoOp-dagger).", _templates, Path),
    )),
    MethodSpec("dept", "septctl.methods.dept:DePT", "CoOp plus a base-class head on FiLM-ed features", (
        MethodOption("dept_fusion", "--dept-fusion", False,
                     "DePT: fuse head and cosine logits on base classes (paper: off).", bool),
    ), unseen="its learned prompt's cosine logits (the head knows only its trained classes)"),
    MethodSpec("palm", "septctl.methods.palm:PALM",
               "a learned vector per class mixed into its bare-name text feature (PALM, lr 0.05)",
               train_defaults={"lr": 0.05},
               unseen="its bare-name text feature, i.e. zero-shot with the prompt '{name}' (no learned vector)",
               sept_refusal="PALM learns no shared prompt, only one vector per training class, so a class it did not "
                            "train on is always its bare-name feature and SEPT cannot change it (docs/methods.md)"),
    MethodSpec("linear-probe", "septctl.methods.linear_probe:LinearProbe",
               "logistic regression on the audio features (CoOp's baseline), C chosen on held-out shots",
               unseen=None, sept_refusal="the linear probe uses no text features, so SEPT's loss has nothing to act on"),
    MethodSpec("tip-adapter", "septctl.methods.tip_adapter:TipAdapter",
               "zero-shot plus a training-free cache of the shots; alpha, beta searched on the shots",
               unseen=ZERO_SHOT_FALLBACK, sept_refusal="Tip-Adapter learns no prompt (its text features are "
                                                       "zero-shot's), so SEPT's loss has nothing to act on"),
    MethodSpec("tip-adapter-f", "septctl.methods.tip_adapter:TipAdapterF",
               "Tip-Adapter with its cache keys fine-tuned (AdamW lr 0.001, 20 epochs, batch 256)",
               train_defaults={"lr": 0.001, "epochs": 20, "batch_size": 256, "weight_decay": 0.01},
               unseen=ZERO_SHOT_FALLBACK, sept_refusal="Tip-Adapter-F learns cache keys, not a prompt (its text "
                                                       "features are zero-shot's), so SEPT's loss has nothing to act on"),
)}


def spec(name: str) -> MethodSpec:
    if name not in METHODS:
        raise SeptctlError(f"unknown baseline {name!r}; choose one of {', '.join(METHODS)}")
    return METHODS[name]


def option(key: str) -> MethodOption:
    """The declaration of `key`, for the CLI's help text."""
    return next(o for o in all_options() if o.key == key)


def all_options() -> list[MethodOption]:
    """Every method's own options, in registry order (`train` gets one flag each)."""
    return [o for s in METHODS.values() for o in s.options]


def method_options(name: str, given: dict) -> dict:
    """The run's method_options from the flags the user gave (None / False = not given), defaults written out."""
    own = {o.key: o for o in spec(name).options}
    for key, value in given.items():
        if value not in (None, False) and key not in own:
            owner = next(s.name for s in METHODS.values() for o in s.options if o.key == key)
            raise SeptctlError(f"{option(key).flag} applies to --baseline {owner}, not {name}; drop it")
    return {key: copy.copy(o.default) if given.get(key) is None else o.parse(given[key]) for key, o in own.items()}


def _new_options(declared: MethodSpec) -> None:
    """A plug-in's options may not reuse a key or flag another method declares (each is one `train` flag)."""
    taken = {name for o in all_options() for name in (o.key, o.flag)}
    if clash := [o.flag for o in declared.options if o.key in taken or o.flag in taken]:
        raise ValueError(f"option {clash[0]} is already declared by another method")


plugins.merge(METHODS, "septctl.methods", MethodSpec, check=_new_options)
