"""The order in which to solve a batch of related systems so that each one's recycle
space suits the next: greedy nearest neighbour on feature vectors (SKR, Wang et al.,
ICLR 2024, sorts by the coefficient fields' Frobenius distance)."""

from __future__ import annotations

import numpy as np


def greedy_order(features: np.ndarray, start: int = 0) -> list[int]:
    """Visit the rows of `features` (N, p) from `start`, each time moving to the
    nearest unvisited row in Euclidean distance. O(N^2 p) with one distance row per
    step, so memory stays O(N p)."""
    feats = np.asarray(features, dtype=np.float64).reshape(len(features), -1)
    count = feats.shape[0]
    if count == 0:
        return []
    norms = np.einsum("ij,ij->i", feats, feats)
    visited = np.zeros(count, dtype=bool)
    order = [start]
    visited[start] = True
    current = start
    for _ in range(count - 1):
        dist = norms - 2.0 * feats @ feats[current] + norms[current]
        dist[visited] = np.inf
        current = int(np.argmin(dist))
        visited[current] = True
        order.append(current)
    return order
