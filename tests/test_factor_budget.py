"""The factorisation memory budget: the estimate of a sparse LU's factors against
SuperLU's own count, AUTO turning to an iterative method when a factorisation would not
fit, METHOD_DIRECT refused naming `method`, and the server's --max-factor-bytes."""

from __future__ import annotations

import numpy as np
import pyamg
import pytest
import scipy.sparse.linalg as spla

from solverd import Client, InvalidArgument
from solvers.errors import SolverInputError
from solvers.linear import solve
from solvers.linear.direct import FACTOR_ENTRY_BYTES, factor_bytes, superlu_ordering
from solvers.linear.solve import choose

from conftest import start_server
from problems import convection_diffusion_2d, poisson_2d, relative_residual


@pytest.mark.parametrize("a", [
    poisson_2d(150), convection_diffusion_2d(120, peclet=400.0),
    pyamg.gallery.linear_elasticity((40, 40), format="csr")[0],
    pyamg.gallery.linear_elasticity((80, 80), format="csr")[0],
    pyamg.gallery.poisson((12, 12, 12), format="csr"),
    pyamg.gallery.poisson((18, 18, 18), format="csr"),
])
def test_the_estimate_bounds_superlus_fill_within_2_5x(a) -> None:
    lu = spla.splu(a.tocsc(), permc_spec=superlu_ordering(a))
    actual = FACTOR_ENTRY_BYTES * lu.nnz
    assert actual <= factor_bytes(a) <= 2.5 * actual


def test_auto_turns_iterative_when_the_factors_would_not_fit() -> None:
    a = convection_diffusion_2d(60, peclet=20.0)  # 3,600 rows: AUTO would factorise
    b = np.ones(a.shape[0])
    assert choose(a)[0] == "direct"
    budget = factor_bytes(a) / 2
    method, preconditioner, reason = choose(a, factor_budget=budget)
    assert (method, preconditioner) == ("gmres", "amg") and "exceeds the budget" in reason
    r = solve(a, b, rtol=1e-10, factor_budget=budget)
    assert r.method == "gmres" and r.converged and relative_residual(a, r.x, b) <= 1e-10
    assert "exceeds the budget" in r.extra["auto_reason"]


def test_a_direct_solve_over_the_budget_is_refused_naming_method() -> None:
    a = poisson_2d(40)
    with pytest.raises(SolverInputError) as err:
        solve(a, np.ones(a.shape[0]), method="direct", factor_budget=1000.0)
    assert err.value.field == "method" and "MiB of factors" in str(err.value)
    assert solve(a, np.ones(a.shape[0]), method="direct", factor_budget=None).converged


def test_the_server_budget() -> None:
    a = convection_diffusion_2d(60, peclet=20.0)
    b = np.ones(a.shape[0])
    server = start_server("--backend", "cpu", "--max-factor-bytes", "100000")
    try:
        with Client(server.address, timeout=60) as client:
            assert client.info().limits["max_factor_bytes"] == 100_000
            with pytest.raises(InvalidArgument) as err:
                client.solve(a, b, method="direct")
            assert any(v.field == "method" for v in err.value.violations)
            r = client.solve(a, b, rtol=1e-10)
            assert r.method == "gmres" and r.converged and "budget" in r.auto_reason
    finally:
        server.stop()
