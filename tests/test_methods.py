"""CoOp, CoCoOp, KgCoOp and DePT: parameter counts, each method's own mechanics, and CLI runs with and without SEPT."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F
import yaml
from torch import nn

from septctl.backbones.base import Backbone
from septctl.data.audio import AudioSpec
from septctl.methods import build_method, method_options

METHODS = ("coop", "cocoop", "kgcoop", "dept")
NEIGHBOR_WORDS = ("sound", "noise", "recording", "in the distance", "up close")  # plumbing, not semantics


class PengiShaped(Backbone):
    """Pengi's widths (token 512, joint 1024) and nothing else: enough to count parameters."""

    name = "pengi-shaped"
    audio_spec = AudioSpec(44100, 7.0, "concat")
    embed_dim, token_dim = 1024, 512
    tokenizer = SimpleNamespace(context_length=77)  # what PromptBuilder checks --n-ctx against

    def __init__(self):
        super().__init__()
        self.anchor = nn.Parameter(torch.zeros(1))  # gives the backbone a device
        self.freeze()

    def encode_audio(self, waveforms):
        raise NotImplementedError

    def token_embedding(self):
        raise NotImplementedError

    def encode_text(self, token_embeds, eot_index, shared_prefix=0, prefix_groups=None):
        raise NotImplementedError


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny models run fastest on one thread, and do not stall when other processes share the cores."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def tiny():
    from septctl.backbones import load_backbone

    return load_backbone("tiny")


def test_trainable_parameters_match_table4_on_pengi_widths():
    backbone = PengiShaped()
    esc50_base = [f"class {i}" for i in range(25)]
    counts = {m: build_method(m, backbone, esc50_base, {"n_ctx": 16}).num_trainable() for m in METHODS}
    assert counts["coop"] == 8_192 and counts["kgcoop"] == 8_192  # Table 4
    assert counts["cocoop"] == 107_072  # Table 4: 16x512 + (1024*64 + 64) + (64*512 + 512)
    assert counts["dept"] == 8_192 + 2 * 2 * 1024 + 25 * 1025  # context + two FiLMs + Linear(1024, 25)


def test_cocoop_prompts_differ_per_clip_and_chunking_is_exact(tiny):
    names = ["siren", "church bells", "rain"]
    torch.manual_seed(0)
    audio = torch.randn(5, tiny.embed_dim)
    whole = build_method("cocoop", tiny, names, {"chunk": 0})
    chunked = build_method("cocoop", tiny, names, {"chunk": 2})
    chunked.load_prompt_state(whole.prompt_state())
    with torch.no_grad():  # a meta-net that starts near zero would hide per-clip differences
        for m in (whole, chunked):
            m.meta_net.linear2.weight.mul_(50)
    a, b = whole.encode_names(names, audio), chunked.encode_names(names, audio)
    assert a.shape == (5, 3, tiny.embed_dim)
    assert (a[0] - a[1]).abs().max() > 1e-3  # each clip gets its own prompts
    torch.testing.assert_close(a, b)
    # Each clip's row equals encoding that clip's prompts alone, through the shared-prefix path.
    ctx = whole.instance_context(audio)
    torch.testing.assert_close(a[3], whole.prompts.encode(ctx[3], names), atol=1e-5, rtol=1e-4)
    # Recomputing chunks in the backward pass leaves the gradients unchanged.
    labels = torch.tensor([0, 1, 2, 0, 1])
    for m, feats in ((whole, a), (chunked, b)):
        m.loss(audio, labels, feats)[0].backward()
    for (n, p), q in zip(whole.named_parameters(), chunked.parameters()):
        if p.grad is not None:
            torch.testing.assert_close(p.grad, q.grad, msg=n)
    assert whole.meta_net.linear1.weight.grad.abs().sum() > 0


