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


# Above this many columns the distances are taken on an evenly spaced subset: the
# ordering needs neighbours, not exact distances, and N^2 p flops on 10^6-row
# matrices would cost more than the solves they save.
MAX_ORDER_COLUMNS = 65_536


def order_by(features: np.ndarray, max_columns: int = MAX_ORDER_COLUMNS) -> list[int]:
    """greedy_order on at most `max_columns` evenly spaced columns of `features`, from
    the row farthest from the mean: a path started inside the cloud doubles back."""
    feats = np.asarray(features, dtype=np.float64).reshape(len(features), -1)
    if feats.shape[0] == 0:
        return []
    if feats.shape[1] > max_columns:
        columns = np.linspace(0, feats.shape[1] - 1, max_columns).astype(np.int64)
        feats = feats[:, columns]
    centred = feats - feats.mean(axis=0)
    start = int(np.argmax(np.einsum("ij,ij->i", centred, centred)))
    return greedy_order(feats, start)
