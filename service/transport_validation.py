"""Decoding and validating Transport.Solve requests (shapes before bytes, limits first)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from service.config import Limits
from service.validation import (
    DEVICE_NAMES,
    FLOATS,
    INDICES,
    ValidationError,
    Violations,
    _enum,
    _finite,
    _in_range,
    iterations_or_default,
    positive_or_default,
    tensor,
)
from solverd.v1 import tensor_pb2, transport_pb2
from solverd.wire import DecodedMessage

METHOD_NAMES = {transport_pb2.TRANSPORT_METHOD_AUTO: "auto",
                transport_pb2.TRANSPORT_METHOD_SINKHORN: "sinkhorn",
                transport_pb2.TRANSPORT_METHOD_SINKHORN_EPS: "sinkhorn_eps",
                transport_pb2.TRANSPORT_METHOD_SNS: "sns",
                transport_pb2.TRANSPORT_METHOD_EXACT: "exact"}
METHOD_CODES = {name: code for code, name in METHOD_NAMES.items()}
METRIC_NAMES = {transport_pb2.COST_METRIC_SQEUCLIDEAN: "sqeuclidean",
                transport_pb2.COST_METRIC_EUCLIDEAN: "euclidean",
                transport_pb2.COST_METRIC_CITYBLOCK: "cityblock"}
SCALE_NAMES = {transport_pb2.COST_SCALE_NONE: "none", transport_pb2.COST_SCALE_MAX: "max",
               transport_pb2.COST_SCALE_MEAN: "mean"}
PLAN_NAMES = {transport_pb2.PLAN_FORM_DENSE: "dense", transport_pb2.PLAN_FORM_SPARSE: "sparse",
              transport_pb2.PLAN_FORM_NONE: "none"}


@dataclass
class TransportProblem:
    """A validated request: B problems (B = 1 unbatched) of size n x m."""

    batched: bool
    count: int
    a: np.ndarray | None  # [B, n] or None (uniform)
    b: np.ndarray | None
    cost: np.ndarray | None  # [B, n, m]
    x: np.ndarray | None  # [B, n, d]
    y: np.ndarray | None
    options: dict[str, object]
    device: str
    sparse_cost: sp.coo_matrix | None = None  # [n, m], duplicates as sent (B = 1)


def _sparse_cost(msg: tensor_pb2.CooMatrix, v: Violations, limits: Limits
                 ) -> sp.coo_matrix | None:
    """The entries of a sparse cost, kept as sent (the solver takes a duplicate's least
    cost; converting to CSR would add them up)."""
    field = "sparse_cost"
    if len(msg.shape) != 2 or min(msg.shape) < 1:
        v.add(f"{field}.shape", f"must be [n, m] with n, m >= 1, got {list(msg.shape)}")
        return None
    n, m = int(msg.shape[0]), int(msg.shape[1])
    if max(n, m) > limits.max_rows:
        v.add(f"{field}.shape", f"{n} x {m} is over the limit of {limits.max_rows} points")
        return None
    row = tensor(msg.row, f"{field}.row", v, dtypes=INDICES, ndims=(1,),
                 max_elements=limits.max_nonzeros)
    col = tensor(msg.col, f"{field}.col", v, dtypes=INDICES, ndims=(1,),
                 max_elements=limits.max_nonzeros)
    data = tensor(msg.data, f"{field}.data", v, dtypes=FLOATS, ndims=(1,),
                  max_elements=limits.max_nonzeros)
    if row is None or col is None or data is None:
        return None
    if not row.shape == col.shape == data.shape or data.size == 0:
        v.add(f"{field}.data", f"row, col and data must have one equal, non-zero length, got "
                               f"{row.size}, {col.size}, {data.size}")
        return None
    if not (_in_range(row, n, f"{field}.row", v) and _in_range(col, m, f"{field}.col", v)):
        return None
    _finite(data, f"{field}.data", v)
    return sp.coo_matrix((data, (row, col)), shape=(n, m))


def _points_or_cost(req: transport_pb2.TransportRequest, v: Violations, limits: Limits
                    ) -> tuple[bool, np.ndarray | None, np.ndarray | None, np.ndarray | None]:
    has_cost = req.HasField("cost")
    has_points = req.HasField("x") or req.HasField("y")
    if req.HasField("sparse_cost"):
        if has_cost or has_points:
            v.add("sparse_cost", "give one cost: sparse_cost, cost, or the points x and y")
        return False, None, None, None
    if has_cost == has_points:
        v.add("cost", "give the cost, or the points x and y (exactly one of the two)")
        return False, None, None, None
    if has_cost:
        cost = tensor(req.cost, "cost", v, dtypes=FLOATS, ndims=(2, 3),
                      max_elements=limits.max_transport_entries)
        if cost is None:
            return False, None, None, None
        if 0 in cost.shape:
            v.add("cost.shape", f"must not be empty, got {list(cost.shape)}")
            return False, None, None, None
        _finite(cost, "cost.data", v)
        batched = cost.ndim == 3
        return batched, cost if batched else cost[None], None, None
    if not (req.HasField("x") and req.HasField("y")):
        v.add("y" if req.HasField("x") else "x", "points need both x and y")
        return False, None, None, None
    x = tensor(req.x, "x", v, dtypes=FLOATS, ndims=(2, 3), max_elements=limits.max_rows)
    y = tensor(req.y, "y", v, dtypes=FLOATS, ndims=(2, 3), max_elements=limits.max_rows)
    if x is None or y is None:
        return False, None, None, None
    if x.ndim != y.ndim or x.shape[-1] != y.shape[-1] or (x.ndim == 3 and x.shape[0] != y.shape[0]):
        v.add("y.shape", f"must match x's batch and dimension: x {list(x.shape)}, y "
                         f"{list(y.shape)}")
        return False, None, None, None
    if 0 in x.shape or 0 in y.shape:
        v.add("x.shape", f"must not be empty: x {list(x.shape)}, y {list(y.shape)}")
        return False, None, None, None
    batched = x.ndim == 3
    x3, y3 = (x, y) if batched else (x[None], y[None])
    entries = x3.shape[0] * x3.shape[1] * y3.shape[1]
    if entries > limits.max_transport_entries:
        v.add("x.shape", f"the cost would have {entries} entries, over the limit of "
                         f"{limits.max_transport_entries}")
        return False, None, None, None
    _finite(x, "x.data", v)
    _finite(y, "y.data", v)
    return batched, None, x3, y3


def _histogram(msg: object, field: str, present: bool, count: int, size: int, batched: bool,
               v: Violations, limits: Limits) -> np.ndarray | None:
    if not present:
        return None
    w = tensor(msg, field, v, dtypes=FLOATS, ndims=(2,) if batched else (1,),  # type: ignore[arg-type]
               max_elements=limits.max_rows)
    if w is None:
        return None
    w = w if batched else w[None]
    if w.shape != (count, size):
        want = [count, size] if batched else [size]
        v.add(f"{field}.shape", f"must be {want} to match the cost, got {list(msg.shape)}")  # type: ignore[attr-defined]
        return None
    if not np.isfinite(w).all() or (w < 0).any():
        v.add(f"{field}.data", "must be finite and non-negative")
        return None
    if (w.sum(axis=1) <= 0).any():
        v.add(f"{field}.data", "a histogram has no mass")
        return None
    return w


def transport_request(decoded: DecodedMessage, limits: Limits) -> TransportProblem:
    req: transport_pb2.TransportRequest = decoded.message
    v = Violations(decoded)
    batched, cost, x, y = _points_or_cost(req, v, limits)
    method = _enum(req.method, METHOD_NAMES, "method", v)
    metric = _enum(req.metric, METRIC_NAMES, "metric", v)
    scale = _enum(req.scale, SCALE_NAMES, "scale", v)
    plan = _enum(req.plan, PLAN_NAMES, "plan", v)
    device = _enum(req.device, DEVICE_NAMES, "device", v)
    reg = req.reg
    if not (math.isfinite(reg) and reg >= 0):
        v.add("reg", f"must be finite and >= 0, got {reg}")
    elif reg == 0 and method not in ("exact", "auto"):
        v.add("reg", f"must be > 0 for method {method} (reg = 0 is exact transport)")
    tol = positive_or_default(req.tol, "tol", v, 1e-9)
    # 10,000 by default: POT stops at 1,000; 100,000 took 15 s at reg = 1e-6, where plain
    # Sinkhorn cannot converge anyway (AUTO picks SNS there).
    maxiter = iterations_or_default(req.max_iterations, 10_000, limits, v)
    sparse_cost = None
    if req.HasField("sparse_cost"):
        if not (method == "exact" or (method == "auto" and reg == 0)):
            v.add("sparse_cost", "a sparse cost restricts exact transport to its entries: "
                                 "method EXACT, or AUTO with reg = 0")
        sparse_cost = _sparse_cost(req.sparse_cost, v, limits)
    reg_m = req.reg_m if req.HasField("reg_m") else None
    if reg_m is not None and not (reg_m > 0 and not math.isnan(reg_m)):
        v.add("reg_m", f"must be > 0 (leave unset for balanced transport), got {reg_m}")
    threshold = req.plan_threshold or 1e-12
    if not (0 <= threshold < 1):
        v.add("plan_threshold", f"must be in [0, 1), got {req.plan_threshold}")
    v.raise_if_any()
    if sparse_cost is not None:
        count, (n, m) = 1, sparse_cost.shape
    else:
        source = cost if cost is not None else x
        assert source is not None
        count, n = source.shape[0], source.shape[1]
        m = cost.shape[2] if cost is not None else y.shape[1]  # type: ignore[union-attr]
    a = _histogram(req.a, "a", req.HasField("a"), count, n, batched, v, limits)
    b = _histogram(req.b, "b", req.HasField("b"), count, m, batched, v, limits)
    # The answer must fit one message: a 256 KB request of points asked for a 288 MB
    # dense plan, which was computed, then dropped by gRPC (and the client, taking the
    # error for its own request's size, sent it again in chunks).
    answer = 8 * count * (n * m + n + m) if plan == "dense" else 8 * count * (n + m)
    if answer > limits.max_message_bytes:
        what = ("a dense plan of " if plan == "dense" else "potentials of ")
        v.add("plan", f"{what}{answer} bytes exceeds the server's max_message_bytes "
                      f"({limits.max_message_bytes}): ask plan=sparse (entries above "
                      f"plan_threshold) or plan=none (cost and potentials only)")
    v.raise_if_any()
    options: dict[str, object] = {
        "metric": metric, "scale": scale, "reg": reg, "method": method, "tol": tol,
        "maxiter": maxiter, "reg_m": reg_m, "plan": plan, "plan_threshold": threshold,
        "potentials": req.exact_potentials,
        # The exact method's pivot cap: only when asked (0: its own cap, then column
        # generation to optimality).
        "max_pivots": req.max_iterations or None,
    }
    return TransportProblem(batched, count, a, b, cost, x, y, options, device, sparse_cost)


__all__ = ["METHOD_CODES", "TransportProblem", "ValidationError", "transport_request"]
