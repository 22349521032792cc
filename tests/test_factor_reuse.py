"""LU factors kept for more systems of the same matrix: a SolveBatch of one matrix and a
SolveSequence stream reuse them (answers checked against spsolve on the true residual),
another matrix is factorised afresh, and a factorisation held by a child process dies
with the carry that held it."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
import scipy.sparse.linalg as spla

from solverd import Client
from solvers import abandonable
from solvers.errors import Interrupted
from solvers.linear import direct, solve
from solvers.linear.carry import FactorCarry

from problems import convection_diffusion_2d, poisson_2d, relative_residual

A = convection_diffusion_2d(40).tocsr()
OTHER = poisson_2d(40)


def _rhs(count: int, n: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(n) for _ in range(count)]


def _assert_exact(a, b, x) -> None:
    ref = spla.spsolve(a.tocsc(), b)
    assert relative_residual(a, x, b) < 1e-12
    assert np.linalg.norm(x - ref) <= 1e-10 * np.linalg.norm(ref)


@pytest.mark.parametrize("method", ["direct", "auto"])
def test_a_batch_of_one_matrix_factorises_once(client: Client, method: str) -> None:
    rhs = _rhs(5, A.shape[0])
    results = client.solve_batch(A, rhs, method=method, rtol=1e-10)
    assert [r.factors_reused for r in sorted(results, key=lambda r: r.batch_position)] == \
        [False, True, True, True, True]
    for b, r in zip(rhs, results, strict=True):
        assert r.converged and r.method == "direct"
        _assert_exact(A, b, r.x)


def test_a_batch_of_several_matrices_keeps_nothing(client: Client) -> None:
    mats = [A, (A + 0.5 * OTHER).tocsr(), (A + OTHER).tocsr()]
    rhs = _rhs(3, A.shape[0], seed=1)
    results = client.solve_batch(mats, rhs, method="direct", rtol=1e-10)
    assert not any(r.factors_reused for r in results)
    for a, b, r in zip(mats, rhs, results, strict=True):
        _assert_exact(a, b, r.x)


def test_a_stream_reuses_the_factors_of_a_repeated_matrix(client: Client) -> None:
    rhs = _rhs(4, A.shape[0], seed=2)
    with client.sequence(method="direct", stream=True, rtol=1e-10) as seq:
        first = seq.solve(A, rhs[0])
        again = seq.solve(A, rhs[1])  # the same object: sent as same_matrix
        other = seq.solve(OTHER, rhs[2])
        equal = seq.solve(OTHER.copy(), rhs[3])  # equal values, sent again
    assert [r.factors_reused for r in (first, again, other, equal)] == [False, True, False, True]
    for a, b, r in zip((A, A, OTHER, OTHER), rhs, (first, again, other, equal), strict=True):
        _assert_exact(a, b, r.x)


def test_auto_takes_kept_factors_and_says_so() -> None:
    b1, b2 = _rhs(2, A.shape[0], seed=3)
    first = solve(A, b1, rtol=1e-10, keep_factors=True)
    kept = first.extra["factors"]
    second = solve(A, b2, rtol=1e-10, factors=kept)
    assert second.extra["factors_reused"] and "kept" in second.extra["auto_reason"]
    _assert_exact(A, b2, second.x)
    third = solve(OTHER, b2, rtol=1e-10, factors=kept, keep_factors=True)  # not its matrix
    assert not third.extra["factors_reused"] and third.extra["factors"] is not kept
    _assert_exact(OTHER, b2, third.x)


@pytest.fixture
def in_a_child(monkeypatch):
    """Every factorisation with a stop to poll goes to a child process."""
    monkeypatch.setattr(direct, "ABANDONABLE_FLOPS", 0.0)


def test_factors_in_a_child_die_with_their_carry(in_a_child) -> None:
    b1, b2 = _rhs(2, A.shape[0], seed=4)
    carry = FactorCarry()
    first = solve(A, b1, rtol=1e-10, keep_factors=True, should_stop=lambda: None)
    kept = first.extra["factors"]
    assert kept.which == "superlu" and kept.in_child
    carry.record(first)
    again = solve(A, b2, rtol=1e-10, factors=carry.offer(A), keep_factors=True,
                  should_stop=lambda: None)
    carry.record(again)
    assert again.extra["factors_reused"] and carry.reuses == 1
    _assert_exact(A, b2, again.x)
    process = kept.closer.__self__._process  # the Keeper's child
    assert process.is_alive()
    other = solve(OTHER, b2, rtol=1e-10, factors=carry.offer(OTHER), keep_factors=True,
                  should_stop=lambda: None)
    carry.record(other)  # another matrix: the first factors are closed, their child killed
    assert kept.closed and carry.factors is other.extra["factors"]
    with pytest.raises(ValueError):  # multiprocessing: a closed process object
        process.is_alive()
    carry.close()
    assert other.extra["factors"].closed


def test_a_stop_kills_a_kept_objects_child() -> None:
    keeper = abandonable.Keeper(threading.Event, (), None)
    assert keeper.in_child and keeper.call("is_set", (), None) is False
    process = keeper._process
    polls = iter([None, "deadline"])
    start = time.perf_counter()
    with pytest.raises(Interrupted):
        keeper.call("wait", (30.0,), lambda: next(polls))  # the child would wait 30 s
    assert time.perf_counter() - start < 2.0
    with pytest.raises(ValueError):  # killed, joined and closed
        process.is_alive()
    with pytest.raises(RuntimeError):
        keeper.call("is_set", (), None)


def test_factors_whose_solve_was_stopped_are_never_offered_again() -> None:
    def stopped(b, stop):
        raise Interrupted("deadline")

    kept = direct.Factors(A, np.dtype(np.float64), False, "superlu", 0.0, stopped)
    with pytest.raises(Interrupted):
        kept.solve(np.ones(A.shape[0]))
    assert kept.closed and not kept.matches(A, np.dtype(np.float64), False)
    b = _rhs(1, A.shape[0], seed=5)[0]
    fresh = solve(A, b, rtol=1e-10, factors=kept, keep_factors=True)
    assert not fresh.extra["factors_reused"]
    _assert_exact(A, b, fresh.x)
