"""SolveBatch requests from NumPy/SciPy arguments, and their streamed answers.

A batch on the wire is one sparsity pattern with one row of values per system
(linear.proto, SolveBatchRequest). Matrices of different patterns go out as one
request per pattern; the results come back in input order either way.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import scipy.sparse as sp

from solverd.requests import set_matrix
from solverd.results import (
    SolveResult,
    device_code,
    method_code,
    precision_code,
    preconditioner_code,
)
from solverd.tensors import value_array
from solverd.v1 import linear_pb2
from solverd.wire import DecodedMessage, WireMessage

ORDERS = {"auto": linear_pb2.BATCH_ORDER_AUTO, "input": linear_pb2.BATCH_ORDER_INPUT,
          "values": linear_pb2.BATCH_ORDER_VALUES, "features": linear_pb2.BATCH_ORDER_FEATURES}
Progress = bool | Callable[[int, int], None]


def _canonical(a: Any) -> Any:
    """CSR with sorted, unique indices (so two matrices' patterns compare), or a dense
    2-D array."""
    if sp.issparse(a):
        csr = a.tocsr()
        if not csr.has_canonical_format:
            csr = csr.copy()
            csr.sum_duplicates()
        return csr
    dense = np.asarray(a)
    if dense.ndim != 2:
        raise ValueError(f"each matrix must be 2-D, got shape {dense.shape}")
    return dense


def _same_pattern(a: Any, b: Any) -> bool:
    if sp.issparse(a) != sp.issparse(b) or a.shape != b.shape:
        return False
    return not sp.issparse(a) or (np.array_equal(a.indptr, b.indptr)
                                  and np.array_equal(a.indices, b.indices))


def _values(a: Any) -> np.ndarray:
    return a.data if sp.issparse(a) else a.reshape(-1)


@dataclass
class BatchPart:
    """One SolveBatch request and the input indices of its systems, in its order."""

    indices: list[int]
    request: WireMessage


@dataclass
class BatchPlan:
    """A batch split by sparsity pattern (`groups` of input indices); `part(indices)`
    builds the request for any subset of one group, so a batch can be sharded across
    servers and a shard's unfinished systems re-sent elsewhere."""

    mats: list[Any]
    b: np.ndarray
    feats: np.ndarray | None
    single: bool
    groups: list[list[int]]
    options: dict[str, Any]

    @property
    def count(self) -> int:
        return sum(len(g) for g in self.groups)

    def part(self, indices: list[int]) -> BatchPart:
        o = self.options
        req = linear_pb2.SolveBatchRequest(
            method=method_code(o["method"]), order=ORDERS[o["order"]],
            preconditioner=preconditioner_code(o["preconditioner"]),
            device=device_code(o["device"]), precision=precision_code(o["precision"]),
            max_iterations=int(o["max_iterations"] or 0), restart=int(o["restart"] or 0),
            recycle=int(o["recycle"] or 0), warm_start=o["warm_start"])
        if o["rtol"] is not None:
            req.rtol = float(o["rtol"])
        if o["atol"] is not None:
            req.atol = float(o["atol"])
        wire = WireMessage(req)
        set_matrix(wire, "a", self.mats[0 if self.single else indices[0]])
        if not self.single:
            wire.set_tensor("values", value_array(np.stack([_values(self.mats[i])
                                                            for i in indices])))
        wire.set_tensor("b", value_array(self.b if self.b.ndim == 1 else self.b[indices]))
        if self.feats is not None:
            wire.set_tensor("features", value_array(self.feats[indices]))
        return BatchPart(list(indices), wire)

    def shards(self, count: int) -> list[list[int]]:
        """Each group cut into at most `count` contiguous runs (neighbours in input order
        are often the related systems that recycling profits from)."""
        out = []
        for group in self.groups:
            pieces = min(count, len(group))
            out += [[int(i) for i in piece] for piece in np.array_split(group, pieces)]
        return out


def plan_batch(matrices: Any, rhs: Any, *, method: str = "auto", order: str = "auto",
               features: Any = None, warm_start: bool = False,
               preconditioner: str = "none", rtol: float | None = None,
               atol: float | None = None, max_iterations: int | None = None,
               restart: int | None = None, recycle: int | None = None,
               device: str = "auto", precision: str = "auto") -> BatchPlan:
    """A batch: `matrices` one matrix (every right-hand side uses it) or a sequence of
    N; `rhs` one vector per system (a sequence, or an (N, n) array), or one vector
    shared by N matrices."""
    if order not in ORDERS:
        raise ValueError(f"order must be one of {sorted(ORDERS)}, got {order!r}")
    single = sp.issparse(matrices) or (isinstance(matrices, np.ndarray) and matrices.ndim == 2)
    mats = [_canonical(matrices)] if single else [_canonical(m) for m in matrices]
    b = rhs if isinstance(rhs, np.ndarray) else np.array([np.asarray(v) for v in rhs])
    count = b.shape[0] if single or b.ndim == 2 else len(mats)
    if single and b.ndim != 2:
        raise ValueError("one matrix needs one right-hand side per system: a sequence of "
                         "vectors or an (N, n) array")
    if not single and b.ndim == 2 and b.shape[0] != len(mats):
        raise ValueError(f"{len(mats)} matrices but {b.shape[0]} right-hand sides")
    if count == 0:
        raise ValueError("the batch is empty")
    feats = None if features is None else np.asarray(features, dtype=np.float64)
    if feats is not None:
        feats = feats.reshape(count, -1)
    groups: list[list[int]] = []
    if single:
        groups.append(list(range(count)))
    else:
        for i, m in enumerate(mats):
            for group in groups:
                if _same_pattern(mats[group[0]], m):
                    group.append(i)
                    break
            else:
                groups.append([i])
    options = {"method": method, "order": order, "warm_start": warm_start,
               "preconditioner": preconditioner, "rtol": rtol, "atol": atol,
               "max_iterations": max_iterations, "restart": restart, "recycle": recycle,
               "device": device, "precision": precision}
    return BatchPlan(mats, b, feats, single, groups, options)


def batch_requests(matrices: Any, rhs: Any, **options: Any) -> list[BatchPart]:
    """One request per sparsity pattern (see plan_batch)."""
    plan = plan_batch(matrices, rhs, **options)
    return [plan.part(group) for group in plan.groups]


def result_of(decoded: DecodedMessage, round_trip: float) -> tuple[int, SolveResult]:
    """The input index (within its request) and the result of one SolveBatchResponse."""
    msg: linear_pb2.SolveBatchResponse = decoded.message  # type: ignore[assignment]
    inner = DecodedMessage(msg.result, {key[len("result."):]: view
                                        for key, view in decoded.payloads.items()
                                        if key.startswith("result.")}, decoded.size)
    result = SolveResult.from_proto(inner, round_trip)
    return msg.index, replace(result, batch_position=msg.position)


@dataclass
class BatchCollector:
    """Results placed by input index as they arrive, with optional progress."""

    total: int
    progress: Progress = False
    results: list[SolveResult | None] = field(default_factory=list)
    done: int = 0
    started: float = field(default_factory=time.perf_counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.results = [None] * self.total

    def add(self, part: BatchPart, decoded: DecodedMessage) -> None:
        index, result = result_of(decoded, time.perf_counter() - self.started)
        if not 0 <= index < len(part.indices):
            raise ValueError(f"server answered index {index} of a {len(part.indices)}-"
                             "system request")
        with self.lock:
            if self.results[part.indices[index]] is None:
                self.done += 1
            self.results[part.indices[index]] = result
        if callable(self.progress):
            self.progress(self.done, self.total)
        elif self.progress:
            self._bar()

    def _bar(self) -> None:
        width = 30
        filled = width * self.done // self.total
        elapsed = time.perf_counter() - self.started
        end = "\n" if self.done == self.total else ""
        sys.stderr.write(f"\rsolve_batch [{'#' * filled}{'.' * (width - filled)}] "
                         f"{self.done}/{self.total} systems, {elapsed:.1f} s{end}")
        sys.stderr.flush()

    def missing(self, indices: list[int]) -> list[int]:
        return [i for i in indices if self.results[i] is None]

    def finish(self) -> list[SolveResult]:
        missing = [i for i, r in enumerate(self.results) if r is None]
        if missing:
            raise RuntimeError(f"the server sent no result for systems {missing[:10]}")
        return self.results  # type: ignore[return-value]


def batch_size(parts: Sequence[BatchPart]) -> int:
    return sum(len(p.indices) for p in parts)
