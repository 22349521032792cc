"""Sequences of related systems whose SOR relaxation a server-side tuner learns.

    seq = client.sequence(method="sor", tuner="tsallis-inf")   # or "chebcb", or omega=1.7
    for A_t, b_t, c_t in systems:
        r = seq.solve(A_t, b_t, context=c_t)    # r.omega, r.iterations, r.x
    saved = seq.state                            # bytes; client.sequence(..., state=saved)

By default each solve is a unary call carrying the tuner state (or, for "gcrodr" and
"recycled-cg", the recycle space), so consecutive calls may be served by different
replicas. With `stream=True` the calls travel on
one SolveSequence stream: the state stays on the server for the stream's life,
and passing the very same `A` object again sends it only once.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import grpc
from google.protobuf.message import DecodeError

from solverd.errors import from_rpc_error
from solverd.requests import solve_request
from solverd.results import RECYCLING_METHODS, SolveResult
from solverd.v1 import linear_pb2
from solverd.wire import WireMessage

if TYPE_CHECKING:
    from solverd.client import Client


class SequenceState:
    """What a sequence carries between solves, whichever client sends them."""

    # A stream carries setup on the server (an AMG hierarchy, LU factors of a repeated
    # matrix), so it needs no tuner or recycling method to be worth opening.
    STREAMED = False

    def __init__(self, client: Any, *, method: str = "sor", tuner: str | None = None,
                 omega: float | None = None, state: bytes | None = None,
                 context_range: tuple[float, float] | None = None, cap: int | None = None,
                 seed: int = 0, **options: Any) -> None:
        self._recycling = method.replace("-", "_") in RECYCLING_METHODS
        if (tuner is None and omega is None and state is None and not self._recycling
                and not self.STREAMED):
            raise ValueError("give a tuner ('tsallis-inf', 'chebcb') or a fixed omega, or a "
                             "recycling method ('gcrodr', 'recycled-cg'), or stream=True "
                             "(the server keeps AMG and LU setup along the stream)")
        self._client = client
        # Unary recycling sequences carry the recycle space themselves, like the state.
        self._space: linear_pb2.RecycleSpace | None = None
        self._fixed = {"method": method, "tuner": tuner, "omega": omega,
                       "context_range": context_range, "cap": cap, "seed": seed, **options}
        self._state: linear_pb2.TunerState | None = None
        if state is not None:
            try:
                self._state = linear_pb2.TunerState.FromString(state)
            except DecodeError:
                raise ValueError("state is not a saved solverd TunerState") from None

    @property
    def state(self) -> bytes | None:
        """The tuner's state after the last solve (serialized TunerState), or None."""
        return None if self._state is None else self._state.SerializeToString()

    def _carried(self) -> dict[str, Any]:
        """Unary requests: the recycle space to send and the request to get the next."""
        if not self._recycling:
            return {}
        return {"recycle_space": self._space, "return_recycle_space": True}

    def _keep(self, decoded: Any, seconds: float) -> SolveResult:
        message: linear_pb2.SolveResponse = decoded.message
        if message.HasField("tuner_state"):
            self._state = linear_pb2.TunerState()
            self._state.CopyFrom(message.tuner_state)
        result = SolveResult.from_proto(decoded, seconds)
        if result.recycle_space is not None:
            self._space = result.recycle_space
        return result


class Sequence(SequenceState):
    """Related systems solved one after another, each a unary call that carries what
    the sequence learned: the tuner's state (SOR / SSOR-CG omega, `state` saves it as
    bytes to resume later, on any replica) or the recycle space (gcrodr, recycled-cg).
    Made by `client.sequence(...)`; `solve(a, b)` returns a SolveResult; use it as a
    context manager or call `close()`."""

    def __init__(self, client: Client, **kw: Any) -> None:
        super().__init__(client, **kw)

    def solve(self, a: Any, b: Any, *, context: float | None = None, x0: Any = None,
              timeout: float | None = None) -> SolveResult:
        request = solve_request(a, b, x0=x0, context=context, tuner_state=self._state,
                                **self._carried(), **self._fixed)
        start = time.perf_counter()
        decoded = self._client._call("solve", request, timeout)
        return self._keep(decoded, time.perf_counter() - start)

    def close(self) -> None:
        return None

    def __enter__(self) -> Sequence:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_END = object()


class StreamSequence(Sequence):
    """The same calls on one SolveSequence stream (opened at the first solve). Any
    method may stream: the server keeps an AMG hierarchy and, for a matrix sent again
    (the same object: it goes as `same_matrix`), its LU factors."""

    STREAMED = True

    def __init__(self, client: Client, *, timeout: float | None = None, **kw: Any) -> None:
        super().__init__(client, **kw)
        self._timeout = client.timeout if timeout is None else timeout
        self._outbox: queue.Queue = queue.Queue()
        self._responses: Iterator[Any] | None = None
        self._last_a: Any = None
        self._lock = threading.Lock()

    def _requests(self) -> Iterator[WireMessage]:
        while (item := self._outbox.get()) is not _END:
            yield item

    def solve(self, a: Any, b: Any, *, context: float | None = None, x0: Any = None,
              timeout: float | None = None) -> SolveResult:
        with self._lock:
            same = self._responses is not None and a is self._last_a
            first = self._responses is None
            request = solve_request(None if same else a, b, x0=x0, context=context,
                                    tuner_state=self._state if first else None,
                                    same_matrix=same, **self._fixed)
            self._last_a = a
            if first:
                self._responses = self._client._pick().calls["solve_sequence"](self._requests(),
                                                             timeout=self._timeout)
            start = time.perf_counter()
            self._outbox.put(request)
            try:
                decoded = next(self._responses)  # type: ignore[arg-type]
            except grpc.RpcError as err:
                # An error status ends the stream: release the request generator.
                self._outbox.put(_END)
                self._responses = None
                raise from_rpc_error(err) from None
            return self._keep(decoded, time.perf_counter() - start)

    def close(self) -> None:
        if self._responses is not None:
            self._outbox.put(_END)
            for _ in self._responses:  # drain: the server ends the stream cleanly
                pass
            self._responses = None
