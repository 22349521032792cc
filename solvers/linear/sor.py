"""SOR as a solver and SSOR as a CG preconditioner, for general CSR matrices.

CPU sweeps run in PyAMG's compiled kernel (`amg_core.sor_gauss_seidel`: the
true row-by-row SOR update, checked against a reference loop in the tests).
A sweep costs about 2.4 SpMVs (measured at n = 202,500: 2.93 ms vs 1.24 ms).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.sparse as sp
from pyamg import amg_core

from solvers.errors import SolverInputError
from solvers.linear.krylov import KernelOutcome

Check = Callable[[], None]


def check_omega(omega: float) -> None:
    # SOR converges for SPD matrices exactly when 0 < omega < 2 (Ostrowski-Reich).
    if not (0.0 < omega < 2.0 and math.isfinite(omega)):
        raise SolverInputError("omega", f"must be in (0, 2), got {omega}")


def csr_for_sweeps(a: Any, dtype: np.dtype) -> sp.csr_matrix:
    """A CSR copy the compiled kernel accepts: canonical, with a nonzero diagonal."""
    csr = sp.csr_matrix(a, dtype=dtype)
    if not csr.has_canonical_format:
        csr.sum_duplicates()
    diag = csr.diagonal()
    zero = np.flatnonzero(diag == 0)
    if zero.size:
        raise SolverInputError("a", f"SOR needs a nonzero diagonal; A[{zero[0]},{zero[0]}] = 0")
    return csr


def sweep(a: sp.csr_matrix, b: np.ndarray, x: np.ndarray, omega: float,
          direction: str = "forward") -> None:
    """One SOR sweep on A x = b, in place: forward, backward or symmetric (both)."""
    n = a.shape[0]
    if direction in ("forward", "symmetric"):
        amg_core.sor_gauss_seidel(a.indptr, a.indices, a.data, x, b, 0, n, 1, omega)
    if direction in ("backward", "symmetric"):
        amg_core.sor_gauss_seidel(a.indptr, a.indices, a.data, x, b, n - 1, -1, -1, omega)


def sor(a: sp.csr_matrix, b: np.ndarray, x: np.ndarray, tol: float, maxiter: int,
        check: Check, omega: float) -> KernelOutcome:
    """Forward SOR sweeps (compiled, natural order) until ||b - A x|| <= tol."""
    return iterate_sweeps(a, b, x, tol, maxiter, check, lambda: sweep(a, b, x, omega), np)


def iterate_sweeps(a: Any, b: Any, x: Any, tol: float, maxiter: int, check: Check,
                   sweep_once: Callable[[], None], xp: Any) -> KernelOutcome:
    """SOR as a solver on any backend: `sweep_once` updates x in place; one iteration
    is one sweep, followed by the true residual that decides convergence."""
    r = b - a @ x
    if math.sqrt(float(xp.dot(r, r))) <= tol:
        return KernelOutcome(x, 0, 1, "converged")
    tol_sq = tol * tol
    for it in range(1, maxiter + 1):
        check()
        sweep_once()
        with np.errstate(over="ignore", invalid="ignore"):  # divergence is a result
            r = b - a @ x
            rr = float(xp.dot(r, r))
        if not math.isfinite(rr):
            return KernelOutcome(x, it, it + 1, "breakdown: SOR diverged")
        if rr <= tol_sq:
            return KernelOutcome(x, it, it + 1, "converged")
    return KernelOutcome(x, maxiter, maxiter + 1, "max_iterations")


def ssor_preconditioner(a: sp.csr_matrix, omega: float) -> Callable[[np.ndarray], np.ndarray]:
    """z = M^-1 v for M = (D/w + L) (D/w)^-1 (D/w + U) w/(2-w): one symmetric SOR sweep
    on A z = v from z = 0. Symmetric positive definite for SPD A and 0 < w < 2, so CG
    may use it (Axelsson, Iterative Solution Methods, 1994, sec. 7.2)."""

    def apply(v: np.ndarray) -> np.ndarray:
        z = np.zeros_like(v)
        rhs = np.ascontiguousarray(v)
        sweep(a, rhs, z, omega, "symmetric")
        return z

    return apply
