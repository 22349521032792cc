"""Property-based fuzzing of every RPC against a real server process.

Messages are generated from the protos' descriptors: every field may be set, with
adversarial values (negative and huge sizes, NaN/Inf, unknown enum values, dtype and
byte-length mismatches, random bytes for tuner and recycle states). Whatever comes
in, the server must answer within the deadline with a deliberate status (OK,
INVALID_ARGUMENT, or a limit's status), never INTERNAL/UNKNOWN, never crash, and
its memory must not grow with the number of requests.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Iterator

import grpc
import numpy as np
import pytest
from google.protobuf import descriptor as pb_descriptor
from google.protobuf.message import Message
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from solverd.v1 import (
    completion_pb2,
    info_pb2,
    linear_pb2,
    regression_pb2,
    tensor_pb2,
    transport_pb2,
)
from solverd.wire import WireMessage

from conftest import RunningServer, start_server

FD = pb_descriptor.FieldDescriptor
EXAMPLES = 250  # per RPC below
# Answers a hostile request may get: a deliberate status, never INTERNAL or UNKNOWN.
ACCEPTABLE = {grpc.StatusCode.OK, grpc.StatusCode.INVALID_ARGUMENT,
              grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.FAILED_PRECONDITION,
              grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.OUT_OF_RANGE}
CALL_TIMEOUT = 5.0

RPCS = {
    "/solverd.v1.LinearSolver/Solve": (linear_pb2.SolveRequest, False),
    "/solverd.v1.LinearSolver/SolveBatch": (linear_pb2.SolveBatchRequest, True),
    "/solverd.v1.Transport/Solve": (transport_pb2.TransportRequest, False),
    "/solverd.v1.MatrixCompletion/Complete": (completion_pb2.CompleteRequest, False),
    "/solverd.v1.SparseRegression/Fit": (regression_pb2.FitRequest, False),
    "/solverd.v1.SparseRegression/FitPath": (regression_pb2.FitPathRequest, True),
    "/solverd.v1.ServerInfo/GetInfo": (info_pb2.GetInfoRequest, False),
}
COUNTS: Counter[str] = Counter()
CODES: Counter[str] = Counter()
CHUNKED = ["/solverd.v1.LinearSolver/SolveChunked", "/solverd.v1.LinearSolver/SolveBatchChunked",
           "/solverd.v1.Transport/SolveChunked", "/solverd.v1.MatrixCompletion/CompleteChunked",
           "/solverd.v1.SparseRegression/FitChunked",
           "/solverd.v1.SparseRegression/FitPathChunked"]

SIZES = st.one_of(st.integers(-3, 40), st.sampled_from([-(2**63), -1, 2**31, 2**40, 2**62,
                                                         2**63 - 1]))
FLOATS = st.one_of(st.floats(-10, 10), st.sampled_from([math.nan, math.inf, -math.inf, 0.0,
                                                        -0.0, 1e308, -1e308, 5e-324]))


@st.composite
def tensors(draw: st.DrawFn) -> tensor_pb2.Tensor:
    """A Tensor whose dtype, shape and bytes may or may not agree."""
    dtype = draw(st.integers(0, 6))
    shape = draw(st.lists(SIZES, max_size=3))
    itemsize = {1: 8, 2: 4, 3: 4, 4: 8}.get(dtype, 8)
    count = math.prod(shape) if shape and all(0 <= s <= 40 for s in shape) else 1
    how = draw(st.sampled_from(["consistent", "random", "short", "empty"]))
    if count > 64 and how == "consistent":
        how = "random"
    if how == "consistent" and dtype in (1, 2):
        values = draw(st.lists(FLOATS, min_size=count, max_size=count))
        with np.errstate(over="ignore"):
            data = np.array(values, dtype="<f8" if dtype == 1 else "<f4").tobytes()
    elif how == "consistent" and dtype in (3, 4):
        values = draw(st.lists(SIZES.filter(lambda v: -(2**31) <= v < 2**31),
                               min_size=count, max_size=count))
        data = np.array(values, dtype="<i8" if dtype == 4 else "<i4").tobytes()
    elif how == "random":
        data = draw(st.binary(max_size=256))
    elif how == "short":
        data = b"\x00" * max(count * itemsize - draw(st.integers(1, 8)), 0)
    else:
        data = b""
    return tensor_pb2.Tensor(dtype=dtype, shape=[s for s in shape if -(2**63) <= s < 2**63],
                             data=data)


def _scalar(field: FD) -> st.SearchStrategy:
    t = field.type
    if t in (FD.TYPE_DOUBLE, FD.TYPE_FLOAT):
        return FLOATS
    if t == FD.TYPE_BOOL:
        return st.booleans()
    if t == FD.TYPE_ENUM:
        return st.integers(-2, 12)
    if t in (FD.TYPE_UINT32, FD.TYPE_FIXED32):
        return st.one_of(st.integers(0, 50), st.just(2**32 - 1))
    if t in (FD.TYPE_UINT64, FD.TYPE_FIXED64):
        return st.one_of(st.integers(0, 50), st.just(2**64 - 1))
    if t in (FD.TYPE_INT32, FD.TYPE_SINT32, FD.TYPE_SFIXED32):
        return st.one_of(st.integers(-3, 50), st.sampled_from([-(2**31), 2**31 - 1]))
    if t in (FD.TYPE_INT64, FD.TYPE_SINT64, FD.TYPE_SFIXED64):
        return SIZES
    if t == FD.TYPE_STRING:
        return st.text(max_size=12)
    if t == FD.TYPE_BYTES:  # tuner states, recycle states: forged
        return st.binary(max_size=200)
    raise AssertionError(field.type)


def messages(descriptor: pb_descriptor.Descriptor, depth: int = 0) -> st.SearchStrategy:
    @st.composite
    def build(draw: st.DrawFn) -> Message:
        from google.protobuf import message_factory

        msg = message_factory.GetMessageClass(descriptor)()
        for field in descriptor.fields:
            if not draw(st.booleans()):
                continue
            if field.message_type is not None:
                if field.message_type.full_name == "solverd.v1.Tensor":
                    inner = tensors()
                elif depth >= 3:
                    continue
                else:
                    inner = messages(field.message_type, depth + 1)
                if field.is_repeated:
                    for value in draw(st.lists(inner, max_size=2)):
                        getattr(msg, field.name).add().CopyFrom(value)
                else:
                    getattr(msg, field.name).CopyFrom(draw(inner))
            elif field.is_repeated:
                getattr(msg, field.name).extend(draw(st.lists(_scalar(field), max_size=4)))
            else:
                setattr(msg, field.name, draw(_scalar(field)))
        return msg

    return build()


@pytest.fixture(scope="module")
def target() -> Iterator[RunningServer]:
    running = start_server("--backend", "cpu", "--max-solve-seconds", "3")
    yield running
    running.stop()


def _call(channel: grpc.Channel, path: str, streaming: bool, data: bytes) -> grpc.StatusCode:
    kind = channel.unary_stream if streaming else channel.unary_unary
    call = kind(path, request_serializer=None, response_deserializer=None)
    start = time.monotonic()
    try:
        if streaming:
            for _ in call(data, timeout=CALL_TIMEOUT):
                pass
        else:
            call(data, timeout=CALL_TIMEOUT)
        code = grpc.StatusCode.OK
    except grpc.RpcError as err:
        code = err.code()
    assert time.monotonic() - start < CALL_TIMEOUT + 2, f"{path} did not answer in time"
    return code


def _check(target: RunningServer, path: str, code: grpc.StatusCode, data: bytes) -> None:
    COUNTS[path] += 1
    CODES[code.name] += 1
    assert target.process.poll() is None, "the server died"
    assert code in ACCEPTABLE, f"{path}: {code} for {data[:200]!r}"


@pytest.mark.parametrize("path", list(RPCS))
def test_structured_adversarial_messages(target, path: str) -> None:
    cls, streaming = RPCS[path]
    with grpc.insecure_channel(target.address) as channel:

        @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(messages(cls.DESCRIPTOR))
        def run(msg: Message) -> None:
            data = WireMessage(msg).serialize()
            _check(target, path, _call(channel, path, streaming, data), data)

        run()


@pytest.mark.parametrize("path", list(RPCS))
def test_random_bytes(target, path: str) -> None:
    _, streaming = RPCS[path]
    with grpc.insecure_channel(target.address) as channel:

        @settings(max_examples=EXAMPLES // 2, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(st.binary(max_size=512))
        def run(data: bytes) -> None:
            # Random bytes that happen to parse are a valid (if odd) request: OK is fine.
            _check(target, path, _call(channel, path, streaming, data), data)

        run()


@pytest.mark.parametrize("path", CHUNKED)
def test_chunk_streams(target, path: str) -> None:
    """The chunked twins: streams of generated RequestChunk messages (headers whose
    request may or may not parse, chunks for undeclared tensors, sizes that lie)."""
    from solverd.v1 import chunks_pb2

    streaming = path.endswith(("BatchChunked", "PathChunked"))
    with grpc.insecure_channel(target.address) as channel:
        kind = channel.stream_stream if streaming else channel.stream_unary
        call = kind(path, request_serializer=None, response_deserializer=None)

        @settings(max_examples=EXAMPLES // 5, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(st.lists(messages(chunks_pb2.RequestChunk.DESCRIPTOR), min_size=1, max_size=4))
        def run(chunks: list[Message]) -> None:
            data = [c.SerializeToString() for c in chunks]
            try:
                answer = call(iter(data), timeout=CALL_TIMEOUT)
                if streaming:
                    list(answer)
                code = grpc.StatusCode.OK
            except grpc.RpcError as err:
                code = err.code()
            _check(target, path, code, b"".join(data))

        run()


def test_memory_does_not_grow_and_report(target) -> None:
    """After the fuzzing above, the same hostile traffic again must not grow the
    server's memory (what a leak per request would do)."""
    path = "/solverd.v1.LinearSolver/Solve"
    rng = np.random.default_rng(0)
    with grpc.insecure_channel(target.address) as channel:
        def burst() -> None:
            for _ in range(400):
                msg = linear_pb2.SolveRequest()
                msg.a.csr.shape.extend([int(rng.integers(1, 2**40)), 3])
                msg.a.csr.data.CopyFrom(tensor_pb2.Tensor(dtype=1, shape=[3],
                                                          data=rng.bytes(24)))
                msg.b.CopyFrom(tensor_pb2.Tensor(dtype=1, shape=[5], data=rng.bytes(40)))
                msg.tuner_state.CopyFrom(linear_pb2.TunerState())
                _call(channel, path, False, msg.SerializeToString())

        burst()
        before = target.rss_bytes()
        burst()
        burst()
        grown = target.rss_bytes() - before
    assert grown < 20 * 2**20, f"RSS grew {grown / 2**20:.1f} MiB over 800 requests"
    total = sum(COUNTS.values())
    print(f"\nfuzz: {total} generated requests over {len(COUNTS)} RPCs: {COUNTS}; "
          f"answers {CODES}")
    assert total >= len(RPCS) * EXAMPLES  # every property test ran its examples
