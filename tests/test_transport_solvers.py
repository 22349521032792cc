"""Optimal transport solvers against independent references: POT's exact `ot.emd2`,
POT's Sinkhorn run far past our tolerance, and POT's unbalanced Sinkhorn."""

from __future__ import annotations

import numpy as np
import pytest

from solvers.errors import SolverInputError
from solvers.transport import cost_matrix, transport
from solvers.transport.exact import exact_transport
from solvers.transport.kernel import Kernel
from solvers.transport.sinkhorn import sinkhorn_steps

ot = pytest.importorskip("ot")


def clouds(n: int, m: int, seed: int = 0, uniform: bool = False):
    rng = np.random.default_rng(seed)
    X, Y = rng.random((n, 2)), rng.random((m, 2))
    M = ot.dist(X, Y)
    M /= M.max()
    if uniform:
        return np.full(n, 1 / n), np.full(m, 1 / m), M, X, Y
    a, b = rng.random(n) + 0.1, rng.random(m) + 0.1
    return a / a.sum(), b / b.sum(), M, X, Y


@pytest.mark.parametrize(("reg", "method"), [(1e-1, "sinkhorn"), (1e-2, "sinkhorn"),
                                              (1e-2, "sinkhorn_eps"), (2e-3, "sns"),
                                              (2e-3, "sinkhorn"), (2e-3, "auto")])
def test_entropic_plan_matches_pot(reg, method):
    a, b, M, _, _ = clouds(120, 90)
    r = transport(a, b, M, reg=reg, method=method, tol=1e-10)
    P = ot.sinkhorn(a, b, M, reg, stopThr=1e-14, numItermax=500_000)
    assert r.converged
    assert max(r.marginal_error_a, r.marginal_error_b) <= 1e-10
    assert abs(r.cost - (P * M).sum()) <= 1e-7 * (P * M).sum()
    assert np.abs(r.plan - P).max() <= 1e-8 * P.max() + 1e-13
    # The potentials reproduce the plan: P = exp((f + g - M) / reg).
    rebuilt = np.exp((r.f[:, None] + r.g[None, :] - M) / reg)
    assert np.abs(rebuilt - r.plan).max() <= 1e-9 * P.max()
    entropy = (P[P > 0] * np.log(P[P > 0])).sum()
    assert r.objective == pytest.approx((P * M).sum() + reg * entropy, rel=1e-6)


def test_auto_picks_newton_only_for_small_reg():
    a, b, M, _, _ = clouds(60, 60)
    assert transport(a, b, M, reg=1e-1).method == "sinkhorn"
    assert transport(a, b, M, reg=1e-3).method == "sns"
    assert transport(a, b, M, reg=1e-3 * 50, method="auto").method == "sinkhorn"


def test_small_reg_never_overflows_or_empties_the_plan():
    # POT's sinkhorn overflows here and its stabilised variants return a near-empty plan.
    a, b, M, _, _ = clouds(200, 200, uniform=True)
    r = transport(a, b, M, reg=1e-5, method="sns", tol=1e-9)
    assert r.converged and np.isfinite(r.plan).all()
    assert r.plan.sum() == pytest.approx(1.0, abs=1e-9)
    exact = ot.emd2(a, b, M)
    # Entropic cost above the exact one, and close at this reg.
    assert exact - 1e-12 <= r.cost <= exact * 1.05


def test_sinkhorn_at_tiny_reg_stays_finite_and_reports_progress():
    a, b, M, _, _ = clouds(80, 80, uniform=True)
    r = transport(a, b, M, reg=1e-4, method="sinkhorn", maxiter=300)
    assert not r.converged and r.stop_reason == "max_iterations"
    assert np.isfinite(r.plan).all() and np.isfinite(r.f).all()
    assert max(r.marginal_error_a, r.marginal_error_b) > 1e-9


def test_kernel_rebuild_keeps_rows_exact():
    a, b, M, _, _ = clouds(50, 40)
    k = Kernel(np, M, a, b, 1e-4)
    rows, _ = k.marginals()
    np.testing.assert_allclose(rows, a, rtol=1e-12)
    stage = sinkhorn_steps(k, 1e-9, 5)
    assert stage.iterations == 5 and not stage.converged


@pytest.mark.parametrize("uniform", [True, False])
def test_exact_matches_emd2(uniform):
    a, b, M, _, _ = clouds(150, 150 if uniform else 110, seed=3, uniform=uniform)
    r = transport(a, b, M, method="exact", potentials=True)
    w = ot.emd2(a, b, M, numItermax=10**7)
    assert r.converged
    assert r.cost == pytest.approx(w, rel=1e-9)
    assert max(r.marginal_error_a, r.marginal_error_b) <= 1e-12
    # Dual certificate: feasible potentials whose value equals the cost.
    assert (M - r.f[:, None] - r.g[None, :]).min() >= -1e-9
    assert a @ r.f + b @ r.g == pytest.approx(w, rel=1e-8)


