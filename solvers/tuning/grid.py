"""The omega grid and the pieces every tuner shares."""

from __future__ import annotations

import math

import numpy as np

from solvers.errors import SolverInputError

STATE_VERSION = 2  # 2: ChebCB's moments are of log iterations


def default_grid(points: int = 20, low: float = 1.0, high: float = 1.95) -> np.ndarray:
    """The authors' grid: `points` values on [low, high], always including 1."""
    grid = np.linspace(low, high, points)
    if not np.any(np.isclose(grid, 1.0)):
        grid = np.sort(np.append(grid, 1.0))
    return grid


def normalised_loss(iterations: float, iterations_sum: float, step: int) -> float:
    """Iterations over their running mean (sum and step already include them): the
    authors' normalisation, so one learning rate suits any problem size."""
    mean = iterations_sum / step
    return float(iterations) / mean if mean > 0 else 0.0


def check_grid(grid: object) -> np.ndarray:
    values = np.asarray(grid, dtype=np.float64)
    if values.ndim != 1 or not 2 <= values.size <= 1000:
        raise SolverInputError("grid", "needs between 2 and 1000 omega values")
    if not (np.all(np.isfinite(values)) and np.all(values > 0) and np.all(values < 2)):
        raise SolverInputError("grid", "omega values must lie in (0, 2)")
    return values


def draw(seed: int, step: int) -> float:
    """A uniform number for instance `step`: counter-based, so the RNG state is just
    (seed, step) and a sequence resumed elsewhere draws exactly what it would have."""
    return float(np.random.default_rng([seed, step]).random())


def sample(probabilities: np.ndarray, u: float) -> int:
    index = int(np.searchsorted(np.cumsum(probabilities), u * probabilities.sum(), side="right"))
    return min(index, probabilities.size - 1)


def finite_list(state: dict, key: str, size: int) -> np.ndarray:
    """A list of `size` finite floats from a state dict, or SolverInputError."""
    try:
        values = np.asarray(state[key], dtype=np.float64)
    except (KeyError, TypeError, ValueError):
        raise SolverInputError("state", f"{key}: missing or not numbers") from None
    if values.shape != (size,) or not np.all(np.isfinite(values)):
        raise SolverInputError("state", f"{key}: needs {size} finite numbers")
    return values


def count(state: dict, key: str, low: int = 0, high: int = 2**62) -> int:
    value = state.get(key)
    if not isinstance(value, int | np.integer) or isinstance(value, bool):
        raise SolverInputError("state", f"{key}: missing or not an integer")
    if not low <= int(value) <= high:
        raise SolverInputError("state", f"{key}: {value} outside [{low}, {high}]")
    return int(value)


def positive(state: dict, key: str) -> float:
    value = state.get(key)
    if not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise SolverInputError("state", f"{key}: must be a finite number >= 0")
    return float(value)
