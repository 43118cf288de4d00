"""The strict YAML reader: what it lets through is exactly what PyYAML's safe loader gives."""

from __future__ import annotations

import pytest
import yaml

from septctl.artifacts import write_yaml
from septctl.errors import SeptctlError
from septctl.filecheck import MAX_DEPTH, check_metrics, load_yaml


def test_files_septctl_writes_read_back_unchanged(tmp_path):
    data = {"neighbors": {"dog": ["wolf", "no", "yes"]}, "nested": {"a": [{"b": 1.5, "c": None}]}, "n": 3}
    write_yaml(tmp_path / "f.yaml", data)
    assert load_yaml(tmp_path / "f.yaml") == data == yaml.safe_load((tmp_path / "f.yaml").read_text())


def test_depth_limit_is_exact(tmp_path):
    (tmp_path / "ok.yaml").write_text("[" * MAX_DEPTH + "]" * MAX_DEPTH)
    load_yaml(tmp_path / "ok.yaml")
    (tmp_path / "deep.yaml").write_text("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1))
    with pytest.raises(SeptctlError, match=rf"deep\.yaml:1: nested deeper than {MAX_DEPTH} levels"):
        load_yaml(tmp_path / "deep.yaml")


def test_duplicate_key_is_refused_by_line_at_any_depth(tmp_path):
    (tmp_path / "d.yaml").write_text("a:\n  b: 1\n  c: 2\n  b: 3\n")
    with pytest.raises(SeptctlError, match=r"d\.yaml:4: key 'b' appears twice"):
        load_yaml(tmp_path / "d.yaml")


def test_merge_keys_and_anchors_still_work(tmp_path):
    (tmp_path / "m.yaml").write_text("base: &b {x: 1}\nmore:\n  <<: *b\n  y: 2\n")
    assert load_yaml(tmp_path / "m.yaml")["more"] == {"x": 1, "y": 2}


def test_metrics_accuracy_bounds_are_inclusive():
    entry = {"dataset": "esc50", "fold": 1, "classes": "new"}
    for acc in (0, 100, 55.5):
        assert check_metrics("m.yaml", {"evaluations": {"k": {**entry, "accuracy": acc}}})
    with pytest.raises(SeptctlError, match=r"m\.yaml: evaluations\.k\.accuracy must be a percentage in 0\.\.100"):
        check_metrics("m.yaml", {"evaluations": {"k": {**entry, "accuracy": 100.01}}})
