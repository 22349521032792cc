"""fit() and path(): Lasso, elastic net and L1-logistic regression, on CPU or GPU."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from solvers.backend import CPU, Backend
from solvers.errors import SolverInputError
from solvers.regression.design import Design
from solvers.regression.objective import LOSSES, Certificate, Penalty
from solvers.regression.outer import Problem, State, Trace, initial_state, solve_alpha
from solvers.regression.workingset import GramCache
from solvers.scaling import divided, safe_scale


@dataclass
class RegressionResult:
    coef: np.ndarray  # (p,)
    intercept: float
    alpha: float
    l1_ratio: float
    loss: str
    primal: float
    dual: float
    gap: float
    relative_gap: float  # gap / (||y||^2 / n): what tol bounds
    kkt_violation: float
    converged: bool
    stop_reason: str  # "gap" or "max_iterations"
    iterations: int  # outer (working-set) iterations
    epochs: int  # greedy block updates over all working-set solves
    newton_steps: int
    passes: int  # full X^T r passes
    partial_passes: int  # passes over the features a safe bound could not settle
    ws_sizes: list[int] = field(default_factory=list)
    n_screened: int = 0
    seconds: float = 0.0
    classes: tuple[float, float] | None = None  # logistic: the labels mapped to -1, +1
    backend: str = "numpy"
    device: str = "cpu"

    @property
    def support(self) -> np.ndarray:
        return np.flatnonzero(self.coef)

    def decision_function(self, X: Any) -> np.ndarray:
        return np.asarray(X @ self.coef).ravel() + self.intercept

    def predict(self, X: Any) -> np.ndarray:
        """Squared loss: X w + b; logistic: the predicted label."""
        z = self.decision_function(X)
        if self.classes is None:
            return z
        return np.where(z > 0, self.classes[1], self.classes[0])


@dataclass
class _Data:
    problem: Problem
    y_offset: float  # squared loss with intercept: mean(y)
    classes: tuple[float, float] | None
    weights: np.ndarray


def _prepare(X: Any, y: Any, loss: str, l1_ratio: float, fit_intercept: bool,
             weights: Any, backend: Backend) -> _Data:
    if loss not in LOSSES:
        raise SolverInputError("loss", f"must be one of {', '.join(LOSSES)}, got {loss!r}")
    if not (math.isfinite(l1_ratio) and 0 < l1_ratio <= 1):
        raise SolverInputError("l1_ratio", f"must be in (0, 1], got {l1_ratio}")
    design = Design(X, center=fit_intercept and loss == "squared", backend=backend)
    y = np.asarray(y, dtype=np.float64).ravel()
    if y.size != design.n:
        raise SolverInputError("y", f"has {y.size} values for {design.n} rows of X")
    if not np.isfinite(y).all():
        raise SolverInputError("y", "has NaN or infinite values")
    classes = None
    offset = 0.0
    if loss == "logistic":
        labels = np.unique(y)
        if labels.size != 2:
            raise SolverInputError("y", f"logistic needs exactly two classes, got {labels.size}")
        classes = (float(labels[0]), float(labels[1]))
        y = np.where(y == labels[1], 1.0, -1.0)
    elif fit_intercept:
        offset = float(y.mean())
        y = y - offset
    if weights is None:
        v = np.ones(design.p)
    else:
        v = np.asarray(weights, dtype=np.float64).ravel()
        if v.size != design.p:
            raise SolverInputError("weights", f"has {v.size} values for {design.p} features")
        if not (np.isfinite(v).all() and (v > 0).all()):
            raise SolverInputError("weights", "must be finite and > 0")
    gram = GramCache(design) if loss == "squared" else None
    free_b = fit_intercept and loss == "logistic"
    colsum = design.rmatvec(np.ones(design.n)) if free_b else None
    problem = Problem(design, y, loss, free_b, design.sq_norms, gram, colsum)
    return _Data(problem, offset, classes, v)


@dataclass(frozen=True)
class _Scale:
    """X = sx X^, y = sy y^ (powers of two, exact) for data whose objective, Gram or
    certificate would over- or underflow: with w = (sy / sx) w^ and b = sy b^, the
    objective divided by sy^2 is an elastic net on (X^, y^) with
    alpha^ l1^ = alpha l1 / (sx sy) and alpha^ (1 - l1^) = alpha (1 - l1) / sx^2.
    The relative gap is unchanged; primal, dual and gap scale by sy^2."""

    sx: float = 1.0
    sy: float = 1.0

    @staticmethod
    def of(X: Any, y: Any, loss: str) -> _Scale:
        values = X.data if hasattr(X, "tocsc") else np.asarray(X)
        n = X.shape[0] if hasattr(X, "shape") and len(X.shape) == 2 else 1
        sx = safe_scale(values, n)
        y_arr = np.asarray(y, dtype=np.float64)
        sy = 1.0 if loss == "logistic" or not np.isfinite(y_arr).all() else \
            safe_scale(y_arr, n)
        return _Scale(sx, sy)

    @property
    def active(self) -> bool:
        return self.sx != 1.0 or self.sy != 1.0

    def x(self, X: Any) -> Any:
        return divided(X, self.sx) if self.sx != 1.0 else X

    def y(self, y: Any) -> Any:
        return divided(np.asarray(y, dtype=np.float64), self.sy) if self.sy != 1.0 else y

    def to_inner(self, w: np.ndarray) -> np.ndarray:
        return w * (self.sx / self.sy) if self.active else w

    def penalty(self, alpha: float, l1_ratio: float, weights: np.ndarray) -> Penalty:
        if not self.active:
            return Penalty(alpha, l1_ratio, weights)
        # Divided one factor at a time: sx * sx alone may underflow.
        l1 = alpha * l1_ratio / self.sx / self.sy
        l2 = alpha * (1.0 - l1_ratio) / self.sx / self.sx if l1_ratio < 1 else 0.0
        if not (math.isfinite(l1 + l2) and l1 + l2 > 0):
            raise SolverInputError("alpha", f"{alpha} is out of range for data of this scale")
        return Penalty(l1 + l2, l1 / (l1 + l2), weights)

    def outer(self, r: RegressionResult, alpha: float, l1_ratio: float) -> RegressionResult:
        if not self.active:
            return r
        with np.errstate(over="ignore", under="ignore", invalid="ignore"):
            # NumPy scalars: a ratio of extreme scales gives 0 or inf, not an exception.
            factor = np.float64(self.sy) / np.float64(self.sx)
            coef = r.coef * factor
            exact = np.array_equal(coef * (np.float64(self.sx) / np.float64(self.sy)), r.coef)
            squared = self.sy * self.sy
            out = replace(r, coef=coef, intercept=r.intercept * self.sy, alpha=alpha,
                          l1_ratio=l1_ratio, primal=r.primal * squared,
                          dual=r.dual * squared, gap=r.gap * squared,
                          kkt_violation=r.kkt_violation * self.sx * self.sy)
        if not (np.isfinite(coef).all() and math.isfinite(out.intercept)):
            return replace(out, converged=False,
                           stop_reason="overflow: the coefficients exceed float64")
        if not exact:
            return replace(out, converged=False,
                           stop_reason="underflow: the coefficients lose accuracy in float64")
        return out


def _check(alpha: float, tol: float, max_iter: int) -> None:
    if not (math.isfinite(alpha) and alpha > 0):
        raise SolverInputError("alpha", f"must be finite and > 0, got {alpha}")
    if not (math.isfinite(tol) and tol > 0):
        raise SolverInputError("tol", f"must be finite and > 0, got {tol}")
    if max_iter < 1:
        raise SolverInputError("max_iterations", f"must be >= 1, got {max_iter}")


def _alpha_max(data: _Data, l1_ratio: float, state: State) -> float:
    """The smallest alpha whose solution is w = 0 (from the pass at w = 0)."""
    n = data.problem.design.n
    return float(np.max(np.abs(state.Xt_resid) / (n * l1_ratio * data.weights)))


def _result(data: _Data, pen: Penalty, state: State, cert: Certificate, trace: Trace,
            converged: bool, backend: Backend, seconds: float) -> RegressionResult:
    prob = data.problem
    w = state.w.copy()
    intercept = state.intercept
    if prob.loss == "squared":  # centred fit: b = mean(y) - mean(X) w
        intercept = data.y_offset - float(prob.design.col_means @ w)
    return RegressionResult(
        coef=w, intercept=intercept, alpha=pen.alpha, l1_ratio=pen.l1_ratio, loss=prob.loss,
        primal=cert.primal, dual=cert.dual, gap=cert.gap, relative_gap=cert.relative_gap,
        kkt_violation=cert.kkt, converged=converged,
        stop_reason="gap" if converged else "max_iterations", iterations=trace.outer,
        epochs=trace.epochs, newton_steps=trace.newton_steps, passes=trace.passes,
        partial_passes=trace.partial_passes, ws_sizes=trace.ws_sizes,
        n_screened=trace.screened, seconds=seconds,
        classes=data.classes, backend=backend.name, device=backend.device)


def fit(X: Any, y: Any, alpha: float, *, loss: str = "squared", l1_ratio: float = 1.0,
        fit_intercept: bool = True, weights: Any = None, tol: float = 1e-6,
        max_iter: int = 100, coef_init: Any = None, backend: Backend = CPU,
        should_stop: Callable[[], str | None] | None = None) -> RegressionResult:
    """Minimises (1/n) sum loss(y_i, x_i.w + b) + alpha sum_j v_j (l1_ratio |w_j|
    + (1 - l1_ratio)/2 w_j^2): the Lasso (loss "squared", l1_ratio 1), the elastic net,
    or L1-logistic regression (loss "logistic", y with two classes). X dense or sparse
    (CSC preferred), float32 or float64. Stops when the relative duality gap
    gap / (||y||^2 / n) is at most tol, else after max_iter working-set iterations with
    converged=False."""
    start = time.perf_counter()
    _check(alpha, tol, max_iter)
    scale = _Scale.of(X, y, loss)
    data = _prepare(scale.x(X), scale.y(y), loss, l1_ratio, fit_intercept, weights, backend)
    w0 = None
    if coef_init is not None:
        w0 = np.asarray(coef_init, dtype=np.float64).ravel()
        if w0.size != data.problem.design.p or not np.isfinite(w0).all():
            raise SolverInputError("coef_init", f"must be {data.problem.design.p} finite values")
        w0 = scale.to_inner(w0)
    state = initial_state(data.problem, w0)
    pen = scale.penalty(float(alpha), float(l1_ratio), data.weights)
    state, cert, trace, converged = solve_alpha(data.problem, pen, state, tol, max_iter,
                                                should_stop)
    trace.passes += 1  # the initial pass
    return scale.outer(_result(data, pen, state, cert, trace, converged, backend,
                               time.perf_counter() - start), float(alpha), float(l1_ratio))


def alpha_grid(alpha_max: float, n_alphas: int, eps: float) -> np.ndarray:
    return alpha_max * np.logspace(0, math.log10(eps), n_alphas)


def path(X: Any, y: Any, *, loss: str = "squared", l1_ratio: float = 1.0,
         alphas: Any = None, n_alphas: int = 100, eps: float = 1e-3,
         fit_intercept: bool = True, weights: Any = None, tol: float = 1e-6,
         max_iter: int = 100, backend: Backend = CPU,
         should_stop: Callable[[], str | None] | None = None) -> Iterator[RegressionResult]:
    """Solutions for decreasing alphas (given, or n_alphas log-spaced from alpha_max down
    to eps alpha_max), each warm-started from the previous one with its last pass reused,
    yielded as each is done. Each result's `seconds` is its own alpha's time."""
    start = time.perf_counter()
    scale = _Scale.of(X, y, loss)
    data = _prepare(scale.x(X), scale.y(y), loss, l1_ratio, fit_intercept, weights, backend)
    state = initial_state(data.problem, None)
    if alphas is None:
        if n_alphas < 1:
            raise SolverInputError("n_alphas", f"must be >= 1, got {n_alphas}")
        if not (math.isfinite(eps) and 0 < eps <= 1):
            raise SolverInputError("eps", f"must be in (0, 1], got {eps}")
        grid = alpha_grid(_alpha_max(data, l1_ratio, state) * scale.sx * scale.sy, n_alphas,
                          eps)
    else:
        grid = np.sort(np.asarray(alphas, dtype=np.float64).ravel())[::-1]
        if grid.size == 0:
            raise SolverInputError("alphas", "is empty")
    for a in grid:
        _check(float(a), tol, max_iter)
    first = True
    for a in grid:
        pen = scale.penalty(float(a), float(l1_ratio), data.weights)
        state, cert, trace, converged = solve_alpha(data.problem, pen, state, tol, max_iter,
                                                    should_stop)
        if first:
            trace.passes += 1
            first = False
        now = time.perf_counter()
        yield scale.outer(_result(data, pen, state, cert, trace, converged, backend,
                                  now - start), float(a), float(l1_ratio))
        start = now


def alpha_max(X: Any, y: Any, *, loss: str = "squared", l1_ratio: float = 1.0,
              fit_intercept: bool = True, weights: Any = None) -> float:
    scale = _Scale.of(X, y, loss)
    data = _prepare(scale.x(X), scale.y(y), loss, l1_ratio, fit_intercept, weights, CPU)
    return _alpha_max(data, l1_ratio, initial_state(data.problem, None)) * scale.sx * scale.sy
