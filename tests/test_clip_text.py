"""ClipTextTower's fast paths give the same features and gradients as Hugging Face's CLIP.

Every check runs on a tiny random tower; the @slow copies run on the full-size Pengi
text tower (CLIP ViT-B/16, random weights) with a handful of prompts. The tower checks run
on the device SEPTCTL_TEST_DEVICE names (default cpu; TF32 off, tolerance 1e-4 off the CPU):

    SEPTCTL_TEST_DEVICE=cuda .venv/bin/python -m pytest -q tests/test_clip_text.py
"""

from __future__ import annotations

import os

import pytest
import torch

from septctl.backbones.clip_text import ClipTextTower, build_clip_text_model, reference_encode

SOS, EOT, CONTEXT, M = 49406, 49407, 40, 16
TINY = dict(hidden_size=32, intermediate_size=128, num_hidden_layers=2, num_attention_heads=2)
CONFIGS = [pytest.param(TINY, id="tiny"), pytest.param({}, id="full", marks=pytest.mark.slow)]
DEVICE = os.environ.get("SEPTCTL_TEST_DEVICE", "cpu")
TOL = 1e-5 if DEVICE == "cpu" else 1e-4  # fp32 on a GPU sums in a different order


def _close_grad(got: torch.Tensor, ref: torch.Tensor) -> bool:
    """Within 1e-5 of the gradient's scale (its largest entry, at least 1): fp32 sums over rows."""
    return bool((got - ref).abs().max() <= TOL * max(1.0, float(ref.abs().max())))


@pytest.fixture(scope="module", params=CONFIGS)
def tower(request) -> ClipTextTower:
    from septctl.devices import check_device

    check_device(DEVICE)
    torch.backends.cuda.matmul.allow_tf32 = False  # fp32 means fp32 here
    torch.backends.cudnn.allow_tf32 = False
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        core = build_clip_text_model(**request.param).eval()
    for p in core.parameters():
        p.requires_grad_(False)
    return ClipTextTower(core).to(DEVICE)


