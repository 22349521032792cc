"""Test problems: 2-D finite-difference PDE matrices with known structure."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def laplacian_1d(k: int) -> sp.csr_matrix:
    return sp.diags_array([-np.ones(k - 1), 2 * np.ones(k), -np.ones(k - 1)], offsets=[-1, 0, 1],
                          format="csr")


def poisson_2d(k: int) -> sp.csr_matrix:
    """5-point Laplacian on a k x k grid: SPD, n = k^2, condition ~ 0.4 k^2."""
    t = laplacian_1d(k)
    eye = sp.eye_array(k)
    a = sp.csr_matrix(sp.kron(eye, t) + sp.kron(t, eye))
    a.eliminate_zeros()  # kron of small arrays stores explicit zeros
    return a


def convection_diffusion_2d(k: int, peclet: float = 20.0) -> sp.csr_matrix:
    """-Laplace(u) + c . grad(u) with central differences: nonsymmetric, nonsingular."""
    h = 1.0 / (k + 1)
    s = peclet * h / 2
    t = sp.diags_array([(-1 - s) * np.ones(k - 1), 2 * np.ones(k), (-1 + s) * np.ones(k - 1)],
                       offsets=[-1, 0, 1], format="csr")
    eye = sp.eye_array(k)
    a = sp.csr_matrix(sp.kron(eye, t) + sp.kron(t, eye))
    a.eliminate_zeros()
    return a


def relative_residual(a: sp.spmatrix | np.ndarray, x: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(b - a @ x) / np.linalg.norm(b))
