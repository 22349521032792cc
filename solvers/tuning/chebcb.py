"""ChebCB: the contextual tuner of "Learning to Relax" (sec. 4).

SquareCB (Foster & Rakhlin, ICML 2020) over the omega grid, with one ridge
least-squares model per arm on Chebyshev features T_0..T_5 of the scalar context
(e.g. a diagonal shift, or a diffusion coefficient times the time step) rescaled
to [-1, 1]. Each round the arm with the least predicted loss is favoured and
arm k is played with probability 1 / (K + gamma (yhat_k - yhat_best)), gamma
growing linearly in t as in the authors' code. Until the context range is known
(given, or estimated from the first `warmup` contexts) and whenever a request
carries no context, the fallback Tsallis-INF tuner chooses.

The models predict log iterations, not iterations over their running mean (the
paper's normalisation). SOR's cost is log(tol) / log(rho(omega, c)): it blows up
as the shift nears indefiniteness, which a degree-5 polynomial fits badly, while
its logarithm is smooth; and a difference of logs is a relative excess, so the
gap SquareCB scales needs no normaliser and old samples never go stale when the
running mean drifts. Measured on the paper's shifted-Laplacian setting (three
seeds x two shift laws, bench/sor_bandit.py tables): mean cost / instance-optimal
fell from 1.09-1.19 to 1.06-1.13. A small ridge (0.01) keeps unexplored arms
optimistic (log 1 = 0), which is what drives exploration early on.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.polynomial import chebyshev

from solvers.errors import SolverInputError
from solvers.tuning import grid as g
from solvers.tuning.tsallis import TsallisInf, _check_header

DEGREE = 5


class ChebCB:
    kind = "chebcb"

    def __init__(self, grid: object = None, seed: int = 0,
                 context_range: tuple[float, float] | None = None, warmup: int = 10,
                 ridge: float = 0.01, gamma_scale: float = 30.0) -> None:
        self.grid = g.default_grid() if grid is None else g.check_grid(grid)
        self.seed = int(seed)
        k, d = self.grid.size, DEGREE + 1
        self.gram = np.broadcast_to(np.eye(d) * ridge, (k, d, d)).copy()
        self.moment = np.zeros((k, d))
        self.step = 0
        self.warmup = int(warmup)
        self.gamma_scale = float(gamma_scale)
        self.range: tuple[float, float] | None = None
        if context_range is not None:
            self.range = _check_range(context_range)
        self.seen: list[float] = []
        self.fallback = TsallisInf(self.grid, seed=self.seed + 1)

    def _features(self, context: float) -> np.ndarray:
        assert self.range is not None
        lo, hi = self.range
        u = min(1.0, max(-1.0, 2.0 * (context - lo) / (hi - lo) - 1.0))
        return chebyshev.chebvander(np.array([u]), DEGREE)[0]

    def predictions(self, context: float) -> np.ndarray:
        phi = self._features(context)
        theta = np.linalg.solve(self.gram, self.moment[..., None])[..., 0]
        return theta @ phi

    def _contextual(self, context: float | None) -> bool:
        return context is not None and self.range is not None

    def probabilities(self, context: float | None) -> np.ndarray:
        if not self._contextual(context):
            return self.fallback.probabilities()
        yhat = self.predictions(float(context))
        best = int(np.argmin(yhat))
        k = self.grid.size
        gamma = self.gamma_scale * k * (self.step + 1)
        p = 1.0 / (k + gamma * (yhat - yhat[best]))
        p[best] = 0.0
        p[best] = 1.0 - p.sum()
        return p

    def choose(self, context: float | None = None) -> tuple[int, float]:
        p = self.probabilities(context)
        arm = g.sample(p, g.draw(self.seed, self.step))
        return arm, float(p[arm])

    def update(self, arm: int, iterations: float, probability: float,
               context: float | None = None) -> None:
        contextual = self._contextual(context)
        self.step += 1
        if contextual:
            phi = self._features(float(context))
            self.gram[arm] += np.outer(phi, phi)
            self.moment[arm] += phi * math.log(max(float(iterations), 1.0))
        else:
            self.fallback.update(arm, iterations, probability)
        if context is not None and self.range is None:
            self.seen.append(float(context))
            if len(self.seen) >= self.warmup:
                lo, hi = min(self.seen), max(self.seen)
                margin = 0.1 * (hi - lo) if hi > lo else max(1.0, abs(lo))
                self.range = (lo - margin, hi + margin)

    def best(self, context: float | None = None) -> float:
        if not self._contextual(context):
            return self.fallback.best()
        return float(self.grid[int(np.argmin(self.predictions(float(context))))])

    def state(self) -> dict:
        return {"kind": self.kind, "version": g.STATE_VERSION, "grid": self.grid.tolist(),
                "seed": self.seed, "step": self.step,
                "warmup": self.warmup, "gamma_scale": self.gamma_scale,
                "range": list(self.range) if self.range is not None else None,
                "seen": list(self.seen), "gram": self.gram.reshape(-1).tolist(),
                "moment": self.moment.reshape(-1).tolist(), "fallback": self.fallback.state()}

    @classmethod
    def from_state(cls, state: dict) -> ChebCB:
        _check_header(state, cls.kind)
        gamma_scale = g.positive(state, "gamma_scale")
        tuner = cls(g.check_grid(state.get("grid")), g.count(state, "seed", 0, 2**63 - 1),
                    warmup=g.count(state, "warmup", 1, 10_000), gamma_scale=gamma_scale)
        k, d = tuner.grid.size, DEGREE + 1
        tuner.step = g.count(state, "step")
        if state.get("range") is not None:
            tuner.range = _check_range(state["range"])
        seen = state.get("seen")
        if not isinstance(seen, list) or len(seen) > tuner.warmup:
            raise SolverInputError("state", "seen: at most warmup contexts")
        tuner.seen = g.finite_list(state, "seen", len(seen)).tolist()
        gram = g.finite_list(state, "gram", k * d * d).reshape(k, d, d)
        # Each arm's Gram matrix is ridge * I plus outer products: symmetric positive definite.
        if not np.allclose(gram, gram.transpose(0, 2, 1)) or np.any(
                np.linalg.eigvalsh(gram)[:, 0] <= 0):
            raise SolverInputError("state", "gram: not symmetric positive definite")
        tuner.gram = gram
        tuner.moment = g.finite_list(state, "moment", k * d).reshape(k, d)
        fallback = TsallisInf.from_state(state.get("fallback"))  # type: ignore[arg-type]
        if fallback.grid.size != k or not np.allclose(fallback.grid, tuner.grid):
            raise SolverInputError("state", "fallback: grid differs")
        tuner.fallback = fallback
        return tuner


def _check_range(value: object) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in value)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        raise SolverInputError("context_range", "needs two numbers (low, high)") from None
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise SolverInputError("context_range", f"needs finite low < high, got ({lo}, {hi})")
    return lo, hi
