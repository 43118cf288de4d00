"""Eq. 4 margins on the tiny backbone, their file format and the checks that refuse mismatched files."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F
import yaml

from septctl.artifacts import load_tensors
from septctl.errors import SeptctlError
from septctl.sept import margins as mg
from septctl.sept.neighbors import load_neighbors
from tests.conftest import invoke as _run

CLASSES = ["dog", "rain", "siren"]
NEIGHBORS = [["puppy bark", "howling"], ["drizzle", "downpour"], ["police alarm", "ambulance wail"]]
TEMPLATES = ["This is a sound of {}.", "a recording of {}", "{} can be heard"]


@pytest.fixture(scope="module")
def tiny():
    from septctl.backbones.tiny import TinyBackbone

    return TinyBackbone()


def brute(bb, i, j, n):
    total = 0.0
    for t in TEMPLATES:
        a = F.normalize(bb.encode_sentences([t.replace("{}", CLASSES[i])]), dim=-1)[0]
        b = F.normalize(bb.encode_sentences([t.replace("{}", NEIGHBORS[j][n])]), dim=-1)[0]
        total += torch.norm(a - b).item()
    return total / len(TEMPLATES)


def test_margins_equal_brute_force(tiny):
    calls = []
    m = mg.compute_margins(tiny, CLASSES, NEIGHBORS, TEMPLATES, batch_size=4, progress=calls.append)
    assert m.shape == (3, 3, 2) and m.dtype == torch.float32
    assert sum(calls) == 3 * 3 + 6 * 3  # every distinct sentence encoded exactly once
    for i, j, n in [(0, 0, 0), (0, 2, 1), (1, 0, 1), (2, 2, 0), (2, 1, 1)]:
        assert m[i, j, n].item() == pytest.approx(brute(tiny, i, j, n), abs=1e-5)
    assert bool((m > 0).all()) and bool((m <= 2.0 + 1e-6).all())  # unit vectors: 0 < distance <= 2


def test_repeated_names_are_encoded_once():
    texts, cls_idx, nb_idx = mg.sentence_plan(["a", "b"], [["x", "y"], ["x", "a"]], ["{} .", "the {}"])
    assert len(texts) == len(set(texts)) == 2 * 4  # a, b, x, y under two templates
    assert cls_idx.shape == (2, 2) and nb_idx.shape == (2, 4)
    assert texts[nb_idx[0, 3]] == texts[cls_idx[0, 0]] == "a ."


def _write_neighbors(path, table):
    path.write_text(yaml.safe_dump({"neighbors": table}), encoding="utf-8")
    return path


def test_load_margins_checks_inputs(tmp_path, tiny):
    nf = _write_neighbors(tmp_path / "n.yaml", dict(zip(CLASSES, NEIGHBORS)))
    ns = load_neighbors(nf)
    m = mg.compute_margins(tiny, ns.classes, ns.rows(), TEMPLATES[:1])
    meta = mg.margins_metadata(classes=ns.classes, n=ns.n, neighbors_sha256=ns.sha256, prefixes_sha256="p",
                               templates=TEMPLATES[:1], backbone_name="tiny", weights_id=tiny.weights_id())
    out = tmp_path / "m.safetensors"
    mg.save_margins(out, m, meta, {"kind": "margins"})
    assert mg.is_current(out, meta)
    assert not mg.is_current(out, {**meta, "T": "100"})
    ok = dict(classes=ns.classes, n=ns.n, neighbors_sha256=ns.sha256, backbone_name="tiny", weights_id=tiny.weights_id())
    assert torch.equal(mg.load_margins(out, **ok), m)
    # another class order: rows and columns follow it
    order = ["siren", "dog", "rain"]
    got = mg.load_margins(out, **{**ok, "classes": order})
    assert torch.equal(got[0, 1], m[2, 0]) and torch.equal(got[2, 0], m[1, 2])
    for bad, word in [
        ({"classes": ["dog", "rain"]}, "other classes"),
        ({"neighbors_sha256": "0" * 64}, "another neighbors file"),
        ({"backbone_name": "pengi"}, "backbone tiny"),
        ({"weights_id": "deadbeef"}, "backbone tiny"),
    ]:
        with pytest.raises(SeptctlError, match=word) as exc:
            mg.load_margins(out, **{**ok, **bad})
        assert str(out) in str(exc.value) and "\n" not in str(exc.value)


def test_load_neighbors_errors(tmp_path):
    cases = {
        "nomap.yaml": "neighbors: [a, b]\n",
        "uneven.yaml": yaml.safe_dump({"neighbors": {"a": ["x", "y"], "b": ["z"]}}),
        "repeat.yaml": yaml.safe_dump({"neighbors": {"a": ["x", "X"]}}),
        "empty.yaml": yaml.safe_dump({"neighbors": {"a": []}}),
    }
    for name, text in cases.items():
        (tmp_path / name).write_text(text)
        with pytest.raises(SeptctlError, match=name):
            load_neighbors(tmp_path / name)
    ns = load_neighbors(_write_neighbors(tmp_path / "ok.yaml", {"b": ["x"], "a": ["y"]}))
    assert ns.classes == ["a", "b"] and ns.n == 1 and len(ns.sha256) == 64
    assert ns.for_classes(["b", "a"]) is ns and ns.rows() == [["y"], ["x"]]
    with pytest.raises(SeptctlError, match="ok.yaml"):
        ns.for_classes(["a", "c"])




def test_margins_cli_writes_file_and_is_cached(tmp_path, monkeypatch, capsys, tiny):
    nf = _write_neighbors(tmp_path / "n.yaml", dict(zip(CLASSES, NEIGHBORS)))
    pf = tmp_path / "p.yaml"
    pf.write_text(yaml.safe_dump({"prefixes": TEMPLATES}))
    out = tmp_path / "m.safetensors"
    args = ["margins", "--neighbors", str(nf), "--prefixes", str(pf), "--backbone", "tiny", "--out", str(out)]
    code, cap = _run(monkeypatch, capsys, *args)
    assert code == 0, cap.err
    tensors, meta = load_tensors(out)
    m = tensors["margins"]
    assert m.shape == (3, 3, 2)
    assert json.loads(meta["classes"]) == CLASSES and meta["T"] == "3" and meta["backbone"] == "tiny"
    assert meta["weights_id"] == tiny.weights_id() and meta["space"] == mg.SPACE
    assert m[1, 2, 0].item() == pytest.approx(brute(tiny, 1, 2, 0), abs=1e-5)
    code, cap = _run(monkeypatch, capsys, *args)
    assert code == 0 and "up to date" in cap.err

    single = tmp_path / "single.safetensors"
    code, cap = _run(monkeypatch, capsys, "margins", "--backbone", "tiny", "--neighbors", str(nf), "--single-template",
                     "This is a sound of {}.", "--backbone", "tiny", "--out", str(single))
    assert code == 0, cap.err
    t1, meta1 = load_tensors(single)
    assert meta1["T"] == "1" and not torch.allclose(t1["margins"], m)

    code, cap = _run(monkeypatch, capsys, "margins", "--backbone", "tiny", "--neighbors", str(nf), "--single-template", "no slot",
                     "--backbone", "tiny", "--out", str(single))
    assert code == 2 and "exactly one {}" in cap.err
