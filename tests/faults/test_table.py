"""Every bad input in one table: exit 2, one line naming the culprit, nothing written.

Rows live in `cases_*.py` beside this file, one module per class of failure; each
module exports `CASES`, a list of `table.Case`. The contract is checked by the
`refused` fixture (conftest.py) for every row alike.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

MODULES = sorted(p.stem for p in Path(__file__).parent.glob("cases_*.py"))
CASES = [case for m in MODULES for case in importlib.import_module(f"tests.faults.{m}").CASES]


def test_case_ids_are_unique():
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids)), sorted({i for i in ids if ids.count(i) > 1})


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_bad_input_is_refused(case, world, tmp_path, refused):
    args, names = case.make(world, tmp_path)
    refused(list(map(str, args)), *names, fix=case.fix)
