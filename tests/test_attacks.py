"""Attacks on one replica (issue 27): memory that rejected requests held, work that
outlived its deadline, probes starved, denial of service. Each test failed on the code
before its fix."""

from __future__ import annotations

import time

import grpc
import numpy as np
import pytest

from solverd.requests import solve_request

from conftest import chunk_data, chunk_header, start_server
from problems import poisson_2d

MIB = 1 << 20


def _stream_call(channel: grpc.Channel, method: str):
    return channel.stream_unary(method, request_serializer=lambda m: m,
                                response_deserializer=lambda m: m)


def _overlong_upload(declared: int) -> list[bytes]:
    """A chunked Solve that declares `declared` bytes for b and sends 8 more."""
    a = poisson_2d(10)
    request = solve_request(a, np.ones(a.shape[0]))
    request.message.b.ClearField("data")
    path = "b"
    block = b"\0" * (4 * MIB)
    chunks = [chunk_header(request, [(path, declared)])]
    sent = 0
    while sent < declared:
        piece = block[:min(len(block), declared - sent)]
        chunks.append(chunk_data(0, piece))
        sent += len(piece)
    chunks.append(chunk_data(0, b"8" * 8))
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
            bad = solve_request(a, np.ones(2 * MIB // 8)).serialize()
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
            before = server.rss_bytes() / MIB
            attack(40)
            grown = server.rss_bytes() / MIB - before
        print(f"RSS grew {grown:.0f} MiB")
        assert grown < 120, f"RSS grew {grown:.0f} MiB over 40 x (16 MiB upload + 5 x 2 MiB)"
    finally:
        server.stop()


def _health(channel: grpc.Channel, service: str = "") -> str:
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    reply = health_pb2_grpc.HealthStub(channel).Check(
        health_pb2.HealthCheckRequest(service=service), timeout=5)
    return health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)


def _silent_requests(stop):
    """A request iterator that sends nothing until `stop` is set."""
    stop.wait()
    return
    yield  # pragma: no cover


def test_idle_streams_never_starve_probes_and_are_reaped() -> None:
    """Before: 300 SolveSequence streams opened and never written to filled
    --max-inflight, and health, liveness and tiny solves all got RESOURCE_EXHAUSTED."""
    import threading

    from solverd import Client

    server = start_server("--backend", "cpu", "--max-inflight", "8",
                          "--stream-idle-seconds", "1.5")
    stop = threading.Event()
    try:
        with grpc.insecure_channel(server.address) as channel:
            sequence = channel.stream_stream("/solverd.v1.LinearSolver/SolveSequence",
                                             request_serializer=lambda m: m,
                                             response_deserializer=lambda m: m)
            calls = [sequence(_silent_requests(stop), timeout=30) for _ in range(20)]
            time.sleep(0.5)
            assert _health(channel) == "SERVING"
            assert _health(channel, "solverd.liveness") == "SERVING"
            a = poisson_2d(5)
            with Client(server.address, retries=0) as client:
                with pytest.raises(Exception) as full:
                    client.solve(a, np.ones(25))
                assert "max_inflight" in str(full.value)
                time.sleep(2.0)  # the silent streams are closed after 1.5 s
                assert client.solve(a, np.ones(25)).converged
            codes = set()
            for call in calls:
                with pytest.raises(grpc.RpcError) as ended:
                    next(call)
                codes.add(ended.value.code())
            assert codes == {grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.RESOURCE_EXHAUSTED}
    finally:
        stop.set()
        server.stop()


def _unknown_fields(size: int) -> bytes:
    """`size` bytes of one-byte-valued unknown varint fields (field 2047)."""
    one = bytes([0xF8, 0x7F, 0x01])  # tag (2047 << 3 | 0) as a varint, then the value 1
    return one * (size // len(one))


@pytest.mark.parametrize("token", [None, "s3cret"])
def test_a_flood_of_tiny_fields_is_refused_at_once(token) -> None:
    """Before: 16 MiB of tiny unknown fields held the event loop 8 s (health waited),
    and did so before the token was checked."""
    import threading

    env = {"SOLVERD_AUTH_TOKEN": token} if token else None
    server = start_server("--backend", "cpu", env=env)
    try:
        with grpc.insecure_channel(server.address, options=[
                ("grpc.max_send_message_length", 64 * MIB)]) as channel:
            solve = channel.unary_unary("/solverd.v1.LinearSolver/Solve",
                                        request_serializer=lambda m: m,
                                        response_deserializer=lambda m: m)
            flood = _unknown_fields(16 * MIB)
            codes, health = [], []

            def attack() -> None:
                with pytest.raises(grpc.RpcError) as err:
                    solve(flood, timeout=60)
                codes.append(err.value.code())

            attackers = [threading.Thread(target=attack) for _ in range(4)]
            start = time.monotonic()
            for thread in attackers:
                thread.start()
            time.sleep(0.2)
            probe = time.monotonic()
            health.append(_health(channel))
            health_seconds = time.monotonic() - probe
            for thread in attackers:
                thread.join()
            seconds = time.monotonic() - start
        expected = (grpc.StatusCode.UNAUTHENTICATED if token
                    else grpc.StatusCode.INVALID_ARGUMENT)
        assert codes == [expected] * 4
        assert health == ["SERVING"] and health_seconds < 1.0, health_seconds
        assert seconds < 5.0, seconds
    finally:
        server.stop()


def test_a_silent_upload_reserves_nothing_and_is_closed() -> None:
    """Before: one chunked upload that declared 8 GiB and sent nothing more reserved the
    whole upload budget, and every other chunked request got RESOURCE_EXHAUSTED while it
    stayed open."""
    import threading

    from solverd import Client

    server = start_server("--backend", "cpu", "--stream-idle-seconds", "2")
    stop = threading.Event()
    try:
        a = poisson_2d(10)
        request = solve_request(a, np.ones(a.shape[0]))
        request.message.b.ClearField("data")
        header = chunk_header(request, [("b", 8 << 30)])

        def silent():
            yield header
            stop.wait()

        with grpc.insecure_channel(server.address) as channel:
            upload = _stream_call(channel, "/solverd.v1.LinearSolver/SolveChunked")
            future = upload.future(silent(), timeout=30)
            time.sleep(0.5)
            with Client(server.address, chunk_threshold=0, retries=0) as client:
                big = poisson_2d(200)
                assert client.solve(big, np.ones(big.shape[0]), method="cg").converged
            start = time.monotonic()
            with pytest.raises(grpc.RpcError) as closed:
                future.result()
            assert closed.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
            assert "chunk" in closed.value.details()
            assert time.monotonic() - start < 3.0
    finally:
        stop.set()
        server.stop()


def _in_thread(fn):
    import threading

    box: dict = {}

    def run() -> None:
        try:
            box["value"] = fn()
        except Exception as exc:  # the test reads it
            box["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, box


def test_draining_keeps_liveness_and_sends_new_calls_elsewhere() -> None:
    """Before: during the drain the health service itself was refused (UNAVAILABLE), and
    readiness showed NOT_SERVING only at the first instant."""
    from solverd import Client

    server = start_server("--backend", "cpu", "--grace-seconds", "20")
    try:
        a = poisson_2d(600)  # CG to 1e-12: about 3 s
        client = Client(server.address, retries=0, timeout=60)
        thread, box = _in_thread(lambda: client.solve(a, np.ones(a.shape[0]), method="cg",
                                                      rtol=1e-12))
        time.sleep(0.5)
        server.process.send_signal(__import__("signal").SIGTERM)
        time.sleep(0.5)
        with grpc.insecure_channel(server.address) as channel:
            assert _health(channel) == "NOT_SERVING"
            assert _health(channel, "solverd.liveness") == "SERVING"
        with pytest.raises(Exception) as refused:
            Client(server.address, retries=0).solve(poisson_2d(5), np.ones(25))
        assert "draining" in str(refused.value)
        thread.join(60)
        assert "error" not in box, box
        assert box["value"].iterations > 0
        assert server.process.wait(timeout=30) == 0
    finally:
        server.stop()


def test_the_grace_period_ends_work_in_flight() -> None:
    """Before: with an exact transport in flight and --grace-seconds 3 the process exited
    at 7.9 s (the network simplex never looked at its stop)."""
    from solverd import Client

    server = start_server("--backend", "cpu", "--grace-seconds", "1")
    try:
        rng = np.random.default_rng(0)
        X, Y = rng.random((6000, 2)), rng.random((6000, 2))
        client = Client(server.address, retries=0, timeout=120)
        thread, box = _in_thread(lambda: client.transport(X=X, Y=Y, method="exact",
                                                          plan="none"))
        time.sleep(1.0)
        start = time.monotonic()
        server.process.send_signal(__import__("signal").SIGTERM)
        server.process.wait(timeout=30)
        assert time.monotonic() - start < 2.5
        thread.join(10)
        assert "error" in box
    finally:
        server.stop()


def test_finite_inputs_get_the_right_status(client) -> None:
    """Before: INTERNAL for GMRES on 1e-310 x Poisson and softImpute-ALS on all-zero
    values; 'reg: ... got nan' for values near 1e-310; the default recycle=20 refused
    every system with n < 20; the holdout that kept nothing blamed `values`; Sinkhorn at
    tol=1e-300 claimed convergence with a marginal error of 2e-16."""
    from solverd.errors import InvalidArgument

    rng = np.random.default_rng(0)
    cells = np.unique(rng.integers(0, 50 * 40, 500))
    rows, cols = cells // 40, cells % 40
    tiny = client.solve(poisson_2d(20) * 1e-310, np.ones(400), method="gmres")
    assert not tiny.converged  # x ~ 1e310 is beyond float64: said, not crashed
    zeros = client.complete(rows, cols, np.zeros(rows.size), (50, 40), rank=3,
                            method="softimpute_als")
    assert zeros.converged and np.abs(zeros.predict(rows, cols)).max() == 0
    subnormal = client.complete(rows, cols, 1e-310 * rng.standard_normal(rows.size), (50, 40),
                                rank=3)
    assert np.isfinite(subnormal.U).all() and subnormal.reg >= 0
    for method in ("auto", "gcrodr", "recycled_cg"):
        for result in client.solve_batch(poisson_2d(3), np.ones((2, 9)), method=method):
            assert result.converged
    with pytest.raises(InvalidArgument) as kept_nothing:
        client.complete(rows, cols, rng.standard_normal(rows.size), (50, 40), rank=3,
                        holdout=0.999)
    assert kept_nothing.value.fields == ["holdout_fraction"]
    M = rng.random((30, 30))
    floor = client.transport(None, None, M, reg=0.1, tol=1e-300, method="sinkhorn",
                             max_iterations=2000)
    assert not floor.converged
    assert max(floor.marginal_error_a, floor.marginal_error_b) > 1e-300


def test_an_error_quotes_a_bounded_part_of_the_input(server) -> None:
    """Before: INVALID_ARGUMENT quoting a 5,000-entry `shape` went over gRPC's 16 KiB
    trailers and reached the client as RESOURCE_EXHAUSTED."""
    from solverd.v1 import completion_pb2

    request = completion_pb2.CompleteRequest(shape=[10**9] * 5000, rank=2)
    with grpc.insecure_channel(server.address) as channel:
        complete = channel.unary_unary(
            "/solverd.v1.MatrixCompletion/Complete",
            request_serializer=completion_pb2.CompleteRequest.SerializeToString,
            response_deserializer=lambda m: m)
        with pytest.raises(grpc.RpcError) as err:
            complete(request, timeout=30)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "shape" in err.value.details() and "more characters" in err.value.details()
    assert len(err.value.details()) < 8192


def test_silent_sockets_on_the_metrics_port_cost_no_threads() -> None:
    """Before: /metrics opened a thread per connection and never closed a silent socket
    (800 silent sockets: 810 threads)."""
    import socket
    import urllib.request
    from pathlib import Path

    server = start_server("--backend", "cpu")
    sockets = []
    try:
        tasks = Path(f"/proc/{server.process.pid}/task")
        before = len(list(tasks.iterdir()))
        for _ in range(200):
            sockets.append(socket.create_connection(("127.0.0.1", server.metrics_port)))
        time.sleep(1.0)
        assert len(list(tasks.iterdir())) <= before + 20
        time.sleep(5.0)  # silent ones are closed after 5 s: scrapes get through again
        with urllib.request.urlopen(f"http://127.0.0.1:{server.metrics_port}/metrics",
                                    timeout=10) as reply:
            assert b"solverd_build_info" in reply.read()
    finally:
        for s in sockets:
            s.close()
        server.stop()


def test_the_memory_limit_bounds_the_upload_defaults(tmp_path) -> None:
    """Before: a 4 GiB pod defaulted to 8 GiB of uploads: OOM-killed, not refused."""
    from service.config import Limits, memory_bounded
    from service.cpu import memory_limit

    (tmp_path / "memory.max").write_text(f"{4 << 30}\n")
    assert memory_limit(str(tmp_path)) == 4 << 30
    bounded = memory_bounded(Limits(), memory_limit(str(tmp_path)))
    assert bounded.max_upload_bytes == 2 << 30 and bounded.max_message_bytes == 256 * MIB
    assert bounded.max_factor_bytes == 2 << 30  # a direct solve's factors: half the pod too
    assert memory_bounded(Limits(max_upload_bytes=3 << 30), 4 << 30).max_upload_bytes == 3 << 30
    (tmp_path / "memory.max").write_text("max\n")
    assert memory_limit(str(tmp_path)) is None
    v1 = tmp_path / "memory"
    v1.mkdir()
    (tmp_path / "memory.max").unlink()
    (v1 / "memory.limit_in_bytes").write_text(str(9223372036854771712))
    assert memory_limit(str(tmp_path)) is None


def test_a_published_placeholder_token_is_refused() -> None:
    import subprocess
    import sys

    run = subprocess.run([sys.executable, "-m", "service", "serve", "--port", "0"],
                         env={**__import__("os").environ, "SOLVERD_AUTH_TOKEN": "change-me"},
                         capture_output=True, text=True, timeout=60)
    assert run.returncode != 0 and "placeholder" in run.stderr


def test_an_answer_beyond_the_message_limit_is_refused_before_any_work(server) -> None:
    """Before: a 256 KB request of points whose dense plan is 288 MB was computed, then
    dropped; the client took the error for its own request's size and sent it again in
    chunks, and metrics counted both calls as OK."""
    from solverd import Client
    from solverd.errors import InvalidArgument

    rng = np.random.default_rng(0)
    X, Y = rng.random((6000, 2)), rng.random((6000, 2))
    with Client(server.address, retries=0) as client:
        start = time.monotonic()
        with pytest.raises(InvalidArgument) as refused:
            client.transport(X=X, Y=Y, reg=0.1)
        assert refused.value.fields == ["plan"] and time.monotonic() - start < 2.0
        assert client.transport(X=X[:50], Y=Y[:50], reg=0.1, plan="none").converged
        with pytest.raises(InvalidArgument) as too_big:
            client.complete(np.array([0]), np.array([0]), np.array([1.0]),
                            (10_000_000, 10_000_000), rank=5)
        assert too_big.value.fields == ["rank"]


def test_the_client_resends_in_chunks_only_its_own_oversize_request() -> None:
    from solverd.channels import too_large

    class Err(grpc.RpcError):
        def __init__(self, details: str) -> None:
            self._details = details

        def code(self):
            return grpc.StatusCode.RESOURCE_EXHAUSTED

        def details(self):
            return self._details

    request = solve_request(poisson_2d(100), np.ones(10_000))
    size = request.nbytes
    assert too_large(Err(f"Received message larger than max ({size + 20} vs. 1048576)"),
                     "solve", request)
    # An answer of 288 MB over the server's 256 MiB: not this 700 KB request's fault.
    assert not too_large(Err("Sent message larger than max (288000123 vs. 268435456)"),
                         "solve", request)
    assert not too_large(Err("larger than max"), "solve", request)
