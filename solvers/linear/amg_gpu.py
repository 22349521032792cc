"""An AMG hierarchy's cycle on the GPU.

PyAMG builds the hierarchy on the host (aggregation, smoothed prolongation, Galerkin
products); its operators move to the device once as CSR, and each application of the
preconditioner runs there with no read by the host: a V-cycle with damped Jacobi
smoothing (Gauss-Seidel, PyAMG's smoother, is sequential; Jacobi is one product and one
kernel a sweep) and the coarsest level by a dense inverse. Equal pre- and post-smoothing
and R = P^T keep the cycle symmetric, so it preconditions CG. Each level's Jacobi weight
is 4 / (3 rho), rho the spectral radius of D^-1 A estimated by power iteration at setup,
which keeps the smoother convergent on the coarse Galerkin operators too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

SWEEPS = 2  # Jacobi sweeps before and after the coarse correction


@dataclass
class _Level:
    A: Any  # device CSR
    P: Any  # device CSR, to this level from the next coarser one
    R: Any
    dinv: Any  # device vector: the Jacobi weight over the diagonal


def _spectral_radius(a: sp.csr_matrix, dinv: np.ndarray, steps: int = 15) -> float:
    """rho(D^-1 A) by power iteration (a little over: the Jacobi weight stays safe)."""
    v = np.random.default_rng(0).standard_normal(a.shape[0])
    rho = 1.0
    for _ in range(steps):
        w = dinv * (a @ v)
        norm = float(np.linalg.norm(w))
        if norm == 0.0:
            return 1.0
        rho = norm / float(np.linalg.norm(v))
        v = w / norm
    return 1.1 * rho


class DeviceCycle:
    """v -> one V-cycle of the hierarchy applied to v, on the device."""

    def __init__(self, hierarchy: Any, backend: Any, dtype: np.dtype) -> None:
        import cupyx.scipy.sparse as csp

        xp = backend.xp
        self.xp = xp
        levels = hierarchy.solver.levels
        self.levels: list[_Level] = []

        def device(m: sp.spmatrix) -> Any:
            m = sp.csr_matrix(m, dtype=dtype)
            return csp.csr_matrix((xp.asarray(m.data), xp.asarray(m.indices.astype(np.int32)),
                                   xp.asarray(m.indptr.astype(np.int32))), shape=m.shape)

        for level in levels[:-1]:
            a = sp.csr_matrix(level.A)
            diag = a.diagonal()
            if not np.all(diag != 0):
                raise ValueError("a level of the hierarchy has a zero diagonal")
            inv = 1.0 / diag
            weight = 4.0 / (3.0 * _spectral_radius(a, inv))
            self.levels.append(_Level(device(a), device(level.P), device(level.R),
                                      xp.asarray(weight * inv, dtype=dtype)))
        coarse = np.asarray(sp.csr_matrix(levels[-1].A).toarray(), dtype=np.float64)
        self.coarse_inverse = xp.asarray(np.linalg.pinv(coarse), dtype=dtype)

    def __call__(self, v: Any) -> Any:
        return self._cycle(0, v)

    def _cycle(self, i: int, b: Any) -> Any:
        if i == len(self.levels):
            return self.coarse_inverse @ b
        level = self.levels[i]
        x = level.dinv * b  # the first sweep from zero
        for _ in range(SWEEPS - 1):
            x += level.dinv * (b - level.A @ x)
        x += level.P @ self._cycle(i + 1, level.R @ (b - level.A @ x))
        for _ in range(SWEEPS):
            x += level.dinv * (b - level.A @ x)
        return x
