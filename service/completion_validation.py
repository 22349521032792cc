"""Decoding and validating MatrixCompletion.Complete requests: shapes, sizes, limits
and options here; index ranges and duplicate entries are checked by the solver on a
worker (they need a sort of the entries, too slow for the event loop)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from service.config import Limits
from service.validation import (
    DEVICE_NAMES,
    FLOATS,
    INDICES,
    ValidationError,
    Violations,
    _enum,
    iterations_or_default,
    positive_or_default,
    tensor,
)
from solverd.v1 import completion_pb2
from solverd.wire import DecodedMessage

METHOD_NAMES = {completion_pb2.COMPLETION_METHOD_ALTMIN: "altmin",
                completion_pb2.COMPLETION_METHOD_SOFTIMPUTE_ALS: "softimpute_als"}
METHOD_CODES = {name: code for code, name in METHOD_NAMES.items()}
ROW_SOLVER_NAMES = {completion_pb2.ROW_SOLVER_AUTO: "auto",
                    completion_pb2.ROW_SOLVER_EXACT: "exact",
                    completion_pb2.ROW_SOLVER_SKETCH: "sketch"}
CENTER_NAMES = {completion_pb2.CENTERING_NONE: "none",
                completion_pb2.CENTERING_GLOBAL: "global",
                completion_pb2.CENTERING_BIASES: "biases"}


@dataclass
class CompletionProblem:
    rows: np.ndarray
    cols: np.ndarray
    values: np.ndarray
    shape: tuple[int, int]
    rank: int
    test: tuple[np.ndarray, np.ndarray, np.ndarray] | None
    predict: tuple[np.ndarray, np.ndarray] | None
    options: dict[str, object]
    device: str


def _entries(req: completion_pb2.CompleteRequest, names: tuple[str, ...], v: Violations,
             limits: Limits, required: bool) -> list[np.ndarray] | None:
    """Tensors `names` (indices, then values if three): 1-D, of one length."""
    present = [req.HasField(name) for name in names]
    if not any(present):
        if required:
            v.add(names[0], "the observed entries are required (rows, cols, values)")
        return None
    if not all(present):
        missing = names[present.index(False)]
        v.add(missing, f"{', '.join(names)} must be given together")
        return None
    arrays = []
    for i, name in enumerate(names):
        dtypes = FLOATS if i == 2 else INDICES
        a = tensor(getattr(req, name), name, v, dtypes=dtypes, ndims=(1,),
                   max_elements=limits.max_nonzeros)
        if a is None:
            return None
        arrays.append(a)
    lengths = [a.size for a in arrays]
    if len(set(lengths)) > 1:
        v.add(f"{names[1]}.shape", f"{', '.join(names)} need equal lengths, got {lengths}")
        return None
    return arrays


def complete_request(decoded: DecodedMessage, limits: Limits) -> CompletionProblem:
    req: completion_pb2.CompleteRequest = decoded.message
    v = Violations(decoded)
    shape = [int(s) for s in req.shape]
    m = n = 0
    if len(shape) != 2 or min(shape) < 1:
        v.add("shape", f"must be [m, n] with m, n >= 1, got {shape}")
    elif max(shape) > limits.max_rows:
        v.add("shape", f"{shape} exceeds the server's limit of {limits.max_rows} rows or "
                       "columns")
    else:
        m, n = shape
    rank = req.rank
    if m and not 1 <= rank <= min(m, n):
        v.add("rank", f"must be in [1, min(m, n) = {min(m, n)}], got {rank}")
    elif m and (m + n) * rank > limits.max_nonzeros:
        v.add("rank", f"factors of (m + n) x rank = {(m + n) * rank} numbers exceed the "
                      f"limit of {limits.max_nonzeros}")
    train = _entries(req, ("rows", "cols", "values"), v, limits, required=True)
    test = _entries(req, ("test_rows", "test_cols", "test_values"), v, limits, required=False)
    predict = _entries(req, ("predict_rows", "predict_cols"), v, limits, required=False)
    answer = 8 * ((m + n) * rank + (0 if predict is None else predict[0].size))
    if m and answer > limits.max_message_bytes:
        # Computed and then dropped by gRPC, before: refused up front instead.
        v.add("rank", f"the answer (U, V: (m + n) x rank numbers, and the predictions) is "
                      f"{answer} bytes, over the server's max_message_bytes "
                      f"({limits.max_message_bytes})")
    method = _enum(req.method, METHOD_NAMES, "method", v)
    row_solver = _enum(req.row_solver, ROW_SOLVER_NAMES, "row_solver", v)
    center = _enum(req.center, CENTER_NAMES, "center", v)
    device = _enum(req.device, DEVICE_NAMES, "device", v)
    reg = req.reg if req.HasField("reg") else None  # absent: chosen on a holdout
    if reg is not None and not (math.isfinite(reg) and reg >= 0):
        v.add("reg", f"must be finite and >= 0, got {reg}")
    bias_reg = req.bias_reg if req.HasField("bias_reg") else 5.0
    if not (math.isfinite(bias_reg) and bias_reg >= 0):
        v.add("bias_reg", f"must be finite and >= 0, got {bias_reg}")
    tol = positive_or_default(req.tol, "tol", v, 1e-5)
    atol = positive_or_default(req.atol, "atol", v, 1e-12)
    maxiter = iterations_or_default(req.max_iterations, 100, limits, v)
    if not 0 <= req.holdout_fraction < 1:
        v.add("holdout_fraction", f"must be in [0, 1), got {req.holdout_fraction}")
    elif req.holdout_fraction and test is not None:
        v.add("holdout_fraction", "give a holdout fraction or test entries, not both")
    if req.sketch_size and m and req.sketch_size < rank:
        v.add("sketch_size", f"must be >= rank ({rank}), got {req.sketch_size}")
    if req.sketch_steps > 1000:
        v.add("sketch_steps", f"must be <= 1000, got {req.sketch_steps}")
    v.raise_if_any()
    assert train is not None
    options: dict[str, object] = {
        "method": method, "reg": reg, "row_solver": row_solver, "center": center,
        "bias_reg": bias_reg, "tol": tol, "atol": atol, "maxiter": maxiter,
        "holdout": req.holdout_fraction, "seed": req.seed,
        "sketch_size": req.sketch_size or None, "sketch_steps": req.sketch_steps or 4,
    }
    return CompletionProblem(
        train[0], train[1], train[2], (m, n), rank,
        None if test is None else (test[0], test[1], test[2]),
        None if predict is None else (predict[0], predict[1]), options, device)


__all__ = ["METHOD_CODES", "CompletionProblem", "ValidationError", "complete_request"]
