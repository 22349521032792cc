"""cupyx.scipy.sparse.linalg on the stand-in: SciPy's solvers behind CuPy's interface.

splu/spilu factorise on the host, as CuPy's do, and solve device vectors. The Krylov
solvers are CuPy's peers in benches only: they run SciPy's on the host, taking and
giving device arrays.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.sparse.linalg as _spla
from cupy._core import host_array_error, ndarray, wrap

from cupyx.scipy.sparse import spmatrix


class SuperLU:
    def __init__(self, lu: Any) -> None:
        self._lu = lu
        self.shape = lu.shape
        self.nnz = lu.nnz

    def solve(self, rhs: Any, trans: str = "N") -> ndarray:
        if not isinstance(rhs, ndarray):
            raise TypeError("ndarray required")
        return wrap(self._lu.solve(rhs._a, trans=trans))


def _host_matrix(A: Any) -> Any:
    if not isinstance(A, spmatrix):
        raise TypeError("A must be a cupyx.scipy.sparse matrix")
    return A._m.tocsc()


def splu(A: Any, permc_spec: Any = None, diag_pivot_thresh: Any = None,
         relax: Any = None, panel_size: Any = None, options: Any = None) -> SuperLU:
    kwargs = {k: v for k, v in (("permc_spec", permc_spec), ("options", options),
                                ("diag_pivot_thresh", diag_pivot_thresh)) if v is not None}
    return SuperLU(_spla.splu(_host_matrix(A), **kwargs))


def spilu(A: Any, drop_tol: Any = None, fill_factor: Any = None, drop_rule: Any = None,
          permc_spec: Any = None, diag_pivot_thresh: Any = None, relax: Any = None,
          panel_size: Any = None, options: Any = None) -> SuperLU:
    kwargs = {k: v for k, v in (("drop_tol", drop_tol), ("fill_factor", fill_factor),
                                ("drop_rule", drop_rule), ("permc_spec", permc_spec),
                                ("options", options)) if v is not None}
    return SuperLU(_spla.spilu(_host_matrix(A), **kwargs))


class LinearOperator:
    def __init__(self, shape: Any, matvec: Callable[[Any], Any], rmatvec: Any = None,
                 matmat: Any = None, dtype: Any = None, rmatmat: Any = None) -> None:
        self.shape = tuple(shape)
        self.dtype = np.dtype(dtype or np.float64)
        self._matvec = matvec

    def matvec(self, x: Any) -> Any:
        return self._matvec(x)

    def __matmul__(self, x: Any) -> Any:
        return self._matvec(x)

    dot = matvec


def aslinearoperator(A: Any) -> LinearOperator:
    if isinstance(A, LinearOperator):
        return A
    return LinearOperator(A.shape, lambda v: A @ v, dtype=A.dtype)


def _run(solver: Callable[..., Any], A: Any, b: Any, x0: Any, M: Any, **options: Any
         ) -> tuple[ndarray, int]:
    if not isinstance(b, ndarray) or (x0 is not None and not isinstance(x0, ndarray)):
        raise host_array_error("cupyx.scipy.sparse.linalg")
    op = aslinearoperator(A)
    host = _spla.LinearOperator(op.shape, dtype=op.dtype,
                                matvec=lambda v: op.matvec(wrap(np.array(v)))._a)
    precond = None
    if M is not None:
        m_op = aslinearoperator(M)
        precond = _spla.LinearOperator(op.shape, dtype=op.dtype,
                                       matvec=lambda v: m_op.matvec(wrap(np.array(v)))._a)
    x, info = solver(host, b._a, x0=None if x0 is None else x0._a, M=precond, **options)
    return wrap(np.asarray(x)), int(info)


def cg(A: Any, b: Any, x0: Any = None, *, rtol: float = 1e-5, atol: float = 0.0,
       maxiter: Any = None, M: Any = None, callback: Any = None) -> tuple[ndarray, int]:
    return _run(_spla.cg, A, b, x0, M, rtol=rtol, atol=atol, maxiter=maxiter)


def gmres(A: Any, b: Any, x0: Any = None, *, rtol: float = 1e-5, atol: float = 0.0,
          restart: Any = None, maxiter: Any = None, M: Any = None, callback: Any = None,
          callback_type: Any = None) -> tuple[ndarray, int]:
    return _run(_spla.gmres, A, b, x0, M, rtol=rtol, atol=atol, restart=restart,
                maxiter=maxiter)


def bicgstab(A: Any, b: Any, x0: Any = None, *, rtol: float = 1e-5, atol: float = 0.0,
             maxiter: Any = None, M: Any = None, callback: Any = None) -> tuple[ndarray, int]:
    return _run(_spla.bicgstab, A, b, x0, M, rtol=rtol, atol=atol, maxiter=maxiter)
