"""PALM, linear probe, Tip-Adapter(-F): their equations against independent transcriptions, and the CLI paths
(train, eval, grid allclass, report --table allclass --compare palm) they share with every method."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
import yaml
from torch import nn

from septctl.methods import build_method


@pytest.fixture(scope="module")
def tiny():
    from septctl.backbones import load_backbone

    return load_backbone("tiny")


CLASSES = ["rain", "drum", "bird", "siren"]


# ---- PALM against a transcription of its published code --------------------------------------------------------

class ReferencePromptLearner(nn.Module):
    """PALM's `PromptLearner` as its code has it (notes/palm-pengi.md 3.5): per class a 1024-d (joint width) vector,
    init N(0, 0.02), and a mixing weight through a sigmoid, init torch.rand."""

    def __init__(self, n_cls: int, ctx_dim: int):
        super().__init__()
        ctx_vectors = torch.empty(n_cls, ctx_dim)
        nn.init.normal_(ctx_vectors, std=0.02)
        self.ctx = nn.Parameter(ctx_vectors)
        self.lambdas = nn.Parameter(torch.rand(n_cls))

    def forward(self, text_features: torch.Tensor) -> torch.Tensor:
        lam = torch.sigmoid(self.lambdas).unsqueeze(1)
        return (1 - lam) * text_features + lam * self.ctx


def reference_palm_forward(learner: ReferencePromptLearner, audio_features: torch.Tensor,
                           text_features: torch.Tensor) -> torch.Tensor:
    """`CustomPENGI.forward` for PALM: text features of the bare names, normalised, mixed, renormalised; logit 100."""
    text_features = F.normalize(text_features, dim=-1)
    text_features = learner(text_features)
    audio_features = audio_features / audio_features.norm(dim=-1, keepdim=True)
    text_features = text_features / text_features.norm(dim=-1, keepdim=True)
    return 100.0 * audio_features @ text_features.t()


def test_palm_forward_loss_and_one_sgd_step_equal_the_reference_transcription():
    """In float64, so that 1e-6 on logits of scale 100 measures the equations, not float32 rounding."""
    from septctl.backbones import load_backbone

    torch.manual_seed(3)
    tiny = load_backbone("tiny").double()
    method = build_method("palm", tiny, CLASSES, {}).double()
    reference = ReferencePromptLearner(len(CLASSES), tiny.embed_dim).double()
    reference.load_state_dict({"ctx": method.ctx.detach().clone(), "lambdas": method.lambdas.detach().clone()})
    bare = tiny.encode_sentences(CLASSES)  # PALM's text input is the bare class name
    assert bare.dtype == torch.float64
    audio = torch.randn(16, tiny.embed_dim, dtype=torch.float64)
    labels = torch.randint(0, len(CLASSES), (16,))

    ours_logits = method.logits(audio, CLASSES)
    ref_logits = reference_palm_forward(reference, audio, bare)
    assert torch.allclose(ours_logits, ref_logits, atol=1e-6, rtol=0)
    ours_loss, _ = method.loss(audio, labels, method.encode_names(CLASSES))
    ref_loss = F.cross_entropy(reference_palm_forward(reference, audio, bare), labels)
    assert abs(ours_loss.item() - ref_loss.item()) < 1e-6

    # one step of PALM's optimizer (SGD, lr 0.05, momentum 0.9, no weight decay) on each
    from septctl.engine.config import TrainConfig, method_default

    cfg = TrainConfig(dataset="", method="palm", lr=float(method_default("palm", "lr")))
    assert cfg.lr == 0.05 and cfg.weight_decay == 0.0 and cfg.momentum == 0.9
    before = method.ctx.detach().clone()
    ours_opt = method.make_optimizer(cfg)
    ref_opt = torch.optim.SGD(reference.parameters(), lr=0.05, momentum=0.9)
    for opt, loss in ((ours_opt, ours_loss), (ref_opt, ref_loss)):
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert torch.allclose(method.ctx, reference.ctx, atol=1e-6, rtol=0)
    assert torch.allclose(method.lambdas, reference.lambdas, atol=1e-6, rtol=0)
    assert (method.ctx - before).abs().max() > 1e-4  # the step moved them


def test_palm_scores_a_class_it_did_not_train_on_with_its_bare_name(tiny):
    torch.manual_seed(0)
    method = build_method("palm", tiny, CLASSES[:2], {})
    audio = torch.randn(5, tiny.embed_dim)
    new = ["bird", "siren"]
    zero_shot = 100.0 * F.normalize(audio, dim=-1) @ F.normalize(tiny.encode_sentences(new), dim=-1).T
    assert torch.allclose(method.logits(audio, new), zero_shot, atol=1e-5)
    mixed = method.encode_names(["rain", "bird"])  # a trained class keeps its vector beside an unseen one
    assert torch.allclose(mixed[0], method.encode_names(["rain"])[0], atol=1e-6)
    assert torch.allclose(mixed[1], F.normalize(tiny.encode_sentences(["bird"]), dim=-1)[0], atol=1e-6)


# ---- linear probe -----------------------------------------------------------------------------------------------

def _blobs(k: int = 4, per: int = 16, d: int = 8, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    centres = torch.randn(k, d, generator=gen)
    x = torch.cat([centres[c] + 0.8 * torch.randn(per, d, generator=gen) for c in range(k)])
    return F.normalize(x, dim=-1), torch.arange(k).repeat_interleave(per)


def test_logistic_regression_matches_sklearn():
    """The torch L-BFGS fit solves sklearn's problem (multinomial, L2 on W only): the same predictions and weights."""
    sklearn = pytest.importorskip("sklearn.linear_model")
    from septctl.methods.linear_probe import fit_logistic

    x, y = _blobs()
    for c in (0.1, 10.0):
        w, b = fit_logistic(x, y, 4, c)
        ref = sklearn.LogisticRegression(C=c, max_iter=1000, tol=1e-8).fit(x.double().numpy(), y.numpy())
        ref_logits = torch.from_numpy(ref.decision_function(x.double().numpy())).float()
        ours = x @ w.T + b
        assert torch.equal(ours.argmax(-1), ref_logits.argmax(-1))
        # logits are defined up to a constant per row (softmax); centred, they agree to the stopping tolerance
        centred = lambda z: z - z.mean(-1, keepdim=True)  # noqa: E731
        assert torch.allclose(centred(ours), centred(ref_logits), atol=0.05), c

        def objective(weight: torch.Tensor, bias: torch.Tensor) -> float:  # sklearn's, divided by n
            return float(F.cross_entropy(x.double() @ weight.double().T + bias.double(), y)
                         + (weight.double() ** 2).sum() / (2 * c * len(y)))

        sk = objective(torch.from_numpy(ref.coef_), torch.from_numpy(ref.intercept_))
        assert abs(objective(w, b) - sk) < 1e-4, c  # the same minimum


