"""Low-rank completion problems with a known truth."""

from __future__ import annotations

import numpy as np


def low_rank(m: int, n: int, k: int, ratio: float, noise: float = 0.0, seed: int = 0):
    """M = U V^T / sqrt(k) with Gaussian U, V; ratio x k (m + n - k) entries observed
    uniformly. Returns (M's factors, rows, cols, vals, unobserved rows, cols, truth)."""
    rng = np.random.default_rng(seed)
    U = rng.standard_normal((m, k)) / k**0.25
    V = rng.standard_normal((n, k)) / k**0.25
    count = min(m * n - 1, int(ratio * k * (m + n - k)))
    seen = rng.choice(m * n, size=count, replace=False)
    rows, cols = seen // n, seen % n
    vals = np.einsum("ij,ij->i", U[rows], V[cols]) + noise * rng.standard_normal(count)
    mask = np.ones(m * n, dtype=bool)
    mask[seen] = False
    unseen = np.flatnonzero(mask)
    unseen = unseen[rng.choice(unseen.size, size=min(unseen.size, 20_000), replace=False)]
    ur, uc = unseen // n, unseen % n
    truth = np.einsum("ij,ij->i", U[ur], V[uc])
    return (U, V), rows, cols, vals, ur, uc, truth


def relative_error(estimate: np.ndarray, truth: np.ndarray) -> float:
    return float(np.linalg.norm(estimate - truth) / np.linalg.norm(truth))