def _ids(lengths: list[int], seed: int = 0, device: str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """Token ids padded to 40 with EOT as the tokenizer makes them; a shared 'X' context after SOS."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.full((len(lengths), CONTEXT), EOT, dtype=torch.long)
    ids[:, 0] = SOS
    ids[:, 1 : 1 + M] = 343  # "x"
    for i, n in enumerate(lengths):
        ids[i, 1 + M : n - 1] = torch.randint(0, SOS, (n - 2 - M,), generator=g)
    return ids.to(device), (torch.tensor(lengths) - 1).to(device)


def _with_ctx(tower: ClipTextTower, ids: torch.Tensor, ctx: torch.Tensor) -> torch.Tensor:
    """CoOp's prompt: [SOS | learned context | class tokens, '.', EOT, padding]."""
    emb = tower.token_embedding(ids)
    b = ids.shape[0]
    ctx = ctx.expand(b, -1, -1) if ctx.dim() == 2 else ctx
    return torch.cat([emb[:, :1], ctx, emb[:, 1 + M :]], dim=1)


def _ctx(tower: ClipTextTower, *shape: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(1)
    return (0.02 * torch.randn(*shape, M, tower.width, generator=g)).to(DEVICE).requires_grad_(True)


LENGTHS = [20, 23, 19, 26, 21, 20]


def test_tower_matches_hf_forward_on_token_ids(tower):
    ids, eot = _ids(LENGTHS, device=DEVICE)
    expected = tower.core(input_ids=ids).pooler_output
    got = tower(tower.token_embedding(ids), eot)
    assert (got - expected).abs().max() <= TOL
    assert (reference_encode(tower.core, tower.token_embedding(ids), eot) - expected).abs().max() <= TOL


def test_trimming_to_longest_prompt_equals_full_padding(tower):
    ids, eot = _ids(LENGTHS, device=DEVICE)
    full = tower.core(input_ids=ids).pooler_output
    longest = int(eot.max()) + 1
    assert longest < CONTEXT
    trimmed_hf = tower.core(input_ids=ids[:, :longest]).pooler_output
    trimmed_ours = tower(tower.token_embedding(ids[:, :longest]), eot)
    assert (trimmed_hf - full).abs().max() <= TOL
    assert (trimmed_ours - full).abs().max() <= TOL


@pytest.mark.parametrize("shared", [0, 1 + M])
def test_shared_prefix_features_and_context_gradients_equal_reference(tower, shared):
    ids, eot = _ids(LENGTHS, device=DEVICE)
    weights = torch.randn(len(LENGTHS), tower.width, generator=torch.Generator().manual_seed(2)).to(DEVICE)
    ctx = _ctx(tower)
    ref = reference_encode(tower.core, _with_ctx(tower, ids, ctx), eot)
    (ref * weights).sum().backward()
    ref_grad, ctx.grad = ctx.grad.clone(), None
    got = tower(_with_ctx(tower, ids, ctx), eot, shared_prefix=shared)
    (got * weights).sum().backward()
    assert (got - ref).abs().max() <= TOL
    assert ref_grad.abs().max() > 1e-3  # the gradient is not trivially zero
    assert _close_grad(ctx.grad, ref_grad)


def test_classes_and_neighbors_in_one_call_equal_separate_calls(tower):
    classes, neighbors = [19, 21], [20, 24, 18, 22]
    ids, eot = _ids(classes + neighbors, device=DEVICE)
    ctx = _ctx(tower)
    with torch.no_grad():
        x = _with_ctx(tower, ids, ctx)
        together = tower(x, eot, shared_prefix=1 + M)
        apart = torch.cat([tower(x[:2], eot[:2], 1 + M), tower(x[2:], eot[2:], 1 + M)])
        alone = torch.cat([reference_encode(tower.core, x[i : i + 1], eot[i : i + 1]) for i in range(len(eot))])
    assert (together - apart).abs().max() <= TOL
    assert (together - alone).abs().max() <= TOL


def test_grouped_prefixes_equal_reference(tower):
    """CoCoOp: each audio clip has its own context, shared by that clip's prompts."""
    ids, eot = _ids(LENGTHS, device=DEVICE)
    groups = torch.tensor([0, 0, 1, 1, 1, 0], device=DEVICE)
    weights = torch.randn(len(LENGTHS), tower.width, generator=torch.Generator().manual_seed(3)).to(DEVICE)
    ctx = _ctx(tower, 2)
    ref = reference_encode(tower.core, _with_ctx(tower, ids, ctx[groups]), eot)
    (ref * weights).sum().backward()
    ref_grad, ctx.grad = ctx.grad.clone(), None
    got = tower(_with_ctx(tower, ids, ctx[groups]), eot, shared_prefix=1 + M, prefix_groups=groups)
    (got * weights).sum().backward()
    assert (got - ref).abs().max() <= TOL
    assert _close_grad(ctx.grad, ref_grad)


def test_single_prompt_and_prefix_past_eot():
    torch.manual_seed(0)
    tower = ClipTextTower(build_clip_text_model(**TINY).eval())
    ids, eot = _ids([18])
    x = tower.token_embedding(ids)
    with torch.no_grad():
        assert (tower(x, eot, 1 + M) - tower.core(input_ids=ids).pooler_output).abs().max() <= TOL
        with pytest.raises(ValueError, match="shared_prefix"):
            tower(x, eot, shared_prefix=18)


def test_tiny_backbone_encode_text_shared_prefix_is_exact():
    from septctl.backbones import load_backbone

    backbone = load_backbone("tiny")
    ids, eot = _ids(LENGTHS)
    x = backbone.token_embedding()(ids)
    with torch.no_grad():
        plain = backbone.encode_text(x, eot)
        shared = backbone.encode_text(x, eot, shared_prefix=1 + M)
        ref = backbone.projection(backbone.text_projection(reference_encode(backbone.text.core, x, eot)))
    assert plain.shape == (len(LENGTHS), backbone.embed_dim)
    assert (shared - ref).abs().max() <= TOL
    assert (plain - ref).abs().max() <= TOL
