"""The Python API (docs/python.md): `import septctl` stays torch-free, its names and signatures are pinned, and
they are the objects the CLI runs.

Changing EXPECTED is a change to the public API: it needs a CHANGELOG line saying what changed.
"""

from __future__ import annotations

import inspect
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import septctl

REPO = Path(__file__).resolve().parents[1]

# name -> its signature, annotations left out (parameter names, order, kinds and defaults are the contract).
EXPECTED = {
    "load_backbone": "(name, weights=None, device='cpu')",
    "load_run": "(path, classes=None, device=None, weights=None)",
    "load_zeroshot": "(backbone, classes, template=None, weights=None, device=None, logit_scale=100.0)",
    "Classifier": "(method, classes, split='all')",
    "Classifier.predict": "(self, inputs, top_k=5, window=None, hop=None, per_window=False, *, strict=False, "
                          "batch_size=16, cache=True, progress=False)",
    "Prediction": "(file, window, start_s, end_s, labels, probs)",
    "SemanticExpansionLoss": "(margins, *, intra=True, inter=True, intra_margin=True, inter_margin=True)",
    "SemanticExpansionLoss.forward": "(self, z, p, neighbors=None)",
    "compute_margins": "(encode, classes, neighbors, templates, *, batch_size=256, progress=None)",
    "ChatClient": "(model, base_url=None, api_key_env='OPENAI_API_KEY', max_tries=3, backoff_s=2.0, timeout_s=30.0, "
                  "total_s=300.0, use_cache=True, notify=<function ChatClient.<lambda>>)",
    "generate_neighbors": "(client, classes, n=10, *, exclude=(), max_rounds=4, record=None, notify=<function <lambda>>, "
                          "modality='audio')",
    "load_neighbors": "(path)",
    "load_prefixes": "(path)",
    "template_bank": "(n, path=None, *, modality='audio')",
}


def shape(obj: object) -> str:
    """inspect.signature without annotations or object addresses."""
    sig = inspect.signature(obj)
    sig = sig.replace(parameters=[p.replace(annotation=p.empty) for p in sig.parameters.values()],
                      return_annotation=sig.empty)
    return re.sub(r" at 0x[0-9a-f]+", "", str(sig))



def test_import_septctl_loads_neither_torch_nor_transformers():
    code = ("import sys, septctl; septctl.__version__; dir(septctl); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'transformers', 'numpy')))")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60,
                          env={"PYTHONPATH": str(REPO), "PATH": ""})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_the_public_names_are_pinned():
    assert sorted(septctl.__all__) == sorted(n for n in EXPECTED if "." not in n)
    assert set(septctl.__all__) <= set(dir(septctl))
    with pytest.raises(AttributeError, match="no attribute 'SeptTerm'"):
        septctl.SeptTerm  # noqa: B018 (internal names stay internal)


@pytest.mark.parametrize("name", EXPECTED)
def test_signature_is_pinned(name):
    obj = septctl
    for part in name.split("."):
        obj = getattr(obj, part)
    assert shape(obj) == EXPECTED[name], f"{name} changed: update EXPECTED and add a CHANGELOG line"


def test_a_changed_signature_would_be_caught():
    def load_neighbors(path, strict=True): ...

    assert shape(load_neighbors) != EXPECTED["load_neighbors"]


def test_the_names_are_the_objects_the_cli_runs(tmp_path, run_cli, monkeypatch):
    """No parallel copies: the engine's SEPT term holds this module, `septctl margins` calls this function."""
    from septctl.engine.config import SeptOptions
    from septctl.engine.train import SeptTerm
    from septctl.sept import margins

    term = SeptTerm({"a": ["x"], "b": ["y"]}, ["a", "b"], torch.rand(2, 2, 1),
                    SeptOptions(neighbors="", margins="", inter_margin=False))
    assert type(term.criterion) is septctl.SemanticExpansionLoss
    assert term.criterion.switches["inter_margin"] is False

    calls = []
    public = septctl.compute_margins
    monkeypatch.setattr(margins, "compute_margins", lambda *a, **kw: calls.append(a) or public(*a, **kw))
    neighbors = tmp_path / "neighbors.yaml"
    neighbors.write_text("neighbors:\n  rain: [drizzle]\n  siren: [alarm]\n")
    code, _, err = run_cli("margins", "--neighbors", neighbors, "--single-template", "a sound of {}.",
                           "--backbone", "tiny", "--out", tmp_path / "m.safetensors", "-q")
    assert code == 0, err
    assert len(calls) == 1 and public.__module__ == "septctl.sept.margins"


def test_the_predict_names_are_the_cli_predict_objects():
    from septctl import predict

    assert (septctl.load_run, septctl.load_zeroshot, septctl.Classifier, septctl.Prediction) == (
        predict.load_run, predict.load_zeroshot, predict.Classifier, predict.Prediction)


def test_the_loss_module_is_the_loss_on_unit_vectors_and_carries_its_margins():
    from septctl.sept.loss import semantic_expansion_loss

    g = torch.Generator().manual_seed(0)
    z, p, m = torch.randn(3, 8, generator=g), torch.randn(3, 4, 8, generator=g), torch.rand(3, 3, 4, generator=g)
    loss = septctl.SemanticExpansionLoss(m, intra_margin=False)
    unit = torch.nn.functional.normalize
    want = semantic_expansion_loss(unit(z, dim=-1), unit(p, dim=-1), m, intra_margin=False)
    assert torch.equal(loss(z, p), want)
    idx = torch.tensor([1, 3])  # a per-step subset of the neighbors
    with pytest.raises(ValueError, match="shapes do not fit"):
        loss(z, p[:, idx])  # without saying which neighbors these are
    assert torch.equal(loss(z, p[:, idx], idx), semantic_expansion_loss(unit(z, dim=-1), unit(p[:, idx], dim=-1),
                                                                        m[:, :, idx], intra_margin=False))
    assert torch.equal(loss.state_dict()["margins"], m) and loss.to(torch.float64).margins.dtype == torch.float64
    with pytest.raises(ValueError, match=r"\[K, K, N\]"):
        septctl.SemanticExpansionLoss(torch.rand(3, 2, 4))


def test_margins_from_any_callable_equal_margins_from_the_backbone():
    backbone = septctl.load_backbone("tiny")
    classes, neighbors, templates = ["rain", "siren"], {"rain": ["drizzle", "storm"], "siren": ["alarm", "horn"]}, [
        "a sound of {}.", "{} outside."]
    calls = []

    def encode(texts: list[str]) -> torch.Tensor:
        calls.append(len(texts))
        return backbone.encode_sentences(texts) * 3.0  # scale does not matter: features are normalised

    by_callable = septctl.compute_margins(encode, classes, neighbors, templates, batch_size=4)
    by_backbone = septctl.compute_margins(backbone, classes, [neighbors[c] for c in classes], templates)
    assert by_callable.shape == (2, 2, 2) and calls == [4, 4, 4]  # 12 distinct sentences, 4 at a time
    torch.testing.assert_close(by_callable, by_backbone)
    with pytest.raises(ValueError, match="encode returned shape"):
        septctl.compute_margins(lambda texts: torch.zeros(len(texts)), classes, neighbors, templates)
