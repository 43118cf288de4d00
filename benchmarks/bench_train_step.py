"""One SEPT training step on a Pengi-shaped backbone: the PALM/CoOp way vs septctl's own training loop.

Setting: K=25 ESC-50 base classes, N=10 built-in neighbors each, a batch drawn from
25 x 16 shots; context length, batch size, logit scale, lambda and the optimizer come
from septctl's own defaults (engine.config.TrainConfig, SeptOptions; method.make_optimizer).
Random weights (timings do not depend on them), real texts.

reference  every prompt padded to 40 tokens, class prompts and neighbor prompts in two
           calls through HF's own layers (`reference_encode`), the batch's audio
           re-encoded by HTSAT every step, as PALM/CoOp do.
fast       septctl's `engine.train.train_epoch` on the batch with the CoOp method, so the
           prompts go through the real `CoOp.encode_names` (one packed call for all
           K + K*N prompts, the shared prefix computed once) and audio comes from the
           cached embeddings (septctl's `embed` stage). Exact: the script checks
           features, loss and gradient of both paths first.
Not exact, each its own column: --bf16 (train_epoch under autocast) and --neighbor-subset S
(the engine's neighbor_subset option: S random neighbors per step, the same for every class).

    .venv/bin/python benchmarks/bench_train_step.py [--device cuda] [--steps 2] [--bf16] [--neighbor-subset 3]
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
    ap.add_argument("--classes", type=int, default=25)
    ap.add_argument("--neighbors", type=int, default=10)
    ap.add_argument("--shots", type=int, default=16)
    ap.add_argument("--batch", type=int, default=None, help="batch size (default: septctl's)")
    ap.add_argument("--steps", type=int, default=2, help="timed steps per path, after 1 warm-up step")
    ap.add_argument("--bf16", action="store_true", help="add a fast+bf16-autocast column (not exact)")
    ap.add_argument("--neighbor-subset", type=int, default=0, metavar="S",
                    help="add a column that encodes S random neighbors per step (not exact)")
    ap.add_argument("--no-audio-encoder", action="store_true", help="reference without HTSAT (text only)")
    ap.add_argument("--skip-reference", action="store_true", help="time the fast paths only")
    return ap.parse_args()


class Setup:
    """What every path shares: backbone, classes and neighbors, margins, cached audio, batches."""

    def __init__(self, args: argparse.Namespace):
        import torch

        from septctl.backbones.pengi import PengiBackbone
        from septctl.engine.config import SeptOptions, TrainConfig

        dev = self.device = args.device
        self.cfg = TrainConfig(dataset="benchmark", device=dev)
        if args.batch:
            self.cfg.batch_size = args.batch
        self._prompts: dict[tuple[str, ...], tuple] = {}
        self.lam = SeptOptions(neighbors="", margins="").lam
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            self.backbone = PengiBackbone(clip_init=True).to(dev).freeze()
        self.k, self.n = args.classes, args.neighbors
        self.classes = common.base_classes(self.k)
        self.names = dict(zip(self.classes, common.neighbors_for(self.classes, self.n)))
        g = torch.Generator().manual_seed(0)
        self.margins = (0.3 + 0.6 * torch.rand(self.k, self.k, self.n, generator=g)).to(dev)
        pool = self.k * args.shots
        self.audio_cache = torch.randn(pool, self.backbone.embed_dim, generator=g).to(dev)  # `embed` output
        self.labels = (torch.arange(pool) // args.shots).to(dev)
        batch = min(self.cfg.batch_size, pool)
        self.batches = [torch.randperm(pool, generator=g)[:batch].to(dev) for _ in range(args.steps + 2)]
        self.reencode = not (args.no_audio_encoder or args.skip_reference)
        if self.reencode:
            spec = self.backbone.audio_spec
            samples = round(spec.sample_rate * spec.clip_seconds)
            self.waves = torch.randn(batch, samples, generator=g).mul(0.1).to(dev)

    def method(self, neighbor_subset: int = 0):
        """A fresh CoOp (same initial context every time), its optimizer and SEPT term, as the engine builds them."""
        import torch

        from septctl.engine.config import SeptOptions
        from septctl.engine.train import SeptTerm
        from septctl.methods.coop import CoOp

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(1)
            method = CoOp(self.backbone, self.classes, n_ctx=self.cfg.n_ctx, logit_scale=self.cfg.logit_scale)
        sept = SeptTerm(self.names, self.classes, self.margins,
                        SeptOptions(neighbors="", margins="", lam=self.lam, neighbor_subset=neighbor_subset))
        return method, method.make_optimizer(self.cfg), sept

    # -- the reference path ----------------------------------------------------------

    def reference_text(self, ctx):
        """Class and neighbor features, each prompt padded to 40 tokens, two calls through HF's layers."""
        import torch

        from septctl.backbones.clip_text import reference_encode

        b, m = self.backbone, ctx.shape[0]
        s = b.ctx_start
        placeholder = " ".join(["X"] * m)

        def encode(names):
            if tuple(names) not in self._prompts:  # tokenized and embedded once, as CoOp does
                ids, eot = b.tokenizer([f"{placeholder} {name}." for name in names])
                with torch.no_grad():
                    self._prompts[tuple(names)] = b.token_embedding()(ids.to(self.device)), eot.to(self.device)
            emb, eot = self._prompts[tuple(names)]
            x = torch.cat([emb[:, :s], ctx.expand(len(names), -1, -1), emb[:, s + m :]], dim=1)
            return b.projection(b.text_projection(reference_encode(b.text.core, x, eot)))

        return encode(self.classes), encode([p for c in self.classes for p in self.names[c]])

    def reference_loss(self, z, p, audio, labels):
        import torch.nn.functional as F

        from septctl.sept.loss import semantic_expansion_loss

        z, p = F.normalize(z, dim=-1), F.normalize(p, dim=-1)
        ce = F.cross_entropy(self.cfg.logit_scale * F.normalize(audio, dim=-1) @ z.T, labels)
        return ce + self.lam * semantic_expansion_loss(z, p.view(self.k, self.n, -1), self.margins)

    def reference_audio(self):
        import torch

        with torch.no_grad():
            return self.backbone.encode_audio(self.waves)


