"""Did training learn, from a run's per-epoch losses alone (no torch: `report` reads it too).

A diverged run can stay finite (`--lr 1e12`: cross-entropy 3.45 -> 14.36, prompt values near
1e14) and so pass every NaN check; its prompt is worse than none. `diverged` tells it apart.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Divergence:
    """The training cross-entropy rose: from `first` (epoch 1) to `last` (epoch `epoch`), above chance ln K."""

    epoch: int
    first: float
    last: float
    chance: float

    def describe(self) -> str:
        return (f"training loss rose from {self.first:.4g} (epoch 1) to {self.last:.4g} (epoch {self.epoch}), "
                f"above chance ln K = {self.chance:.4g}")


def training_ce(entry: dict) -> float | None:
    """An epoch's training cross-entropy: `ce` where the method logs it, else its whole `loss`."""
    value = entry.get("ce", entry.get("loss"))
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def diverged(losses: list[dict], n_classes: int) -> Divergence | None:
    """A run diverged when its last epoch's cross-entropy is above its first's AND above ln K."""
    if len(losses) < 2 or n_classes < 2 or not all(isinstance(e, dict) for e in losses):
        return None
    first, last = training_ce(losses[0]), training_ce(losses[-1])
    if first is None or last is None:
        return None
    chance = math.log(n_classes)
    if last > first and last > chance:
        return Divergence(int(losses[-1].get("epoch", len(losses))), first, last, chance)
    return None
