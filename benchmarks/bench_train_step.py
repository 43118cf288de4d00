"""One SEPT training step on Pengi's text side: the PALM/CoOp way vs septctl's exact fast path.

Setting (defaults): K=25 ESC-50 base classes, N=10 built-in neighbors each, M=16 learned
context vectors, batch of 16 clips drawn from 25 x 16 shots, logits = 100 * cosine,
loss = CE + 3 * semantic-expansion loss (septctl.sept.loss) on L2-normalised features,
SGD with momentum on the context. Random weights, real texts.

reference  every prompt padded to 40 tokens, class prompts and neighbor prompts in two
           encoder calls through HF's own layers, the batch's audio re-encoded by HTSAT
           (768 -> 1024 projection) every step, as PALM/CoOp do.
fast       audio embeddings cached once (septctl's `embed` stage); one call for all
           K + K*N prompts with packed tokens (nothing after an EOT), SOS + context
           computed once per layer, last layer on EOT rows only.  Exact: the script
           checks features, loss and gradients against the reference first.
Options that are not exact, each its own column: --bf16 (autocast), --neighbor-subset S
(S random neighbors per class per step).

    .venv/bin/python benchmarks/bench_train_step.py [--device cuda] [--steps 2] [--bf16] [--neighbor-subset 3]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

SAMPLES = 308_700  # Pengi: 7 s at 44.1 kHz
LR, MOMENTUM, SCALE, LAMBDA = 0.0125, 0.9, 100.0, 3.0


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    common.common_args(ap)
    ap.add_argument("--classes", type=int, default=25)
    ap.add_argument("--neighbors", type=int, default=10)
    ap.add_argument("--ctx", type=int, default=16)
    ap.add_argument("--shots", type=int, default=16)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--steps", type=int, default=2, help="timed steps per path, after 1 warm-up step")
    ap.add_argument("--bf16", action="store_true", help="add a fast+bf16-autocast column (not exact)")
    ap.add_argument("--neighbor-subset", type=int, default=0, metavar="S",
                    help="add a column that encodes S random neighbors per class per step (not exact)")
    ap.add_argument("--no-audio-encoder", action="store_true", help="reference without HTSAT (text only)")
    ap.add_argument("--skip-reference", action="store_true", help="time the fast paths only")
    return ap.parse_args()


class Setup:
    """Everything both paths share: prompts (as frozen token embeddings), margins, audio."""

    def __init__(self, args: argparse.Namespace):
        import torch

        from septctl.backbones.projection import Projection
        from septctl.backbones.tokenizer import ClipTokenizer

        dev = self.device = args.device
        self.k, self.n, self.m = args.classes, args.neighbors, args.ctx
        self.tower, self.head = common.text_side(dev)
        classes = common.base_classes(self.k)
        neighbors = common.neighbors_for(classes, self.n)
        tok = ClipTokenizer(context_length=40)
        prompt = "X " * self.m
        texts = [f"{prompt}{c}." for c in classes] + [f"{prompt}{p}." for row in neighbors for p in row]
        ids, eot = tok(texts)
        with torch.no_grad():
            self.emb = self.tower.token_embedding(ids.to(dev))  # [K + K*N, 40, W], cached as CoOp does
        self.eot = eot.to(dev)
        self.p = 1 + self.m  # SOS + context: the shared prefix
        longest = int(eot.max()) + 1
        self.suffix = self.emb[:, self.p : longest]  # trimmed once
        self.lengths = (eot + 1).tolist()
        g = torch.Generator().manual_seed(0)
        self.ctx0 = 0.02 * torch.randn(self.m, self.tower.width, generator=g)
        self.margins = (0.3 + 0.6 * torch.rand(self.k, self.k, self.n, generator=g)).to(dev)
        pool = self.k * args.shots
        self.audio_cache = torch.randn(pool, 1024, generator=g).to(dev)  # `embed` output
        self.labels_pool = torch.arange(pool) // args.shots
        self.batches = [torch.randperm(pool, generator=g)[: args.batch] for _ in range(args.steps + 2)]
        self.htsat = None
        if not args.no_audio_encoder and not args.skip_reference:
            from septctl.backbones.htsat import HTSAT

            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(1)
                self.htsat = HTSAT().to(dev).eval()
                self.audio_proj = Projection(768, 1024).to(dev).eval()
            self.waves = torch.randn(args.batch, SAMPLES, generator=g).mul(0.1).to(dev)

    def new_ctx(self):
        import torch

        ctx = self.ctx0.clone().to(self.device).requires_grad_(True)
        return ctx, torch.optim.SGD([ctx], lr=LR, momentum=MOMENTUM)

    # -- text paths ---------------------------------------------------------------

    def text_reference(self, ctx):
        from septctl.backbones.clip_text import reference_encode

        def encode(rows):
            e = self.emb[rows]
            x = _cat([e[:, :1], ctx.expand(len(e), -1, -1), e[:, self.p :]])
            return self.head(reference_encode(self.tower.core, x, self.eot[rows]))

        return encode(slice(0, self.k)), encode(slice(self.k, None))

    def text_fast(self, ctx, rows=None):
        """One call for every prompt (or for `rows` of them)."""
        suffix, eot = (self.suffix, self.eot) if rows is None else (self.suffix[rows], self.eot[rows])
        b = suffix.shape[0]
        x = _cat([self.emb[:1, :1].expand(b, -1, -1), ctx.expand(b, -1, -1), suffix])
        f = self.head(self.tower(x, eot, shared_prefix=self.p))
        return f[: self.k], f[self.k :]

    def loss(self, z, p, audio, labels, margins):
        import torch.nn.functional as F

        from septctl.sept.loss import semantic_expansion_loss

        z, p = F.normalize(z.float(), dim=-1), F.normalize(p.float(), dim=-1)
        logits = SCALE * F.normalize(audio.float(), dim=-1) @ z.T
        ce = F.cross_entropy(logits, labels.to(logits.device))
        return ce + LAMBDA * semantic_expansion_loss(z, p.view(self.k, -1, z.shape[1]), margins)

    def audio_reference(self):
        import torch

        with torch.no_grad():
            return self.audio_proj(self.htsat(self.waves))


def _cat(parts):
    import torch

    return torch.cat(parts, dim=1)


def make_steps(s: Setup, args: argparse.Namespace) -> dict:
    """name -> step(i) callable; each path has its own context and optimizer."""
    import torch

    steps = {}

    def sgd(loss, opt):
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    if not args.skip_reference:
        ctx_r, opt_r = s.new_ctx()

        def reference(i):
            idx = s.batches[i]
            audio = s.audio_reference() if s.htsat is not None else s.audio_cache[idx]
            z, p = s.text_reference(ctx_r)
            sgd(s.loss(z, p, audio, s.labels_pool[idx], s.margins), opt_r)

        steps["reference"] = reference

    ctx_f, opt_f = s.new_ctx()

    def fast(i):
        idx = s.batches[i]
        z, p = s.text_fast(ctx_f)
        sgd(s.loss(z, p, s.audio_cache[idx], s.labels_pool[idx], s.margins), opt_f)

    steps["fast"] = fast
    if args.bf16:
        ctx_b, opt_b = s.new_ctx()
        kind = "cuda" if args.device.startswith("cuda") else "cpu"

        def fast_bf16(i):
            idx = s.batches[i]
            with torch.autocast(kind, dtype=torch.bfloat16):
                z, p = s.text_fast(ctx_b)
            sgd(s.loss(z, p, s.audio_cache[idx], s.labels_pool[idx], s.margins), opt_b)

        steps["fast+bf16"] = fast_bf16
    if args.neighbor_subset:
        ctx_s, opt_s = s.new_ctx()
        sub = args.neighbor_subset
        gen = torch.Generator().manual_seed(2)

        def fast_subset(i):
            idx = s.batches[i]
            pick = torch.rand(s.k, s.n, generator=gen).argsort(dim=1)[:, :sub]  # [K, S]
            rows = torch.cat([torch.arange(s.k), (s.k + torch.arange(s.k)[:, None] * s.n + pick).flatten()])
            z, p = s.text_fast(ctx_s, rows.to(s.device))
            margins = s.margins.gather(2, pick.to(s.device)[None].expand(s.k, -1, -1))
            sgd(s.loss(z, p, s.audio_cache[idx], s.labels_pool[idx], margins), opt_s)

        steps[f"fast+subset{sub}"] = fast_subset
    return steps


def exactness_check(s: Setup) -> tuple[float, float, float]:
    """Same context, same audio features: max |diff| of features, loss and context gradient."""
    idx = s.batches[0]
    out = []
    for path in (s.text_reference, s.text_fast):
        ctx, _ = s.new_ctx()
        z, p = path(ctx)
        loss = s.loss(z, p, s.audio_cache[idx], s.labels_pool[idx], s.margins)
        loss.backward()
        out.append((z.detach(), p.detach(), loss.detach(), ctx.grad))
    (z1, p1, l1, g1), (z2, p2, l2, g2) = out
    feat = max(float((z1 - z2).abs().max()), float((p1 - p2).abs().max()))
    return feat, float((l1 - l2).abs()), float((g1 - g2).abs().max() / g1.abs().max().clamp(min=1e-12))


def main() -> None:
    args = parse_args()
    common.setup_process(args)
    import torch

    print(common.describe_machine(args.device), flush=True)
    s = Setup(args)
    lens = torch.tensor(s.lengths, dtype=torch.float)
    print(f"K={s.k} N={s.n} M={s.m}: {len(s.lengths)} prompts, tokens per prompt mean {lens.mean():.1f} "
          f"max {int(lens.max())} (reference pads to 40; shared prefix {s.p})", flush=True)
    if not args.skip_reference:
        feat, loss, grad = exactness_check(s)
        print(f"exactness fast vs reference: features {feat:.2e}, loss {loss:.2e}, "
              f"context gradient {grad:.2e} (relative to its largest entry)", flush=True)
    steps = make_steps(s, args)
    audio_note = "text only (no audio encoder)" if s.htsat is None else "HTSAT re-encodes the batch"
    for name, step in steps.items():  # warm-up
        step(0)
    times = {name: [] for name in steps}
    for i in range(1, args.steps + 1):  # interleaved, so background load hits every path alike
        for name, step in steps.items():
            times[name].append(common.timed(lambda: step(i), args.device))
            wall, cpu = times[name][-1]
            print(f"  step {i} {name}: {wall:.3f} s wall, {cpu:.3f} s CPU", flush=True)
    if s.htsat is not None:
        wall, cpu = common.timed(s.audio_reference, args.device)
        print(f"  (of a reference step, HTSAT on {args.batch} clips: {wall:.3f} s wall, {cpu:.3f} s CPU)")
    common.report(times, f"seconds per step (mean of {args.steps}; reference: {audio_note})")

if __name__ == "__main__":
    main()
