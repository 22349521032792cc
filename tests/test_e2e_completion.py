"""Matrix completion over gRPC: the same answers as in process, scipy.sparse input,
bad input is INVALID_ARGUMENT naming the field, deadlines stop the work."""

from __future__ import annotations

import asyncio

import grpc
import numpy as np
import pytest
import scipy.sparse as sp
from completion_problems import low_rank, relative_error

from solverd import AsyncClient, DeadlineExceeded, InvalidArgument
from solverd.errors import from_rpc_error
from solverd.tensors import to_tensor
from solverd.v1 import completion_pb2, completion_pb2_grpc
from solvers.completion import complete


def test_recovers_the_truth_and_matches_in_process(client):
    _, r, c, v, ur, uc, truth = low_rank(300, 200, 4, ratio=5)
    res = client.complete(r, c, v, (300, 200), rank=4, predict=(ur, uc))
    assert res.converged and res.stop_reason == "tolerance"
    assert relative_error(res.predictions, truth) < 1e-8
    np.testing.assert_allclose(res.predict(ur, uc), res.predictions, atol=1e-12)
    local = complete(r, c, v, (300, 200), 4)
    assert res.iterations == local.iterations
    np.testing.assert_allclose(res.singular_values, local.singular_values, rtol=1e-10)
    assert res.U.shape == (300, 4) and res.V.shape == (200, 4)
    assert res.history.train_rmse.size == res.iterations == res.history.seconds.size
    assert res.info.backend == "numpy" and res.info.compute_seconds > 0
    assert res.method == "altmin" and res.row_solver == "exact"


def test_sparse_input_biases_holdout_softimpute(client):
    rng = np.random.default_rng(1)
    _, r, c, v, *_ = low_rank(200, 150, 3, ratio=6, noise=0.05, seed=1)
    v = v + 3 + rng.normal(0, 0.4, 200)[r]
    M = sp.coo_matrix((v.astype(np.float32), (r.astype(np.int32), c.astype(np.int32))),
                      shape=(200, 150)).tocsr()
    res = client.complete(M, rank=3, center="biases", holdout=0.2, seed=3, reg=1e-3)
    assert res.row_bias.shape == (200,) and res.col_bias.shape == (150,)
    assert res.holdout_count > 0 and res.history.holdout_rmse[-1] < 0.08
    soft = client.complete(M, rank=3, method="softimpute_als", reg=1.0, center="global",
                           test=(r[:100], c[:100], v[:100]), max_iterations=30)
    assert soft.method == "softimpute_als" and soft.row_bias is None
    assert soft.holdout_count == 100 and np.isfinite(soft.history.holdout_rmse).all()


def test_async_client(server):
    _, r, c, v, *_ = low_rank(100, 90, 3, ratio=6)

    async def go():
        async with AsyncClient(server.address) as client:
            return await client.complete(r, c, v, (100, 90), rank=3, row_solver="sketch")

    res = asyncio.run(go())
    assert res.converged and res.row_solver in ("sketch", "mixed")


def raw(address: str, request: completion_pb2.CompleteRequest, timeout: float = 30):
    with grpc.insecure_channel(address) as channel:
        try:
            return completion_pb2_grpc.MatrixCompletionStub(channel).Complete(request,
                                                                             timeout=timeout)
        except grpc.RpcError as err:
            return from_rpc_error(err)


def base_request() -> completion_pb2.CompleteRequest:
    req = completion_pb2.CompleteRequest(shape=[4, 3], rank=2)
    to_tensor(np.array([0, 1, 2, 3], dtype=np.int64), req.rows)
    to_tensor(np.array([0, 1, 2, 0], dtype=np.int64), req.cols)
    to_tensor(np.array([1.0, 2.0, 3.0, 4.0]), req.values)
    return req


def bad(case: str) -> tuple[completion_pb2.CompleteRequest, str]:
    req = base_request()
    if case == "no entries":
        for name in ("rows", "cols", "values"):
            req.ClearField(name)
        return req, "rows"
    if case == "values missing":
        req.ClearField("values")
        return req, "values"
    if case == "one shape entry":
        del req.shape[1:]
        return req, "shape"
    if case == "rank above min(m, n)":
        req.rank = 4
        return req, "rank"
    if case == "rank zero":
        req.rank = 0
        return req, "rank"
    if case == "float indices":
        to_tensor(np.array([0.0, 1.0, 2.0, 3.0]), req.rows)
        return req, "rows.dtype"
    if case == "unequal lengths":
        to_tensor(np.array([0, 1, 2], dtype=np.int64), req.cols)
        return req, "cols.shape"
    if case == "row out of range":
        to_tensor(np.array([0, 1, 2, 4], dtype=np.int64), req.rows)
        return req, "rows"
    if case == "duplicate entry":
        to_tensor(np.array([0, 0, 2, 3], dtype=np.int64), req.rows)
        to_tensor(np.array([0, 0, 2, 0], dtype=np.int64), req.cols)
        return req, "rows"
    if case == "infinite value":
        to_tensor(np.array([1.0, np.inf, 3.0, 4.0]), req.values)
        return req, "values"
    if case == "negative reg":
        req.reg = -1
        return req, "reg"
    if case == "unknown method":
        req.method = 9
        return req, "method"
    if case == "holdout of 1":
        req.holdout_fraction = 1.0
        return req, "holdout_fraction"
    if case == "test col out of range":
        to_tensor(np.array([0], dtype=np.int64), req.test_rows)
        to_tensor(np.array([3], dtype=np.int64), req.test_cols)
        to_tensor(np.array([1.0]), req.test_values)
        return req, "test_cols"
    if case == "predict rows without cols":
        to_tensor(np.array([0], dtype=np.int64), req.predict_rows)
        return req, "predict_cols"
    if case == "short data":
        req.values.data = req.values.data[:-8]
        return req, "values.data"
    if case == "absurd shape":
        req.shape[:] = [10**12, 10**12]
        return req, "shape"
    raise AssertionError(case)


CASES = ["no entries", "values missing", "one shape entry", "rank above min(m, n)", "rank zero",
         "float indices", "unequal lengths", "row out of range", "duplicate entry",
         "infinite value", "negative reg", "unknown method", "holdout of 1",
         "test col out of range", "predict rows without cols", "short data", "absurd shape"]


@pytest.mark.parametrize("case", CASES)
def test_bad_input_names_the_field(server, case):
    request, field = bad(case)
    error = raw(server.address, request)
    assert isinstance(error, InvalidArgument), error
    assert field in error.fields, error.violations


def test_good_raw_request(server):
    response = raw(server.address, base_request())
    assert not isinstance(response, Exception), response
    assert response.u.shape == [4, 2] and response.iterations >= 1


def test_deadline_stops_a_long_solve(client):
    _, r, c, v, *_ = low_rank(3000, 3000, 40, ratio=3, noise=0.1)
    with pytest.raises(DeadlineExceeded):
        client.complete(r, c, v, (3000, 3000), rank=40, tol=1e-15, max_iterations=10_000,
                        timeout=0.5)
    # The worker was freed: the next call is answered.
    _, r, c, v, *_ = low_rank(50, 40, 2, ratio=6)
    assert client.complete(r, c, v, (50, 40), rank=2).converged


def test_the_reg_used_comes_back(client) -> None:
    _, r, c, v, *_ = low_rank(200, 150, 3, ratio=5)
    left = client.complete(r, c, v, (200, 150), rank=3)
    assert left.reg == 0.0  # exactly low rank: the holdout keeps no ridge
    given = client.complete(r, c, v, (200, 150), rank=3, reg=0.25)
    assert given.reg == 0.25
