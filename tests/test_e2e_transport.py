"""Transport over gRPC: answers match POT and the in-process solvers, bad input is
INVALID_ARGUMENT naming the field, limits and deadlines hold."""

from __future__ import annotations

import asyncio

import grpc
import numpy as np
import pytest

import solverd.ot as sot
from solverd import AsyncClient, DeadlineExceeded, InvalidArgument
from solverd.errors import from_rpc_error
from solverd.tensors import to_tensor
from solverd.v1 import transport_pb2, transport_pb2_grpc

ot = pytest.importorskip("ot")


def clouds(n: int, m: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    X, Y = rng.random((n, 2)), rng.random((m, 2))
    a, b = rng.random(n) + 0.1, rng.random(m) + 0.1
    M = ot.dist(X, Y)
    return a / a.sum(), b / b.sum(), M / M.max(), X, Y


def test_transport_matches_pot(client):
    a, b, M, _, _ = clouds(150, 120)
    for reg in (1e-2, 2e-3):
        r = client.transport(a, b, M, reg=reg, tol=1e-10)
        P = ot.sinkhorn(a, b, M, reg, stopThr=1e-14, numItermax=500_000)
        assert r.converged and r.marginal_error <= 1e-10
        assert r.cost == pytest.approx((P * M).sum(), rel=1e-7)
        assert np.abs(r.plan - P).max() <= 1e-8 * P.max()
        assert r.method == ("sinkhorn" if reg == 1e-2 else "sns")
        assert r.f.shape == (150,) and r.g.shape == (120,)
        assert r.info.backend == "numpy" and r.info.compute_seconds > 0


def test_points_sparse_plan_and_exact(client):
    a, b, M, X, Y = clouds(100, 100)
    r = client.transport(a, b, X=X, Y=Y, scale="max", reg=1e-3, plan="sparse",
                         plan_threshold=1e-8)
    assert r.converged and r.cost_scale == pytest.approx(ot.dist(X, Y).max())
    assert r.plan.shape == (100, 100) and r.plan.nnz < 100 * 100
    assert r.dropped_mass == pytest.approx(1 - r.plan.sum(), abs=1e-9)
    exact = client.transport(a, b, M, method="exact", plan="none")
    assert exact.cost == pytest.approx(ot.emd2(a, b, M), rel=1e-9) and exact.plan is None
    # general weights: the network simplex, no LP fallback
    assert exact.simplex_pivots >= 1 and exact.lp_rounds == 0


def test_batch_returns_one_result_per_problem(client):
    problems = [clouds(40, 30, seed=s) for s in range(3)]
    A = np.stack([p[0] for p in problems])
    B = np.stack([p[1] for p in problems])
    Ms = np.stack([p[2] for p in problems])
    results = client.transport_batch(A, B, Ms, reg=1e-2)
    assert len(results) == 3
    for (a, b, M, _, _), r in zip(problems, results, strict=True):
        assert r.cost == pytest.approx(client.transport(a, b, M, reg=1e-2).cost, rel=1e-12)
    Xs = np.stack([p[3] for p in problems])
    Ys = np.stack([p[4] for p in problems])
    from_points = client.transport_batch(None, None, X=Xs, Y=Ys, reg=1e-2, plan="none")
    assert len(from_points) == 3 and all(r.plan is None for r in from_points)
    with pytest.warns(DeprecationWarning, match="transport_batch"):
        assert len(client.transport(A, B, Ms, reg=1e-2, plan="none")) == 3  # as before
    assert len(client.transport_batch(A[0], B[0], Ms[0], reg=1e-2)) == 1


def test_unbalanced_over_the_wire(client):
    a, b, M, _, _ = clouds(50, 40)
    r = client.transport(a, 2 * b, M, reg=1e-2, reg_m=0.5, tol=1e-12)
    P = ot.unbalanced.sinkhorn_unbalanced(a, 2 * b, M, 1e-2, 0.5, reg_type="entropy",
                                          stopThr=1e-14, numItermax=100_000)
    assert r.converged and np.abs(r.plan - P).max() <= 1e-9 * P.max()


def test_pot_shaped_calls(client):
    a, b, M, _, _ = clouds(80, 80)
    P = sot.sinkhorn(a, b, M, 1e-2, client=client)
    P_pot = ot.sinkhorn(a, b, M, 1e-2, stopThr=1e-14, numItermax=100_000)
    assert P.shape == (80, 80) and np.abs(P - P_pot).max() <= 1e-8 * P_pot.max()
    cost, log = sot.sinkhorn2(a, b, M, 1e-2, client=client, log=True)
    assert cost == pytest.approx((P_pot * M).sum(), rel=1e-7) and log["niter"] > 0
    np.testing.assert_allclose(np.exp(log["log_u"])[:, None] * np.exp(-M / 1e-2)
                               * np.exp(log["log_v"])[None, :], P, rtol=1e-9, atol=1e-15)
    assert sot.emd2(a, b, M, client=client) == pytest.approx(ot.emd2(a, b, M), rel=1e-9)


def test_float32_histograms_over_the_wire(client):
    """float32 weights normalised apart (PyTorch's) differ in mass by ~1e-8: taken, b
    at a's mass, as POT's emd takes them."""
    a, b, M, _, _ = clouds(60, 50, seed=4)
    a32, b32 = a.astype(np.float32), b.astype(np.float32)
    a32, b32 = a32 / a32.sum(), b32 / b32.sum()
    m32 = M.astype(np.float32)
    exact = client.transport(a32, b32, m32, method="exact")
    assert exact.converged
    assert exact.cost == pytest.approx(ot.emd2(a32.astype(np.float64), b32.astype(np.float64),
                                               m32.astype(np.float64)), rel=1e-9)
    assert sot.emd2(a32, b32, m32, client=client) == pytest.approx(exact.cost, rel=1e-12)
    assert client.transport(a32, b32, M, reg=1e-2, tol=1e-7).converged


def test_async_client(server):
    a, b, M, _, _ = clouds(60, 60)

    async def run():
        async with AsyncClient(server.address) as c:
            return await c.transport(a, b, M, reg=1e-2)

    r = asyncio.run(run())
    assert r.converged


def raw(address: str, request: transport_pb2.TransportRequest, timeout: float = 30):
    with grpc.insecure_channel(address) as channel:
        try:
            return transport_pb2_grpc.TransportStub(channel).Solve(request, timeout=timeout)
        except grpc.RpcError as err:
            return from_rpc_error(err)


def base_request() -> transport_pb2.TransportRequest:
    req = transport_pb2.TransportRequest(reg=1e-2)
    to_tensor(np.ones((4, 3)), req.cost)
    return req


def bad(case: str) -> tuple[transport_pb2.TransportRequest, str]:
    req = base_request()
    if case == "no cost":
        req.ClearField("cost")
        return req, "cost"
    if case == "cost and points":
        to_tensor(np.ones((4, 2)), req.x)
        to_tensor(np.ones((3, 2)), req.y)
        return req, "cost"
    if case == "x without y":
        req.ClearField("cost")
        to_tensor(np.ones((4, 2)), req.x)
        return req, "y"
    if case == "points of different dimension":
        req.ClearField("cost")
        to_tensor(np.ones((4, 2)), req.x)
        to_tensor(np.ones((3, 3)), req.y)
        return req, "y.shape"
    if case == "nan cost":
        to_tensor(np.full((4, 3), np.nan), req.cost)
        return req, "cost.data"
    if case == "a of wrong length":
        to_tensor(np.ones(5) / 5, req.a)
        return req, "a.shape"
    if case == "negative b":
        to_tensor(np.array([0.5, 0.6, -0.1]), req.b)
        return req, "b.data"
    if case == "negative reg":
        req.reg = -1
        return req, "reg"
    if case == "zero reg with sinkhorn":
        req.reg = 0
        req.method = transport_pb2.TRANSPORT_METHOD_SINKHORN
        return req, "reg"
    if case == "unknown method":
        req.method = 42
        return req, "method"
    if case == "negative reg_m":
        req.reg_m = -2
        return req, "reg_m"
    if case == "plan_threshold of 1":
        req.plan_threshold = 1.0
        return req, "plan_threshold"
    if case == "unequal masses":
        to_tensor(np.ones(4), req.a)
        return req, "b"
    if case == "short data":
        req.cost.data = req.cost.data[:-8]
        return req, "cost.data"
    if case == "absurd shape":
        req.cost.shape[:] = [10**9, 10**9]
        return req, "cost.shape"
    raise AssertionError(case)


CASES = ["no cost", "cost and points", "x without y", "points of different dimension",
         "nan cost", "a of wrong length", "negative b", "negative reg",
         "zero reg with sinkhorn", "unknown method", "negative reg_m", "plan_threshold of 1",
         "unequal masses", "short data", "absurd shape"]


@pytest.mark.parametrize("case", CASES)
def test_bad_input_names_the_field(server, case):
    request, field = bad(case)
    error = raw(server.address, request)
    assert isinstance(error, InvalidArgument), error
    assert field in error.fields, error.violations


def test_good_raw_request(server):
    response = raw(server.address, base_request())
    assert not isinstance(response, Exception), response
    assert response.results[0].converged


def test_deadline_stops_a_long_solve(client):
    rng = np.random.default_rng(0)
    M = rng.random((1500, 1500))
    with pytest.raises(DeadlineExceeded):
        client.transport(None, None, M, reg=1e-5, method="sinkhorn", max_iterations=10**6,
                         timeout=0.5)
    # The worker was freed: the next call is answered.
    assert client.transport(None, None, M[:50, :50], reg=1e-1).converged
