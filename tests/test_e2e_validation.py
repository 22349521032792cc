"""Every kind of bad input gets INVALID_ARGUMENT naming the field, over the wire.

Requests are built by hand (not by the client library, which refuses most of
these itself) and sent raw, the way a buggy client in another language would.
"""

from __future__ import annotations

import os

import grpc
import numpy as np
import pytest

from solverd import InvalidArgument
from solverd.errors import from_rpc_error
from solverd.requests import to_matrix
from solverd.tensors import to_tensor
from solverd.v1 import linear_pb2, linear_pb2_grpc, tensor_pb2

from problems import poisson_2d

A = poisson_2d(10)  # n = 100
N = A.shape[0]
F64, F32, I32, I64 = (tensor_pb2.DTYPE_FLOAT64, tensor_pb2.DTYPE_FLOAT32, tensor_pb2.DTYPE_INT32,
                      tensor_pb2.DTYPE_INT64)


def good_request() -> linear_pb2.SolveRequest:
    req = linear_pb2.SolveRequest(a=to_matrix(A), method=linear_pb2.METHOD_CG)
    to_tensor(np.ones(N), req.b)
    return req


def send(address: str, request: object, raw: bool = False):
    with grpc.insecure_channel(address) as channel:
        if raw:
            call = channel.unary_unary("/solverd.v1.LinearSolver/Solve")
            return call(request, timeout=30)
        return linear_pb2_grpc.LinearSolverStub(channel).Solve(request, timeout=30)


def rejected(address: str, request: object, raw: bool = False) -> InvalidArgument:
    with pytest.raises(grpc.RpcError) as info:
        send(address, request, raw)
    error = from_rpc_error(info.value)
    assert isinstance(error, InvalidArgument), (error.code, error.message)
    assert error.violations, "BadRequest details missing"
    return error


def set_tensor(t: tensor_pb2.Tensor, dtype: int, shape: list[int], data: bytes) -> None:
    t.dtype = dtype
    t.shape[:] = shape
    t.data = data


def mutate(case: str) -> tuple[linear_pb2.SolveRequest, str]:
    """A request broken in one way, and the field the error must name."""
    req = good_request()
    csr = req.a.csr
    if case == "data dtype unset":
        csr.data.dtype = tensor_pb2.DTYPE_UNSPECIFIED
        return req, "a.csr.data.dtype"
    if case == "data as integers":
        set_tensor(csr.data, I64, [A.nnz], np.ones(A.nnz, np.int64).tobytes())
        return req, "a.csr.data.dtype"
    if case == "indices as floats":
        set_tensor(csr.indices, F64, [A.nnz], np.zeros(A.nnz).tobytes())
        return req, "a.csr.indices.dtype"
    if case == "byte length mismatch":
        csr.data.data = csr.data.data[:-8]
        return req, "a.csr.data.data"
    if case == "indptr wrong length":
        to_tensor(A.indptr[:-1], csr.indptr)
        return req, "a.csr.indptr"
    if case == "indptr decreasing":
        p = A.indptr.copy()
        p[5], p[6] = p[6], p[5]
        to_tensor(p, csr.indptr)
        return req, "a.csr.indptr"
    if case == "indptr end != nnz":
        p = A.indptr.copy()
        p[-1] -= 1
        to_tensor(p, csr.indptr)
        return req, "a.csr.indptr"
    if case == "index out of range":
        idx = A.indices.copy()
        idx[17] = N
        to_tensor(idx, csr.indices)
        return req, "a.csr.indices"
    if case == "negative index":
        idx = A.indices.copy()
        idx[3] = -1
        to_tensor(idx, csr.indices)
        return req, "a.csr.indices"
    if case == "not square":
        csr.shape[:] = [N, N + 1]
        return req, "a.csr.shape"
    if case == "three-entry shape":
        csr.shape[:] = [N, N, 1]
        return req, "a.csr.shape"
    if case == "nan in A":
        d = A.data.copy()
        d[4] = np.nan
        to_tensor(d, csr.data)
        return req, "a.csr.data"
    if case == "inf in b":
        b = np.ones(N)
        b[2] = np.inf
        to_tensor(b, req.b)
        return req, "b.data"
    if case == "b wrong length":
        to_tensor(np.ones(N + 1), req.b)
        return req, "b.shape"
    if case == "b three-dimensional":
        to_tensor(np.ones((N, 1, 1)), req.b)
        return req, "b.shape"
    if case == "b missing":
        req.ClearField("b")
        return req, "b"
    if case == "a missing":
        req.ClearField("a")
        return req, "a"
    if case == "negative shape":
        set_tensor(req.b, F64, [-N], b"")
        return req, "b.shape"
    if case == "x0 wrong shape":
        to_tensor(np.ones(N - 1), req.x0)
        return req, "x0.shape"
    if case == "unknown method":
        req.method = 99
        return req, "method"
    if case == "unknown dtype value":
        csr.data.dtype = 42
        return req, "a.csr.data.dtype"
    if case == "negative rtol":
        req.rtol = -1e-3
        return req, "rtol"
    if case == "nan atol":
        req.atol = float("nan")
        return req, "atol"
    if case == "max_iterations over limit":
        req.max_iterations = 10**12
        return req, "max_iterations"
    if case == "negative restart":
        req.restart = -5
        return req, "restart"
    if case == "coo index out of range":
        coo = A.tocoo()
        req.a.coo.shape[:] = [N, N]
        rows = coo.row.astype(np.int64)
        rows[0] = N + 7
        to_tensor(rows, req.a.coo.row)
        to_tensor(coo.col.astype(np.int64), req.a.coo.col)
        to_tensor(coo.data, req.a.coo.data)
        return req, "a.coo.row"
    if case == "dense not square":
        req.a.dense.CopyFrom(to_tensor(np.ones((3, 4))))
        return req, "a.dense.shape"
    if case == "jacobi with zero diagonal":
        to_tensor(np.zeros(A.nnz), csr.data)
        req.preconditioner = linear_pb2.PRECONDITIONER_JACOBI
        req.method = linear_pb2.METHOD_GMRES
        return req, "preconditioner"
    if case == "ilu with cg":
        req.preconditioner = linear_pb2.PRECONDITIONER_ILU
        return req, "preconditioner"
    raise AssertionError(case)


