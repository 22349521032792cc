"""Health, reflection, metrics, deadlines and draining, against real server processes."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from solverd import Client, DeadlineExceeded

from conftest import start_server
from problems import laplacian_1d, poisson_2d

SERVICES = ["solverd.v1.LinearSolver", "solverd.v1.ServerInfo"]

SOLVE_RPC = "solverd.v1.LinearSolver/Solve"  # the rpc label: gRPC's full method name


def test_health_reports_serving_per_service(server) -> None:
    with grpc.insecure_channel(server.address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        for name in ["", *SERVICES]:
            reply = stub.Check(health_pb2.HealthCheckRequest(service=name), timeout=10)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING
        with pytest.raises(grpc.RpcError) as info:
            stub.Check(health_pb2.HealthCheckRequest(service="no.such.Service"), timeout=10)
        assert info.value.code() == grpc.StatusCode.NOT_FOUND


def test_reflection_lists_the_services(server) -> None:
    with grpc.insecure_channel(server.address) as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        request = reflection_pb2.ServerReflectionRequest(list_services="")
        reply = next(stub.ServerReflectionInfo(iter([request]), timeout=10))
        names = {s.name for s in reply.list_services_response.service}
        assert set(SERVICES) | {"grpc.health.v1.Health"} <= names
        request = reflection_pb2.ServerReflectionRequest(
            file_containing_symbol="solverd.v1.LinearSolver")
        reply = next(stub.ServerReflectionInfo(iter([request]), timeout=10))
        assert reply.file_descriptor_response.file_descriptor_proto


def test_metrics_move(server) -> None:
    def ok() -> float:
        return server.metric("solverd_requests_total", rpc=SOLVE_RPC, method="cg",
                             backend="cpu", code="OK")

    before = ok()
    bad_before = server.metric("solverd_requests_total", rpc=SOLVE_RPC, code="INVALID_ARGUMENT")
    iters_before = server.metric("solverd_solver_iterations_count", method="cg")
    a = poisson_2d(30)
    with Client(server.address) as client:
        for _ in range(3):
            assert client.solve(a, np.ones(a.shape[0]), method="cg").converged
        with pytest.raises(Exception):  # noqa: B017  any error: the counter must move
            client.solve(a, np.ones(3))
    assert ok() == before + 3
    assert server.metric("solverd_requests_total", rpc=SOLVE_RPC,
                         code="INVALID_ARGUMENT") == bad_before + 1
    assert server.metric("solverd_solver_iterations_count", method="cg") == iters_before + 3
    text = server.metrics()
    for name in ("solverd_request_duration_seconds_bucket", "solverd_compute_duration_seconds",
                 "solverd_payload_bytes_bucket", "solverd_inflight_requests",
                 "solverd_queue_duration_seconds", "solverd_build_info"):
        assert name in text, name
    assert server.metric("solverd_payload_bytes_sum", rpc=SOLVE_RPC, direction="request") > 0


def _slow_problem() -> tuple:
    """CG on a 1-D Laplacian of 2*10^5 rows needs ~10^5 iterations: minutes, not seconds."""
    a = laplacian_1d(200_000)
    return a, np.ones(a.shape[0])


def test_deadline_expires_mid_solve_and_work_stops(server) -> None:
    a, b = _slow_problem()
    before = server.metric("solverd_requests_total", rpc=SOLVE_RPC, code="DEADLINE_EXCEEDED")
    with Client(server.address) as client:
        start = time.monotonic()
        with pytest.raises(DeadlineExceeded):
            client.solve(a, b, method="cg", rtol=1e-14, max_iterations=1_000_000, timeout=1.5)
        assert time.monotonic() - start < 5
        # The server notices at its next iteration, records it, and frees the worker.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            stopped = server.metric("solverd_requests_total", rpc=SOLVE_RPC,
                                    code="DEADLINE_EXCEEDED") == before + 1
            idle = (server.metric("solverd_inflight_requests", rpc=SOLVE_RPC) == 0
                    and server.metric("solverd_queue_depth", backend="cpu") == 0)
            if stopped and idle:
                break
            time.sleep(0.1)
        else:
            pytest.fail("the server kept working after the deadline:\n" + "\n".join(
                line for line in server.metrics().splitlines()
                if line.startswith(("solverd_requests_total", "solverd_inflight",
                                    "solverd_queue_depth"))))
        small = poisson_2d(20)
        assert client.solve(small, np.ones(small.shape[0]), method="cg", timeout=10).converged


def test_server_side_solve_limit(small_server) -> None:
    # Full GMRES on 4999 rows: the Arnoldi basis makes late iterations ~10 ms each.
    a = laplacian_1d(4999)
    with Client(small_server.address) as client, pytest.raises(DeadlineExceeded,
                                                               match="max_solve_seconds"):
        client.solve(a, np.ones(4999), method="gmres", restart=1000, rtol=1e-15,
                     max_iterations=1000, timeout=60)


def test_sigterm_drains(tmp_path) -> None:
    """SIGTERM: health turns NOT_SERVING, new calls are refused with UNAVAILABLE, and
    every call in flight (running or queued) completes correctly within the grace."""
    from solverd import Unavailable

    running = start_server("--backend", "cpu", "--cpu-workers", "2", "--grace-seconds", "30")
    try:
        a = laplacian_1d(12_000)
        rhs = [np.random.default_rng(k).standard_normal(a.shape[0]) for k in range(5)]
        results: dict[int, object] = {}
        errors: list[Exception] = []

        def solve(k: int) -> None:
            try:
                with Client(running.address, retries=0) as client:
                    results[k] = client.solve(a, rhs[k], method="cg", rtol=1e-8, timeout=60)
            except Exception as exc:  # any failure fails the test below
                errors.append(exc)

        with grpc.insecure_channel(running.address) as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            watch = stub.Watch(health_pb2.HealthCheckRequest(service=""), timeout=60)
            assert next(watch).status == health_pb2.HealthCheckResponse.SERVING
            threads = [threading.Thread(target=solve, args=(k,)) for k in range(5)]
            for t in threads:
                t.start()
            while running.metric("solverd_inflight_requests", rpc=SOLVE_RPC) < 5:
                time.sleep(0.02)
            running.process.terminate()
            assert next(watch).status == health_pb2.HealthCheckResponse.NOT_SERVING
            with Client(running.address, retries=0) as late, pytest.raises(Unavailable):
                late.solve(a, rhs[0], method="cg", timeout=10)
            for t in threads:
                t.join(timeout=60)
        assert not errors, errors
        for k in range(5):
            assert results[k].converged  # type: ignore[attr-defined]
            r = a @ results[k].x - rhs[k]  # type: ignore[attr-defined]
            assert np.linalg.norm(r) <= 1e-7 * np.linalg.norm(rhs[k])
        assert running.process.wait(timeout=30) == 0
    finally:
        running.stop()


def test_environment_configures_the_server() -> None:
    running = start_server("--backend", "cpu",
                           env={"SOLVERD_MAX_RHS": "3", "SOLVERD_MAX_ITERATIONS": "777"})
    try:
        with Client(running.address) as client:
            limits = client.info().limits
        assert limits["max_rhs"] == 3 and limits["max_iterations"] == 777
    finally:
        running.stop()


def test_backend_gpu_without_a_gpu_refuses_to_start() -> None:
    from solvers.backend import gpu_status

    if gpu_status().available:
        pytest.skip("this machine has a GPU")
    with pytest.raises(RuntimeError, match="--backend gpu"):
        start_server("--backend", "gpu")


def test_unavailable_is_retried_then_raised() -> None:
    from solverd import Unavailable

    from conftest import free_port

    a = poisson_2d(5)
    with Client(f"127.0.0.1:{free_port()}", retries=2) as client:
        start = time.monotonic()
        with pytest.raises(Unavailable):
            client.solve(a, np.ones(25), timeout=10)
        assert time.monotonic() - start < 10


def test_full_queue_sheds_with_retry_info() -> None:
    """One worker, no queue: a second concurrent solve is refused at once, not piled up."""
    from solverd import ResourceExhausted

    running = start_server("--backend", "cpu", "--cpu-workers", "1", "--max-queue", "0")
    try:
        a, b = _slow_problem()
        with Client(running.address) as client:
            def slow() -> None:
                with pytest.raises(DeadlineExceeded):
                    client.solve(a, b, method="cg", rtol=1e-14, timeout=3)

            thread = threading.Thread(target=slow)
            thread.start()
            while running.metric("solverd_queue_depth", backend="cpu") < 1:
                time.sleep(0.02)
            # Not tiny (those run on the event loop, no worker needed): it needs a worker.
            medium = poisson_2d(40)
            with pytest.raises(ResourceExhausted) as info:
                client.solve(medium, np.ones(1600), method="cg", timeout=10)
            assert info.value.retry_delay and info.value.retry_delay > 0
            # A tiny solve needs no worker: answered at once though the only one is busy.
            start = time.monotonic()
            assert client.solve(poisson_2d(5), np.ones(25), method="cg", timeout=10).converged
            assert time.monotonic() - start < 1.0
            thread.join()
    finally:
        running.stop()


def test_several_processes_share_one_port_and_stop_together() -> None:
    import os
    import subprocess

    from conftest import free_port

    port = free_port()
    running = start_server("--backend", "cpu", "--processes", "2", "--port", str(port))
    try:
        # Each process prints its own ready line (the drain thread collects them): wait
        # for the second one too, so a SIGTERM cannot arrive before both serve.
        deadline = time.monotonic() + 60
        while sum(line.count("serving on") for line in running.lines) < 2:
            assert time.monotonic() < deadline, running.lines
            time.sleep(0.05)
        # Each new connection lands on one of the processes (SO_REUSEPORT).
        for _ in range(40):
            with Client(f"127.0.0.1:{port}") as client:
                assert client.solve(poisson_2d(5), np.ones(25), method="cg").converged
        helpers = subprocess.run(["pgrep", "-P", str(running.process.pid)],
                                 capture_output=True, text=True).stdout.split()
        # Besides the second server, multiprocessing's fork server and resource tracker
        # (solvers/abandonable): they must end with the server too.
        children = [pid for pid in helpers
                    if "service" in Path(f"/proc/{pid}/cmdline").read_text().split("\0")]
        assert len(children) == 1
        pids = {running.process.pid, *map(int, helpers)}
        running.process.terminate()
        assert running.process.wait(timeout=30) == 0
        time.sleep(0.5)
        for pid in pids:
            with pytest.raises((ProcessLookupError, FileNotFoundError)):
                os.kill(pid, 0)
                # A zombie (exited, not yet reaped by init) has ended too.
                state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
                if state == "Z":
                    raise ProcessLookupError(pid)
    finally:
        running.stop()
