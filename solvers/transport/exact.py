"""Exact (unregularised) optimal transport on the CPU.

The transportation problem by the network simplex (simplex.py, compiled), whose
final potentials certify the plan: every reduced cost is above -1e-12 max |M|, so
the cost is within that times the mass of optimal. Uniform weights on n = m points
(an assignment) go the same way: measured faster than SciPy's Jonker-Volgenant
assignment (0.21 s against 0.48 s at n = 2000) and with the potentials included.
Should the simplex reach its pivot cap, column generation takes over: HiGHS solves
the LP restricted to a few cheap edges per point (plus a north-west-corner plan, so
it is feasible); the duals price every pair at once, and the most negative reduced
cost of each row and column joins the LP, until none is below -atol.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.optimize import linprog

from solvers.errors import check_stop
from solvers.scaling import divided
from solvers.transport.simplex import solve_transportation

# Pivots seen on 2-D point clouds: about 15 (n + m); the cap leaves room for harder costs.
PIVOTS_PER_NODE = 500


@dataclass
class ExactSolution:
    plan: sp.csr_matrix
    f: np.ndarray | None
    g: np.ndarray | None
    rounds: int  # LP solves (0 unless the simplex reached its pivot cap)
    converged: bool
    path: str  # "simplex" or "lp"
    pivots: int = 0  # network simplex pivots


def exact_transport(a: np.ndarray, b: np.ndarray, M: np.ndarray,
                    max_rounds: int = 50, max_pivots: int | None = None,
                    should_stop: Callable[[], str | None] | None = None) -> ExactSolution:
    """An optimal plan and dual potentials f, g (f_i + g_j <= M_ij, equal on the plan).
    `max_pivots`: the caller's cap on simplex pivots, after which the plan reached (a
    feasible one) comes back unconverged; None: the solver's own cap, then column
    generation. Raises Interrupted soon after `should_stop` names a reason."""
    scale = _power_of_two_scale(M)
    top = float(np.abs(M).max()) / scale if M.size else 0.0
    solution = _simplex_then_lp(a, b, divided(M, scale) if scale != 1.0 else M, top,
                                max_rounds, max_pivots, should_stop)
    return _rescaled(solution, scale)


def _power_of_two_scale(costs: np.ndarray) -> float:
    """Costs near the ends of the float64 range would overflow the potentials (sums of
    costs) or HiGHS's absolute tolerances. The plan is invariant under M -> M / s; s a
    power of two rounds nothing."""
    top = float(np.abs(costs).max()) if costs.size else 0.0
    return 2.0 ** round(np.log2(top)) if top > 0 and np.isfinite(top) else 1.0


def _rescaled(solution: ExactSolution, scale: float) -> ExactSolution:
    if scale != 1.0 and solution.f is not None and solution.g is not None:
        with np.errstate(over="ignore", under="ignore"):
            solution.f, solution.g = solution.f * scale, solution.g * scale
    return solution


def exact_on_entries(a: np.ndarray, b: np.ndarray, rows: np.ndarray, cols: np.ndarray,
                     costs: np.ndarray, shape: tuple[int, int]) -> tuple[ExactSolution, float]:
    """Exact transport that may move mass only along the given entries (a sparse cost:
    absent pairs are forbidden, not free), as the LP it is: HiGHS's dual simplex on one
    variable per entry, the duals of the marginal constraints as potentials. Duplicate
    entries keep the least cost. converged False with path "infeasible" when the
    entries cannot carry the marginals (a point with mass and no entry, say). Returns
    the solution and its cost."""
    n, m = shape
    order = np.lexsort((costs, cols, rows))
    rows, cols, costs = rows[order], cols[order], costs[order]
    first = np.ones(rows.size, dtype=bool)
    first[1:] = (rows[1:] != rows[:-1]) | (cols[1:] != cols[:-1])
    rows, cols, costs = rows[first], cols[first], costs[first]
    scale = _power_of_two_scale(costs)
    count = rows.size
    A = sp.csr_matrix((np.ones(2 * count), (np.concatenate([rows, n + cols]),
                                            np.tile(np.arange(count), 2))),
                      shape=(n + m, count))
    res = linprog(costs / scale, A_eq=A, b_eq=np.concatenate([a, b]), bounds=(0, None),
                  method="highs-ds", options={"dual_feasibility_tolerance": 1e-10,
                                              "primal_feasibility_tolerance": 1e-10})
    if res.status != 0 or res.x is None:
        path = "infeasible" if res.status == 2 else "lp"
        return ExactSolution(sp.csr_matrix(shape), None, None, 1, False, path), 0.0
    plan = sp.csr_matrix((res.x, (rows, cols)), shape=shape)
    plan.eliminate_zeros()
    f, g = res.eqlin.marginals[:n], res.eqlin.marginals[n:]
    return _rescaled(ExactSolution(plan, f, g, 1, True, "lp"), scale), float(res.x @ costs)


def _simplex_then_lp(a: np.ndarray, b: np.ndarray, M: np.ndarray, top: float,
                     max_rounds: int, max_pivots: int | None,
                     should_stop: Callable[[], str | None] | None = None) -> ExactSolution:
    """top: max |M|. Potentials sum costs along tree paths (rounding ~1e-16 x depth x
    top): the pricing tolerance sits above that, so rounding noise never pivots."""
    n, m = M.shape
    eps = 1e-12 * max(top, 1e-300) if np.isfinite(top) else 1e-12
    cap = PIVOTS_PER_NODE * (n + m) if max_pivots is None else max(int(max_pivots), 1)
    rows, cols, x, f, g, pivots, optimal = solve_transportation(a, b, M, eps, cap,
                                                                should_stop=should_stop)
    if not optimal and max_pivots is not None:  # the caller's cap: the plan reached
        plan = sp.csr_matrix((x, (rows, cols)), shape=M.shape)
        plan.eliminate_zeros()
        return ExactSolution(plan, f, g, 0, False, "simplex", pivots)
    if not optimal:
        fallback = _column_generation(a, b, M, max_rounds, should_stop)
        fallback.pivots = pivots
        return fallback
    plan = sp.csr_matrix((x, (rows, cols)), shape=M.shape)
    plan.eliminate_zeros()
    return ExactSolution(plan, f, g, 0, True, "simplex", pivots)


def _north_west(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    i = j = 0
    ra, rb = a.copy(), b.copy()
    rows, cols = [], []
    while i < a.size and j < b.size:
        rows.append(i)
        cols.append(j)
        t = min(ra[i], rb[j])
        ra[i] -= t
        rb[j] -= t
        if ra[i] <= rb[j]:
            i += 1
        else:
            j += 1
    return np.asarray(rows), np.asarray(cols)


def _north_west_values(a: np.ndarray, b: np.ndarray, rows: np.ndarray,
                       cols: np.ndarray) -> np.ndarray:
    """The amounts of the north-west-corner plan on its own support."""
    left_a, left_b = a.astype(np.float64).copy(), b.astype(np.float64).copy()
    out = np.empty(rows.size)
    for k, (i, j) in enumerate(zip(rows, cols, strict=True)):
        out[k] = min(left_a[i], left_b[j])
        left_a[i] -= out[k]
        left_b[j] -= out[k]
    return out


def _column_generation(a: np.ndarray, b: np.ndarray, M: np.ndarray, max_rounds: int,
                       should_stop: Callable[[], str | None] | None = None
                       ) -> ExactSolution:
    n, m = M.shape
    k = min(4, m - 1, n - 1)
    pieces = [_north_west(a, b)]
    if k >= 1:
        near = np.argpartition(M, k, axis=1)[:, :k]
        pieces.append((np.repeat(np.arange(n), k), near.ravel()))
        near = np.argpartition(M, k, axis=0)[:k, :]
        pieces.append((near.ravel(), np.tile(np.arange(m), k)))
    keys = np.unique(np.concatenate([r * m + c for r, c in pieces]))
    atol = 1e-10 * max(float(np.abs(M).max()), 1e-300)
    f = g = None
    x = None
    rows = cols = keys
    for rounds in range(1, max_rounds + 1):
        check_stop(should_stop)
        rows, cols = keys // m, keys % m
        count = keys.size
        A = sp.csr_matrix((np.ones(2 * count), (np.concatenate([rows, n + cols]),
                                                np.tile(np.arange(count), 2))),
                          shape=(n + m, count))
        res = linprog(M[rows, cols], A_eq=A, b_eq=np.concatenate([a, b]), bounds=(0, None),
                      method="highs-ds",
                      options={"dual_feasibility_tolerance": 1e-10,
                               "primal_feasibility_tolerance": 1e-10})
        if res.status != 0:  # not converged, with the last plan (or a feasible one)
            if x is None:
                r0, c0 = pieces[0]
                x, rows, cols = _north_west_values(a, b, r0, c0), r0, c0
            plan = sp.csr_matrix((x, (rows, cols)), shape=M.shape)
            return ExactSolution(plan, f, g, rounds, False, "lp")
        x = res.x
        f, g = res.eqlin.marginals[:n], res.eqlin.marginals[n:]
        reduced = M - f[:, None] - g[None, :]
        best_j = reduced.argmin(axis=1)
        best_i = reduced.argmin(axis=0)
        add = []
        hit = reduced[np.arange(n), best_j] < -atol
        add.append(np.nonzero(hit)[0] * m + best_j[hit])
        hit = reduced[best_i, np.arange(m)] < -atol
        add.append(best_i[hit] * m + np.nonzero(hit)[0])
        new = np.setdiff1d(np.concatenate(add), keys)
        if new.size == 0:
            plan = sp.csr_matrix((x, (rows, cols)), shape=M.shape)
            plan.eliminate_zeros()
            return ExactSolution(plan, f, g, rounds, True, "lp")
        keys = np.union1d(keys, new)
    plan = sp.csr_matrix((x, (rows, cols)), shape=M.shape)
    return ExactSolution(plan, f, g, max_rounds, False, "lp")
