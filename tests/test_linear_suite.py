"""Every problem of bench/linear.py's suite, at a small size: AUTO's answer and the AMG
answer (CG for the symmetric ones, GMRES otherwise) checked against SuperLU on the true
residual, and nothing claims a convergence its true residual denies."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse.linalg as spla

from solvers.linear import solve
from solvers.linear.amg import AmgOptions

from linear_suite import suite

RTOL = 1e-9
PROBLEMS = suite(False, np.random.default_rng(0), divisor=8)


def _check(p, r) -> None:
    residual = np.linalg.norm(p.b - p.a @ r.x) / np.linalg.norm(p.b)
    assert r.converged == (residual <= RTOL * (1 + 1e-9)), (r.stop_reason, residual)
    if r.converged:
        ref = spla.spsolve(p.a.tocsc(), p.b)
        assert np.linalg.norm(r.x - ref) <= 1e-5 * np.linalg.norm(ref)


@pytest.mark.parametrize("p", PROBLEMS, ids=[p.name for p in PROBLEMS])
def test_auto_answers_every_suite_problem(p) -> None:
    r = solve(p.a, p.b, rtol=RTOL)
    assert r.converged, r.extra.get("auto_reason")
    _check(p, r)


@pytest.mark.parametrize("p", PROBLEMS, ids=[p.name for p in PROBLEMS])
def test_amg_answers_or_says_it_did_not(p) -> None:
    options = AmgOptions(near_nullspace=p.near_nullspace)
    method = "cg" if p.symmetric else "gmres"
    r = solve(p.a, p.b, method=method, preconditioner="amg", amg_options=options, rtol=RTOL,
              maxiter=500)
    _check(p, r)
    if "shifted" not in p.name:  # indefinite: CG breaks down there, and says so
        assert r.converged