def test_cocoop_sept_embeddings_average_unit_features_over_clips(tiny):
    m = build_method("cocoop", tiny, ["a", "b"], {})
    class_feats, neighbor_feats = torch.randn(3, 2, 8), torch.randn(3, 6, 8)
    z, p = m.sept_embeddings(class_feats, neighbor_feats, 3)
    assert z.shape == (2, 8) and p.shape == (2, 3, 8)
    torch.testing.assert_close(z, F.normalize(class_feats, dim=-1).mean(0))
    torch.testing.assert_close(p[1, 2], F.normalize(neighbor_feats[:, 5], dim=-1).mean(0))


def test_kgcoop_term_is_zero_on_the_handcrafted_features(tiny):
    names = ["siren", "rain", "engine"]
    m = build_method("kgcoop", tiny, names, method_options("kgcoop", {}))
    ref = m.handcrafted(names)
    assert m.templates == ["This is a sound of {}."]
    torch.testing.assert_close(ref, F.normalize(tiny.encode_sentences([f"This is a sound of {n}." for n in names]), dim=-1))
    audio, labels = torch.randn(4, tiny.embed_dim), torch.tensor([0, 1, 2, 0])
    assert m.knowledge_term(3.0 * ref).abs() < 1e-6  # cosine: the scale does not matter
    loss, parts = m.loss(audio, labels, 3.0 * ref)
    assert loss.item() == pytest.approx(parts["ce"], abs=1e-5) and parts["kg"] == pytest.approx(0, abs=1e-6)
    learned = m.encode_names(names)
    kg = m.knowledge_term(learned)
    assert kg > 1e-3
    assert m.loss(audio, labels, learned)[0].item() == pytest.approx(m.loss(audio, labels, learned)[1]["ce"] + 8.0 * kg.item(), rel=1e-5)


def test_kgcoop_template_pool_averages_unit_features(tiny, tmp_path):
    pool = tmp_path / "prefixes.yaml"
    pool.write_text(yaml.safe_dump({"prefixes": ["the noise of {}", "{} in the distance"]}))
    opts = method_options("kgcoop", {"kg_templates": pool, "kg_weight": 2.0})
    assert opts == {"kg_weight": 2.0, "kg_templates": ["the noise of {}", "{} in the distance"]}
    m = build_method("kgcoop", tiny, ["rain", "drum"], opts)
    one = F.normalize(tiny.encode_sentences(["the noise of rain", "the noise of drum"]), dim=-1)
    two = F.normalize(tiny.encode_sentences(["rain in the distance", "drum in the distance"]), dim=-1)
    torch.testing.assert_close(m.handcrafted(["rain", "drum"]), F.normalize(one + two, dim=-1))
    assert m.weight == 2.0


def test_dept_head_never_sees_new_classes(tiny):
    base, new = ["siren", "rain", "engine"], ["drum", "whistle"]
    m = build_method("dept", tiny, base, {})
    audio = torch.randn(4, tiny.embed_dim)
    cosine_new = m.logits(audio, new, split="new")
    torch.testing.assert_close(cosine_new, m.cosine_logits(audio, m.encode_names(new)))
    torch.testing.assert_close(m.logits(audio, base + new, split="all"), m.cosine_logits(audio, m.encode_names(base + new)))
    with torch.no_grad():
        for p in [*m.head.parameters(), *m.film_audio.parameters()]:
            p.add_(torch.randn_like(p))
    torch.testing.assert_close(m.logits(audio, new, split="new"), cosine_new)  # the head plays no part
    torch.testing.assert_close(m.logits(audio, base, split="base"), m.head_logits(audio))  # no fusion: head alone
    m.fusion = True
    fused = 0.3 * m.cosine_logits(audio, m.encode_names(base)) + 0.7 * m.head_logits(audio)
    torch.testing.assert_close(m.logits(audio, base, split="base"), fused)


