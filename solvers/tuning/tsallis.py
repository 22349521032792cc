"""1/2-Tsallis-INF over an omega grid (Zimmert & Seldin, JMLR 2021), the tuner of
"Learning to Relax" for sequences without context.

Each round: p = argmin_{p in simplex} <L, p> - (4/eta) sum_i sqrt(p_i), whose
solution is p_i = 4 / (eta (L_i - x))^2 with the normaliser x < min L chosen so
that sum p = 1; play an arm, observe its loss, add loss / p_i to L_i.
"""

from __future__ import annotations

import math

import numpy as np

from solvers.errors import SolverInputError
from solvers.tuning import grid as g


def tsallis_probabilities(losses: np.ndarray, eta: float) -> np.ndarray:
    """The Tsallis-INF distribution for cumulative loss estimates `losses`.

    sum_i 4 / (eta (L_i - x))^2 increases in x on (-inf, min L). At x = min L - 2/eta
    the best arm alone has p = 1, so the sum is >= 1; at x = min L - 2 sqrt(K)/eta
    every term is <= 1/K, so it is <= 1. Newton from the right end of that bracket
    descends monotonically onto the root (the sum is convex in x); a step leaving the
    bracket falls back to bisection. A fixed Newton start, as in a port of the
    authors' code, was seen to overshoot to probabilities summing to 1e15.
    """
    losses = np.asarray(losses, dtype=np.float64)
    k = losses.size
    low_loss = float(losses.min())
    lo, hi = low_loss - 2.0 * math.sqrt(k) / eta, low_loss - 2.0 / eta
    x = hi
    for _ in range(200):
        gap = losses - x
        p = 4.0 / (eta * gap) ** 2
        excess = float(p.sum()) - 1.0
        if abs(excess) <= 1e-13:
            break
        if excess > 0:
            hi = x
        else:
            lo = x
        slope = float((8.0 / (eta**2 * gap**3)).sum())
        step = x - excess / slope
        x = step if lo < step < hi else 0.5 * (lo + hi)
    p = 4.0 / (eta * (losses - x)) ** 2
    total = float(p.sum())
    if not abs(total - 1.0) < 1e-8:
        raise ArithmeticError(f"Tsallis-INF normaliser failed: probabilities sum to {total}")
    return p / total


class TsallisInf:
    """Tsallis-INF over `grid`; loss = iterations / their running mean (the authors'
    normalisation, so the learning rate eta_t = 2 / sqrt(t) suits any problem size)."""

    kind = "tsallis-inf"

    def __init__(self, grid: object = None, seed: int = 0) -> None:
        self.grid = g.default_grid() if grid is None else g.check_grid(grid)
        self.seed = int(seed)
        self.losses = np.zeros(self.grid.size)
        self.plays = np.zeros(self.grid.size)
        self.step = 0
        self.iterations_sum = 0.0

    def probabilities(self) -> np.ndarray:
        return tsallis_probabilities(self.losses, 2.0 / math.sqrt(self.step + 1))

    def choose(self, context: float | None = None) -> tuple[int, float]:
        """The arm to play now and the probability it was chosen with."""
        p = self.probabilities()
        arm = g.sample(p, g.draw(self.seed, self.step))
        return arm, float(p[arm])

    def update(self, arm: int, iterations: float, probability: float,
               context: float | None = None) -> None:
        self.step += 1
        self.iterations_sum += float(iterations)
        loss = g.normalised_loss(iterations, self.iterations_sum, self.step)
        self.losses[arm] += loss / probability
        self.plays[arm] += 1

    def best(self, context: float | None = None) -> float:
        """The omega the tuner currently believes best (least estimated loss)."""
        return float(self.grid[int(np.argmin(self.losses))])

    def state(self) -> dict:
        return {"kind": self.kind, "version": g.STATE_VERSION, "grid": self.grid.tolist(),
                "seed": self.seed, "step": self.step, "iterations_sum": self.iterations_sum,
                "losses": self.losses.tolist(), "plays": self.plays.tolist()}

    @classmethod
    def from_state(cls, state: dict) -> TsallisInf:
        """Rebuilds a tuner; SolverInputError("state", ...) for anything inconsistent."""
        _check_header(state, cls.kind)
        tuner = cls(g.check_grid(state.get("grid")), g.count(state, "seed", 0, 2**63 - 1))
        k = tuner.grid.size
        tuner.step = g.count(state, "step")
        tuner.iterations_sum = g.positive(state, "iterations_sum")
        tuner.losses = g.finite_list(state, "losses", k)
        tuner.plays = g.finite_list(state, "plays", k)
        if np.any(tuner.losses < 0) or np.any(tuner.plays < 0) or tuner.plays.sum() > tuner.step:
            raise SolverInputError("state", "losses and plays must be >= 0, plays <= step")
        return tuner


def _check_header(state: dict, kind: str) -> None:
    if not isinstance(state, dict):
        raise SolverInputError("state", "not a tuner state")
    if state.get("kind") != kind:
        raise SolverInputError("state", f"a {state.get('kind')!r} state given to {kind!r}")
    if state.get("version") != g.STATE_VERSION:
        raise SolverInputError("state", f"version {state.get('version')!r}, "
                                        f"this server reads {g.STATE_VERSION}")
