"""Reassembles chunked requests (chunks.proto) into the message a unary method takes.

Each declared Tensor gets one buffer of its declared size, allocated untouched
(the kernel commits pages as chunks land, so a declared size that never arrives
costs address space, not memory), and every chunk is copied once into place. The
result is the same DecodedMessage the unary path builds, its payloads views of
those buffers, so validation and the solvers cannot tell the two paths apart.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc
import numpy as np
from google.protobuf import message_factory
from google.protobuf.descriptor import MethodDescriptor
from google.protobuf.message import DecodeError, Message

from service.config import Limits
from service.registry import Undecodable
from service.status import (
    RpcFailure,
    detached,
    invalid_argument,
    resource_exhausted,
    to_grpc_status,
)
from service.streams import idle_limited
from solverd.v1 import tensor_pb2
from solverd.wire import DecodedMessage, WireError, decode


class UploadBudget:
    """Bytes of chunked requests received and not yet released, server-wide and per
    connection: reserved as they arrive, not as declared (a header that declared 8 GiB
    and sent nothing more reserved the whole budget, and every other chunked request
    got RESOURCE_EXHAUSTED while it stayed open). One connection may hold at most
    PER_CONNECTION of the budget."""

    PER_CONNECTION = 0.5

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reserved = 0
        self._by_peer: dict[str, int] = {}

    def reserve(self, size: int, limit: int, peer: str = "") -> None:
        with self._lock:
            held = self._by_peer.get(peer, 0)
            if self.reserved + size > limit:
                raise resource_exhausted(
                    f"{self.reserved} bytes of chunked uploads in progress; {size} more would "
                    f"exceed max_upload_bytes ({limit})", retry_after=1.0)
            if held + size > self.PER_CONNECTION * limit:
                raise resource_exhausted(
                    f"this connection's chunked uploads hold {held} bytes; {size} more would "
                    f"exceed its share ({self.PER_CONNECTION:g} x max_upload_bytes = "
                    f"{int(self.PER_CONNECTION * limit)})", retry_after=1.0)
            self.reserved += size
            self._by_peer[peer] = held + size

    def release(self, size: int, peer: str = "") -> None:
        with self._lock:
            self.reserved -= size
            left = self._by_peer.get(peer, 0) - size
            if left > 0:
                self._by_peer[peer] = left
            else:
                self._by_peer.pop(peer, None)


UPLOADS = UploadBudget()


def _tensor_at(message: Message, path: str) -> tensor_pb2.Tensor | None:
    """The Tensor field at dotted `path` of `message`, or None if there is none."""
    target: Message = message
    for name in path.split("."):
        field = target.DESCRIPTOR.fields_by_name.get(name)
        if field is None or field.message_type is None or field.is_repeated:
            return None
        target = getattr(target, name)
    return target if isinstance(target, tensor_pb2.Tensor) else None


def _chunk_of(item: object) -> Message:
    if isinstance(item, Undecodable):
        raise invalid_argument([("(chunk)", f"not a valid RequestChunk ({item.size} bytes): "
                                            f"{item.error}")])
    return item  # type: ignore[return-value]


async def _assemble(chunks: AsyncIterator[object], cls: type[Message],
                    limits: Limits, peer: str = "") -> DecodedMessage | Undecodable:
    first = None
    async for item in chunks:
        first = _chunk_of(item)
        break
    if first is None or first.message.WhichOneof("part") != "header":  # type: ignore[attr-defined]
        raise invalid_argument([("header", "the first chunk must be a ChunkedRequestHeader")])
    header = first.message.header  # type: ignore[attr-defined]
    try:
        request = decode(header.request, cls)
    except (DecodeError, WireError, RuntimeError) as exc:
        return Undecodable(cls.DESCRIPTOR.full_name, len(header.request), str(exc))
    fields: list[str] = []
    sizes: list[int] = []
    for i, declared in enumerate(header.tensors):
        name = f"header.tensors[{i}]"
        tensor = _tensor_at(request.message, declared.field)
        if tensor is None:
            raise invalid_argument([(f"{name}.field", f"{declared.field!r} is not a Tensor of "
                                                      f"{cls.DESCRIPTOR.full_name}")])
        if declared.field in fields:
            raise invalid_argument([(f"{name}.field", f"{declared.field!r} declared twice")])
        if tensor.data or declared.field in request.payloads:
            raise invalid_argument([(f"{name}.field", f"{declared.field!r} already has data "
                                                      "in the header")])
        if not 0 <= declared.size <= limits.max_upload_bytes:
            raise invalid_argument([(f"{name}.size", f"must be in [0, {limits.max_upload_bytes}]"
                                                     f", got {declared.size}")])
        fields.append(declared.field)
        sizes.append(int(declared.size))
    total = sum(sizes)
    if total > limits.max_upload_bytes:
        raise invalid_argument([("header.tensors", f"{total} bytes exceed max_upload_bytes "
                                                   f"({limits.max_upload_bytes})")])
    reserved = 0
    try:
        # Untouched: the kernel commits the pages as chunks land (see the module's doc).
        buffers = [np.empty(size, dtype=np.uint8) for size in sizes]
        filled = [0] * len(sizes)
        async for item in chunks:
            chunk = _chunk_of(item)
            if chunk.message.WhichOneof("part") != "data":  # type: ignore[attr-defined]
                raise invalid_argument([("header", "only the first chunk may be a header")])
            index = chunk.message.data.tensor  # type: ignore[attr-defined]
            if index >= len(sizes):
                raise invalid_argument([("data.tensor", f"{index} but the header declares "
                                                        f"{len(sizes)} tensors")])
            data = chunk.payloads.get("data")  # type: ignore[attr-defined]
            if data is None:
                data = chunk.message.data.data  # type: ignore[attr-defined]
            start, end = filled[index], filled[index] + len(data)
            if end > sizes[index]:
                raise invalid_argument([("data.data", f"{fields[index]!r}: {end} bytes sent, "
                                                      f"{sizes[index]} declared")])
            UPLOADS.reserve(len(data), limits.max_upload_bytes, peer)
            reserved += len(data)
            buffers[index][start:end] = np.frombuffer(data, dtype=np.uint8)
            filled[index] = end
        short = [(f, s, n) for f, s, n in zip(fields, sizes, filled, strict=True) if n != s]
        if short:
            raise invalid_argument([("data", f"{f!r}: {n} of {s} declared bytes arrived")
                                    for f, s, n in short])
    finally:
        UPLOADS.release(reserved, peer)
    payloads = {f: memoryview(b) for f, b in zip(fields, buffers, strict=True)}
    return DecodedMessage(request.message, {**request.payloads, **payloads},
                          len(header.request) + total)


async def receive(chunks: AsyncIterator[object], cls: type[Message], limits: Limits,
                  context: grpc.aio.ServicerContext) -> DecodedMessage | Undecodable:
    """The request carried by `chunks`; a malformed stream ends the call with
    INVALID_ARGUMENT (or RESOURCE_EXHAUSTED when too many bytes are in flight)."""
    peer = context.peer() or ""
    items = idle_limited(chunks, limits.stream_idle_seconds, "chunk")
    try:
        return await _assemble(items, cls, limits, peer)
    except RpcFailure as failure:
        status = to_grpc_status(detached(failure))
    await context.abort(status.code, status.details, status.trailing_metadata)
    raise AssertionError("unreachable: abort raises")


def chunked_twin(servicer: Any, base: MethodDescriptor, limits: Limits) -> Callable[..., Any]:
    """The handler of `base`'s ...Chunked twin: reassemble the request, then serve it
    exactly as `base` does (one answer, or its stream of answers)."""
    cls = message_factory.GetMessageClass(base.input_type)
    target = getattr(servicer, base.name)
    if base.server_streaming:
        async def stream(chunks: AsyncIterator[object],
                         context: grpc.aio.ServicerContext) -> AsyncIterator[Message]:
            async for response in target(await receive(chunks, cls, limits, context), context):
                yield response

        return stream

    async def unary(chunks: AsyncIterator[object], context: grpc.aio.ServicerContext) -> Message:
        return await target(await receive(chunks, cls, limits, context), context)

    return unary
