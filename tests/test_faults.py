"""Faults inside a request (a solver that raises, a worker thread that dies, memory
running out, values whose norms overflow) end that request with a clear status or
converged=False, and the server goes on serving. The server runs in-process here so
that a solver can be made to fail on purpose."""

from __future__ import annotations

import asyncio
import threading
import warnings
from collections.abc import Iterator

import grpc
import numpy as np
import pytest
import scipy.sparse as sp

from solverd import Client, Internal, ResourceExhausted
from solvers import linear

from problems import poisson_2d

A = poisson_2d(12)
B = np.ones(A.shape[0])


class InProcessServer:
    def __init__(self, backend: str = "cpu") -> None:
        from service.config import ServerConfig
        from service.server import SolverdServer

        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        config = ServerConfig(host="127.0.0.1", port=0, metrics_port=-1, backend=backend)

        async def start() -> SolverdServer:
            server = SolverdServer(config, cpu_workers=2, blas_threads=1)
            await server.start()
            return server

        self.server = asyncio.run_coroutine_threadsafe(start(), self.loop).result(30)
        self.address = f"127.0.0.1:{self.server.port}"

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self.server.server.stop(0), self.loop).result(30)
        for pool in self.server.pools.values():
            pool.shutdown()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@pytest.fixture(scope="module")
def live() -> Iterator[InProcessServer]:
    server = InProcessServer()
    yield server
    server.close()


def _still_serves(live: InProcessServer) -> None:
    with Client(live.address) as client:
        result = client.solve(A, B, method="cg", rtol=1e-10)
    assert result.converged and np.linalg.norm(A @ result.x - B) <= 1e-9 * np.linalg.norm(B)


def _failing_solve(exc: BaseException):
    def solve(*args, **kwargs):
        raise exc
    return solve


def _device_error(module: str, name: str, message: str) -> Exception:
    """An exception as CuPy's CUDA bindings raise it (only its module and message
    matter to the server), for machines without CuPy."""
    return type(name, (RuntimeError,), {"__module__": module})(message)


@pytest.mark.parametrize("exc, expected, reason", [
    (RuntimeError("kaboom"), Internal, "RuntimeError: kaboom"),
    # A failed device allocation that is not CuPy's OutOfMemoryError (a MemoryError).
    (_device_error("cupy_backends.cuda.libs.cusparse", "CuSparseError",
                   "CUSPARSE_STATUS_ALLOC_FAILED"), ResourceExhausted, "ALLOC_FAILED"),
    (_device_error("cupy_backends.cuda.api.runtime", "CUDARuntimeError",
                   "cudaErrorMemoryAllocation: out of memory"), ResourceExhausted,
     "out of memory"),
    # The same words from elsewhere are not a device out of memory.
    (RuntimeError("out of memory in my own code"), Internal, "RuntimeError: out of memory"),
    (_device_error("cupy_backends.cuda.libs.cublas", "CUBLASError",
                   "CUBLAS_STATUS_EXECUTION_FAILED"), Internal, "EXECUTION_FAILED"),
    (ZeroDivisionError("float division by zero"), Internal, "ZeroDivisionError"),
    (SystemExit(3), Internal, "died"),
    (KeyboardInterrupt(), Internal, "died"),
    (MemoryError("Out of memory allocating 8 GiB"), ResourceExhausted, "out of memory"),
])
def test_a_failing_solver_fails_its_request_only(live, monkeypatch, exc, expected,
                                                 reason) -> None:
    monkeypatch.setattr(linear, "solve", _failing_solve(exc))
    # Three sizes: tiny (solved on the event loop), moderate (first try on the loop,
    # then a worker) and large (a worker thread): the failure is contained in each.
    for a in (poisson_2d(4), A, poisson_2d(200)):
        with Client(live.address) as client, pytest.raises(expected) as info:
            client.solve(a, np.ones(a.shape[0]), method="cg")
        assert reason in str(info.value)
        assert live.thread.is_alive()
    if expected is ResourceExhausted:
        assert info.value.retry_delay and info.value.retry_delay > 0
    monkeypatch.undo()
    _still_serves(live)


def test_nan_produced_mid_solve_is_not_converged(live, monkeypatch) -> None:
    real = linear.solve

    def poisoned(*args, **kwargs):
        result = real(*args, **kwargs)
        x = result.x.copy()
        x[len(x) // 2] = np.nan
        return type(result)(**{**result.__dict__, "x": x})

    monkeypatch.setattr(linear, "solve", poisoned)
    with Client(live.address) as client:
        try:
            result = client.solve(A, B, method="cg")
        except Internal as err:  # a clear status is acceptable too
            assert "finite" in str(err) or "nan" in str(err).lower()
        else:
            assert not result.converged
    monkeypatch.undo()
    _still_serves(live)


@pytest.mark.parametrize("scale", [1e300, 1e-300])
def test_norms_that_overflow_or_underflow_are_solved_not_faked(live, scale) -> None:
    """||b||^2 is inf (or 0) in float64: the stopping test must not call x = 0 a
    solution. The server solves a scaled copy exactly instead."""
    n = A.shape[0]
    b = scale * np.linspace(1.0, 2.0, n)
    with Client(live.address) as client:
        for method in ("cg", "gmres", "bicgstab", "sor", "direct"):
            result = client.solve(A * scale, b, method=method, rtol=1e-10,
                                  max_iterations=20_000)
            exact = sp.linalg.spsolve(A.tocsc(), b / scale)
            assert result.converged, method
            assert np.linalg.norm(result.x - exact) <= 1e-8 * np.linalg.norm(exact), method


def test_a_solution_beyond_float64_is_not_converged() -> None:
    a = sp.identity(4, format="csr") * 1e-300
    b = np.full(4, 1e300)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = linear.solve(a, b, method="cg")
    assert not result.converged and "overflow" in result.stop_reason


def test_cancelled_client_frees_the_worker(live) -> None:
    """A client that goes away mid-solve: the solve stops and both workers are free."""
    from problems import laplacian_1d

    a = laplacian_1d(200_000)
    with grpc.insecure_channel(live.address) as channel:
        from solverd.channels import SOLVE
        from solverd.requests import solve_request

        call = channel.unary_unary(SOLVE.path, request_serializer=SOLVE.serialize,
                                   response_deserializer=SOLVE.deserialize)
        futures = [call.future(solve_request(a, np.ones(a.shape[0]), method="cg",
                                             rtol=1e-14)) for _ in range(2)]
        for f in futures:
            with pytest.raises(grpc.FutureTimeoutError):
                f.result(timeout=0.3)
            f.cancel()
    pool = live.server.pools["cpu"]
    for _ in range(100):
        if pool.admitted == 0:
            break
        threading.Event().wait(0.05)
    assert pool.admitted == 0
    _still_serves(live)


def test_an_oversized_tuner_state_is_refused_by_field(live) -> None:
    from solverd import InvalidArgument
    from solverd.requests import solve_request
    from solverd.v1 import linear_pb2

    request = solve_request(A, B, method="sor", tuner="tsallis-inf")
    state = linear_pb2.TunerState(version=2, kind="tsallis-inf")
    state.grid.extend(np.linspace(1.0, 1.9, 200_001))
    request.message.tuner_state.CopyFrom(state)
    with Client(live.address) as client, pytest.raises(InvalidArgument) as info:
        client._call("solve", request, 30)
    assert [v.field for v in info.value.violations] == ["tuner_state"]
    assert "max_state_numbers" in str(info.value)
