"""Krylov recycling over the wire: the space returned and sent back (unary), kept by a
SolveSequence stream, and refused by name when it does not fit."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse.linalg as spla

from solverd import Client, InvalidArgument

from problems import darcy_2d, gaussian_random_field

RNG = np.random.default_rng(4)
MATS = [darcy_2d(20, np.exp(0.5 * gaussian_random_field(20, RNG))) for _ in range(6)]
B = np.ones(400)


def _check(a, r) -> None:
    x_ref = spla.spsolve(a.tocsc(), B)
    assert r.converged and np.linalg.norm(r.x - x_ref) <= 1e-6 * np.linalg.norm(x_ref)


def test_unary_solve_returns_and_accepts_the_space(client: Client) -> None:
    first = client.solve(MATS[0], B, method="gcrodr", rtol=1e-9, recycle=10,
                         return_recycle_space=True)
    _check(MATS[0], first)
    assert not first.recycled and first.recycle_space is not None
    assert first.recycle_bytes == 2 * 400 * first.recycle_space.u.shape[0] * 8
    second = client.solve(MATS[1], B, method="gcrodr", rtol=1e-9, recycle=10,
                          recycle_space=first.recycle_space)
    _check(MATS[1], second)
    assert second.recycled and second.recycle_space is None  # not asked for
    assert second.matvecs < first.matvecs


def test_a_recycled_cg_space_carries_its_solve_length_over_the_wire(client: Client) -> None:
    """The iterations that size the next harvest (recycling.harvest_size) go out with
    the space and come back in with it."""
    from service import validation
    from solverd.requests import solve_request
    from solverd.v1 import linear_pb2
    from solverd.wire import decode

    first = client.solve(MATS[0], B, method="recycled-cg", rtol=1e-9, recycle=4,
                         return_recycle_space=True)
    _check(MATS[0], first)
    assert first.recycle_space.iterations == first.iterations > 0
    wire = solve_request(MATS[1], B, method="recycled-cg", rtol=1e-9, recycle=4,
                         recycle_space=first.recycle_space).serialize()
    problem = validation.solve_request(decode(wire, linear_pb2.SolveRequest),
                                       validation.Limits())
    assert problem.recycle_space.iterations == first.iterations
    second = client.solve(MATS[1], B, method="recycled-cg", rtol=1e-9, recycle=4,
                          recycle_space=first.recycle_space)
    _check(MATS[1], second)
    assert second.recycled


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("method", ["gcrodr", "recycled-cg"])
def test_sequences_carry_the_space(client: Client, method: str, stream: bool) -> None:
    with client.sequence(method=method, rtol=1e-9, recycle=10, stream=stream) as seq:
        results = [seq.solve(a, B) for a in MATS]
    for a, r in zip(MATS, results, strict=True):
        _check(a, r)
    assert [r.recycled for r in results] == [False] + [True] * (len(MATS) - 1)
    assert np.mean([r.matvecs for r in results[3:]]) < 0.95 * results[0].matvecs


def test_stream_same_matrix_skips_the_setup_products(client: Client) -> None:
    a = MATS[0]
    rhs = np.random.default_rng(1).standard_normal((4, 400))
    with client.sequence(method="recycled-cg", rtol=1e-9, stream=True) as seq:
        results = [seq.solve(a, b) for b in rhs]  # the same object: sent once
    assert all(r.converged for r in results)
    # No products spent moving the space: matvecs = iterations + residual checks.
    assert results[2].matvecs <= results[2].iterations + 3
    assert results[2].iterations < results[0].iterations


@pytest.mark.parametrize("options,field", [
    ({"method": "cg", "recycle": 5}, "recycle"),
    ({"method": "gcrodr", "recycle": 10**6}, "recycle"),
    ({"method": "gmres", "return_recycle_space": True}, "return_recycle_space"),
])
def test_bad_recycling_requests(client: Client, options: dict, field: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        client.solve(MATS[0], B, **options)
    assert field in info.value.fields


def test_a_space_that_does_not_fit_is_refused(client: Client) -> None:
    space = client.solve(MATS[0], B, method="gcrodr", return_recycle_space=True).recycle_space
    with pytest.raises(InvalidArgument) as info:
        client.solve(MATS[0], B, method="recycled-cg", recycle_space=space)
    assert "recycle_space.kind" in info.value.fields
    small = darcy_2d(10, np.ones((10, 10)))
    with pytest.raises(InvalidArgument) as info:
        client.solve(small, np.ones(100), method="gcrodr", recycle_space=space)
    assert "recycle_space.u" in info.value.fields
    space.c.shape[:] = [3, 400]
    with pytest.raises(InvalidArgument) as info:
        client.solve(MATS[0], B, method="gcrodr", recycle_space=space)
    assert any(f.startswith("recycle_space.c") for f in info.value.fields)


def test_stream_drops_the_space_when_the_pattern_changes(client: Client) -> None:
    import scipy.sparse as sp

    other = sp.csr_matrix(MATS[1] + sp.eye(400, k=5) * 1e-3)
    with client.sequence(method="gcrodr", rtol=1e-9, stream=True) as seq:
        results = [seq.solve(a, B) for a in (MATS[0], other, MATS[2], MATS[3])]
    assert [r.recycled for r in results] == [False, False, False, True]
    for a, r in zip((MATS[0], other, MATS[2], MATS[3]), results, strict=True):
        _check(a, r)
