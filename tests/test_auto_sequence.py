"""Tuned AUTO along a sequence (solvers.linear.auto_sequence): every arm answers right,
an arm over its time budget is charged and the system solved by AUTO, the state
resumes exactly and a foreign one is refused by field."""

from __future__ import annotations

import numpy as np
import pytest

from solvers import SolverInputError
from solvers.linear import auto_sequence
from solvers.linear.auto_sequence import ARMS, AutoSequence

from problems import darcy_2d, gaussian_random_field, relative_residual


def _sequence(count: int, skew: bool = False) -> list:
    rng = np.random.default_rng(0)
    g0, g1 = gaussian_random_field(40, rng), gaussian_random_field(40, rng)
    return [darcy_2d(40, np.exp(np.cos(t) * g0 + np.sin(t) * g1), skew=skew)
            for t in np.linspace(0.0, 0.3, count)]


@pytest.mark.parametrize("skew", [False, True])
@pytest.mark.parametrize("fixed", ARMS)
def test_every_arm_answers_right(fixed: str, skew: bool) -> None:
    mats = _sequence(3, skew)
    b = np.ones(mats[0].shape[0])
    seq = AutoSequence(rtol=1e-9, fixed=fixed)
    for a in mats:
        step = seq.solve(a, b)
        assert step.result.converged and not step.capped
        assert relative_residual(a, step.result.x, b) <= 1e-9
        assert f"played {fixed}" in step.result.extra["auto_reason"]


def test_an_arm_over_its_budget_is_charged_and_the_system_solved_by_auto(monkeypatch) -> None:
    mats = _sequence(6)
    b = np.ones(mats[0].shape[0])
    monkeypatch.setattr(auto_sequence, "BUDGET", 1e-9)  # every play after the first
    seq = AutoSequence(rtol=1e-9, seed=1)
    steps = [seq.solve(a, b) for a in mats]
    assert not steps[0].capped and all(s.capped for s in steps[1:])
    for a, s in zip(mats, steps, strict=True):
        assert s.result.converged and relative_residual(a, s.result.x, b) <= 1e-9
    assert "over its budget" in steps[-1].result.extra["auto_reason"]


def test_the_state_resumes_exactly_and_a_foreign_one_is_refused() -> None:
    mats = _sequence(6)
    b = np.ones(mats[0].shape[0])
    part = AutoSequence(rtol=1e-8, seed=4)
    for a in mats[:4]:
        part.solve(a, b)
    resumed = AutoSequence(rtol=1e-8, state=part.state())
    assert resumed.state() == part.state()  # the wire's round trip is exact
    # The draws depend on (seed, step): the resumed tuner's next probabilities and draw
    # are the ones the first would have made.
    assert resumed.tuner.choose() == part.tuner.choose()
    resumed.solve(mats[4], b)
    assert resumed.tuner.step == 5 and resumed.tuner.plays.sum() == 5
    with pytest.raises(SolverInputError) as info:
        AutoSequence(state={**part.state(), "kind": "tsallis-inf"})
    assert info.value.field == "state"
    with pytest.raises(SolverInputError):
        AutoSequence(state={**part.state(), "grid": [1.0, 1.5]})


def test_a_direct_play_over_the_memory_budget_is_never_started(monkeypatch) -> None:
    mats = _sequence(8, skew=True)  # small: AUTO alone would factorise each
    b = np.ones(mats[0].shape[0])
    started: list[str] = []
    real_play = AutoSequence._play

    def spy(self, name, *args):
        started.append(name)
        return real_play(self, name, *args)

    monkeypatch.setattr(AutoSequence, "_play", spy)
    seq = AutoSequence(rtol=1e-9, seed=3, factor_budget=1.0)  # no factorisation fits
    steps = [seq.solve(a, b) for a in mats]
    assert seq.tuner.plays[ARMS.index("direct")] >= 1  # picked, and charged ...
    assert "direct" not in started  # ... but never run
    for a, step in zip(mats, steps, strict=True):
        assert step.result.converged and step.result.method != "direct"
        assert relative_residual(a, step.result.x, b) <= 1e-9
    fixed = AutoSequence(rtol=1e-9, fixed="direct", factor_budget=1.0).solve(mats[0], b)
    assert fixed.capped and fixed.result.converged and fixed.result.method != "direct"
