"""Centring for ratings: a global mean and per-row / per-column biases, fitted by
a few alternating ridge passes (the baseline predictor of Koren, 2008), before the
low-rank part models what is left."""

from __future__ import annotations

from typing import Any

CENTERS = ("none", "global", "biases")
PASSES = 10


def fit_biases(rows: Any, cols: Any, vals: Any, shape: tuple[int, int], center: str,
               bias_reg: float, xp: Any) -> tuple[float, Any, Any]:
    """(global mean, row biases, column biases); zeros where `center` leaves them out."""
    m, n = shape
    row_bias = xp.zeros(m)
    col_bias = xp.zeros(n)
    if center == "none":
        return 0.0, row_bias, col_bias
    mean = float(vals.mean())
    if center == "global":
        return mean, row_bias, col_bias
    row_count = xp.bincount(rows, minlength=m).astype(float)
    col_count = xp.bincount(cols, minlength=n).astype(float)
    centred = vals - mean
    for _ in range(PASSES):
        row_bias = xp.bincount(rows, weights=centred - col_bias[cols], minlength=m) / (
            row_count + bias_reg)
        col_bias = xp.bincount(cols, weights=centred - row_bias[rows], minlength=n) / (
            col_count + bias_reg)
    return mean, row_bias, col_bias
