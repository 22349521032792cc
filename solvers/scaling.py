"""Exact rescaling of data whose squares would over- or underflow.

Norms, Gram matrices and objectives square the data: entries near 1e+-160 make
them inf or 0 in float64, and stopping tests then pass or fail for no reason. A
solver divides such data by a power of two near its largest magnitude (exact:
only the exponent changes), solves, and scales the answer back.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np


def safe_scale(values: Any, terms: int, dtype: Any = np.float64, base: int = 2) -> float:
    """A power of `base` near max |values| when sums of `terms` squares of such values
    would over- or underflow `dtype`; 1 otherwise (and for all-zero or non-finite data,
    which validation refuses elsewhere). base=4 keeps sqrt(scale) a power of two."""
    values = np.asarray(values)
    # max and min rather than max |values|: no temporary the size of the data (a
    # 2000 x 10000 design took 31 ms per call that way). NaN propagates either way.
    top = max(float(values.max()), -float(values.min())) if values.size else 0.0
    low, high = _safe_range(np.dtype(dtype), max(terms, 1))
    if top == 0.0 or not math.isfinite(top) or low <= top <= high:
        return 1.0
    return float(base) ** round(math.log(top, base))


@functools.lru_cache(maxsize=256)
def _safe_range(dtype: np.dtype, terms: int) -> tuple[float, float]:
    """The magnitudes whose squares, summed `terms` times, neither overflow nor
    underflow `dtype` (cached: every tiny solve asks twice)."""
    info = np.finfo(dtype)
    return math.sqrt(float(info.tiny)) * 2.0**20, math.sqrt(float(info.max) / (4 * terms))


def divided(values: Any, scale: float) -> Any:
    """values / scale for a power of two `scale`, exact even where 1 / scale overflows
    (a scale below 2^-1024, for subnormal data such as 1e-310: values * (1 / scale) then
    gave inf, and the solve NaN): two exact steps through 2^512."""
    inverse = 1.0 / scale
    if math.isfinite(inverse):
        return values * inverse
    return (values * 2.0**512) * (1.0 / (scale * 2.0**512))
