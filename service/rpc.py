"""What every RPC shares: metrics, error mapping, deadlines and cancellation."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import grpc
import numpy as np
from google.protobuf.message import Message

from service import metrics
from service.pool import QueueFull, WorkPool, contained
from service.registry import Undecodable
from service.status import (
    RpcFailure,
    detached,
    invalid_argument,
    resource_exhausted,
    to_grpc_status,
)
from service.version import VERSION
from solvers.backend import Backend, get_backend, release_device_memory
from solvers.errors import BackendUnavailable, Interrupted, SolverInputError

log = logging.getLogger("solverd")
access_log = logging.getLogger("solverd.access")
# Set by the server from --access-log-sample: the fraction of calls logged.
ACCESS_LOG_SAMPLE = 0.0
M = TypeVar("M", bound=Message)
T = TypeVar("T")


class StopSignal:
    """Polled by solvers between iterations: the call's deadline, the server's
    max_solve_seconds, or the client going away stop the work."""

    def __init__(self, context: grpc.aio.ServicerContext, max_seconds: float) -> None:
        remaining = context.time_remaining()
        self.server_limited = remaining is None or remaining > max_seconds
        budget = max_seconds if self.server_limited else remaining
        self.deadline = time.monotonic() + budget
        # A flag, not a threading.Event: the loop sets it, a solver thread reads it, and
        # one attribute store is atomic; an Event (a lock and a condition) cost 5 us of
        # a 200 us tiny request.
        self._done = False
        context.add_done_callback(self._finished)

    def _finished(self, _context: object) -> None:
        self._done = True

    def poll(self) -> str | None:
        now = time.monotonic()
        if now > self.deadline:
            return "deadline"
        if self._done:
            # gRPC ends a call whose deadline passed a little before our own clock
            # says so: that is still a deadline, not a client that went away.
            return "deadline" if now > self.deadline - 0.25 else "cancelled"
        return None

    def failure(self, reason: str) -> RpcFailure:
        if reason == "cancelled":
            return RpcFailure(grpc.StatusCode.CANCELLED, "the call was cancelled; work stopped")
        if self.server_limited:
            return RpcFailure(grpc.StatusCode.DEADLINE_EXCEEDED,
                              "the solve exceeded the server's max_solve_seconds; work stopped")
        return RpcFailure(grpc.StatusCode.DEADLINE_EXCEEDED,
                          "the call's deadline passed during the solve; work stopped")


def fill_info(info: Message, backend: str, device: str, precision: str, stop_reason: str,
              decode_seconds: float, queue_seconds: float, compute_seconds: float,
              encode_start: float) -> None:
    """A response's SolveInfo; encode time runs from `encode_start` to now."""
    info.backend = backend
    info.device = device
    info.precision = precision
    info.stop_reason = stop_reason
    info.server_version = VERSION
    info.decode_seconds = decode_seconds
    info.queue_seconds = queue_seconds
    info.compute_seconds = compute_seconds
    info.encode_seconds = time.perf_counter() - encode_start


def solver_backend(device: str, allow_gpu: bool) -> Backend:
    """The backend for `device`; FAILED_PRECONDITION when it cannot be used."""
    try:
        return get_backend(device, allow_gpu=allow_gpu)
    except BackendUnavailable as exc:
        raise RpcFailure(grpc.StatusCode.FAILED_PRECONDITION, str(exc)) from None


# The answer arrays of the solver families' result dataclasses.
_ANSWERS = ("x", "coef", "U", "V", "plan")


def distrust_nonfinite(result: T) -> T:
    """A result whose answer holds NaN or inf is not converged, whatever the solver
    said (a NaN produced mid-solve can slip past a stopping test: NaN <= tol is
    False, but so is every comparison a careless test negates)."""
    if isinstance(result, list | tuple):
        return type(result)(distrust_nonfinite(r) for r in result)  # type: ignore[return-value]
    if not (dataclasses.is_dataclass(result) and getattr(result, "converged", False)):
        return result
    for name in _ANSWERS:
        value = getattr(result, name, None)
        if isinstance(value, np.ndarray) and not np.isfinite(value).all():
            return dataclasses.replace(result, converged=False,  # type: ignore[type-var]
                                       stop_reason=f"non-finite values in {name}")
    return result


# The reason a first try on the event loop gives up (see run_solver).
BUDGET = "budget"


def budgeted(stop: StopSignal, seconds: float) -> Callable[[], str | None]:
    """A poll for a first try: the call's own stop, or BUDGET after `seconds`."""
    end = time.perf_counter() + seconds

    def poll() -> str | None:
        return stop.poll() or (BUDGET if time.perf_counter() > end else None)

    return poll


