"""What every RPC shares: metrics, error mapping, deadlines and cancellation."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import grpc
from google.protobuf.message import Message

from service import metrics
from service.status import RpcFailure, to_grpc_status

log = logging.getLogger("solverd")
M = TypeVar("M", bound=Message)


class StopSignal:
    """Polled by solvers between iterations: the call's deadline, the server's
    max_solve_seconds, or the client going away stop the work."""

    def __init__(self, context: grpc.aio.ServicerContext, max_seconds: float) -> None:
        remaining = context.time_remaining()
        self.server_limited = remaining is None or remaining > max_seconds
        budget = max_seconds if self.server_limited else remaining
        self.deadline = time.monotonic() + budget
        self._done = threading.Event()
        context.add_done_callback(lambda _ctx: self._done.set())

    def poll(self) -> str | None:
        if self._done.is_set():
            return "cancelled"
        if time.monotonic() > self.deadline:
            return "deadline"
        return None

    def failure(self, reason: str) -> RpcFailure:
        if reason == "cancelled":
            return RpcFailure(grpc.StatusCode.CANCELLED, "the call was cancelled; work stopped")
        if self.server_limited:
            return RpcFailure(grpc.StatusCode.DEADLINE_EXCEEDED,
                              "the solve exceeded the server's max_solve_seconds; work stopped")
        return RpcFailure(grpc.StatusCode.DEADLINE_EXCEEDED,
                          "the call's deadline passed during the solve; work stopped")


async def run_rpc(rpc: str, request: Message, context: grpc.aio.ServicerContext,
                  body: Callable[[dict[str, str]], Awaitable[M]]) -> M:
    """Runs `body`, records the call's metrics, and turns failures into rich statuses."""
    labels = {"method": "", "backend": ""}
    start = time.perf_counter()
    metrics.INFLIGHT.labels(rpc).inc()
    metrics.PAYLOAD_BYTES.labels(rpc, "request").observe(request.ByteSize())
    code = grpc.StatusCode.OK
    try:
        response = await body(labels)
        metrics.PAYLOAD_BYTES.labels(rpc, "response").observe(response.ByteSize())
        return response
    except RpcFailure as exc:
        code, failure = exc.code, exc
    except asyncio.CancelledError:
        code = grpc.StatusCode.CANCELLED
        raise
    except MemoryError as exc:  # CuPy's OutOfMemoryError is a MemoryError too
        code = grpc.StatusCode.RESOURCE_EXHAUSTED
        failure = RpcFailure(code, f"out of memory: {exc}")
    except Exception as exc:
        log.exception("%s failed", rpc)
        code = grpc.StatusCode.INTERNAL
        failure = RpcFailure(code, f"internal error: {type(exc).__name__}: {exc}")
    finally:
        metrics.INFLIGHT.labels(rpc).dec()
        metrics.REQUESTS.labels(rpc, labels["method"], labels["backend"], code.name).inc()
        metrics.REQUEST_SECONDS.labels(rpc).observe(time.perf_counter() - start)
    status = to_grpc_status(failure)
    await context.abort(status.code, status.details, status.trailing_metadata)
    raise AssertionError("unreachable: abort raises")
