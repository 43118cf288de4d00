"""Margin precomputation (paper eq. 4): encode T templates x (K classes + K*N neighbors), no gradients.

reference  PALM-style: every sentence padded to 40 tokens, batches of 64 in the given
           order, HF's own layers (septctl.backbones.clip_text.reference_encode).
fast       septctl's way: sentences sorted by token count so each batch is short,
           bigger batches, ClipTextTower (packed tokens, last layer on EOT rows only),
           inference mode. Exact: the script prints the largest feature difference.
fast+template-prefix  also computes each template's shared prefix (SOS + the words before
           the slot, 4.5 of 10.3 tokens on average with the built-in bank) once per
           template (`shared_prefix` with `prefix_groups`). Exact as well.
--bf16 adds a fast column under bf16 autocast (not exact; prints its cosine to fp32).

Texts are real (ESC-50 base classes, built-in neighbor and template banks), weights
random. Tokenising is done once, outside the timings. The default K=5 keeps the run
short; time scales linearly with the number of sentences (1,100 * K at T=100, N=10),
so the script also prints the K=25, T=100 extrapolation from the measured rate.

    .venv/bin/python benchmarks/bench_margins.py [--device cuda] [--classes 5] [--templates 100] [--bf16]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    common.common_args(ap)
    ap.add_argument("--classes", type=int, default=5)
    ap.add_argument("--neighbors", type=int, default=10)
    ap.add_argument("--templates", type=int, default=100)
    ap.add_argument("--ref-batch", type=int, default=64)
    ap.add_argument("--fast-batch", type=int, default=512)
    ap.add_argument("--extrapolate-to", type=int, default=25, metavar="K", help="K for the printed extrapolation")
    ap.add_argument("--bf16", action="store_true")
    ap.add_argument("--skip-reference", action="store_true")
    return ap.parse_args()


def sentences(k: int, n: int, t: int) -> tuple[list[str], list[int]]:
    """Distinct sentences and, for each, the index of the template it came from."""
    from septctl.sept.prefixes import fill

    classes = common.base_classes(k)
    names = classes + [p for row in common.neighbors_for(classes, n) for p in row]
    index: dict[str, int] = {}
    for ti, tpl in enumerate(common.templates(t)):
        for name in names:
            index.setdefault(fill(tpl, name), ti)
    return list(index), list(index.values())


def template_batches(ids, eot, template, batch: int):
    """Batches of whole templates, each with the token prefix all its sentences share.

    A template's words before the slot tokenize alike for every name, so its sentences
    share a prefix (SOS + those tokens) that ClipTextTower computes once per template
    (`prefix_groups`). Templates are sorted by that length so a batch's common P
    (its shortest) wastes little. Yields (row indices, P, group of each row).
    """
    groups: dict[int, list[int]] = {}
    for row, t in enumerate(template):
        groups.setdefault(t, []).append(row)
    shared = {}
    for t, rows in groups.items():
        r = ids[rows]
        same = (r == r[:1]).all(dim=0).long().cumprod(0)
        shared[t] = min(int(same.sum()), int(eot[rows].min()))  # never past an EOT
    pending, p_min = [], None
    for t in sorted(groups, key=lambda t: shared[t]):
        if pending and sum(len(groups[u]) for u in pending) + len(groups[t]) > batch:
            yield _batch(groups, pending, p_min)
            pending, p_min = [], None
        pending.append(t)
        p_min = shared[t] if p_min is None else min(p_min, shared[t])
    if pending:
        yield _batch(groups, pending, p_min)


def _batch(groups, templates, p):
    import torch

    rows = [r for t in templates for r in groups[t]]
    group = [g for g, t in enumerate(templates) for _ in groups[t]]
    return torch.tensor(rows), p, torch.tensor(group)


def main() -> None:
    args = parse_args()
    common.setup_process(args)
    import torch
    import torch.nn.functional as F

    from septctl.backbones.clip_text import reference_encode
    from septctl.backbones.tokenizer import ClipTokenizer

    dev = args.device
    print(common.describe_machine(dev), flush=True)
    tower, head = common.text_side(dev)
    texts, template = sentences(args.classes, args.neighbors, args.templates)
    ids, eot = ClipTokenizer(context_length=40)(texts)
    ids, eot = ids.to(dev), eot.to(dev)
    print(f"K={args.classes} N={args.neighbors} T={args.templates}: {len(texts)} distinct sentences, "
          f"tokens mean {float(eot.float().mean() + 1):.1f} max {int(eot.max()) + 1} (reference pads to 40)", flush=True)

    def reference():
        out = []
        with torch.inference_mode():
            for s in range(0, len(texts), args.ref_batch):
                e = tower.token_embedding(ids[s : s + args.ref_batch])
                out.append(head(reference_encode(tower.core, e, eot[s : s + args.ref_batch])))
        return F.normalize(torch.cat(out).float(), dim=-1)

    def fast(bf16: bool = False):
        order = torch.argsort(eot, stable=True)
        out = torch.empty(len(texts), 1024, device=dev)
        kind = "cuda" if dev.startswith("cuda") else "cpu"
        with torch.inference_mode(), torch.autocast(kind, dtype=torch.bfloat16, enabled=bf16):
            for s in range(0, len(texts), args.fast_batch):
                idx = order[s : s + args.fast_batch]
                longest = int(eot[idx].max()) + 1
                f = head(tower(tower.token_embedding(ids[idx, :longest]), eot[idx]))
                out[idx] = F.normalize(f.float(), dim=-1)
        return out

    def fast_templates():
        out = torch.empty(len(texts), 1024, device=dev)
        with torch.inference_mode():
            for rows, p, group in template_batches(ids.cpu(), eot.cpu(), template, args.fast_batch):
                rows, group = rows.to(dev), group.to(dev)
                e = tower.token_embedding(ids[rows, : int(eot[rows].max()) + 1])
                f = head(tower(e, eot[rows], shared_prefix=p, prefix_groups=group))
                out[rows] = F.normalize(f.float(), dim=-1)
        return out

    with torch.inference_mode():  # warm-up, one small batch each
        reference_encode(tower.core, tower.token_embedding(ids[:8]), eot[:8])
        tower(tower.token_embedding(ids[:8]), eot[:8])
    times, feats = {}, {}
    paths = {"reference": reference} if not args.skip_reference else {}
    paths["fast"] = fast
    paths["fast+template-prefix"] = fast_templates
    if args.bf16:
        paths["fast+bf16"] = lambda: fast(bf16=True)
    for name, fn in paths.items():
        box = {}
        times[name] = [common.timed(lambda: box.setdefault("f", fn()), dev)]
        feats[name] = box["f"]
        wall, cpu = times[name][0]
        print(f"  {name}: {wall:.2f} s wall, {cpu:.2f} s CPU, {len(texts) / wall:.1f} sentences/s", flush=True)
    base = feats.get("reference", feats["fast"])
    for name in ("fast", "fast+template-prefix"):
        if feats[name] is not base:
            print(f"exactness {name} vs {'reference' if 'reference' in feats else 'fast'}: "
                  f"max |feature diff| {float((feats[name] - base).abs().max()):.2e}")
    if "fast+bf16" in feats:
        cos = (feats["fast+bf16"] * feats["fast"]).sum(-1)
        print(f"bf16 vs fp32: cosine min {float(cos.min()):.6f}, mean {float(cos.mean()):.6f}")
    common.report(times, f"seconds to encode {len(texts)} sentences")
    total = args.extrapolate_to * (1 + args.neighbors) * 100
    print(f"\nextrapolated to K={args.extrapolate_to}, T=100 ({total} sentences at the measured sentences/s):")
    for name, v in times.items():
        print(f"  {name:<22} ~{v[0][0] * total / len(texts) / 60:.1f} min wall")


if __name__ == "__main__":
    main()
