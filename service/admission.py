"""Admission of solver calls: a cap on the calls in flight, and refusal while draining.

gRPC's own `maximum_concurrent_rpcs` counted health checks with the solver's calls: 300
SolveSequence streams opened and never written to filled it, and probes then got
RESOURCE_EXHAUSTED, so Kubernetes would have restarted a healthy pod. Here only the
solver services count (a stream for as long as it is open), and health and reflection
(auth.OPEN_SERVICES) are never refused. Draining, every new solver call gets
UNAVAILABLE (a client retries it on another replica) while health keeps answering:
readiness NOT_SERVING, liveness SERVING.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc

from service.auth import OPEN_SERVICES
from service.registry import handler_factory


class Admission(grpc.aio.ServerInterceptor):
    def __init__(self, max_inflight: int) -> None:
        self.max_inflight = max_inflight  # 0: no cap
        self.active = 0
        self.draining = False
        # Each method's counted handler, made once: intercept_service runs on every call.
        self._counted_by_method: dict[str, grpc.RpcMethodHandler] = {}

    def _refusal(self) -> tuple[grpc.StatusCode, str] | None:
        if self.draining:
            return (grpc.StatusCode.UNAVAILABLE,
                    "the server is draining (shutting down): retry on another replica")
        if self.max_inflight and self.active >= self.max_inflight:
            return (grpc.StatusCode.RESOURCE_EXHAUSTED,
                    f"{self.active} calls in flight, the server's max_inflight")
        return None

    async def intercept_service(
        self, continuation: Callable[[grpc.HandlerCallDetails],
                                     Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        counted = self._counted_by_method.get(details.method)
        if counted is not None:
            return counted
        handler = await continuation(details)
        if handler is None or details.method.startswith(OPEN_SERVICES):
            return handler
        counted = self._counted_by_method[details.method] = self._counted(handler)
        return counted

    def _counted(self, handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
        admission = self
        behaviour: Any = (handler.unary_unary or handler.unary_stream or handler.stream_unary
                          or handler.stream_stream)

        async def single(request: Any, context: grpc.aio.ServicerContext) -> Any:
            refusal = admission._refusal()
            if refusal is not None:
                await context.abort(*refusal)
            admission.active += 1
            try:
                return await behaviour(request, context)
            finally:
                admission.active -= 1

        async def stream(request: Any, context: grpc.aio.ServicerContext
                         ) -> AsyncIterator[Any]:
            refusal = admission._refusal()
            if refusal is not None:
                await context.abort(*refusal)
            admission.active += 1
            try:
                async for response in behaviour(request, context):
                    yield response
            finally:
                admission.active -= 1

        kind = handler_factory(handler.request_streaming, handler.response_streaming)
        return kind(stream if handler.response_streaming else single,
                    request_deserializer=handler.request_deserializer,
                    response_serializer=handler.response_serializer)
