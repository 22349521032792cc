"""The array-backend switch: NumPy/SciPy on the CPU, CuPy/cupyx on the GPU.

Solvers are written once against `Backend.xp` (the array module) and
`Backend.matrix` (a device copy of A that supports `@`); the backend moves data
in and out. CuPy is imported lazily, so the CPU backend never needs it.
"""

from __future__ import annotations

import functools
import os
import sys
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import numpy as np
import scipy
import scipy.sparse as sp

from solvers.errors import BackendUnavailable


@dataclass(frozen=True)
class GpuStatus:
    available: bool
    name: str = ""
    memory_total_bytes: int = 0
    memory_free_bytes: int = 0
    versions: dict[str, str] = field(default_factory=dict)
    reason: str = ""


@dataclass(frozen=True)
class Backend:
    name: str  # "numpy" or "cupy"
    device: str  # "cpu" or "gpu"
    device_name: str  # "cpu" or the GPU's name
    xp: ModuleType

    @property
    def is_gpu(self) -> bool:
        return self.device == "gpu"

    def asarray(self, a: np.ndarray, dtype: np.dtype | None = None) -> Any:
        return self.xp.asarray(a, dtype=dtype)

    def to_host(self, a: Any) -> np.ndarray:
        return a.get() if self.is_gpu else np.asarray(a)

    def matrix(self, a: np.ndarray | sp.spmatrix, dtype: np.dtype) -> Any:
        """A copy of A on this backend in `dtype`: CSR when sparse, 2-D array when dense."""
        if not sp.issparse(a):
            return self.xp.asarray(a, dtype=dtype)
        csr = a.tocsr()
        if not self.is_gpu:
            return csr.astype(dtype, copy=False)
        import cupyx.scipy.sparse as csp

        # cuSPARSE kernels in cupyx take 32-bit indices.
        index = np.int32 if csr.nnz < 2**31 and csr.shape[0] < 2**31 else np.int64
        return csp.csr_matrix(
            (self.xp.asarray(csr.data, dtype=dtype), self.xp.asarray(csr.indices, dtype=index),
             self.xp.asarray(csr.indptr, dtype=index)),
            shape=csr.shape,
        )

    def synchronize(self) -> None:
        if self.is_gpu:
            self.xp.cuda.get_current_stream().synchronize()


CPU = Backend(name="numpy", device="cpu", device_name="cpu", xp=np)


def host_scalars(xp: ModuleType, *values: Any) -> list[float]:
    """0-d backend values as host floats in one transfer: on a GPU each read of a
    device value is a synchronisation, so values needed together are read together."""
    stacked = xp.stack([xp.asarray(v, dtype=xp.float64) for v in values])
    host = stacked.get() if hasattr(stacked, "get") else stacked
    return [float(h) for h in host]


def cpu_versions() -> dict[str, str]:
    return {"numpy": np.__version__, "scipy": scipy.__version__}


@functools.cache
def _probe_gpu() -> tuple[Backend | None, str]:
    if os.environ.get("SOLVERD_DISABLE_GPU", "").lower() in ("1", "true", "yes"):
        return None, "disabled by SOLVERD_DISABLE_GPU"
    try:
        import cupy
    except ImportError:
        return None, "CuPy is not installed (pip install 'solverd-server[gpu]')"
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:  # no driver, no device: CuPy raises its own runtime errors
        return None, f"no CUDA device: {exc}"
    if count < 1:
        return None, "no CUDA device"
    props = cupy.cuda.runtime.getDeviceProperties(0)
    name = props["name"].decode() if isinstance(props["name"], bytes) else str(props["name"])
    return Backend(name="cupy", device="gpu", device_name=name, xp=cupy), ""


def gpu_status() -> GpuStatus:
    backend, reason = _probe_gpu()
    if backend is None:
        return GpuStatus(False, reason=reason)
    import cupy

    free, total = cupy.cuda.Device(0).mem_info
    versions = {"cupy": cupy.__version__,
                "cuda_runtime": str(cupy.cuda.runtime.runtimeGetVersion())}
    return GpuStatus(True, backend.device_name, int(total), int(free), versions)


def gpu_backend() -> Backend:
    backend, reason = _probe_gpu()
    if backend is None:
        raise BackendUnavailable(f"GPU backend unavailable: {reason}")
    return backend


def release_device_memory() -> None:
    """Returns CuPy's cached blocks to the driver: after an out-of-memory error the
    pool may hold the failed request's arrays, and the next request needs them."""
    if "cupy" not in sys.modules or _probe_gpu()[0] is None:
        return
    import cupy

    cupy.get_default_memory_pool().free_all_blocks()
    cupy.get_default_pinned_memory_pool().free_all_blocks()


def get_backend(device: str, allow_gpu: bool = True) -> Backend:
    """'cpu', 'gpu' or 'auto' (the GPU when one is usable and allowed, else the CPU)."""
    if device == "cpu":
        return CPU
    if device == "gpu":
        if not allow_gpu:
            raise BackendUnavailable("GPU backend disabled on this server (--backend cpu)")
        return gpu_backend()
    if device != "auto":
        raise ValueError(f"unknown device {device!r}")
    if allow_gpu and _probe_gpu()[0] is not None:
        return gpu_backend()
    return CPU
