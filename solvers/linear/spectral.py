"""The spectral radius that smoothed aggregation's Jacobi prolongation smoother needs,
estimated in a fixed number of Arnoldi steps.

PyAMG scales the smoother P = (I - omega / rho(D^-1 A) D^-1 A) T by an estimate of
rho(D^-1 A) from restarted Arnoldi (up to 6 x 15 steps, its Krylov basis grown by
np.hstack one column at a time): 0.24 s of a 0.32 s setup on a 512^2 Darcy matrix. Here:
ESTIMATE_STEPS steps of Arnoldi with two Gram-Schmidt passes on a fixed start, the
largest Ritz value's modulus (a lower bound of rho, as PyAMG's). Measured on
bench/linear.py's SPD problems: within 0.7-2.7% of PyAMG's estimate on every level,
the same iterations, setup and solve together 0.70-0.82x (Darcy, 3-D diffusion).

Symmetric builds only: on a nonnormal D^-1 A (upwind convection-diffusion, Peclet 100)
fifteen steps stop well short of PyAMG's restarted estimate (1.76 against 1.94), and
which one suits the smoother there was not measured.

PyAMG offers no way to pass the estimate in, so `estimates_in_this_thread` swaps its
function in pyamg.aggregation.smooth for this one for the duration of a solverd build,
on the calling thread only: other threads, and PyAMG called by anyone else in the
process (a benchmark's peer), get PyAMG's own.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from solvers.errors import check_stop

ESTIMATE_STEPS = 15
_ACTIVE = threading.local()
_INSTALL = threading.Lock()


def spectral_radius(a: Any, steps: int = ESTIMATE_STEPS, seed: int = 0) -> float:
    """max |Ritz value| of `steps` Arnoldi steps on `a` (any operator with @) from a
    seeded random start: deterministic, unlike PyAMG's random start."""
    n = a.shape[0]
    steps = max(1, min(n, steps))
    basis = np.empty((steps + 1, n))
    start = np.random.default_rng(seed).random(n) - 0.5
    basis[0] = start / np.linalg.norm(start)
    h = np.zeros((steps + 1, steps))
    size = steps
    for j in range(steps):
        w = np.asarray(a @ basis[j], dtype=np.float64).ravel()
        coefficients = basis[: j + 1] @ w
        w -= coefficients @ basis[: j + 1]
        again = basis[: j + 1] @ w  # a second pass: one loses orthogonality in a few steps
        w -= again @ basis[: j + 1]
        h[: j + 1, j] = coefficients + again
        norm = float(np.linalg.norm(w))
        h[j + 1, j] = norm
        if norm <= 1e-12 * max(1.0, float(np.abs(h[: j + 1, j]).max())):
            size = j + 1  # an invariant subspace: its Ritz values are eigenvalues
            break
        basis[j + 1] = w / norm
    ritz = np.linalg.eigvals(h[:size, :size])
    return float(np.abs(ritz).max())


def _pyamg_compatible(original: Any) -> Any:
    def estimate(A: Any, *args: Any, **kwargs: Any) -> Any:
        stop = getattr(_ACTIVE, "stop", None)
        if stop is not None:
            check_stop(stop)  # once per level of a solverd build: its deadline holds
        if getattr(_ACTIVE, "on", False) and not kwargs.get("return_vector"):
            return spectral_radius(A)
        return original(A, *args, **kwargs)

    estimate.solverd_shim = True  # type: ignore[attr-defined]
    return estimate


def _install() -> None:
    import pyamg.aggregation.smooth as smooth

    with _INSTALL:
        if not getattr(smooth.approximate_spectral_radius, "solverd_shim", False):
            smooth.approximate_spectral_radius = _pyamg_compatible(
                smooth.approximate_spectral_radius)


@contextlib.contextmanager
def estimates_in_this_thread(ours: bool = True,
                             should_stop: Callable[[], str | None] | None = None
                             ) -> Iterator[None]:
    """PyAMG's prolongation smoothing on this thread uses spectral_radius while inside
    (`ours`), and polls `should_stop` at each level's estimate (PyAMG's setup has no
    other place to stop at: it raises Interrupted out of the build)."""
    _install()
    before = getattr(_ACTIVE, "on", False), getattr(_ACTIVE, "stop", None)
    _ACTIVE.on, _ACTIVE.stop = ours, should_stop
    try:
        yield
    finally:
        _ACTIVE.on, _ACTIVE.stop = before
