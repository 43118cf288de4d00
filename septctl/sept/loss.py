"""The semantic-expansion loss (paper eqs. 7-9), vectorised over classes and neighbors.

    intra(i)   = 1/N sum_n max(0, ||z_i - p_i^n|| - m[i,i,n])          (eq. 7, pull)
    inter(i,j) = 1/N sum_n max(0, m[i,j,n] - ||z_i - p_j^n||)           (eq. 8, push), j != i
    L_se       = 1/K sum_i ( intra(i) + 1/(K-1) sum_{j != i} inter(i,j) )   (eq. 9)

Pass z and p in the space the margins were measured in: septctl's margins are
distances between L2-normalised text features, so normalise z and p first.

The switches reproduce Table 3. A term switched off is left out. A margin switched
off gives the paper's "naive" loss: intra without margin is the plain distance
||z_i - p_i^n|| (pull every positive all the way), inter without margin is minus the
distance, -||z_i - p_j^n|| (push negatives away without bound; on unit vectors the
distance is at most 2, so it stays bounded below in septctl's space).

`SemanticExpansionLoss` is the module training code uses (septctl's engine and a user's own
loop alike): it keeps the margins and switches and normalises z and p itself.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def semantic_expansion_loss(
    z: torch.Tensor,
    p: torch.Tensor,
    m: torch.Tensor,
    *,
    intra: bool = True,
    inter: bool = True,
    intra_margin: bool = True,
    inter_margin: bool = True,
) -> torch.Tensor:
    """z [K, D] class prompts, p [K, N, D] neighbor prompts, m [K, K, N] margins -> scalar loss (no normalising)."""
    k, n, _ = p.shape
    if z.shape[0] != k or m.shape != (k, k, n):
        raise ValueError(f"shapes do not fit: z {tuple(z.shape)}, p {tuple(p.shape)}, m {tuple(m.shape)}")
    m = m.to(dtype=z.dtype, device=z.device)
    dist = torch.linalg.vector_norm(z[:, None, None, :] - p[None], dim=-1)  # [K(i), K(j), N]
    loss = z.new_zeros(())
    if intra:
        idx = torch.arange(k, device=z.device)
        d_pos = dist[idx, idx]  # [K, N]
        pull = (d_pos - m[idx, idx]).clamp(min=0) if intra_margin else d_pos
        loss = loss + pull.mean()  # = 1/K sum_i 1/N sum_n
    if inter and k > 1:
        push = (m - dist).clamp(min=0) if inter_margin else -dist
        off = ~torch.eye(k, dtype=torch.bool, device=z.device)
        loss = loss + push[off].sum() / (k * (k - 1) * n)
    return loss


class SemanticExpansionLoss(torch.nn.Module):
    """L_se for one set of margins, as a module to add beside a classification loss.

    It holds the [K, K, N] margins as a buffer (so `.to(device)` moves them with the model)
    and the Table 3 switches, and L2-normalises the features it is given: margins are
    distances between unit-norm text features, and the loss must measure in that space.
    Training code builds it once per run; `septctl train --sept` uses this same module.
    """

    def __init__(self, margins: torch.Tensor, *, intra: bool = True, inter: bool = True,
                 intra_margin: bool = True, inter_margin: bool = True) -> None:
        super().__init__()
        if margins.dim() != 3 or margins.shape[0] != margins.shape[1]:
            raise ValueError(f"margins must be [K, K, N], not {tuple(margins.shape)}")
        self.register_buffer("margins", margins.detach().float())
        self.switches = dict(intra=intra, inter=inter, intra_margin=intra_margin, inter_margin=inter_margin)

    def forward(self, z: torch.Tensor, p: torch.Tensor, neighbors: torch.Tensor | None = None) -> torch.Tensor:
        """z [K, D] class prompt features, p [K, N', D] neighbor prompt features -> scalar loss.

        `neighbors` names which of the N neighbors p holds (indices, for a per-step subset); all N by default.
        """
        m = self.margins if neighbors is None else self.margins[:, :, neighbors.to(self.margins.device)]
        return semantic_expansion_loss(F.normalize(z, dim=-1), F.normalize(p, dim=-1), m, **self.switches)

    def extra_repr(self) -> str:
        k, _, n = self.margins.shape
        return f"K={k}, N={n}, " + ", ".join(f"{key}={value}" for key, value in self.switches.items())
