"""The Tensor codec: exact round trips, and refusal of inconsistent messages."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from solverd.tensors import from_matrix, from_tensor, to_matrix, to_tensor
from solverd.v1 import tensor_pb2


@pytest.mark.parametrize("dtype", ["<f8", "<f4", "<i4", "<i8", ">f8", ">i4"])
@pytest.mark.parametrize("shape", [(), (0,), (7,), (3, 5), (2, 3, 4)])
def test_round_trip_is_exact(dtype: str, shape: tuple[int, ...]) -> None:
    rng = np.random.default_rng(1)
    a = (rng.standard_normal(shape) * 1000).astype(dtype)
    msg = tensor_pb2.Tensor.FromString(to_tensor(a).SerializeToString())
    b = from_tensor(msg)
    assert b.shape == a.shape
    assert b.dtype == a.dtype.newbyteorder("<")
    np.testing.assert_array_equal(b, a)


def test_wire_bytes_are_little_endian_c_order() -> None:
    a = np.array([[1.0, 2.0], [3.0, 4.0]], dtype=">f8").T  # big-endian, Fortran-ordered view
    msg = to_tensor(a)
    assert msg.data == np.array([[1.0, 3.0], [2.0, 4.0]], dtype="<f8").tobytes()
    assert list(msg.shape) == [2, 2]


def test_length_mismatch_is_refused() -> None:
    msg = tensor_pb2.Tensor(dtype=tensor_pb2.DTYPE_FLOAT64, shape=[3], data=b"\0" * 16)
    with pytest.raises(ValueError, match="needs 24 bytes, got 16"):
        from_tensor(msg)


def test_absurd_shape_is_refused_without_allocating() -> None:
    msg = tensor_pb2.Tensor(dtype=tensor_pb2.DTYPE_FLOAT64, shape=[10**12, 10**12], data=b"1" * 24)
    with pytest.raises(ValueError):
        from_tensor(msg)


def test_unsupported_dtypes_are_refused() -> None:
    with pytest.raises(ValueError, match="no wire type"):
        to_tensor(np.zeros(3, dtype=np.complex128))
    with pytest.raises(ValueError, match="unknown dtype"):
        from_tensor(tensor_pb2.Tensor(dtype=99, shape=[1], data=b"\0" * 8))


@pytest.mark.parametrize("fmt", ["csr", "csc", "coo"])
def test_sparse_matrix_round_trip(fmt: str) -> None:
    a = sp.random(50, 50, density=0.1, format=fmt, random_state=3)
    back = from_matrix(tensor_pb2.Matrix.FromString(to_matrix(a).SerializeToString()))
    assert (abs(back - a.tocsr()) > 0).nnz == 0
    assert to_matrix(a).WhichOneof("format") == ("coo" if fmt == "coo" else "csr")


def test_dense_matrix_integers_become_float64() -> None:
    msg = to_matrix(np.array([[4, 1], [1, 3]]))
    assert msg.dense.dtype == tensor_pb2.DTYPE_FLOAT64
    np.testing.assert_array_equal(from_matrix(msg), [[4.0, 1.0], [1.0, 3.0]])


@pytest.mark.parametrize("n", [0, 5, 100_000])
@pytest.mark.parametrize("dtype", ["<f8", ">f4", "<i4", "<i8"])
def test_wire_message_appends_arrays_that_parse_back(n: int, dtype: str) -> None:
    """Arrays appended after the skeleton (solverd.wire) parse to the same message."""
    from solverd.v1 import linear_pb2
    from solverd.wire import WireMessage

    rng = np.random.default_rng(n)
    arr = (rng.standard_normal(n) * 100).astype(dtype)
    matrix = (rng.standard_normal((n // 10 + 1, 3))).astype(dtype)
    wire = WireMessage(linear_pb2.SolveRequest(method=linear_pb2.METHOD_GMRES, rtol=1e-3))
    wire.set_tensor("a.dense", matrix)
    wire.set_tensor("b", arr)
    wire.set_tensor("x0", arr[::-1])  # a non-contiguous view
    back = linear_pb2.SolveRequest.FromString(wire.serialize())
    assert back.method == linear_pb2.METHOD_GMRES and back.rtol == 1e-3
    np.testing.assert_array_equal(from_tensor(back.b), arr)
    np.testing.assert_array_equal(from_tensor(back.x0), arr[::-1])
    np.testing.assert_array_equal(from_tensor(back.a.dense), matrix)
    assert (len(wire.payloads) > 0) == (arr.nbytes >= 64 * 1024)


def test_varint_matches_protobuf() -> None:
    from solverd.v1 import linear_pb2
    from solverd.wire import varint

    assert varint(0) == b"\x00"
    for value in (1, 127, 128, 300, 2**31, 2**40 + 7):  # proto3 omits a zero default
        encoded = linear_pb2.SolveRequest(max_iterations=value).SerializeToString()
        assert encoded == b"\x40" + varint(value)  # field 8, wire type 0
