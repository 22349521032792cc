"""The linear solvers in-process, each against SciPy's sparse direct solve."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from solvers import Interrupted, SolverInputError
from solvers.linear import choose_method, solve

from problems import convection_diffusion_2d, poisson_2d, relative_residual

SPD = poisson_2d(40)  # n = 1600
NONSYM = convection_diffusion_2d(40)
RNG = np.random.default_rng(7)
B = RNG.standard_normal(SPD.shape[0])


def reference(a: sp.spmatrix, b: np.ndarray) -> np.ndarray:
    return spla.spsolve(a.tocsc(), b)


@pytest.mark.parametrize("method", ["cg", "minres", "gmres", "bicgstab", "direct"])
@pytest.mark.parametrize("preconditioner", ["none", "jacobi"])
def test_spd_matches_direct(method: str, preconditioner: str) -> None:
    r = solve(SPD, B, method=method, preconditioner=preconditioner, rtol=1e-10, device="cpu")
    assert r.converged and r.stop_reason == "converged"
    assert r.method == method
    assert relative_residual(SPD, r.x, B) <= 1e-10
    assert r.residual_norm == pytest.approx(relative_residual(SPD, r.x, B), rel=1e-6, abs=1e-15)
    x_ref = reference(SPD, B)
    assert np.linalg.norm(r.x - x_ref) / np.linalg.norm(x_ref) < 1e-7


@pytest.mark.parametrize("method", ["gmres", "bicgstab", "direct"])
@pytest.mark.parametrize("preconditioner", ["none", "jacobi", "ilu"])
def test_nonsymmetric_matches_direct(method: str, preconditioner: str) -> None:
    r = solve(NONSYM, B, method=method, preconditioner=preconditioner, rtol=1e-10, device="cpu")
    assert r.converged
    assert relative_residual(NONSYM, r.x, B) <= 1e-10
    x_ref = reference(NONSYM, B)
    assert np.linalg.norm(r.x - x_ref) / np.linalg.norm(x_ref) < 1e-7


def test_ilu_cuts_gmres_iterations() -> None:
    plain = solve(NONSYM, B, method="gmres", rtol=1e-10, device="cpu")
    ilu = solve(NONSYM, B, method="gmres", preconditioner="ilu", rtol=1e-10, device="cpu")
    assert ilu.iterations * 3 < plain.iterations


def test_several_right_hand_sides_and_x0() -> None:
    b = RNG.standard_normal((SPD.shape[0], 3))
    b[:, 1] = 0.0  # a zero column has the zero solution, in zero iterations
    x0 = np.ones_like(b)
    r = solve(SPD, b, method="cg", x0=x0, rtol=1e-9, device="cpu")
    assert r.x.shape == b.shape and r.converged
    assert r.column_iterations[1] == 0 and np.all(r.x[:, 1] == 0)
    for j in (0, 2):
        assert relative_residual(SPD, r.x[:, j], b[:, j]) <= 1e-9


def test_x0_that_already_solves_takes_no_iterations() -> None:
    x = reference(SPD, B)
    r = solve(SPD, B, method="gmres", x0=x, rtol=1e-8, device="cpu")
    assert r.converged and r.iterations == 0


def test_non_convergence_is_a_result() -> None:
    r = solve(SPD, B, method="cg", rtol=1e-12, maxiter=5, device="cpu")
    assert not r.converged
    assert r.stop_reason == "max_iterations"
    assert r.iterations == 5
    assert r.residual_norm > 1e-12


def test_cg_on_indefinite_matrix_does_not_claim_convergence() -> None:
    a = sp.diags_array([np.r_[-np.ones(50), np.ones(50)]], offsets=[0], format="csr")
    a = a + sp.random(100, 100, density=0.02, random_state=1) * 0.01
    a = sp.csr_matrix((a + a.T) / 2)
    b = RNG.standard_normal(100)
    r = solve(a, b, method="cg", rtol=1e-10, maxiter=200, device="cpu")
    assert r.converged == (relative_residual(a, r.x, b) <= 1e-10)
    m = solve(a, b, method="minres", rtol=1e-10, device="cpu")
    assert m.converged and relative_residual(a, m.x, b) <= 1e-10


def test_singular_direct_is_reported_not_raised() -> None:
    a = sp.csr_matrix(np.array([[1.0, 2.0], [2.0, 4.0]]))
    r = solve(a, np.array([1.0, 1.0]), method="direct", device="cpu")
    assert not r.converged and r.stop_reason == "singular"


def test_float32_precision() -> None:
    r = solve(SPD.astype(np.float32), B.astype(np.float32), method="cg", rtol=1e-5, device="cpu")
    assert r.precision == "float32" and r.x.dtype == np.float32 and r.converged
    assert relative_residual(SPD, r.x.astype(np.float64), B) <= 1e-5


def test_dense_input() -> None:
    a = SPD[:200, :200].toarray()
    b = B[:200]
    for method in ("cg", "gmres", "direct"):
        r = solve(a, b, method=method, rtol=1e-10, device="cpu")
        assert r.converged and relative_residual(a, r.x, b) <= 1e-10


def test_auto_choice() -> None:
    """Small: direct. SPD-looking: CG (with AMG). Nonsymmetric or indefinite with a 2-D
    pattern: direct (SuperLU's fill is about n log n); with a 3-D one: GMRES (with
    AMG) and MINRES."""
    import pyamg

    assert choose_method(SPD) == "direct"
    big_spd = poisson_2d(150)
    assert choose_method(big_spd) == "cg"
    assert choose_method(convection_diffusion_2d(150)) == "direct"
    assert choose_method(-big_spd) == "direct"
    # Shifted down (negative row sums inside), past its least eigenvalue (~2 pi^2) or
    # not: SuperLU, right whichever the sign; shifted up: AMG-CG's.
    h2 = 151.0**2
    shifted = (big_spd * h2 - 200.0 * sp.identity(150 * 150)).tocsr()
    assert choose_method(shifted) == "direct"
    assert choose_method((big_spd * h2 - 2.0 * sp.identity(150 * 150)).tocsr()) == "direct"
    assert choose_method((big_spd * h2 + 2.0 * sp.identity(150 * 150)).tocsr()) == "cg"
    r = solve(shifted, np.ones(150 * 150), rtol=1e-10)
    assert r.converged and r.method == "direct" and "shifted" in r.extra["auto_reason"]
    assert relative_residual(shifted, r.x, np.ones(150 * 150)) <= 1e-10
    cube = pyamg.gallery.poisson((32, 32, 32), format="csr")
    assert choose_method(-cube) == "minres"
    assert choose_method((cube + 0.2 * sp.triu(cube, 1)).tocsr()) == "gmres"


def test_should_stop_interrupts_between_iterations() -> None:
    calls = []

    def stop() -> str | None:
        calls.append(1)
        return "deadline" if len(calls) > 10 else None

    with pytest.raises(Interrupted, match="deadline"):
        solve(SPD, B, method="cg", rtol=1e-14, device="cpu", should_stop=stop)
    assert len(calls) == 11


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"method": "qmr"}, "method"),
    ({"preconditioner": "multigrid"}, "preconditioner"),
    ({"rtol": -1.0}, "rtol"),
    ({"atol": float("nan")}, "atol"),
    ({"method": "cg", "preconditioner": "ilu"}, "preconditioner"),
    ({"x0": np.zeros(3)}, "x0"),
])
def test_bad_arguments_name_the_field(kwargs: dict, field: str) -> None:
    with pytest.raises(SolverInputError) as info:
        solve(SPD, B, device="cpu", **kwargs)
    assert info.value.field == field


def test_jacobi_refuses_zero_diagonal() -> None:
    a = sp.csr_matrix(np.array([[0.0, 1.0], [1.0, 0.0]]))
    with pytest.raises(SolverInputError, match="nonzero diagonal"):
        solve(a, np.ones(2), method="gmres", preconditioner="jacobi", device="cpu")


def test_gmres_counts_inner_iterations_and_restarts() -> None:
    r = solve(NONSYM, B, method="gmres", restart=10, rtol=1e-8, device="cpu")
    assert r.converged
    assert r.matvecs >= r.iterations  # one product per inner iteration, plus restarts


@pytest.mark.parametrize("use_blas", [True, False])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_axpy_in_place(monkeypatch: pytest.MonkeyPatch, use_blas: bool, dtype: type) -> None:
    from solvers.linear import krylov

    monkeypatch.setattr(krylov, "_USE_CPU_BLAS_AXPY", use_blas)
    x = np.arange(10, dtype=dtype)
    y = np.ones(10, dtype=dtype)
    krylov.axpy(np, 0.5, x, y)
    np.testing.assert_allclose(y, 1 + 0.5 * np.arange(10))
    strided = np.ones(20, dtype=dtype)[::2]  # BLAS must not silently work on a copy
    krylov.axpy(np, 2.0, x, strided)
    np.testing.assert_allclose(strided, 1 + 2.0 * np.arange(10))


def test_direct_is_judged_by_the_tolerance_too() -> None:
    hilbert = sp.csr_matrix(1.0 / (np.arange(12)[:, None] + np.arange(12)[None, :] + 1))
    b = hilbert @ np.ones(12)
    loose = solve(hilbert, b, method="direct", rtol=1e-3, device="cpu")
    assert loose.converged
    impossible = solve(hilbert, b, method="direct", rtol=1e-30, device="cpu")
    assert not impossible.converged
    assert impossible.stop_reason.startswith("ill-conditioned")


def test_csr_products_match_scipy_and_fall_through() -> None:
    import scipy.sparse as sp

    from solvers.linear.products import CsrProducts, fast_products

    rng = np.random.default_rng(0)
    a = sp.random(50, 50, density=0.1, random_state=1, format="csr") + sp.eye(50)
    for dtype in (np.float64, np.float32):
        m = a.astype(dtype)
        fast = fast_products(m)
        assert isinstance(fast, CsrProducts) and fast.nnz == m.nnz
        v = rng.standard_normal(50).astype(dtype)
        np.testing.assert_allclose(fast @ v, m @ v, rtol=1e-6)
        block = rng.standard_normal((50, 3)).astype(dtype)
        np.testing.assert_allclose(fast @ block, m @ block, rtol=1e-6)  # 2-D: SciPy's
        strided = rng.standard_normal(100).astype(dtype)[::2]
        np.testing.assert_allclose(fast @ strided, m @ strided, rtol=1e-6)
    wide = sp.csr_matrix((a.data, a.indices.astype(np.int64), a.indptr.astype(np.int64)),
                         shape=a.shape)
    v = rng.standard_normal(50)
    np.testing.assert_allclose(fast_products(wide) @ v, a @ v, rtol=1e-12)
    assert fast_products(a.toarray()) is not None and not isinstance(
        fast_products(a.toarray()), CsrProducts)


def test_gmres_reports_an_overflowing_preconditioner_as_a_breakdown() -> None:
    """Before: NaNs reached SciPy's solve_triangular, which raised ValueError (AUTO's AMG
    on a random pattern with a weak diagonal)."""
    from solvers.linear import krylov

    a = sp.identity(50, format="csr") * 2.0
    b = np.ones(50)

    def overflowing(v):
        return v * np.inf

    out = krylov.gmres(a, b, np.zeros(50), overflowing, 1e-10, 100, lambda: None, np)
    assert out.reason.startswith("breakdown: non-finite")
    n = 10_000
    weak = (sp.random(n, n, density=5 / n, random_state=1, format="csr")
            + 0.1 * sp.identity(n)).tocsr()
    r = solve(weak, np.ones(n), method="gmres", preconditioner="amg", maxiter=50)
    assert not r.converged and r.stop_reason.startswith("breakdown")
