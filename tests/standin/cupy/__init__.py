"""A NumPy stand-in for CuPy, for solverd's test suite on machines without CUDA.

Not a GPU and not for production: it imports only where SOLVERD_FAKE_GPU=1, and the
test suite puts it on the path only when the real CuPy is absent or sees no device
(tests/gpu_lane.py). Arrays are NumPy arrays behind CuPy's rules (_core.py), kernels
are evaluated with NumPy (_kernel.py), cupyx.scipy.sparse(.linalg) maps to SciPy. The
namespace is CuPy's own (_names.py): a name CuPy lacks is missing here too.
"""

from __future__ import annotations

import os as _os

if _os.environ.get("SOLVERD_FAKE_GPU") != "1":
    raise ImportError("this is solverd's test stand-in for CuPy (tests/standin); it loads "
                      "only with SOLVERD_FAKE_GPU=1")

from typing import Any as _Any

import numpy as _np

from cupy import cuda, linalg, random
from cupy._core import ndarray, unwrap, upload, wrap
from cupy._kernel import ElementwiseKernel
from cupy._names import NAMES as _NAMES
from cupy.cuda.memory import MemoryPool as _MemoryPool
from cupy.cuda.memory import PinnedMemoryPool as _PinnedMemoryPool

__all__ = ["ElementwiseKernel", "array", "asanyarray", "asarray", "asnumpy", "cuda",
           "get_array_module", "get_default_memory_pool", "get_default_pinned_memory_pool",
           "is_available", "linalg", "ndarray", "random"]
__version__ = "14.2.0+standin"
STANDIN = True  # what tells tests and benches they run on the stand-in

_POOL = _MemoryPool()
_PINNED_POOL = _PinnedMemoryPool()


def get_default_memory_pool() -> _MemoryPool:
    return _POOL


def get_default_pinned_memory_pool() -> _PinnedMemoryPool:
    return _PINNED_POOL


def is_available() -> bool:
    return True


def asarray(a: _Any, dtype: _Any = None, order: _Any = None, *, blocking: bool = False) -> ndarray:
    if isinstance(a, ndarray):
        if dtype is None or _np.dtype(dtype) == a.dtype:
            return a
        return wrap(a._a.astype(dtype, order=order or "K"))
    return upload(a, dtype=dtype)


asanyarray = asarray


def array(obj: _Any, dtype: _Any = None, copy: bool = True, order: str = "K",
          subok: bool = False, ndmin: int = 0, *, blocking: bool = False) -> ndarray:
    if isinstance(obj, ndarray):
        if not copy and (dtype is None or _np.dtype(dtype) == obj.dtype):
            return obj
        return wrap(_np.array(obj._a, dtype=dtype, copy=True, order=order, ndmin=ndmin))
    return upload(_np.array(obj, dtype=dtype, ndmin=ndmin))


def asnumpy(a: _Any, stream: _Any = None, order: str = "C", out: _Any = None,
            blocking: bool = True) -> _np.ndarray:
    if isinstance(a, ndarray):
        return a.get(stream=stream, order=order, out=out)
    if hasattr(a, "get") and not isinstance(a, _np.ndarray):  # a cupyx sparse matrix
        return a.get()
    result = _np.asarray(a, order=order)
    if out is not None:
        out[...] = result
        return out
    return result


def get_array_module(*args: _Any) -> _Any:
    import sys

    for a in args:
        if isinstance(a, ndarray) or type(a).__module__.startswith("cupyx"):
            return sys.modules[__name__]
    return _np


class _UFunc:
    """A NumPy ufunc on device arrays (call, reduce, accumulate, outer, at)."""

    def __init__(self, ufunc: _np.ufunc) -> None:
        self._ufunc = ufunc
        self.__name__ = ufunc.__name__
        self.nin, self.nout = ufunc.nin, ufunc.nout

    def __call__(self, *args: _Any, **kwargs: _Any) -> _Any:
        return _call(self._ufunc, self.__name__, args, kwargs)

    def __getattr__(self, name: str) -> _Any:
        if name not in ("reduce", "accumulate", "outer", "at", "reduceat"):
            raise AttributeError(name)
        method = getattr(self._ufunc, name)
        return lambda *args, **kwargs: _call(method, f"{self.__name__}.{name}", args, kwargs)


def _call(function: _Any, name: str, args: tuple, kwargs: dict) -> _Any:
    where = f"cupy.{name}"
    out = kwargs.get("out")
    result = function(*unwrap(args, where), **unwrap(kwargs, where))
    if isinstance(out, ndarray):
        return out
    return wrap(result)


def _device_function(function: _Any, name: str) -> _Any:
    def run(*args: _Any, **kwargs: _Any) -> _Any:
        return _call(function, name, args, kwargs)

    run.__name__ = name
    run.__doc__ = f"cupy.{name} on the stand-in (NumPy's {name} on device arrays)"
    return run


def __getattr__(name: str) -> _Any:
    if name not in _NAMES or not hasattr(_np, name):
        raise AttributeError(f"module 'cupy' has no attribute '{name}' (in the stand-in: "
                             f"{'not implemented' if name in _NAMES else 'not in CuPy'})")
    obj = getattr(_np, name)
    if isinstance(obj, _np.ufunc):
        value: _Any = _UFunc(obj)
    elif callable(obj) and not isinstance(obj, type):
        value = _device_function(obj, name)
    else:
        value = obj  # dtypes, exception classes, constants
    globals()[name] = value
    return value
