"""Channel options shared by the sync and async clients."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

import grpc

from solverd.v1 import completion_pb2, info_pb2, linear_pb2, regression_pb2, transport_pb2
from solverd.wire import WireMessage, decode, method_path

DEFAULT_MAX_MESSAGE_BYTES = 256 * 1024 * 1024
DEFAULT_TIMEOUT_SECONDS = 600.0
# HTTP/2 stream window: gRPC's 64 KiB default makes a multi-megabyte message
# wait for many window updates before it can be sent at full speed.
STREAM_WINDOW_BYTES = 8 * 1024 * 1024


def channel_options(max_message_bytes: int) -> list[tuple[str, int]]:
    return [
        ("grpc.max_receive_message_length", max_message_bytes),
        ("grpc.max_send_message_length", max_message_bytes),
        # gRPC's own transparent retries buffer the request; ours resend it instead.
        ("grpc.enable_retries", 0),
        ("grpc.http2.lookahead_bytes", STREAM_WINDOW_BYTES),
    ]


def backoff_seconds(attempt: int, base: float = 0.1, cap: float = 2.0) -> float:
    """Full-jitter exponential backoff: spreads retries of many clients apart."""
    return random.uniform(0, min(cap, base * 2**attempt))


@dataclass(frozen=True)
class Rpc:
    path: str
    serialize: Any
    deserialize: Any
    streaming: bool = False  # both directions streamed (SolveSequence)
    server_streaming: bool = False  # one request, a stream of answers (SolveBatch)


# Solve requests travel as WireMessage (arrays appended with one copy) and answers
# are read with wire.decode (arrays left in place): see wire.py.
SOLVE = Rpc(method_path(linear_pb2, "LinearSolver", "Solve"), WireMessage.serialize,
            lambda data: decode(data, linear_pb2.SolveResponse))
SOLVE_SEQUENCE = Rpc(method_path(linear_pb2, "LinearSolver", "SolveSequence"),
                     WireMessage.serialize, lambda data: decode(data, linear_pb2.SolveResponse),
                     streaming=True)
SOLVE_BATCH = Rpc(method_path(linear_pb2, "LinearSolver", "SolveBatch"),
                  WireMessage.serialize, lambda data: decode(data, linear_pb2.SolveBatchResponse),
                  server_streaming=True)
TRANSPORT = Rpc(method_path(transport_pb2, "Transport", "Solve"), WireMessage.serialize,
                lambda data: decode(data, transport_pb2.TransportResponse))
COMPLETE = Rpc(method_path(completion_pb2, "MatrixCompletion", "Complete"),
               WireMessage.serialize, lambda data: decode(data, completion_pb2.CompleteResponse))
FIT = Rpc(method_path(regression_pb2, "SparseRegression", "Fit"), WireMessage.serialize,
          lambda data: decode(data, regression_pb2.FitResponse))
FIT_PATH = Rpc(method_path(regression_pb2, "SparseRegression", "FitPath"),
               WireMessage.serialize, lambda data: decode(data, regression_pb2.FitResponse),
               server_streaming=True)
GET_INFO = Rpc(method_path(info_pb2, "ServerInfo", "GetInfo"),
               info_pb2.GetInfoRequest.SerializeToString, info_pb2.GetInfoResponse.FromString)


def open_channel(api: Any, target: str, credentials: grpc.ChannelCredentials | None,
                 max_message_bytes: int) -> Any:
    """A channel from `api` (the grpc module, or grpc.aio) with solverd's options."""
    options = channel_options(max_message_bytes)
    if credentials is None:
        return api.insecure_channel(target, options=options)
    return api.secure_channel(target, credentials, options=options)


def bind(channel: Any, rpc: Rpc) -> Any:
    kind = (channel.stream_stream if rpc.streaming else
            channel.unary_stream if rpc.server_streaming else channel.unary_unary)
    return kind(rpc.path, request_serializer=rpc.serialize, response_deserializer=rpc.deserialize)
