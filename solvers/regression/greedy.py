"""Greedy block coordinate descent on a working set's cached Gram matrix.

Solves  min_w  g0.(w - w0) + 1/2 (w - w0)^T H (w - w0) + sum_j lam_j |w_j|
(H includes the ridge diagonal; lam_j = 0 marks an unpenalised coordinate such as a
logistic intercept), following Nutini, Laradji, Schmidt (JMLR 2022):

- Variable blocks: each step's block is the current free set (non-zero or
  unpenalised coordinates) plus the zero coordinates with the largest KKT violation
  scaled by 1/sqrt(L_j) (the Gauss-Southwell-Diagonal rule, L_j = H_jj), as many as
  the free set holds (at least `min_block`), so blocks grow with the support.
- Matrix (Newton) block update: with signs fixed (the current ones, -sign(grad) for
  entering coordinates) the block's minimiser solves one linear system; it is taken
  when it keeps those signs. Otherwise the signs are not identified yet, and a cyclic
  pass of exact coordinate (Lipschitz) updates over the block makes safe progress,
  with Anderson extrapolation every few passes; Newton is tried again once a pass
  leaves the signs unchanged.
- Once the support and signs are identified the Newton step is exact: the
  superlinear (here finite) phase of the paper's active-set analysis.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.linalg as la

from solvers.errors import check_stop
from solvers.regression import kernels
from solvers.regression.objective import violations
from solvers.regression.residual import ANDERSON, anderson_point

# A dense Cholesky of k^3/3 flops: at k = 5000 about 0.7 s on one core, more than the
# coordinate passes it would save; larger blocks converge by the passes alone.
NEWTON_MAX = 2000


@dataclass
class BlockSolve:
    w: np.ndarray
    iterations: int  # block updates: Newton steps and coordinate passes
    newton_steps: int


def _solve_spd(H: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    try:
        return la.cho_solve(la.cho_factor(H, check_finite=False), rhs, check_finite=False)
    except la.LinAlgError:
        # Singular block (more variables than samples, duplicate columns): a tiny ridge
        # keeps the step defined; solve_block's sign test still decides whether to take it.
        jitter = 1e-10 * max(float(np.trace(H)) / H.shape[0], 1e-300)
        try:
            return la.cho_solve(la.cho_factor(H + jitter * np.eye(H.shape[0]),
                                              check_finite=False), rhs, check_finite=False)
        except la.LinAlgError:
            return np.linalg.lstsq(H, rhs, rcond=None)[0]


def solve_block(H: np.ndarray, grad: np.ndarray, w: np.ndarray, lam: np.ndarray, tol: float,
                max_iter: int, min_block: int = 10, max_block: int | None = None,
                should_stop: Callable[[], str | None] | None = None) -> BlockSolve:
    """max_block: the rank of H when it is singular (n samples, no ridge): a Newton
    block larger than that has no unique step. `should_stop` is polled every pass (a
    pass costs a product with H; on a working set of thousands, a millisecond)."""
    w = w.copy()
    g = grad.copy()
    c = H @ w - g  # the linear term: q(w) = w.(g - c)/2 + lam.|w| for any w, g = H w - c
    diag = np.diag(H).copy()
    L = np.where(diag > 0, diag, np.inf)  # an all-zero column never violates: skip it
    unpenalised = lam == 0
    iterations = newton_steps = 0
    history: list[np.ndarray] = []
    try_newton: str | bool = "block"
    # Passes with unchanged signs needed before the next Newton try: doubled by each
    # rejected step, so a sign pattern that is not yet right costs few factorisations.
    patience = 1
    stable = 0
    viol = violations(g, w, lam)
    while True:
        vmax = float(viol.max()) if viol.size else 0.0
        if vmax <= tol or iterations >= max_iter:
            return BlockSolve(w, iterations, newton_steps)
        check_stop(should_stop)
        iterations += 1
        free = (w != 0) | unpenalised
        A = np.flatnonzero(free)
        cand = np.flatnonzero(~free & (viol > tol) & np.isfinite(L))
        k = min(cand.size, max(min_block, A.size))
        if max_block is not None:
            k = min(k, max(1, max_block - A.size))
        if k < cand.size:
            score = viol[cand] / np.sqrt(L[cand])
            cand = cand[np.argpartition(score, cand.size - k)[cand.size - k:]]
        B = np.concatenate([A, cand])
        N = B if try_newton == "block" else A
        if try_newton and N.size <= NEWTON_MAX:
            # After coordinate passes left the signs unchanged the free set alone is the
            # Newton block: its entering candidates are what the passes just rejected.
            s = np.sign(w[N])
            if N is B:
                s[A.size:] = -np.sign(g[cand])
            s[unpenalised[N]] = 0.0
            d = -_solve_spd(H[np.ix_(N, N)], g[N] + lam[N] * s)
            if np.all(np.sign(w[N] + d)[s != 0] == s[s != 0]):
                newton_steps += 1
                w[N] += d
                g += H[:, N] @ d
                viol = violations(g, w, lam)
                try_newton = "block"
                patience = 1
                continue
            patience *= 2
            stable = 0
        # Signs not yet identified (the Newton point lies outside the orthant): a cyclic
        # pass of exact coordinate minimisations over the block, which makes safe
        # progress on ill-conditioned blocks where cut Newton steps crawl, with
        # Anderson extrapolation of the passes; Newton again once the signs settle.
        stable = 0 if kernels.gram_pass(H, g, w, lam, L, B) else stable + 1
        try_newton = "free" if stable >= patience else False
        history.append(w.copy())
        if len(history) == ANDERSON + 1:
            _anderson(H, g, w, lam, c, history)
            history.clear()
        viol = violations(g, w, lam)


def _objective(w: np.ndarray, g: np.ndarray, c: np.ndarray, lam: np.ndarray) -> float:
    return 0.5 * float(w @ (g - c)) + float(lam @ np.abs(w))


def _anderson(H: np.ndarray, g: np.ndarray, w: np.ndarray, lam: np.ndarray, c: np.ndarray,
              history: list[np.ndarray]) -> None:
    """Anderson extrapolation of the last coordinate passes (as in skglm, Bertrand and
    Massias 2021), kept only when it lowers the objective."""
    point = anderson_point(history)
    if point is None:
        return
    g_new = g + H @ (point - w)
    if _objective(point, g_new, c, lam) < _objective(w, g, c, lam):
        w[:] = point
        g[:] = g_new
