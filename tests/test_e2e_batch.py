"""SolveBatch: N related systems in one call, ordered by the server, solved with a
carried recycle space, answered in input order; bad batches refused by field name."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from solverd import Client, InvalidArgument
from solverd.batch import batch_requests
from solverd.errors import from_rpc_error
from solvers.linear.ordering import order_by

from problems import darcy_2d, gaussian_random_field, poisson_2d

RNG = np.random.default_rng(11)
FIELDS = [0.5 * gaussian_random_field(16, RNG) for _ in range(8)]
MATS = [darcy_2d(16, np.exp(g)) for g in FIELDS]
N = 256


def _assert_solved(a, b, r, rtol: float = 1e-9) -> None:
    x_ref = spla.spsolve(a.tocsc(), b)
    assert r.converged
    assert np.linalg.norm(b - a @ r.x) <= 1.01 * rtol * np.linalg.norm(b)
    assert np.linalg.norm(r.x - x_ref) <= 1e-5 * np.linalg.norm(x_ref)


def _send(client: Client, part) -> list:
    try:
        return list(client._pick().calls["solve_batch"](part.request, timeout=30))
    except Exception as err:  # grpc.RpcError
        raise from_rpc_error(err) from None


@pytest.mark.parametrize("method", ["gcrodr", "recycled_cg"])
def test_batch_of_matrices_in_input_order(client: Client, method: str) -> None:
    rng = np.random.default_rng(0)
    rhs = rng.standard_normal((len(MATS), N))
    results = client.solve_batch(MATS, rhs, method=method, recycle=8, rtol=1e-9)
    assert len(results) == len(MATS)
    for a, b, r in zip(MATS, rhs, results, strict=True):
        _assert_solved(a, b, r)
        assert r.method == method
    # Greedy nearest neighbour on the matrices' values.
    order = order_by(np.array([m.data for m in MATS]))
    assert [results[i].batch_position for i in order] == list(range(len(MATS)))
    # Every system but the first solved carries the space, and pays less for it.
    assert [results[i].recycled for i in order] == [False] + [True] * (len(MATS) - 1)
    assert np.mean([results[i].matvecs for i in order[2:]]) < results[order[0]].matvecs
    assert [results[i].recycle_setup_matvecs for i in order] == [0] + [8] * (len(MATS) - 1)


def test_input_and_feature_orders(client: Client) -> None:
    b = np.ones(N)
    same = client.solve_batch(MATS, b, method="gcrodr", order="input", rtol=1e-9)
    assert [r.batch_position for r in same] == list(range(len(MATS)))
    # One scalar per system, the largest farthest from the mean: sorted descending.
    feats = np.array([3.0, 1.0, 4.0, 0.0, 2.0, 5.0, 6.0, 9.0])
    rev = client.solve_batch(MATS, b, method="gcrodr", features=feats, rtol=1e-9)
    assert [rev[i].batch_position for i in np.argsort(-feats)] == list(range(len(MATS)))
    for a, r in zip(MATS, rev, strict=True):
        _assert_solved(a, b, r)


def test_one_matrix_many_right_hand_sides(client: Client) -> None:
    a = poisson_2d(16)
    rhs = np.random.default_rng(2).standard_normal((6, N))
    results = client.solve_batch(a, rhs, method="recycled_cg", rtol=1e-9)
    for b, r in zip(rhs, results, strict=True):
        _assert_solved(a, b, r)
        assert r.method == "recycled_cg"
    assert [r.batch_position for r in results] == list(range(6))  # nothing to sort
    # The same matrix: the space is reused with no setup products.
    assert all(r.matvecs <= r.iterations + 3 and r.recycle_setup_matvecs == 0 for r in results)
    assert results[-1].iterations < results[0].iterations
    # AUTO: a matrix this small is factorised, once for the whole batch.
    direct = client.solve_batch(a, rhs, rtol=1e-9)
    assert [r.method for r in direct] == ["direct"] * 6
    assert [r.factors_reused for r in direct] == [False] + [True] * 5
    for b, r in zip(rhs, direct, strict=True):
        _assert_solved(a, b, r)


def test_warm_start_and_nonsymmetric_auto(client: Client) -> None:
    skew = [darcy_2d(16, np.exp(g), skew=True) for g in FIELDS[:3]]
    skew.insert(1, skew[0].copy())  # warm, system 1 starts at its own solution
    auto = client.solve_batch(skew, np.ones(N), rtol=1e-9, order="input")
    cold = client.solve_batch(skew, np.ones(N), method="gcrodr", rtol=1e-9, order="input")
    warm = client.solve_batch(skew, np.ones(N), method="gcrodr", rtol=1e-9, order="input",
                              warm_start=True)
    for a, d, c, w in zip(skew, auto, cold, warm, strict=True):
        assert d.method == "direct"  # small: AUTO factorises each system
        assert c.method == "gcrodr"
        for r in (d, c, w):
            _assert_solved(a, np.ones(N), r)
    assert warm[1].iterations == 0 and cold[1].iterations > 10


def test_patterns_split_and_progress(client: Client, capsys) -> None:
    other = sp.csr_matrix(MATS[0] + sp.eye(N, k=3) * 1e-3)  # a pattern of its own
    mats = [MATS[0], other, MATS[1], MATS[2]]
    seen: list[tuple[int, int]] = []
    results = client.solve_batch(mats, np.ones(N), method="gcrodr", rtol=1e-9,
                                 progress=lambda done, total: seen.append((done, total)))
    assert seen == [(i, 4) for i in range(1, 5)]
    for a, r in zip(mats, results, strict=True):
        _assert_solved(a, np.ones(N), r)
    assert not results[1].recycled  # alone in its call
    client.solve_batch(MATS[:3], np.ones(N), method="cg", progress=True)
    assert "3/3 systems" in capsys.readouterr().err


def test_a_direct_method_solves_without_recycling(client: Client) -> None:
    results = client.solve_batch(MATS[:3], np.ones(N), method="direct")
    for a, r in zip(MATS[:3], results, strict=True):
        _assert_solved(a, np.ones(N), r)
        assert not r.recycled and r.method == "direct"


def _bad(part, field: str, value) -> None:
    msg = part.request.message
    if field == "values":
        part.request.payloads.clear()
        part.request.set_tensor("a.csr.data", MATS[0].data)
        part.request.set_tensor("b", np.ones(N))
        part.request.set_tensor("values", value)
    else:
        setattr(msg, field, value)


@pytest.mark.parametrize("change,field", [
    (("values", np.ones((3, 5))), "values.shape"),
    (("values", np.full((2, MATS[0].nnz), np.nan)), "values.data"),
    (("order", 3), "order"),  # FEATURES without features
    (("recycle", 5), "recycle"),  # with METHOD_CG below
    (("max_iterations", -1), "max_iterations"),
    (("method", 99), "method"),
])
def test_bad_batches_name_the_field(client: Client, change, field: str) -> None:
    part = batch_requests(MATS[:2], np.ones(N), method="cg" if field == "recycle" else "auto")[0]
    _bad(part, *change)
    with pytest.raises(InvalidArgument) as info:
        _send(client, part)
    assert field in info.value.fields


def test_rhs_count_must_match(client: Client) -> None:
    part = batch_requests(MATS[:2], np.ones(N))[0]
    part.request.set_tensor("b", np.ones((3, N)))
    with pytest.raises(InvalidArgument) as info:
        _send(client, part)
    assert "b.shape" in info.value.fields
    with pytest.raises(ValueError, match="right-hand sides"):
        client.solve_batch(MATS[:2], np.ones((3, N)))


def test_async_client_batch_matches_the_sync_one(client: Client, server) -> None:
    import asyncio

    from solverd import AsyncClient

    rhs = np.random.default_rng(3).standard_normal((4, N))
    sync = client.solve_batch(MATS[:4], rhs, method="gcrodr", rtol=1e-9)

    async def main() -> list:
        async with AsyncClient(server.address) as aclient:
            out = await aclient.solve_batch(MATS[:4], rhs, method="gcrodr", rtol=1e-9)
            with pytest.raises(InvalidArgument) as info:
                await aclient.solve_batch(MATS[:2], rhs[:2], method="cg", recycle=3)
            assert "recycle" in info.value.fields
            return out

    results = asyncio.run(main())
    for s, r in zip(sync, results, strict=True):
        assert r.batch_position == s.batch_position and r.matvecs == s.matvecs
        np.testing.assert_allclose(r.x, s.x, rtol=0, atol=1e-12 * np.abs(s.x).max())


def test_the_deadline_covers_the_whole_batch(client: Client) -> None:
    from solverd import DeadlineExceeded

    big = [darcy_2d(48, np.exp(0.5 * gaussian_random_field(48, RNG))) for _ in range(3)]
    with pytest.raises(DeadlineExceeded):
        client.solve_batch(big, np.ones(48 * 48), method="gmres", restart=2, rtol=1e-14,
                           max_iterations=10**6, timeout=0.5)
    # The server is free again at once.
    assert client.solve_batch(MATS[:2], np.ones(N), method="cg")[1].converged
