"""The working-set outer loop, one alpha at a time.

Each outer iteration computes X^T residual (the only O(np) work), the certificate,
screens with Gap Safe, picks the working set (support + strongest KKT violators, at
least twice the support), and solves the problem restricted to it: squared loss by
greedy BCD on the cached Gram (greedy.py) for small dense working sets and by
coordinate descent on the columns (residual.py) for sparse designs or large working
sets, logistic loss by proximal Newton whose quadratic models are solved by greedy
BCD. X^T residual is a full pass only when needed: features that a safe bound shows
cannot violate their KKT condition keep the bound (_correlations). A path passes the
last pass on to the next alpha (warm start: same w, same residual), so an alpha whose
first working set is right costs a single, usually partial, pass.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from solvers.errors import check_stop
from solvers.regression.design import Design
from solvers.regression.greedy import solve_block
from solvers.regression.objective import (
    Certificate,
    Penalty,
    certificate,
    loss_curvature,
    loss_residual,
    loss_value,
    strong_concavity,
    violations,
)
from solvers.regression.residual import solve_residual
from solvers.regression.workingset import GramCache, safe_screen, select

MIN_WORKING_SET = 64
# Dense working sets above this fraction of n samples are solved on columns, not on
# the Gram: a Gram row is then longer than a column (measured on AR(1) 1000 x 5000 at
# alpha_max / 1000: 0.55 s on the Gram, 0.31 s on columns).
GRAM_FRACTION = 0.5
# A working-set problem is solved to a fraction of the current KKT violation. By
# coordinate passes: celer's 0.3 (of its gap); 1e-2 solved each working set further
# than the next full pass could use (2.4x the passes on AR(1) at alpha_max / 1000).
# By greedy BCD with its Newton finish on the Gram, a tight solve is nearly free and
# saves full passes (AR(1) at alpha_max / 100: 6 outer iterations instead of 10).
INNER_FRACTION = 0.3
GRAM_INNER_FRACTION = 1e-2
NEWTON_STEPS = 50  # proximal Newton steps per working set (logistic)
# A pass restricted to the features whose KKT condition the safe bound cannot settle
# costs a copy of their columns; above this fraction of p a full pass is cheaper.
HOT_FRACTION = 0.3


@dataclass
class State:
    """What one alpha hands to the next along a path."""

    w: np.ndarray
    intercept: float  # the logistic model's b (squared loss: 0, intercept via centring)
    z: np.ndarray  # X w + b
    resid: np.ndarray  # loss_residual(z)
    # X^T resid for every feature: exact, or for a zero feature shown unable to violate
    # its KKT condition an upper bound of |x_j . resid| (see _correlations)
    Xt_resid: np.ndarray
    bounded: np.ndarray  # where Xt_resid holds such a bound (never a gradient)
    ref_resid: np.ndarray  # the residual of the last full pass
    ref_xt: np.ndarray  # its exact X^T resid


@dataclass
class Trace:
    outer: int = 0
    epochs: int = 0  # block updates (greedy BCD steps) in all working-set solves
    newton_steps: int = 0
    passes: int = 0  # full X^T r passes
    partial_passes: int = 0  # passes over the features that could violate KKT only
    ws_sizes: list[int] = field(default_factory=list)
    screened: int = 0
    seconds: float = 0.0


@dataclass
class Problem:
    design: Design
    y: np.ndarray  # float64; centred for the squared loss with an intercept
    loss: str
    fit_intercept: bool  # logistic only: an explicit unpenalised b
    aug_sq_norms: np.ndarray  # ||x_j||^2 (the ridge term's part is added per alpha)
    gram: GramCache | None
    colsum: np.ndarray | None = None  # X^T 1 when fit_intercept: the certificate's b


def initial_state(prob: Problem, w0: np.ndarray | None) -> State:
    D = prob.design
    w = np.zeros(D.p) if w0 is None else np.asarray(w0, dtype=np.float64).copy()
    b = 0.0
    if prob.loss == "logistic" and prob.fit_intercept:
        # Near the optimal intercept at w = 0: the log-odds of the labels.
        pos = float(np.mean(prob.y > 0))
        b = float(np.log(pos / (1 - pos))) if 0 < pos < 1 else 0.0
    support = np.flatnonzero(w)
    z = D.matvec(support, w[support])
    if prob.loss == "logistic" and prob.fit_intercept:
        b = optimal_intercept(prob.y, z, b)
    z = z + b
    resid = loss_residual(prob.loss, prob.y, z)
    Xt = D.rmatvec(resid)
    return State(w, b, z, resid, Xt, np.zeros(D.p, dtype=bool), resid, Xt.copy())


def solve_alpha(prob: Problem, pen: Penalty, state: State, tol: float, max_outer: int,
                should_stop: Callable[[], str | None] | None
                ) -> tuple[State, Certificate, Trace, bool]:
    """Minimises P at one alpha from `state`; returns the final state, its certificate,
    the trace and whether the certificate reached tol."""
    start = time.perf_counter()
    D, y, n = prob.design, prob.y, prob.design.n
    trace = Trace()
    screened = np.zeros(D.p, dtype=bool)
    aug_norms = np.sqrt(prob.aug_sq_norms + n * pen.l2)
    col_norms = np.sqrt(prob.aug_sq_norms)
    ridge = pen.l1_ratio < 1
    modulus = strong_concavity(prob.loss, n) if not ridge else float(n)
    lam = pen.l1
    converged = False
    ws_size = MIN_WORKING_SET
    last_gap = np.inf
    while True:
        cert = certificate(prob.loss, y, state.z, state.resid, state.Xt_resid, state.w, pen,
                           prob.colsum)
        if cert.relative_gap <= tol:
            converged = True
            break
        if trace.outer >= max_outer:
            break
        check_stop(should_stop)
        trace.outer += 1
        correlation = state.Xt_resid / n - pen.l2 * state.w
        screened |= safe_screen(correlation, cert.scale, aug_norms, cert.gap, modulus, lam)
        screened &= state.w == 0
        grad = -correlation
        viol = violations(grad, state.w, lam)
        support = int(np.count_nonzero(state.w))
        # Twice the support (celer, skglm); doubled when the last solve barely helped,
        # so the loop cannot stall on a working set too small to hold the solution.
        stalled = trace.outer > 1 and cert.gap > 0.5 * last_gap
        ws_size = min(D.p, max(MIN_WORKING_SET, 2 * support, 2 * ws_size if stalled else 0))
        last_gap = cert.gap
        W = select(viol, aug_norms, state.w, screened, ws_size)
        # A smaller alpha along a path can take in features whose correlation is only
        # a bound (of |x_j . r|, without its sign): their exact products first.
        stale = W[state.bounded[W]]
        if stale.size:
            state.Xt_resid[stale] = D.rmatvec_columns(stale, state.resid)
            state.bounded[stale] = False
            grad[stale] = -state.Xt_resid[stale] / n  # w = 0 there: no ridge part
        trace.ws_sizes.append(int(W.size))
        floor = 1e-14 * float(np.max(lam))
        if prob.loss == "squared":
            _squared_working_set(prob, pen, state, W, grad, cert.kkt, floor, trace,
                                 should_stop)
        else:
            _logistic_working_set(prob, pen, state, W, max(INNER_FRACTION * cert.kkt, floor),
                                  trace, should_stop)
        _correlations(prob, pen, state, col_norms, trace)
    trace.screened = int(screened.sum())
    trace.seconds = time.perf_counter() - start
    return state, cert, trace, converged


def _correlations(prob: Problem, pen: Penalty, state: State, col_norms: np.ndarray,
                  trace: Trace) -> None:
    """X^T resid after a working-set solve, computed only where it can matter.

    |x_j . r - x_j . r_ref| <= ||x_j|| ||r - r_ref|| for the residual r_ref of the last
    full pass. A zero feature whose bound |x_j . r_ref| + ||x_j|| ||r - r_ref|| is below
    n lam_j satisfies its KKT condition, and the bound may stand for its correlation:
    every use (the certificate's dual scaling, Gap Safe screening, KKT violations,
    working-set selection) takes |x_j . r| and only becomes more conservative, so the
    certificate stays a rigorous bound. The other ("hot") features get exact products;
    a full pass, which resets r_ref, once they are more than HOT_FRACTION of all."""
    D = prob.design
    delta = float(np.linalg.norm(state.resid - state.ref_resid))
    bound = np.abs(state.ref_xt) + col_norms * delta
    hot = np.flatnonzero((state.w != 0) | (bound >= D.n * pen.l1))
    if hot.size > HOT_FRACTION * D.p:
        state.ref_xt = D.rmatvec(state.resid)
        state.Xt_resid = state.ref_xt.copy()
        state.bounded[:] = False
        state.ref_resid = state.resid
        trace.passes += 1
        return
    bound[hot] = D.rmatvec_columns(hot, state.resid)
    state.Xt_resid = bound
    state.bounded[:] = True
    state.bounded[hot] = False
    trace.partial_passes += 1


def _squared_working_set(prob: Problem, pen: Penalty, state: State, W: np.ndarray,
                         grad: np.ndarray, kkt: float, floor: float, trace: Trace,
                         should_stop: Callable[[], str | None] | None) -> None:
    """Greedy BCD on the cached Gram while its rows are short (a dense design and a
    working set under n / 2 features: the Newton finish is cheap there); otherwise
    coordinate descent on the columns of X, where an update costs one column (sparse:
    its nonzeros) instead of a Gram row of |W| numbers, and no |W|^2 matrix is built.
    On a GPU the design stays on the device and the Gram (host) serves every case."""
    D = prob.design
    if (D.sparse or W.size > GRAM_FRACTION * D.n) and not D.backend.is_gpu:
        tol = max(INNER_FRACTION * kkt, floor)
        sol = solve_residual(D, W, state.w[W], state.resid, pen.l1[W], pen.l2[W], tol,
                             max_passes=20 * (W.size + 10), should_stop=should_stop)
        trace.epochs += sol.passes
        state.w[W] = sol.w
        _refresh_residual(prob, state)
        return
    assert prob.gram is not None
    tol = max(GRAM_INNER_FRACTION * kkt, floor)
    H = prob.gram.block(W)
    H[np.diag_indices_from(H)] += pen.l2[W]
    sol = solve_block(H, grad[W], state.w[W], pen.l1[W], tol, max_iter=20 * (W.size + 10),
                      max_block=None if pen.l1_ratio < 1 else D.n, should_stop=should_stop)
    trace.epochs += sol.iterations
    trace.newton_steps += sol.newton_steps
    state.w[W] = sol.w
    _refresh_residual(prob, state)


def _refresh_residual(prob: Problem, state: State) -> None:
    """z and the residual recomputed from w (no drift from incremental updates)."""
    support = np.flatnonzero(state.w)
    state.z = prob.design.matvec(support, state.w[support])
    state.resid = prob.y - state.z


def optimal_intercept(y: np.ndarray, z0: np.ndarray, b: float) -> float:
    """argmin_b sum_i log(1 + exp(-y_i (z0_i + b))), by Newton's method from b: one
    dimension, O(n) a step. The certificate's dual point needs sum(resid) = 0, which
    holds only at this b."""
    for _ in range(50):
        z = z0 + b
        grad = -float(np.sum(loss_residual("logistic", y, z)))
        curvature = float(np.sum(loss_curvature(y, z)))
        if not curvature > 0:
            break
        step = grad / curvature
        b -= step
        if abs(step) <= 1e-15 * max(1.0, abs(b)):
            break
    return b


def _logistic_working_set(prob: Problem, pen: Penalty, state: State, W: np.ndarray,
                          tol: float, trace: Trace,
                          should_stop: Callable[[], str | None] | None) -> None:
    """Proximal Newton on the working set and the intercept, then the intercept
    polished for the final w (which the certificate needs)."""
    _logistic_newton(prob, pen, state, W, tol, trace, should_stop)
    if prob.fit_intercept:
        b = optimal_intercept(prob.y, state.z - state.intercept, state.intercept)
        state.z = state.z + (b - state.intercept)
        state.intercept = b
        state.resid = loss_residual("logistic", prob.y, state.z)


def _logistic_newton(prob: Problem, pen: Penalty, state: State, W: np.ndarray,
                     tol: float, trace: Trace,
                     should_stop: Callable[[], str | None] | None) -> None:
    """Proximal Newton on the working set (and the intercept), each quadratic model
    solved by greedy BCD, then a backtracking line search on the true objective."""
    D, y, n = prob.design, prob.y, prob.design.n
    lam = np.concatenate([pen.l1[W], [0.0]]) if prob.fit_intercept else pen.l1[W]
    l2 = pen.l2[W]

    def objective(z: np.ndarray, wW: np.ndarray) -> float:
        return loss_value("logistic", y, z) + float(pen.l1[W] @ np.abs(wW)
                                                    + 0.5 * l2 @ (wW * wW))

    for _ in range(NEWTON_STEPS):
        check_stop(should_stop)
        wW = state.w[W]
        grad = -D.rmatvec_columns(W, state.resid) / n + l2 * wW
        x = wW
        h = loss_curvature(y, state.z)
        H = D.gram(W, W, h) / n
        H[np.diag_indices_from(H)] += l2
        if prob.fit_intercept:
            cross = D.rmatvec_columns(W, h) / n
            H = np.block([[H, cross[:, None]], [cross[None, :], np.array([[h.sum() / n]])]])
            grad = np.concatenate([grad, [-state.resid.sum() / n]])
            x = np.concatenate([wW, [state.intercept]])
        if float(violations(grad, x, lam).max(initial=0.0)) <= tol:
            return
        sol = solve_block(H, grad, x, lam, 0.1 * tol, max_iter=20 * (x.size + 10),
                          max_block=None if pen.l1_ratio < 1 else n, should_stop=should_stop)
        trace.epochs += sol.iterations
        trace.newton_steps += 1
        delta = sol.w - x
        dz = D.matvec(W, delta[:W.size])
        if prob.fit_intercept:
            dz += delta[-1]
        # Armijo on F = loss + penalty along delta (Tseng and Yun's rule for l1 terms).
        f0 = objective(state.z, wW)
        slope = float(grad @ delta + lam @ (np.abs(x + delta) - np.abs(x)))
        t = 1.0
        while t > 1e-10:
            if objective(state.z + t * dz, wW + t * delta[:W.size]) <= f0 + 1e-4 * t * slope:
                break
            t *= 0.5
        else:
            return
        state.w[W] = wW + t * delta[:W.size]
        if prob.fit_intercept:
            state.intercept += t * delta[-1]
        state.z = state.z + t * dz
        state.resid = loss_residual("logistic", y, state.z)
