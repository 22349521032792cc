"""The direct solver's column ordering: chosen from the pattern (natural for a cheap
profile, minimum degree on A + A^T for symmetric 2-D-like patterns, COLAMD otherwise),
and every choice answers as SciPy's spsolve does on the true residual."""

from __future__ import annotations

import numpy as np
import pyamg
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from solvers.linear import pattern, solve
from solvers.linear.direct import superlu_ordering
from solvers.linear.pattern import natural_order_flops, pattern_dimension, structural_asymmetry

from problems import convection_diffusion_2d, poisson_2d, relative_residual

KNOT = pyamg.gallery.load_example("knot")["A"].tocsr()
SCRAMBLE = np.random.default_rng(3).permutation(KNOT.shape[0])
SCRAMBLED_KNOT = KNOT[SCRAMBLE][:, SCRAMBLE].tocsr()
POISSON_3D = pyamg.gallery.poisson((20, 20, 20), format="csr")


def _one_sided(k: int) -> sp.csr_matrix:
    """A 2-D stencil with two extra upwind neighbours: structurally nonsymmetric."""
    a = convection_diffusion_2d(k).tolil()
    n = k * k
    for i in range(0, n - 2 * k, 3):
        a[i, i + 2 * k] = -0.5
    return a.tocsr()


ONE_SIDED = _one_sided(60)


@pytest.mark.parametrize(("a", "expected"), [
    (KNOT, "NATURAL"),
    (SCRAMBLED_KNOT, "MMD_AT_PLUS_A"),
    (poisson_2d(100), "MMD_AT_PLUS_A"),
    (convection_diffusion_2d(100), "MMD_AT_PLUS_A"),
    (POISSON_3D, "COLAMD"),
    (ONE_SIDED, "COLAMD"),
])
def test_the_ordering_follows_the_pattern(a, expected) -> None:
    assert superlu_ordering(a) == expected


@pytest.mark.parametrize("a", [KNOT, SCRAMBLED_KNOT, poisson_2d(60), convection_diffusion_2d(60),
                               pyamg.gallery.poisson((12, 12, 12), format="csr"), ONE_SIDED])
def test_every_ordering_answers_like_spsolve(a) -> None:
    b = np.random.default_rng(1).standard_normal(a.shape[0])
    r = solve(a, b, method="direct", rtol=1e-10)
    ref = spla.spsolve(a.tocsc(), b)
    assert r.converged
    assert relative_residual(a, r.x, b) <= max(1e-12, 10 * relative_residual(a, ref, b))
    assert np.linalg.norm(r.x - ref) <= 1e-9 * np.linalg.norm(ref)


def test_profile_and_symmetry_measures() -> None:
    band = sp.diags([1.0, 2.0, 1.0], [-1, 0, 1], shape=(50, 50), format="csr")
    assert natural_order_flops(band) == 48 * 2 + 1  # rows 1-48: 1 (1 + 1); the last: 1 (1 + 0)
    assert natural_order_flops(SCRAMBLED_KNOT) > 10 * natural_order_flops(KNOT)
    assert structural_asymmetry(poisson_2d(20)) == 0.0
    assert structural_asymmetry(ONE_SIDED) > 0.05


def test_the_dimension_is_computed_once_per_matrix(monkeypatch) -> None:
    a = poisson_2d(80)
    first = pattern_dimension(a)
    calls = []
    monkeypatch.setattr(pattern, "_dimension", lambda m: calls.append(m) or 9.0)
    assert pattern_dimension(a) == first and not calls  # the same arrays: remembered
    assert pattern_dimension(poisson_2d(80)) == 9.0 and len(calls) == 1  # new arrays
