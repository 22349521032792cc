"""Spectral initialisation (Jain, Netrapalli and Sanghavi, 2013): the top-k left
singular vectors of the rescaled observations P_Omega(M) / p, with rows of outsized
norm clipped so that the start is incoherent, as alternating minimisation needs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from solvers.errors import check_stop


def top_singular(S: Any, k: int, rng: np.random.Generator, xp: Any, power: int = 4,
                 oversample: int = 10,
                 should_stop: Callable[[], str | None] | None = None) -> tuple[Any, Any]:
    """Left singular vectors and values of a sparse S by randomized subspace iteration
    (Halko, Martinsson and Tropp, 2011): only products with S and S^T, never a dense
    m x n matrix."""
    m, n = S.shape
    width = min(k + oversample, m, n)
    Q, _ = xp.linalg.qr(S @ xp.asarray(rng.standard_normal((n, width))))
    for _ in range(power):
        # Each product and each QR takes about 0.2 s at 3e6 entries and width 30: a
        # stop is heard between any two of them.
        check_stop(should_stop)
        Y = S.T @ Q
        check_stop(should_stop)
        Z, _ = xp.linalg.qr(Y)
        check_stop(should_stop)
        Y = S @ Z
        check_stop(should_stop)
        Q, _ = xp.linalg.qr(Y)
    small = (S.T @ Q).T  # width x n
    u, s, _ = xp.linalg.svd(small, full_matrices=False)
    return Q @ u[:, :k], s[:k]


def clip_rows(U: Any, clip: float, xp: Any) -> Any:
    """Scales rows whose norm exceeds `clip` times the orthonormal average sqrt(k / m)
    down to that norm, then re-orthonormalises."""
    m, k = U.shape
    limit = clip * np.sqrt(k / m)
    norms = xp.sqrt((U * U).sum(axis=1))
    scale = xp.minimum(1.0, limit / xp.maximum(norms, 1e-300))
    Q, _ = xp.linalg.qr(U * scale[:, None])
    return Q
