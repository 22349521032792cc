"""The Tensor codec: exact round trips, and refusal of inconsistent messages."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from solverd.requests import to_matrix
from solverd.tensors import from_matrix, from_tensor, to_tensor
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


def _request_bytes(n: int = 20_000) -> bytes:
    from solverd.v1 import linear_pb2
    from solverd.wire import WireMessage

    a = sp.random(n // 10, n // 10, density=0.05, format="csr", random_state=2)
    wire = WireMessage(linear_pb2.SolveRequest(method=linear_pb2.METHOD_CG, rtol=1e-6))
    wire.message.a.csr.shape[:] = a.shape
    wire.set_tensor("a.csr.indptr", a.indptr)
    wire.set_tensor("a.csr.indices", a.indices)
    wire.set_tensor("a.csr.data", a.data)
    wire.set_tensor("b", np.arange(n, dtype=np.float64))
    return wire.serialize()


def _materialize(decoded) -> object:
    """The decoded message with its payloads put back, for comparison with protobuf."""
    from solverd.v1 import linear_pb2

    msg = linear_pb2.SolveRequest()
    msg.CopyFrom(decoded.message)
    for path, view in decoded.payloads.items():
        target = msg
        for name in path.split("."):
            target = getattr(target, name)
        target.data = bytes(view)
    return msg


def test_decode_equals_protobuf_and_leaves_large_arrays_in_place() -> None:
    from solverd.v1 import linear_pb2
    from solverd.wire import decode

    raw = _request_bytes()
    decoded = decode(raw, linear_pb2.SolveRequest)
    assert set(decoded.payloads) == {"a.csr.data", "a.csr.indices", "b"}
    assert all(view.obj is raw for view in decoded.payloads.values())  # views, not copies
    assert _materialize(decoded) == linear_pb2.SolveRequest.FromString(raw)
    assert decoded.ByteSize() == len(raw)


def test_decode_later_occurrence_wins_like_protobuf() -> None:
    from solverd.v1 import linear_pb2
    from solverd.wire import WireMessage, decode

    big = np.ones(20_000)
    with_shape = WireMessage(linear_pb2.SolveRequest())
    with_shape.set_tensor("b", big)  # dtype, shape [20000] and a payload chain
    small_data = linear_pb2.SolveRequest(b=tensor_pb2.Tensor(data=b"\0" * 24)).SerializeToString()
    # Concatenated messages merge; for the bytes field `data` the last occurrence wins.
    for raw, winner in ((with_shape.serialize() + small_data, b"\0" * 24),
                        (small_data + with_shape.serialize(), big.tobytes())):
        decoded = decode(raw, linear_pb2.SolveRequest)
        assert bytes(decoded.tensor_bytes("b", decoded.message.b)) == winner
        assert _materialize(decoded) == linear_pb2.SolveRequest.FromString(raw)


def test_decode_agrees_with_protobuf_on_mutated_bytes() -> None:
    """Random byte flips and truncations: where protobuf accepts the bytes, the decode is
    the same message; where it does not, decode raises (never crashes or hangs)."""
    from google.protobuf.message import DecodeError

    from solverd.v1 import linear_pb2
    from solverd.wire import WireError, decode

    raw = bytearray(_request_bytes(2_000))
    rng = np.random.default_rng(4)
    agreed = refused = 0
    for _ in range(1500):
        mutated = bytearray(raw)
        for _ in range(int(rng.integers(1, 4))):
            mutated[int(rng.integers(0, 64))] = int(rng.integers(0, 256))  # the headers
        if rng.random() < 0.3:
            mutated = mutated[: int(rng.integers(0, len(mutated)))]
        data = bytes(mutated)
        try:
            expected = linear_pb2.SolveRequest.FromString(data)
        except DecodeError:
            expected = None
        try:
            got = _materialize(decode(data, linear_pb2.SolveRequest, min_bytes=1024))
        except (WireError, DecodeError):
            got = None
        if expected is not None and got is not None:
            assert got == expected
            agreed += 1
        else:
            refused += 1
    assert agreed > 100 and refused > 100
