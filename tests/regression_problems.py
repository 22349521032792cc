"""Sparse regression test problems and an independent objective/KKT check."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def sparse_truth(n: int, p: int, k: int, seed: int = 0, noise: float = 0.1,
                 sparse: bool = False, offset: float = 0.0):
    rng = np.random.default_rng(seed)
    if sparse:
        X = sp.random(n, p, density=0.05, random_state=seed, format="csc")
    else:
        X = rng.standard_normal((n, p))
    w = np.zeros(p)
    w[rng.choice(p, k, replace=False)] = rng.standard_normal(k) * 2
    y = X @ w + noise * rng.standard_normal(n) + offset
    return X, y, w


def labels(n: int, p: int, k: int, seed: int = 0):
    X, z, w = sparse_truth(n, p, k, seed, noise=0.5)
    return X, np.where(z > 0, 1, 0), w


def objective(X, y, w, b, alpha, l1_ratio=1.0, loss="squared", weights=None):
    """Written out from the definition, independent of solvers.regression."""
    v = np.ones(w.size) if weights is None else weights
    z = np.asarray(X @ w).ravel() + b
    if loss == "squared":
        data = 0.5 * np.mean((y - z) ** 2)
    else:
        s = np.where(y > 0, 1.0, -1.0)
        data = np.mean(np.logaddexp(0, -s * z))
    return data + alpha * (l1_ratio * v @ np.abs(w) + 0.5 * (1 - l1_ratio) * v @ (w * w))
