"""numba compilation for the solvers' inner loops (coordinate passes, the network
simplex): loops of a few flops per step, which an interpreter would dominate."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from numba import njit


def compiled(**options: Any) -> Callable[[Callable[..., Any]], Any]:
    """njit releasing the GIL, with an on-disk cache where one can be written
    (NUMBA_CACHE_DIR, the package's __pycache__ or the user's cache); without one (a
    read-only image run by a user with no home) numba refuses cache=True outright, so
    compile in memory."""

    def wrap(fn: Callable[..., Any]) -> Any:
        try:
            return njit(cache=True, nogil=True, **options)(fn)
        except RuntimeError:
            return njit(nogil=True, **options)(fn)

    return wrap
