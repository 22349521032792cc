"""Direct solves: sparse LU (SuperLU on the CPU) or dense LU, all columns at once."""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.linalg
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from solvers.backend import Backend


class SingularMatrix(Exception):
    pass


def direct_solve(a_host: np.ndarray | sp.spmatrix, a_dev: Any, b_dev: Any,
                 backend: Backend, dtype: np.dtype) -> Any:
    """X with A X = B for a 2-D B on the backend. Raises SingularMatrix."""
    if backend.is_gpu:
        return _gpu(a_dev, b_dev, backend)
    if sp.issparse(a_host):
        try:
            lu = spla.splu(sp.csc_matrix(a_host, dtype=dtype))
        except RuntimeError as exc:
            raise SingularMatrix(str(exc)) from None
        return lu.solve(np.asarray(b_dev, dtype=dtype))
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
