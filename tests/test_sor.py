"""SOR and SSOR-PCG against a reference SOR loop and SciPy's direct solve."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse.linalg as spla

from solvers import SolverInputError
from solvers.linear import solve
from solvers.linear.sor import csr_for_sweeps, ssor_preconditioner, sweep

from problems import convection_diffusion_2d, poisson_2d, relative_residual

SPD = poisson_2d(30)
B = np.random.default_rng(3).standard_normal(SPD.shape[0])


def reference_sweep(a, x: np.ndarray, b: np.ndarray, omega: float) -> np.ndarray:
    """Textbook forward SOR, one row at a time (Saad, Iterative Methods, sec. 4.1)."""
    x = x.copy()
    for i in range(a.shape[0]):
        lo, hi = a.indptr[i], a.indptr[i + 1]
        cols, vals = a.indices[lo:hi], a.data[lo:hi]
        diag = vals[cols == i].sum()
        off = vals[cols != i] @ x[cols[cols != i]]
        x[i] = (1 - omega) * x[i] + omega * (b[i] - off) / diag
    return x


@pytest.mark.parametrize("omega", [0.6, 1.0, 1.4, 1.9])
def test_compiled_sweep_is_true_sor(omega: float) -> None:
    a = csr_for_sweeps(convection_diffusion_2d(9), np.dtype(np.float64))
    rng = np.random.default_rng(1)
    x0, b = rng.standard_normal(a.shape[0]), rng.standard_normal(a.shape[0])
    x = x0.copy()
    sweep(a, b, x, omega)
    np.testing.assert_allclose(x, reference_sweep(a, x0, b, omega), rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("omega", [1.0, 1.5, 1.8])
def test_sor_solves(omega: float) -> None:
    r = solve(SPD, B, method="sor", omega=omega, rtol=1e-8)
    assert r.converged and r.method == "sor"
    assert relative_residual(SPD, r.x, B) <= 1e-8
    x_ref = spla.spsolve(SPD.tocsc(), B)
    assert np.linalg.norm(r.x - x_ref) / np.linalg.norm(x_ref) < 1e-5


def test_omega_changes_the_cost_as_theory_says() -> None:
    """Young's optimum for the 30 x 30 Laplacian is 2 / (1 + sin(pi/31)) = 1.82."""
    counts = {w: solve(SPD, B, method="sor", omega=w, rtol=1e-8).iterations
              for w in (1.0, 1.5, 1.82, 1.95)}
    assert counts[1.82] < counts[1.5] < counts[1.0]
    assert counts[1.82] < counts[1.95]
    assert counts[1.0] > 5 * counts[1.82]


def test_ssor_preconditioner_is_symmetric_and_helps_cg() -> None:
    a = csr_for_sweeps(SPD, np.dtype(np.float64))
    m = ssor_preconditioner(a, 1.5)
    cols = np.column_stack([m(e) for e in np.eye(a.shape[0])[:, :40].T])
    np.testing.assert_allclose(cols[:40], cols[:40].T, atol=1e-14)
    plain = solve(SPD, B, method="cg", rtol=1e-8)
    ssor = solve(SPD, B, method="ssor_cg", omega=1.5, rtol=1e-8)
    assert ssor.converged and ssor.preconditioner == "ssor"
    assert ssor.iterations * 2 < plain.iterations
    assert relative_residual(SPD, ssor.x, B) <= 1e-8


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"method": "sor", "omega": 2.0}, "omega"),
    ({"method": "sor", "omega": 0.0}, "omega"),
    ({"method": "ssor_cg", "omega": float("nan")}, "omega"),
    ({"method": "sor", "preconditioner": "jacobi"}, "preconditioner"),
])
def test_bad_sor_arguments(kwargs: dict, field: str) -> None:
    with pytest.raises(SolverInputError) as info:
        solve(SPD, B, **kwargs)
    assert info.value.field == field


def test_sor_refuses_zero_diagonal() -> None:
    a = SPD.tolil()
    a[3, 3] = 0.0
    with pytest.raises(SolverInputError, match="nonzero diagonal"):
        solve(a.tocsr(), B, method="sor")


def test_divergent_sor_is_a_result() -> None:
    r = solve(convection_diffusion_2d(20, peclet=400.0), B[:400], method="sor", omega=1.9,
              rtol=1e-8, maxiter=2000)
    assert not r.converged


@pytest.mark.parametrize("k", [5, 40])
def test_colouring_is_valid_and_small(k: int) -> None:
    import scipy.sparse as sp

    from solvers.linear.colouring import colour, is_valid

    a = poisson_2d(k)
    colours = colour(a)
    assert is_valid(a, colours) and colours.max() + 1 == 2  # red-black
    r = sp.random(500, 500, density=0.02, random_state=1)
    general = sp.csr_matrix(r + r.T + sp.eye(500))
    assert is_valid(general, colour(general))


def test_colouring_odd_cycle_and_components() -> None:
    import scipy.sparse as sp

    from solvers.linear.colouring import colour, is_valid

    n = 7
    ring = sp.csr_matrix((np.ones(n), (np.arange(n), (np.arange(n) + 1) % n)), shape=(n, n))
    ring = sp.csr_matrix(ring + ring.T + 2 * sp.eye(n))
    odd = colour(ring)
    assert is_valid(ring, odd) and odd.max() + 1 == 3  # not bipartite: greedy
    blocks = sp.csr_matrix(sp.block_diag([poisson_2d(4), poisson_2d(3), np.eye(2)]))
    parts = colour(blocks)
    assert is_valid(blocks, parts) and parts.max() + 1 == 2
