"""The exactness checks of tests/test_clip_text.py on any device, full-size random Pengi text tower.

Checks that septctl's fast text encoding equals the reference (HF layers, 40-token padding):
pooled features from token ids, features and context gradients with a shared prefix,
with grouped prefixes (CoCoOp), and classes + neighbors in one call vs separate calls.
Exits 1 if any difference exceeds --tol (gradients: relative to their largest entry).

    .venv/bin/python benchmarks/check_exact.py --device cuda --tol 1e-4
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

SOS, EOT, M = 49406, 49407, 16


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    common.common_args(ap)
    ap.add_argument("--tol", type=float, default=1e-5)
    ap.add_argument("--prompts", type=int, default=64)
    args = ap.parse_args()
    common.setup_process(args)
    import torch

    from septctl.backbones.clip_text import reference_encode

    torch.backends.cuda.matmul.allow_tf32 = False  # fp32 means fp32 here
    torch.backends.cudnn.allow_tf32 = False
    dev = args.device
    print(common.describe_machine(dev), flush=True)
    tower, _ = common.text_side(dev)
    g = torch.Generator().manual_seed(0)
    b = args.prompts
    lengths = torch.randint(M + 3, 30, (b,), generator=g)
    ids = torch.full((b, 40), EOT, dtype=torch.long)
    ids[:, 0] = SOS
    for i, n in enumerate(lengths.tolist()):
        ids[i, 1 : n - 1] = torch.randint(0, SOS, (n - 2,), generator=g)
    ids, eot = ids.to(dev), (lengths - 1).to(dev)
    emb = tower.token_embedding(ids)
    weights = torch.randn(b, tower.width, generator=g).to(dev)
    groups = (torch.arange(b) % 4).to(dev)
    results = {}

    with torch.no_grad():
        hf = tower.core(input_ids=ids).pooler_output
        results["tower vs HF forward (ids)"] = (tower(emb, eot) - hf).abs().max()
        results["reference_encode vs HF forward"] = (reference_encode(tower.core, emb, eot) - hf).abs().max()

    def with_ctx(ctx):
        ctx = ctx.expand(b, -1, -1) if ctx.dim() == 2 else ctx[groups]
        return torch.cat([emb[:, :1], ctx, emb[:, 1 + M :]], dim=1)

    for label, shape, kw in (("shared prefix", (M, tower.width), {}),
                             ("grouped prefixes", (4, M, tower.width), {"prefix_groups": groups})):
        ctx = (0.02 * torch.randn(*shape, generator=g)).to(dev).requires_grad_(True)
        ref = reference_encode(tower.core, with_ctx(ctx), eot)
        (ref * weights).sum().backward()
        ref_grad, ctx.grad = ctx.grad.clone(), None
        got = tower(with_ctx(ctx), eot, shared_prefix=1 + M, **kw)
        (got * weights).sum().backward()
        results[f"{label}: features"] = (got - ref).abs().max()
        results[f"{label}: context gradient (relative)"] = (ctx.grad - ref_grad).abs().max() / ref_grad.abs().max()
        if label == "shared prefix":
            with torch.no_grad():
                h = b // 4
                apart = torch.cat([tower(with_ctx(ctx)[:h], eot[:h], 1 + M), tower(with_ctx(ctx)[h:], eot[h:], 1 + M)])
                results["one call vs two calls"] = (got.detach() - apart).abs().max()

    failed = 0
    for name, diff in results.items():
        diff = float(diff.detach())
        ok = diff <= args.tol
        failed += not ok
        print(f"  {'ok  ' if ok else 'FAIL'} {name}: {diff:.2e}")
    print(f"exactness on {dev}: {'all within' if not failed else f'{failed} over'} {args.tol:g}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