def test_dept_loss_and_learning_rates(tiny):
    from septctl.engine.config import TrainConfig

    m = build_method("dept", tiny, ["siren", "rain"], {})
    audio, labels = torch.randn(3, tiny.embed_dim), torch.tensor([1, 0, 1])
    class_feats = m.encode_names(m.classnames)
    loss, parts = m.loss(audio, labels, class_feats)
    rows = torch.cat([class_feats[labels], audio])  # FiLM starts as the identity
    head = F.cross_entropy(m.head(rows), torch.cat([labels, labels]))
    itm = F.cross_entropy(m.cosine_logits(audio, class_feats), labels)
    assert loss.item() == pytest.approx((0.3 * itm + 0.7 * head).item(), rel=1e-5)
    loss.backward()
    assert m.ctx.grad.abs().sum() > 0 and m.film_text.scale.grad.abs().sum() > 0
    groups = m.make_optimizer(TrainConfig(backbone="tiny", dataset="x", lr=0.0125)).param_groups
    assert [g["lr"] for g in groups] == [0.0125, pytest.approx(0.0125 * 6.5)]
    assert sum(p.numel() for g in groups for p in g["params"]) == m.num_trainable()


def test_options_for_another_method_are_refused(tmp_path):
    from septctl.errors import SeptctlError

    with pytest.raises(SeptctlError, match="--kg-weight applies to --baseline kgcoop"):
        method_options("coop", {"kg_weight": 2.0})
    with pytest.raises(SeptctlError, match="--dept-fusion applies to --baseline dept"):
        method_options("cocoop", {"dept_fusion": True})
    with pytest.raises(SeptctlError, match="unknown baseline"):
        method_options("maple", {})
    bad = tmp_path / "p.yaml"
    bad.write_text(yaml.safe_dump({"prefixes": ["no slot here"]}))
    with pytest.raises(SeptctlError, match="p.yaml"):
        method_options("kgcoop", {"kg_templates": bad})
    assert method_options("cocoop", {"chunk": None}) == {"chunk": 8}


# -- the CLI, on the synthetic dataset ----------------------------------------------------------


def cli(monkeypatch, capsys, *args):
    from septctl.cli.common import run_app
    from septctl.cli.main import app

    monkeypatch.setattr("sys.argv", ["septctl", *args])
    code = run_app(app)
    return code, capsys.readouterr()


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """A small synthetic dataset, its embedding cache, and SEPT inputs built by the SEPT commands."""
    from septctl.data.schema import base_new_split
    from septctl.data.synth import synthesize_dataset

    root = tmp_path_factory.mktemp("methods")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SEPTCTL_CACHE", str(root / "cache"))
        base, _ = base_new_split(synthesize_dataset(root / "synth", train_per_class=6, test_per_class=4))
        neighbors = {c: [f"{c} {w}" for w in NEIGHBOR_WORDS] for c in base}
        (root / "neighbors.yaml").write_text(yaml.safe_dump({"neighbors": neighbors}))
        yield root


def test_sept_inputs_from_the_commands(workspace, monkeypatch, capsys):
    monkeypatch.setenv("SEPTCTL_CACHE", str(workspace / "cache"))
    code, cap = cli(monkeypatch, capsys, "prefixes", "--llm", "builtin", "--n", "5", "--out", str(workspace / "px.yaml"))
    assert code == 0, cap.err
    code, cap = cli(monkeypatch, capsys, "margins", "--backbone", "tiny", "--neighbors", str(workspace / "neighbors.yaml"), "--prefixes",
                    str(workspace / "px.yaml"), "--backbone", "tiny", "--out", str(workspace / "margins.safetensors"))
    assert code == 0, cap.err


@pytest.mark.parametrize("sept", [False, True], ids=["plain", "sept"])
@pytest.mark.parametrize("method", METHODS)
def test_every_method_trains_and_evaluates_from_the_cli(workspace, monkeypatch, capsys, method, sept):
    monkeypatch.setenv("SEPTCTL_CACHE", str(workspace / "cache"))
    margins = workspace / "margins.safetensors"
    if sept and not margins.is_file():
        test_sept_inputs_from_the_commands(workspace, monkeypatch, capsys)
    run_dir = workspace / "runs" / f"{method}-{sept}"
    args = ["train", "--backbone", "tiny", str(workspace / "synth"), "--baseline", method, "--epochs", "6", "--out", str(run_dir), "-q"]
    if sept:
        args += ["--sept", "--neighbors", str(workspace / "neighbors.yaml"), "--margins", str(margins)]
    code, cap = cli(monkeypatch, capsys, *args)
    assert code == 0, cap.err
    run = yaml.safe_load((run_dir / "run.yaml").read_text())
    losses = [e["loss"] for e in run["losses"]]
    assert losses[-1] < losses[0], losses
    assert ("se" in run["losses"][0]) == sept
    assert run["config"]["method_options"] == method_options(method, {})
    assert f"{run['trainable_parameters']:,} trainable parameters" in cap.err
    for classes in ("new", "base"):
        code, cap = cli(monkeypatch, capsys, "eval", str(run_dir), "--classes", classes, "--json")
        assert code == 0, cap.err
        result = yaml.safe_load(cap.out)
        assert result["classes"] == classes and len(result["class_names"]) == 4 and 0 <= result["accuracy"] <= 100


