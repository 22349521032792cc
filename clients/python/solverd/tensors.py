"""NumPy and scipy.sparse arrays to and from the wire's Tensor and Matrix.

Bytes are little-endian and C-ordered (tensor.proto). Encoding costs one copy
(protobuf needs a bytes object); decoding is zero-copy over the message's bytes.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from solverd.v1 import tensor_pb2

DTYPE_TO_NUMPY: dict[int, np.dtype] = {
    tensor_pb2.DTYPE_FLOAT64: np.dtype("<f8"),
    tensor_pb2.DTYPE_FLOAT32: np.dtype("<f4"),
    tensor_pb2.DTYPE_INT32: np.dtype("<i4"),
    tensor_pb2.DTYPE_INT64: np.dtype("<i8"),
}
_KIND_SIZE_TO_DTYPE = {
    ("f", 8): tensor_pb2.DTYPE_FLOAT64,
    ("f", 4): tensor_pb2.DTYPE_FLOAT32,
    ("i", 4): tensor_pb2.DTYPE_INT32,
    ("i", 8): tensor_pb2.DTYPE_INT64,
}


def wire_dtype(dtype: np.dtype) -> int:
    """The DType enum for a NumPy dtype; ValueError for types the wire lacks."""
    try:
        return _KIND_SIZE_TO_DTYPE[(dtype.kind, dtype.itemsize)]
    except KeyError:
        raise ValueError(
            f"dtype {dtype} has no wire type (float64, float32, int32, int64)") from None


def to_tensor(array: np.ndarray, out: tensor_pb2.Tensor | None = None) -> tensor_pb2.Tensor:
    """Encodes an array; writes into `out` (a sub-message) when given."""
    array = np.asarray(array)
    code = wire_dtype(array.dtype)
    little = array.dtype.newbyteorder("<")
    # astype, not ascontiguousarray: the latter turns a 0-d array into shape (1,).
    array = array.astype(little, order="C", copy=False)
    msg = tensor_pb2.Tensor() if out is None else out
    msg.dtype = code
    msg.shape[:] = array.shape
    msg.data = array.tobytes()
    return msg


def from_tensor(msg: tensor_pb2.Tensor, data: bytes | memoryview | None = None) -> np.ndarray:
    """Decodes a Tensor; ValueError when dtype, shape and byte length disagree.

    `data` replaces msg.data (a payload view from solverd.wire.decode). The result
    is read-only: it views the bytes without copying.
    """
    try:
        dtype = DTYPE_TO_NUMPY[msg.dtype]
    except KeyError:
        raise ValueError(f"unknown dtype {msg.dtype}") from None
    shape = tuple(int(s) for s in msg.shape)
    if any(s < 0 for s in shape):
        raise ValueError(f"negative shape {shape}")
    if data is None:
        data = msg.data  # each access copies in upb: read it once
    count = 1
    for s in shape:
        count *= s
    if count * dtype.itemsize != len(data):
        raise ValueError(
            f"shape {shape} of {dtype.name} needs {count * dtype.itemsize} bytes, got {len(data)}"
        )
    return np.frombuffer(data, dtype=dtype).reshape(shape)


def from_matrix(msg: tensor_pb2.Matrix) -> np.ndarray | sp.csr_matrix:
    """Decodes a Matrix without the server's validation (for trusted data)."""
    kind = msg.WhichOneof("format")
    if kind == "dense":
        return from_tensor(msg.dense)
    if kind == "csr":
        m = msg.csr
        return sp.csr_matrix(
            (from_tensor(m.data), from_tensor(m.indices), from_tensor(m.indptr)),
            shape=tuple(m.shape),
        )
    if kind == "coo":
        m = msg.coo
        return sp.coo_matrix(
            (from_tensor(m.data), (from_tensor(m.row), from_tensor(m.col))), shape=tuple(m.shape)
        ).tocsr()
    raise ValueError("matrix not set")


def index_array(a: np.ndarray) -> np.ndarray:
    """Indices as int32 or int64, the wire's index types."""
    a = np.asarray(a)
    return a if a.dtype in (np.int32, np.int64) else a.astype(np.int64)


def value_array(a: np.ndarray) -> np.ndarray:
    """float32 stays float32; every other real type becomes float64."""
    a = np.asarray(a)
    if a.dtype == np.float32 or a.dtype == np.float64:
        return a
    if np.iscomplexobj(a):
        raise ValueError("complex values are not supported")
    return a.astype(np.float64)
