"""Matrix completion requests and results (shared by both clients)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from solverd.results import SolveInfo, concise_repr, device_code, lookup
from solverd.tensors import from_tensor, index_array, value_array
from solverd.v1 import completion_pb2
from solverd.wire import DecodedMessage, WireMessage

METHODS = {"altmin": completion_pb2.COMPLETION_METHOD_ALTMIN,
           "softimpute_als": completion_pb2.COMPLETION_METHOD_SOFTIMPUTE_ALS}
ROW_SOLVERS = {"auto": completion_pb2.ROW_SOLVER_AUTO, "exact": completion_pb2.ROW_SOLVER_EXACT,
               "sketch": completion_pb2.ROW_SOLVER_SKETCH}
CENTERS = {"none": completion_pb2.CENTERING_NONE, "global": completion_pb2.CENTERING_GLOBAL,
           "biases": completion_pb2.CENTERING_BIASES}
_METHOD_NAMES = {code: name for name, code in METHODS.items()}



def observed(rows: Any, cols: Any = None, vals: Any = None, shape: Any = None
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[int, int]]:
    """(rows, cols, vals, shape) from COO arrays, or from a scipy.sparse matrix whose
    stored entries (explicit zeros included) are the observations."""
    if sp.issparse(rows):
        coo = rows.tocoo()
        if coo.nnz and not coo.has_canonical_format:
            coo.sum_duplicates()
        return coo.row, coo.col, coo.data, (int(coo.shape[0]), int(coo.shape[1]))
    if cols is None or vals is None or shape is None:
        raise ValueError("give rows, cols, vals and shape, or one scipy.sparse matrix")
    r, c = np.asarray(rows), np.asarray(cols)
    for name, index in (("rows", r), ("cols", c)):
        if index.size and not np.issubdtype(index.dtype, np.integer):
            # 2.7 would have been taken for row 2 by a silent cast.
            raise TypeError(f"{name} must be integer indices, got dtype {index.dtype}")
    return r, c, np.asarray(vals), (int(shape[0]), int(shape[1]))


def complete_request(rows: np.ndarray, cols: np.ndarray, vals: np.ndarray,
                     shape: tuple[int, int], rank: int, *, method: str = "altmin",
                     reg: float | None = None, row_solver: str = "auto", center: str = "none",
                     bias_reg: float | None = None, tol: float = 0.0, atol: float = 0.0,
                     max_iterations: int | None = None, holdout: float = 0.0,
                     test: tuple[Any, Any, Any] | None = None,
                     predict: tuple[Any, Any] | None = None, seed: int = 0,
                     sketch_size: int | None = None, sketch_steps: int | None = None,
                     device: str = "auto") -> WireMessage:
    req = completion_pb2.CompleteRequest(
        shape=list(shape), rank=int(rank), method=lookup(METHODS, method, "method"),
        row_solver=lookup(ROW_SOLVERS, row_solver, "row_solver"),
        center=lookup(CENTERS, center, "center"), seed=int(seed), tol=float(tol),
        atol=float(atol), max_iterations=int(max_iterations or 0),
        holdout_fraction=float(holdout), sketch_size=int(sketch_size or 0),
        sketch_steps=int(sketch_steps or 0), device=device_code(device))
    if bias_reg is not None:
        req.bias_reg = float(bias_reg)
    if reg is not None:  # absent: the server chooses it on a held-out tenth
        req.reg = float(reg)
    wire = WireMessage(req)
    wire.set_tensor("rows", index_array(np.asarray(rows)))
    wire.set_tensor("cols", index_array(np.asarray(cols)))
    wire.set_tensor("values", value_array(np.asarray(vals)))
    if test is not None:
        wire.set_tensor("test_rows", index_array(np.asarray(test[0])))
        wire.set_tensor("test_cols", index_array(np.asarray(test[1])))
        wire.set_tensor("test_values", value_array(np.asarray(test[2])))
    if predict is not None:
        wire.set_tensor("predict_rows", index_array(np.asarray(predict[0])))
        wire.set_tensor("predict_cols", index_array(np.asarray(predict[1])))
    return wire


@dataclass(frozen=True)
class History:
    """Per round: observed RMSE, holdout/test RMSE (NaN without), seconds since start."""

    train_rmse: np.ndarray
    holdout_rmse: np.ndarray
    seconds: np.ndarray


@dataclass(frozen=True)
class CompletionResult:
    """M[i, j] ~ global_mean + row_bias[i] + col_bias[j] + U[i] . V[j]."""

    __repr__ = concise_repr


    U: np.ndarray
    V: np.ndarray
    singular_values: np.ndarray
    global_mean: float
    row_bias: np.ndarray | None
    col_bias: np.ndarray | None
    history: History
    iterations: int
    converged: bool
    stop_reason: str
    method: str
    row_solver: str
    init_seconds: float
    holdout_count: int
    predictions: np.ndarray | None
    info: SolveInfo
    reg: float = 0.0  # the ridge (or lambda) used: the one chosen if the call left it unset

    def predict(self, rows: Any, cols: Any) -> np.ndarray:
        """Estimates at (rows[t], cols[t]), computed here from the factors."""
        r = np.asarray(rows, dtype=np.int64)
        c = np.asarray(cols, dtype=np.int64)
        out = np.einsum("ij,ij->i", self.U[r], self.V[c]) + self.global_mean
        if self.row_bias is not None and self.col_bias is not None:
            out += self.row_bias[r] + self.col_bias[c]
        return out


def result_from_proto(decoded: DecodedMessage, round_trip: float) -> CompletionResult:
    r = decoded.message
    i = r.info
    info = SolveInfo.from_proto(i, round_trip)

    def tensor(name: str) -> np.ndarray | None:
        if not r.HasField(name):
            return None
        t = getattr(r, name)
        return from_tensor(t, decoded.tensor_bytes(name, t))

    U, V, s = tensor("u"), tensor("v"), tensor("singular_values")
    assert U is not None and V is not None and s is not None
    return CompletionResult(
        U=U, V=V, singular_values=s, global_mean=r.global_mean, row_bias=tensor("row_bias"),
        col_bias=tensor("col_bias"),
        history=History(np.array(r.train_rmse), np.array(r.holdout_rmse),
                        np.array(r.round_seconds)),
        iterations=r.iterations, converged=r.converged, stop_reason=r.stop_reason,
        method=_METHOD_NAMES.get(r.method, str(r.method)), row_solver=r.row_solver,
        init_seconds=r.init_seconds, holdout_count=r.holdout_count,
        predictions=tensor("predictions"), info=info, reg=r.reg)
