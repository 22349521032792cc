"""Builds request messages from NumPy/SciPy arguments (shared by both clients)."""

from __future__ import annotations

import numpy as np

from solverd.results import device_code, method_code, precision_code, preconditioner_code
from solverd.tensors import _value_array, to_matrix, to_tensor
from solverd.v1 import linear_pb2


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
) -> linear_pb2.SolveRequest:
    req = linear_pb2.SolveRequest(
        a=to_matrix(a),
        method=method_code(method),
        preconditioner=preconditioner_code(preconditioner),
        device=device_code(device),
        precision=precision_code(precision),
        max_iterations=int(max_iterations or 0),
        restart=int(restart or 0),
    )
    to_tensor(_value_array(np.asarray(b)), req.b)
    if x0 is not None:
        to_tensor(_value_array(np.asarray(x0)), req.x0)
    if rtol is not None:
        req.rtol = float(rtol)
    if atol is not None:
        req.atol = float(atol)
    return req
