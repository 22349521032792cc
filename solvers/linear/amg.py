"""Algebraic multigrid preconditioning from PyAMG (Olson and Schroder, PyAMG 5).

Symmetric matrices get smoothed aggregation (Vanek, Mandel, Brezina 1996) with a
symmetric V-cycle (symmetric Gauss-Seidel), so the preconditioner is SPD and serves
CG and MINRES. Nonsymmetric ones get smoothed aggregation built for nonsymmetric
operators, or AIR (approximate ideal restriction, Manteuffel et al. 2018) when asked,
accelerated by GMRES or BiCGStab. Measured here (one BLAS thread): Darcy 512^2 SA
setup 0.50 s + 11 PCG iterations 0.47 s against SuperLU's 1.95 s; convection-diffusion
300^2 nonsymmetric SA 0.20 + 0.16 s (9 GMRES iterations) against AIR's 0.85 + 0.21 s and
SuperLU's 0.47 s.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

from solvers.errors import SolverInputError
from solvers.linear.spectral import estimates_in_this_thread

KINDS = ("auto", "sa", "air")
STRENGTHS = ("auto", "symmetric", "evolution", "classical")
SMOOTHERS = ("auto", "gauss_seidel", "jacobi")
CYCLES = ("V", "W", "F")
SYMMETRIC_METHODS = ("cg", "minres", "recycled_cg")


@dataclass
class AmgOptions:
    """What users tune (PyAMG's names): the hierarchy kind, the strength of connection,
    the smoother, the cycle, the near-nullspace B (rigid-body modes for elasticity:
    n x k), and the coarsest size."""

    kind: str = "auto"
    strength: str = "auto"
    smoother: str = "auto"
    cycle: str = "V"
    near_nullspace: np.ndarray | None = None
    max_coarse: int = 500
    max_levels: int = 25

    def check(self, n: int) -> None:
        for name, value, allowed in (("kind", self.kind, KINDS),
                                     ("strength", self.strength, STRENGTHS),
                                     ("smoother", self.smoother, SMOOTHERS),
                                     ("cycle", self.cycle, CYCLES)):
            if value not in allowed:
                raise SolverInputError(f"amg.{name}", f"must be one of {', '.join(allowed)}, "
                                                      f"got {value!r}")
        B = self.near_nullspace
        if B is not None and (B.ndim != 2 or B.shape[0] != n or not 1 <= B.shape[1] <= 64
                              or not np.isfinite(B).all()):
            raise SolverInputError("amg.near_nullspace",
                                   f"must be a finite n x k array with n = {n}, 1 <= k <= 64, "
                                   f"got shape {list(B.shape)}")
        if not 1 <= self.max_coarse <= 100_000:
            raise SolverInputError("amg.max_coarse", f"must be in [1, 100000], got "
                                                     f"{self.max_coarse}")
        if not 2 <= self.max_levels <= 50:
            raise SolverInputError("amg.max_levels", f"must be in [2, 50], got "
                                                     f"{self.max_levels}")


@dataclass
class Hierarchy:
    """What the response reports of a built hierarchy."""

    kind: str  # "sa" or "air"
    levels: int
    operator_complexity: float
    grid_complexity: float
    coarse_rows: int
    setup_seconds: float
    solver: Any = field(repr=False, default=None)
    # Iterations of the solve it was built for (set by whoever reuses it): a reused
    # hierarchy that needs many more has stopped fitting the matrix.
    fresh_iterations: int = 0
    # The smoothing it was built with (PyAMG's spec), re-set up after a refresh since
    # Jacobi's weight depends on A; None where nothing depends on A (AIR's F/C Jacobi).
    smoothing: Any = field(repr=False, default=None)
    refreshes: int = 0  # Galerkin refreshes for later matrices (see refresh)


def build(a: sp.spmatrix | np.ndarray, method: str, options: AmgOptions | None = None,
          should_stop: Callable[[], str | None] | None = None) -> Hierarchy:
    """A PyAMG hierarchy for A (host, float64), for the Krylov `method` it preconditions.
    Smoothed aggregation polls `should_stop` once per level (raising Interrupted)."""
    import pyamg

    options = options or AmgOptions()
    A = sp.csr_matrix(a, dtype=np.float64)
    options.check(A.shape[0])
    symmetric = method in SYMMETRIC_METHODS
    kind = options.kind
    if kind == "auto":
        kind = "sa"
    if kind == "air" and symmetric:
        raise SolverInputError("amg.kind", f"AIR is not symmetric; {method} needs a symmetric "
                                           "preconditioner (use sa, or gmres/bicgstab)")
    start = time.perf_counter()
    try:
        if kind == "air":
            ml = pyamg.air_solver(A, max_levels=options.max_levels,
                                  max_coarse=options.max_coarse,
                                  **_strength("classical" if options.strength == "auto"
                                              else options.strength))
        else:
            smoother = "gauss_seidel" if options.smoother == "auto" else options.smoother
            smoothing: Any = (("gauss_seidel", {"sweep": "symmetric"}) if smoother == "gauss_seidel"
                         else ("jacobi", {"omega": 2.0 / 3.0}))
            # Our estimate for symmetric builds only (see solvers/linear/spectral); the
            # stop is polled per level either way.
            with estimates_in_this_thread(ours=symmetric, should_stop=should_stop):
                ml = pyamg.smoothed_aggregation_solver(
                    A, B=options.near_nullspace,
                    symmetry="hermitian" if symmetric else "nonsymmetric",
                    presmoother=smoothing, postsmoother=smoothing,
                    max_levels=options.max_levels, max_coarse=options.max_coarse,
                    **_strength("symmetric" if options.strength == "auto"
                                else options.strength))
    except (ValueError, RuntimeError, np.linalg.LinAlgError, ZeroDivisionError) as exc:
        raise SolverInputError("preconditioner", f"amg setup failed: {exc}") from None
    seconds = time.perf_counter() - start
    return Hierarchy(kind, len(ml.levels), float(ml.operator_complexity()),
                     float(ml.grid_complexity()), int(ml.levels[-1].A.shape[0]), seconds, ml,
                     smoothing=None if kind == "air" else smoothing)


def refresh(hierarchy: Hierarchy, a: sp.spmatrix | np.ndarray) -> float:
    """Fits a hierarchy built for an earlier matrix of the same size to `a`: its
    transfer operators (the aggregation and smoothed prolongation, the expensive part
    of the setup) are kept and only the numeric part is redone, the Galerkin coarse
    operators A_{l+1} = R_l A_l P_l, the smoothers' weights and the coarsest solve.
    For a slowly changing coefficient field the cycle then converges as a fresh one
    does at a few percent of its setup (the reuse of Brezina et al.'s adaptive SA,
    and PETSc GAMG's `PCGAMGSetReuseInterpolation`). Returns the seconds it took."""
    start = time.perf_counter()
    ml = hierarchy.solver
    A = sp.csr_matrix(a, dtype=np.float64)
    if ml.levels[0].A is a:
        return 0.0
    ml.levels[0].A = A
    for fine, coarse in zip(ml.levels[:-1], ml.levels[1:], strict=True):
        coarse.A = sp.csr_matrix(fine.R @ fine.A @ fine.P)
        coarse.A.sort_indices()
    for cached in ("P", "LU", "L", "LU_Map"):  # the coarsest factorisation, made lazily
        if hasattr(ml.coarse_solver, cached):
            delattr(ml.coarse_solver, cached)
    if hierarchy.smoothing is not None:
        from pyamg.relaxation.smoothing import change_smoothers

        change_smoothers(ml, hierarchy.smoothing, hierarchy.smoothing)
    hierarchy.refreshes += 1
    return time.perf_counter() - start


def _strength(name: str) -> dict[str, Any]:
    return {"strength": {"symmetric": "symmetric", "evolution": "evolution",
                         "classical": "classical"}[name]}


def preconditioner(hierarchy: Hierarchy, cycle: str, dtype: np.dtype) -> Any:
    """v -> one cycle of the hierarchy applied to v (host arrays), in `dtype`."""
    op = hierarchy.solver.aspreconditioner(cycle=cycle)

    def apply(v: Any) -> Any:
        return np.asarray(op.matvec(np.asarray(v, dtype=np.float64)), dtype=dtype)

    return apply
