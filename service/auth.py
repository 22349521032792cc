"""Transport security: TLS / mutual TLS credentials and an optional bearer token.

The token guards the solver services only: Kubernetes probes call grpc.health.v1
and Prometheus scrapes /metrics on its own port, and neither can carry a secret.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import grpc

from service.config import ServerConfig
from service.registry import handler_factory

# Services a caller may reach without the token: health (probes) and reflection
# (discovery shows the contract, not data).
OPEN_SERVICES = ("/grpc.health.v1.Health/", "/grpc.reflection.")


def server_credentials(config: ServerConfig) -> grpc.ServerCredentials | None:
    """TLS when --tls-cert is set; mutual TLS (client certificates required and checked
    against that CA) when --tls-client-ca is set too. None: plaintext."""
    if not (config.tls_cert or config.tls_key or config.tls_client_ca):
        return None
    if not (config.tls_cert and config.tls_key):
        raise SystemExit("TLS needs both --tls-cert and --tls-key")
    pair = (Path(config.tls_key).read_bytes(), Path(config.tls_cert).read_bytes())
    ca = Path(config.tls_client_ca).read_bytes() if config.tls_client_ca else None
    return grpc.ssl_server_credentials([pair], root_certificates=ca,
                                       require_client_auth=ca is not None)


def _refuse(handler: grpc.RpcMethodHandler, message: str) -> grpc.RpcMethodHandler:
    """A handler of the same kind as `handler` that ends the call UNAUTHENTICATED."""

    async def deny(_request: Any, context: grpc.aio.ServicerContext) -> None:
        await context.abort(grpc.StatusCode.UNAUTHENTICATED, message)

    async def deny_stream(_request: Any, context: grpc.aio.ServicerContext) -> Any:
        await context.abort(grpc.StatusCode.UNAUTHENTICATED, message)
        yield  # pragma: no cover - abort raises

    streaming = handler.response_streaming
    kind = handler_factory(handler.request_streaming, streaming)
    # The request of an unauthenticated caller is never parsed: parsing is work the
    # caller could make expensive (see solverd.wire.MAX_FIELDS) before it is refused.
    return kind(deny_stream if streaming else deny,
                request_deserializer=_unread,
                response_serializer=handler.response_serializer)


def _unread(_data: bytes) -> None:
    return None


class TokenInterceptor(grpc.aio.ServerInterceptor):
    """Requires `authorization: Bearer <token>` on every call outside OPEN_SERVICES."""

    def __init__(self, token: str) -> None:
        self._expected = f"Bearer {token}".encode()

    async def intercept_service(
        self, continuation: Callable[[grpc.HandlerCallDetails],
                                     Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        if handler is None or details.method.startswith(OPEN_SERVICES):
            return handler
        sent = dict(details.invocation_metadata or ()).get("authorization", "")
        if isinstance(sent, str):
            sent = sent.encode()
        # Constant time: the comparison must not leak how much of a guess was right.
        if hmac.compare_digest(sent, self._expected):
            return handler
        reason = ("missing 'authorization: Bearer <token>' metadata" if not sent
                  else "the bearer token is not valid")
        return _refuse(handler, reason)
