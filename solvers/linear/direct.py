"""Direct solves: sparse LU (SuperLU on the CPU) or dense LU, all columns at once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.linalg
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from solvers import abandonable
from solvers.backend import Backend

# Sparse factorisations estimated above this many flops run in a child process that a
# deadline or cancel can kill (solvers/abandonable: about 15 ms to start one); below it,
# a few tens of milliseconds at most, on the calling thread.
ABANDONABLE_FLOPS = 3e8


class SingularMatrix(Exception):
    pass


def factor_flops(a: sp.spmatrix) -> float:
    """A rough count of a sparse LU's flops from the dimension d its pattern behaves
    like (solve.pattern_dimension): nested-dissection-like orderings factor a d-D mesh
    in about n^(3 (d - 1) / d) (n^1.5 in 2-D, n^2 in 3-D; n^3 for a pattern with no
    geometry, as a random one)."""
    from solvers.linear.solve import pattern_dimension

    n = a.shape[0]
    d = pattern_dimension(a)
    return float(n) ** (3.0 * (d - 1.0) / d) if d > 1.0 else float(n)


def _superlu_solve(csc: sp.csc_matrix, b: np.ndarray) -> np.ndarray:
    try:
        lu = spla.splu(csc)
    except RuntimeError as exc:
        raise SingularMatrix(str(exc)) from None
    return lu.solve(b)


def direct_solve(a_host: np.ndarray | sp.spmatrix, a_dev: Any, b_dev: Any,
                 backend: Backend, dtype: np.dtype,
                 should_stop: Callable[[], str | None] | None = None) -> Any:
    """X with A X = B for a 2-D B on the backend. Raises SingularMatrix, or
    Interrupted when `should_stop` names a reason during a long sparse factorisation."""
    if backend.is_gpu:
        return _gpu(a_dev, b_dev, backend)
    if sp.issparse(a_host):
        csc = sp.csc_matrix(a_host, dtype=dtype)
        b = np.asarray(b_dev, dtype=dtype)
        if should_stop is not None and factor_flops(csc) > ABANDONABLE_FLOPS:
            return abandonable.run(_superlu_solve, (csc, b), should_stop)
        return _superlu_solve(csc, b)
    try:
        # lu_factor only warns on an exactly singular U; check the diagonal ourselves.
        lu, piv = scipy.linalg.lu_factor(np.asarray(a_dev, dtype=dtype), check_finite=False)
    except (ValueError, np.linalg.LinAlgError) as exc:
        raise SingularMatrix(str(exc)) from None
    if np.any(np.diagonal(lu) == 0):
        raise SingularMatrix("matrix is exactly singular")
    return scipy.linalg.lu_solve((lu, piv), b_dev, check_finite=False)


def _gpu(a_dev: Any, b_dev: Any, backend: Backend) -> Any:
    xp = backend.xp
    if isinstance(a_dev, xp.ndarray):
        try:
            x = xp.linalg.solve(a_dev, b_dev)
        except xp.linalg.LinAlgError as exc:
            raise SingularMatrix(str(exc)) from None
    else:
        import cupyx.scipy.sparse.linalg as cspla

        # cupyx's splu factors with SuperLU on the host and solves the triangles on the GPU.
        try:
            lu = cspla.splu(a_dev.tocsc())
        except RuntimeError as exc:
            raise SingularMatrix(str(exc)) from None
        x = lu.solve(b_dev)
    if not bool(xp.all(xp.isfinite(x))):
        raise SingularMatrix("matrix is singular to working precision")
    return x
