"""`solverd.sequence` for asyncio: the same tuner state handling, awaitable solves.

    async with client.sequence(method="sor", tuner="chebcb", stream=True) as seq:
        for A_t, b_t, c_t in systems:
            r = await seq.solve(A_t, b_t, context=c_t)
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

import grpc

from solverd.errors import Internal, from_rpc_error
from solverd.requests import solve_request
from solverd.results import SolveResult
from solverd.sequence import SequenceState

if TYPE_CHECKING:
    from solverd.aio import AsyncClient


class AsyncSequence(SequenceState):
    """Unary calls carrying the tuner state: any replica may serve each one."""

    def __init__(self, client: AsyncClient, **kw: Any) -> None:
        super().__init__(client, **kw)

    async def solve(self, a: Any, b: Any, *, context: float | None = None, x0: Any = None,
                    timeout: float | None = None) -> SolveResult:
        request = solve_request(a, b, x0=x0, context=context, tuner_state=self._state,
                                **self._carried(), **self._fixed)
        start = time.perf_counter()
        decoded = await self._client._call("solve", request, timeout)
        return self._keep(decoded, time.perf_counter() - start)

    async def close(self) -> None:
        return None

    async def __aenter__(self) -> AsyncSequence:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


class AsyncStreamSequence(AsyncSequence):
    """One SolveSequence stream, opened at the first solve; the state stays server-side
    and passing the very same `A` object again sends it only once."""

    STREAMED = True

    def __init__(self, client: AsyncClient, *, timeout: float | None = None,
                 **kw: Any) -> None:
        super().__init__(client, **kw)
        self._timeout = client.timeout if timeout is None else timeout
        self._call: Any = None
        self._last_a: Any = None
        # One request in flight at a time: responses carry no request id, so a
        # second concurrent solve could read the first one's answer.
        self._lock = asyncio.Lock()

    async def solve(self, a: Any, b: Any, *, context: float | None = None, x0: Any = None,
                    timeout: float | None = None) -> SolveResult:
        async with self._lock:
            first = self._call is None
            same = not first and a is self._last_a
            request = solve_request(None if same else a, b, x0=x0, context=context,
                                    tuner_state=self._state if first else None,
                                    same_matrix=same, **self._fixed)
            self._last_a = a
            if first:
                self._call = self._client._pick().calls["solve_sequence"](timeout=self._timeout)
            start = time.perf_counter()
            try:
                await self._call.write(request)
                decoded = await self._call.read()
            except grpc.RpcError as err:
                self._call = None  # an error status ends the stream
                raise from_rpc_error(err) from None
            if decoded is grpc.aio.EOF:
                # read() raises on an error status, so EOF means the server closed the
                # stream cleanly without answering: a protocol fault, never expected.
                self._call = None
                raise Internal("SolveSequence ended without an answer")
            return self._keep(decoded, time.perf_counter() - start)

    async def close(self) -> None:
        if self._call is not None:
            call, self._call = self._call, None
            await call.done_writing()
            while await call.read() is not grpc.aio.EOF:  # drain: a clean end of stream
                pass

