"""Alternating minimisation for matrix completion (Jain, Netrapalli and Sanghavi 2013;
with the fast approximate row updates of Gu, Song, Yin and Zhang, ICLR 2024):
spectral start, then V <- argmin ||P_Omega(U V^T - M)||, U <- argmin ..., each
half-step one batched ridge least squares per row."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

from solvers.backend import Backend
from solvers.completion import factors
from solvers.completion.observations import layout
from solvers.completion.rowsolve import solve_rows
from solvers.completion.spectral import clip_rows, top_singular
from solvers.errors import check_stop


@dataclass
class Progress:
    """What each round left behind: observed and holdout RMSE, seconds since the start."""

    train_rmse: list[float] = field(default_factory=list)
    holdout_rmse: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    init_seconds: float = 0.0
    converged: bool = False
    stop_reason: str = "max_iterations"

    def record(self, train: float, holdout: float, start: float) -> None:
        self.train_rmse.append(train)
        self.holdout_rmse.append(holdout)
        self.seconds.append(time.perf_counter() - start)

    def settled(self, scale: float, tol: float, atol: float) -> bool:
        """Observed RMSE at or below atol x the values' RMS, or changed by at most tol
        (relative) in the last round."""
        now = self.train_rmse[-1]
        if now <= atol * scale:
            self.converged, self.stop_reason = True, "tolerance"
        elif len(self.train_rmse) > 1:
            before = self.train_rmse[-2]
            if abs(before - now) <= tol * before:
                self.converged, self.stop_reason = True, "stalled_rmse"
        return self.converged


@dataclass
class Entries:
    """Observed entries on the solving backend (values already centred)."""

    rows: Any
    cols: Any
    vals: Any


def altmin(train: Entries, holdout: Entries | None, shape: tuple[int, int], rank: int,
           reg: float, row_solver: str, sketch_size: int, sketch_steps: int, tol: float,
           atol: float, maxiter: int, clip: float, seed: int, backend: Backend,
           should_stop: Callable[[], str | None] | None,
           biases: tuple[Any, Any] | None = None
           ) -> tuple[Any, Any, Progress, dict[str, int], tuple[Any, Any] | None]:
    """`biases`: (row, column) biases to refit with the factors. Each half-step then
    solves for [u_i, row_bias_i] against [V, 1] and values less the column biases: a
    bias fitted once beforehand absorbs part of the low-rank signal and leaves a
    residual of higher rank."""
    start = time.perf_counter()
    xp = backend.xp
    m, n = shape
    rng = np.random.default_rng(seed)
    host_rows, host_cols = backend.to_host(train.rows), backend.to_host(train.cols)
    centred = backend.to_host(train.vals)
    host_vals = centred
    if biases is not None:
        # The layouts hold the values less only the global mean: biases move each round.
        row_b, col_b = biases
        host_vals = centred + backend.to_host(row_b)[host_rows] + backend.to_host(
            col_b)[host_cols]
    width = rank + (biases is not None)
    # The set-up (two layouts and the spectral start) takes seconds on 10^7 entries:
    # a stop is heard between its steps, not only once the rounds begin.
    check_stop(should_stop)
    by_row = layout(host_rows, host_cols, host_vals, m, n, width, backend)
    check_stop(should_stop)
    by_col = layout(host_cols, host_rows, host_vals, n, m, width, backend)
    check_stop(should_stop)
    p = host_rows.size / (m * n)
    S = backend.matrix(sp.csr_matrix((centred / p, (host_rows, host_cols)),
                                     shape=(m, n)), np.dtype(np.float64))
    U0, _ = top_singular(S, rank, rng, xp, should_stop=should_stop)
    U = clip_rows(U0, clip, xp)
    V = xp.zeros((n, rank))
    if biases is not None:
        U = xp.concatenate([U, biases[0][:, None]], axis=1)
        V = xp.concatenate([V, biases[1][:, None]], axis=1)
    progress = Progress()
    backend.synchronize()
    progress.init_seconds = time.perf_counter() - start
    count = host_rows.size
    scale = float(xp.sqrt((train.vals * train.vals).mean())) or 1.0
    used = {"exact": 0, "sketch": 0}

    def design(F: Any) -> tuple[Any, Any]:
        """The other side's rows as seen by a half-step, and the values' offset: with
        biases, [F, 1] against the values less F's own bias column."""
        if biases is None:
            return F, None
        return xp.concatenate([F[:, :rank], xp.ones((F.shape[0], 1))], axis=1), F[:, rank]

    for _ in range(maxiter):
        check_stop(should_stop)
        other, offset = design(U)
        V, _, used_v = solve_rows(by_col, other, V, reg, row_solver, backend, rng, sketch_size,
                                  sketch_steps, offset=offset, should_stop=should_stop)
        other, offset = design(V)
        U, sse, used_u = solve_rows(by_row, other, U, reg, row_solver, backend, rng,
                                    sketch_size, sketch_steps, residual=True, offset=offset,
                                    should_stop=should_stop)
        for key in used:
            used[key] += used_v[key] + used_u[key]
        held = float("nan") if holdout is None else _holdout_rmse(U, V, rank, holdout, biases,
                                                                  xp)
        progress.record(float(np.sqrt(sse / count)), held, start)
        if progress.settled(scale, tol, atol):
            break
    if biases is None:
        return U, V, progress, used, None
    return U[:, :rank], V[:, :rank], progress, used, (U[:, rank], V[:, rank])


def _holdout_rmse(U: Any, V: Any, rank: int, holdout: Entries,
                  biases: tuple[Any, Any] | None, xp: Any) -> float:
    if biases is None:
        return factors.rmse(U, V, holdout.rows, holdout.cols, holdout.vals, xp)
    # holdout.vals are centred with the starting biases: add those back, take the new.
    start_row, start_col = biases
    vals = (holdout.vals + start_row[holdout.rows] + start_col[holdout.cols]
            - U[holdout.rows, rank] - V[holdout.cols, rank])
    return factors.rmse(U[:, :rank], V[:, :rank], holdout.rows, holdout.cols, vals, xp)
