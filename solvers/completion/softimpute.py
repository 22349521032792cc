"""softImpute-ALS (Hastie, Mazumder, Lee and Zadeh, JMLR 2015, Algorithm 3.1): rank-
restricted nuclear-norm-regularised completion, alternating ridge regressions on the
"filled-in" matrix X* = P_Omega(M - A B^T) + A B^T, kept as sparse + low rank so each
round costs O(|Omega| k + (m + n) k^2)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.sparse as sp

from solvers.backend import Backend
from solvers.completion import factors
from solvers.completion.altmin import Entries, Progress
from solvers.errors import check_stop


def _shrink(d: Any, d2: Any, reg: float, xp: Any) -> Any:
    """d / (d^2 + reg), 0 where both vanish (reg = 0 and a direction the data do not
    carry: all-zero values gave 0 / 0, NaN, and an SVD that did not converge)."""
    denominator = d2 + reg
    safe = xp.where(denominator > 0, denominator, 1.0)
    return xp.where(denominator > 0, d / safe, 0.0)


def softimpute_als(train: Entries, holdout: Entries | None, shape: tuple[int, int],
                   rank: int, reg: float, tol: float, atol: float, maxiter: int, seed: int,
                   backend: Backend, should_stop: Callable[[], str | None] | None
                   ) -> tuple[Any, Any, Progress]:
    """Returns factors (U D, V) of the estimate U D^2 V^T after the final soft-threshold
    step, and the progress of the observed RMSE."""
    start = time.perf_counter()
    xp = backend.xp
    m, n = shape
    rng = np.random.default_rng(seed)
    rows, cols, vals = train.rows, train.cols, train.vals
    host_rows, host_cols = backend.to_host(rows), backend.to_host(cols)
    # CSR in entry order: the residual's values are written straight into S.data.
    order = np.lexsort((host_cols, host_rows))
    device_order = xp.asarray(order)
    rows, cols, vals = rows[device_order], cols[device_order], vals[device_order]
    indptr = np.concatenate(([0], np.cumsum(np.bincount(host_rows, minlength=m))))
    S = backend.matrix(sp.csr_matrix((np.ones(order.size), host_cols[order], indptr),
                                     shape=(m, n)), np.dtype(np.float64))
    U, _ = xp.linalg.qr(xp.asarray(rng.standard_normal((m, rank))))
    d = xp.ones(rank)
    V = xp.zeros((n, rank))
    progress = Progress()
    progress.init_seconds = time.perf_counter() - start
    scale = float(xp.sqrt((vals * vals).mean())) or 1.0

    def residual(U: Any, d: Any, V: Any) -> float:
        S.data[:] = vals - factors.entries(U * (d * d), V, rows, cols, xp)
        return float(xp.sqrt((S.data * S.data).mean()))

    residual(U, d, V)
    for _ in range(maxiter):
        check_stop(should_stop)
        # S holds the residual of the current estimate here.
        # B step: B^T = (D^2 + reg I)^-1 D U^T X*, with U^T X* = (S^T U)^T + D^2 V^T.
        d2 = d * d
        Bt = _shrink(d, d2, reg, xp)[:, None] * ((S.T @ U).T + d2[:, None] * V.T)
        Vn, sigma, Rt = xp.linalg.svd(Bt.T * d, full_matrices=False)
        U, d, V = U @ Rt.T, xp.sqrt(sigma), Vn
        residual(U, d, V)
        d2 = d * d
        At = _shrink(d, d2, reg, xp)[:, None] * ((S @ V).T + d2[:, None] * U.T)
        Un, sigma, Rt = xp.linalg.svd(At.T * d, full_matrices=False)
        U, d, V = Un, xp.sqrt(sigma), V @ Rt.T
        train_rmse = residual(U, d, V)
        held = float("nan") if holdout is None else factors.rmse(
            U * (d * d), V, holdout.rows, holdout.cols, holdout.vals, xp)
        progress.record(train_rmse, held, start)
        if progress.settled(scale, tol, atol):
            break
    # Final step: M = X* V, its SVD, and the singular values soft-thresholded by reg.
    Um, sigma, Rt = xp.linalg.svd(S @ V + U * (d * d), full_matrices=False)
    shrunk = xp.maximum(sigma - reg, 0.0)
    U_out, V_out = Um * shrunk, V @ Rt.T
    if progress.train_rmse:
        # The last round's figures describe the estimate returned, not the one before
        # the final step.
        progress.train_rmse[-1] = residual(U_out, xp.ones(U_out.shape[1]), V_out)
        if holdout is not None:
            progress.holdout_rmse[-1] = factors.rmse(U_out, V_out, holdout.rows,
                                                     holdout.cols, holdout.vals, xp)
    return U_out, V_out, progress
