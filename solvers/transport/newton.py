"""Sinkhorn-Newton-Sparse (Tang, Shavlovsky, Rahmanian, Tardini, Thekumparampil,
Xiao, Ying, "Accelerating Sinkhorn algorithm with sparse Newton iterations",
ICLR 2024): Newton steps on the dual with a sparsified Hessian.

The dual F(f, g) = <a, f> + <b, g> - reg sum_ij P_ij, P = exp((f + g - M) / reg),
is concave with gradient (a - P 1, b - P^T 1) and Hessian
-(1/reg) [[diag(P 1), P], [P^T, diag(P^T 1)]], singular along (1, -1). Near the
optimum of a small-reg problem P is close to sparse: keeping its largest
entries (a global threshold, about `density` per row) and the exact diagonal
gives a diagonally dominant system, solved by conjugate gradients on the Schur
complement in f. A backtracking line search on F makes every step an ascent.

Everything dense is a product with the stabilised kernel (kernel.py): the
line search's trial objective is one matrix-vector product, not an exp pass.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import cg

from solvers.backend import host_scalars
from solvers.errors import check_stop
from solvers.transport.kernel import TAU, Kernel


@dataclass
class NewtonStage:
    iterations: int
    error: float
    converged: bool
    cg_iterations: int
    line_search_steps: int
    kept_entries: int  # the sparsified Hessian's off-diagonal entries, last step


# Entries of the plan that one block of rows may hold: what a Newton step adds to the
# backend's memory beyond M and K (a whole n x m plan, its mask, index arrays and a
# partition's copy came to about three times K).
BLOCK_ENTRIES = 1 << 22
# The threshold that keeps at least `keep` entries is read off a histogram of log P
# over [log max - SPAN, log max] in BINS bins: each bin spans a factor of about 1.5.
SPAN, BINS = 200.0, 512
# How far slow progress may grow the sparsified Hessian: to GROWTH_CAP entries per row
# of the larger side, and entries down to DROP_FLOOR of the average (the Schur
# complement's cost grows with the square of the entries per column).
GROWTH_CAP, DROP_FLOOR = 32, 1e-6


def _host(xp: Any, a: Any) -> np.ndarray:
    return a if xp is np else xp.asnumpy(a)


def row_blocks(n: int, m: int) -> list[tuple[int, int]]:
    step = max(1, BLOCK_ENTRIES // max(m, 1))
    return [(lo, min(lo + step, n)) for lo in range(0, n, step)]


def _sparse_plan(kernel: Kernel, keep: int, drop: float) -> sp.csr_matrix:
    """P's entries above a global threshold, on the host: every entry above
    drop * mass / (n m), so at most a fraction `drop` of the mass is left out, and
    at least the `keep` largest (to within a histogram bin). The plan is read in
    blocks of rows and never whole."""
    xp = kernel.xp
    n, m = kernel.K.shape
    blocks = row_blocks(n, m)
    threshold = drop * float(kernel.mass()) / (n * m)
    above = xp.zeros((), dtype=np.int64)
    for lo, hi in blocks:
        above += (kernel.plan_rows(lo, hi) >= threshold).sum()
    above = int(above)
    if keep >= n * m:
        threshold = 0.0
    elif above < keep:
        threshold = _threshold_keeping(kernel, blocks, keep)
    rows, cols, values = [], [], []
    for lo, hi in blocks:
        block = kernel.plan_rows(lo, hi)
        r, c = xp.nonzero(block >= threshold)
        values.append(_host(xp, block[r, c]))
        rows.append(_host(xp, r) + lo)
        cols.append(_host(xp, c))
    return sp.csr_matrix((np.concatenate(values), (np.concatenate(rows),
                                                   np.concatenate(cols))), shape=(n, m))


def _threshold_keeping(kernel: Kernel, blocks: list[tuple[int, int]], keep: int) -> float:
    """The largest bin edge of a log-histogram of P with at least `keep` entries of P
    at or above it (a selection without sorting or copying n x m numbers: CuPy's
    partition sorts)."""
    xp = kernel.xp
    top = xp.zeros(())
    for lo, hi in blocks:
        top = xp.maximum(top, kernel.plan_rows(lo, hi).max())
    top = float(top)
    if not top > 0:
        return 0.0
    edges = xp.linspace(math.log(top) - SPAN, math.log(top), BINS + 1)
    counts = xp.zeros(BINS, dtype=np.int64)
    tiny = float(np.finfo(np.float64).tiny)
    for lo, hi in blocks:
        logs = xp.log(xp.maximum(kernel.plan_rows(lo, hi), tiny))
        counts += xp.histogram(logs, bins=edges)[0]
    from_top = np.cumsum(_host(xp, counts)[::-1])
    reached = np.flatnonzero(from_top >= keep)
    # Fewer than `keep` within e^SPAN of the largest: those, the rest being negligible.
    first = BINS - 1 - reached[0] if reached.size else 0
    return math.exp(float(_host(xp, edges)[first]))


def _newton_direction(Ps: sp.csr_matrix, row: np.ndarray, col: np.ndarray,
                      grad_f: np.ndarray, grad_g: np.ndarray, reg: float,
                      rtol: float, maxiter: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Solves (1/reg) [[D_r, Ps], [Ps^T, D_c]] (df, dg) = (grad_f, grad_g) by CG on
    the Schur complement S = D_r - Ps D_c^-1 Ps^T (symmetric positive semidefinite,
    nearly singular along 1: a shift of 1e-10 relative keeps CG well posed)."""
    inv_c = 1.0 / col
    S = (sp.diags(row) - Ps @ sp.diags(inv_c) @ Ps.T).tocsr()
    shift = 1e-10 * float(row.max())
    S = S + sp.diags(np.full(S.shape[0], shift))
    rhs = reg * (grad_f - Ps @ (inv_c * grad_g))
    diag = S.diagonal()
    count = [0]

    def counted(_x: np.ndarray) -> None:
        count[0] += 1

    df, _ = cg(S, rhs, rtol=rtol, maxiter=maxiter,
               M=sp.diags(1.0 / np.maximum(diag, shift)), callback=counted)
    dg = inv_c * (reg * grad_g - Ps.T @ df)
    return df, dg, count[0]


