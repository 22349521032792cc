"""Ground costs computed where the solver runs, from point clouds X (n x d), Y (m x d).

Sending X and Y instead of M moves (n + m) d numbers instead of n m, and on a
GPU the cost is built in device memory.
"""

from __future__ import annotations

from typing import Any

METRICS = ("sqeuclidean", "euclidean", "cityblock")
SCALES = ("none", "max", "mean")


def cost_matrix(xp: Any, X: Any, Y: Any, metric: str = "sqeuclidean") -> Any:
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}")
    if metric == "cityblock":
        # One coordinate at a time: never an n x m x d temporary.
        M = xp.abs(X[:, 0][:, None] - Y[:, 0][None, :])
        for k in range(1, X.shape[1]):
            M += xp.abs(X[:, k][:, None] - Y[:, k][None, :])
        return M
    # |x|^2 + |y|^2 - 2 x.y, clipped: rounding makes coincident points slightly negative.
    M = X @ Y.T
    M *= -2.0
    M += (X * X).sum(axis=1)[:, None]
    M += (Y * Y).sum(axis=1)[None, :]
    xp.maximum(M, 0.0, out=M)
    if metric == "euclidean":
        xp.sqrt(M, out=M)
    return M


def cost_scale(xp: Any, M: Any, scale: str) -> float:
    """The divisor `scale` asks for ('none': 1)."""
    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}")
    if scale == "none":
        return 1.0
    value = float(M.max()) if scale == "max" else float(M.mean())
    return value if value > 0 else 1.0
