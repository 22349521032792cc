"""The problems of bench/linear.py's suite (issue 26): 2-D Darcy (smooth and
high-contrast), 3-D variable-coefficient diffusion, rotated anisotropic diffusion, 2-D
elasticity with its rigid-body modes, upwind convection-diffusion at two Peclet numbers, a
shifted (indefinite) Laplacian, and PyAMG's small example meshes. Shared by the benchmark
and by tests/test_linear_suite.py, which checks every one's answers at a small size."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pyamg
import scipy.sparse as sp

from problems import darcy_2d, gaussian_random_field


@dataclass
class Problem:
    name: str
    a: sp.csr_matrix
    b: np.ndarray
    symmetric: bool
    near_nullspace: np.ndarray | None = None


def diffusion_3d(k: int, rng: np.random.Generator) -> sp.csr_matrix:
    """-div(c grad u) on a k^3 grid, c = exp(N(0, 1)) per cell, harmonic means across
    faces, Dirichlet boundary: 7-point, SPD."""
    c = np.exp(rng.standard_normal((k, k, k)))
    n = k**3
    index = np.arange(n).reshape(k, k, k)
    rows, cols, vals = [], [], []
    diag = np.zeros(n)
    for axis in range(3):
        lo = [slice(None)] * 3
        hi = [slice(None)] * 3
        lo[axis], hi[axis] = slice(0, k - 1), slice(1, k)
        face = 2.0 / (1.0 / c[tuple(lo)] + 1.0 / c[tuple(hi)])
        i, j = index[tuple(lo)].ravel(), index[tuple(hi)].ravel()
        rows += [i, j]
        cols += [j, i]
        vals += [-face.ravel(), -face.ravel()]
        np.add.at(diag, i, face.ravel())
        np.add.at(diag, j, face.ravel())
        # Dirichlet faces on both ends of this axis
        first = [slice(None)] * 3
        last = [slice(None)] * 3
        first[axis], last[axis] = 0, k - 1
        diag[index[tuple(first)].ravel()] += 2 * c[tuple(first)].ravel()
        diag[index[tuple(last)].ravel()] += 2 * c[tuple(last)].ravel()
    rows.append(np.arange(n))
    cols.append(np.arange(n))
    vals.append(diag)
    return sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                         shape=(n, n))


def convection_diffusion(k: int, peclet: float) -> sp.csr_matrix:
    """-lap u + peclet (w . grad u), first-order upwind, w = (1, 1) / sqrt 2, k^2 grid."""
    h = 1.0 / (k + 1)
    one = np.ones(k)
    lap = sp.diags([-one[:-1], 2 * one, -one[:-1]], [-1, 0, 1]) / h**2
    w = peclet / math.sqrt(2.0)
    up = sp.diags([-one[:-1], one], [-1, 0]) * (w / h)
    eye = sp.identity(k)
    return (sp.kron(eye, lap + up) + sp.kron(lap + up, eye)).tocsr()


def suite(quick: bool, rng: np.random.Generator, divisor: int | None = None) -> list[Problem]:
    """bench/linear.py's problems; `quick` halves the grids, `divisor` divides them by
    more (tests/test_linear_suite.py checks every one's answers at a small size)."""
    s = divisor or (2 if quick else 1)
    out = []
    g = 512 // s
    out.append(Problem(f"darcy smooth {g}^2", darcy_2d(g, np.exp(gaussian_random_field(g, rng)))
                       .tocsr(), np.ones(g * g), True))
    out.append(Problem(f"darcy contrast {g}^2",
                       darcy_2d(g, np.exp(3.0 * gaussian_random_field(g, rng))).tocsr(),
                       np.ones(g * g), True))
    if not quick:
        big = 1024 // s
        out.append(Problem(f"darcy smooth {big}^2", darcy_2d(
            big, np.exp(gaussian_random_field(big, rng))).tocsr(), np.ones(big**2), True))
    k = 64 // s
    out.append(Problem(f"diffusion 3-D {k}^3", diffusion_3d(k, rng), np.ones(k**3), True))
    r = 400 // s
    stencil = pyamg.gallery.diffusion_stencil_2d(epsilon=0.01, theta=math.pi / 6, type="FD")
    out.append(Problem(f"rotated anisotropic {r}^2",
                       pyamg.gallery.stencil_grid(stencil, (r, r), format="csr"),
                       np.ones(r * r), True))
    e = 300 // s
    A, B = pyamg.gallery.linear_elasticity((e, e), format="csr")
    out.append(Problem(f"elasticity {e}^2 (rigid modes)", A, np.ones(A.shape[0]), True, B))
    c = 300 // s
    for pe in (20.0, 400.0):
        out.append(Problem(f"convection-diffusion Pe {pe:g} {c}^2", convection_diffusion(c, pe),
                           np.ones(c * c), False))
    q = 400 // s
    lap = pyamg.gallery.poisson((q, q), format="csr") * (q + 1) ** 2
    out.append(Problem(f"shifted Laplacian {q}^2", (lap - 200.0 * sp.identity(q * q)).tocsr(),
                       np.ones(q * q), True))
    for name in ("airfoil", "knot"):
        data = pyamg.gallery.load_example(name)
        a = data["A"].tocsr()
        out.append(Problem(f"example {name} ({a.shape[0]})", a, np.ones(a.shape[0]), True))
    return out
