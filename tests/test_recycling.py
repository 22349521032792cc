"""Krylov recycling: GCRO-DR and deflated (recycled) CG against a direct solve, and
the products they save across a sequence of related Darcy systems."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse.linalg as spla

from solvers import SolverInputError
from solvers.linear import recycling, solve

from problems import darcy_2d, gaussian_random_field


def _darcy_sequence(count: int, k: int = 24, skew: bool = False, seed: int = 0) -> list:
    rng = np.random.default_rng(seed)
    return [darcy_2d(k, np.exp(0.5 * gaussian_random_field(k, rng)), skew=skew)
            for _ in range(count)]


@pytest.mark.parametrize("method,skew", [("gcrodr", False), ("gcrodr", True),
                                         ("recycled_cg", False)])
def test_recycled_sequence_matches_direct_and_saves_products(method: str, skew: bool) -> None:
    mats = _darcy_sequence(8, skew=skew)
    b = np.ones(mats[0].shape[0])
    space, products = None, []
    for a in mats:
        r = solve(a, b, method=method, rtol=1e-9, recycle=10, restart=30,
                  recycle_space=space)
        x_ref = spla.spsolve(a.tocsc(), b)
        assert r.converged and r.residual_norm <= 1e-9
        assert np.linalg.norm(r.x - x_ref) <= 1e-6 * np.linalg.norm(x_ref)
        assert r.extra["recycled"] == (space is not None)
        space = r.extra["recycle_space"]
        assert space is not None and space.kind == method and space.k >= 10
        products.append(r.matvecs)
    # The first system builds the space; the later ones must profit from it.
    assert np.mean(products[4:]) < 0.8 * products[0]


def test_gcrodr_space_satisfies_its_invariants() -> None:
    """C = A U with orthonormal rows; after adopting a new matrix the same holds for it."""
    a, a_next = _darcy_sequence(2, skew=True)
    b = np.ones(a.shape[0])
    r = solve(a, b, method="gcrodr", rtol=1e-8, recycle=8, restart=24)
    space = r.extra["recycle_space"]
    np.testing.assert_allclose(space.c @ space.c.T, np.eye(space.k), atol=1e-8)
    np.testing.assert_allclose((a @ space.u.T).T, space.c, atol=1e-8 * abs(space.c).max())
    moved, products = recycling.adopt(space, a_next, np, same_matrix=False)
    assert products == space.k
    np.testing.assert_allclose(moved.c @ moved.c.T, np.eye(space.k), atol=1e-8)
    np.testing.assert_allclose((a_next @ moved.u.T).T, moved.c, atol=1e-8 * abs(moved.c).max())


def test_recycled_cg_with_jacobi_and_many_columns() -> None:
    a = _darcy_sequence(1)[0]
    rng = np.random.default_rng(3)
    b = rng.standard_normal((a.shape[0], 3))
    r = solve(a, b, method="recycled_cg", preconditioner="jacobi", rtol=1e-10, recycle=12)
    x_ref = spla.spsolve(a.tocsc(), b)
    assert r.converged and np.abs(r.x - x_ref).max() <= 1e-7 * np.abs(x_ref).max()
    # Columns after the first reuse the space built by the first (same matrix).
    assert r.column_iterations[2] < r.column_iterations[0]


def test_a_space_of_the_wrong_kind_or_size_is_refused() -> None:
    a = _darcy_sequence(1)[0]
    b = np.ones(a.shape[0])
    space = solve(a, b, method="gcrodr", rtol=1e-6).extra["recycle_space"]
    with pytest.raises(SolverInputError) as info:
        solve(a, b, method="recycled_cg", recycle_space=space)
    assert info.value.field == "recycle_space"
    small = darcy_2d(8, np.ones((8, 8)))
    with pytest.raises(SolverInputError):
        solve(small, np.ones(64), method="gcrodr", recycle_space=space)
    with pytest.raises(SolverInputError) as info:
        solve(a, b, method="gcrodr", restart=10, recycle=9)
    assert info.value.field == "recycle"


def test_non_convergence_is_a_result() -> None:
    a = _darcy_sequence(1)[0]
    r = solve(a, np.ones(a.shape[0]), method="gcrodr", rtol=1e-12, maxiter=15)
    assert not r.converged and r.iterations <= 16
