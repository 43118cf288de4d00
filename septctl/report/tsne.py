"""A small exact t-SNE (van der Maaten & Hinton, 2008) in numpy, for a few hundred points.

Figure 4 shows ~50-200 prompt embeddings, so the O(n^2) exact gradient is instant and
septctl needs no sklearn. PCA initialisation makes the layout deterministic.
"""

from __future__ import annotations

import numpy as np


def _row_affinities(d2: np.ndarray, perplexity: float, tol: float = 1e-5, steps: int = 60) -> np.ndarray:
    """P[i, j] = p_{j|i}: Gaussian kernels whose entropy matches log(perplexity), by bisection on beta."""
    n = len(d2)
    target = np.log(perplexity)
    p = np.zeros((n, n))
    for i in range(n):
        d = np.delete(d2[i], i)
        lo, hi, beta = 0.0, np.inf, 1.0
        for _ in range(steps):
            w = np.exp(-(d - d.min()) * beta)
            s = w.sum()
            h = np.log(s) + beta * np.sum((d - d.min()) * w) / s  # entropy of the row
            if abs(h - target) < tol:
                break
            if h > target:
                lo, beta = beta, beta * 2 if hi == np.inf else (beta + hi) / 2
            else:
                hi, beta = beta, (beta + lo) / 2
        p[i, np.arange(n) != i] = w / s
    return p


def tsne(x: np.ndarray, perplexity: float = 10.0, iters: int = 1000, seed: int = 0) -> np.ndarray:
    """2-D embedding of the rows of x."""
    x = np.asarray(x, dtype=np.float64)
    n = len(x)
    if n < 4:
        raise ValueError("t-SNE needs at least 4 points")
    perplexity = min(perplexity, (n - 1) / 3)
    d2 = np.square(x[:, None, :] - x[None, :, :]).sum(-1)
    p = _row_affinities(d2, perplexity)
    p = np.maximum((p + p.T) / (2 * n), 1e-12)
    centred = x - x.mean(0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    y = centred @ vt[:2].T
    y = y / (y[:, 0].std() + 1e-12) * 1e-4
    y += np.random.default_rng(seed).normal(scale=1e-6, size=y.shape)
    lr = max(n / 12.0 / 4.0, 50.0)
    velocity, gains = np.zeros_like(y), np.ones_like(y)
    for it in range(iters):
        exaggeration = 12.0 if it < 250 else 1.0
        momentum = 0.5 if it < 250 else 0.8
        num = 1.0 / (1.0 + np.square(y[:, None, :] - y[None, :, :]).sum(-1))
        np.fill_diagonal(num, 0.0)
        q = np.maximum(num / num.sum(), 1e-12)
        pq = (exaggeration * p - q) * num
        grad = 4.0 * (np.diag(pq.sum(1)) - pq) @ y
        same = np.sign(grad) == np.sign(velocity)
        gains = np.clip(np.where(same, gains * 0.8, gains + 0.2), 0.01, None)
        velocity = momentum * velocity - lr * gains * grad
        y = y + velocity
        y -= y.mean(0)
    return y


def kl_divergence(x: np.ndarray, y: np.ndarray, perplexity: float = 10.0) -> float:
    """KL(P || Q) of an embedding y of x: lower means neighbourhoods are better kept."""
    n = len(x)
    perplexity = min(perplexity, (n - 1) / 3)
    p = _row_affinities(np.square(x[:, None, :] - x[None, :, :]).sum(-1), perplexity)
    p = np.maximum((p + p.T) / (2 * n), 1e-12)
    num = 1.0 / (1.0 + np.square(y[:, None, :] - y[None, :, :]).sum(-1))
    np.fill_diagonal(num, 0.0)
    q = np.maximum(num / num.sum(), 1e-12)
    return float(np.sum(p * np.log(p / q)))
