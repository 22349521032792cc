"""Sparse regression in process: objectives against scikit-learn's solvers run to a
tight tolerance, the certificate against an independent objective, KKT conditions,
paths, float32/sparse/intercept variants, and input errors naming their field."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from regression_problems import labels, objective, sparse_truth

from solvers.errors import Interrupted, SolverInputError
from solvers.regression import alpha_max, fit, path

linear_model = pytest.importorskip("sklearn.linear_model")


def _kkt(X, y, res, alpha, l1_ratio=1.0):
    """Subgradient optimality, computed from scratch (squared loss, centred data)."""
    Xc = np.asarray(X.toarray() if sp.issparse(X) else X)
    Xc = Xc - Xc.mean(axis=0) if res.intercept != 0 else Xc
    yc = y - y.mean() if res.intercept != 0 else y
    grad = -Xc.T @ (yc - Xc @ res.coef) / y.size + alpha * (1 - l1_ratio) * res.coef
    lam = alpha * l1_ratio
    on = res.coef != 0
    return max(np.max(np.abs(grad[on] + lam * np.sign(res.coef[on])), initial=0),
               np.max(np.abs(grad[~on]) - lam, initial=0))


@pytest.mark.parametrize("divisor", [5, 50])
@pytest.mark.parametrize("sparse", [False, True])
def test_lasso_matches_sklearn(divisor, sparse):
    X, y, _ = sparse_truth(200, 500, 10, sparse=sparse, offset=3.0)
    a = alpha_max(X, y) / divisor
    res = fit(X, y, a, tol=1e-10)
    ref = linear_model.Lasso(alpha=a, tol=1e-14, max_iter=200_000).fit(X, y)
    ours = objective(X, y, res.coef, res.intercept, a)
    theirs = objective(X, y, ref.coef_, ref.intercept_, a)
    assert res.converged and res.stop_reason == "gap" and res.relative_gap <= 1e-10
    assert ours <= theirs * (1 + 1e-9)
    assert ours == pytest.approx(res.primal + 0.0, rel=1e-9)  # same objective, written twice
    assert np.abs(res.coef - ref.coef_).max() < 1e-5 * np.abs(ref.coef_).max()
    assert res.intercept == pytest.approx(ref.intercept_, rel=1e-6)
    assert _kkt(X, y, res, a) < 1e-6 * a


def test_elastic_net_and_weights():
    X, y, _ = sparse_truth(150, 300, 8, seed=2)
    a = alpha_max(X, y, l1_ratio=0.3) / 10
    res = fit(X, y, a, l1_ratio=0.3, tol=1e-12)
    ref = linear_model.ElasticNet(alpha=a, l1_ratio=0.3, tol=1e-14, max_iter=200_000).fit(X, y)
    assert np.abs(res.coef - ref.coef_).max() < 1e-6
    assert _kkt(X, y, res, a, 0.3) < 1e-8
    v = np.linspace(0.5, 2.0, 300)
    # Feature weights v are a rescaling of the columns: w_j v_j on X[:, j] / v_j.
    weighted = fit(X, y, a, weights=v, fit_intercept=False, tol=1e-12)
    scaled = fit(X / v, y, a, fit_intercept=False, tol=1e-12)
    assert np.allclose(weighted.coef * v, scaled.coef, atol=1e-7)
    assert objective(X, y, weighted.coef, 0.0, a, weights=v) == pytest.approx(
        weighted.primal, rel=1e-10)


def test_certificate_bounds_the_true_suboptimality():
    X, y, _ = sparse_truth(100, 400, 20, seed=3)
    a = alpha_max(X, y) / 30
    best = fit(X, y, a, tol=1e-14).primal
    for tol in (1e-2, 1e-4):
        res = fit(X, y, a, tol=tol)
        # P(w) - P* <= gap, and the gap is what tol bounds relative to ||y - mean||^2 / n
        assert res.primal - best <= res.gap * (1 + 1e-9) + 1e-15
        assert res.relative_gap <= tol
        assert res.dual <= best + 1e-12


def test_l1_logistic_matches_saga():
    X, y, _ = labels(200, 60, 6, seed=4)
    a = alpha_max(X, y, loss="logistic") / 8
    res = fit(X, y, a, loss="logistic", tol=1e-12)
    ref = linear_model.LogisticRegression(l1_ratio=1.0, C=1 / (a * y.size), solver="saga",
                                          tol=1e-12, max_iter=100_000).fit(X, y)
    ours = objective(X, y, res.coef, res.intercept, a, loss="logistic")
    theirs = objective(X, y, ref.coef_.ravel(), ref.intercept_[0], a, loss="logistic")
    assert res.converged
    assert ours <= theirs * (1 + 1e-9)
    assert ours == pytest.approx(theirs, rel=1e-7)
    assert np.abs(res.coef - ref.coef_.ravel()).max() < 1e-3
    assert (res.predict(X) == np.where(X @ res.coef + res.intercept > 0, 1, 0)).all()
    assert set(np.unique(res.predict(X))) <= {0.0, 1.0}


def test_path_is_warm_and_matches_single_fits():
    X, y, _ = sparse_truth(100, 300, 10, seed=5)
    results = list(path(X, y, n_alphas=12, eps=1e-2))
    assert len(results) == 12 and all(r.converged for r in results)
    alphas = [r.alpha for r in results]
    assert alphas[0] == pytest.approx(alpha_max(X, y)) and np.all(np.diff(alphas) < 0)
    assert not results[0].coef.any()
    for r in results[3::4]:
        single = fit(X, y, r.alpha, tol=1e-12)
        assert r.primal == pytest.approx(single.primal, rel=1e-6)
    # warm starts reuse the previous alpha's pass: about one pass per alpha
    assert sum(r.passes for r in results) <= 3 * len(results)


def test_float32_and_hard_correlated_problem():
    rng = np.random.default_rng(6)
    n, p = 120, 400
    X = np.empty((n, p))
    X[:, 0] = rng.standard_normal(n)
    for j in range(1, p):
        X[:, j] = 0.9 * X[:, j - 1] + np.sqrt(1 - 0.81) * rng.standard_normal(n)
    y = X[:, ::40].sum(axis=1) + 0.1 * rng.standard_normal(n)
    a = alpha_max(X, y) / 1000  # support near n: coordinate passes, then Newton
    res = fit(X, y, a)
    assert res.converged and res.relative_gap <= 1e-6
    ref = linear_model.Lasso(alpha=a, tol=1e-12, max_iter=500_000).fit(X, y)
    assert res.primal <= objective(X, y, ref.coef_, ref.intercept_, a) * (1 + 1e-6)
    r32 = fit(X.astype(np.float32), y, alpha_max(X, y) / 10)
    r64 = fit(X, y, alpha_max(X, y) / 10)
    assert r32.converged and abs(r32.primal - r64.primal) < 1e-5 * r64.primal


def test_non_convergence_is_a_result():
    X, y, _ = sparse_truth(100, 300, 30, seed=7)
    res = fit(X, y, alpha_max(X, y) / 100, max_iter=1, tol=1e-14)
    assert not res.converged and res.stop_reason == "max_iterations" and res.iterations == 1


def test_stop_request_interrupts():
    X, y, _ = sparse_truth(100, 300, 30, seed=7)
    with pytest.raises(Interrupted):
        fit(X, y, 0.01, should_stop=lambda: "deadline")


@pytest.mark.parametrize("kwargs, field", [
    ({"alpha": 0.0}, "alpha"), ({"alpha": float("nan")}, "alpha"),
    ({"l1_ratio": 0.0}, "l1_ratio"), ({"l1_ratio": 1.5}, "l1_ratio"),
    ({"tol": 0.0}, "tol"), ({"max_iter": 0}, "max_iterations"),
    ({"loss": "hinge"}, "loss"), ({"weights": np.zeros(20)}, "weights"),
    ({"weights": np.ones(3)}, "weights"), ({"coef_init": np.ones(2)}, "coef_init"),
])
def test_bad_input_names_the_field(kwargs, field):
    X, y, _ = sparse_truth(30, 20, 3)
    args = {"alpha": 0.1, **kwargs}
    with pytest.raises(SolverInputError) as err:
        fit(X, y, **args)
    assert err.value.field == field


def test_bad_data_names_the_field():
    X, y, _ = sparse_truth(30, 20, 3)
    bad = X.copy()
    bad[0, 0] = np.nan
    for args, field in (((bad, y), "X"), ((X, y[:-1]), "y"), ((X, np.full(30, np.inf)), "y"),
                        ((X, np.ones(30)), "y")):
        loss = "logistic" if field == "y" and np.all(args[1] == 1) else "squared"
        with pytest.raises(SolverInputError) as err:
            fit(*args, 0.1, loss=loss)
        assert err.value.field == field
