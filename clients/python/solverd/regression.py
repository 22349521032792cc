"""Sparse regression requests and results (Lasso, elastic net, L1-logistic)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from solverd.requests import set_matrix
from solverd.results import SolveInfo, concise_repr, device_code, lookup
from solverd.tensors import from_tensor, value_array
from solverd.v1 import regression_pb2
from solverd.wire import DecodedMessage, WireMessage

LOSSES = {"squared": regression_pb2.LOSS_SQUARED, "logistic": regression_pb2.LOSS_LOGISTIC}
COEF_FORMATS = {"dense": regression_pb2.COEF_DENSE, "sparse": regression_pb2.COEF_SPARSE}


def _problem(wire: WireMessage, X: Any, y: Any, *, loss: str = "squared",
             l1_ratio: float = 1.0, fit_intercept: bool = True, feature_weights: Any = None,
             tol: float = 0.0, max_iterations: int | None = None, coef_format: str = "dense",
             device: str = "auto") -> None:
    p = wire.message.problem
    p.loss = lookup(LOSSES, loss, "loss")
    p.l1_ratio = float(l1_ratio)
    p.fit_intercept = bool(fit_intercept)
    p.tol = float(tol)
    p.max_iterations = int(max_iterations or 0)
    p.coef_format = lookup(COEF_FORMATS, coef_format, "coef_format")
    p.device = device_code(device)
    targets = np.asarray(y, dtype=np.float64)
    if targets.ndim > 1 and targets.shape[1:] != (1,) * (targets.ndim - 1):
        raise ValueError(f"y must be one target per sample (shape ({np.shape(X)[0]},)), "
                         f"got shape {targets.shape}: fit one column at a time")
    set_matrix(wire, "problem.x", X)
    wire.set_tensor("problem.y", value_array(targets.ravel()))
    if feature_weights is not None:
        wire.set_tensor("problem.feature_weights",
                        value_array(np.asarray(feature_weights, dtype=np.float64).ravel()))


def fit_request(X: Any, y: Any, alpha: float, *, coef_init: Any = None,
                **options: Any) -> WireMessage:
    wire = WireMessage(regression_pb2.FitRequest(alpha=float(alpha)))
    _problem(wire, X, y, **options)
    if coef_init is not None:
        wire.set_tensor("coef_init", value_array(np.asarray(coef_init, dtype=np.float64)))
    return wire


def path_request(X: Any, y: Any, *, alphas: Any = None, n_alphas: int = 100,
                 eps: float = 1e-3, **options: Any) -> WireMessage:
    req = regression_pb2.FitPathRequest(n_alphas=int(n_alphas), eps=float(eps))
    if alphas is not None:
        req.alphas.extend(np.asarray(alphas, dtype=np.float64).ravel().tolist())
    wire = WireMessage(req)
    _problem(wire, X, y, **options)
    return wire


@dataclass(frozen=True)
class RegressionResult:
    """w, b and the duality-gap certificate of one alpha."""

    __repr__ = concise_repr


    alpha: float
    coef: np.ndarray  # (p,); with coef_format="sparse" rebuilt here from the support
    support: np.ndarray
    intercept: float
    primal: float
    dual: float
    gap: float
    relative_gap: float
    kkt_violation: float
    converged: bool
    stop_reason: str
    iterations: int
    epochs: int
    newton_steps: int
    passes: int
    working_set_sizes: list[int]
    screened: int
    classes: tuple[float, float] | None
    index: int
    info: SolveInfo

    def decision_function(self, X: Any) -> np.ndarray:
        return np.asarray(X @ self.coef).ravel() + self.intercept

    def predict(self, X: Any) -> np.ndarray:
        z = self.decision_function(X)
        if self.classes is None:
            return z
        return np.where(z > 0, self.classes[1], self.classes[0])


def result_from_proto(decoded: DecodedMessage, round_trip: float, p: int) -> RegressionResult:
    r = decoded.message

    def tensor(name: str) -> np.ndarray | None:
        if not r.HasField(name):
            return None
        t = getattr(r, name)
        return from_tensor(t, decoded.tensor_bytes(name, t))

    support = tensor("support_indices")
    values = tensor("support_values")
    support = np.zeros(0, dtype=np.int64) if support is None else support.astype(np.int64)
    coef = tensor("coef")
    if coef is None:
        coef = np.zeros(p)
        if values is not None:
            coef[support] = values
    return RegressionResult(
        alpha=r.alpha, coef=np.array(coef), support=support, intercept=r.intercept,
        primal=r.primal, dual=r.dual, gap=r.gap, relative_gap=r.relative_gap,
        kkt_violation=r.kkt_violation, converged=r.converged, stop_reason=r.info.stop_reason,
        iterations=r.iterations, epochs=r.epochs, newton_steps=r.newton_steps,
        passes=r.passes, working_set_sizes=list(r.working_set_sizes), screened=r.screened,
        classes=(r.classes[0], r.classes[1]) if len(r.classes) == 2 else None, index=r.index,
        info=SolveInfo.from_proto(r.info, round_trip))