def test_linear_probe_searches_c_on_held_out_shots_and_refuses_other_classes(tiny):
    from septctl.errors import SeptctlError
    from septctl.methods.linear_probe import C_GRID, validation_split

    x, y = _blobs(d=tiny.embed_dim)
    train, val = validation_split(y, seed=0)
    assert set(train.tolist()).isdisjoint(val.tolist()) and len(train) + len(val) == len(y)
    assert all(int((y[val] == c).sum()) == 4 for c in range(4))  # a quarter of each class's 16 shots
    method = build_method("linear-probe", tiny, CLASSES, {})
    fitted = method.fit(x, y, seed=0)
    assert min(C_GRID) <= fitted["C"] <= max(C_GRID) and fitted["validation_accuracy"] is not None
    assert float((method.logits(x, CLASSES).argmax(-1) == y).float().mean()) > 0.9
    assert method.trainable_parameters() == [] and method.num_trainable() == 4 * tiny.embed_dim + 4
    with pytest.raises(SeptctlError, match="cannot score other classes"):
        method.logits(x, ["bird", "thunder"])


# ---- Tip-Adapter ------------------------------------------------------------------------------------------------

def test_tip_adapter_logits_are_the_papers_and_new_classes_fall_back_to_zero_shot(tiny):
    x, y = _blobs(d=tiny.embed_dim)
    method = build_method("tip-adapter", tiny, CLASSES, {})
    method.fit(x * 3, y, seed=0)  # keys are normalised
    audio = torch.randn(6, tiny.embed_dim)
    text = tiny.encode_sentences([f"This is a sound of {c}." for c in CLASSES])
    a = F.normalize(audio, dim=-1)
    alpha, beta = float(method.alpha), float(method.beta)
    expected = 100 * a @ F.normalize(text, dim=-1).T + alpha * torch.exp(-beta * (1 - a @ x.T)) @ F.one_hot(y, 4).float()
    assert torch.allclose(method.logits(audio, CLASSES), expected, atol=1e-4)
    new = ["thunder", "bell"]
    zero_shot = 100 * a @ F.normalize(tiny.encode_sentences([f"This is a sound of {c}." for c in new]), dim=-1).T
    assert torch.allclose(method.logits(audio, new), zero_shot, atol=1e-4)


def test_tip_adapter_search_is_leave_one_out_on_the_shots(tiny):
    """Scored with each shot in its own cache, the search would always take the largest alpha (each shot finds
    itself); leave-one-out, it scores what the cache says about a shot it has not seen."""
    from septctl.methods.tip_adapter import search_values

    x, y = _blobs(d=tiny.embed_dim)
    method = build_method("tip-adapter", tiny, CLASSES, {})
    method.fit(x, y, seed=0)
    chosen = method.finish(x, y)
    assert float(method.alpha) == pytest.approx(chosen["alpha"]) and float(method.beta) == pytest.approx(chosen["beta"])
    assert chosen["alpha"] in [pytest.approx(v) for v in search_values(3.0, 20)]
    with torch.no_grad():
        zero_shot = method.cosine_logits(x, method.encode_names(CLASSES))
        loo = method.cache_logits(x, method.alpha, method.beta, leave_out=True)
    assert 100 * float(((zero_shot + loo).argmax(-1) == y).float().mean()) == pytest.approx(chosen["search_accuracy"])


