"""Chunked requests (chunks.proto): same answers as unary, no message limit, hostile
streams refused by field."""

from __future__ import annotations

import grpc
import numpy as np
import pytest
import scipy.sparse as sp

from solverd import Client
from solverd.channels import SOLVE
from solverd.errors import from_rpc_error
from solverd.requests import solve_request
from solverd.v1 import linear_pb2
from solverd.wire import WireMessage

from conftest import chunk_data, chunk_header, start_server
from problems import poisson_2d, wide_band

SOLVE_RPC = "solverd.v1.LinearSolver/Solve"  # the rpc label: gRPC's full method name


def _violations(err) -> list[str]:
    return from_rpc_error(err).fields


def test_every_chunked_rpc_answers_like_its_unary_twin(server) -> None:
    rng = np.random.default_rng(1)
    a = poisson_2d(60)
    b = rng.standard_normal(a.shape[0])
    X = rng.standard_normal((200, 800))
    y = X[:, :4] @ np.array([1.0, -2.0, 0.5, 3.0]) + 0.01 * rng.standard_normal(200)
    M = rng.random((150, 120))
    obs = sp.random(300, 200, density=0.3, random_state=2, format="coo")
    with Client(server.address, chunk_threshold=1 << 40) as unary, \
            Client(server.address, chunk_threshold=0) as chunked:
        answers = []
        for client in (unary, chunked):
            answers.append([
                client.solve(a, b, method="cg", rtol=1e-10).x,
                np.stack([r.x for r in client.solve_batch(a, np.stack([b, 2 * b]),
                                                          rtol=1e-10)]),
                client.transport(None, None, M, reg=0.05).plan,
                client.complete(obs, rank=3, seed=0).U,
                client.lasso(X, y, 0.05).coef,
                np.stack([r.coef for r in client.lasso_path(X, y, n_alphas=4)]),
            ])
    for u, c in zip(*answers, strict=True):
        assert u.shape == c.shape and np.array_equal(u, c)


def test_a_request_beyond_the_message_limit_goes_in_chunks() -> None:
    running = start_server("--backend", "cpu", "--max-message-bytes", str(1 << 20))
    try:
        a = poisson_2d(150)  # 22,500 rows, ~1.7 MiB of CSR
        b = np.ones(a.shape[0])
        with Client(running.address, max_message_bytes=1 << 20) as client:
            result = client.solve(a, b, method="cg", rtol=1e-8)
            assert result.converged
            assert np.linalg.norm(a @ result.x - b) <= 1e-7 * np.linalg.norm(b)
        # A client that does not know the server's smaller limit is refused once, then
        # streams the request.
        with Client(running.address) as unaware:
            assert unaware.solve(a, b, method="cg", rtol=1e-8).converged
        assert running.metric("solverd_requests_total", rpc=SOLVE_RPC, code="OK") == 2
        big = WireMessage(linear_pb2.SolveRequest())
        big.set_tensor("b", np.ones(300_000))
        with grpc.insecure_channel(running.address) as channel, \
                pytest.raises(grpc.RpcError) as info:
            channel.unary_unary(SOLVE.path, request_serializer=SOLVE.serialize)(big)
        assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    finally:
        running.stop()


def _raw_stream(address: str, chunks: list[bytes]):
    import grpc

    with grpc.insecure_channel(address) as channel:
        call = channel.stream_unary("/solverd.v1.LinearSolver/SolveChunked",
                                    request_serializer=lambda m: m,
                                    response_deserializer=lambda m: m)
        try:
            call(iter(chunks), timeout=30)
        except grpc.RpcError as err:
            return err
    raise AssertionError("the server accepted a bad stream")


def test_hostile_chunk_streams_are_refused_by_field(server) -> None:
    import grpc

    a = poisson_2d(100)
    request = solve_request(a, np.ones(a.shape[0]))
    good = list(request.chunks(1 << 16))
    fields = [(path, arr.nbytes) for path, _, arr in request.payloads]
    assert len(fields) >= 2
    cases = {
        "no header": ([good[1]], "header"),
        "two headers": ([good[0], good[0]], "header"),
        "unknown field": ([chunk_header(request, [("a.csr.nope", 8)])], "header.tensors[0].field"),
        "not a tensor": ([chunk_header(request, [("a", 8)])], "header.tensors[0].field"),
        "declared twice": ([chunk_header(request, [fields[0], fields[0]])],
                           "header.tensors[1].field"),
        "negative size": ([chunk_header(request, [(fields[0][0], -1)])], "header.tensors[0].size"),
        "huge size": ([chunk_header(request, [(fields[0][0], 1 << 62)])], "header.tensors[0].size"),
        "bad index": ([good[0], chunk_data(99, b"x")], "data.tensor"),
        "too many bytes": ([chunk_header(request, [(fields[0][0], 4)]), chunk_data(0, b"12345")],
                           "data.data"),
        "too few bytes": (good[:-1], "data"),
        "garbage chunk": ([good[0], b"\xff\xff\xff"], "(chunk)"),
        "size not the shape's": ([chunk_header(request, [(fields[0][0], 8)]),
                                  chunk_data(0, b"8" * 8), *good[1:]], None),
    }
    for name, (chunks, field) in cases.items():
        err = _raw_stream(server.address, chunks)
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT, (name, err)
        if field is not None:
            assert field in _violations(err), (name, _violations(err))
    # The server still serves.
    with Client(server.address, chunk_threshold=0) as client:
        assert client.solve(a, np.ones(a.shape[0]), method="cg").converged


def _available_bytes() -> int:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return 0


@pytest.mark.skipif(_available_bytes() < 12 * 2**30, reason="needs 12 GiB of free memory")
def test_a_problem_beyond_two_gib_round_trips() -> None:
    """More than one protobuf message can hold (2^31 - 1 bytes): only chunks carry it."""
    a = wide_band(1_000_000, 90)
    b = np.random.default_rng(0).standard_normal(a.shape[0])
    assert a.data.nbytes + a.indices.nbytes + a.indptr.nbytes > 2**31
    running = start_server("--backend", "cpu", "--cpu-workers", "1")
    try:
        with Client(running.address) as client:
            result = client.solve(a, b, method="cg", rtol=1e-10, timeout=300)
        assert result.converged
        assert np.linalg.norm(a @ result.x - b) <= 1e-9 * np.linalg.norm(b)
    finally:
        running.stop()


def test_async_client_chunks_and_shards(server) -> None:
    import asyncio

    from solverd import AsyncClient

    a = poisson_2d(60)
    rng = np.random.default_rng(4)
    rhs = rng.standard_normal((4, a.shape[0]))

    async def run() -> tuple:
        async with AsyncClient([server.address, server.address], chunk_threshold=0) as client:
            one = await client.solve(a, rhs[0], method="cg", rtol=1e-10)
            batch = await client.solve_batch(a, rhs, method="cg", rtol=1e-10)
            fit = await client.lasso(rng.standard_normal((100, 300)), rng.standard_normal(100),
                                     0.1)
        return one, batch, fit

    one, batch, fit = asyncio.run(run())
    assert one.converged and fit.converged and len(batch) == 4
    for b, r in zip(rhs, batch, strict=True):
        assert r.converged and np.linalg.norm(a @ r.x - b) <= 1e-9 * np.linalg.norm(b)
