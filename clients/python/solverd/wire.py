"""Serializing requests whose arrays go onto the wire with a single copy.

Protobuf's Python API needs a `bytes` object per array (one copy), copies it
into the message (two), and again into the serialized output (three), through
an arena that grows by reallocation. Here the message is serialized without its
large `Tensor.data` fields, and each one is appended afterwards as a chain of
length-delimited fields that leads from the root to that Tensor's `data`. The
protobuf encoding defines a repeated embedded message as merged into the first
(https://protobuf.dev/programming-guides/encoding/#last-one-wins), so every
conforming parser reads back exactly the message with the arrays in place. The
arrays are copied once, by the final join, straight from NumPy's memory.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from google.protobuf.message import Message

from solverd.tensors import wire_dtype
from solverd.v1 import tensor_pb2

_LEN = 2  # wire type of length-delimited fields
# Arrays smaller than this go through protobuf as usual: the chain costs a few bytes.
INLINE_BYTES = 64 * 1024


def method_path(module: object, service: str, method: str) -> str:
    """The gRPC path "/package.Service/Method" of a method in a generated _pb2 module."""
    descriptor = module.DESCRIPTOR.services_by_name[service]  # type: ignore[attr-defined]
    return f"/{descriptor.full_name}/{descriptor.methods_by_name[method].name}"


def varint(value: int) -> bytes:
    out = bytearray()
    while True:
        bits = value & 0x7F
        value >>= 7
        if value:
            out.append(bits | 0x80)
        else:
            out.append(bits)
            return bytes(out)


def _tag(number: int) -> bytes:
    return varint((number << 3) | _LEN)


@dataclass
class WireMessage:
    """A protobuf message plus array payloads appended at serialization."""

    message: Message
    payloads: list[tuple[tuple[int, ...], np.ndarray]] = field(default_factory=list)

    def set_tensor(self, path: str, array: np.ndarray) -> None:
        """Sets the Tensor at dotted `path` (e.g. "a.csr.data") to `array`."""
        array = np.asarray(array)
        code = wire_dtype(array.dtype)
        array = array.astype(array.dtype.newbyteorder("<"), order="C", copy=False)
        numbers: list[int] = []
        target: Message = self.message
        for name in path.split("."):
            numbers.append(target.DESCRIPTOR.fields_by_name[name].number)
            target = getattr(target, name)
        assert isinstance(target, tensor_pb2.Tensor), path
        target.dtype = code
        target.shape[:] = array.shape
        if array.nbytes < INLINE_BYTES:
            target.data = array.tobytes()
        else:
            target.ClearField("data")
            numbers.append(tensor_pb2.Tensor.DESCRIPTOR.fields_by_name["data"].number)
            self.payloads.append((tuple(numbers), array))

    def serialize(self) -> bytes:
        parts: list[bytes | memoryview] = [self.message.SerializeToString()]
        for numbers, array in self.payloads:
            payload = memoryview(array.reshape(-1)).cast("B")
            size = payload.nbytes
            heads = []
            for number in reversed(numbers):
                head = _tag(number) + varint(size)
                heads.append(head)
                size += len(head)
            parts.extend(reversed(heads))
            parts.append(payload)
        return b"".join(parts)