# ---- the CLI: train, eval, --sept refused, grid allclass, report --compare palm ---------------------------------

def test_sept_with_palm_is_refused_with_the_reason(synth_dataset, run_cli, tmp_path):
    code, _, err = run_cli("train", str(synth_dataset), "-b", "tiny", "--baseline", "palm", "--sept", "--neighbors",
                           str(tmp_path / "n.yaml"), "--margins", str(tmp_path / "m.safetensors"), "--out",
                           str(tmp_path / "run"))
    assert code == 2 and "--sept does not apply to --baseline palm" in err and "shared prompt" in err
    assert not (tmp_path / "run").exists()


def test_methods_run_through_train_and_eval_with_their_own_defaults(synth_dataset, run_cli, tmp_path):
    """Each trains and evaluates base-to-new through the one engine; run.yaml records its own defaults and what
    it chose; the linear probe is scored on its trained classes only, and the b2n table shows "—" for its New."""
    for method in ("palm", "linear-probe", "tip-adapter", "tip-adapter-f"):
        run = tmp_path / "runs" / method
        code, _, err = run_cli("train", str(synth_dataset), "-b", "tiny", "--baseline", method, "--epochs", "2",
                               "--out", str(run), "--quiet", "--keep-diverged")  # tiny's random tower: the loss may rise
        assert code == 0, err
        code, out, err = run_cli("eval", str(run), "--quiet")
        assert code == 0, err
        assert ("/new" in out) == (method != "linear-probe")
    cards = {m: yaml.safe_load((tmp_path / "runs" / m / "run.yaml").read_text()) for m in ("palm", "tip-adapter-f")}
    assert cards["palm"]["config"]["lr"] == 0.05
    assert cards["tip-adapter-f"]["config"]["lr"] == 0.001 and cards["tip-adapter-f"]["config"]["batch_size"] == 256
    tip = yaml.safe_load((tmp_path / "runs" / "tip-adapter" / "run.yaml").read_text())
    assert set(tip["fitted"]) == {"cache_size", "alpha", "beta", "search_accuracy"} and tip["losses"] == []
    code, out, _ = run_cli("report", str(tmp_path / "runs"), "--table", "b2n")
    assert code == 0
    probe = next(line for line in out.splitlines() if line.startswith("| linear-probe"))
    assert probe.count("—") == 2  # New and H
    code, out, err = run_cli("verify", str(tmp_path / "runs" / "tip-adapter"))
    assert code == 0, out + err


@pytest.mark.parametrize("method", ["palm", "tip-adapter-f", "linear-probe"])
def test_packed_equals_alone(method, synth_dataset, run_cli, tmp_path):
    """Packed with another seed, each learns what it learns alone (no shared text-tower call; the probe no epochs)."""
    import safetensors.torch as st

    common = ["train", str(synth_dataset), "-b", "tiny", "--baseline", method, "--epochs", "2", "--quiet",
              "--keep-diverged"]  # tiny's random tower: the loss may rise
    assert run_cli(*common, "--seeds", "0,1", "--pack-size", "2", "--out", str(tmp_path / "packed" / "s{seed}"))[0] == 0
    assert run_cli(*common, "--seed", "1", "--out", str(tmp_path / "alone"))[0] == 0
    packed = st.load_file(str(tmp_path / "packed" / "s1" / "prompt.safetensors"))
    alone = st.load_file(str(tmp_path / "alone" / "prompt.safetensors"))
    assert all(torch.allclose(packed[k], alone[k], atol=1e-6) for k in alone)


def test_grid_allclass_then_report_compare_palm(tmp_path, run_cli):
    """The must-show: every method in one all-class table, PALM's published numbers in a labelled block of their own."""
    from septctl.data.synth import synthesize_world

    data = tmp_path / "data"
    synthesize_world("synth-tones", data / "synth-tones", train_per_class=4, test_per_class=3)
    runs = tmp_path / "runs"
    code, _, err = run_cli("grid", "allclass", "synth-tones", "--methods", "zeroshot,linear-probe,tip-adapter,coop,palm",
                           "--backbone", "synth-clap", "--epochs", "1", "--seeds", "0 1", "--data-root", str(data),
                           "--runs", str(runs), "--sept-dir", str(tmp_path / "sept"), "--palm-prompt")
    assert code == 0, err
    code, out, err = run_cli("report", str(runs), "--table", "allclass", "--compare", "palm")
    assert code == 0, err
    ours, published = out.split("## PALM's published numbers (not septctl's runs)")
    for row in ("zeroshot", "linear-probe", "tip-adapter", "coop", "coop + SEPT", "palm"):
        assert f"| {row} " in ours, row
    assert "synth-tones Acc" in ours and "Missing" not in ours
    assert "| palm " in published and "76.58" in published and "Mean (11) Acc" in published  # PALM's average
    assert "76.58" not in ours and "synth-tones Acc" not in published
    assert "never part of septctl's averages" in published
    zeroshot = next(runs.rglob("zeroshot-template/*/fold0/run.yaml"))
    assert yaml.safe_load(zeroshot.read_text())["config"]["template"] == "The is a recording of {}."