async def run_solver(pool: WorkPool, job: Callable[[], T], stop: StopSignal,
                     fields: dict[str, str], inline: bool = False,
                     first_try: Callable[[], T] | None = None) -> tuple[T, float]:
    """Runs a solver job on `pool` (its result and queue seconds); a full queue, a stop
    and a solver's input error become statuses. `fields` maps solver argument names
    to the request's field names where they differ; `inline` see WorkPool.run.

    `first_try`: the same job with a budgeted poll (see `budgeted`), run on the event
    loop first. Most solves of moderate size finish within it, with no thread hop and
    no contention for the GIL with the loop (measured: a 3 ms CG took 60-600 ms on a
    worker thread while the loop served tiny calls); one that does not is started
    again on a worker, having cost the loop at most the budget."""
    try:
        if first_try is not None:
            if pool.full:  # shed at once, as without a first try: the backend is overloaded
                raise pool.full_error()
            try:
                return distrust_nonfinite(contained(first_try)), 0.0
            except Interrupted as exc:
                if exc.reason != BUDGET:
                    raise
        result, queued = await pool.run(job, inline)
        return distrust_nonfinite(result), queued
    except QueueFull as exc:
        raise resource_exhausted(str(exc), retry_after=0.5) from None
    except Interrupted as exc:
        raise stop.failure(exc.reason) from None
    except SolverInputError as exc:
        raise invalid_argument([(fields.get(exc.field, exc.field), exc.description)]) from None


# How CUDA libraries word a failed allocation when it does not come as CuPy's
# OutOfMemoryError (a MemoryError): the runtime's cudaErrorMemoryAllocation ("out of
# memory"), cuBLAS/cuSPARSE/cuSOLVER *_STATUS_ALLOC_FAILED, cuFFT CUFFT_ALLOC_FAILED,
# cuRAND CURAND_STATUS_ALLOCATION_FAILED.
_DEVICE_OOM_WORDS = ("out of memory", "alloc_failed", "allocation_failed",
                     "memoryallocation")


def out_of_memory(exc: BaseException) -> bool:
    """A MemoryError, or an error of CuPy's CUDA bindings that reports a failed
    allocation (the same message from any other library is not taken for one)."""
    if isinstance(exc, MemoryError):
        return True
    module = type(exc).__module__ or ""
    text = str(exc).lower()
    return (module.split(".")[0] in ("cupy", "cupy_backends", "cupyx")
            and any(word in text for word in _DEVICE_OOM_WORDS))


def _log_access(rpc: str, labels: dict[str, str], code: grpc.StatusCode, seconds: float,
                request: Message, context: grpc.aio.ServicerContext) -> None:
    access_log.info(json.dumps({
        "rpc": rpc, "code": code.name, "method": labels["method"],
        "backend": labels["backend"], "seconds": round(seconds, 6),
        "request_bytes": request.ByteSize(), "peer": context.peer()}))


async def run_rpc(rpc: str, request: Message, context: grpc.aio.ServicerContext,
                  body: Callable[[dict[str, str]], Awaitable[M]],
                  count_request: bool = True, streamed: bool = False) -> M:
    """Runs `body`, records the call's metrics, and turns failures into rich statuses.
    `rpc`: gRPC's fully qualified method name. `streamed`: one of several answers to
    one request (SolveBatch's systems, FitPath's alphas, a stream's messages), counted as
    an item; `count_request` False for all but the first, so the request counts once."""
    labels = {"rpc": rpc, "method": "unknown", "backend": "unknown"}
    start = time.perf_counter()
    metrics.child(metrics.INFLIGHT, rpc).inc()

    if count_request:
        metrics.child(metrics.PAYLOAD_BYTES, rpc, "request").observe(request.ByteSize())
    code = grpc.StatusCode.OK
    try:
        if isinstance(request, Undecodable):
            raise invalid_argument([("(request)", f"not a valid {request.type_name} message "
                                                  f"({request.size} bytes): {request.error}")])
        response = await body(labels)
        metrics.child(metrics.PAYLOAD_BYTES, rpc, "response").observe(response.ByteSize())
        return response
    except RpcFailure as exc:
        code, failure = exc.code, detached(exc)
    except asyncio.CancelledError:
        # gRPC cancels the handler when the call ends early; the solver thread sees the
        # same StopSignal at its next iteration and frees its worker.
        remaining = context.time_remaining()
        expired = remaining is not None and remaining <= 0.25
        code = grpc.StatusCode.DEADLINE_EXCEEDED if expired else grpc.StatusCode.CANCELLED
        raise
    except Exception as exc:
        if out_of_memory(exc):
            # This request alone fails; freeing the pool lets the next one have the
            # memory.
            release_device_memory()
            code = grpc.StatusCode.RESOURCE_EXHAUSTED
            failure = resource_exhausted(f"out of memory: {type(exc).__name__}: {exc}",
                                         retry_after=1.0)
        else:
            log.exception("%s failed", rpc)
            code = grpc.StatusCode.INTERNAL
            failure = RpcFailure(code, f"internal error: {type(exc).__name__}: {exc}")
    finally:
        metrics.child(metrics.INFLIGHT, rpc).dec()
        if ACCESS_LOG_SAMPLE and random.random() < ACCESS_LOG_SAMPLE:
            _log_access(rpc, labels, code, time.perf_counter() - start, request, context)
        counter = metrics.REQUESTS if count_request else metrics.ITEMS
        counter_labels = (rpc, labels["method"], labels["backend"], code.name)
        metrics.child(counter, *counter_labels).inc()
        if count_request and streamed:
            metrics.child(metrics.ITEMS, *counter_labels).inc()
        metrics.child(metrics.REQUEST_SECONDS, rpc).observe(time.perf_counter() - start)
    status = to_grpc_status(failure)
    await context.abort(status.code, status.details, status.trailing_metadata)
    raise AssertionError("unreachable: abort raises")
