"""scikit-learn estimators backed by a solverd server: Lasso, ElasticNet and
LogisticRegressionL1 with fit / predict / coef_ / intercept_ / n_iter_ / dual_gap_.

`client` is a solverd.Client or a target address ("host:port"); addresses share one
Client per process. Needs scikit-learn (not a dependency of the client library).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

try:
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.utils.multiclass import check_classification_targets
    from sklearn.utils.validation import check_is_fitted, validate_data
except ModuleNotFoundError as missing:  # the client alone does not need scikit-learn
    raise ModuleNotFoundError(
        "solverd.sklearn needs scikit-learn: pip install 'solverd[sklearn]' (or "
        "pip install scikit-learn)", name=missing.name) from None

from solverd.client import Client

_CLIENTS: dict[str, Client] = {}


def _client(client: Client | str) -> Client:
    if isinstance(client, Client):
        return client
    if client not in _CLIENTS:
        _CLIENTS[client] = Client(client)
    return _CLIENTS[client]


class _SparseLinear(BaseEstimator):
    _loss = "squared"

    def _fit(self, X: Any, y: Any, l1_ratio: float) -> Any:
        result = _client(self.client).fit_regression(
            X, y, self.alpha, loss=self._loss, l1_ratio=l1_ratio,
            fit_intercept=self.fit_intercept, tol=self.tol, max_iterations=self.max_iter)
        self.coef_ = result.coef
        self.intercept_ = float(result.intercept)
        self.n_iter_ = int(result.epochs)
        self.dual_gap_ = float(result.gap)
        self.converged_ = bool(result.converged)
        self.result_ = result
        if not result.converged:
            warnings.warn(f"Objective did not converge: relative duality gap "
                          f"{result.relative_gap:.3g} above tol={self.tol} after "
                          f"{self.max_iter} outer iterations. You might want to increase "
                          f"max_iter or tol.", ConvergenceWarning, stacklevel=3)
        return result

    def _decision(self, X: Any) -> np.ndarray:
        check_is_fitted(self)
        X = validate_data(self, X, accept_sparse=["csr", "csc", "coo"], reset=False,
                          dtype=[np.float64, np.float32])
        return np.asarray(X @ self.coef_).ravel() + self.intercept_


class Lasso(RegressorMixin, _SparseLinear):
    """min (1/2n) ||y - X w - b||^2 + alpha ||w||_1, solved by solverd."""

    def __init__(self, alpha: float = 1.0, *, fit_intercept: bool = True, tol: float = 1e-6,
                 max_iter: int = 100, client: Client | str = "127.0.0.1:50051") -> None:
        self.alpha = alpha
        self.fit_intercept = fit_intercept
        self.tol = tol
        self.max_iter = max_iter
        self.client = client

    def _l1_ratio(self) -> float:
        return 1.0

    def fit(self, X: Any, y: Any) -> Lasso:
        X, y = validate_data(self, X, y, accept_sparse=["csr", "csc", "coo"], y_numeric=True,
                             dtype=[np.float64, np.float32])
        self._fit(X, y, self._l1_ratio())
        return self

    def predict(self, X: Any) -> np.ndarray:
        return self._decision(X)

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags


class ElasticNet(Lasso):
    """min (1/2n) ||y - X w - b||^2 + alpha (l1_ratio ||w||_1 + (1 - l1_ratio)/2 ||w||^2)."""

    def __init__(self, alpha: float = 1.0, *, l1_ratio: float = 0.5, fit_intercept: bool = True,
                 tol: float = 1e-6, max_iter: int = 100,
                 client: Client | str = "127.0.0.1:50051") -> None:
        super().__init__(alpha, fit_intercept=fit_intercept, tol=tol, max_iter=max_iter,
                         client=client)
        self.l1_ratio = l1_ratio

    def _l1_ratio(self) -> float:
        return self.l1_ratio


class LogisticRegressionL1(ClassifierMixin, _SparseLinear):
    """Binary L1-logistic regression: min (1/n) sum log(1 + exp(-y_i (x_i.w + b)))
    + alpha ||w||_1 (scikit-learn's C = 1 / (alpha n))."""

    _loss = "logistic"

    def __init__(self, alpha: float = 0.01, *, fit_intercept: bool = True, tol: float = 1e-6,
                 max_iter: int = 100, client: Client | str = "127.0.0.1:50051") -> None:
        self.alpha = alpha
        self.fit_intercept = fit_intercept
        self.tol = tol
        self.max_iter = max_iter
        self.client = client

    def fit(self, X: Any, y: Any) -> LogisticRegressionL1:
        X, y = validate_data(self, X, y, accept_sparse=["csr", "csc", "coo"],
                             dtype=[np.float64, np.float32])
        check_classification_targets(y)
        self.classes_, codes = np.unique(y, return_inverse=True)
        if self.classes_.size > 2:
            raise ValueError("Only binary classification is supported. LogisticRegressionL1 "
                             f"got {self.classes_.size} classes")
        if self.classes_.size < 2:
            raise ValueError("needs samples of 2 classes, but the data contains only one "
                             f"class: {self.classes_[0]!r}")
        self._fit(X, codes.astype(np.float64), 1.0)
        return self

    def decision_function(self, X: Any) -> np.ndarray:
        return self._decision(X)

    def predict(self, X: Any) -> np.ndarray:
        check_is_fitted(self)
        return self.classes_[(self.decision_function(X) > 0).astype(int)]

    def predict_proba(self, X: Any) -> np.ndarray:
        p = 1.0 / (1.0 + np.exp(-self.decision_function(X)))
        return np.column_stack([1 - p, p])

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.classifier_tags.multi_class = False
        return tags
