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


def gaussian_random_field(k: int, rng: np.random.Generator, alpha: float = 2.5,
                          tau: float = 7.0) -> np.ndarray:
    """A k x k sample of the Gaussian field with covariance (-Laplace + tau^2)^-alpha on
    the unit square (the neural-operator data sets' law), by a cosine series: standard
    normal coefficients scaled by the covariance's eigenvalues, then unit variance."""
    from scipy.fft import idctn

    i = np.arange(k)
    lam = np.pi**2 * (i[:, None] ** 2 + i[None, :] ** 2) + tau**2
    coef = lam ** (-alpha / 2) * rng.standard_normal((k, k))
    coef[0, 0] = 0.0
    field = idctn(coef, norm="ortho")
    return field / field.std()


def reference_random_field(k: int, rng: np.random.Generator, alpha: float = 2.5,
                           tau: float = 7.0) -> np.ndarray:
    """A k x k sample of the periodic Gaussian field with the neural-operator data sets'
    own scale (Li et al., FNO, 2021; used by SKR): Fourier coefficients
    sqrt(2) tau^(alpha - 1) (4 pi^2 |w|^2 + tau^2)^(-alpha / 2) times complex normals,
    the mean mode zero, the real part kept. Its standard deviation is about 0.25 for
    alpha 2.5, tau 7."""
    w = np.fft.fftfreq(k, 1.0 / k)
    w2 = w[:, None] ** 2 + w[None, :] ** 2
    scale = np.sqrt(2.0) * tau ** (alpha - 1.0) * (4 * np.pi**2 * w2 + tau**2) ** (-alpha / 2)
    scale[0, 0] = 0.0
    noise = rng.standard_normal((k, k)) + 1j * rng.standard_normal((k, k))
    return np.fft.ifft2(scale * noise * (k * k)).real


def darcy_2d(k: int, coefficient: np.ndarray, shift: float = 0.0,
             skew: bool = False) -> sp.csr_matrix:
    """-div(a grad u) (+ shift u) on a k x k cell grid of the unit square with u = 0 on
    the boundary: finite volumes, harmonic means of a on the faces (SPD when shift >= 0).
    `skew` takes the north/south neighbours' coefficient at an offset (SKR's stencil),
    which makes the matrix nonsymmetric."""
    a = np.asarray(coefficient, dtype=np.float64)
    h2 = float(k * k)

    def harmonic(p: np.ndarray, q: np.ndarray) -> np.ndarray:
        return 2.0 * p * q / (p + q)

    idx = np.arange(k * k).reshape(k, k)
    diag = np.zeros((k, k))
    # East-west faces (along axis 1) and north-south faces (along axis 0).
    te = harmonic(a[:, :-1], a[:, 1:]) * h2
    tn = harmonic(a[:-1, :], a[1:, :]) * h2
    tn_other = harmonic(a[:-1, :], np.roll(a, -2, axis=0)[:-1, :]) * h2 if skew else tn
    couplings = [(idx[:, :-1], idx[:, 1:], te), (idx[:, 1:], idx[:, :-1], te),
                 (idx[:-1, :], idx[1:, :], tn), (idx[1:, :], idx[:-1, :], tn_other)]
    diag[:, :-1] += te
    diag[:, 1:] += te
    diag[:-1, :] += tn
    diag[1:, :] += tn_other
    # Boundary faces: the cell centre is h/2 from the wall, transmissibility 2 a / h^2.
    diag[:, 0] += 2 * a[:, 0] * h2
    diag[:, -1] += 2 * a[:, -1] * h2
    diag[0, :] += 2 * a[0, :] * h2
    diag[-1, :] += 2 * a[-1, :] * h2
    couplings.append((idx, idx, -(diag + shift)))
    rows = np.concatenate([src.ravel() for src, _, _ in couplings])
    cols = np.concatenate([dst.ravel() for _, dst, _ in couplings])
    vals = np.concatenate([-t.ravel() for _, _, t in couplings])
    n = k * k
    mat = sp.csr_matrix((vals, (rows, cols)), shape=(n, n))
    mat.sum_duplicates()
    mat.sort_indices()
    return mat


def wide_band(n: int, half: int) -> sp.csr_matrix:
    """A circulant SPD band (2 half + 1 entries per row, strongly diagonally dominant):
    CG converges in a few iterations however large n is."""
    offsets = np.concatenate([np.arange(-half, 0), np.arange(1, half + 1)])
    cols = np.empty((n, 2 * half + 1), dtype=np.int32)
    cols[:, 0] = np.arange(n, dtype=np.int32)
    cols[:, 1:] = (np.arange(n, dtype=np.int64)[:, None] + offsets[None, :]) % n
    cols.sort(axis=1)
    data = np.full(cols.shape, -0.5 / half)
    data[cols == np.arange(n)[:, None]] = 4.0
    indptr = np.arange(0, n * (2 * half + 1) + 1, 2 * half + 1, dtype=np.int64)
    return sp.csr_matrix((data.reshape(-1), cols.reshape(-1), indptr), shape=(n, n))


def darcy_wind(k: int, coefficient: np.ndarray, velocity: float) -> sp.csr_matrix:
    """darcy_2d plus a wind term velocity (w . grad u), w = (1, 1) / sqrt 2, first-order
    upwind on the same k x k cells (u = 0 outside): nonsymmetric, its diagonal dominant
    (an M-matrix)."""
    w = velocity / np.sqrt(2.0) * k  # per unit cell width h = 1 / k
    one = np.ones(k)
    up = sp.diags([-one[:-1], one], [-1, 0]) * w
    eye = sp.identity(k)
    return (darcy_2d(k, coefficient) + sp.kron(eye, up) + sp.kron(up, eye)).tocsr()