CASES = ["data dtype unset", "data as integers", "indices as floats", "byte length mismatch",
         "indptr wrong length", "indptr decreasing", "indptr end != nnz", "index out of range",
         "negative index", "not square", "three-entry shape", "nan in A", "inf in b",
         "b wrong length", "b three-dimensional", "b missing", "a missing", "negative shape",
         "x0 wrong shape", "unknown method", "unknown dtype value", "negative rtol", "nan atol",
         "max_iterations over limit", "negative restart", "coo index out of range",
         "dense not square", "jacobi with zero diagonal", "ilu with cg"]


@pytest.mark.parametrize("case", CASES)
def test_bad_input_names_the_field(server, case: str) -> None:
    request, field = mutate(case)
    error = rejected(server.address, request)
    assert field in error.fields, error.violations


def test_good_request_is_accepted(server) -> None:
    response = send(server.address, good_request())
    assert response.converged


def test_every_violation_is_reported_at_once(server) -> None:
    req = good_request()
    req.method = 77
    req.rtol = -1.0
    req.ClearField("b")
    error = rejected(server.address, req)
    assert {"method", "rtol", "b"} <= set(error.fields)


@pytest.mark.parametrize("payload", [b"\xff\xff\xff\xff", os.urandom(4096),
                                     b"\x0a\xff\xff\xff\x7f"])
def test_garbage_bytes(server, payload: bytes) -> None:
    error = rejected(server.address, payload, raw=True)
    assert error.fields in (["(request)"], ["a", "b"])


@pytest.mark.parametrize("fmt", ["csr", "dense", "b"])
def test_absurd_declared_shapes_allocate_nothing(server, fmt: str) -> None:
    """10^12 x 10^12 declared with three values: refused, and the server does not grow."""
    before = server.rss_bytes()
    for _ in range(20):
        req = good_request()
        three = np.ones(3).tobytes()
        if fmt == "csr":
            req.a.csr.shape[:] = [10**12, 10**12]
            set_tensor(req.a.csr.indptr, I64, [3], np.arange(3, dtype=np.int64).tobytes())
            set_tensor(req.a.csr.indices, I64, [3], np.arange(3, dtype=np.int64).tobytes())
            set_tensor(req.a.csr.data, F64, [3], three)
            field = "a.csr.shape"
        elif fmt == "dense":
            set_tensor(req.a.dense, F64, [10**12, 10**12], three)
            field = "a.dense.shape"
        else:
            set_tensor(req.b, F64, [10**12], three)
            field = "b.shape"
        error = rejected(server.address, req)
        assert field in error.fields
    assert server.rss_bytes() - before < 64 * 1024 * 1024


def test_huge_shape_within_limits_but_short_data(server) -> None:
    req = good_request()
    req.a.csr.shape[:] = [1_000_000, 1_000_000]
    error = rejected(server.address, req)
    assert "a.csr.indptr" in error.fields


def test_limits_are_enforced(small_server) -> None:
    big = poisson_2d(80)  # 6400 rows > max_rows 5000
    req = linear_pb2.SolveRequest(a=to_matrix(big))
    to_tensor(np.ones(big.shape[0]), req.b)
    assert "a.csr.shape" in rejected(small_server.address, req).fields

    req = good_request()
    to_tensor(np.ones((N, 5)), req.b)  # max_rhs 4
    assert "b.shape" in rejected(small_server.address, req).fields

    req = good_request()
    req.max_iterations = 1001
    assert "max_iterations" in rejected(small_server.address, req).fields

    req = good_request()
    req.a.dense.CopyFrom(to_tensor(np.eye(101)))
    to_tensor(np.ones(101), req.b)
    assert "a.dense.shape" in rejected(small_server.address, req).fields


def test_message_size_limit(small_server) -> None:
    """Above the server's 1 MiB message limit a request goes in chunks sized to that
    limit (they were 8 MiB, and refused), and is then judged by the server's own limits:
    here b's 40 columns exceed --max-rhs 4, said by field."""
    from solverd import Client

    a = poisson_2d(70)  # ~24k nonzeros: ~0.4 MB; with b of 4900 x 4 it stays under 1 MiB
    with Client(small_server.address) as client:
        assert client.solve(a, np.ones(a.shape[0]), method="cg").converged
        with pytest.raises(InvalidArgument) as refused:
            client.solve(a, np.ones((a.shape[0], 40)), method="cg")
        assert refused.value.fields == ["b.shape"]
