"""Observed entries of a partly known matrix, checked once, and the padded per-row
layouts that let every row's least squares run as one batched array operation."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from solvers.backend import Backend
from solvers.errors import SolverInputError

# A bucket holds rows of similar degree padded to the largest: rows are sorted by degree
# and a bucket closes when the padding would exceed this fraction of its entries, or its
# gathered factor block (rows x width x k) would exceed BLOCK_ELEMENTS.
PAD_FRACTION = 0.15
BLOCK_ELEMENTS = 4_000_000


@dataclass
class Observations:
    """COO entries (row, col, value) of an m x n matrix, on the host."""

    rows: np.ndarray  # int64
    cols: np.ndarray
    vals: np.ndarray  # float64
    shape: tuple[int, int]

    @property
    def count(self) -> int:
        return int(self.rows.size)

    def take(self, index: np.ndarray) -> Observations:
        return Observations(self.rows[index], self.cols[index], self.vals[index], self.shape)


def observations(rows: Any, cols: Any, vals: Any, shape: tuple[int, int],
                 prefix: str = "", unique: bool = True) -> Observations:
    """Checked entries: equal lengths, finite values, indices in range, no duplicates
    (when `unique`). `prefix` names the fields in errors ("" for the training entries,
    "test_" ...)."""
    m, n = int(shape[0]), int(shape[1])
    r = np.asarray(rows).ravel()
    c = np.asarray(cols).ravel()
    v = np.asarray(vals, dtype=np.float64).ravel()
    if not (r.size == c.size == v.size):
        raise SolverInputError(f"{prefix}cols", f"rows, cols and values need equal lengths, got "
                                                f"{r.size}, {c.size}, {v.size}")
    for name, idx, bound in ((f"{prefix}rows", r, m), (f"{prefix}cols", c, n)):
        if idx.size and not np.issubdtype(idx.dtype, np.integer):
            raise SolverInputError(name, f"must be integers, got {idx.dtype}")
        if idx.size and (idx.min() < 0 or idx.max() >= bound):
            bad = int(np.flatnonzero((idx < 0) | (idx >= bound))[0])
            raise SolverInputError(name, f"index {int(idx[bad])} at position {bad} is outside "
                                         f"[0, {bound})")
    if not np.isfinite(v).all():
        bad = int(np.flatnonzero(~np.isfinite(v))[0])
        raise SolverInputError(f"{prefix}values", f"must be finite; position {bad} is {v[bad]}")
    r = r.astype(np.int64, copy=False)
    c = c.astype(np.int64, copy=False)
    if unique and r.size > 1:
        key = r * n + c
        order = np.argsort(key, kind="stable")
        same = np.flatnonzero(key[order][1:] == key[order][:-1])
        if same.size:
            first, second = sorted((int(order[same[0]]), int(order[same[0] + 1])))
            raise SolverInputError(f"{prefix}rows", f"entry ({int(r[first])}, {int(c[first])}) "
                                                    f"is given twice (positions {first} and "
                                                    f"{second})")
    return Observations(r, c, v, (m, n))


def holdout_split(obs: Observations, fraction: float, seed: int
                  ) -> tuple[Observations, Observations]:
    """A random (train, holdout) split of the entries."""
    rng = np.random.default_rng(seed)
    held = rng.random(obs.count) < fraction
    return obs.take(~held), obs.take(held)


@dataclass
class Bucket:
    keys: Any  # (B,) rows of the factor being solved for
    other: Any  # (B, D) indices into the other factor; padding points at its zero row
    vals: Any  # (B, D) observed values; 0 in padding
    degree: Any  # (B,) entries per row (float, for the ridge weight)


def layout(keys: np.ndarray, other: np.ndarray, vals: np.ndarray, size: int, other_size: int,
           rank: int, backend: Backend) -> list[Bucket]:
    """One side of the alternation: the entries grouped by `keys` (rows of U, or of V)
    into padded buckets of similar degree; padding points at the other factor's zero
    row, index `other_size` (host work once per solve)."""
    order = np.argsort(keys, kind="stable")
    degree = np.bincount(keys, minlength=size)
    start = np.concatenate(([0], np.cumsum(degree)))
    present = np.flatnonzero(degree)
    present = present[np.argsort(degree[present], kind="stable")]
    index_type = np.int32 if other_size < 2**31 - 1 else np.int64
    sorted_other = other[order].astype(index_type)
    sorted_vals = vals[order]
    buckets: list[Bucket] = []
    i = 0
    xp = backend.xp
    sorted_degree = degree[present]
    cumulative = np.concatenate(([0], np.cumsum(sorted_degree)))
    while i < present.size:
        # The bucket [i, j) grows while its padding stays small and its block fits.
        longest = max(1, BLOCK_ELEMENTS // (rank * int(sorted_degree[i])))
        end = min(present.size, i + longest)
        count = np.arange(1, end - i + 1)
        width = sorted_degree[i:end]
        entries = cumulative[i + 1:end + 1] - cumulative[i]
        fits = (count * width * rank <= BLOCK_ELEMENTS) & (
            count * width - entries <= PAD_FRACTION * entries)
        fits[0] = True
        j = i + (int(np.argmin(fits)) if not fits.all() else fits.size)
        rows = present[i:j]
        width = int(degree[rows[-1]])
        offsets = np.arange(width)
        valid = offsets[None, :] < degree[rows][:, None]
        index = np.where(valid, start[rows][:, None] + offsets[None, :], 0)
        other_block = np.where(valid, sorted_other[index], other_size).astype(index_type)
        val_block = np.where(valid, sorted_vals[index], 0.0)
        buckets.append(Bucket(keys=xp.asarray(rows), other=xp.asarray(other_block),
                              vals=xp.asarray(val_block),
                              degree=xp.asarray(degree[rows].astype(np.float64))))
        i = j
    return buckets
