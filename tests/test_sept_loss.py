"""The vectorised semantic-expansion loss equals a literal reading of eqs. 7-9."""

from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F

from septctl.sept.loss import semantic_expansion_loss


def loop_loss(z, p, m, intra=True, inter=True, intra_margin=True, inter_margin=True):
    """Eqs. 7-9 written as loops, with the naive (margin-free) variants of Table 3."""
    k, n, _ = p.shape
    total = torch.zeros((), dtype=torch.float64)
    for i in range(k):
        term = torch.zeros((), dtype=torch.float64)
        if intra:
            s = 0.0
            for q in range(n):
                d = torch.norm(z[i] - p[i, q])
                s = s + (torch.clamp(d - m[i, i, q], min=0) if intra_margin else d)
            term = term + s / n
        if inter and k > 1:
            acc = 0.0
            for j in range(k):
                if j == i:
                    continue
                s = 0.0
                for q in range(n):
                    d = torch.norm(z[i] - p[j, q])
                    s = s + (torch.clamp(m[i, j, q] - d, min=0) if inter_margin else -d)
                acc = acc + s / n
            term = term + acc / (k - 1)
        total = total + term
    return total / k


SWITCHES = list(itertools.product([True, False], repeat=4))


@pytest.mark.parametrize("intra,inter,intra_margin,inter_margin", SWITCHES)
def test_matches_loop_for_all_switches(intra, inter, intra_margin, inter_margin):
    g = torch.Generator().manual_seed(1)
    k, n, d = 5, 4, 8
    z = F.normalize(torch.randn(k, d, generator=g, dtype=torch.float64), dim=-1)
    p = F.normalize(torch.randn(k, n, d, generator=g, dtype=torch.float64), dim=-1)
    # margins around the actual distances, so hinges are active for some entries and not others
    m = torch.rand(k, k, n, generator=g, dtype=torch.float64) * 2.0
    kw = dict(intra=intra, inter=inter, intra_margin=intra_margin, inter_margin=inter_margin)
    got = semantic_expansion_loss(z, p, m, **kw)
    want = loop_loss(z, p, m, **kw)
    assert abs(got.item() - want.item()) <= 1e-6
    if intra or inter:
        assert want.item() != 0.0  # the comparison is not trivially 0 == 0


def test_float32_matches_loop_and_hinges_are_partly_active():
    g = torch.Generator().manual_seed(7)
    z, p = torch.randn(6, 16, generator=g), torch.randn(6, 10, 16, generator=g)
    dist = torch.cdist(z, p.reshape(-1, 16)).view(6, 6, 10)
    m = dist + torch.randn(dist.shape, generator=g) * 0.5
    assert 0 < (dist > m).float().mean() < 1
    got = semantic_expansion_loss(z, p, m)
    want = loop_loss(z.double(), p.double(), m.double())
    assert abs(got.item() - want.item()) <= 1e-5 * max(1.0, abs(want.item()))


def test_single_class_has_no_inter_term():
    z, p = torch.randn(1, 4), torch.randn(1, 3, 4)
    m = torch.zeros(1, 1, 3)
    only_inter = semantic_expansion_loss(z, p, m, intra=False)
    assert only_inter.item() == 0.0
    full = semantic_expansion_loss(z, p, m)
    assert full.item() == pytest.approx(torch.norm(z[0] - p[0], dim=-1).mean().item(), abs=1e-6)


def test_margins_gate_the_loss():
    """At margins equal to the current distances, both hinges are exactly zero."""
    g = torch.Generator().manual_seed(3)
    z, p = torch.randn(4, 8, generator=g), torch.randn(4, 5, 8, generator=g)
    m = torch.linalg.vector_norm(z[:, None, None] - p[None], dim=-1)
    assert semantic_expansion_loss(z, p, m).item() == pytest.approx(0.0, abs=1e-6)
    assert semantic_expansion_loss(z, p, m, intra_margin=False).item() > 0.1


def test_shape_mismatch_is_rejected():
    with pytest.raises(ValueError, match="shapes"):
        semantic_expansion_loss(torch.randn(3, 4), torch.randn(3, 2, 4), torch.zeros(3, 3, 5))


def test_gradients_reach_a_learned_context_through_the_text_tower():
    """z and p built from one learned context (as in eqs. 5-6) both carry gradient back to it."""
    from septctl.backbones.tiny import TinyBackbone

    bb = TinyBackbone()
    classes, neighbors = ["dog", "rain"], [["puppy bark", "howl"], ["drizzle", "downpour"]]
    names = classes + [x for row in neighbors for x in row]
    n_ctx = 4
    ids, eot = bb.tokenizer([" ".join(["X"] * n_ctx) + " " + name + "." for name in names])
    emb = bb.token_embedding()(ids)
    ctx = torch.nn.Parameter(torch.randn(n_ctx, bb.token_dim) * 0.02)
    prompts = torch.cat([emb[:, :1], ctx.expand(len(names), -1, -1), emb[:, 1 + n_ctx :]], dim=1)
    feats = F.normalize(bb.encode_text(prompts, eot), dim=-1)
    z, p = feats[:2], feats[2:].view(2, 2, -1)
    z.retain_grad()
    p.retain_grad()
    m = torch.full((2, 2, 2), 0.5)
    m[0, 0] = m[1, 1] = 0.0  # any distance to a positive is a violation, so the pull is active
    loss = semantic_expansion_loss(z, p, m)
    loss.backward()
    assert z.grad.abs().sum() > 0 and p.grad.abs().sum() > 0
    assert ctx.grad is not None and ctx.grad.abs().sum() > 0
