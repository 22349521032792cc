"""cupy.linalg on the stand-in: NumPy's linalg on device arrays, CuPy's names only."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.linalg import LinAlgError

_NAMES = ("matrix_power", "matmul", "cholesky", "qr", "svd", "eigh", "eig", "eigvalsh",
          "eigvals", "norm", "cond", "det", "matrix_rank", "slogdet", "solve", "tensorsolve",
          "lstsq", "inv", "pinv", "tensorinv")
__all__ = ["LinAlgError", *_NAMES]


def __getattr__(name: str) -> Any:
    if name not in _NAMES:
        raise AttributeError(f"module 'cupy.linalg' has no attribute '{name}'")
    from cupy import _device_function

    value = _device_function(getattr(np.linalg, name), f"linalg.{name}")
    globals()[name] = value
    return value
