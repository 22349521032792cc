"""POT's kind of cases, written here: Gaussian clouds with unscaled squared distances
(POT's own test problem has max cost 31), regularisations down to 3e-5 of the cost,
costs scaled over six orders of magnitude. Every answer is finite and honest; every
converged one is the entropic optimum, certified by its own potentials, and matches
POT's log-domain Sinkhorn where that converges in reasonable time."""

from __future__ import annotations

import warnings

import numpy as np
import ot
import pytest

from solvers.transport import transport

_RNG = np.random.RandomState(0)
X, Y = _RNG.randn(100, 2), _RNG.randn(100, 2)
A = np.full(100, 0.01)
M = ot.dist(X, Y)  # unscaled: max 30.9, as in POT's tests


def _certified(r, a: np.ndarray, b: np.ndarray, cost: np.ndarray, reg: float, tol: float
               ) -> None:
    """The plan is exp((f + g - M) / reg) for its own potentials, and has marginals a, b:
    the optimality conditions of entropic transport, so it is the optimum."""
    P = r.plan
    assert np.isfinite(P).all() and np.isfinite(r.cost)
    assert abs(P.sum(1) - a).sum() <= tol and abs(P.sum(0) - b).sum() <= tol
    with np.errstate(under="ignore"):
        gibbs = np.exp((r.f[:, None] + r.g[None, :] - cost) / reg)
    np.testing.assert_allclose(gibbs, P, rtol=1e-6, atol=1e-14)
    assert r.cost == pytest.approx(float((P * cost).sum()), rel=1e-12)


@pytest.mark.parametrize("method", ["auto", "sns"])
def test_pots_problem_at_small_reg_converges_with_no_empty_column(method: str) -> None:
    """reg 1e-3 on the unscaled cost: Sinkhorn's kernel cannot hold some columns (every
    entry underflows). This once stalled at an L1 error of 0.68 with two empty columns,
    and SNS returned NaN."""
    r = transport(A, A, M, reg=1e-3, method=method, maxiter=200_000)
    assert r.converged, (r.stop_reason, r.marginal_error_a, r.marginal_error_b)
    assert (r.plan.sum(axis=0) > 0).all()
    _certified(r, A, A, M, 1e-3, 2e-9)


def test_plain_sinkhorn_at_small_reg_makes_progress_and_says_so() -> None:
    """Sinkhorn at 3e-5 of the cost converges too slowly for any budget; it must still
    move (no frozen kernel), end finite and report itself unconverged."""
    short = transport(A, A, M, reg=1e-3, method="sinkhorn", maxiter=200)
    longer = transport(A, A, M, reg=1e-3, method="sinkhorn", maxiter=5000)
    assert not longer.converged and np.isfinite(longer.plan).all()
    # Columns are exact after each v-step: the rows carry the error.
    assert longer.marginal_error_a < 0.5 * short.marginal_error_a
    assert longer.marginal_error_a == pytest.approx(abs(longer.plan.sum(1) - A).sum())


@pytest.mark.parametrize("scale", [1e-3, 1.0, 1e3])
@pytest.mark.parametrize("relative", [1e-1, 1e-2, 1e-3, 1e-4])
def test_every_cost_scale_and_regularisation(scale: float, relative: float) -> None:
    """The plan depends on M / reg only: the same answer at every scale, never NaN, and
    the converged methods agree with each other."""
    b = np.full(120, 1 / 120)
    cost = ot.dist(X, np.random.RandomState(1).randn(120, 2) + 0.5) * scale
    reg = relative * scale
    answers = {}
    for method in ("sinkhorn", "sinkhorn_eps", "sns", "auto"):
        r = transport(A, b, cost, reg=reg, method=method, maxiter=20_000)
        assert np.isfinite(r.plan).all() and np.isfinite(r.cost)
        assert r.marginal_error_b == pytest.approx(abs(r.plan.sum(0) - b).sum(), abs=1e-15)
        if method in ("sns", "auto"):
            assert r.converged
        if r.converged:
            answers[method] = r.cost / scale
    reference = answers["sns"]
    for method, value in answers.items():
        assert value == pytest.approx(reference, rel=1e-6), method


@pytest.mark.parametrize("reg", [1.0, 0.1])
def test_matches_pots_log_domain_sinkhorn_run_to_convergence(reg: float) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        G = ot.bregman.sinkhorn_log(A, A, M, reg, numItermax=100_000, stopThr=1e-12)
    assert abs(G.sum(1) - A).sum() + abs(G.sum(0) - A).sum() < 1e-10
    for method in ("sinkhorn", "sns", "auto"):
        r = transport(A, A, M, reg=reg, method=method, tol=1e-11)
        assert r.converged
        np.testing.assert_allclose(r.plan, G, atol=1e-10)
        assert r.cost == pytest.approx(float((G * M).sum()), rel=1e-8)


# -- solverd.ot, the drop-in: what POT accepts and returns ------------------------------

@pytest.fixture()
def sot(server):
    """solverd.ot with client= bound to the test server by address, as a user would."""
    import functools

    import solverd.ot as module

    class Bound:
        def __getattr__(self, name: str):
            return functools.partial(getattr(module, name), client=server.address)

    return Bound()


