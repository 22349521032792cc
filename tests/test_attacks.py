"""Attacks on one replica (issue 27): memory that rejected requests held, work that
outlived its deadline, probes starved, denial of service. Each test failed on the code
before its fix."""

from __future__ import annotations

import grpc
import numpy as np
import pytest

from solverd.requests import solve_request
from solverd.v1 import chunks_pb2

from conftest import start_server
from problems import poisson_2d

MIB = 1 << 20


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def _stream_call(channel: grpc.Channel, method: str):
    return channel.stream_unary(method, request_serializer=lambda m: m,
                                response_deserializer=lambda m: m)


def _header(request, tensors: list[tuple[str, int]]) -> bytes:
    msg = chunks_pb2.RequestChunk()
    msg.header.request = request.message.SerializeToString()
    for field, size in tensors:
        msg.header.tensors.add(field=field, size=size)
    return msg.SerializeToString()


def _data(index: int, data: bytes) -> bytes:
    return chunks_pb2.RequestChunk(data=chunks_pb2.TensorChunk(tensor=index, data=data)
                                   ).SerializeToString()


def _overlong_upload(declared: int) -> list[bytes]:
    """A chunked Solve that declares `declared` bytes for b and sends 8 more."""
    a = poisson_2d(10)
    request = solve_request(a, np.ones(a.shape[0]))
    request.message.b.ClearField("data")
    path = "b"
    block = b"\0" * (4 * MIB)
    chunks = [_header(request, [(path, declared)])]
    sent = 0
    while sent < declared:
        piece = block[:min(len(block), declared - sent)]
        chunks.append(_data(0, piece))
        sent += len(piece)
    chunks.append(_data(0, b"8" * 8))
    return chunks


def test_rejected_requests_do_not_outlive_their_call() -> None:
    """Refused requests, unary or chunked, leave nothing behind: before, each stayed
    referenced (exception -> traceback -> frame -> buffers) until a full collection,
    and 40 overlong 16 MiB uploads took the server's RSS up by ~640 MiB."""
    server = start_server("--backend", "cpu")
    try:
        with grpc.insecure_channel(server.address, options=[
                ("grpc.max_send_message_length", 64 * MIB)]) as channel:
            upload = _stream_call(channel, "/solverd.v1.LinearSolver/SolveChunked")
            solve = channel.unary_unary("/solverd.v1.LinearSolver/Solve",
                                        request_serializer=lambda m: m,
                                        response_deserializer=lambda m: m)
            a = poisson_2d(10)
            bad = solve_request(a, np.ones(2 * MIB // 8)).message.SerializeToString()
            chunks = _overlong_upload(16 * MIB)

            def attack(rounds: int) -> None:
                for _ in range(rounds):
                    with pytest.raises(grpc.RpcError) as err:
                        upload(iter(chunks), timeout=30)
                    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
                    assert "declared" in err.value.details()
                    for _ in range(5):
                        with pytest.raises(grpc.RpcError) as err:
                            solve(bad, timeout=30)
                        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT

            attack(5)  # warm: allocator pools, gRPC's buffers
            before = rss_mib(server.process.pid)
            attack(40)
            grown = rss_mib(server.process.pid) - before
        print(f"RSS grew {grown:.0f} MiB")
        assert grown < 120, f"RSS grew {grown:.0f} MiB over 40 x (16 MiB upload + 5 x 2 MiB)"
    finally:
        server.stop()
