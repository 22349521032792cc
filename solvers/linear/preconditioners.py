"""Preconditioners as callables v -> M^-1 v on the solve's backend."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from solvers.backend import Backend
from solvers.errors import SolverInputError
from solvers.linear import amg

Precond = Callable[[Any], Any] | None  # None: no preconditioner

PRECONDITIONERS = ("none", "jacobi", "ilu", "amg")


class Diagonal:
    """v -> d * v. The inverse diagonal stays readable so that a compiled loop
    (recycled_cg_cpu) can fuse the scaling into its own passes."""

    def __init__(self, inverse: Any) -> None:
        self.inverse = inverse

    def __call__(self, v: Any) -> Any:
        return self.inverse * v


def has_ilu(backend: Backend) -> bool:
    if not backend.is_gpu:
        return True
    try:
        import cupyx.scipy.sparse.linalg as cspla
    except ImportError:
        return False
    return hasattr(cspla, "spilu")


def available(backend: Backend) -> list[str]:
    return [p for p in PRECONDITIONERS if p != "ilu" or has_ilu(backend)]


def build(name: str, a_host: np.ndarray | sp.spmatrix, a_dev: Any, backend: Backend,
          dtype: np.dtype, method: str, amg_options: amg.AmgOptions | None = None,
          extra: dict[str, Any] | None = None, reuse: amg.Hierarchy | None = None,
          should_stop: Callable[[], str | None] | None = None) -> Precond:
    """The preconditioner `name` for A. Raises SolverInputError when it cannot be built.
    An AMG hierarchy is described in extra["amg"]; `reuse`, one built for an earlier
    matrix of the same size, is refreshed for A and used instead of a new one
    (extra["amg_reused"])."""
    if name == "none":
        return None
    if name == "amg":
        options = amg_options or amg.AmgOptions()
        usable = reuse is not None and reuse.solver.levels[0].A.shape == a_host.shape
        hierarchy = reuse if usable else amg.build(a_host, method, options, should_stop)
        if usable:
            refreshed = amg.refresh(hierarchy, a_host)
            if extra is not None:
                extra["amg_refresh_seconds"] = refreshed
        if extra is not None:
            extra["amg"] = hierarchy
            extra["amg_reused"] = usable
        if backend.is_gpu:  # the hierarchy's operators on the device, a Jacobi V-cycle
            from solvers.linear.amg_gpu import DeviceCycle

            try:
                return DeviceCycle(hierarchy, backend, dtype)
            except ValueError as exc:
                raise SolverInputError("preconditioner", f"amg on the GPU: {exc}") from None
        return amg.preconditioner(hierarchy, options.cycle, dtype)
    if name == "jacobi":
        diag = np.asarray(a_host.diagonal(), dtype=np.float64)
        zero = np.flatnonzero(diag == 0.0)
        if zero.size:
            raise SolverInputError("preconditioner",
                                   f"jacobi needs a nonzero diagonal; A[{zero[0]},{zero[0]}] = 0")
        # MINRES needs a positive definite preconditioner: |diag| keeps the scaling.
        inv = 1.0 / (np.abs(diag) if method == "minres" else diag)
        return Diagonal(backend.asarray(inv, dtype=dtype))
    if name == "ilu":
        if method in ("cg", "minres", "recycled_cg"):
            raise SolverInputError("preconditioner",
                                   f"ilu is not symmetric; {method} needs a symmetric "
                                   "preconditioner (use jacobi, or gmres/bicgstab)")
        if not has_ilu(backend):
            raise SolverInputError("preconditioner",
                                   f"ilu is not available on the {backend.name} backend")
        return _ilu(a_host, a_dev, backend, dtype)
    raise SolverInputError("preconditioner", f"unknown preconditioner {name!r}")


def _ilu(a_host: np.ndarray | sp.spmatrix, a_dev: Any, backend: Backend,
         dtype: np.dtype) -> Precond:
    csc = sp.csc_matrix(a_host, dtype=dtype)
    try:
        if backend.is_gpu:
            import cupyx.scipy.sparse.linalg as cspla

            factor = cspla.spilu(a_dev.tocsc(), drop_tol=1e-4, fill_factor=10)
        else:
            factor = spla.spilu(csc, drop_tol=1e-4, fill_factor=10)
    except RuntimeError as exc:  # SuperLU: "Factor is exactly singular"
        raise SolverInputError("preconditioner", f"ilu failed: {exc}") from None
    return factor.solve
