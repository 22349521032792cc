"""Sparse regression over gRPC: the same answers as in process, sparse and float32
designs, the streamed path, bad input as INVALID_ARGUMENT naming the field."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from regression_problems import labels, objective, sparse_truth

from solverd import DeadlineExceeded, InvalidArgument
from solvers.regression import alpha_max, fit

linear_model = pytest.importorskip("sklearn.linear_model")


def test_lasso_matches_in_process_and_sklearn(client):
    X, y, _ = sparse_truth(200, 400, 10, offset=2.0)
    a = alpha_max(X, y) / 20
    res = client.lasso(X, y, alpha=a, tol=1e-10)
    local = fit(X, y, a, tol=1e-10)
    assert res.converged and res.stop_reason == "gap" and res.relative_gap <= 1e-10
    np.testing.assert_allclose(res.coef, local.coef, atol=1e-12)
    assert res.intercept == pytest.approx(local.intercept)
    ref = linear_model.Lasso(alpha=a, tol=1e-14, max_iter=100_000).fit(X, y)
    assert res.primal == pytest.approx(objective(X, y, ref.coef_, ref.intercept_, a), rel=1e-8)
    assert set(res.support) == set(np.flatnonzero(res.coef))
    assert res.passes >= 1 and res.working_set_sizes and res.info.compute_seconds > 0
    np.testing.assert_allclose(res.predict(X), X @ res.coef + res.intercept)


def test_sparse_float32_elastic_net_and_sparse_coef(client):
    X, y, _ = sparse_truth(300, 800, 15, sparse=True, seed=1)
    a = alpha_max(X, y, l1_ratio=0.7) / 30
    res = client.elastic_net(sp.csc_matrix(X, dtype=np.float32), y, alpha=a, l1_ratio=0.7,
                             coef_format="sparse")
    ref = linear_model.ElasticNet(alpha=a, l1_ratio=0.7, tol=1e-12, max_iter=100_000).fit(X, y)
    assert res.converged and res.info.precision == "float32"
    assert res.primal == pytest.approx(
        objective(X, y, ref.coef_, ref.intercept_, a, 0.7), rel=1e-5)
    assert np.abs(res.coef - ref.coef_).max() < 1e-3 * np.abs(ref.coef_).max()


def test_logistic_l1(client):
    X, y, _ = labels(300, 100, 8, seed=2)
    a = alpha_max(X, y, loss="logistic") / 10
    res = client.logistic_l1(X, y * 3 + 1, alpha=a)  # labels 1 and 4
    assert res.converged and res.classes == (1.0, 4.0)
    assert set(np.unique(res.predict(X))) <= {1.0, 4.0}
    local = fit(X, y, a, loss="logistic")
    assert res.primal == pytest.approx(local.primal, rel=1e-9)


def test_path_streams_every_alpha(client):
    X, y, _ = sparse_truth(150, 300, 10, seed=3)
    results = client.lasso_path(X, y, n_alphas=15, eps=1e-2)
    assert [r.index for r in results] == list(range(15))
    assert all(r.converged for r in results)
    alphas = np.array([r.alpha for r in results])
    assert np.all(np.diff(alphas) < 0) and alphas[0] == pytest.approx(alpha_max(X, y))
    assert not results[0].coef.any() and results[-1].support.size > 5
    given = client.lasso_path(X, y, alphas=[0.5, 0.05, 0.2])
    assert [r.alpha for r in given] == [0.5, 0.2, 0.05]


@pytest.mark.parametrize("kwargs, field", [
    ({"alpha": -1.0}, "alpha"),
    ({"l1_ratio": 0.0}, "problem.l1_ratio"),
    ({"tol": -1.0}, "problem.tol"),
    ({"feature_weights": np.zeros(20)}, "problem.feature_weights.data"),
    ({"feature_weights": np.ones(3)}, "problem.feature_weights.shape"),
    ({"coef_init": np.ones(3)}, "coef_init.shape"),
    ({"y": np.ones(5)}, "problem.y.shape"),
    ({"y": np.full(30, np.nan)}, "problem.y.data"),
    ({"X": np.full((30, 20), np.inf)}, "problem.x.dense.data"),
    ({"loss": "logistic", "y": np.arange(30.0)}, "problem.y"),
    ({"max_iterations": 10**9}, "problem.max_iterations"),
])
def test_bad_input_names_the_field(client, kwargs, field):
    X, y, _ = sparse_truth(30, 20, 3)
    args = {"X": X, "y": y, "alpha": 0.1, **kwargs}
    with pytest.raises(InvalidArgument) as err:
        client.fit_regression(args.pop("X"), args.pop("y"), args.pop("alpha"), **args)
    assert field in err.value.fields, err.value.violations


def test_bad_sparse_design_and_path_options(client):
    X, y, _ = sparse_truth(30, 20, 3)
    bad = sp.csr_matrix(X)
    bad.indices[0] = 25  # out of [0, 20)
    with pytest.raises(InvalidArgument) as err:
        client.lasso(bad, y, alpha=0.1)
    assert "problem.x.csr.indices" in err.value.fields
    with pytest.raises(InvalidArgument) as err:
        client.lasso_path(X, y, eps=2.0)
    assert "eps" in err.value.fields
    with pytest.raises(InvalidArgument) as err:
        client.lasso_path(X, y, alphas=[0.1, -1.0])
    assert "alphas" in err.value.fields


def test_deadline_stops_a_long_fit(client):
    X, y, _ = sparse_truth(400, 4000, 200, seed=4)
    with pytest.raises(DeadlineExceeded):
        client.lasso(X, y, alpha=alpha_max(X, y) / 10**5, tol=1e-15, max_iterations=10**5,
                     timeout=0.3)
    assert client.lasso(X[:50, :40], y[:50], alpha=0.1).converged


def test_async_client(server):
    import asyncio

    from solverd import AsyncClient

    X, y, _ = sparse_truth(100, 200, 5, seed=5)

    async def main():
        async with AsyncClient(server.address) as client:
            one = await client.lasso(X, y, alpha=0.05)
            many = await client.lasso_path(X, y, n_alphas=5)
            return one, many

    one, many = asyncio.run(main())
    assert one.converged and len(many) == 5
    assert one.primal == pytest.approx(fit(X, y, 0.05).primal, rel=1e-9)
