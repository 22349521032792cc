"""Channel options shared by the sync and async clients."""

from __future__ import annotations

import functools
import itertools
import json
import random
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import grpc

from solverd.errors import from_rpc_error
from solverd.v1 import completion_pb2, info_pb2, linear_pb2, regression_pb2, transport_pb2
from solverd.wire import CHUNK_BYTES, WireMessage, decode, method_path

DEFAULT_MAX_MESSAGE_BYTES = 256 * 1024 * 1024
DEFAULT_TIMEOUT_SECONDS = 600.0
# HTTP/2 stream window: gRPC's 64 KiB default makes a multi-megabyte message
# wait for many window updates before it can be sent at full speed.
STREAM_WINDOW_BYTES = 8 * 1024 * 1024


def channel_options(max_message_bytes: int) -> list[tuple[str, Any]]:
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
    client_streaming: bool = False  # a stream of chunks, one answer (SolveChunked)


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



def _identity(data: bytes) -> bytes:
    return data


def chunked(rpc: Rpc, method: str) -> Rpc:
    """The `...Chunked` twin of `rpc` (chunks.proto): takes WireMessage.chunks()."""
    return Rpc(rpc.path.rsplit("/", 1)[0] + "/" + method, _identity, rpc.deserialize,
               streaming=rpc.server_streaming, client_streaming=not rpc.server_streaming)


SOLVE_CHUNKED = chunked(SOLVE, "SolveChunked")
SOLVE_BATCH_CHUNKED = chunked(SOLVE_BATCH, "SolveBatchChunked")
TRANSPORT_CHUNKED = chunked(TRANSPORT, "SolveChunked")
COMPLETE_CHUNKED = chunked(COMPLETE, "CompleteChunked")
FIT_CHUNKED = chunked(FIT, "FitChunked")
FIT_PATH_CHUNKED = chunked(FIT_PATH, "FitPathChunked")
GET_INFO = Rpc(method_path(info_pb2, "ServerInfo", "GetInfo"),
               info_pb2.GetInfoRequest.SerializeToString, info_pb2.GetInfoResponse.FromString)


# Client-side balancing when a target resolves to several addresses (dns:///...,
# ipv4:a,b): gRPC balances per connection, so pick_first would send everything to one.
_ROUND_ROBIN = json.dumps({"loadBalancingConfig": [{"round_robin": {}}]})

RPCS = {"solve": SOLVE, "solve_sequence": SOLVE_SEQUENCE, "solve_batch": SOLVE_BATCH,
        "transport": TRANSPORT, "complete": COMPLETE, "fit": FIT, "fit_path": FIT_PATH,
        "get_info": GET_INFO, "solve_chunked": SOLVE_CHUNKED,
        "solve_batch_chunked": SOLVE_BATCH_CHUNKED, "transport_chunked": TRANSPORT_CHUNKED,
        "complete_chunked": COMPLETE_CHUNKED, "fit_chunked": FIT_CHUNKED,
        "fit_path_chunked": FIT_PATH_CHUNKED}
# Requests above `chunk_threshold` bytes (or the message limit) go to the chunked twin.
DEFAULT_CHUNK_THRESHOLD = 4 * 1024 * 1024


def open_channel(api: Any, target: str, credentials: grpc.ChannelCredentials | None,
                 max_message_bytes: int) -> Any:
    """A channel from `api` (the grpc module, or grpc.aio) with solverd's options."""
    options = [*channel_options(max_message_bytes), ("grpc.service_config", _ROUND_ROBIN)]
    if credentials is None:
        return api.insecure_channel(target, options=options)
    return api.secure_channel(target, credentials, options=options)


def bind(channel: Any, rpc: Rpc, metadata: tuple[tuple[str, str], ...] | None = None) -> Any:
    kind = (channel.stream_stream if rpc.streaming else
            channel.unary_stream if rpc.server_streaming else
            channel.stream_unary if rpc.client_streaming else channel.unary_unary)
    call = kind(rpc.path, request_serializer=rpc.serialize,
                response_deserializer=rpc.deserialize)
    return functools.partial(call, metadata=metadata) if metadata else call


