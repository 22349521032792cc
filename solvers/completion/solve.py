"""complete(): low-rank matrix completion from observed entries, on CPU or GPU."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from solvers.backend import CPU, Backend
from solvers.completion import factors
from solvers.completion.altmin import Entries, altmin
from solvers.completion.biases import CENTERS, fit_biases
from solvers.completion.observations import Observations, holdout_split, observations
from solvers.completion.rowsolve import ROW_SOLVERS
from solvers.completion.softimpute import softimpute_als
from solvers.errors import SolverInputError
from solvers.scaling import divided, safe_scale

METHODS = ("altmin", "softimpute_als")


@dataclass
class CompletionResult:
    """Estimate: M[i, j] ~ global_mean + row_bias[i] + col_bias[j] + U[i] . V[j]."""

    U: np.ndarray  # m x k
    V: np.ndarray  # n x k
    singular_values: np.ndarray  # of U V^T; U = P diag(sqrt(s)), V = Q diag(sqrt(s))
    global_mean: float
    row_bias: np.ndarray | None
    col_bias: np.ndarray | None
    train_rmse: list[float]  # observed RMSE after each round
    holdout_rmse: list[float]  # on the holdout or test entries (nan without them)
    round_seconds: list[float]  # seconds from the start to the end of each round
    iterations: int
    converged: bool
    stop_reason: str  # "tolerance", "stalled_rmse", "max_iterations"
    method: str
    row_solver: str  # "exact", "sketch" or "mixed" (altmin); "" otherwise
    init_seconds: float
    seconds: float
    holdout_count: int
    predictions: np.ndarray | None = None
    backend: str = "numpy"
    device: str = "cpu"
    reg: float = 0.0  # the ridge (altmin) or lambda (softImpute) used: chosen if not given

    def predict(self, rows: Any, cols: Any) -> np.ndarray:
        r = np.asarray(rows, dtype=np.int64)
        c = np.asarray(cols, dtype=np.int64)
        out = factors.entries(self.U, self.V, r, c, np) + self.global_mean
        if self.row_bias is not None:
            out += self.row_bias[r] + self.col_bias[c]  # type: ignore[index]
        return out


def _check(shape: tuple[int, int], rank: int, method: str, row_solver: str, center: str,
           reg: float, tol: float, atol: float, maxiter: int, holdout: float,
           sketch_size: int | None, sketch_steps: int, clip: float) -> None:
    m, n = shape
    if m < 1 or n < 1:
        raise SolverInputError("shape", f"must be two positive sizes, got {list(shape)}")
    if not 1 <= rank <= min(m, n):
        raise SolverInputError("rank", f"must be in [1, min(m, n) = {min(m, n)}], got {rank}")
    for name, value, allowed in (("method", method, METHODS), ("row_solver", row_solver,
                                 ROW_SOLVERS), ("center", center, CENTERS)):
        if value not in allowed:
            raise SolverInputError(name, f"must be one of {', '.join(allowed)}, got {value!r}")
    for name, value in (("reg", reg), ("tol", tol), ("atol", atol), ("clip", clip)):
        if not (math.isfinite(value) and value >= 0):
            raise SolverInputError(name, f"must be finite and >= 0, got {value}")
    if clip == 0:
        raise SolverInputError("clip", "must be > 0")
    if maxiter < 1:
        raise SolverInputError("max_iterations", f"must be >= 1, got {maxiter}")
    if not 0 <= holdout < 1:
        raise SolverInputError("holdout_fraction", f"must be in [0, 1), got {holdout}")
    if sketch_size is not None and sketch_size < rank:
        raise SolverInputError("sketch_size", f"must be >= rank ({rank}), got {sketch_size}")
    if sketch_steps < 1:
        raise SolverInputError("sketch_steps", f"must be >= 1, got {sketch_steps}")


def _rescaled(r: CompletionResult, scale: float, start: float) -> CompletionResult:
    root = math.sqrt(scale)
    with np.errstate(over="ignore", under="ignore"):
        out = replace(
            r, U=r.U * root, V=r.V * root, singular_values=r.singular_values * scale,
            global_mean=r.global_mean * scale,
            row_bias=None if r.row_bias is None else r.row_bias * scale,
            col_bias=None if r.col_bias is None else r.col_bias * scale,
            train_rmse=[v * scale for v in r.train_rmse],
            holdout_rmse=[v * scale for v in r.holdout_rmse],
            predictions=None if r.predictions is None else r.predictions * scale,
            reg=r.reg * scale, seconds=time.perf_counter() - start)
    if not (np.isfinite(out.U).all() and np.isfinite(out.V).all()):
        out = replace(out, converged=False,
                      stop_reason="overflow: the factors exceed float64")
    return out


# reg=None: the candidates (times the values' RMS) fitted on all but a held-out tenth of
# the entries, the one with the least held-out RMSE used for the fit on all of them.
# Unregularised altmin overfits when the rank exceeds what the data carry: the digits
# matrix (values 0-16) half observed gave a held-out RMSE of 415 at rank 15 and 1954 at
# 20 with reg = 0, 3.4 and 3.3 with 0.1; exactly low-rank data keep reg = 0 and exact
# recovery (the first candidate, whose held-out error then vanishes, ends the search).
AUTO_REGS = (0.0, 1e-2, 1e-1)
AUTO_VALIDATION = 0.1


def complete(rows: Any, cols: Any, vals: Any, shape: tuple[int, int], rank: int = 10, *,
             method: str = "altmin", reg: float | None = None, row_solver: str = "auto",
             center: str = "none", bias_reg: float = 5.0, tol: float = 1e-5,
             atol: float = 1e-12, maxiter: int = 100, holdout: float = 0.0,
             test: tuple[Any, Any, Any] | None = None,
             predict: tuple[Any, Any] | None = None, seed: int = 0,
             sketch_size: int | None = None, sketch_steps: int = 4, clip: float = 2.0,
             backend: Backend = CPU,
             should_stop: Callable[[], str | None] | None = None) -> CompletionResult:
    """Fits M ~ mean + biases + U V^T (rank k) to the entries (rows, cols, vals) of an
    m x n matrix.

    method: "altmin" (spectral start, alternating ridge least squares per row; each
    row exactly by its normal equations, or approximately by a sketch-preconditioned CG
    as in Gu et al. 2024: `row_solver` "exact", "sketch", or "auto" by flop count) or
    "softimpute_als" (Hastie et al. 2015; `reg` is its nuclear-norm lambda).
    reg: ridge per row, scaled by the row's entry count (altmin). None: chosen among 0,
    1e-2 and 1e-1 times the values' RMS by the error on a held-out tenth of the entries
    (at most three extra fits, on nine tenths; `result.reg` says which).
    center: "none", "global" (subtract the mean) or "biases" (mean + row and column
    biases, shrunk by `bias_reg`).
    Stops when the observed RMSE is at most atol x the values' RMS, or changed by at
    most tol (relative) in a round; else after maxiter rounds (converged=False).
    holdout: a fraction of the entries held out (seeded) to report a holdout RMSE;
    test: entries (rows, cols, vals) to report it on instead. predict: (rows, cols)
    whose estimates to return in `predictions`.
    """
    start = time.perf_counter()
    shape = (int(shape[0]), int(shape[1]))
    _check(shape, rank, method, row_solver, center, 0.0 if reg is None else reg, tol, atol,
           maxiter, holdout, sketch_size, sketch_steps, clip)
    values = np.asarray(vals, dtype=np.float64)
    scale = safe_scale(values, values.size, base=4)
    if scale != 1.0:
        # Values whose squares over- or underflow: fit vals / s (s = 4^k, so sqrt(s) is
        # exact too) with reg / s, which is the same problem divided by s^2, and scale
        # the estimate back (U, V by sqrt(s); biases, RMSEs, predictions by s).
        # Scaled before reg is chosen: the choice measures the values' RMS, whose
        # square underflowed (values near 1e-310 gave "reg: ... got nan").
        result = complete(rows, cols, divided(values, scale), shape, rank,
                          method=method, reg=None if reg is None else divided(reg, scale),
                          row_solver=row_solver,
                          center=center, bias_reg=bias_reg, tol=tol, atol=atol,
                          maxiter=maxiter, holdout=holdout,
                          test=None if test is None else (
                              test[0], test[1],
                              divided(np.asarray(test[2], dtype=np.float64), scale)),
                          predict=predict, seed=seed, sketch_size=sketch_size,
                          sketch_steps=sketch_steps, clip=clip, backend=backend,
                          should_stop=should_stop)
        return _rescaled(result, scale, start)
    if reg is None:
        reg = _chosen_reg(rows, cols, vals, shape, rank, dict(
            method=method, row_solver=row_solver, center=center, bias_reg=bias_reg, tol=tol,
            atol=atol, maxiter=maxiter, seed=seed, sketch_size=sketch_size,
            sketch_steps=sketch_steps, clip=clip, backend=backend, should_stop=should_stop))
    obs = observations(rows, cols, vals, shape)
    held: Observations | None = None
    if test is not None:
        held = observations(*test, shape, prefix="test_")
    elif holdout > 0:
        total = obs.count
        obs, held = holdout_split(obs, holdout, seed)
        if obs.count == 0:
            raise SolverInputError("holdout", f"{holdout:g} holds out all {total} entries: "
                                              "none is left to fit")
    if obs.count == 0:
        raise SolverInputError("values", "no observed entries to fit")
    predict_at = None
    if predict is not None:
        predict_at = observations(predict[0], predict[1], np.zeros(np.size(predict[0])), shape,
                                  prefix="predict_", unique=False)
    xp = backend.xp
    rows_d, cols_d = xp.asarray(obs.rows), xp.asarray(obs.cols)
    vals_d = xp.asarray(obs.vals)
    mean, row_bias, col_bias = fit_biases(rows_d, cols_d, vals_d, shape, center, bias_reg, xp)
    train = Entries(rows_d, cols_d, vals_d - mean - row_bias[rows_d] - col_bias[cols_d])
    holdout_d = None
    if held is not None and held.count:
        hr, hc = xp.asarray(held.rows), xp.asarray(held.cols)
        holdout_d = Entries(hr, hc, xp.asarray(held.vals) - mean - row_bias[hr] - col_bias[hc])
    used_solver = ""
    if method == "altmin":
        U, V, progress, used, refit = altmin(
            train, holdout_d, shape, rank, reg, row_solver, sketch_size or 2 * rank,
            sketch_steps, tol, atol, maxiter, clip, seed, backend, should_stop,
            biases=(row_bias, col_bias) if center == "biases" else None)
        if refit is not None:
            row_bias, col_bias = refit
        used_solver = ("mixed" if used["exact"] and used["sketch"] else
                       "sketch" if used["sketch"] else "exact")
    else:
        U, V, progress = softimpute_als(train, holdout_d, shape, rank, reg, tol, atol, maxiter,
                                        seed, backend, should_stop)
    U, V, s = factors.balanced(U, V, xp)
    result = CompletionResult(
        U=backend.to_host(U), V=backend.to_host(V), singular_values=backend.to_host(s),
        global_mean=mean,
        row_bias=backend.to_host(row_bias) if center == "biases" else None,
        col_bias=backend.to_host(col_bias) if center == "biases" else None,
        train_rmse=progress.train_rmse, holdout_rmse=progress.holdout_rmse,
        round_seconds=progress.seconds, iterations=len(progress.train_rmse),
        converged=progress.converged, stop_reason=progress.stop_reason, method=method,
        row_solver=used_solver, init_seconds=progress.init_seconds, seconds=0.0,
        holdout_count=0 if held is None else held.count, backend=backend.name,
        device=backend.device)
    if predict_at is not None:
        result.predictions = result.predict(predict_at.rows, predict_at.cols)
    result.reg = reg
    result.seconds = time.perf_counter() - start
    return result


def _chosen_reg(rows: Any, cols: Any, vals: Any, shape: tuple[int, int], rank: int,
                options: dict[str, Any]) -> float:
    """The candidate reg whose fit on nine tenths of the entries predicts the held-out
    tenth best (see AUTO_REGS)."""
    rows, cols = np.asarray(rows), np.asarray(cols)
    values = np.asarray(vals, dtype=np.float64)
    held = np.random.default_rng(options["seed"] + 1).random(values.size) < AUTO_VALIDATION
    if held.sum() < 10 or (~held).sum() < rank:
        return 0.0
    rms = math.sqrt(float(np.mean(values * values)))
    best_error, best = math.inf, 0.0
    for relative in AUTO_REGS:
        fit = complete(rows[~held], cols[~held], values[~held], shape, rank,
                       reg=relative * rms, test=(rows[held], cols[held], values[held]),
                       **options)
        error = fit.holdout_rmse[-1] if fit.holdout_rmse else math.inf
        if error < best_error:
            best_error, best = error, relative * rms
        if relative == 0 and error <= 1e-6 * rms:  # exact: no ridge generalises better
            break
    return best