def test_several_target_histograms(sot) -> None:
    rng = np.random.RandomState(0)
    b = rng.rand(100, 3)
    b /= b.sum(axis=0)
    costs = sot.sinkhorn2(A, b, M, 1.0, stopThr=1e-10)
    assert costs.shape == (3,)
    for k in range(3):
        assert costs[k] == pytest.approx(ot.sinkhorn2(A, b[:, k], M, 1.0, stopThr=1e-10),
                                         rel=1e-7)
    np.testing.assert_allclose(sot.sinkhorn(A, b, M, 1.0, stopThr=1e-10), costs, rtol=1e-12)
    exact = sot.emd2(A, b, M, 1)  # POT's positional `processes`
    np.testing.assert_allclose(exact, [ot.emd2(A, b[:, k], M) for k in range(3)], rtol=1e-9)
    logged = sot.emd2(A, b, M, log=True, return_matrix=True)
    assert isinstance(logged, list) and len(logged) == 3
    for k, (cost, info) in enumerate(logged):
        G = info["G"]
        assert cost == pytest.approx(float((G * M).sum()), rel=1e-12)
        np.testing.assert_allclose(G.sum(axis=0), b[:, k], atol=1e-12)
        # centred duals (POT's convention) that certify the plan
        assert (info["u"][:, None] + info["v"][None, :] - M).max() < 1e-9
        assert A @ info["u"] == pytest.approx(b[:, k] @ info["v"], abs=1e-12)


def test_a_sparse_cost_restricts_transport_to_its_entries(sot) -> None:
    import scipy.sparse as sp

    rng = np.random.default_rng(42)
    n = 60
    rows = np.concatenate([np.arange(n), np.arange(n)])
    cols = np.concatenate([rng.permutation(n), rng.permutation(n)])
    cost = sp.coo_array((rng.random(2 * n), (rows, cols)), shape=(n, n))
    u = np.full(n, 1 / n)
    G, log = sot.emd(u, u, cost, log=True)
    assert isinstance(G, sp.coo_array)
    assert log["cost"] == pytest.approx(float((G * cost).sum()), rel=1e-12)
    assert log["cost"] == pytest.approx(float(ot.emd2(u, u, cost)), rel=1e-9)
    dense = cost.toarray()
    assert set(zip(*G.nonzero(), strict=True)) <= set(zip(*dense.nonzero(), strict=True))
    # Zeros are not free: the dense matrix of the same entries is another problem.
    assert sot.emd2(u, u, dense) < log["cost"]
    blocked = sp.coo_array((np.ones(n), (np.arange(n), np.zeros(n, dtype=int))),
                           shape=(n, n))
    with pytest.warns(UserWarning, match="infeasible"):
        sot.emd2(u, u, blocked)  # every row must send its mass to column 0: infeasible


def test_dtypes_warnings_and_keywords_as_pot(sot, server) -> None:
    M32, A32 = M.astype(np.float32), A.astype(np.float32)
    assert sot.sinkhorn(A32, A32, M32, 1.0).dtype == np.float32
    assert sot.sinkhorn2(A32, A32, M32, 1.0).dtype == np.float32
    assert sot.emd(A32, A32, M32).dtype == np.float32
    assert sot.emd2(A32, A32, M32).dtype == np.float32
    assert sot.emd2(A, A, M).dtype == np.float64
    with pytest.warns(UserWarning, match="did not converge"):
        sot.sinkhorn(A, A, M, 1.0, stopThr=0, numItermax=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sot.sinkhorn2(A, A, M, 1.0, stopThr=0, numItermax=1)  # POT's sinkhorn2: warn=False
        sot.sinkhorn(A, A, M, 1.0, stopThr=0, numItermax=1, warn=False)
        sot.sinkhorn2(A, A, M, 1.0, tau=1e3, print_period=5)  # POT's tuning: accepted
    with pytest.warns(UserWarning, match="numItermax"):
        G = sot.emd(A, A, M, numItermax=5)
    np.testing.assert_allclose(G.sum(axis=1), A, atol=1e-12)  # the plan reached: feasible
    with pytest.raises(TypeError, match="stopThrr"):
        sot.sinkhorn(A, A, M, 1.0, stopThrr=1e-3)
    with pytest.raises(ValueError, match="emd"):
        sot.sinkhorn(A, A, M, 0.0)
    green = sot.sinkhorn(A, A, M, 1.0, method="greenkhorn", stopThr=1e-10)
    np.testing.assert_allclose(green, sot.sinkhorn(A, A, M, 1.0, stopThr=1e-10), atol=1e-12)
    empty = sot.emd([], [], M)  # POT's empty histograms: uniform
    np.testing.assert_allclose(empty, ot.emd([], [], M), atol=1e-12)


def test_sparse_cost_over_the_wire_is_validated(client) -> None:
    import scipy.sparse as sp

    from solverd import InvalidArgument

    cost = sp.coo_array(([1.0, 2.0], ([0, 1], [1, 0])), shape=(2, 2))
    with pytest.raises(InvalidArgument) as info:
        client.transport(None, None, cost, reg=1e-2, method="sinkhorn")
    assert info.value.violations[0].field == "sparse_cost"
    r = client.transport(None, None, cost, method="exact", plan="sparse")
    assert r.converged and r.cost == pytest.approx(1.5) and r.plan.nnz == 2
