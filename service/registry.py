"""Registers servicers from their service descriptors, with forgiving deserializers.

Requests are read with solverd.wire.decode: large Tensor.data fields stay views
of the received bytes, so a request's arrays are never copied after gRPC hands
them over. gRPC's generated registration answers bytes that are not valid
protobuf with INTERNAL ("Exception deserializing request"); here the handler
gets an `Undecodable` marker instead, and answers INVALID_ARGUMENT.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import grpc
from google.protobuf import descriptor, message_factory
from google.protobuf.message import DecodeError, Message

from service.config import Limits
from solverd.wire import DecodedMessage, decode


@dataclass(frozen=True)
class Undecodable:
    """A request whose bytes did not parse as the method's input message."""

    type_name: str
    size: int
    error: str

    def ByteSize(self) -> int:
        return self.size


def handler_factory(request_streaming: bool, response_streaming: bool
                    ) -> Callable[..., grpc.RpcMethodHandler]:
    """gRPC's constructor of a method handler of that streaming kind."""
    return {
        (False, False): grpc.unary_unary_rpc_method_handler,
        (False, True): grpc.unary_stream_rpc_method_handler,
        (True, False): grpc.stream_unary_rpc_method_handler,
        (True, True): grpc.stream_stream_rpc_method_handler,
    }[(request_streaming, response_streaming)]


def _deserializer(cls: type[Message]) -> Callable[[bytes], DecodedMessage | Undecodable]:
    def parse(data: bytes) -> DecodedMessage | Undecodable:
        try:
            return decode(data, cls)
        except (DecodeError, ValueError, RuntimeError) as exc:  # WireError is a ValueError
            return Undecodable(cls.DESCRIPTOR.full_name, len(data), str(exc) or "parse error")

    return parse


def add_service(server: grpc.aio.Server, service: descriptor.ServiceDescriptor,
                servicer: object, limits: Limits) -> None:
    """Registers `servicer`'s methods; each `XChunked` method (chunks.proto) is served
    by the generic twin of `X`, so no servicer writes its own."""
    from service.chunks import chunked_twin  # chunks imports Undecodable from here

    handlers = {}
    for method in service.methods:
        base = service.methods_by_name.get(method.name.removesuffix("Chunked"))
        chunked = method.name.endswith("Chunked") and base is not None
        function = (chunked_twin(servicer, base, limits) if chunked
                    else getattr(servicer, method.name))
        request_cls = message_factory.GetMessageClass(method.input_type)
        response_cls = message_factory.GetMessageClass(method.output_type)
        kind = handler_factory(method.client_streaming, method.server_streaming)
        handlers[method.name] = kind(
            function,
            request_deserializer=_deserializer(request_cls),
            response_serializer=response_cls.SerializeToString,
        )
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler(service.full_name, handlers),))
