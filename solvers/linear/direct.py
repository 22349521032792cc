"""Direct solves: sparse LU (SuperLU on the CPU) or dense LU, all columns at once."""

from __future__ import annotations

import warnings
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


def _superlu_solve(csc: sp.csc_matrix, b: np.ndarray, trans: str = "N") -> np.ndarray:
    """SuperLU of `csc`, then op(csc) x = b with op the identity ("N") or the
    transpose ("T")."""
    try:
        lu = spla.splu(csc)
    except RuntimeError as exc:
        raise SingularMatrix(str(exc)) from None
    return lu.solve(b, trans=trans)


def _one_shot(a: sp.spmatrix, b: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """A x = b by SuperLU's driver (factor and solve in one call, no factor object kept:
    0.35 ms against 0.5 for splu then solve on a 260-row mesh); a CSR or CSC matrix of
    the working dtype is passed as it is (SciPy factorises a CSR one's transpose)."""
    if a.format not in ("csr", "csc") or a.dtype != dtype:
        a = sp.csr_matrix(a, dtype=dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error", spla.MatrixRankWarning)
        try:
            x = spla.spsolve(a, b)
        except (spla.MatrixRankWarning, RuntimeError) as exc:
            raise SingularMatrix(str(exc)) from None
    return np.asarray(x).reshape(b.shape)


def _factorable(a: sp.spmatrix, dtype: np.dtype) -> tuple[sp.csc_matrix, str]:
    """A CSC matrix for SuperLU and how to solve with it. A CSR matrix's arrays are the
    CSC arrays of its transpose: factorising A^T and solving A^T^T x = b spares the
    conversion (as SciPy's spsolve does), a fifth of a direct solve of a few hundred
    rows."""
    if a.format == "csr" and a.dtype == dtype and a.has_canonical_format:
        at = sp.csc_matrix((a.data, a.indices, a.indptr), shape=a.shape[::-1], copy=False)
        return at, "T"
    return sp.csc_matrix(a, dtype=dtype), "N"


def direct_solve(a_host: np.ndarray | sp.spmatrix, a_dev: Any, b_dev: Any,
                 backend: Backend, dtype: np.dtype,
                 should_stop: Callable[[], str | None] | None = None) -> Any:
    """X with A X = B for a 2-D B on the backend. Raises SingularMatrix, or
    Interrupted when `should_stop` names a reason during a long sparse factorisation."""
    if backend.is_gpu:
        return _gpu(a_dev, b_dev, backend)
    if sp.issparse(a_host):
        b = np.asarray(b_dev, dtype=dtype)
        if should_stop is not None and factor_flops(a_host) > ABANDONABLE_FLOPS:
            csc, trans = _factorable(a_host, dtype)
            return abandonable.run(_superlu_solve, (csc, b, trans), should_stop)
        return _one_shot(a_host, b, dtype)
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
