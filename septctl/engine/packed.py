"""Packed training: R runs of one backbone trained together, one text-tower call per step.

The encoders are frozen and the runs' learned tensors are disjoint, so the sum of the
runs' losses has, for each run's parameters, exactly that run's gradient. Each run keeps
its own method, optimizer, few-shot rows, shuffling generator, state file and card
(engine/train.py's `prepare_run` / `plan_step` / `step_loss` / `finish_run`, shared with
a run trained alone); only the text tower call is shared: every run's prompts, each run
(or, for CoCoOp, each clip of each run) one prefix group. A packed run's prompt equals
the run trained alone to float rounding (tests/test_packed.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

import torch

from septctl.backbones import load_backbone
from septctl.backbones.base import Backbone
from septctl.engine.config import TrainConfig
from septctl.engine.compile import compile_for_training
from septctl.engine.train import (Run, add_parts, finish_run, identify, plan_step, prepare_run, step_compile_mode,
                                  step_loss)
from septctl.errors import Interrupted, SeptctlError
from septctl.runs import check_new_folder, legacy_config_hash, run_folder, run_lock


def check_packable(cfgs: list[TrainConfig]) -> None:
    """One backbone (name, weights, device), prompt length and batch size; no reference dropout (it draws random numbers)."""
    first = cfgs[0]
    for cfg in cfgs:
        for key in ("backbone", "weights", "device", "n_ctx", "batch_size"):
            if getattr(cfg, key) != getattr(first, key):
                raise SeptctlError(f"packed runs need one {key}: {getattr(first, key)!r} and {getattr(cfg, key)!r}; "
                                   f"train them in separate packs")
        if cfg.reference_dropout:
            raise SeptctlError("--reference-dropout draws random numbers per step, so its runs cannot be packed; "
                               "drop --pack-size")


def train_packed(cfgs: list[TrainConfig], outs: list[Path | None], progress: bool = True,
                 echo: Callable[[str], None] = print, compile_setting: str | None = None,
                 keep_diverged: bool = False) -> list[Path]:
    """Train the runs of `cfgs` together (each resumed or skipped on its own); returns their run folders."""
    for cfg in cfgs:
        cfg.validate()
    check_packable(cfgs)
    mode = step_compile_mode(compile_setting, cfgs)
    given = cfgs
    legacy = [legacy_config_hash(cfg) for cfg in given]  # folders made by septctl 0.x are still recognised
    cfgs, datasets, identities, folds = (list(t) for t in zip(*(identify(cfg) for cfg in cfgs)))
    dirs = [run_folder(out, cfg, raw, identity, ds.name, fold)
            for cfg, raw, identity, ds, fold, out in zip(cfgs, given, identities, datasets, folds, outs)]
    if len(set(dirs)) != len(dirs):
        raise SeptctlError("two packed runs would share one run folder; put {seed} and {fold} in --out")
    for d in dirs:
        check_new_folder(d, "--out")
    with ExitStack() as stack:
        for d in dirs:
            stack.enter_context(run_lock(d, echo))
        backbone = load_backbone(cfgs[0].backbone, cfgs[0].weights, cfgs[0].device)
        runs = [prepare_run(cfg, ds, fold, d, progress, echo, identity, backbone, old)
                for cfg, ds, fold, d, identity, old in zip(cfgs, datasets, folds, dirs, identities, legacy)]
        runs = [r for r in runs if r is not None]
        compiled = compile_for_training(backbone, mode, echo=echo) if runs else None
        for r in runs:
            r.compiled = compiled
        if runs:
            t0 = time.time()
            _train_together(runs, echo)
            names = [str(r.run_dir) for r in runs]
            for r in runs:
                for warning in finish_run(r, time.time() - t0, packed_with=[n for n in names if n != str(r.run_dir)],
                                          keep_diverged=keep_diverged):
                    echo(f"warning: {r.run_dir}: {warning}")
    return dirs


def _train_together(runs: list[Run], echo: Callable[[str], None]) -> None:
    saved = {id(r): r.start for r in runs}
    try:
        for epoch in range(min(r.start for r in runs), max(r.epochs for r in runs)):
            active = [r for r in runs if r.start <= epoch < r.epochs]
            for r, means in zip(active, packed_epoch(active, epoch + 1)):
                r.end_epoch(epoch + 1, means)
                saved[id(r)] = epoch + 1
    except KeyboardInterrupt:
        for r in runs:
            echo(f"interrupted: {r.run_dir} holds epoch {saved[id(r)]}/{r.cfg.epochs}; rerun the same command to resume")
        raise Interrupted from None


def packed_epoch(runs: list[Run], epoch: int) -> list[dict[str, float]]:
    """One epoch of every run in `runs`, step by step; a run with fewer rows sits out its missing steps."""
    perms = [torch.randperm(len(r.setup.labels), generator=r.gen) for r in runs]
    sums: list[dict[str, float]] = [{} for _ in runs]
    longest = max(len(p) for p in perms)
    b = 0
    while b < longest:
        live = [i for i, p in enumerate(perms) if b < len(p)]
        steps, batches = [], []
        for i in live:
            r, bs = runs[i], runs[i].cfg.batch_size
            s = plan_step(r.setup.features, r.setup.labels, r.setup.classes, perms[i][b : b + bs], r.gen, r.sept)
            steps.append(s)
            batches.append(r.method.prompt_batch(s.names, s.audio) if r.method.encodes_prompts else None)
        prompted = [(runs[i], batch) for i, batch in zip(live, batches) if batch is not None]
        shared = iter(encode_packed(prompted[0][0].setup.backbone, prompted[0][0].method.prompts.shared_prefix,
                                    [batch for _, batch in prompted]) if prompted else [])
        total = 0
        for i, s, batch in zip(live, steps, batches):
            r = runs[i]
            # methods with frozen text features (encodes_prompts False) need no shared text-tower call
            feats = r.method.unflatten(next(shared), s.names, s.audio) if batch is not None else \
                r.method.encode_names(s.names, s.audio)
            loss, parts = step_loss(r.method, s, feats, len(r.setup.classes), r.sept, epoch)
            total = total + loss
            add_parts(sums[i], parts, len(s.audio))
        for i in live:
            runs[i].opt.zero_grad(set_to_none=True)
        total.backward()
        for i in live:
            runs[i].opt.step()
        b += runs[0].cfg.batch_size
    return [{k: v / len(p) for k, v in s.items()} for s, p in zip(sums, perms)]


def encode_packed(backbone: Backbone, shared_prefix: int, batches: list[tuple]) -> list[torch.Tensor]:
    """All runs' prompts through the text tower in one call; each run's groups get their own ids."""
    embs, eots, groups, offset = [], [], [], 0
    for emb, eot, g in batches:
        embs.append(emb)
        eots.append(eot)
        groups.append(g + offset)
        offset += int(g.max()) + 1
    feats = backbone.encode_text(torch.cat(embs), torch.cat(eots), shared_prefix=shared_prefix,
                                 prefix_groups=torch.cat(groups))
    return list(feats.split([len(e) for e in embs]))