def make_steps(s: Setup, args: argparse.Namespace) -> dict:
    """name -> step(i) callable; each path has its own context and optimizer."""
    import torch

    from septctl.engine.train import train_epoch

    steps = {}
    if not args.skip_reference:
        method_r, opt_r, _ = s.method()

        def reference(i):
            idx = s.batches[i]
            audio = s.reference_audio() if s.reencode else s.audio_cache[idx]
            loss = s.reference_loss(*s.reference_text(method_r.ctx), audio, s.labels[idx])
            opt_r.zero_grad(set_to_none=True)
            loss.backward()
            opt_r.step()

        steps["reference"] = reference

    def engine_step(neighbor_subset: int = 0, autocast: bool = False):
        method, opt, sept = s.method(neighbor_subset)
        gen = torch.Generator().manual_seed(2)
        kind = "cuda" if args.device.startswith("cuda") else "cpu"

        def step(i):
            idx = s.batches[i]
            with torch.autocast(kind, dtype=torch.bfloat16, enabled=autocast):
                train_epoch(method, s.audio_cache[idx], s.labels[idx], s.classes, opt, gen, len(idx), sept)

        return step

    steps["fast"] = engine_step()
    if args.bf16:
        steps["fast+bf16"] = engine_step(autocast=True)
    if args.neighbor_subset:
        steps[f"fast+subset{args.neighbor_subset}"] = engine_step(neighbor_subset=args.neighbor_subset)
    return steps


def exactness_check(s: Setup) -> tuple[float, float, float]:
    """Same context, same audio features: max |diff| of features, loss and context gradient."""
    import torch

    idx = s.batches[0]
    audio, labels = s.audio_cache[idx], s.labels[idx]
    method, _, sept = s.method()
    names = s.classes + sept.names
    feats = method.encode_names(names, audio)
    z_fast, p_fast = feats[: s.k], feats[s.k :]
    ce, _ = method.loss(audio, labels, z_fast)
    loss_fast = ce + sept.opts.lam * sept.loss(method, z_fast, p_fast, torch.arange(s.n))
    loss_fast.backward()
    grad_fast = method.ctx.grad.clone()

    method_r, _, _ = s.method()
    z_ref, p_ref = s.reference_text(method_r.ctx)
    loss_ref = s.reference_loss(z_ref, p_ref, audio, labels)
    loss_ref.backward()
    grad_ref = method_r.ctx.grad
    feat = max(float((z_fast - z_ref).detach().abs().max()), float((p_fast - p_ref).detach().abs().max()))
    return (feat, float((loss_fast - loss_ref).detach().abs()),
            float((grad_fast - grad_ref).abs().max() / grad_ref.abs().max().clamp(min=1e-12)))


def main() -> None:
    args = parse_args()
    common.setup_process(args)

    print(common.describe_machine(args.device), flush=True)
    s = Setup(args)
    print(f"K={s.k} N={s.n} M={s.cfg.n_ctx} batch={s.cfg.batch_size}: {s.k * (1 + s.n)} prompts per step "
          f"(reference pads each to 40 tokens)", flush=True)
    if not args.skip_reference:
        feat, loss, grad = exactness_check(s)
        print(f"exactness fast vs reference: features {feat:.2e}, loss {loss:.2e}, "
              f"context gradient {grad:.2e} (relative to its largest entry)", flush=True)
    steps = make_steps(s, args)
    audio_note = "HTSAT re-encodes the batch" if s.reencode else "text only (no audio encoder)"
    for step in steps.values():  # warm-up
        step(0)
    times = {name: [] for name in steps}
    for i in range(1, args.steps + 1):  # interleaved, so background load hits every path alike
        for name, step in steps.items():
            times[name].append(common.timed(lambda: step(i), args.device))
            wall, cpu = times[name][-1]
            print(f"  step {i} {name}: {wall:.3f} s wall, {cpu:.3f} s CPU", flush=True)
    if s.reencode:
        wall, cpu = common.timed(s.reference_audio, args.device)
        print(f"  (of a reference step, HTSAT on {s.cfg.batch_size} clips: {wall:.3f} s wall, {cpu:.3f} s CPU)")
    common.report(times, f"seconds per step (mean of {args.steps}; reference: {audio_note})")


if __name__ == "__main__":
    main()
