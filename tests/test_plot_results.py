"""`septctl plot results`: Base, New and H per method, one panel per dataset, from the runs `report` reads; a plot
replaces septctl's own earlier one without --force (issue 33, items 10 and 9)."""

from __future__ import annotations

import pytest

from septctl.report.figures import _spread
from septctl.report.paper_tables import build_tables
from tests.test_report import make_run, records


def _grid(root, shift: float = 0.0):
    for dataset in ("sesa", "esc50"):
        for method in ("zeroshot", "coop"):
            for seed in ((0,) if method == "zeroshot" else (0, 1, 2)):
                make_run(root, dataset, method, seed, 1 if dataset == "esc50" else None,
                         {(dataset, "base"): 60.0 + seed + shift, (dataset, "new"): 40.0 - seed})


def test_one_panel_per_dataset_with_the_spread_over_seeds(tmp_path):
    _grid(tmp_path)
    (table,) = build_tables(records(tmp_path), "b2n")
    coop = next(c for c in table.cells if c["row"] == ["coop"] and c["group"] == "sesa")
    assert _spread(coop, "base") == pytest.approx(0.8165, abs=1e-4)  # pstdev of 60, 61, 62
    assert _spread(coop, "new") == pytest.approx(0.8165, abs=1e-4) and _spread(coop, "h") == coop["sd"] > 0
    zeroshot = next(c for c in table.cells if c["row"] == ["zeroshot"] and c["group"] == "sesa")
    assert _spread(zeroshot, "base") == 0.0


def test_plot_results_writes_and_rewrites_its_own_figure(run_cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _grid(tmp_path / "runs")
    make_run(tmp_path / "runs", "sesa", "coop", 0, None, {("sesa", "base"): 50.0, ("sesa", "new"): 30.0}, shots=8)
    code, out, err = run_cli("plot", "results", "runs")
    assert code == 0, err
    png, pdf = tmp_path / "figures" / "results.png", tmp_path / "figures" / "results.pdf"
    assert png.is_file() and pdf.is_file()
    assert "left out 1 run (8-shot)" in err and "--shots 8" in err
    before = png.read_bytes()
    _grid(tmp_path / "runs", shift=10.0)  # new results: the figure changes, and it is septctl's own
    code, out, err = run_cli("plot", "results", "runs")
    assert code == 0 and png.read_bytes() != before, err
    ours = png.read_bytes()
    for hand in (b"drawn by hand", ours + b"x"):  # another file, and septctl's own figure edited
        png.write_bytes(hand)
        code, out, err = run_cli("plot", "results", "runs")
        assert code == 2 and "exists and differs" in err and png.read_bytes() == hand
    code, out, err = run_cli("plot", "results", "runs", "--force")
    assert code == 0 and png.read_bytes() == ours
