"""Tuners: a sound normaliser, learning on a synthetic bandit, reproducible and
resumable state, refusal of corrupt or forged state."""

from __future__ import annotations

import json

import numpy as np
import pytest

from solvers import SolverInputError
from solvers.linear.sequence import SolverSequence
from solvers.tuning import ChebCB, TsallisInf, default_grid, tsallis_probabilities

from problems import poisson_2d, relative_residual


def test_default_grid() -> None:
    grid = default_grid()
    assert grid.size == 20 and grid[0] == 1.0 and grid[-1] == 1.95


@pytest.mark.parametrize("eta", [10.0, 1.0, 0.1, 0.01, 1e-3])
def test_normaliser_sums_to_one(eta: float) -> None:
    rng = np.random.default_rng(0)
    for _ in range(300):
        losses = rng.exponential(100.0, size=20) * rng.random()
        losses[rng.integers(20)] = 0.0
        p = tsallis_probabilities(losses, eta)
        assert abs(p.sum() - 1.0) < 1e-12 and np.all(p > 0)
        assert p.argmax() == losses.argmin()


def test_normaliser_matches_the_optimality_condition() -> None:
    """p_i = 4 / (eta (L_i - x))^2 with one x: sqrt(4/p_i)/eta + x equals L_i."""
    losses = np.array([3.0, 1.0, 7.5, 1.2])
    eta = 0.7
    p = tsallis_probabilities(losses, eta)
    x = losses - 2.0 / (eta * np.sqrt(p))
    np.testing.assert_allclose(x, x[0], rtol=1e-10)


def _synthetic(tuner, rounds: int, best_arm: int, context=None) -> np.ndarray:
    rng = np.random.default_rng(5)
    chosen = np.empty(rounds, dtype=int)
    for t in range(rounds):
        ctx = None if context is None else float(context(t))
        arm, p = tuner.choose(ctx)
        target = best_arm if ctx is None else round(ctx * 19)
        cost = 50 + 10 * abs(arm - target) + rng.normal(0, 2)
        tuner.update(arm, cost, p, ctx)
        chosen[t] = arm
    return chosen


def test_tsallis_inf_finds_the_best_arm() -> None:
    chosen = _synthetic(TsallisInf(seed=1), 3000, best_arm=13)
    assert np.mean(chosen[-500:] == 13) > 0.5


def test_chebcb_learns_a_context_dependent_arm() -> None:
    tuner = ChebCB(seed=2, context_range=(0.0, 1.0))
    chosen = _synthetic(tuner, 3000, best_arm=0, context=lambda t: (t * 0.618) % 1.0)
    contexts = ((np.arange(3000) * 0.618) % 1.0)[-500:]
    assert np.mean(np.abs(chosen[-500:] - np.round(contexts * 19)) <= 1) > 0.6
    assert tuner.best(0.05) < tuner.best(0.95)


@pytest.mark.parametrize("cls", [TsallisInf, ChebCB])
def test_state_round_trips_and_resumes_identically(cls) -> None:
    one = cls(seed=3) if cls is TsallisInf else cls(seed=3, warmup=5)
    two = cls(seed=3) if cls is TsallisInf else cls(seed=3, warmup=5)
    rng = np.random.default_rng(0)
    for t in range(40):
        ctx = float(rng.random())
        for tuner in (one, two):
            arm, p = tuner.choose(ctx)
            tuner.update(arm, 100 + arm, p, ctx)
        if t % 7 == 0:  # hand `two` to a "new replica" through JSON
            two = cls.from_state(json.loads(json.dumps(two.state())))
    assert one.state() == two.state()
    assert one.choose(0.4) == two.choose(0.4)


@pytest.mark.parametrize(("mutate", "message"), [
    (lambda s: s.update(kind="chebcb"), "state"),
    (lambda s: s.update(version=99), "version"),
    (lambda s: s.update(losses=s["losses"][:-1]), "losses"),
    (lambda s: s["losses"].__setitem__(0, float("nan")), "losses"),
    (lambda s: s["losses"].__setitem__(0, -5.0), "losses"),
    (lambda s: s.update(step=-1), "step"),
    (lambda s: s.update(step="many"), "step"),
    (lambda s: s.update(grid=[1.0, 2.5]), "omega"),
    (lambda s: s.update(plays=[1e9] * 20), "plays"),
])
def test_corrupt_tsallis_state_is_refused(mutate, message: str) -> None:
    tuner = TsallisInf()
    for _ in range(5):
        arm, p = tuner.choose()
        tuner.update(arm, 10, p)
    state = json.loads(json.dumps(tuner.state()))
    mutate(state)
    with pytest.raises(SolverInputError, match=message):
        TsallisInf.from_state(state)


def test_forged_chebcb_gram_is_refused() -> None:
    state = ChebCB(context_range=(0, 1)).state()
    state["gram"] = [-1.0] * len(state["gram"])
    with pytest.raises(SolverInputError, match="gram"):
        ChebCB.from_state(state)


def test_sequence_backstop_never_loses_the_answer() -> None:
    """A cap of 5 sweeps caps every solve: each is charged 5 and re-solved safely."""
    a = poisson_2d(12)
    b = np.random.default_rng(0).standard_normal(a.shape[0])
    seq = SolverSequence("sor", tuner="tsallis-inf", cap=5, rtol=1e-10)
    for _ in range(3):
        step = seq.solve(a, b)
        assert step.capped and step.charged == 5 and step.iterations == 5
        assert step.result.converged and relative_residual(a, step.result.x, b) <= 1e-10
    assert sum(seq.tuner.plays) == 3


def test_sequence_fixed_omega_and_resume() -> None:
    a = poisson_2d(12)
    b = np.ones(a.shape[0])
    fixed = SolverSequence("ssor_cg", tuner=None, omega=1.5, rtol=1e-9).solve(a, b)
    assert fixed.omega == 1.5 and fixed.result.converged and not fixed.capped
    first = SolverSequence("sor", tuner="tsallis-inf", seed=4)
    first.solve(a, b)
    resumed = SolverSequence("sor", tuner="tsallis-inf", state=first.state())
    assert resumed.state() == first.state()
    with pytest.raises(SolverInputError, match="tuner"):
        SolverSequence("sor", tuner="tsallis-inf", omega=1.2)
