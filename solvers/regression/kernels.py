"""Compiled coordinate-descent passes (numba): the only loops over coordinates.

A coordinate update is a handful of flops plus one column or Gram-row update, so an
interpreted loop spends most of its time in the interpreter (measured: 1.3 s for 544
passes over ~1,000 coordinates, against ~10 ms compiled). Every pass is an exact
minimisation along each coordinate in turn of

    smooth(w) + sum_k lam_k |w_k|,   smooth quadratic with curvature L_k along k,

and returns the largest KKT violation seen before each update (the same measure as
objective.violations), which the callers use to stop. The kernels release the GIL, so
a solve on a worker thread does not hold up the server's event loop (solvers/jit.py).

Two forms:
- Gram form (greedy.py): the gradient g = H w - c is kept; an update of w_k costs
  one row of H.
- Residual form (residual.py): the residual r = y - X w is kept; an update costs one
  column of X (n numbers dense, nnz_k sparse), as in scikit-learn's, celer's and
  skglm's solvers. For a sparse design with implicit centring (design.py) the
  residual is kept as r0 + s 1 and only sum(r0) is needed, since the centred column
  x_k - m_k 1 is orthogonal to 1: (x_k - m_k 1).(r0 + s 1) = x_k.r0 - m_k sum(r0).
"""

from __future__ import annotations

import numpy as np

from solvers.jit import compiled

# Reassociation lets LLVM vectorise the dot products (a sum in another order, exact to
# rounding); no-NaN/no-inf flags are left out: gram_pass tests for an infinite L.
FAST = {"reassoc", "contract"}


@compiled(inline="always")
def _violation(g: float, wk: float, lam: float) -> float:
    if wk > 0:
        return abs(g + lam)
    if wk < 0:
        return abs(g - lam)
    return max(abs(g) - lam, 0.0)


@compiled(inline="always")
def _soft(z: float, t: float) -> float:
    if z > t:
        return z - t
    if z < -t:
        return z + t
    return 0.0


@compiled(inline="always")
def _step(g: float, wk: float, lam: float, L: float) -> tuple[float, float]:
    """The exact minimiser along one coordinate with gradient g and curvature L, and
    the coordinate's KKT violation before the step (the column passes' stopping test)."""
    return _soft(wk - g / L, lam / L), _violation(g, wk, lam)


@compiled(fastmath=FAST)
def gram_pass(H: np.ndarray, g: np.ndarray, w: np.ndarray, lam: np.ndarray,
              L: np.ndarray, block: np.ndarray) -> bool:
    """One cyclic pass over `block` on H (symmetric, C order), updating w and
    g = H w - c in place. Returns whether the pass changed any sign of w (greedy.py
    computes the violations itself, over the whole working set)."""
    flipped = False
    for b in range(block.size):
        j = block[b]
        Lj = L[j]
        if not np.isfinite(Lj):
            continue
        wj = w[j]
        new = _soft(wj - g[j] / Lj, lam[j] / Lj)
        if new != wj:
            d = new - wj
            row = H[j]
            for i in range(g.size):
                g[i] += row[i] * d
            w[j] = new
            if (new > 0) != (wj > 0) or (new < 0) != (wj < 0):
                flipped = True
    return flipped


@compiled(fastmath=FAST)
def dense_pass(X: np.ndarray, cols: np.ndarray, w: np.ndarray, r: np.ndarray,
               L: np.ndarray, lam: np.ndarray, l2: np.ndarray, inv_n: float) -> float:
    """One cyclic pass over X[:, cols] (X column-major), w indexed like cols; the
    smooth part is ||r||^2 / (2n) + l2.w^2 / 2 with L = ||x_k||^2 / n + l2_k."""
    n = X.shape[0]
    vmax = 0.0
    for k in range(cols.size):
        Lk = L[k]
        if Lk <= 0.0:
            continue
        j = cols[k]
        dot = 0.0
        for i in range(n):
            dot += X[i, j] * r[i]
        wk = w[k]
        new, v = _step(-dot * inv_n + l2[k] * wk, wk, lam[k], Lk)
        vmax = max(vmax, v)
        if new != wk:
            d = new - wk
            for i in range(n):
                r[i] -= d * X[i, j]
            w[k] = new
    return vmax


@compiled(fastmath=FAST)
def sparse_pass(data: np.ndarray, indices: np.ndarray, indptr: np.ndarray,
                mean: np.ndarray, cols: np.ndarray, w: np.ndarray, r0: np.ndarray,
                state: np.ndarray, L: np.ndarray, lam: np.ndarray, l2: np.ndarray,
                inv_n: float, n: int) -> float:
    """dense_pass for a CSC design centred implicitly by `mean` (zeros: not centred).
    The residual is r0 + state[0]; state[1] holds sum(r0)."""
    vmax = 0.0
    s = state[0]
    sum_r0 = state[1]
    for k in range(cols.size):
        Lk = L[k]
        if Lk <= 0.0:
            continue
        j = cols[k]
        start = indptr[j]
        stop = indptr[j + 1]
        dot = 0.0
        for q in range(start, stop):
            dot += data[q] * r0[indices[q]]
        mj = mean[j]
        dot -= mj * sum_r0
        wk = w[k]
        new, v = _step(-dot * inv_n + l2[k] * wk, wk, lam[k], Lk)
        vmax = max(vmax, v)
        if new != wk:
            d = new - wk
            col_sum = 0.0
            for q in range(start, stop):
                r0[indices[q]] -= d * data[q]
                col_sum += data[q]
            sum_r0 -= d * col_sum
            s += d * mj
            w[k] = new
    state[0] = s
    state[1] = sum_r0
    return vmax


@compiled(fastmath=FAST)
def column_dots(X: np.ndarray, cols: np.ndarray, r: np.ndarray) -> np.ndarray:
    """X[:, cols]^T r for a column-major X without copying the columns (a partial pass
    over 30% of a 3 GB design would otherwise allocate 1 GB), summed in float64."""
    out = np.empty(cols.size)
    for k in range(cols.size):
        j = cols[k]
        dot = 0.0
        for i in range(X.shape[0]):
            dot += X[i, j] * r[i]
        out[k] = dot
    return out


def warm_up() -> None:
    """Compile (or load from the cache) every signature the solvers call: float64 and
    float32 designs, dense and CSC with 32-bit indices, and the Gram pass."""
    import scipy.sparse as sp

    cols = np.arange(2, dtype=np.int64)
    ones = np.ones(2)
    for dtype in (np.float64, np.float32):
        X = np.asfortranarray(np.eye(3, 2, dtype=dtype))
        dense_pass(X, cols, np.zeros(2), np.ones(3), ones, ones * 0.1, ones * 0, 1 / 3)
        column_dots(X, cols, np.ones(3))
        S = sp.csc_matrix(X)
        S.indices = S.indices.astype(np.int32)
        S.indptr = S.indptr.astype(np.int32)
        sparse_pass(S.data, S.indices, S.indptr, np.zeros(2), cols, np.zeros(2), np.ones(3),
                    np.zeros(2), ones, ones * 0.1, ones * 0, 1 / 3, 3)
    gram_pass(np.eye(2), -ones, np.zeros(2), ones * 0.1, ones, cols)
