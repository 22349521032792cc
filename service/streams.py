"""Client streams that may not stay silent: an idle stream holds an admission slot (and,
for a chunked upload, its reserved bytes) at no cost to whoever opened it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TypeVar

import grpc

from service.status import RpcFailure

T = TypeVar("T")


async def idle_limited(items: AsyncIterator[T], seconds: float, what: str
                       ) -> AsyncIterator[T]:
    """`items`, ended by an RpcFailure (DEADLINE_EXCEEDED) when none arrives for
    `seconds` (0: no limit)."""
    iterator = aiter(items)
    while True:
        try:
            if seconds > 0:
                item = await asyncio.wait_for(anext(iterator), seconds)
            else:
                item = await anext(iterator)
        except StopAsyncIteration:
            return
        except TimeoutError:
            raise RpcFailure(grpc.StatusCode.DEADLINE_EXCEEDED,
                             f"no {what} for {seconds:g} s: the server closed the stream "
                             f"(its stream_idle_seconds)") from None
        yield item
