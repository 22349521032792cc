"""The working-set outer loop's pieces: Gap Safe screening, working sets grown by KKT
violation, and the Gram cache that makes a working set's block updates cheap.

Gap Safe (Fercoq, Gramfort, Salmon 2015; Ndiaye et al. 2017): the dual optimum lies in
the ball of radius sqrt(2 gap / m) around any feasible dual point (m: the dual's strong
concavity), so feature j is zero at the optimum when
|x~_j . u| + ||x~_j|| sqrt(2 gap / m) < alpha rho v_j, with x~_j the augmented column
(x_j, sqrt(n alpha (1 - rho) v_j) e_j) of objective.py's certificate.
"""

from __future__ import annotations

import numpy as np

from solvers.regression.design import Design

GRAM_CACHE_NUMBERS = 16_000_000  # 128 MB of float64 for the cached Gram


def safe_screen(correlation: np.ndarray, scale: float, aug_norms: np.ndarray, gap: float,
                modulus: float, lam: np.ndarray) -> np.ndarray:
    """Mask of features proved zero at the optimum. correlation: x~_j . u before the
    dual scaling `scale`."""
    radius = np.sqrt(2.0 * max(gap, 0.0) / modulus)
    return np.abs(scale * correlation) + aug_norms * radius < lam


def select(violation: np.ndarray, aug_norms: np.ndarray, w: np.ndarray, screened: np.ndarray,
           size: int) -> np.ndarray:
    """The support plus the `size - |support|` strongest KKT violators (violation / ||x~_j||,
    scale-free), never a screened feature; sorted indices."""
    support = np.flatnonzero(w)
    room = size - support.size
    cand = np.flatnonzero((w == 0) & ~screened & (violation > 0))
    if room <= 0 or cand.size == 0:
        return support
    if cand.size > room:
        score = violation[cand] / np.where(aug_norms[cand] > 0, aug_norms[cand], np.inf)
        cand = cand[np.argpartition(score, cand.size - room)[cand.size - room:]]
    return np.sort(np.concatenate([support, cand]))


class GramCache:
    """X_S^T X_S / n for a growing feature set S: a working set's Gram costs only the
    rows of features that were never in one (the matrix updates of Nutini et al.)."""

    def __init__(self, design: Design) -> None:
        self.design = design
        self.index = np.zeros(0, dtype=np.int64)
        self.position = np.full(design.p, -1, dtype=np.int64)
        self.G = np.zeros((0, 0))

    def block(self, W: np.ndarray) -> np.ndarray:
        new = W[self.position[W] < 0]
        if new.size:
            if (self.index.size + new.size) ** 2 > GRAM_CACHE_NUMBERS:
                self.index = np.zeros(0, dtype=np.int64)
                self.position[:] = -1
                self.G = np.zeros((0, 0))
                new = W
            n = self.design.n
            m = self.index.size
            G = np.empty((m + new.size, m + new.size))
            G[:m, :m] = self.G
            if m:
                cross = self.design.gram(new, self.index) / n
                G[m:, :m] = cross
                G[:m, m:] = cross.T
            G[m:, m:] = self.design.gram(new, new) / n
            self.G = G
            self.position[new] = np.arange(m, m + new.size)
            self.index = np.concatenate([self.index, new])
        pos = self.position[W]
        return self.G[np.ix_(pos, pos)]