def newton_steps(kernel: Kernel, tol: float, maxiter: int, density: float = 2.0,
                 drop: float = 0.01,
                 cg_rtol: float = 1e-6, cg_maxiter: int = 500,
                 should_stop: Callable[[], str | None] | None = None) -> NewtonStage:
    """Newton steps from the kernel's current potentials until the L1 marginal
    error is at most tol. `density`: off-diagonal Hessian entries kept per row."""
    xp, reg = kernel.xp, kernel.reg
    a, b = kernel.a, kernel.b
    n, m = kernel.M.shape
    keep = max(int(density * max(n, m)), 1)
    most = max(keep, GROWTH_CAP * max(n, m))
    cg_total = searches = kept = 0
    error = previous = float("inf")
    full_step = False
    for it in range(maxiter + 1):
        Kv = kernel.K @ kernel.v
        KTu = kernel.K.T @ kernel.u
        row, col = kernel.u * Kv, kernel.v * KTu
        grad_f, grad_g = a - row, b - col
        # A row or column of the plan that underflowed to zero has no Hessian diagonal
        # (1 / 0 in the Schur complement: the NaN this once returned).
        error, degenerate = host_scalars(
            xp, xp.maximum(xp.abs(grad_f).sum(), xp.abs(grad_g).sum()),
            ~((row.min() > 0) & (col.min() > 0)))
        if error <= tol or it == maxiter:
            return NewtonStage(it, error, error <= tol, cg_total, searches, kept)
        check_stop(should_stop)
        if degenerate or not math.isfinite(error):
            _log_domain_step(kernel)
            continue
        # Steps on a sparsified Hessian converge linearly, at a rate set by what was left
        # out: measured on 2-D clouds at reg 1e-3 of the cost, 500 steps ended at 2e-9
        # with the error halving each step. A step that did not cut the error to a
        # quarter although it was a full step (a damped one says the model was far, not
        # thin) keeps more: twice the entries, and entries down to a tenth of the
        # previous threshold.
        if full_step and error > 0.25 * previous:
            keep = min(2 * keep, most)
            drop = max(0.1 * drop, DROP_FLOOR)
        previous = error
        Ps = _sparse_plan(kernel, keep, drop)
        kept = Ps.nnz
        df, dg, used = _newton_direction(Ps, _host(xp, row), _host(xp, col),
                                         _host(xp, grad_f), _host(xp, grad_g), reg,
                                         cg_rtol, cg_maxiter)
        cg_total += used
        df, dg = xp.asarray(df), xp.asarray(dg)
        # Ascent check on F(f + t df, g + t dg); its total mass is one product.
        slope = float(grad_f @ df + grad_g @ dg)
        mass = float(row.sum())
        step = 1.0
        while True:
            searches += 1
            # A step too long overflows: its mass is inf and it is halved.
            with np.errstate(over="ignore", invalid="ignore"):
                trial_u = kernel.u * xp.exp(step * df / reg)
                trial_v = kernel.v * xp.exp(step * dg / reg)
                trial_mass = float(trial_u @ (kernel.K @ trial_v))
            gain = step * float(a @ df + b @ dg) - reg * (trial_mass - mass)
            if np.isfinite(trial_mass) and gain >= 1e-4 * step * slope - 1e-12 * reg * mass:
                break
            step *= 0.5
            if step < 1e-10:
                break
        full_step = step == 1.0
        if step < 1e-10:  # no ascent along the direction: a Sinkhorn step instead
            _log_domain_step(kernel)
            continue
        kernel.u, kernel.v = trial_u, trial_v
        if step * float(xp.abs(df).max() + xp.abs(dg).max()) / reg > TAU or \
                kernel.needs_absorb():
            _fold(kernel)
    return NewtonStage(maxiter, error, False, cg_total, searches, kept)


def _log_domain_step(kernel: Kernel) -> None:
    """One Sinkhorn iteration in the log domain (v-step, then the f-step of a rebuild):
    every column and row gets its mass whatever K could represent."""
    kernel.log_v_step()
    kernel.rebuild()


def _fold(kernel: Kernel) -> None:
    """Rebuilds K around the current potentials without a Sinkhorn half step, so the
    Newton iterate is kept as it is (the half step would undo the g-progress)."""
    xp, reg = kernel.xp, kernel.reg
    f, g = kernel.potentials()
    K = kernel.K
    xp.add(f[:, None], g[None, :], out=K)
    K -= kernel.M
    K /= reg
    xp.exp(K, out=K)
    kernel.f, kernel.g = f, g
    kernel.u = xp.ones_like(f)
    kernel.v = xp.ones_like(g)
    kernel.rebuilds += 1
