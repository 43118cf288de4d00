"""Linear probe (the CoOp paper's baseline): L2-regularised logistic regression on the audio features.

As CoOp's `lpclip` (sklearn's LogisticRegression, L-BFGS), in torch, so sklearn is not a
runtime dependency: minimise  sum_i CE(W a_i + b, y_i) + ||W||^2 / (2C)  (bias unpenalised)
with full-batch L-BFGS in float64 on L2-normalised features, stopping as sklearn's does (objective
divided by n, every gradient entry below 1e-4, at most 1000 iterations). C is chosen as CoOp does, on a
validation split: a coarse search over 1e6, 1e4, ..., 1e-6, then a bisection (in log10 C) between
the best value's neighbours; the validation split is drawn from the training shots (a quarter
of each class's shots, at least one, seeded by the run's seed; classes with a single shot stay
in training), never from the test split. The probe is then refitted on every shot with that C.

It learns one row per trained class, so it cannot score any other class: `logits` refuses, and
the grid and `eval` ask it for its trained classes only (the report shows "-" for New).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from septctl.backbones.base import Backbone
from septctl.defaults import N_CTX
from septctl.errors import SeptctlError
from septctl.methods.frozen import FrozenTextMethod

C_GRID = (1e6, 1e4, 1e2, 1.0, 1e-2, 1e-4, 1e-6)  # CoOp lpclip's coarse search
BISECTIONS = 4  # steps of the fine search between the best coarse value's neighbours
VAL_FRACTION = 0.25
MAX_ITER = 1000  # sklearn's max_iter in lpclip
GTOL = 1e-4  # sklearn's tol: L-BFGS stops when no gradient entry of the objective / n exceeds it


def fit_logistic(x: torch.Tensor, y: torch.Tensor, k: int, c: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(W [k, D], b [k]) minimising sum CE + ||W||^2 / (2c), by L-BFGS (float64, zero init)."""
    x64 = x.double()
    w = torch.zeros(k, x.shape[1], dtype=torch.float64, device=x.device, requires_grad=True)
    b = torch.zeros(k, dtype=torch.float64, device=x.device, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], lr=1.0, max_iter=MAX_ITER, tolerance_grad=GTOL, tolerance_change=1e-9,
                            history_size=10, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:  # the objective over n, as sklearn scales it (so its tolerance means the same)
        opt.zero_grad()
        loss = F.cross_entropy(x64 @ w.T + b, y) + (w * w).sum() / (2 * c * len(y))
        loss.backward()
        return loss

    with torch.enable_grad():
        opt.step(closure)
    return w.detach().float(), b.detach().float()


def validation_split(labels: torch.Tensor, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(train rows, validation rows): per class a seeded quarter of its shots (>= 1) held out, if it has 2+."""
    gen = torch.Generator().manual_seed(seed)
    train, val = [], []
    for c in labels.unique(sorted=True).tolist():
        rows = (labels == c).nonzero().flatten().cpu()
        rows = rows[torch.randperm(len(rows), generator=gen)]
        n_val = max(1, round(VAL_FRACTION * len(rows))) if len(rows) > 1 else 0
        val.append(rows[:n_val])
        train.append(rows[n_val:])
    return torch.cat(train), torch.cat(val)


def search_c(x: torch.Tensor, y: torch.Tensor, k: int, seed: int) -> tuple[float, float]:
    """(C, validation accuracy in %) by CoOp's coarse-then-bisection search on a split of the shots."""
    tr, va = validation_split(y, seed)
    if len(va) == 0:  # one shot per class: nothing to validate on
        return 1.0, float("nan")

    def score(c: float) -> float:
        w, b = fit_logistic(x[tr], y[tr], k, c)
        return 100 * float(((x[va] @ w.T + b).argmax(-1) == y[va]).float().mean())

    scores = [score(c) for c in C_GRID]
    best = max(range(len(C_GRID)), key=lambda i: (scores[i], -i))  # ties: the larger C, as the first seen
    logs = [math.log10(c) for c in C_GRID]
    left, right = logs[max(best - 1, 0)], logs[min(best + 1, len(logs) - 1)]
    best_log, best_score = logs[best], scores[best]
    for _ in range(BISECTIONS):
        mid_l, mid_r = (left + best_log) / 2, (best_log + right) / 2
        s_l, s_r = score(10**mid_l), score(10**mid_r)
        if s_l > best_score and s_l >= s_r:
            right, best_log, best_score = best_log, mid_l, s_l
        elif s_r > best_score:
            left, best_log, best_score = best_log, mid_r, s_r
        else:
            left, right = mid_l, mid_r
    return 10**best_log, best_score


class LinearProbe(FrozenTextMethod):
    name = "linear-probe"

    def __init__(self, backbone: Backbone, classnames: list[str], n_ctx: int = N_CTX, logit_scale: float = 100.0):
        super().__init__(backbone, classnames, logit_scale)
        k, d = len(self.classnames), backbone.embed_dim
        # fitted in closed form by `fit`, never stepped by the engine (so no gradient)
        self.weight = nn.Parameter(torch.zeros(k, d, device=backbone.device), requires_grad=False)
        self.bias = nn.Parameter(torch.zeros(k, device=backbone.device), requires_grad=False)

    def num_trainable(self) -> int:
        return self.weight.numel() + self.bias.numel()

    def fit(self, features: torch.Tensor, labels: torch.Tensor, seed: int) -> dict:
        x = F.normalize(features.float(), dim=-1)
        k = len(self.classnames)
        c, val_acc = search_c(x, labels, k, seed)
        w, b = fit_logistic(x, labels, k, c)
        self.weight.data.copy_(w)
        self.bias.data.copy_(b)
        return {"C": float(f"{c:.6g}"), "validation_accuracy": None if math.isnan(val_acc) else round(val_acc, 4)}

    def logits(self, audio: torch.Tensor, names: list[str], split: str = "all") -> torch.Tensor:
        if not self.trained_rows(names):
            raise SeptctlError("linear-probe learns one row per trained class and cannot score other classes; "
                               "evaluate it on the classes it was trained on")
        return F.normalize(audio, dim=-1) @ self.weight.T + self.bias
