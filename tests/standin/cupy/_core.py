"""The stand-in's device array: a NumPy array behind CuPy's rules.

What it enforces, because GPU code that breaks these rules fails on a real device:
- no implicit host conversion: `numpy.asarray(x)` raises TypeError, as CuPy's does;
- no host arrays mixed into device operations (operators, cupy functions, kernels,
  item assignment): TypeError, as CuPy raises;
- results of reductions and scalar indexing are 0-d device arrays, not host scalars;
- only the dtypes CuPy has (bool, integers, floats, complex).

What it counts, so tests and benches can bound them:
- host synchronisations: every read of device data by the host (`get`, `float`,
  `bool`, `int`, `item`, `tolist`, `asnumpy`, formatting, stream synchronize);
- device memory: bytes of live arrays (a buffer shared by views counts once), their
  peak, a pool limit that raises OutOfMemoryError, and CuPy's memory hooks.
"""

from __future__ import annotations

import numbers
import weakref
from typing import Any

import numpy as np
from numpy.lib.mixins import NDArrayOperatorsMixin

_DTYPE_KINDS = "biufc"


class _Counters:
    syncs = 0


COUNTERS = _Counters()


def count_sync() -> None:
    COUNTERS.syncs += 1


class OutOfMemoryError(MemoryError):
    """CuPy's `cupy.cuda.memory.OutOfMemoryError` (a MemoryError): (size, total, limit)."""

    def __init__(self, size: int, total: int, limit: int = 0) -> None:
        self._size, self._total, self._limit = size, total, limit
        super().__init__(size, total, limit)

    def __str__(self) -> str:
        return (f"Out of memory allocating {self._size:,} bytes (allocated so far: "
                f"{self._total:,} bytes, limit set to: {self._limit:,} bytes).")


OutOfMemoryError.__module__ = "cupy.cuda.memory"


class _Memory:
    """Bytes held by live device buffers, keyed by the NumPy array that owns each."""

    def __init__(self) -> None:
        self.held: dict[int, int] = {}
        self.used = 0
        self.peak = 0
        self.limit = 0  # 0: none
        self.hooks: dict[str, Any] = {}

    def track(self, owner: np.ndarray) -> None:
        key = id(owner)
        if key in self.held:
            return
        size = int(owner.nbytes)
        if self.limit and self.used + size > self.limit:
            raise OutOfMemoryError(size, self.used, self.limit)
        self.held[key] = size
        self.used += size
        self.peak = max(self.peak, self.used)
        weakref.finalize(owner, self._release, key, size)
        for hook in list(self.hooks.values()):
            hook.malloc_postprocess(device_id=0, size=size, mem_size=size, mem_ptr=key,
                                    pmem_id=key)

    def _release(self, key: int, size: int) -> None:
        if self.held.pop(key, None) is None:
            return
        self.used -= size
        for hook in list(self.hooks.values()):
            hook.free_postprocess(device_id=0, mem_size=size, mem_ptr=key, pmem_id=key)


MEMORY = _Memory()


def _owner(a: np.ndarray) -> np.ndarray | None:
    """The array that owns `a`'s buffer, or None when the buffer is host memory that
    NumPy only views (pinned buffers read back with numpy.frombuffer)."""
    root = a
    while isinstance(root.base, np.ndarray):
        root = root.base
    return root if root.base is None else None


def _is_scalar(x: Any) -> bool:
    return isinstance(x, numbers.Number | np.generic) and not isinstance(x, np.ndarray)


def host_array_error(where: str) -> TypeError:
    return TypeError(f"Unsupported type <class 'numpy.ndarray'> in {where}: a host array "
                     f"where CuPy needs a device array (cupy.asarray it first)")


def unwrap(x: Any, where: str) -> Any:
    """Device arrays to their NumPy arrays, recursively; host arrays refused."""
    if isinstance(x, ndarray):
        return x._a
    if isinstance(x, np.ndarray):
        raise host_array_error(where)
    if isinstance(x, tuple):
        return tuple(unwrap(v, where) for v in x)
    if isinstance(x, list):
        return [unwrap(v, where) for v in x]
    if isinstance(x, dict):
        return {k: unwrap(v, where) for k, v in x.items()}
    return x


def unwrap_index(x: Any) -> Any:
    """An index: device arrays unwrapped; host arrays and lists are allowed (CuPy
    converts them)."""
    if isinstance(x, ndarray):
        return x._a
    if isinstance(x, tuple):
        return tuple(unwrap_index(v) for v in x)
    return x