def _degenerate_instances(count: int):
    """Random, rectangular, integer (ties everywhere: degenerate pivots), massless and
    single-row/column transport problems."""
    rng = np.random.default_rng(11)
    for k in range(count):
        n, m = (1, int(rng.integers(1, 9))) if k % 10 == 0 else \
            (int(rng.integers(2, 40)), int(rng.integers(2, 40)))
        if k % 3 == 0:
            a, b = rng.random(n), rng.random(m)
        elif k % 3 == 1:
            a = rng.integers(0, 4, n).astype(float)
            b = rng.integers(0, 4, m).astype(float)
            a[0] += 1
            b[0] += 1
        else:
            a, b = np.ones(n), np.ones(m)
        M = rng.integers(0, 5, (n, m)).astype(float) if k % 2 else rng.random((n, m))
        if k % 5 == 4:  # costs float32 cannot tell apart: its pricing must hand over
            M = M + 1e-9 * rng.random((n, m))
        yield a / a.sum(), b / b.sum(), M


@pytest.mark.parametrize("coarse", [False, True])
def test_network_simplex_on_degenerate_problems(coarse, monkeypatch):
    """Float64 pricing only, and (coarse) float32 pricing first as for large M."""
    import solvers.transport.simplex as simplex

    if coarse:
        monkeypatch.setattr(simplex, "COARSE_PRICING_CELLS", 0)
    solved = 0
    for a, b, M in _degenerate_instances(240):
        solution = exact_transport(a, b, M)
        assert solution.path == "simplex" and solution.converged and solution.rounds == 0
        P = solution.plan.toarray()
        w = ot.emd2(a, b, M, numItermax=10**7)
        assert P.min() >= 0 and float((P * M).sum()) == pytest.approx(w, rel=1e-9, abs=1e-13)
        assert np.abs(P.sum(axis=1) - a).sum() + np.abs(P.sum(axis=0) - b).sum() <= 1e-12
        # A basic plan (at most n + m - 1 cells) and a dual certificate of optimality.
        assert solution.plan.nnz <= a.size + b.size - 1
        f, g = solution.f, solution.g
        assert (M - f[:, None] - g[None, :]).min() >= -1e-11
        assert a @ f + b @ g == pytest.approx(w, rel=1e-9, abs=1e-13)
        solved += 1
    assert solved > 200


def test_pivot_cap_falls_back_to_column_generation(monkeypatch):
    import solvers.transport.exact as exact

    monkeypatch.setattr(exact, "PIVOTS_PER_NODE", 0)
    a, b, M, _, _ = clouds(60, 45, seed=4)
    solution = exact_transport(a, b, M)
    assert solution.path == "lp" and solution.converged and solution.rounds >= 1
    assert float(solution.plan.multiply(M).sum()) == pytest.approx(ot.emd2(a, b, M), rel=1e-9)


def test_exact_assignment_is_a_permutation_with_potentials():
    """Uniform weights on n = m points: the simplex's basic plan is a permutation / n
    (Birkhoff-von Neumann), whatever the degenerate zero-flow tree edges."""
    a, b, M, _, _ = clouds(40, 40, uniform=True)
    solution = exact_transport(a, b, M)
    P = solution.plan.toarray()
    assert solution.path == "simplex" and solution.plan.nnz == 40
    assert np.allclose(np.sort(P, axis=1)[:, -1], 1 / 40) and np.allclose(P.sum(axis=0), 1 / 40)
    assert float((P * M).sum()) == pytest.approx(ot.emd2(a, b, M), rel=1e-12)
    assert (M - solution.f[:, None] - solution.g[None, :]).min() >= -1e-11


@pytest.mark.parametrize("reg_m", [0.05, 1.0])
@pytest.mark.parametrize("method", ["sinkhorn", "sinkhorn_eps"])
def test_unbalanced_matches_pot(reg_m, method):
    a, b, M, _, _ = clouds(70, 50)
    b = 1.5 * b  # different masses: only unbalanced transport can take this
    r = transport(a, b, M, reg=1e-2, reg_m=reg_m, method=method, tol=1e-12)
    P = ot.unbalanced.sinkhorn_unbalanced(a, b, M, 1e-2, reg_m, reg_type="entropy",
                                          stopThr=1e-14, numItermax=200_000)
    assert r.converged
    assert np.abs(r.plan - P).max() <= 1e-9 * P.max()


