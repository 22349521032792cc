"""Typed exceptions, one per gRPC status code the service returns."""

from __future__ import annotations

from dataclasses import dataclass

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status


@dataclass(frozen=True)
class FieldViolation:
    """One rejected request field: `field` is its path, e.g. "a.csr.indptr"."""

    field: str
    description: str


class SolverdError(Exception):
    """Any error status from solverd. `code` is the grpc.StatusCode."""

    code: grpc.StatusCode = grpc.StatusCode.UNKNOWN

    def __init__(self, message: str, *, code: grpc.StatusCode | None = None,
                 retry_delay: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        # Seconds the server asked the caller to wait before retrying (RetryInfo).
        self.retry_delay = retry_delay


class InvalidArgument(SolverdError):
    """The request was malformed; `violations` names each offending field."""

    code = grpc.StatusCode.INVALID_ARGUMENT

    def __init__(self, message: str, violations: list[FieldViolation] | None = None,
                 **kw: object) -> None:
        super().__init__(message, **kw)  # type: ignore[arg-type]
        self.violations = violations or []

    @property
    def fields(self) -> list[str]:
        return [v.field for v in self.violations]


class DeadlineExceeded(SolverdError):
    code = grpc.StatusCode.DEADLINE_EXCEEDED


class ResourceExhausted(SolverdError):
    code = grpc.StatusCode.RESOURCE_EXHAUSTED


class Unavailable(SolverdError):
    code = grpc.StatusCode.UNAVAILABLE


class Cancelled(SolverdError):
    code = grpc.StatusCode.CANCELLED


class FailedPrecondition(SolverdError):
    code = grpc.StatusCode.FAILED_PRECONDITION


class Unimplemented(SolverdError):
    code = grpc.StatusCode.UNIMPLEMENTED


class Internal(SolverdError):
    code = grpc.StatusCode.INTERNAL


class Unauthenticated(SolverdError):
    code = grpc.StatusCode.UNAUTHENTICATED


class PermissionDenied(SolverdError):
    code = grpc.StatusCode.PERMISSION_DENIED


_BY_CODE: dict[grpc.StatusCode, type[SolverdError]] = {
    cls.code: cls
    for cls in (InvalidArgument, DeadlineExceeded, ResourceExhausted, Unavailable, Cancelled,
                FailedPrecondition, Unimplemented, Internal, Unauthenticated, PermissionDenied)
}


def from_rpc_error(err: grpc.RpcError) -> SolverdError:
    """The typed exception for a failed call, with BadRequest and RetryInfo details unpacked."""
    code = err.code() if hasattr(err, "code") else grpc.StatusCode.UNKNOWN
    message = err.details() if hasattr(err, "details") else str(err)
    violations: list[FieldViolation] = []
    retry_delay: float | None = None
    try:
        status = rpc_status.from_call(err)  # type: ignore[arg-type]
    except (ValueError, AttributeError):
        status = None
    if status is not None:
        for detail in status.details:
            if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
                bad = error_details_pb2.BadRequest()
                detail.Unpack(bad)
                violations.extend(FieldViolation(v.field, v.description)
                                  for v in bad.field_violations)
            elif detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
                info = error_details_pb2.RetryInfo()
                detail.Unpack(info)
                retry_delay = info.retry_delay.ToTimedelta().total_seconds()
    cls = _BY_CODE.get(code, SolverdError)
    if cls is InvalidArgument:
        return InvalidArgument(message or "", violations, retry_delay=retry_delay)
    return cls(message or "", code=code, retry_delay=retry_delay)
