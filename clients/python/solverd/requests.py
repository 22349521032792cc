"""Builds request messages from NumPy/SciPy arguments (shared by both clients)."""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from solverd.results import (
    device_code,
    lookup,
    method_code,
    precision_code,
    preconditioner_code,
    tuner_code,
)
from solverd.tensors import index_array, value_array
from solverd.v1 import linear_pb2, tensor_pb2
from solverd.wire import WireMessage


def to_matrix(a: object) -> tensor_pb2.Matrix:
    """A Matrix message for a scipy.sparse matrix or a dense 2-D array."""
    holder = WireMessage(linear_pb2.SolveRequest())
    set_matrix(holder, "a", a)
    return linear_pb2.SolveRequest.FromString(holder.serialize()).a


def set_matrix(wire: WireMessage, path: str, a: object) -> None:
    """Sets the Matrix at `path`: CSR for scipy.sparse (COO when it is COO), else dense."""
    target = wire.message
    for name in path.split("."):
        target = getattr(target, name)
    if sp.issparse(a):
        if a.format == "coo":
            target.coo.shape[:] = a.shape
            wire.set_tensor(f"{path}.coo.row", index_array(a.row))
            wire.set_tensor(f"{path}.coo.col", index_array(a.col))
            wire.set_tensor(f"{path}.coo.data", value_array(a.data))
            return
        csr = a.tocsr()
        target.csr.shape[:] = csr.shape
        wire.set_tensor(f"{path}.csr.indptr", index_array(csr.indptr))
        wire.set_tensor(f"{path}.csr.indices", index_array(csr.indices))
        wire.set_tensor(f"{path}.csr.data", value_array(csr.data))
        return
    if not isinstance(a, np.ndarray | list | tuple) and hasattr(a, "matvec"):
        raise TypeError(f"A must be a scipy.sparse matrix or a 2-D array, not a "
                        f"{type(a).__name__}: the server needs the matrix's entries, not a "
                        f"function that multiplies by it")
    dense = np.asarray(a)
    if dense.ndim != 2:
        raise ValueError(f"A must be 2-D (a scipy.sparse matrix or an array), got "
                         f"{type(a).__name__} of shape {dense.shape}")
    wire.set_tensor(f"{path}.dense", value_array(dense))


_AMG_ENUMS = {
    "kind": {"auto": linear_pb2.AMG_KIND_AUTO, "sa": linear_pb2.AMG_KIND_SA,
             "air": linear_pb2.AMG_KIND_AIR},
    "strength": {"auto": linear_pb2.AMG_STRENGTH_AUTO,
                 "symmetric": linear_pb2.AMG_STRENGTH_SYMMETRIC,
                 "evolution": linear_pb2.AMG_STRENGTH_EVOLUTION,
                 "classical": linear_pb2.AMG_STRENGTH_CLASSICAL},
    "smoother": {"auto": linear_pb2.AMG_SMOOTHER_AUTO,
                 "gauss_seidel": linear_pb2.AMG_SMOOTHER_GAUSS_SEIDEL,
                 "jacobi": linear_pb2.AMG_SMOOTHER_JACOBI},
    "cycle": {"v": linear_pb2.AMG_CYCLE_V, "w": linear_pb2.AMG_CYCLE_W,
              "f": linear_pb2.AMG_CYCLE_F},
}


def set_amg(wire: WireMessage, path: str, options: dict[str, Any]) -> None:
    """The AmgOptions at `path` from a dict of its fields (names as in AmgOptions)."""
    target = getattr(wire.message, path)
    unknown = set(options) - {*_AMG_ENUMS, "near_nullspace", "max_coarse", "max_levels"}
    if unknown:
        raise ValueError(f"unknown amg option(s): {', '.join(sorted(unknown))}")
    for name, codes in _AMG_ENUMS.items():
        if name in options:
            setattr(target, name, lookup(codes, options[name], f"amg.{name}"))
    for name in ("max_coarse", "max_levels"):
        if name in options:
            setattr(target, name, int(options[name]))
    target.SetInParent()
    if options.get("near_nullspace") is not None:
        wire.set_tensor(f"{path}.near_nullspace",
                        value_array(np.asarray(options["near_nullspace"], dtype=np.float64)))


def solve_request(
    a: object,
    b: object,
    *,
    method: str = "auto",
    x0: object | None = None,
    preconditioner: str = "none",
    rtol: float | None = None,
    atol: float | None = None,
    max_iterations: int | None = None,
    restart: int | None = None,
    device: str = "auto",
    precision: str = "auto",
    omega: float | None = None,
    tuner: str | None = None,
    tuner_state: linear_pb2.TunerState | None = None,
    context: float | None = None,
    context_range: tuple[float, float] | None = None,
    cap: int | None = None,
    seed: int | None = None,
    same_matrix: bool = False,
    recycle: int | None = None,
    recycle_space: linear_pb2.RecycleSpace | None = None,
    return_recycle_space: bool = False,
    amg: dict[str, Any] | None = None,
) -> WireMessage:
    """A SolveRequest; `a` may be None with same_matrix (SolveSequence streams).
    `amg`: the AMG options (kind "sa"/"air", strength "symmetric"/"evolution"/
    "classical", smoother "gauss_seidel"/"jacobi", cycle "V"/"W"/"F", near_nullspace
    (n x k), max_coarse, max_levels)."""
    req = linear_pb2.SolveRequest(
        method=method_code(method),
        omega=float(omega or 0.0),
        tuner=tuner_code(tuner),
        cap=int(cap or 0),
        seed=int(seed or 0),
        same_matrix=same_matrix,
        preconditioner=preconditioner_code(preconditioner),
        device=device_code(device),
        precision=precision_code(precision),
        max_iterations=int(max_iterations or 0),
        restart=int(restart or 0),
        recycle=int(recycle or 0),
        return_recycle_space=return_recycle_space,
    )
    if recycle_space is not None:
        req.recycle_space.CopyFrom(recycle_space)
    if rtol is not None:
        req.rtol = float(rtol)
    if atol is not None:
        req.atol = float(atol)
    if tuner_state is not None:
        req.tuner_state.CopyFrom(tuner_state)
    if context is not None:
        if np.size(context) != 1:
            raise ValueError(f"context must be one number, got shape {np.shape(context)}")
        req.context = float(np.asarray(context).reshape(()))
    if context_range is not None:
        req.context_range.extend(float(v) for v in context_range)
    wire = WireMessage(req)
    if amg:
        set_amg(wire, "amg", amg)
    if not same_matrix:
        set_matrix(wire, "a", a)
    wire.set_tensor("b", value_array(np.asarray(b)))
    if x0 is not None:
        wire.set_tensor("x0", value_array(np.asarray(x0)))
    return wire
