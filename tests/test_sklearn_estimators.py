"""solverd.sklearn estimators: scikit-learn's check_estimator against a live server,
and the same coefficients as scikit-learn's own Lasso."""

from __future__ import annotations

import numpy as np
import pytest
from regression_problems import sparse_truth

pytest.importorskip("sklearn")
from sklearn.linear_model import Lasso as SkLasso
from sklearn.utils.estimator_checks import check_estimator

from solverd.sklearn import ElasticNet, Lasso, LogisticRegressionL1


@pytest.mark.parametrize("make", [lambda c: Lasso(alpha=0.1, client=c),
                                  lambda c: ElasticNet(alpha=0.1, client=c),
                                  lambda c: LogisticRegressionL1(alpha=0.01, client=c)])
def test_check_estimator(server, make):
    check_estimator(make(server.address))


def test_same_coefficients_as_sklearn(server):
    X, y, _ = sparse_truth(100, 200, 8, offset=1.0)
    ours = Lasso(alpha=0.05, tol=1e-10, client=server.address).fit(X, y)
    ref = SkLasso(alpha=0.05, tol=1e-14, max_iter=100_000).fit(X, y)
    np.testing.assert_allclose(ours.coef_, ref.coef_, atol=1e-6)
    assert ours.intercept_ == pytest.approx(ref.intercept_, rel=1e-6)
    assert ours.dual_gap_ >= 0 and ours.n_iter_ >= 1
    assert ours.score(X, y) == pytest.approx(ref.score(X, y), rel=1e-8)
