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


def few_shot_summary(rows: list[Row], shots: int, classes: list[str], most: int = 10, item: str = "clip") -> str:
    """What training uses, said before it starts: the classes and how many clips each, naming every class
    that has fewer than `shots` (it keeps all it has), e.g.
    "5 classes (bell, buzz, ...), 10 clips each: fewer than --shots 16 in every class (all they have); 50 in all"
    (`item`: what one training example is called, "image" for image datasets)."""
    from septctl.console import counted

    per_class = {c: 0 for c in classes}
    for r in rows:
        if r.classname in per_class:
            per_class[r.classname] += 1
    shown = ", ".join(classes[:most]) + (f", ... (+{len(classes) - most} more)" if len(classes) > most else "")
    head = f"{counted(len(classes), 'class')} ({shown})"
    short = {c: n for c, n in per_class.items() if n < shots}
    total = sum(per_class.values())
    if not short:
        return f"{head}, {counted(shots, item)} each, {total} in all"
    if len(short) == len(classes) and len(set(short.values())) == 1:
        n = next(iter(short.values()))
        return (f"{head}, {counted(n, item)} each: fewer than --shots {shots} in every class, so all they have; "
                f"{total} in all")
    listed = ", ".join(f"{c} {n}" for c, n in short.items())
    return (f"{head}, {counted(shots, item)} each except {listed} (fewer than --shots {shots}, so all they have); "
            f"{total} in all")
