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

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from google.protobuf.message import Message

from solverd.tensors import wire_dtype
from solverd.v1 import chunks_pb2, tensor_pb2

_LEN = 2  # wire type of length-delimited fields
# Arrays smaller than this go through protobuf as usual: the chain costs a few bytes.
INLINE_BYTES = 64 * 1024
# Chunked requests (chunks.proto): bytes per TensorChunk.
CHUNK_BYTES = 8 * 1024 * 1024


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
    # (dotted path of the Tensor, field numbers from the root to its data, array)
    payloads: list[tuple[str, tuple[int, ...], np.ndarray]] = field(default_factory=list)

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
            self.payloads.append((path, tuple(numbers), array))

    @property
    def nbytes(self) -> int:
        """The serialized size, give or take the few bytes of the payloads' heads."""
        return self.message.ByteSize() + sum(a.nbytes for _, _, a in self.payloads)

    def chunks(self, chunk_bytes: int = CHUNK_BYTES) -> Iterator[bytes]:
        """The request as serialized RequestChunk messages (chunks.proto): the header,
        then each payload in pieces of `chunk_bytes`, each copied once into its message."""
        header = chunks_pb2.RequestChunk()
        header.header.request = self.message.SerializeToString()
        for path, _, array in self.payloads:
            header.header.tensors.add(field=path, size=array.nbytes)
        yield header.SerializeToString()
        for index, (_, _, array) in enumerate(self.payloads):
            payload = memoryview(array.reshape(-1)).cast("B")
            for start in range(0, payload.nbytes, chunk_bytes):
                piece = payload[start:start + chunk_bytes]
                inner = (varint(_CHUNK_TENSOR << 3) + varint(index)
                         + _tag(_CHUNK_DATA) + varint(piece.nbytes))
                yield b"".join((_tag(_REQUEST_DATA), varint(len(inner) + piece.nbytes),
                                inner, piece))

    def serialize(self) -> bytes:
        parts: list[bytes | memoryview] = [self.message.SerializeToString()]
        for _, numbers, array in self.payloads:
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


# Reading: the inverse trick. Large Tensor.data fields are cut out of the received
# bytes as memoryviews (no copy) and only the small remainder is parsed by protobuf,
# which would otherwise copy each array twice: into its arena, and out to a bytes object.
_TENSOR = tensor_pb2.Tensor.DESCRIPTOR
_TENSOR_DATA = _TENSOR.fields_by_name["data"].number
_CHUNK = chunks_pb2.TensorChunk.DESCRIPTOR
_CHUNK_TENSOR = _CHUNK.fields_by_name["tensor"].number
_CHUNK_DATA = _CHUNK.fields_by_name["data"].number
_REQUEST_DATA = chunks_pb2.RequestChunk.DESCRIPTOR.fields_by_name["data"].number
# The bytes fields read as views: a Tensor's data, and a chunk of one.
_PAYLOAD_FIELDS = {(_TENSOR, _TENSOR_DATA), (_CHUNK, _CHUNK_DATA)}
_MAX_DEPTH = 32
# Fields one message may hold before it is refused. The walk below costs a few hundred
# nanoseconds a field in Python: 16 MiB of one-byte unknown fields (8 million) held a
# server's event loop for 8 s. Real requests hold tens of fields (arrays travel as
# packed bytes); 10^5 bounds the walk near 50 ms.
MAX_FIELDS = 100_000


class WireError(ValueError):
    """The bytes are not a well-formed protobuf encoding."""


@dataclass
class DecodedMessage:
    """A parsed message whose large Tensor.data fields live in `payloads`, keyed by
    dotted field path ("a.csr.data"), as zero-copy views of the received bytes."""

    message: Message
    payloads: dict[str, memoryview]
    size: int

    def ByteSize(self) -> int:
        return self.size

    def tensor_bytes(self, path: str, tensor: tensor_pb2.Tensor) -> bytes | memoryview:
        """The data of the Tensor at `path`: its payload view, else the parsed field."""
        view = self.payloads.get(path)
        return view if view is not None else tensor.data


def _read_varint(buf: memoryview, pos: int, end: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= end or shift > 63:
            raise WireError("truncated or overlong varint")
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7


def _split(buf: memoryview, start: int, end: int, descriptor: Any, prefix: str,
           payloads: dict[str, memoryview], out: list[bytes | memoryview],
           min_bytes: int, depth: int, budget: list[int]) -> None:
    """budget: [fields the message may still hold], shared by the nested calls."""
    if depth > _MAX_DEPTH:
        raise WireError("message nested too deeply")
    pos = start
    while pos < end:
        budget[0] -= 1
        if budget[0] < 0:
            raise WireError(f"more than {MAX_FIELDS} fields in one message")
        field_start = pos
        key, pos = _read_varint(buf, pos, end)
        number, wire_type = key >> 3, key & 7
        if number == 0:
            raise WireError("field number 0")
        if wire_type == 0:
            _, pos = _read_varint(buf, pos, end)
        elif wire_type == 1:
            pos += 8
        elif wire_type == 5:
            pos += 4
        elif wire_type == 2:
            length, body = _read_varint(buf, pos, end)
            pos = body + length
            if pos > end:
                raise WireError("length-delimited field runs past the end")
            field = descriptor.fields_by_number.get(number)
            path = f"{prefix}{field.name}" if field is not None else ""
            # Tensors inside repeated fields are left to protobuf (correct, with copies).
            if (field is not None and field.message_type is not None
                    and not field.is_repeated):
                inner: list[bytes | memoryview] = []
                _split(buf, body, pos, field.message_type, path + ".", payloads, inner,
                       min_bytes, depth + 1, budget)
                inner_bytes = b"".join(inner)
                out.append(_tag(number) + varint(len(inner_bytes)) + inner_bytes)
                continue
            if (descriptor, number) in _PAYLOAD_FIELDS:
                key_path = prefix[:-1]
                if length >= min_bytes:
                    payloads[key_path] = buf[body:pos]
                    continue
                payloads.pop(key_path, None)  # a later occurrence wins, as in protobuf
        else:
            raise WireError(f"unsupported wire type {wire_type}")
        if pos > end:
            raise WireError("field runs past the end")
        out.append(buf[field_start:pos])


def decode(data: bytes, message_class: type[Message],
           min_bytes: int = INLINE_BYTES) -> DecodedMessage:
    """Parses `data`, leaving large Tensor.data fields as views into it.

    Raises WireError or protobuf's DecodeError on malformed input.
    """
    if len(data) < min_bytes:  # no field can be a payload: protobuf alone is faster
        return DecodedMessage(message_class.FromString(data), {}, len(data))
    buf = memoryview(data)
    payloads: dict[str, memoryview] = {}
    parts: list[bytes | memoryview] = []
    _split(buf, 0, len(buf), message_class.DESCRIPTOR, "", payloads, parts, min_bytes, 0,
           [MAX_FIELDS])
    message = message_class.FromString(b"".join(parts))
    return DecodedMessage(message, payloads, len(buf))