def test_every_method_is_its_own_report_row(workspace, monkeypatch, capsys):
    for method in METHODS:
        for sept in (False, True):
            if not (workspace / "runs" / f"{method}-{sept}" / "metrics.yaml").is_file():
                test_every_method_trains_and_evaluates_from_the_cli(workspace, monkeypatch, capsys, method, sept)
    code, cap = cli(monkeypatch, capsys, "report", str(workspace / "runs"), "--format", "json")
    assert code == 0, cap.err
    rows = {r["method"]: r for r in json.loads(cap.out)["rows"]}
    assert set(rows) == {m + s for m in METHODS for s in ("", " + SEPT")}
    assert all(r["base"] is not None and r["new"] is not None for r in rows.values())


def test_dept_fusion_and_kg_templates_reach_the_run(workspace, monkeypatch, capsys):
    monkeypatch.setenv("SEPTCTL_CACHE", str(workspace / "cache"))
    pool = workspace / "pool.yaml"
    pool.write_text(yaml.safe_dump({"prefixes": ["the noise of {}", "{} in the distance"]}))
    common = ["train", "--backbone", "tiny", str(workspace / "synth"), "--epochs", "1", "-q"]
    code, cap = cli(monkeypatch, capsys, *common, "--baseline", "kgcoop", "--kg-templates", str(pool),
                    "--kg-weight", "2", "--out", str(workspace / "runs" / "kg-pool"))
    assert code == 0, cap.err
    opts = yaml.safe_load((workspace / "runs" / "kg-pool" / "run.yaml").read_text())["config"]["method_options"]
    assert opts == {"kg_weight": 2.0, "kg_templates": ["the noise of {}", "{} in the distance"]}
    code, cap = cli(monkeypatch, capsys, *common, "--baseline", "dept", "--dept-fusion",
                    "--out", str(workspace / "runs" / "dept-fusion"))
    assert code == 0, cap.err
    opts = yaml.safe_load((workspace / "runs" / "dept-fusion" / "run.yaml").read_text())["config"]["method_options"]
    assert opts == {"dept_fusion": True}
    code, cap = cli(monkeypatch, capsys, *common, "--baseline", "coop", "--kg-weight", "2",
                    "--out", str(workspace / "runs" / "bad"))
    assert code == 2 and "--kg-weight applies to --baseline kgcoop" in cap.err


def test_the_registry_is_the_one_declaration_of_methods_and_their_options(tiny, run_cli, monkeypatch):
    """Each method's class, options, flags and help come from methods/registry.py, and importing it needs no torch."""
    import subprocess
    import sys

    from septctl.methods.registry import METHODS as REGISTRY

    assert tuple(REGISTRY) == METHODS + ("palm", "linear-probe", "tip-adapter", "tip-adapter-f")  # + issue 30's
    monkeypatch.setenv("COLUMNS", "300")
    code, usage, _ = run_cli("train", "--help")
    assert code == 0
    for name, declared in REGISTRY.items():
        assert declared.load().name == name
        options = method_options(name, {})
        assert options == {o.key: o.default for o in declared.options}
        assert build_method(name, tiny, ["rain", "drum"], options).name == name  # option keys are constructor keywords
        for o in declared.options:
            assert o.flag in usage and o.help in usage
    assert "coop|cocoop|kgcoop|dept" in usage
    probe = "import sys, septctl.methods, septctl.cli.options; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", probe]).returncode == 0
