"""cupyx.scipy.sparse on the stand-in: SciPy's matrices holding device arrays.

As in CuPy: built from device arrays or a SciPy matrix (copied to the device), never
from host arrays; products take device arrays and give device arrays; `get()` copies
to a SciPy matrix; data are bool, float32, float64, complex64 or complex128 only.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as _sp
from cupy._core import count_sync, host_array_error, ndarray, unwrap_index, wrap

_DATA_TYPES = (np.bool_, np.float32, np.float64, np.complex64, np.complex128)


def _as_scipy(arg1: Any, shape: Any, fmt: str, dtype: Any, copy: bool) -> Any:
    if isinstance(arg1, spmatrix):
        m = arg1._m.asformat(fmt)
        return m.copy() if copy or m is arg1._m else m
    if _sp.issparse(arg1):  # host to device: a copy
        return arg1.asformat(fmt).copy()
    if isinstance(arg1, ndarray):
        return _sp.csr_matrix(arg1._a).asformat(fmt)
    if isinstance(arg1, tuple) and len(arg1) == 3:
        data, indices, indptr = arg1
        if not all(isinstance(x, ndarray) for x in arg1):
            raise ValueError("data, indices, and indptr should be cupy.ndarray")
        build = _sp.csr_matrix if fmt == "csr" else _sp.csc_matrix
        return build((data._a, indices._a, indptr._a), shape=shape, copy=copy)
    if isinstance(arg1, tuple) and len(arg1) == 2 and isinstance(arg1[1], tuple):
        data, (row, col) = arg1
        if not all(isinstance(x, ndarray) for x in (data, row, col)):
            raise ValueError("data, row and col should be cupy.ndarray")
        return _sp.coo_matrix((data._a, (row._a, col._a)), shape=shape).asformat(fmt)
    if isinstance(arg1, tuple) and len(arg1) == 2:
        return _sp.csr_matrix(arg1, dtype=dtype or np.float64).asformat(fmt)
    if isinstance(arg1, np.ndarray):
        raise host_array_error(f"cupyx.scipy.sparse.{fmt}_matrix")
    raise ValueError(f"Unsupported initializer format: {type(arg1)}")


class spmatrix:  # noqa: N801 (CuPy's name)
    format = ""
    __array_ufunc__ = None  # NumPy defers to these operators (and then refuses)

    def __init__(self, arg1: Any, shape: Any = None, dtype: Any = None,
                 copy: bool = False) -> None:
        m = _as_scipy(arg1, shape, self.format, dtype, copy)
        if dtype is not None:
            m = m.astype(dtype)
        self._adopt(m)

    def _adopt(self, m: Any) -> None:
        if m.dtype.type not in _DATA_TYPES:
            raise ValueError("Only bool, float32, float64, complex64 and complex128 are "
                             "supported")
        self._m = m
        for name in ("data", "indices", "indptr", "row", "col"):
            if hasattr(m, name):
                wrap(getattr(m, name))  # device memory: counted as CuPy's pool would

    @classmethod
    def _of(cls, m: Any) -> Any:
        kind = {"csr": csr_matrix, "csc": csc_matrix, "coo": coo_matrix}[m.format]
        obj = object.__new__(kind)
        obj._adopt(m)
        return obj

    def __array__(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError("Implicit conversion to a NumPy array is not allowed. Please use "
                        "`.get()` to construct a NumPy array explicitly.")

    shape = property(lambda self: self._m.shape)
    dtype = property(lambda self: self._m.dtype)
    nnz = property(lambda self: self._m.nnz)
    ndim = property(lambda self: 2)
    T = property(lambda self: spmatrix._of(self._m.T))
    data = property(lambda self: wrap(self._m.data))
    indices = property(lambda self: wrap(self._m.indices))
    indptr = property(lambda self: wrap(self._m.indptr))
    row = property(lambda self: wrap(self._m.row))
    col = property(lambda self: wrap(self._m.col))
    has_canonical_format = property(lambda self: self._m.has_canonical_format)

    def get(self, stream: Any = None) -> Any:
        count_sync()
        return self._m.copy()

    def transpose(self) -> Any:
        return self.T

    def tocsr(self, copy: bool = False) -> csr_matrix:
        return spmatrix._of(self._m.tocsr(copy=copy))

    def tocsc(self, copy: bool = False) -> csc_matrix:
        return spmatrix._of(self._m.tocsc(copy=copy))

    def tocoo(self, copy: bool = False) -> coo_matrix:
        return spmatrix._of(self._m.tocoo(copy=copy))

    def asformat(self, fmt: str) -> Any:
        return spmatrix._of(self._m.asformat(fmt))

    def astype(self, dtype: Any, copy: bool = True) -> Any:
        return spmatrix._of(self._m.astype(dtype, copy=copy))

    def copy(self) -> Any:
        return spmatrix._of(self._m.copy())

    def toarray(self, order: Any = None, out: Any = None) -> ndarray:
        return wrap(self._m.toarray(order=order))

    def todense(self, order: Any = None, out: Any = None) -> ndarray:
        return self.toarray(order)

    def diagonal(self, k: int = 0) -> ndarray:
        return wrap(self._m.diagonal(k))

    def sum(self, axis: Any = None, dtype: Any = None, out: Any = None) -> ndarray:
        return wrap(np.asarray(self._m.sum(axis=axis, dtype=dtype)))

    def multiply(self, other: Any) -> Any:
        return _result(self._m.multiply(_operand(other, "multiply")))

    def sum_duplicates(self) -> None:
        self._m.sum_duplicates()

    def sort_indices(self) -> None:
        self._m.sort_indices()

    def eliminate_zeros(self) -> None:
        self._m.eliminate_zeros()

    def __getitem__(self, index: Any) -> Any:
        return _result(self._m[unwrap_index(index)])

    def __matmul__(self, other: Any) -> Any:
        if _is_scalar(other):
            raise ValueError("Scalar operands are not allowed, use '*' instead")
        return _result(self._m @ _operand(other, "matmul"))

    def __rmatmul__(self, other: Any) -> Any:
        return _result(_operand(other, "matmul") @ self._m)

    def dot(self, other: Any) -> Any:
        return self @ other

    def __mul__(self, other: Any) -> Any:
        if _is_scalar(other):
            return spmatrix._of(self._m * other)
        return self @ other

    def __rmul__(self, other: Any) -> Any:
        return self * other

    def __truediv__(self, other: Any) -> Any:
        return spmatrix._of(self._m / other) if _is_scalar(other) else NotImplemented

    def __neg__(self) -> Any:
        return spmatrix._of(-self._m)

    def __add__(self, other: Any) -> Any:
        return _result(self._m + _operand(other, "add"))

    def __sub__(self, other: Any) -> Any:
        return _result(self._m - _operand(other, "subtract"))

    def __radd__(self, other: Any) -> Any:
        return self + other

    def __repr__(self) -> str:
        return f"<stand-in cupyx {self.format}_matrix {self.shape}, nnz {self.nnz}>"


def _is_scalar(x: Any) -> bool:
    return np.isscalar(x) or (isinstance(x, ndarray) and x.ndim == 0)


def _operand(x: Any, where: str) -> Any:
    if isinstance(x, spmatrix):
        return x._m
    if isinstance(x, ndarray):
        return x._a
    if isinstance(x, np.ndarray) or _sp.issparse(x):
        raise host_array_error(f"cupyx.scipy.sparse {where}")
    if np.isscalar(x):
        return x
    raise TypeError(f"unsupported operand {type(x)}")


def _result(r: Any) -> Any:
    if _sp.issparse(r):
        return spmatrix._of(r.asformat(r.format if r.format in ("csr", "csc", "coo")
                                       else "csr"))
    return wrap(np.asarray(r))


class csr_matrix(spmatrix):  # noqa: N801
    format = "csr"


class csc_matrix(spmatrix):  # noqa: N801
    format = "csc"


class coo_matrix(spmatrix):  # noqa: N801
    format = "coo"


def issparse(x: Any) -> bool:
    return isinstance(x, spmatrix)


def isspmatrix(x: Any) -> bool:
    return isinstance(x, spmatrix)


def isspmatrix_csr(x: Any) -> bool:
    return isinstance(x, csr_matrix)


def isspmatrix_csc(x: Any) -> bool:
    return isinstance(x, csc_matrix)


def diags(diagonals: Any, offsets: Any = 0, shape: Any = None, format: Any = None,
          dtype: Any = None) -> Any:
    if isinstance(diagonals, ndarray):
        host = diagonals._a
    elif isinstance(diagonals, list | tuple) and all(isinstance(d, ndarray)
                                                       for d in diagonals):
        host = [d._a for d in diagonals]
    else:
        raise host_array_error("cupyx.scipy.sparse.diags")
    return spmatrix._of(_sp.diags(host, offsets, shape=shape, format=format or "csr",
                                  dtype=dtype))


def identity(n: int, dtype: Any = "d", format: Any = None) -> Any:
    return spmatrix._of(_sp.identity(n, dtype=dtype, format=format or "csr"))


def eye(m: int, n: Any = None, k: int = 0, dtype: Any = float, format: Any = None) -> Any:
    return spmatrix._of(_sp.eye(m, n, k=k, dtype=dtype, format=format or "csr"))
