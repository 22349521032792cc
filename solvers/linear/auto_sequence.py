"""AUTO that learns, along a sequence of related systems, which configuration is fastest.

The arms are whole configurations: a direct factorisation per system, AMG-preconditioned
Krylov (CG for SPD-looking matrices, GMRES otherwise) reusing the sequence's hierarchy
(refreshed per matrix, solvers.linear.carry.AmgCarry), the same with a hierarchy built
afresh, and Krylov recycling (recycled CG or GCRO-DR) carrying its space. 1/2-Tsallis-INF
(Zimmert & Seldin, JMLR 2021), the bandit that tunes SOR's omega after "Learning to
Relax" (Khodak et al., 2024), picks one per system and is charged its wall seconds over
their running mean. Its state travels with the caller as the omega tuner's does; the
hierarchy and the recycle space stay where the sequence runs (a stream or a process).

An arm may cost far more than the best one: the first play is AUTO's own pick, and each
later one is given BUDGET times the fastest solve seen so far, is charged at least that
when it is stopped or fails, and the system is then solved by the fastest arm seen (else
AUTO), so exploring never costs the caller the answer, only bounded time (PCGBandit's
backstop, as in solvers.linear.sequence). Measured (bench/linear.py --sequence --tuned
and 100 systems at 256^2): the regret of exploring four arms is paid over tens of
systems; short sequences do better with the best fixed configuration.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from solvers.errors import Interrupted, SolverInputError
from solvers.linear.carry import AmgCarry, RecycleCarry
from solvers.linear.direct import DEFAULT_FACTOR_BUDGET_BYTES, over_budget
from solvers.linear.sequence import SequenceStep
from solvers.linear.solve import LinearSolveResult, choose, looks_spd, solve
from solvers.tuning import grid as g
from solvers.tuning.tsallis import TsallisInf, _check_header

ARMS = ("direct", "amg_reuse", "amg_rebuild", "recycled")
BUDGET = 2.0
_OVER_BUDGET = "over the arm's time budget"


class ConfigTsallis(TsallisInf):
    """Tsallis-INF over ARMS; its loss is seconds over their running mean (the state's
    `iterations_sum` holds the seconds). The grid holds the arm indices."""

    kind = "tsallis-inf-auto"

    def __init__(self, grid: object = None, seed: int = 0) -> None:
        self.grid = np.arange(len(ARMS), dtype=np.float64)
        self.seed = int(seed)
        self.losses = np.zeros(len(ARMS))
        self.plays = np.zeros(len(ARMS))
        self.step = 0
        self.iterations_sum = 0.0

    @classmethod
    def from_state(cls, state: dict) -> ConfigTsallis:
        _check_header(state, cls.kind)
        if list(state.get("grid") or []) != list(range(len(ARMS))):
            raise SolverInputError("state", f"grid: the arms are 0..{len(ARMS) - 1} ({ARMS})")
        tuner = cls(seed=g.count(state, "seed", 0, 2**63 - 1))
        tuner.step = g.count(state, "step")
        tuner.iterations_sum = g.positive(state, "iterations_sum")
        tuner.losses = g.finite_list(state, "losses", len(ARMS))
        tuner.plays = g.finite_list(state, "plays", len(ARMS))
        if np.any(tuner.losses < 0) or np.any(tuner.plays < 0) or tuner.plays.sum() > tuner.step:
            raise SolverInputError("state", "losses and plays must be >= 0, plays <= step")
        return tuner

    def favourite(self) -> str:
        return ARMS[int(np.argmin(self.losses))]


class AutoSequence:
    """Solves each system with the arm the tuner picks; `fixed` plays one arm always (the
    benchmark's fixed configurations)."""

    def __init__(self, rtol: float = 1e-8, atol: float = 0.0, seed: int = 0,
                 state: dict | None = None, fixed: str | None = None,
                 factor_budget: float | None = DEFAULT_FACTOR_BUDGET_BYTES) -> None:
        if fixed is not None and fixed not in ARMS:
            raise SolverInputError("method", f"unknown configuration {fixed!r}; one of {ARMS}")
        self.rtol, self.atol, self.fixed = rtol, atol, fixed
        self.factor_budget = factor_budget  # a direct play over it is never started
        self.tuner = ConfigTsallis.from_state(state) if state is not None else ConfigTsallis(
            seed=seed)
        self.amg = AmgCarry()
        self.carry = RecycleCarry()
        self.fastest: float | None = None  # seconds of the fastest converged play here
        self.fastest_arm: str | None = None

    def solve(self, a: Any, b: np.ndarray, context: float | None = None,
              x0: np.ndarray | None = None,
              should_stop: Callable[[], str | None] | None = None) -> SequenceStep:
        if self.fixed is not None:
            arm, probability = ARMS.index(self.fixed), 1.0
        elif self.fastest is None:
            # Nothing yet bounds a play's time (unpreconditioned recycled CG on a 512^2
            # Darcy system takes ~40 s, AMG-CG 0.4 s): AUTO's own pick goes first.
            arm, probability = ARMS.index(_auto_arm(a, self.factor_budget)), 1.0
        else:
            arm, probability = self.tuner.choose()
        budget = None if self.fixed is not None or self.fastest is None else (
            BUDGET * self.fastest)
        start = time.perf_counter()
        played: LinearSolveResult | None = None
        try:
            if not self._over_memory(ARMS[arm], a):
                played = self._play(ARMS[arm], a, b, x0, _budgeted(should_stop, budget))
        except Interrupted as stop:
            if stop.reason != _OVER_BUDGET:
                raise
        seconds = time.perf_counter() - start
        capped = played is None or not played.converged
        charged = max(seconds, budget or 0.0) if capped else seconds
        if self.fixed is None:
            self.tuner.update(arm, charged, probability)
        answer = played
        if capped:
            answer = self._rescue(a, b, x0, should_stop)
        elif self.fastest is None or seconds < self.fastest:
            self.fastest, self.fastest_arm = seconds, ARMS[arm]
        assert answer is not None
        answer.extra["auto_reason"] = (
            f"tuned AUTO played {ARMS[arm]} (p = {probability:.2f}, {seconds:.3g} s"
            f"{', over its budget: solved by ' + answer.method if capped else ''}); the "
            f"tuner's favourite so far: {self.tuner.favourite()}")
        return SequenceStep(answer, float(arm), played.iterations if played else 0,
                            round(charged * 1e6), capped,  # microseconds
                            float(np.argmin(self.tuner.losses)))

    def _over_memory(self, name: str, a: Any) -> bool:
        """A direct play whose factors would pass the budget: charged as over its time
        budget, never started."""
        return name == "direct" and over_budget(a, self.factor_budget) is not None

    def _rescue(self, a: Any, b: np.ndarray, x0: np.ndarray | None,
                should_stop: Callable[[], str | None] | None) -> LinearSolveResult:
        """A system whose play ran over: the fastest arm seen so far (its hierarchy or
        space still at hand), else plain AUTO."""
        if self.fastest_arm is not None and not self._over_memory(self.fastest_arm, a):
            result = self._play(self.fastest_arm, a, b, x0, should_stop)
            if result.converged:
                return result
        return solve(a, b, method="auto", x0=x0, rtol=self.rtol, atol=self.atol,
                     device="cpu", should_stop=should_stop, factor_budget=self.factor_budget)

    def _play(self, name: str, a: Any, b: np.ndarray, x0: np.ndarray | None,
              should_stop: Callable[[], str | None] | None) -> LinearSolveResult:
        options: dict[str, Any] = dict(x0=x0, rtol=self.rtol, atol=self.atol, device="cpu",
                                       should_stop=should_stop,
                                       factor_budget=self.factor_budget)
        if name == "direct":
            return solve(a, b, method="direct", **options)
        spd = looks_spd(a)
        if name in ("amg_reuse", "amg_rebuild"):
            hierarchy = self.amg.offer(a) if name == "amg_reuse" else None
            result = solve(a, b, method="cg" if spd else "gmres", preconditioner="amg",
                           amg_hierarchy=hierarchy, **options)
            self.amg.record(a, result)  # a rebuilt hierarchy is the one reused next
            return result
        space = self.carry.offer(a)
        result = solve(a, b, method="recycled_cg" if spd else "gcrodr", recycle_space=space,
                       **options)
        self.carry.record(a, result.matvecs, bool(result.extra.get("recycled")),
                          result.extra.get("recycle_space"))
        return result

    def state(self) -> dict:
        return self.tuner.state()


def _auto_arm(a: Any, factor_budget: float | None) -> str:
    """The arm closest to what plain AUTO would do with `a`."""
    method, preconditioner, _ = choose(a, factor_budget=factor_budget)
    if method == "direct":
        return "direct"
    return "amg_reuse" if preconditioner == "amg" else "recycled"


def _budgeted(should_stop: Callable[[], str | None] | None,
              seconds: float | None) -> Callable[[], str | None] | None:
    if seconds is None:
        return should_stop
    end = time.perf_counter() + seconds

    def poll() -> str | None:
        reason = should_stop() if should_stop is not None else None
        return reason or (_OVER_BUDGET if time.perf_counter() > end else None)

    return poll
