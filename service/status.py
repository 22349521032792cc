"""Rich gRPC errors: google.rpc.Status with BadRequest / RetryInfo details."""

from __future__ import annotations

import grpc
from google.protobuf import duration_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status


class RpcFailure(Exception):
    """Raised inside a handler to end the call with `code`; `details` travel as Any."""

    def __init__(self, code: grpc.StatusCode, message: str,
                 details: list[object] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details or []


def detached(failure: RpcFailure) -> RpcFailure:
    """`failure` cut from what it saw: its traceback holds the frames it passed through
    (and so the request's buffers), and a frame that caught it holds it back, a cycle
    only a full collection frees, which rarely runs (start-up objects are frozen out of
    the collector). Measured before: 40 overlong 16 MiB uploads kept 370 MiB."""
    failure.__traceback__ = None
    failure.__context__ = None
    failure.__cause__ = None
    return failure


# What an error may quote of the caller's input. The status travels in the trailers,
# which gRPC caps at 16 KiB (message and details together): a description quoting a
# 5,000-entry shape went over, and the client got RESOURCE_EXHAUSTED instead.
QUOTE_CHARS = 512
MAX_VIOLATIONS = 10


def bounded(text: str, limit: int = QUOTE_CHARS) -> str:
    """`text` cut to `limit` characters, saying how much was left out."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text) - limit} more characters)"


def invalid_argument(violations: list[tuple[str, str]]) -> RpcFailure:
    shown = [(bounded(field, 128), bounded(description)) for field, description
             in violations[:MAX_VIOLATIONS]]
    if len(violations) > MAX_VIOLATIONS:
        shown.append(("(request)", f"and {len(violations) - MAX_VIOLATIONS} more violations"))
    violations = shown
    bad = error_details_pb2.BadRequest()
    for field, description in violations:
        bad.field_violations.add(field=field, description=description)
    summary = "; ".join(f"{f}: {d}" for f, d in violations)
    return RpcFailure(grpc.StatusCode.INVALID_ARGUMENT, f"invalid request: {summary}", [bad])


def resource_exhausted(message: str, retry_after: float) -> RpcFailure:
    message = bounded(message, 2 * QUOTE_CHARS)
    info = error_details_pb2.RetryInfo(
        retry_delay=duration_pb2.Duration(seconds=int(retry_after),
                                          nanos=int((retry_after % 1) * 1e9)))
    return RpcFailure(grpc.StatusCode.RESOURCE_EXHAUSTED, message, [info])


def to_grpc_status(failure: RpcFailure) -> grpc.Status:
    status = status_pb2.Status(code=failure.code.value[0],
                               message=bounded(failure.message, 8 * QUOTE_CHARS))
    for detail in failure.details:
        status.details.add().Pack(detail)
    return rpc_status.to_status(status)
