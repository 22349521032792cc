"""Working-set solves in residual form: cyclic coordinate descent on X[:, W] with
Anderson extrapolation (Bertrand and Massias, "Anderson acceleration of coordinate
descent", AISTATS 2021, as skglm does; celer's dual extrapolation is the same idea
on the dual side).

For working sets whose Gram matrix would cost more than the passes it saves: a
sparse design (a Gram row has |W| numbers, a column only its nonzeros) or a working
set too large to cache (thousands of features once the support reaches thousands).
Each update costs one column of X; no |W| x |W| matrix is ever formed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from solvers.errors import check_stop
from solvers.regression import kernels
from solvers.regression.design import Design
from solvers.regression.objective import violations

ANDERSON = 5  # passes per extrapolation


@dataclass
class ResidualSolve:
    w: np.ndarray  # the working set's coefficients
    resid: np.ndarray  # y - X w over all samples, as updated by the passes
    passes: int


def anderson_point(history: list[np.ndarray]) -> np.ndarray | None:
    """The extrapolated point of a fixed-point sequence (its last len - 1 steps):
    the affine combination of the iterates whose combined step is smallest."""
    iterates = np.array(history)
    U = np.diff(iterates, axis=0)
    try:
        z = np.linalg.solve(U @ U.T, np.ones(U.shape[0]))
    except np.linalg.LinAlgError:
        return None
    if not np.isfinite(z).all() or z.sum() == 0:
        return None
    return (z / z.sum()) @ iterates[1:]


def _max_violation(D: Design, W: np.ndarray, w: np.ndarray, r: np.ndarray, lam: np.ndarray,
                   l2: np.ndarray) -> float:
    """The largest KKT violation on W at (w, r): one pass over W's columns, no update."""
    grad = -D.rmatvec_columns(W, r) / D.n + l2 * w
    return float(violations(grad, w, lam).max(initial=0.0))


def _objective(r: np.ndarray, w: np.ndarray, lam: np.ndarray, l2: np.ndarray) -> float:
    return 0.5 * float(r @ r) / r.size + float(lam @ np.abs(w)) + 0.5 * float(l2 @ (w * w))


def solve_residual(D: Design, W: np.ndarray, w: np.ndarray, resid: np.ndarray,
                   lam: np.ndarray, l2: np.ndarray, tol: float, max_passes: int,
                   should_stop: Callable[[], str | None] | None = None) -> ResidualSolve:
    """Minimises ||y - X w||^2 / (2n) + lam.|w| + l2.w^2 / 2 over the coordinates W
    (the others fixed), from w = the working set's coefficients and resid = y - X w.
    Stops when a pass sees no KKT violation above tol, or after max_passes."""
    n = D.n
    w = np.array(w, dtype=np.float64)
    cols = np.ascontiguousarray(W, dtype=np.int64)
    L = D.sq_norms[W] / n + l2
    r = np.array(resid, dtype=np.float64)
    sparse = D.sparse
    if sparse:
        X = D.X
        mean = D.mean if D.mean is not None else np.zeros(D.p)
        state = np.array([0.0, r.sum()])
    history = [w.copy()]
    passes = 0
    while passes < max_passes:
        if sparse:
            vmax = kernels.sparse_pass(X.data, X.indices, X.indptr, mean, cols, w, r, state,
                                       L, lam, l2, 1.0 / n, n)
        else:
            vmax = kernels.dense_pass(D.X, cols, w, r, L, lam, l2, 1.0 / n)
        passes += 1
        # A pass sees each violation before the later updates of the pass: with nearly
        # collinear columns (TF-IDF's rare words) those moved it by as much again, and
        # the solve stopped one pass in, at 3x tol, for every outer iteration after
        # (relative gap stuck at 1e-4). The end point is checked before stopping.
        if vmax <= tol and _max_violation(D, W, w, r + state[0] if sparse else r,
                                          lam, l2) <= tol:
            break
        history.append(w.copy())
        if len(history) < ANDERSON + 1:
            continue
        check_stop(should_stop)
        if sparse:  # back to one vector: r = r0 + s
            r += state[0]
            state[:] = (0.0, r.sum())
        point = anderson_point(history)
        if point is not None:
            r_point = r - D.matvec(W, point - w)
            if _objective(r_point, point, lam, l2) < _objective(r, w, lam, l2):
                w, r = point, r_point
                if sparse:
                    state[1] = r.sum()
        history = [w.copy()]
    if sparse:
        r += state[0]
    return ResidualSolve(w, r, passes)