def wrap(x: Any) -> Any:
    """NumPy results as device arrays: arrays, and scalars as 0-d arrays."""
    if isinstance(x, np.ndarray):
        return ndarray._adopt(x)
    if isinstance(x, np.generic):
        return ndarray._adopt(np.asarray(x))
    if isinstance(x, tuple):
        return tuple(wrap(v) for v in x)
    if isinstance(x, list):
        return [wrap(v) for v in x]
    return x


def upload(obj: Any, dtype: Any = None, copy: bool = True) -> ndarray:
    """A host object (array, list, scalar) copied to the device."""
    a = np.array(obj, dtype=dtype, copy=True) if copy else np.asarray(obj, dtype=dtype)
    if a.base is not None or not a.flags.c_contiguous:
        a = np.ascontiguousarray(a).copy()
    return ndarray._adopt(a)


class ndarray(NDArrayOperatorsMixin):  # noqa: N801 (CuPy's name)
    """cupy.ndarray on a NumPy array."""

    __slots__ = ("__weakref__", "_a")
    __hash__ = None  # type: ignore[assignment]

    def __init__(self, shape: Any, dtype: Any = float, memptr: Any = None,
                 strides: Any = None, order: str = "C") -> None:
        if memptr is not None or strides is not None:
            raise NotImplementedError("the stand-in does not take memory pointers")
        a = np.empty(shape, dtype=dtype, order=order)
        self._a = a
        _check_dtype(a.dtype)
        MEMORY.track(a)

    @classmethod
    def _adopt(cls, a: np.ndarray) -> ndarray:
        _check_dtype(a.dtype)
        owner = _owner(a)
        if owner is not None:
            MEMORY.track(owner)
        obj = object.__new__(cls)
        obj._a = a
        return obj

    # -- no implicit host conversion -------------------------------------------------
    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        raise TypeError("Implicit conversion to a NumPy array is not allowed. Please use "
                        "`.get()` to construct a NumPy array explicitly.")

    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
        for x in (*inputs, *kwargs.get("out", ())):
            if not (isinstance(x, ndarray) or _is_scalar(x)):
                return NotImplemented
        args = [x._a if isinstance(x, ndarray) else x for x in inputs]
        out = kwargs.get("out")
        if out is not None:
            kwargs["out"] = tuple(o._a for o in out)
        result = getattr(ufunc, method)(*args, **kwargs)
        if out is not None:
            return out[0] if len(out) == 1 else out
        return wrap(result)

    def __array_function__(self, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
        import cupy

        module = cupy.linalg if func.__module__.startswith("numpy.linalg") else cupy
        impl = getattr(module, func.__name__, None)
        if impl is None:
            return NotImplemented
        return impl(*args, **kwargs)

    # -- reads by the host: each one is a synchronisation ----------------------------
    def get(self, stream: Any = None, order: str = "C", out: np.ndarray | None = None,
            blocking: bool = True) -> np.ndarray:
        count_sync()
        if out is None:
            return np.array(self._a, order=order, copy=True)
        if not isinstance(out, np.ndarray):
            raise TypeError("Only numpy.ndarray can be obtained from cupy.ndarray")
        if out.shape != self.shape:
            raise ValueError(f"Shape mismatch. Expected shape: {self.shape}, actual shape: "
                             f"{out.shape}")
        if out.dtype != self.dtype:
            raise TypeError(f"{out.dtype} array cannot be obtained from {self.dtype} array")
        np.copyto(out, self._a)
        return out

    def set(self, arr: np.ndarray, stream: Any = None) -> None:
        if not isinstance(arr, np.ndarray) or arr.shape != self.shape or \
                arr.dtype != self.dtype:
            raise ValueError("set needs a host array of the same shape and dtype")
        np.copyto(self._a, arr)

    def _scalar(self) -> Any:
        if self._a.size != 1:
            raise TypeError("only length-1 arrays can be converted to Python scalars")
        count_sync()
        return self._a.reshape(()).item()

    def __float__(self) -> float:
        return float(self._scalar())

    def __int__(self) -> int:
        return int(self._scalar())

    def __complex__(self) -> complex:
        return complex(self._scalar())

    def __index__(self) -> int:
        if self.dtype.kind not in "iub":
            raise TypeError("only integer scalar arrays can be converted to a scalar index")
        return int(self._scalar())

    def __bool__(self) -> bool:
        if self._a.size != 1:
            raise ValueError("The truth value of an array with more than one element is "
                             "ambiguous. Use a.any() or a.all()")
        return bool(self._scalar())

    def item(self, *args: Any) -> Any:
        count_sync()
        return self._a.item(*args)

    def tolist(self) -> Any:
        count_sync()
        return self._a.tolist()

    def tobytes(self, order: str = "C") -> bytes:
        count_sync()
        return self._a.tobytes(order)

    def __format__(self, spec: str) -> str:
        count_sync()
        return format(self._a.item() if self._a.ndim == 0 else self._a, spec)

    def __repr__(self) -> str:
        count_sync()
        return repr(self._a)

    def __str__(self) -> str:
        count_sync()
        return str(self._a)

    # -- shape, indexing, iteration --------------------------------------------------
    shape = property(lambda self: self._a.shape)
    dtype = property(lambda self: self._a.dtype)
    ndim = property(lambda self: self._a.ndim)
    size = property(lambda self: self._a.size)
    nbytes = property(lambda self: self._a.nbytes)
    itemsize = property(lambda self: self._a.itemsize)
    strides = property(lambda self: self._a.strides)
    flags = property(lambda self: self._a.flags)
    T = property(lambda self: wrap(self._a.T))
    real = property(lambda self: wrap(self._a.real))
    imag = property(lambda self: wrap(self._a.imag))
    base = property(lambda self: None if self._a.base is None else wrap(self._a.base))

    @shape.setter  # type: ignore[no-redef, attr-defined]
    def shape(self, value: Any) -> None:
        self._a.shape = value

    def __len__(self) -> int:
        return len(self._a)

    def __iter__(self) -> Any:
        if self._a.ndim == 0:
            raise TypeError("iteration over a 0-d array")
        return (self[i] for i in range(len(self._a)))

    def __getitem__(self, index: Any) -> Any:
        index = unwrap_index(index)
        result = self._a[index]
        if isinstance(result, np.generic):
            # CuPy's integer indexing gives a 0-d view, which kernels and dot(out=)
            # write through; NumPy's gives a detached scalar.
            result = self._a[(*index, ...) if isinstance(index, tuple) else (index, ...)]
        return wrap(result)

    def __setitem__(self, index: Any, value: Any) -> None:
        if isinstance(value, np.ndarray):
            # CuPy refuses assignment from host arrays (cupy/cupy#2079).
            raise host_array_error("item assignment")
        if isinstance(value, list | tuple):
            raise TypeError("the stand-in, as CuPy, assigns only device arrays or scalars")
        self._a[unwrap_index(index)] = value._a if isinstance(value, ndarray) else value

    def __copy__(self) -> ndarray:
        return self.copy()

    def __deepcopy__(self, memo: Any) -> ndarray:
        return self.copy()

    def __reduce__(self) -> Any:
        raise TypeError("the stand-in's device arrays do not pickle; .get() them")

    # -- methods: NumPy's, on device arrays only --------------------------------------
    def __getattr__(self, name: str) -> Any:
        if name not in _METHODS:
            raise AttributeError(f"'cupy.ndarray' object has no attribute '{name}'")
        method = getattr(self._a, name)
        where = f"ndarray.{name}"

        def call(*args: Any, **kwargs: Any) -> Any:
            result = method(*unwrap(args, where), **unwrap(kwargs, where))
            if name in _IN_PLACE:
                return None
            return wrap(result)

        return call


# cupy.ndarray's methods that NumPy's ndarray shares (get, set, item, tolist and the
# properties are defined above).
_METHODS = frozenset((
    "all", "any", "argmax", "argmin", "argpartition", "argsort", "astype", "clip", "compress",
    "conj", "conjugate", "copy", "cumprod", "cumsum", "diagonal", "dot", "fill", "flatten", "max",
    "mean", "min", "nonzero", "partition", "prod", "ptp", "put", "ravel", "repeat", "reshape",
    "round", "sort", "squeeze", "std", "sum", "swapaxes", "take", "trace", "transpose", "var",
    "view",
))
_IN_PLACE = frozenset({"fill", "sort", "partition", "put"})


def _check_dtype(dtype: np.dtype) -> None:
    if dtype.kind not in _DTYPE_KINDS or dtype.itemsize > 16 or dtype == np.longdouble:
        raise TypeError(f"Unsupported dtype {dtype}")
