"""nvmath.sparse.advanced.DirectSolver on the stand-in: SuperLU behind cuDSS's stages."""

from __future__ import annotations

from typing import Any

import scipy.sparse.linalg as _spla
from cupy._core import ndarray, wrap
from cupyx.scipy.sparse import csr_matrix

# How many solvers were made and freed: the lane checks that none is left behind.
COUNTS = {"created": 0, "freed": 0, "factorized": 0}


class DirectSolver:
    def __init__(self, a: Any, b: Any, *, options: Any = None, execution: Any = None,
                 stream: Any = None) -> None:
        if not isinstance(a, csr_matrix):
            raise TypeError("a must be a CSR matrix (cupyx.scipy.sparse.csr_matrix here)")
        self._check_b(b, a.shape[0])
        self._a, self._b = a, b
        self._lu: Any = None
        self._planned = False
        self._freed = False
        COUNTS["created"] += 1

    @staticmethod
    def _check_b(b: Any, n: int) -> None:
        if not isinstance(b, ndarray):
            raise TypeError("b must be on the device of a")
        if b.shape[0] != n or b.ndim not in (1, 2):
            raise ValueError(f"b must have shape ({n},) or ({n}, k), got {b.shape}")

    def _alive(self) -> None:
        if self._freed:
            raise RuntimeError("this DirectSolver was freed")

    def plan(self) -> None:
        self._alive()
        self._planned = True

    def factorize(self) -> None:
        self._alive()
        if not self._planned:
            raise RuntimeError("plan() comes before factorize()")
        self._lu = _spla.splu(self._a._m.tocsc())
        COUNTS["factorized"] += 1

    def reset_operands(self, a: Any = None, b: Any = None) -> None:
        self._alive()
        if a is not None:
            raise NotImplementedError("the stand-in resets b only")
        if b is not None:
            self._check_b(b, self._a.shape[0])
            if b.shape != self._b.shape:
                raise ValueError("reset_operands: b's shape must stay the planned one")
            self._b = b

    def solve(self) -> Any:
        self._alive()
        if self._lu is None:
            raise RuntimeError("factorize() comes before solve()")
        return wrap(self._lu.solve(self._b._a))

    def free(self) -> None:
        if not self._freed:
            COUNTS["freed"] += 1
        self._freed = True
        self._lu = None

    def __enter__(self) -> DirectSolver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.free()
