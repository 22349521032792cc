"""cupy.random on the stand-in: NumPy's generators, results on the device."""

from __future__ import annotations

from typing import Any

import numpy as np

from cupy._core import wrap

__all__ = ["Generator", "RandomState", "default_rng", "normal", "rand", "randn", "random",
           "seed", "standard_normal", "uniform"]


class Generator:
    """cupy.random.Generator's common draws (size and dtype as CuPy takes them)."""

    def __init__(self, seed: Any = None) -> None:
        self._rng = np.random.default_rng(seed)

    def standard_normal(self, size: Any = None, dtype: Any = np.float64, out: Any = None) -> Any:
        return wrap(np.asarray(self._rng.standard_normal(size, dtype=dtype)))

    def random(self, size: Any = None, dtype: Any = np.float64, out: Any = None) -> Any:
        return wrap(np.asarray(self._rng.random(size, dtype=dtype)))

    def uniform(self, low: float = 0.0, high: float = 1.0, size: Any = None,
                dtype: Any = np.float64) -> Any:
        return wrap(np.asarray(self._rng.uniform(low, high, size)).astype(dtype))

    def integers(self, low: int, high: int | None = None, size: Any = None,
                 dtype: Any = np.int64, endpoint: bool = False) -> Any:
        return wrap(np.asarray(self._rng.integers(low, high, size, dtype=dtype,
                                                  endpoint=endpoint)))


def default_rng(seed: Any = None) -> Generator:
    return Generator(seed)


class RandomState:
    def __init__(self, seed: Any = None) -> None:
        self._rs = np.random.RandomState(seed)

    def standard_normal(self, size: Any = None, dtype: Any = float) -> Any:
        return wrap(np.asarray(self._rs.standard_normal(size)).astype(dtype))

    def normal(self, loc: float = 0.0, scale: float = 1.0, size: Any = None,
               dtype: Any = float) -> Any:
        return wrap(np.asarray(self._rs.normal(loc, scale, size)).astype(dtype))

    def uniform(self, low: float = 0.0, high: float = 1.0, size: Any = None,
                dtype: Any = float) -> Any:
        return wrap(np.asarray(self._rs.uniform(low, high, size)).astype(dtype))

    def random_sample(self, size: Any = None, dtype: Any = float) -> Any:
        return wrap(np.asarray(self._rs.random_sample(size)).astype(dtype))

    def seed(self, seed: Any = None) -> None:
        self._rs.seed(seed)


_GLOBAL = RandomState()
standard_normal = _GLOBAL.standard_normal
normal = _GLOBAL.normal
uniform = _GLOBAL.uniform
random = _GLOBAL.random_sample
seed = _GLOBAL.seed


def rand(*size: int, dtype: Any = float) -> Any:
    return _GLOBAL.random_sample(size or None, dtype=dtype)


def randn(*size: int, dtype: Any = float) -> Any:
    return _GLOBAL.standard_normal(size or None, dtype=dtype)