def test_points_give_the_same_answer_as_their_cost():
    a, b, M, X, Y = clouds(60, 50)
    for metric, ref in (("sqeuclidean", "sqeuclidean"), ("euclidean", "euclidean"),
                        ("cityblock", "cityblock")):
        np.testing.assert_allclose(cost_matrix(np, X, Y, metric), ot.dist(X, Y, metric=ref),
                                   atol=1e-12)
    from_points = transport(a, b, X=X, Y=Y, scale="max", reg=1e-2)
    from_cost = transport(a, b, M, reg=1e-2)
    assert from_points.cost == pytest.approx(from_cost.cost, rel=1e-10)
    assert from_points.cost_scale == pytest.approx(ot.dist(X, Y).max())


def test_massless_points_get_no_mass():
    a, b, M, _, _ = clouds(60, 50)
    a[:5] = 0
    a /= a.sum()
    r = transport(a, b, M, reg=1e-2, tol=1e-11)
    P = ot.sinkhorn(a, b, M, 1e-2, stopThr=1e-14, numItermax=100_000)
    assert r.converged and np.isfinite(r.f).all()
    assert np.abs(r.plan - P).max() <= 1e-9 * P.max()
    assert r.plan[:5].sum() == 0


def test_sparse_plan_reports_what_it_dropped():
    a, b, M, _, _ = clouds(100, 100)
    dense = transport(a, b, M, reg=1e-2)
    sparse = transport(a, b, M, reg=1e-2, plan="sparse", plan_threshold=1e-4)
    kept = sparse.plan.sum()
    assert sparse.plan.nnz < 0.5 * 100 * 100
    assert sparse.dropped_mass == pytest.approx(1 - kept, abs=1e-9)
    assert sparse.marginal_error_a >= sparse.dropped_mass - 1e-9
    assert dense.marginal_error_a <= 1e-9


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"reg": -1.0}, "reg"), ({"method": "nope"}, "method"), ({"tol": 0.0}, "tol"),
    ({"reg_m": -1.0}, "reg_m"), ({"plan": "csr"}, "plan"), ({"metric": "cosine"}, "metric"),
    ({"method": "sns", "reg_m": 1.0}, "method"), ({"method": "sinkhorn", "reg": 0.0}, "reg"),
])
def test_bad_options_name_their_field(kwargs, field):
    a, b, M, _, _ = clouds(10, 10)
    with pytest.raises(SolverInputError) as err:
        transport(a, b, M, **kwargs)
    assert err.value.field == field


def test_unequal_masses_are_refused_when_balanced():
    a, b, M, _, _ = clouds(10, 10)
    for method, factor in [("auto", 2.0), ("exact", 2.0), ("auto", 1 + 1e-5),
                           ("exact", 1 + 1e-5)]:
        with pytest.raises(SolverInputError) as err:
            transport(a, factor * b, M, reg=1e-2, method=method)
        assert err.value.field == "b"


@pytest.mark.parametrize("method", ["exact", "sinkhorn", "sns"])
def test_float32_histograms_are_taken_as_pot_takes_them(method):
    """Histograms normalised apart in float32 differ in mass by ~1e-8 (as PyTorch's
    tensors do); they were refused as unequal. POT's emd takes sums equal to 6 decimals
    and rescales b; so does balanced transport here, and the answer is POT's."""
    a, b, M, _, _ = clouds(150, 120, seed=3)
    a32, b32 = a.astype(np.float32), b.astype(np.float32)
    a32, b32 = a32 / a32.sum(), b32 / b32.sum()
    assert a32.astype(np.float64).sum() != b32.astype(np.float64).sum()
    a64, b64 = a32.astype(np.float64), b32.astype(np.float64)
    reg = 0.0 if method == "exact" else 2e-3
    r = transport(a32, b32, M, reg=reg or 1e-2, method=method, tol=1e-10)
    assert r.converged
    b_at_a = b64 * (a64.sum() / b64.sum())
    assert np.abs(np.asarray(r.plan).sum(axis=0) - b_at_a).sum() <= 1e-9
    if method == "exact":
        assert r.cost == pytest.approx(ot.emd2(a64, b64, M), rel=1e-12)
    else:
        P = ot.sinkhorn(a64, b_at_a, M, reg, stopThr=1e-14, numItermax=500_000)
        assert r.cost == pytest.approx((P * M).sum(), rel=1e-7)


def test_masses_within_the_tolerance_are_rescaled():
    a, b, M, _, _ = clouds(150, 120, seed=3)
    # Just inside the tolerance: b is rescaled; the exact cost scales with it.
    near = transport(a, b * (1 + 5e-7), M, method="exact", reg=0.0)
    assert near.converged and near.cost == pytest.approx(ot.emd2(a, b, M), rel=1e-12)
    # The entropic methods keep taking masses within their own tol apart, rescaled.
    loose = transport(a, b * (1 + 1e-4), M, reg=1e-2, tol=1e-3)
    assert loose.converged and np.abs(np.asarray(loose.plan).sum(axis=0) - b).sum() <= 1e-3
