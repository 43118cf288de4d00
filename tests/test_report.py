"""The paper's tables from hand-made run folders, the grid plans, and the small t-SNE."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest

from septctl.artifacts import write_yaml
from septctl.report.paper_tables import build_tables, render_tables
from septctl.report.tables import find_runs, harmonic, load_record

FULL = {"neighbors": "n.yaml", "margins": "m.safetensors", "lam": 3.0, "intra": True, "inter": True,
        "intra_margin": True, "inter_margin": True, "neighbor_subset": 0}


def make_run(root: Path, dataset: str, method: str, seed: int, fold: int | None, accs: dict, *, sept: dict | None = None,
             shots: int = 16, classes: str = "base", name: str | None = None, config: dict | None = None,
             short: dict | None = None, card: dict | None = None) -> Path:
    """A run folder as train + eval write it; accs maps (dataset, classes) -> accuracy.

    `config` overrides run.yaml's config, `short` is few_shot.short_classes, `card` the card.
    """
    run = root / (name or f"{dataset}-{method}{'-sept' if sept else ''}-{classes}-{shots}-f{fold}-s{seed}")
    label = "zeroshot" if method == "zeroshot" else method + (" + SEPT" if sept else "")
    config = {"method": method, "seed": seed, "shots": shots, "classes": classes, "fold": fold, "sept": sept,
              "dataset": dataset, **(config or {})}
    write_yaml(run / "run.yaml", {"status": "complete", "label": label, "config": config, "dataset": dataset,
                                  "fold": fold, "few_shot": {"short_classes": short or {}}, "card": card or {}})
    evals = {f"{d}/fold{fold or 0}/{c}": {"accuracy": a, "dataset": d, "fold": fold, "classes": c}
             for (d, c), a in accs.items()}
    write_yaml(run / "metrics.yaml", {"evaluations": evals})
    return run


def records(root: Path):
    return [load_record(p) for p in find_runs([root])]


def cell(table, row, group):
    return next(c for c in table.cells if c["row"] == row and c["group"] == group)


def test_h_is_the_mean_of_per_seed_h_or_with_h_of_means_h_of_the_means(tmp_path):
    for seed, (b, n) in enumerate([(90.0, 10.0), (50.0, 50.0), (70.0, 40.0)]):  # three seeds of SESA, one fold
        make_run(tmp_path, "sesa", "coop", seed, None, {("sesa", "base"): b, ("sesa", "new"): n})
    per_seed_h = [harmonic(90, 10), harmonic(50, 50), harmonic(70, 40)]  # 18, 50, 50.91
    (b2n,) = build_tables(records(tmp_path), "b2n")
    c = cell(b2n, ["coop"], "sesa")
    assert (c["base"], c["new"]) == (70.0, pytest.approx(100 / 3))
    assert c["h"] == pytest.approx(np.mean(per_seed_h)) == pytest.approx(39.636, abs=1e-3)  # the paper's reading
    assert c["sd"] == pytest.approx(np.std(per_seed_h))  # per-seed spread
    (cocoop,) = build_tables(records(tmp_path), "b2n", h_of_means=True)
    assert cell(cocoop, ["coop"], "sesa")["h"] == pytest.approx(harmonic(70, 100 / 3)) == pytest.approx(45.161,
                                                                                                     abs=1e-3)
    assert b2n.missing == [] and "SEPT paper" in b2n.notes[0] and "CoCoOp" in cocoop.notes[0]


def test_folds_average_within_seed_before_h_and_the_average_row_is_the_mean_of_per_dataset_h(tmp_path):
    folds = {0: {1: (80.0, 20.0), 2: (60.0, 40.0)}, 1: {1: (90.0, 90.0), 2: (50.0, 10.0)}}
    for seed, per_fold in folds.items():
        for fold, (b, n) in per_fold.items():
            make_run(tmp_path, "beijing-opera", "coop", seed, fold,
                     {("beijing-opera", "base"): b, ("beijing-opera", "new"): n})
    for seed in (0, 1):
        make_run(tmp_path, "sesa", "coop", seed, None, {("sesa", "base"): 30.0, ("sesa", "new"): 90.0})
    (b2n,) = build_tables(records(tmp_path), "b2n")
    opera = cell(b2n, ["coop"], "beijing-opera")
    assert (opera["base"], opera["new"]) == (70.0, 40.0)
    # per seed, folds first: seed 0 has B 70 N 30, seed 1 has B 70 N 50; not the mean of per-run H
    assert opera["h"] == pytest.approx((harmonic(70, 30) + harmonic(70, 50)) / 2) == pytest.approx(50.167, abs=1e-3)
    assert opera["h"] != pytest.approx(np.mean([harmonic(80, 20), harmonic(60, 40), harmonic(90, 90),
                                                harmonic(50, 10)]))
    avg = cell(b2n, ["coop"], "Average (2)")
    assert (avg["base"], avg["new"]) == (50.0, 65.0)
    assert avg["h"] == pytest.approx((opera["h"] + harmonic(30, 90)) / 2)  # mean of the per-dataset H
    assert avg["sd"] == pytest.approx(np.std([(harmonic(70, 30) + 45) / 2, (harmonic(70, 50) + 45) / 2]))
    (cocoop,) = build_tables(records(tmp_path), "b2n", h_of_means=True)
    assert cell(cocoop, ["coop"], "beijing-opera")["h"] == pytest.approx(harmonic(70, 40))
    assert cell(cocoop, ["coop"], "Average (2)")["h"] == pytest.approx(harmonic(50, 65))
    assert any("fold(s) 3, 4, 5" in m for m in b2n.missing)  # beijing-opera has 5 folds


def test_missing_seed_is_flagged(tmp_path):
    for seed in (0, 1, 2):
        make_run(tmp_path, "sesa", "coop", seed, None, {("sesa", "base"): 60.0, ("sesa", "new"): 40.0})
    for seed in (0, 2):
        make_run(tmp_path, "sesa", "coop", seed, None, {("sesa", "base"): 60.0, ("sesa", "new"): 40.0}, sept=FULL)
    (b2n,) = build_tables(records(tmp_path), "b2n")
    assert b2n.missing == ["coop + SEPT on sesa: seed 1 has no run"]
    assert cell(b2n, ["coop + SEPT"], "sesa")["seeds"] == 2
    text = render_tables([b2n], "md")
    assert "seed 1 has no run" in text and "Missing (1)" in text


def test_missing_new_class_evaluation_is_flagged(tmp_path):
    run = make_run(tmp_path, "sesa", "coop", 0, None, {("sesa", "base"): 60.0})
    (b2n,) = build_tables(records(tmp_path), "b2n")
    assert b2n.cells == []
    assert b2n.missing == [f"{run}: no new-class evaluation (run `septctl eval {run} --classes new`)"]


def test_cross_dataset_table(tmp_path):
    for seed, tgt in ((0, 20.0), (1, 30.0)):
        run = make_run(tmp_path, "ravdess", "coop", seed, None, {("ravdess", "all"): 40.0}, classes="all")
        metrics = run / "metrics.yaml"
        data = __import__("yaml").safe_load(metrics.read_text())
        data["evaluations"]["crema-d/fold0/all"] = {"accuracy": tgt, "dataset": "crema-d", "fold": None,
                                                    "classes": "all"}
        write_yaml(metrics, data)
    make_run(tmp_path, "ravdess", "coop", 0, None, {("ravdess", "all"): 45.0}, classes="all", sept=FULL)
    (cross,) = build_tables(records(tmp_path), "cross")
    c = cell(cross, ["coop"], "ravdess -> crema-d")
    assert (c["source"], c["target"]) == (40.0, 25.0) and c["sd"] == pytest.approx(5.0)
    assert any("no target evaluation" in m for m in cross.missing)


def test_shots_and_ablation_tables(tmp_path):
    for ds in ("sesa", "crema-d"):
        for shots, (b, n) in {2: (40.0, 20.0), 16: (80.0, 40.0)}.items():
            make_run(tmp_path, ds, "coop", 0, None, {(ds, "base"): b, (ds, "new"): n}, shots=shots)
        make_run(tmp_path, ds, "coop", 0, None, {(ds, "base"): 70.0, (ds, "new"): 50.0}, sept=FULL)
        make_run(tmp_path, ds, "coop", 0, None, {(ds, "base"): 60.0, (ds, "new"): 30.0}, name=f"{ds}-intra",
                 sept={**FULL, "inter": False})
    b2n, shots, ablation = build_tables(records(tmp_path), "all")[0], *build_tables(records(tmp_path), "all")[2:]
    assert {c["group"] for c in shots.cells} == {"2-shot", "16-shot"}
    assert cell(shots, ["coop"], "2-shot")["h"] == pytest.approx(harmonic(40, 20))  # both datasets alike
    assert "coop + SEPT on crema-d (2-shot): no runs" in shots.missing
    rows = [c["row"] for c in ablation.cells]
    assert rows == [["1", False, False, False, False], ["3", True, True, False, False], ["7", True, True, True, True]]
    assert {tuple(c["row"]) for c in b2n.cells} == {("coop",), ("coop + SEPT",)}  # ablation variants stay out


def test_formats(tmp_path):
    make_run(tmp_path, "sesa", "coop", 0, None, {("sesa", "base"): 60.0, ("sesa", "new"): 40.0})
    make_run(tmp_path, "sesa", "zeroshot", 0, None, {("sesa", "base"): 50.0, ("sesa", "new"): 50.0})
    tables = build_tables(records(tmp_path), "b2n")
    md = render_tables(tables, "md")
    assert "| zeroshot" in md.splitlines()[4] and "48.00" in md  # zero-shot first; H(60, 40) = 48
    latex = render_tables(tables, "latex")
    assert "\\multicolumn{3}{c}{sesa}" in latex and latex.count("\\\\") == 4
    rows = list(csv.DictReader(io.StringIO(render_tables(tables, "csv"))))
    assert {(r["row"], r["metric"], r["value"]) for r in rows} >= {("coop", "h", "48.0000")}
    data = json.loads(render_tables(tables, "json"))
    assert data["rows"][0] == {"method": "zeroshot", "dataset": "sesa", "base": 50.0, "new": 50.0, "h": 50.0,
                               "h_sd": None, "seeds": 1, "runs": 1, "short_classes": False}
    assert "SEPT paper" in data["notes"][0]
    with pytest.raises(Exception, match="--format"):
        render_tables(tables, "xlsx")


def test_report_cli_writes_every_table(run_cli, tmp_path):
    make_run(tmp_path / "runs", "sesa", "coop", 0, None, {("sesa", "base"): 60.0, ("sesa", "new"): 40.0})
    code, out, err = run_cli("report", tmp_path / "runs", "--table", "all", "--format", "latex", "--out",
                             tmp_path / "tables")
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "tables").iterdir()) == ["ablation.tex", "b2n.tex", "cross.tex",
                                                                        "shots.tex"]
    assert run_cli("report", tmp_path / "runs", "--table", "nope")[0] == 2


def test_report_explains_what_is_empty(run_cli, tmp_path):
    (tmp_path / "nothing").mkdir()
    code, out, err = run_cli("report", tmp_path / "nothing")
    assert code == 2 and "no run folders found" in err and str(tmp_path / "nothing") in err and out == ""
    make_run(tmp_path / "runs", "sesa", "coop", 0, None, {("sesa", "base"): 60.0, ("sesa", "new"): 40.0})
    code, out, err = run_cli("report", tmp_path / "runs", "--table", "cross")
    assert code == 0 and "empty; none of the 1 run found is of this kind" in err


def test_tsne_keeps_clusters_apart():
    from septctl.report.tsne import kl_divergence, tsne

    rng = np.random.default_rng(0)
    centres = rng.normal(size=(3, 16)) * 5
    x = np.concatenate([c + rng.normal(size=(20, 16)) for c in centres])
    y = tsne(x, perplexity=8, iters=500)
    labels = np.repeat(np.arange(3), 20)
    d = np.square(y[:, None] - y[None]).sum(-1)
    np.fill_diagonal(d, np.inf)
    nearest = labels[d.argmin(1)]
    assert (nearest == labels).mean() == 1.0
    assert kl_divergence(x, y, 8) < kl_divergence(x, rng.normal(size=y.shape), 8)


def test_grid_plan_lines(tmp_path):
    from septctl.data.synth import synthesize_like
    from septctl.grid import plan as g

    synthesize_like("beijing-opera", tmp_path / "data" / "Beijing-Opera", per_class=3, test_per_class=1, folds=2,
                    seconds=0.2)
    knobs = g.Knobs(backbone="tiny", seeds=(0, 1), methods=("coop", "dept"), data_root=str(tmp_path / "data"))
    jobs = g.plan("base2new", knobs, ["Beijing-Opera"])
    lines = [j.line() for j in jobs]
    assert lines[0].startswith("septctl grid-prep beijing-opera --classes base")
    assert len(jobs) == 1 + 2 * (1 + 2 * 2 * 2)  # prep; per fold: zero-shot + 2 methods x SEPT on/off x 2 seeds
    assert sum(" --sept " in ln for ln in lines) == 2 * 2 * 2
    assert all(" --fold " in ln for ln in lines[1:])
    knobs.cross_pairs = ()
    paper = g.plan("paper", knobs, ["beijing-opera"])
    assert len({j.line() for j in paper}) == len(paper)  # shared runs appear once
    assert not any(j.done() for j in jobs)


def test_cjk_class_names_get_a_font_that_has_them(tmp_path, capsys):
    """Beijing Opera's names in Chinese: drawn with an installed CJK font, without a warning per glyph."""
    import warnings

    from matplotlib import font_manager

    from septctl.report.figures import _charmap, _pyplot, _save

    names = ["锣鼓", "大锣", "rain"]
    have = [p for p in font_manager.findSystemFonts() if {ord(c) for c in "锣鼓大"} <= _charmap(p)]
    if not have:
        pytest.skip("no CJK font installed (.ci/run installs fonts-wqy-microhei)")
    fig, ax = _pyplot().subplots()
    ax.set_yticks(range(3), names)
    ax.set_title("大锣 vs rain")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a missing glyph would warn
        files = _save(fig, tmp_path / "cjk")
    assert [f.suffix for f in files] == [".png", ".pdf"] and all(f.stat().st_size > 0 for f in files)
    family = ax.title.get_fontfamily()
    assert family[0] == "DejaVu Sans" and len(family) > 1 and "no installed font" not in capsys.readouterr().err
