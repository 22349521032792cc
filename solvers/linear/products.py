"""Products of a CPU CSR matrix with a vector, without scipy.sparse's dispatch.

`A @ v` on a SciPy CSR matrix checks formats and shapes and picks a result dtype
before it reaches the compiled kernel: about 20 us a call, measured as 12-20% of a
recycled-CG iteration at n = 4096, where the product itself takes about as long.
Krylov loops call the kernel directly; everything else falls through to SciPy.

A matrix whose entries lie on a few diagonals (a grid stencil) is switched to a
product by diagonals (solvers.linear.diagonals, about 3x faster) once it has been
multiplied CONVERT_AFTER times: the conversion costs about eight products, so a solve
that stops sooner never pays for it, and a longer one (the Krylov solves this serves
take tens to thousands) gets it back within a few dozen.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from solvers.linear import diagonals as by_diagonals

try:
    from scipy.sparse._sparsetools import csr_matvec as _csr_matvec
except ImportError:  # a SciPy that moved it: its own product, correct and slower
    _csr_matvec = None

CONVERT_AFTER = 10


class CsrProducts:
    """Wraps a CSR matrix: `@` with a C-contiguous vector of the matrix's dtype calls
    the compiled kernel; any other operand or attribute goes to the matrix."""

    def __init__(self, a: sp.csr_matrix) -> None:
        self.matrix = a
        self.shape = a.shape
        self.dtype = a.dtype
        self.products = 0
        self._form: by_diagonals.Diagonals | bool | None = False  # False: not tried yet

    def diagonal_form(self) -> by_diagonals.Diagonals | None:
        """The matrix by diagonals, converted on the first call; None where it does
        not pay (see diagonals.diagonal_form)."""
        if self._form is False:
            self._form = by_diagonals.diagonal_form(self.matrix)
        return self._form  # type: ignore[return-value]

    def __matmul__(self, v: Any) -> Any:
        if (isinstance(v, np.ndarray) and v.ndim == 1 and v.dtype == self.dtype
                and v.shape[0] == self.shape[1] and v.flags.c_contiguous):
            self.products += 1
            if self.products > CONVERT_AFTER:
                form = self.diagonal_form()
                if form is not None:
                    return by_diagonals.matvec(form, v)
            a = self.matrix
            y = np.zeros(self.shape[0], dtype=self.dtype)
            _csr_matvec(self.shape[0], self.shape[1], a.indptr, a.indices, a.data, v, y)
            return y
        return self.matrix @ v

    def __getattr__(self, name: str) -> Any:
        return getattr(self.matrix, name)


def fast_products(a: Any) -> Any:
    """`a` wrapped in CsrProducts when it is a host CSR matrix of float32/float64."""
    if isinstance(a, CsrProducts):
        return a
    if (_csr_matvec is None or not sp.issparse(a) or a.format != "csr"
            or a.dtype not in (np.float32, np.float64)):
        return a
    return CsrProducts(a)