class Endpoint:
    """One target (an address, or a name that resolves to several): its channel and a
    callable per RPC, each sending the caller's bearer token if it has one."""

    def __init__(self, api: Any, target: str, credentials: grpc.ChannelCredentials | None,
                 max_message_bytes: int, token: str | None,
                 chunk_threshold: int = DEFAULT_CHUNK_THRESHOLD) -> None:
        self.target = target
        self.channel = open_channel(api, target, credentials, max_message_bytes)
        metadata = (("authorization", f"Bearer {token}"),) if token else None
        self.calls = {name: bind(self.channel, rpc, metadata) for name, rpc in RPCS.items()}
        self.chunk_threshold = min(chunk_threshold, max_message_bytes)
        # Lowered to fit a server whose message limit is below it (see smaller_chunks).
        self.chunk_bytes = min(CHUNK_BYTES, max(max_message_bytes // 2, 1 << 16))

    def route(self, name: str, request: Any, chunks: bool = False) -> tuple[Any, Any]:
        """The callable and the argument for `request`: a large WireMessage (or any, with
        `chunks`) goes to the chunked twin as a stream of chunks (made afresh on every
        call, so retries work)."""
        twin = f"{name}_chunked"
        if (isinstance(request, WireMessage) and twin in self.calls
                and (chunks or request.nbytes > self.chunk_threshold)):
            return self.calls[twin], request.chunks(self.chunk_bytes)
        return self.calls[name], request

    def smaller_chunks(self, err: grpc.RpcError) -> bool:
        """After a chunk was refused as larger than the server's message limit: halve
        that limit into the chunk size (a server started with --max-message-bytes below
        the client's 8 MiB chunks could not receive chunked requests). False when the
        error is not that, or the chunks already fit it."""
        found = _SIZES.search(err.details() or "") \
            if err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED else None
        if found is None:
            return False
        limit = int(found.group(2))
        fitting = max(limit // 2, 1 << 12)
        if fitting >= self.chunk_bytes:
            return False
        self.chunk_bytes = fitting
        return True


_SIZES = re.compile(r"larger than max \((\d+) vs\. (\d+)\)")


def too_large(err: grpc.RpcError, name: str, request: Any) -> bool:
    """Whether `err` is a server refusing this request over its own limit (smaller than
    this client's chunk threshold), for a request the chunked twin could carry. The
    size gRPC quotes must be the request's: an answer over a limit reads the same
    ("larger than max"), and resending its request in chunks did the work twice."""
    if not (err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            and isinstance(request, WireMessage) and f"{name}_chunked" in RPCS):
        return False
    found = _SIZES.search(err.details() or "")
    if found is None:
        return False
    quoted = int(found.group(1))
    return abs(quoted - request.nbytes) <= 64 + request.nbytes // 100


class Endpoints:
    """The endpoints of a client, taken in turn, and its retry rule."""

    def __init__(self, api: Any, target: str | Sequence[str], credentials: Any,
                 max_message_bytes: int, token: str | None, chunk_threshold: int,
                 retries: int) -> None:
        targets = [target] if isinstance(target, str) else list(target)
        if not targets:
            raise ValueError("no target: give an address or a list of addresses")
        self.all = [Endpoint(api, t, credentials, max_message_bytes, token, chunk_threshold)
                    for t in targets]
        self.retries = retries
        self._turn = itertools.count()

    def __len__(self) -> int:
        return len(self.all)

    def pick(self, avoid: Endpoint | None = None) -> Endpoint:
        """The next endpoint in turn (a different one than `avoid` when there is one)."""
        endpoint = self.all[next(self._turn) % len(self.all)]
        if endpoint is avoid and len(self.all) > 1:
            endpoint = self.all[next(self._turn) % len(self.all)]
        return endpoint

    def retry_pause(self, err: grpc.RpcError, attempt: int, deadline: float) -> float:
        """Seconds to wait before retrying `err` on another endpoint; raises it as a
        SolverdError when it must not be retried. Only UNAVAILABLE is retried: every
        call is a pure function, but any other failure would fail again. With several
        endpoints the first retries go at once to the next one."""
        error = from_rpc_error(err)
        spare = len(self.all) - 1
        pause = 0.0 if attempt < spare else backoff_seconds(attempt - spare)
        if (err.code() != grpc.StatusCode.UNAVAILABLE or attempt >= self.retries + spare
                or time.monotonic() + pause >= deadline):
            raise error from None
        return pause
