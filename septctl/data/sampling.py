"""Seeded few-shot sampling, reproducible on any machine.

Per class, in sorted class order, rows keep their CSV order and `shots` of them are
drawn with numpy's legacy RandomState(seed).choice(n, shots, replace=False): the
draw PALM makes through pandas' DataFrame.sample after np.random.seed(seed), so the
same CSV and seed give PALM's subsets. Classes with fewer rows keep them all and are
reported.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from septctl.data.schema import Row


@dataclass
class FewShot:
    rows: list[Row]
    short_classes: dict[str, int] = field(default_factory=dict)  # class -> rows available (< shots)


def sample_few_shot(rows: list[Row], shots: int, seed: int) -> FewShot:
    rng = np.random.RandomState(seed)
    by_class: dict[str, list[Row]] = {}
    for r in rows:
        by_class.setdefault(r.classname, []).append(r)
    chosen: list[Row] = []
    short: dict[str, int] = {}
    for cls in sorted(by_class):
        members = by_class[cls]
        if len(members) < shots:
            short[cls] = len(members)
            chosen.extend(members)
            continue
        idx = rng.choice(len(members), shots, replace=False)
        chosen.extend(members[i] for i in idx)
    return FewShot(chosen, short)
