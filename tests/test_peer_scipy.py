"""SciPy's kind of linear cases, written here: indefinite, singular and divergent systems
that no method can solve as asked. The answer is never worse than the start and never
NaN or inf: the best iterate seen, with converged=False and its true residual. And AUTO
honours the preconditioner it is given."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from solvers.linear import solve

from problems import poisson_2d

N = 400
LAP = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(N, N)).tocsr()
B = np.random.default_rng(0).standard_normal(N)
_INDEFINITE = (sp.diags(np.linspace(-1.0, 3.0, N)) + sp.random(N, N, density=0.01,
                                                             random_state=1))
INDEFINITE = (_INDEFINITE + _INDEFINITE.T).tocsr()
NONSYMMETRIC = (sp.random(N, N, density=0.05, random_state=3) - 0.5 * sp.eye(N)).tocsr()


def _true(a, x, b) -> float:
    return float(np.linalg.norm(b - a @ x) / np.linalg.norm(b))


@pytest.mark.parametrize(("method", "a", "options"), [
    ("cg", INDEFINITE, {}), ("ssor_cg", INDEFINITE, {}), ("sor", INDEFINITE, {"omega": 1.5}),
    ("sor", (LAP - sp.eye(N)).tocsr(), {"omega": 1.9}), ("bicgstab", NONSYMMETRIC, {}),
    ("gmres", NONSYMMETRIC, {"restart": 5}), ("cg", NONSYMMETRIC, {}),
    ("recycled_cg", INDEFINITE, {}), ("gcrodr", NONSYMMETRIC, {"restart": 10, "recycle": 4})])
def test_a_failed_solve_is_never_worse_than_its_start(method, a, options) -> None:
    """From x0 = 0 the start's relative residual is 1. CG on an indefinite matrix had
    returned NaN, SOR inf, BiCGStab a residual of 1e152."""
    r = solve(a, B, method=method, rtol=1e-12, maxiter=3000, **options)
    assert not r.converged
    assert np.isfinite(r.x).all()
    assert r.residual_norm <= 1.0 + 1e-12
    assert r.residual_norm == pytest.approx(_true(a, r.x, B), rel=1e-9)


def test_a_divergent_sor_returns_its_best_iterate() -> None:
    """SOR on a matrix with one negative eigenvalue first converges (0.14 at sweep 128),
    then diverges (3e12 at 16,384): the checkpoint wins."""
    a = (LAP - 2e-3 * sp.eye(N)).tocsr()
    r = solve(a, B, method="sor", omega=1.0, rtol=1e-12, maxiter=16_384)
    assert not r.converged and r.iterations == 16_384
    assert r.residual_norm < 0.15
    assert r.residual_norm == pytest.approx(_true(a, r.x, B), rel=1e-9)
    assert r.extra["checkpoint_matvecs"] >= 8


@pytest.mark.parametrize("method", ["direct", "gmres", "minres", "bicgstab"])
def test_a_singular_inconsistent_system_is_not_claimed_solved(method: str) -> None:
    a = LAP.tolil()
    a[0, 0] = 1.0  # the Neumann Laplacian: singular along the constant vector
    a[N - 1, N - 1] = 1.0
    a = a.tocsr()
    b = B - 0.0  # not orthogonal to the null space: no solution
    r = solve(a, b, method=method, rtol=1e-10, maxiter=2000)
    assert not r.converged and np.isfinite(r.x).all() and r.residual_norm <= 1.0 + 1e-12


def test_a_singular_consistent_system_is_solved() -> None:
    a = LAP.tolil()
    a[0, 0] = 1.0
    a[N - 1, N - 1] = 1.0
    a = a.tocsr()
    b = B - B.mean()  # in the range
    for method in ("minres", "cg"):
        r = solve(a, b, method=method, rtol=1e-9, maxiter=5000)
        assert r.converged and _true(a, r.x, b) <= 1e-9, method


def test_auto_follows_the_preconditioner_it_is_given() -> None:
    """A large SPD matrix: AUTO picks CG, which cannot take ILU; with ILU it picks GMRES
    (it had refused the request)."""
    a = poisson_2d(160)  # 25,600 rows: over AUTO's direct limit
    b = np.ones(a.shape[0])
    plain = solve(a, b, rtol=1e-8)
    assert plain.method == "cg"
    r = solve(a, b, rtol=1e-8, preconditioner="ilu")
    assert r.method == "gmres" and r.converged and _true(a, r.x, b) <= 1e-8


def test_failures_over_the_wire(client) -> None:
    r = client.solve(INDEFINITE, B, method="cg", rtol=1e-12)
    assert not r.converged and np.isfinite(r.x).all() and r.residual_norm <= 1.0 + 1e-12
    a = poisson_2d(160)
    b = np.ones(a.shape[0])
    ilu = client.solve(a, b, rtol=1e-8, preconditioner="ilu")
    assert ilu.converged and ilu.method == "gmres"
    mats = [poisson_2d(40) * (1 + 0.1 * k) for k in range(3)]
    batch = client.solve_batch(mats, np.ones(1600), rtol=1e-8, preconditioner="ilu")
    assert all(x.converged and x.method == "gcrodr" for x in batch)
