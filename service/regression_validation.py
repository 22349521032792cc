"""Decoding and validating SparseRegression.Fit and FitPath requests."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from service.config import Limits
from service.validation import (
    DEVICE_NAMES,
    FLOATS,
    ValidationError,
    Violations,
    _enum,
    _finite,
    iterations_or_default,
    matrix,
    positive_or_default,
    tensor,
)
from solverd.v1 import regression_pb2
from solverd.wire import DecodedMessage

LOSS_NAMES = {regression_pb2.LOSS_SQUARED: "squared", regression_pb2.LOSS_LOGISTIC: "logistic"}
COEF_FORMATS = {regression_pb2.COEF_DENSE: "dense", regression_pb2.COEF_SPARSE: "sparse"}


@dataclass
class RegressionProblem:
    X: np.ndarray | sp.csc_matrix
    y: np.ndarray
    options: dict[str, object]  # keyword arguments of solvers.regression.fit / path
    coef_format: str
    device: str
    alpha: float = 0.0  # Fit
    coef_init: np.ndarray | None = None  # Fit
    path: dict[str, object] = field(default_factory=dict)  # FitPath: alphas / n_alphas / eps
    path_length: int = 0  # FitPath: how many alphas, so how many responses


def _vector(msg: object, name: str, size: int, v: Violations, limits: Limits
            ) -> np.ndarray | None:
    a = tensor(msg, name, v, dtypes=FLOATS, ndims=(1,),  # type: ignore[arg-type]
               max_elements=limits.max_rows)
    if a is None:
        return None
    if size and a.size != size:
        v.add(f"{name}.shape", f"must have {size} entries, got {a.size}")
        return None
    _finite(a, f"{name}.data", v)
    return a


def _problem(req: regression_pb2.RegressionProblem, v: Violations, limits: Limits,
             prefix: str = "problem.") -> RegressionProblem | None:
    X = None
    if req.HasField("x"):
        X = matrix(req.x, f"{prefix}x", v, limits, square=False)
    else:
        v.add(f"{prefix}x", "the design matrix is required")
    n, p = X.shape if X is not None else (0, 0)
    y = None
    if req.HasField("y"):
        y = _vector(req.y, f"{prefix}y", n, v, limits)
    else:
        v.add(f"{prefix}y", "the targets are required")
    loss = _enum(req.loss, LOSS_NAMES, f"{prefix}loss", v)
    if loss == "logistic" and y is not None and np.unique(y).size != 2:
        v.add(f"{prefix}y", f"logistic needs exactly two classes, got {np.unique(y).size}")
    l1_ratio = req.l1_ratio if req.HasField("l1_ratio") else 1.0
    if not (math.isfinite(l1_ratio) and 0 < l1_ratio <= 1):
        v.add(f"{prefix}l1_ratio", f"must be in (0, 1], got {l1_ratio}")
    weights = None
    if req.HasField("feature_weights"):
        weights = _vector(req.feature_weights, f"{prefix}feature_weights", p, v, limits)
        if weights is not None and not (weights > 0).all():
            v.add(f"{prefix}feature_weights.data", "must be > 0")
    tol = positive_or_default(req.tol, f"{prefix}tol", v, 1e-6)
    maxiter = iterations_or_default(req.max_iterations, 100, limits, v,
                                    f"{prefix}max_iterations")
    coef_format = _enum(req.coef_format, COEF_FORMATS, f"{prefix}coef_format", v)
    device = _enum(req.device, DEVICE_NAMES, f"{prefix}device", v)
    if X is None or y is None:
        return None
    options: dict[str, object] = {
        "loss": loss, "l1_ratio": l1_ratio,
        "fit_intercept": req.fit_intercept if req.HasField("fit_intercept") else True,
        "weights": weights, "tol": tol, "max_iter": maxiter}
    design = X.tocsc() if sp.issparse(X) else X
    return RegressionProblem(design, y, options, coef_format, device)


def fit_request(decoded: DecodedMessage, limits: Limits) -> RegressionProblem:
    req: regression_pb2.FitRequest = decoded.message
    v = Violations(decoded)
    problem = _problem(req.problem, v, limits)
    if not (math.isfinite(req.alpha) and req.alpha > 0):
        v.add("alpha", f"must be finite and > 0, got {req.alpha}")
    coef_init = None
    if req.HasField("coef_init"):
        p = problem.X.shape[1] if problem is not None else 0
        coef_init = _vector(req.coef_init, "coef_init", p, v, limits)
    v.raise_if_any()
    assert problem is not None
    problem.alpha = req.alpha
    problem.coef_init = coef_init
    return problem


def path_request(decoded: DecodedMessage, limits: Limits) -> RegressionProblem:
    req: regression_pb2.FitPathRequest = decoded.message
    v = Violations(decoded)
    problem = _problem(req.problem, v, limits)
    alphas = np.asarray(req.alphas, dtype=np.float64)
    if alphas.size and not (np.isfinite(alphas).all() and (alphas > 0).all()):
        v.add("alphas", "must be finite and > 0")
    if alphas.size > limits.max_batch:
        v.add("alphas", f"{alphas.size} alphas exceed the limit of {limits.max_batch}")
    n_alphas = req.n_alphas or 100
    if n_alphas > limits.max_batch:
        v.add("n_alphas", f"{n_alphas} exceeds the limit of {limits.max_batch}")
    eps = req.eps or 1e-3
    if not (math.isfinite(eps) and 0 < eps <= 1):
        v.add("eps", f"must be in (0, 1], got {eps}")
    v.raise_if_any()
    assert problem is not None
    problem.path = {"alphas": alphas if alphas.size else None, "n_alphas": n_alphas,
                    "eps": eps}
    problem.path_length = alphas.size or n_alphas
    return problem


__all__ = ["COEF_FORMATS", "LOSS_NAMES", "RegressionProblem", "ValidationError", "fit_request",
           "path_request"]
