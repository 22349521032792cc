"""The order in which to solve a batch of related systems so that each one's recycle
space suits the next: greedy nearest neighbour on feature vectors (SKR, Wang et al.,
ICLR 2024, sorts by the coefficient fields' Frobenius distance)."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def greedy_order(features: np.ndarray, start: int = 0) -> list[int]:
    """Visit the rows of `features` (N, p) from `start`, each time moving to the
    nearest unvisited row in Euclidean distance. O(N^2 p) with one distance row per
    step, so memory stays O(N p). float32 rows stay float32 (centre them first: the
    distances come from differences of squared norms)."""
    feats = np.asarray(features).reshape(len(features), -1)
    if feats.dtype != np.float32:
        feats = feats.astype(np.float64, copy=False)
    count = feats.shape[0]
    if count == 0:
        return []
    top = float(np.abs(feats).max())
    if np.isfinite(top) and top > 0:
        # Unit scale: squared norms of values near 1e300 overflowed, every distance came
        # out inf or NaN, and the walk revisited a row and dropped another (a SolveBatch
        # of three such systems answered two).
        feats = feats * (1.0 / top)
    norms = np.einsum("ij,ij->i", feats, feats)
    visited = np.zeros(count, dtype=bool)
    order = [start]
    visited[start] = True
    current = start
    for _ in range(count - 1):
        dist = norms - 2.0 * feats @ feats[current] + norms[current]
        left = np.flatnonzero(~visited)  # chosen among the unvisited only, whatever dist
        current = int(left[np.argmin(np.nan_to_num(dist[left], nan=np.inf))])
        visited[current] = True
        order.append(current)
    return order


# Above this many columns the distances are taken on an evenly spaced subset: the
# ordering needs neighbours, not exact distances, and N^2 p flops on 10^6-row
# matrices would cost more than the solves they save.
MAX_ORDER_COLUMNS = 65_536
# Each greedy step reads all N feature rows, N^2 p numbers in all: from memory, that
# took 33-36 s for N = 1,000 Darcy systems of 64^2 (p = 20,224 values), five times
# their solves. Past this many, the rows are first sketched to d dimensions (CountSketch,
# Charikar, Chen, Farach-Colton 2002: each column added with a random sign into one of
# d sums, which keeps inner products, hence distances, in expectation), with d such
# that the N x d float32 block stays within L2 (1 MiB): 0.39 s for the same batch.
MAX_EXACT_WORK = 1 << 30
L2_FLOATS = 1 << 18


def sketch(features: np.ndarray, d: int, seed: int = 0) -> np.ndarray:
    """The rows of `features` (N, p) as (N, d) float32 CountSketches."""
    p = features.shape[1]
    rng = np.random.default_rng(seed)
    hashing = sp.csr_matrix((rng.choice([-1.0, 1.0], size=p),
                             (rng.integers(0, d, size=p), np.arange(p))), shape=(d, p))
    return np.ascontiguousarray((hashing @ features.T).T, dtype=np.float32)


def order_by(features: np.ndarray, max_columns: int = MAX_ORDER_COLUMNS) -> list[int]:
    """greedy_order on at most `max_columns` evenly spaced columns of `features`,
    sketched when the exact walk would cost more than MAX_EXACT_WORK, from the row
    farthest from the mean: a path started inside the cloud doubles back."""
    feats = np.asarray(features, dtype=np.float64).reshape(len(features), -1)
    count = feats.shape[0]
    if count == 0:
        return []
    if feats.shape[1] > max_columns:
        columns = np.linspace(0, feats.shape[1] - 1, max_columns).astype(np.int64)
        feats = feats[:, columns]
    d = int(np.clip(L2_FLOATS // count, 32, 256))
    if count * count * feats.shape[1] > MAX_EXACT_WORK and d < feats.shape[1]:
        feats = sketch(feats, d)
    top = float(np.abs(feats).max())
    if np.isfinite(top) and top > 0:
        feats = feats * (1.0 / top)  # no overflow in the squares (see greedy_order)
    centred = feats - feats.mean(axis=0, dtype=np.float64)
    start = int(np.argmax(np.einsum("ij,ij->i", centred, centred)))
    return greedy_order(centred.astype(feats.dtype, copy=False), start)
