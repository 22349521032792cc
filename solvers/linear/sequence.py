"""Solving a sequence of related systems while a tuner learns omega online.

Each instance: the tuner picks omega (or it is fixed), SOR or SSOR-PCG runs with
a hard iteration cap, and the tuner is charged the iterations, or the cap when
the solve did not converge. A capped or failed solve is re-solved by a safe
method (`method="auto"`: direct for small systems, else a Krylov method), so a
bad arm never costs the caller the answer (the backstop of Khodak et al.'s
follow-up, PCGBandit).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from solvers.errors import SolverInputError
from solvers.linear.solve import LinearSolveResult, solve
from solvers.tuning import ChebCB, TsallisInf

TUNERS = {"tsallis-inf": TsallisInf, "chebcb": ChebCB}


@dataclass
class SequenceStep:
    result: LinearSolveResult  # the answer returned (the backstop's, when it ran)
    omega: float  # the omega tried
    iterations: int  # iterations the tuned method ran (<= cap)
    charged: int  # what the tuner was charged: iterations, or the cap
    capped: bool
    best_omega: float  # the tuner's current favourite (for this context)


class SolverSequence:
    """`method` "sor" or "ssor_cg"; `tuner` "tsallis-inf", "chebcb", or None with `omega`."""

    def __init__(self, method: str = "sor", tuner: str | None = "tsallis-inf",
                 omega: float | None = None, cap: int = 10_000, rtol: float = 1e-8,
                 atol: float = 0.0, seed: int = 0, state: dict | None = None,
                 **tuner_options: Any) -> None:
        if method not in ("sor", "ssor_cg"):
            raise SolverInputError("method", f"sequences tune sor or ssor_cg, not {method!r}")
        if (tuner is None) == (omega is None):
            raise SolverInputError("tuner", "give either a tuner or a fixed omega")
        if tuner is not None and tuner not in TUNERS:
            raise SolverInputError("tuner", f"unknown tuner {tuner!r}; one of {sorted(TUNERS)}")
        if cap < 1:
            raise SolverInputError("cap", "must be >= 1")
        self.method, self.omega, self.cap = method, omega, int(cap)
        self.rtol, self.atol = rtol, atol
        self.tuner: TsallisInf | ChebCB | None = None
        if tuner is not None:
            cls = TUNERS[tuner]
            self.tuner = (cls.from_state(state) if state is not None
                          else cls(seed=seed, **tuner_options))

    def solve(self, a: Any, b: np.ndarray, context: float | None = None,
              x0: np.ndarray | None = None,
              should_stop: Callable[[], str | None] | None = None) -> SequenceStep:
        if self.tuner is None:
            arm, probability, omega = -1, 1.0, float(self.omega)  # type: ignore[arg-type]
        else:
            arm, probability = self.tuner.choose(context)
            omega = float(self.tuner.grid[arm])
        tuned = solve(a, b, method=self.method, omega=omega, x0=x0, rtol=self.rtol,
                      atol=self.atol, maxiter=self.cap, device="cpu", should_stop=should_stop)
        capped = not tuned.converged
        charged = self.cap if capped else tuned.iterations
        if self.tuner is not None:
            self.tuner.update(arm, charged, probability, context)
        answer = tuned
        if capped:
            answer = solve(a, b, method="auto", x0=x0, rtol=self.rtol, atol=self.atol,
                           device="cpu", should_stop=should_stop)
        best = self.tuner.best(context) if self.tuner is not None else omega
        return SequenceStep(answer, omega, tuned.iterations, charged, capped, best)

    def state(self) -> dict | None:
        return self.tuner.state() if self.tuner is not None else None
