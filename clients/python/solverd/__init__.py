"""solverd client: numerical solvers over gRPC, NumPy and scipy.sparse in, NumPy out.

    from solverd import Client
    with Client("127.0.0.1:50051") as client:
        r = client.solve(A, b, method="gmres", rtol=1e-10)
"""

from solverd.aio import AsyncClient
from solverd.allocator import tune_allocator
from solverd.client import Client
from solverd.completion import CompletionResult
from solverd.errors import (
    Cancelled,
    DeadlineExceeded,
    FailedPrecondition,
    FieldViolation,
    Internal,
    InvalidArgument,
    PermissionDenied,
    ResourceExhausted,
    SolverdError,
    Unauthenticated,
    Unavailable,
    Unimplemented,
)
from solverd.results import BackendInfo, ServerInfo, SolveInfo, SolveResult
from solverd.tls import tls_credentials
from solverd.transport import TransportResult

__version__ = "0.1.0"

__all__ = [
    "AsyncClient",
    "BackendInfo",
    "Cancelled",
    "Client",
    "CompletionResult",
    "DeadlineExceeded",
    "FailedPrecondition",
    "FieldViolation",
    "Internal",
    "InvalidArgument",
    "PermissionDenied",
    "ResourceExhausted",
    "ServerInfo",
    "SolveInfo",
    "SolveResult",
    "SolverdError",
    "TransportResult",
    "Unauthenticated",
    "Unavailable",
    "Unimplemented",
    "__version__",
    "tls_credentials",
    "tune_allocator",
]
