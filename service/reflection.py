"""Server reflection (grpcurl, Postman, grpcui): v1alpha and v1, methods resolvable.

grpcio-reflection serves only grpc.reflection.v1alpha, and asks protobuf's descriptor
pool for the file holding a symbol, which knows messages, enums and services but not
methods: `grpcurl describe solverd.v1.LinearSolver.Solve` answered "Symbol not found".
Here a method resolves to its service's file, the same servicer also answers on
grpc.reflection.v1 (its messages are v1alpha's, field for field), and solverd's files go
out with their comments (source info, from the descriptor set scripts/gen-protos writes),
so that tools show the documentation.
"""

from __future__ import annotations

import functools
from importlib import resources
from typing import Any

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool
from grpc_reflection.v1alpha import reflection, reflection_pb2

V1_SERVICE = "grpc.reflection.v1.ServerReflection"


@functools.lru_cache(maxsize=1)
def _documented_files() -> dict[str, descriptor_pb2.FileDescriptorProto]:
    """solverd's .proto files with their comments, by name ({} if the set is missing)."""
    try:
        data = resources.files("solverd.v1").joinpath("descriptors.binpb").read_bytes()
    except (FileNotFoundError, ModuleNotFoundError):
        return {}
    files = descriptor_pb2.FileDescriptorSet.FromString(data).file
    return {f.name: f for f in files}


class _Documented:
    """A file descriptor whose proto form carries its source info when we have it."""

    def __init__(self, descriptor: Any) -> None:
        self._descriptor = descriptor
        self.name = descriptor.name

    @property
    def dependencies(self) -> list[_Documented]:
        return [_Documented(d) for d in self._descriptor.dependencies]

    def CopyToProto(self, proto: descriptor_pb2.FileDescriptorProto) -> None:
        documented = _documented_files().get(self.name)
        if documented is not None:
            proto.CopyFrom(documented)
        else:
            self._descriptor.CopyToProto(proto)


class _MethodAwarePool:
    def __init__(self, pool: Any) -> None:
        self._pool = pool

    def __getattr__(self, name: str) -> Any:
        return getattr(self._pool, name)

    def FindFileByName(self, name: str) -> Any:
        return _Documented(self._pool.FindFileByName(name))

    def FindFileContainingSymbol(self, symbol: str) -> Any:
        try:
            return _Documented(self._pool.FindFileContainingSymbol(symbol))
        except KeyError:
            service, _, method = symbol.rpartition(".")
            if not service:
                raise
            found = self._pool.FindServiceByName(service)  # KeyError: not a method either
            if method not in found.methods_by_name:
                raise
            return _Documented(found.file)


def enable(server: grpc.aio.Server, service_names: tuple[str, ...]) -> None:
    names = (*service_names, reflection.SERVICE_NAME, V1_SERVICE)
    pool = _MethodAwarePool(descriptor_pool.Default())
    servicer = reflection.aio.ReflectionServicer(names, pool=pool)
    from grpc_reflection.v1alpha import reflection_pb2_grpc

    reflection_pb2_grpc.add_ServerReflectionServicer_to_server(servicer, server)
    v1 = grpc.stream_stream_rpc_method_handler(
        servicer.ServerReflectionInfo,
        request_deserializer=reflection_pb2.ServerReflectionRequest.FromString,
        response_serializer=reflection_pb2.ServerReflectionResponse.SerializeToString)
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler(V1_SERVICE, {"ServerReflectionInfo": v1}),))
