"""What the client returns: plain dataclasses holding NumPy arrays."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from solverd.tensors import from_tensor
from solverd.v1 import info_pb2, linear_pb2
from solverd.wire import DecodedMessage


def _brief(value: Any) -> str:
    if isinstance(value, np.ndarray):
        return f"array(shape={value.shape}, dtype={value.dtype})"
    if hasattr(value, "shape") and hasattr(value, "nnz"):  # scipy.sparse
        return f"{type(value).__name__}(shape={value.shape}, nnz={value.nnz})"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, list | tuple) and len(value) > 6:
        return f"[{', '.join(_brief(v) for v in value[:3])}, ... ({len(value)} items)]"
    if isinstance(value, str) and len(value) > 80:
        return repr(value[:77] + "...")
    return repr(value)


def concise_repr(self: Any) -> str:
    """A result's repr: scalars, arrays as their shape and dtype, long lists cut
    (printing a solve of n = 900 was 17,552 characters). `info` and recycle spaces,
    which have their own repr, are left out."""
    from dataclasses import fields as dataclass_fields

    parts = [f"{f.name}={_brief(getattr(self, f.name))}" for f in dataclass_fields(self)
             if f.repr and f.name not in ("info", "recycle_space")]
    return f"{type(self).__name__}({', '.join(parts)})"


@dataclass(frozen=True)
class SolveInfo:
    """Where a solve ran and where its time went, in seconds."""

    backend: str
    device: str
    precision: str
    stop_reason: str
    decode_seconds: float
    queue_seconds: float
    compute_seconds: float
    encode_seconds: float
    server_version: str
    # Measured by the client: from sending the request to holding the decoded answer.
    round_trip_seconds: float

    @classmethod
    def from_proto(cls, i: Any, round_trip: float) -> SolveInfo:
        return cls(backend=i.backend, device=i.device, precision=i.precision,
                   stop_reason=i.stop_reason, decode_seconds=i.decode_seconds,
                   queue_seconds=i.queue_seconds, compute_seconds=i.compute_seconds,
                   encode_seconds=i.encode_seconds, server_version=i.server_version,
                   round_trip_seconds=round_trip)


@dataclass(frozen=True)
class SolveResult:
    """The answer to A x = b and how it was reached.

    x: the solution (shape of b). converged: the true residual ||b - A x|| met
    max(rtol ||b||, atol) for every column (never claimed otherwise). iterations: the
    most any column took; residual_norm: the largest relative true residual. method:
    the method that ran (AUTO's choice; see auto_reason). matvecs: products with A.
    column_*: per right-hand side. info: backend, device, precision, stop_reason and
    the server's decode / queue / compute / encode seconds. The other fields belong to
    tuned sequences (omega, best_omega, tuned_iterations, capped), recycling (recycled,
    recycle_space, recycle_bytes, recycle_setup_matvecs), batches (batch_position) and
    AMG (amg: the hierarchy's kind, levels, complexities, setup seconds, reused).
    """

    __repr__ = concise_repr

    x: np.ndarray
    converged: bool
    iterations: int
    residual_norm: float
    method: str
    matvecs: int
    column_iterations: np.ndarray
    column_converged: np.ndarray
    column_residual_norms: np.ndarray
    info: SolveInfo
    # SOR / SSOR-CG: the omega used; with a tuner, its current best omega, the
    # iterations of the tuned solve, and whether it hit the cap (then x comes
    # from the server's safe re-solve).
    omega: float | None = None
    best_omega: float | None = None
    tuned_iterations: int | None = None
    capped: bool = False
    # GCRO-DR / recycled CG: whether an earlier system's space was used, the space
    # this solve ends with (when asked for: pass it as `recycle_space=` next time),
    # and its size in bytes.
    recycled: bool = False
    recycle_space: linear_pb2.RecycleSpace | None = field(default=None, repr=False)
    recycle_bytes: int = 0
    recycle_setup_matvecs: int = 0  # of `matvecs`: moving the space to this matrix
    # solve_batch: this system's place in the order the server solved the batch in
    # (0 first; per call when the batch went out as several calls).
    batch_position: int | None = None
    # preconditioner "amg": the hierarchy built (kind, levels, operator_complexity,
    # grid_complexity, coarse_rows, setup_seconds); method "auto": why it chose what it did.
    amg: dict[str, Any] | None = None
    auto_reason: str = ""
    # method "direct" in a batch of one matrix or a sequence: whether this system reused
    # an earlier system's LU factors (triangular solves only).
    factors_reused: bool = False
    # method "direct": which factorisation ran ("superlu", "lapack", "cudss",
    # "cupyx-splu", "cupy-dense").
    direct_solver: str = ""

    @classmethod
    def from_proto(cls, decoded: DecodedMessage, round_trip: float) -> SolveResult:
        msg = decoded.message
        i = msg.info
        return cls(
            x=from_tensor(msg.x, decoded.tensor_bytes("x", msg.x)),
            converged=msg.converged,
            iterations=msg.iterations,
            residual_norm=msg.residual_norm,
            method=method_name(msg.method),
            matvecs=msg.matvecs,
            column_iterations=np.array(msg.column_iterations, dtype=np.int64),
            column_converged=np.array(msg.column_converged, dtype=bool),
            column_residual_norms=np.array(msg.column_residual_norms, dtype=np.float64),
            info=SolveInfo.from_proto(i, round_trip),
            omega=msg.omega or None,
            best_omega=msg.best_omega or None,
            tuned_iterations=msg.tuned_iterations if msg.HasField("tuner_state") else None,
            capped=msg.capped,
            recycled=msg.recycled,
            recycle_space=(_detach(decoded, msg.recycle_space)
                           if msg.HasField("recycle_space") else None),
            recycle_bytes=msg.recycle_bytes,
            recycle_setup_matvecs=msg.recycle_setup_matvecs,
            amg=({"kind": msg.amg.kind, "levels": msg.amg.levels,
                  "operator_complexity": msg.amg.operator_complexity,
                  "grid_complexity": msg.amg.grid_complexity,
                  "coarse_rows": msg.amg.coarse_rows,
                  "setup_seconds": msg.amg.setup_seconds, "reused": msg.amg.reused}
                 if msg.HasField("amg") else None),
            auto_reason=msg.auto_reason,
            factors_reused=msg.factors_reused,
            direct_solver=msg.direct_solver,
        )


def _detach(decoded: DecodedMessage, space: linear_pb2.RecycleSpace) -> linear_pb2.RecycleSpace:
    """A self-contained copy: large tensor payloads of a decoded response live outside
    the message (solverd.wire), so they are put back here."""
    out = linear_pb2.RecycleSpace()
    out.CopyFrom(space)
    for name in ("u", "c"):
        getattr(out, name).data = bytes(
            decoded.tensor_bytes(f"recycle_space.{name}", getattr(space, name)))
    return out


@dataclass(frozen=True)
class BackendInfo:
    name: str
    available: bool
    device: str
    memory_total_bytes: int
    memory_free_bytes: int
    versions: dict[str, str]
    reason: str
    preconditioners: list[str]
    workers: int


@dataclass(frozen=True)
class ServerInfo:
    """What `client.info()` returns: the server's version, its default device, the
    backends it has (a GPU's name and memory) and every limit a request must respect."""

    version: str
    default_device: str
    backends: list[BackendInfo]
    limits: dict[str, float]
    methods: list[str]
    blas_threads: int
    gpu: BackendInfo | None = field(default=None)

    @classmethod
    def from_proto(cls, msg: info_pb2.GetInfoResponse) -> ServerInfo:
        backends = [
            BackendInfo(b.name, b.available, b.device, b.memory_total_bytes, b.memory_free_bytes,
                        dict(b.versions), b.reason, list(b.preconditioners), b.workers)
            for b in msg.backends
        ]
        limits = {f.name: getattr(msg.limits, f.name) for f in msg.limits.DESCRIPTOR.fields}
        gpu = next((b for b in backends if b.name == "cupy" and b.available), None)
        return cls(msg.version, msg.default_device, backends, limits, list(msg.methods),
                   msg.blas_threads, gpu)


_METHODS = {
    "auto": linear_pb2.METHOD_AUTO, "cg": linear_pb2.METHOD_CG,
    "minres": linear_pb2.METHOD_MINRES, "gmres": linear_pb2.METHOD_GMRES,
    "bicgstab": linear_pb2.METHOD_BICGSTAB, "direct": linear_pb2.METHOD_DIRECT,
    "sor": linear_pb2.METHOD_SOR, "ssor_cg": linear_pb2.METHOD_SSOR_CG,
    "gcrodr": linear_pb2.METHOD_GCRODR, "recycled_cg": linear_pb2.METHOD_RECYCLED_CG,
}
RECYCLING_METHODS = ("gcrodr", "recycled_cg")
_TUNERS = {"none": linear_pb2.TUNER_NONE, "tsallis-inf": linear_pb2.TUNER_TSALLIS_INF,
           "chebcb": linear_pb2.TUNER_CHEBCB}
_PRECONDITIONERS = {
    "none": linear_pb2.PRECONDITIONER_NONE, "jacobi": linear_pb2.PRECONDITIONER_JACOBI,
    "ilu": linear_pb2.PRECONDITIONER_ILU, "amg": linear_pb2.PRECONDITIONER_AMG,
}
_DEVICES = {"auto": linear_pb2.DEVICE_AUTO, "cpu": linear_pb2.DEVICE_CPU,
            "gpu": linear_pb2.DEVICE_GPU}
_PRECISIONS = {"auto": linear_pb2.PRECISION_AUTO, "float64": linear_pb2.PRECISION_FLOAT64,
               "float32": linear_pb2.PRECISION_FLOAT32}


def lookup(table: dict[str, int], value: str | None, what: str, default: str = "auto") -> int:
    """table[value], with hyphens and underscores the same ("sinkhorn-eps" and
    "sinkhorn_eps", "tsallis_inf" and "tsallis-inf")."""
    key = (value or default).lower()
    for spelling in (key, key.replace("-", "_"), key.replace("_", "-")):
        if spelling in table:
            return table[spelling]
    raise ValueError(f"unknown {what} {value!r}; expected one of {sorted(table)}")


def method_code(name: str | None) -> int:
    return lookup(_METHODS, (name or "auto").replace("-", "_"), "method")


def tuner_code(name: str | None) -> int:
    return lookup(_TUNERS, name, "tuner", "none")


def preconditioner_code(name: str | None) -> int:
    return lookup(_PRECONDITIONERS, name, "preconditioner", "none")


def device_code(name: str | None) -> int:
    return lookup(_DEVICES, name, "device")


def precision_code(name: str | None) -> int:
    return lookup(_PRECISIONS, name, "precision")


def method_name(code: int) -> str:
    return next((k for k, v in _METHODS.items() if v == code), f"unknown({code})")

