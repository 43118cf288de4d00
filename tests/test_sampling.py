import numpy as np

from septctl.data.schema import Row
from septctl.data.sampling import sample_few_shot

ROWS = [Row(f"a/{c}{i}.wav", c) for c in "xyz" for i in range(30)] + [Row("a/w0.wav", "w")]


def test_same_seed_same_rows():
    a = sample_few_shot(ROWS, 16, seed=1).rows
    b = sample_few_shot(list(ROWS), 16, seed=1).rows
    assert a == b
    assert a != sample_few_shot(ROWS, 16, seed=2).rows


def test_counts_and_short_classes():
    few = sample_few_shot(ROWS, 16, seed=0)
    counts = {c: sum(r.classname == c for r in few.rows) for c in "wxyz"}
    assert counts == {"w": 1, "x": 16, "y": 16, "z": 16}
    assert few.short_classes == {"w": 1}


def test_matches_pandas_sample_draw():
    """The draw is numpy's RandomState.choice per sorted class, as pandas' DataFrame.sample after np.random.seed."""
    rng = np.random.RandomState(0)  # class "w" (1 row < 16 shots) is kept whole without a draw
    expected_x = [ROWS[i] for i in rng.choice(30, 16, replace=False)]
    few = sample_few_shot(ROWS, 16, seed=0)
    assert [r for r in few.rows if r.classname == "x"] == expected_x
