"""transport(): one entry point for every optimal transport method, on CPU or GPU."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

from solvers.backend import CPU, Backend
from solvers.errors import SolverInputError, check_stop
from solvers.transport.cost import METRICS, SCALES, cost_matrix, cost_scale
from solvers.transport.exact import exact_on_entries, exact_transport
from solvers.transport.kernel import Kernel
from solvers.transport.newton import newton_steps, row_blocks
from solvers.transport.sinkhorn import epsilon_schedule, kernel_for, sinkhorn_steps

METHODS = ("auto", "sinkhorn", "sinkhorn_eps", "sns", "exact")
PLANS = ("dense", "sparse", "none")
# `auto` takes Newton steps when reg is below this fraction of the cost's largest
# entry: measured (bench/transport.py, n = 1000) SNS was 5x faster than Sinkhorn at
# 1e-3 but slower at 1e-2, where the plan is dense and a Newton step costs n^2 CG work.
SNS_BELOW = 4e-3
# Balanced transport needs equal masses; histograms normalised apart in float32 (as
# tensors from PyTorch are) differ by ~1e-8 of their mass, and six-decimal text by
# ~1e-6. Masses within this relative tolerance are taken as equal and b is rescaled to
# a's mass, as POT's emd does for sums equal to 6 decimals; beyond it they are refused
# (set reg_m for unbalanced transport).
MASS_RTOL = 1e-6


@dataclass
class TransportResult:
    cost: float  # <P, M> on the returned plan, in the units of M as given
    objective: float  # cost + reg sum P log P (+ reg_m KL(marginals) when unbalanced)
    f: np.ndarray | None  # dual potentials: P_ij = exp((f_i + g_j - M_ij) / reg)
    g: np.ndarray | None
    plan: np.ndarray | sp.csr_matrix | None
    dropped_mass: float  # mass a sparse plan left out
    marginal_error_a: float  # || P 1 - a ||_1 on the returned plan
    marginal_error_b: float  # || P^T 1 - b ||_1
    method: str
    converged: bool
    stop_reason: str
    reg: float
    cost_scale: float  # M was divided by this before solving (scale="max"/"mean")
    iterations: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    backend: str = "numpy"
    device: str = "cpu"


def choose_method(reg: float, scale: float, unbalanced: bool) -> str:
    if unbalanced:
        return "sinkhorn" if reg >= SNS_BELOW * scale else "sinkhorn_eps"
    return "sinkhorn" if reg >= SNS_BELOW * scale else "sns"


def transport(a: Any, b: Any, M: Any = None, *, X: Any = None, Y: Any = None,
              metric: str = "sqeuclidean", scale: str = "none", reg: float = 1e-2,
              method: str = "auto", tol: float = 1e-9, maxiter: int = 100_000,
              reg_m: float | None = None, plan: str = "dense", plan_threshold: float = 1e-12,
              potentials: bool = False, max_pivots: int | None = None,
              backend: Backend = CPU,
              should_stop: Callable[[], str | None] | None = None) -> TransportResult:
    """Optimal transport between histograms a (n) and b (m).

    The cost is M (n x m), or computed from points X (n x d), Y (m x d) with
    `metric`; `scale` divides it by its max or mean first (reg is then relative
    to that scale; `cost` is reported in the units of the scaled M). Entropic
    methods minimise <P, M> + reg sum P log P; `reg_m` relaxes the marginals by
    reg_m KL(P 1 | a) + reg_m KL(P^T 1 | b) (unbalanced). `method`: 'sinkhorn',
    'sinkhorn_eps' (epsilon scaling), 'sns' (Sinkhorn-Newton-Sparse), 'exact'
    (unregularised; CPU), or 'auto'. `plan`: 'dense', 'sparse' (entries below
    plan_threshold x the largest are dropped, their mass reported) or 'none'.
    Dual potentials f, g are always returned: the exact method's come with its
    network simplex. `potentials` is accepted for compatibility and changes nothing.
    `max_pivots` caps the exact method's simplex pivots (None: its own cap, then column
    generation). A scipy.sparse M is exact transport restricted to its stored entries
    (absent pairs cannot carry mass), on the CPU.
    """
    started = time.perf_counter()
    xp = backend.xp
    _check_options(method, plan, metric, scale, reg, tol, maxiter, reg_m, plan_threshold)
    if sp.issparse(M):
        result = _exact_on_entries(a, b, M, X, Y, method, reg, reg_m, plan)
        result.seconds = time.perf_counter() - started
        return result
    given = M
    M = _cost(backend, M, X, Y, metric)
    check_stop(should_stop)  # the cost from points: passes over n x m entries
    n, m = M.shape
    a = _weights(backend, a, n, "a")
    b = _weights(backend, b, m, "b")
    divisor = cost_scale(xp, M, scale)
    if divisor != 1.0:
        if M is given:  # the caller's array: divide a copy
            M = M / divisor
        else:  # ours (built from points or copied to the device): no second n x m
            M /= divisor
    unbalanced = reg_m is not None and np.isfinite(reg_m)
    if method == "auto":
        method = "exact" if reg == 0 else choose_method(reg, float(M.max()), unbalanced)
    if not unbalanced:
        # The entropic methods also took masses within their own tolerance apart.
        b = _balanced(a, b, 0.0 if method == "exact" else tol)
    if method == "exact":
        result = _exact(backend, a, b, M, plan, unbalanced, max_pivots, should_stop)
    else:
        if reg <= 0:
            raise SolverInputError("reg", f"{method} needs reg > 0 (reg = 0 is method 'exact')")
        if unbalanced and method == "sns":
            raise SolverInputError("method", "sns is for balanced problems; use sinkhorn or "
                                             "sinkhorn_eps with reg_m")
        # Overflow and 1/0 are states the entropic solvers detect and repair (a column
        # of K that underflowed gives v = b / 0): NumPy need not warn about them.
        with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
            result = _entropic(backend, a, b, M, reg, method, tol, maxiter,
                               reg_m if unbalanced else None, plan, plan_threshold,
                               should_stop)
    result.cost_scale = divisor
    result.seconds = time.perf_counter() - started
    if method != "exact":  # exact transport always runs on the host
        result.backend, result.device = backend.name, backend.device
    return result


def _check_options(method: str, plan: str, metric: str, scale: str, reg: float, tol: float,
                   maxiter: int, reg_m: float | None, plan_threshold: float) -> None:
    if method not in METHODS:
        raise SolverInputError("method", f"unknown method {method!r}; one of {METHODS}")
    if plan not in PLANS:
        raise SolverInputError("plan", f"unknown plan form {plan!r}; one of {PLANS}")
    if metric not in METRICS:
        raise SolverInputError("metric", f"unknown metric {metric!r}; one of {METRICS}")
    if scale not in SCALES:
        raise SolverInputError("scale", f"unknown scale {scale!r}; one of {SCALES}")
    if not (np.isfinite(reg) and reg >= 0):
        raise SolverInputError("reg", f"must be finite and >= 0, got {reg}")
    if not (np.isfinite(tol) and tol > 0):
        raise SolverInputError("tol", f"must be finite and > 0, got {tol}")
    if maxiter < 1:
        raise SolverInputError("max_iterations", f"must be >= 1, got {maxiter}")
    if reg_m is not None and not reg_m > 0:
        raise SolverInputError("reg_m", f"must be > 0 (or absent for balanced), got {reg_m}")
    if not (0 <= plan_threshold < 1):
        raise SolverInputError("plan_threshold", f"must be in [0, 1), got {plan_threshold}")


def _cost(backend: Backend, M: Any, X: Any, Y: Any, metric: str) -> Any:
    xp = backend.xp
    if M is not None:
        if X is not None or Y is not None:
            raise SolverInputError("M", "give the cost M or the points X and Y, not both")
        M = backend.asarray(M, dtype=np.float64)
        if M.ndim != 2 or 0 in M.shape:
            raise SolverInputError("M", f"must be a non-empty n x m matrix, got shape {M.shape}")
        if not bool(xp.isfinite(M).all()):
            raise SolverInputError("M", "holds NaN or infinite entries")
        return M
    if X is None or Y is None:
        raise SolverInputError("M", "give the cost M, or the points X and Y")
    X = backend.asarray(X, dtype=np.float64)
    Y = backend.asarray(Y, dtype=np.float64)
    if X.ndim != 2 or Y.ndim != 2 or X.shape[1] != Y.shape[1] or 0 in X.shape + Y.shape:
        raise SolverInputError("X", f"X (n x d) and Y (m x d) must share d, got {X.shape} "
                                    f"and {Y.shape}")
    if not (bool(xp.isfinite(X).all()) and bool(xp.isfinite(Y).all())):
        raise SolverInputError("X", "X or Y holds NaN or infinite entries")
    return cost_matrix(xp, X, Y, metric)


def _weights(backend: Backend, w: Any, size: int, name: str) -> Any:
    xp = backend.xp
    if w is None or (hasattr(w, "__len__") and len(w) == 0):
        return xp.full(size, 1.0 / size)
    w = backend.asarray(w, dtype=np.float64)
    if w.shape != (size,):
        raise SolverInputError(name, f"must have {size} entries to match the cost, got shape "
                                     f"{w.shape}")
    if not bool(xp.isfinite(w).all()) or bool((w < 0).any()):
        raise SolverInputError(name, "must be finite and non-negative")
    if not float(w.sum()) > 0:
        raise SolverInputError(name, "has no mass")
    return w


def _balanced(a: Any, b: Any, slack: float) -> Any:
    """b at a's mass, where the two agree to MASS_RTOL relative or `slack` absolute;
    SolverInputError otherwise."""
    sa, sb = float(a.sum()), float(b.sum())
    if abs(sa - sb) > max(MASS_RTOL * max(sa, sb), slack):
        raise SolverInputError("b", f"a and b must have the same mass for balanced transport "
                                    f"({sa!r} != {sb!r}, beyond {MASS_RTOL:g} relative); set "
                                    f"reg_m for unbalanced transport")
    return b if sa == sb else b * (sa / sb)


def _entropic(backend: Backend, a: Any, b: Any, M: Any, reg: float, method: str, tol: float,
              maxiter: int, reg_m: float | None, plan: str, plan_threshold: float,
              should_stop: Callable[[], str | None] | None) -> TransportResult:
    xp = backend.xp
    # Points without mass are solved without them: log(0) has no place in the kernel.
    rows = xp.nonzero(a > 0)[0] if bool((a == 0).any()) else None
    cols = xp.nonzero(b > 0)[0] if bool((b == 0).any()) else None
    Ms = M if rows is None else M[rows]
    Ms = Ms if cols is None else Ms[:, cols]
    As = a if rows is None else a[rows]
    Bs = b if cols is None else b[cols]
    iterations = {"sinkhorn": 0, "newton": 0, "cg": 0, "kernel_rebuilds": 0}
    kernel: Kernel | None = None
    budget = maxiter
    if method in ("sinkhorn_eps", "sns"):  # SNS: Newton from an epsilon-scaled start
        for stage_reg in epsilon_schedule(reg, float(Ms.max()))[:-1]:
            kernel = kernel_for(xp, Ms, As, Bs, stage_reg, kernel, reg_m, should_stop)
            stage = sinkhorn_steps(kernel, max(tol, 1e-3 * float(As.sum())), budget, reg_m,
                                   should_stop=should_stop)
            iterations["sinkhorn"] += stage.iterations
            iterations["kernel_rebuilds"] += kernel.rebuilds
            budget = max(budget - stage.iterations, 1)
    kernel = kernel_for(xp, Ms, As, Bs, reg, kernel, reg_m, should_stop)
    if method == "sns":
        stage = sinkhorn_steps(kernel, tol, min(budget, 10_000), stall_window=10,
                               stall_ratio=0.9, should_stop=should_stop)
        iterations["sinkhorn"] += stage.iterations
        converged, stop = stage.converged, "tolerance"
        if not converged:
            newton = newton_steps(kernel, tol, min(budget, 500), should_stop=should_stop)
            iterations["newton"] = newton.iterations
            iterations["cg"] = newton.cg_iterations
            iterations["line_search"] = newton.line_search_steps
            iterations["hessian_entries"] = newton.kept_entries
            converged = newton.converged
            stop = "tolerance" if converged else "max_iterations"
    else:
        stage = sinkhorn_steps(kernel, tol, budget, reg_m, should_stop=should_stop)
        iterations["sinkhorn"] += stage.iterations
        converged = stage.converged
        stop = "tolerance" if converged else "max_iterations"
    iterations["kernel_rebuilds"] += kernel.rebuilds
    f, g = kernel.potentials()
    P = kernel.take_plan()  # in K's memory: the finish adds no n x m array of its own
    del kernel, Ms
    if rows is not None or cols is not None:
        P, f, g = _embed(xp, P, f, g, M, reg, rows, cols)
    if not bool(xp.isfinite(P.sum())):  # any inf or NaN entry makes the sum one
        converged, stop = False, "overflow"
    return _finish(backend, P, f, g, a, b, M, reg, reg_m, plan, plan_threshold, method,
                   converged, stop, iterations, tol)


def _embed(xp: Any, P: Any, f: Any, g: Any, M: Any, reg: float, rows: Any,
           cols: Any) -> tuple[Any, Any, Any]:
    """Puts a solution on the points with mass (`rows`, `cols`; None: all of them)
    back in the full n x m frame. A massless point's potential is its soft
    c-transform against the points with mass: the value its plan row (or column)
    would take were it given an infinitesimal mass."""
    n, m = M.shape
    rows = xp.arange(n) if rows is None else rows
    cols = xp.arange(m) if cols is None else cols
    full = xp.zeros((n, m))
    full[xp.ix_(rows, cols)] = P
    full_f, full_g = xp.zeros(n), xp.zeros(m)
    full_f[rows], full_g[cols] = f, g
    if rows.size < n:
        lost = xp.setdiff1d(xp.arange(n), rows)
        full_f[lost] = _soft_min(xp, M[xp.ix_(lost, cols)] - g[None, :], reg, axis=1)
    if cols.size < m:
        lost = xp.setdiff1d(xp.arange(m), cols)
        full_g[lost] = _soft_min(xp, M[xp.ix_(rows, lost)] - f[:, None], reg, axis=0)
    return full, full_f, full_g


def _soft_min(xp: Any, C: Any, reg: float, axis: int) -> Any:
    """-reg logsumexp(-C / reg) along `axis`, shifted so nothing overflows."""
    S = -C / reg
    top = S.max(axis=axis, keepdims=True)
    return -reg * (top + xp.log(xp.exp(S - top).sum(axis=axis, keepdims=True))).squeeze(axis)


def _finish(backend: Backend, P: Any, f: Any, g: Any, a: Any, b: Any, M: Any, reg: float,
            reg_m: float | None, plan: str, plan_threshold: float, method: str,
            converged: bool, stop: str, iterations: dict[str, int],
            tol: float = math.inf) -> TransportResult:
    xp = backend.xp
    row_mass, col_mass = P.sum(axis=1), P.sum(axis=0)  # one pass each over the plan
    full_err_a = float(xp.abs(row_mass - a).sum())
    full_err_b = float(xp.abs(col_mass - b).sum())
    if converged and reg_m is None:
        # The claim is checked on the plan returned: a tol below the rounding floor
        # (1e-300) was met by an iterate's error that rounded to 0, while the plan's
        # marginals are off by 1e-16.
        floor = max(full_err_a, full_err_b)
        if not floor <= tol:
            converged = False
            stop = f"tolerance below rounding: the plan's marginal error is {floor:.1e}"
    cost = _blockwise_sum(xp, P, lambda block, lo, hi: block * M[lo:hi])
    objective = cost + reg * _blockwise_sum(
        xp, P, lambda block, lo, hi: block * xp.log(xp.where(block > 0, block, 1.0)))
    if reg_m is not None:
        objective += reg_m * (_kl(xp, row_mass, a) + _kl(xp, col_mass, b))
    returned, dropped = _plan_form(backend, P, plan, plan_threshold)
    if isinstance(returned, sp.csr_matrix):
        rows = np.asarray(returned.sum(axis=1)).ravel()
        cols = np.asarray(returned.sum(axis=0)).ravel()
        err_a = float(np.abs(rows - backend.to_host(a)).sum())
        err_b = float(np.abs(cols - backend.to_host(b)).sum())
    else:
        err_a, err_b = full_err_a, full_err_b
    return TransportResult(
        cost=cost, objective=objective, f=backend.to_host(f), g=backend.to_host(g),
        plan=returned, dropped_mass=dropped, marginal_error_a=err_a, marginal_error_b=err_b,
        method=method, converged=converged, stop_reason=stop, reg=reg, cost_scale=1.0,
        iterations=iterations)


def _blockwise_sum(xp: Any, P: Any, term: Callable[[Any, int, int], Any]) -> float:
    """The sum of term(P[lo:hi], lo, hi) over blocks of rows: temporaries the size of a
    block, never of P (sum P log P and <P, M> over the whole plan made three)."""
    total = xp.zeros(())
    for lo, hi in row_blocks(*P.shape):
        total += term(P[lo:hi], lo, hi).sum()
    return float(total)


def _kl(xp: Any, x: Any, y: Any) -> float:
    """Generalised KL(x | y) = sum x log(x / y) - x + y."""
    positive = x > 0
    return float((x[positive] * xp.log(x[positive] / y[positive])).sum() - x.sum() + y.sum())


def _plan_form(backend: Backend, full: Any, plan: str,
               threshold: float) -> tuple[np.ndarray | sp.csr_matrix | None, float]:
    if plan == "dense":
        return backend.to_host(full), 0.0
    if plan == "none":
        return None, 0.0
    xp = backend.xp
    floor = threshold * float(full.max())
    rows, cols, values = [], [], []
    for lo, hi in row_blocks(*full.shape):  # index arrays a block at a time
        block = full[lo:hi]
        r, c = xp.nonzero(block >= floor if threshold > 0 else block > 0)
        values.append(backend.to_host(block[r, c]))
        rows.append(backend.to_host(r) + lo)
        cols.append(backend.to_host(c))
    kept = np.concatenate(values)
    dropped = float(full.sum()) - float(kept.sum())
    sparse = sp.csr_matrix((kept, (np.concatenate(rows), np.concatenate(cols))),
                           shape=full.shape)
    return sparse, max(dropped, 0.0)


def _exact(backend: Backend, a: Any, b: Any, M: Any, plan: str, unbalanced: bool,
           max_pivots: int | None,
           should_stop: Callable[[], str | None] | None = None) -> TransportResult:
    if unbalanced:
        raise SolverInputError("method", "exact transport is balanced; unset reg_m")
    a_h, b_h, M_h = backend.to_host(a), backend.to_host(b), backend.to_host(M)
    solution = exact_transport(a_h, b_h, M_h, max_pivots=max_pivots, should_stop=should_stop)
    cost = float(solution.plan.multiply(M_h).sum())
    return _exact_result(solution, a_h, b_h, cost, plan)


def _exact_result(solution: Any, a: np.ndarray, b: np.ndarray, cost: float,
                  plan: str) -> TransportResult:
    P = solution.plan
    rows = np.asarray(P.sum(axis=1)).ravel()
    cols = np.asarray(P.sum(axis=0)).ravel()
    returned: np.ndarray | sp.csr_matrix | None
    returned = P.toarray() if plan == "dense" else (P if plan == "sparse" else None)
    stop = "optimal" if solution.converged else \
        "infeasible" if solution.path == "infeasible" else "max_iterations"
    return TransportResult(
        cost=cost, objective=cost, f=solution.f, g=solution.g, plan=returned, dropped_mass=0.0,
        marginal_error_a=float(np.abs(rows - a).sum()),
        marginal_error_b=float(np.abs(cols - b).sum()), method="exact",
        converged=solution.converged, stop_reason=stop, reg=0.0, cost_scale=1.0,
        iterations={"lp_rounds": solution.rounds, "simplex_pivots": solution.pivots},
        backend="numpy", device="cpu")


def _exact_on_entries(a: Any, b: Any, M: Any, X: Any, Y: Any, method: str, reg: float,
                      reg_m: float | None, plan: str) -> TransportResult:
    """Exact transport along a sparse cost's stored entries only (host)."""
    if X is not None or Y is not None:
        raise SolverInputError("M", "give the cost M or the points X and Y, not both")
    if not (method == "exact" or (method == "auto" and reg == 0)):
        raise SolverInputError("M", "a sparse cost restricts exact transport to its entries "
                                    "(reg = 0, method exact); the entropic methods need a "
                                    "dense cost")
    if reg_m is not None and np.isfinite(reg_m):
        raise SolverInputError("method", "exact transport is balanced; unset reg_m")
    coo = sp.coo_matrix(M)
    n, m = coo.shape
    if n == 0 or m == 0:
        raise SolverInputError("M", f"must be a non-empty n x m matrix, got shape {coo.shape}")
    costs = np.asarray(coo.data, dtype=np.float64)
    if not np.isfinite(costs).all():
        raise SolverInputError("M", "holds NaN or infinite entries")
    a = _weights(CPU, a, n, "a")
    b = _balanced(a, _weights(CPU, b, m, "b"), 0.0)
    rows, cols = coo.row.astype(np.int64), coo.col.astype(np.int64)
    solution, cost = exact_on_entries(a, b, rows, cols, costs, (n, m))
    return _exact_result(solution, a, b, cost, plan)
