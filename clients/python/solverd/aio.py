"""The asyncio client: the same calls as `Client`, awaitable."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import grpc

from solverd.aio_sequence import AsyncSequence, AsyncStreamSequence
from solverd.batch import BatchCollector, Progress, batch_requests, batch_size
from solverd.channels import (
    COMPLETE,
    DEFAULT_MAX_MESSAGE_BYTES,
    DEFAULT_TIMEOUT_SECONDS,
    FIT,
    FIT_PATH,
    GET_INFO,
    SOLVE,
    SOLVE_BATCH,
    SOLVE_SEQUENCE,
    TRANSPORT,
    backoff_seconds,
    bind,
    open_channel,
)
from solverd.completion import CompletionResult, complete_request, observed, result_from_proto
from solverd.errors import from_rpc_error
from solverd.regression import RegressionResult, fit_request, path_request
from solverd.regression import result_from_proto as regression_result
from solverd.requests import solve_request
from solverd.results import ServerInfo, SolveResult
from solverd.transport import TransportResult, batched, results_from_proto, transport_request
from solverd.v1 import info_pb2

T = TypeVar("T")


class AsyncClient:
    """asyncio variant of `solverd.Client` (same arguments, same retry rules)."""

    def __init__(
        self,
        target: str = "127.0.0.1:50051",
        *,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
        retries: int = 3,
        credentials: grpc.ChannelCredentials | None = None,
    ) -> None:
        self._channel = open_channel(grpc.aio, target, credentials, max_message_bytes)
        self.timeout = timeout
        self.retries = retries
        self._solve = bind(self._channel, SOLVE)
        self._solve_stream = bind(self._channel, SOLVE_SEQUENCE)
        self._solve_batch = bind(self._channel, SOLVE_BATCH)
        self._get_info = bind(self._channel, GET_INFO)
        self._transport = bind(self._channel, TRANSPORT)
        self._complete = bind(self._channel, COMPLETE)
        self._fit = bind(self._channel, FIT)
        self._fit_path = bind(self._channel, FIT_PATH)

    async def solve(self, a: object, b: object, *, timeout: float | None = None,
                    **options: object) -> SolveResult:
        """See `Client.solve`."""
        request = solve_request(a, b, **options)  # type: ignore[arg-type]
        start = time.perf_counter()
        response = await self._call(self._solve, request, timeout)
        return SolveResult.from_proto(response, time.perf_counter() - start)

    async def solve_batch(self, matrices: Any, rhs: Any, *, method: str = "auto",
                          recycle: int | None = None, order: str = "auto",
                          features: Any = None, progress: Progress = False,
                          timeout: float | None = None, **options: Any) -> list[SolveResult]:
        """See `Client.solve_batch`."""
        parts = batch_requests(matrices, rhs, method=method, recycle=recycle, order=order,
                               features=features, **options)
        collector = BatchCollector(batch_size(parts), progress)
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        for part in parts:
            try:
                call = self._solve_batch(part.request,
                                         timeout=max(deadline - time.monotonic(), 0))
                async for decoded in call:
                    collector.add(part, decoded)
            except grpc.RpcError as err:
                raise from_rpc_error(err) from None
        return collector.finish()

    def sequence(self, *, method: str = "sor", tuner: str | None = None,
                 omega: float | None = None, state: bytes | None = None,
                 stream: bool = False, **options: Any) -> AsyncSequence:
        """See `Client.sequence`; the result's `solve` is awaitable."""
        cls = AsyncStreamSequence if stream else AsyncSequence
        return cls(self, method=method, tuner=tuner, omega=omega, state=state, **options)

    async def transport(self, a: Any = None, b: Any = None, M: Any = None, *, X: Any = None,
                        Y: Any = None, reg: float = 1e-2, method: str = "auto",
                        tol: float = 1e-9, plan: str = "dense", timeout: float | None = None,
                        **options: Any) -> TransportResult | list[TransportResult]:
        """See `Client.transport`."""
        request = transport_request(a, b, M, X=X, Y=Y, reg=reg, method=method, tol=tol,
                                    plan=plan, **options)
        start = time.perf_counter()
        response = await self._call(self._transport, request, timeout)
        results = results_from_proto(response, time.perf_counter() - start)
        return results if batched(M, X) else results[0]

    async def complete(self, rows: Any, cols: Any = None, vals: Any = None,
                       shape: Any = None, rank: int = 10, *, timeout: float | None = None,
                       **options: Any) -> CompletionResult:
        """See `Client.complete`."""
        r, c, v, size = observed(rows, cols, vals, shape)
        request = complete_request(r, c, v, size, rank, **options)
        start = time.perf_counter()
        response = await self._call(self._complete, request, timeout)
        return result_from_proto(response, time.perf_counter() - start)

    async def info(self, *, timeout: float | None = None) -> ServerInfo:
        return ServerInfo.from_proto(
            await self._call(self._get_info, info_pb2.GetInfoRequest(), timeout))

    async def fit_regression(self, X: Any, y: Any, alpha: float, *,
                             timeout: float | None = None, **options: Any) -> RegressionResult:
        """See `Client.fit_regression` (and `lasso`, `elastic_net`, `logistic_l1`)."""
        request = fit_request(X, y, alpha, **options)
        start = time.perf_counter()
        response = await self._call(self._fit, request, timeout)
        return regression_result(response, time.perf_counter() - start, X.shape[1])

    async def lasso(self, X: Any, y: Any, alpha: float, **options: Any) -> RegressionResult:
        return await self.fit_regression(X, y, alpha, loss="squared", l1_ratio=1.0, **options)

    async def elastic_net(self, X: Any, y: Any, alpha: float, l1_ratio: float = 0.5,
                          **options: Any) -> RegressionResult:
        return await self.fit_regression(X, y, alpha, loss="squared", l1_ratio=l1_ratio,
                                         **options)

    async def logistic_l1(self, X: Any, y: Any, alpha: float,
                          **options: Any) -> RegressionResult:
        return await self.fit_regression(X, y, alpha, loss="logistic", **options)

    async def lasso_path(self, X: Any, y: Any, *, alphas: Any = None, n_alphas: int = 100,
                         eps: float = 1e-3, timeout: float | None = None,
                         **options: Any) -> list[RegressionResult]:
        """See `Client.lasso_path`."""
        request = path_request(X, y, alphas=alphas, n_alphas=n_alphas, eps=eps, **options)
        start = time.perf_counter()
        out = []
        try:
            async for decoded in self._fit_path(request, timeout=self.timeout if timeout
                                                is None else timeout):
                out.append(regression_result(decoded, time.perf_counter() - start,
                                             X.shape[1]))
        except grpc.RpcError as err:
            raise from_rpc_error(err) from None
        return out

    async def _call(self, rpc: Callable[..., Awaitable[T]], request: object,
                    timeout: float | None) -> T:
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        attempt = 0
        while True:
            try:
                return await rpc(request, timeout=max(deadline - time.monotonic(), 0.0))
            except grpc.RpcError as err:
                error = from_rpc_error(err)
                pause = backoff_seconds(attempt)
                if (err.code() != grpc.StatusCode.UNAVAILABLE or attempt >= self.retries
                        or time.monotonic() + pause >= deadline):
                    raise error from None
            attempt += 1
            await asyncio.sleep(pause)

    async def close(self) -> None:
        await self._channel.close()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
