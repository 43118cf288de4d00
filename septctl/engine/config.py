"""A training run's whole configuration, stored in run.yaml and compared on resume."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields

from septctl.defaults import DEFAULT_BACKBONE, N_CTX
from septctl.errors import SeptctlError

# option -> (smallest allowed value, whether the bound itself is allowed); every value must be finite
_BOUNDS = {"shots": (1, True), "epochs": (1, True), "n_ctx": (1, True), "batch_size": (1, True), "lr": (0, False),
           "momentum": (0, True), "weight_decay": (0, True), "logit_scale": (0, False)}
_SEPT_BOUNDS = {"lam": (0, True), "neighbor_subset": (0, True)}
MAX_SEED = 2**32 - 1  # numpy's legacy seeding (the crop and sampling draws) takes no more


def _check(option: str, value: float, low: float, inclusive: bool) -> None:
    ok = isinstance(value, (int, float)) and math.isfinite(value) and (value >= low if inclusive else value > low)
    if not ok:
        bound = f">= {low}" if inclusive else f"> {low}"
        raise SeptctlError(f"--{option.replace('_', '-')} {value!r}: must be a finite number {bound}")


@dataclass
class SeptOptions:
    neighbors: str  # neighbors.yaml
    margins: str  # margins.safetensors
    lam: float = 3.0
    intra: bool = True
    inter: bool = True
    intra_margin: bool = True
    inter_margin: bool = True
    neighbor_subset: int = 0  # >0: a random subset of neighbors per step (inexact, faster)


@dataclass
class TrainConfig:
    dataset: str
    backbone: str = DEFAULT_BACKBONE
    weights: str | None = None
    method: str = "coop"
    method_options: dict = field(default_factory=dict)
    classes: str = "base"  # base | all
    fold: int | None = None
    shots: int = 16
    seed: int = 0
    epochs: int = 50
    lr: float = 0.0125  # paper, Appendix A
    momentum: float = 0.9  # paper
    weight_decay: float = 0.0  # PALM (the paper is silent)
    batch_size: int = 16  # PALM (the paper is silent)
    n_ctx: int = N_CTX
    logit_scale: float = 100.0
    crop: str = "seeded"
    reference_dropout: bool = False
    device: str = "cpu"
    data_root: str | None = None
    sept: SeptOptions | None = None

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        d = dict(d)
        if d.get("sept"):
            d["sept"] = SeptOptions(**d["sept"])
        return cls(**d)

    def validate(self) -> None:
        """Refuse out-of-range settings before any work (a zero-epoch run would be marked complete)."""
        for name, (low, inclusive) in _BOUNDS.items():
            _check(name, getattr(self, name), low, inclusive)
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or not 0 <= self.seed <= MAX_SEED:
            raise SeptctlError(f"--seed {self.seed!r}: must be a whole number from 0 to {MAX_SEED}")
        from septctl.devices import check_device

        self.device = check_device(self.device)
        from septctl.methods.registry import spec

        refusal = spec(self.method).sept_refusal
        if self.sept and refusal:
            raise SeptctlError(f"--sept does not apply to --baseline {self.method}: {refusal}")
        if self.sept:
            for name, (low, inclusive) in _SEPT_BOUNDS.items():
                _check("lambda" if name == "lam" else name, getattr(self.sept, name), low, inclusive)

    @property
    def label(self) -> str:
        """The method's row name in reports, e.g. "coop + SEPT"."""
        return self.method + (" + SEPT" if self.sept else "")


def method_default(method: str, key: str) -> object:
    """A training setting's default for `method`: its reference's (MethodSpec.train_defaults), else the shared one."""
    from septctl.methods.registry import spec

    shared = {f.name: f.default for f in fields(TrainConfig)}
    return spec(method).train_defaults.get(key, shared[key])
