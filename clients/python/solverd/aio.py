"""The asyncio client: the same calls as `Client`, awaitable."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence as Seq
from typing import Any

import grpc

from solverd import calls
from solverd.aio_sequence import AsyncSequence, AsyncStreamSequence
from solverd.batch import BatchCollector, BatchPlan, Progress
from solverd.channels import (
    DEFAULT_CHUNK_THRESHOLD,
    DEFAULT_MAX_MESSAGE_BYTES,
    DEFAULT_TIMEOUT_SECONDS,
    Endpoint,
    Endpoints,
    too_large,
)
from solverd.completion import CompletionResult, result_from_proto
from solverd.errors import from_rpc_error
from solverd.regression import RegressionResult
from solverd.regression import result_from_proto as regression_result
from solverd.results import ServerInfo, SolveResult
from solverd.transport import TransportResult, results_from_proto, unbatched
from solverd.v1 import info_pb2


class AsyncClient:
    """asyncio variant of `solverd.Client` (same arguments, same retry rules)."""

    def __init__(
        self,
        target: str | Seq[str] = "127.0.0.1:50051",
        *,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
        retries: int = 3,
        credentials: grpc.ChannelCredentials | None = None,
        token: str | None = None,
        chunk_threshold: int = DEFAULT_CHUNK_THRESHOLD,
    ) -> None:
        self._endpoints = Endpoints(grpc.aio, target, credentials, max_message_bytes, token,
                                    chunk_threshold, retries)
        self.timeout = timeout

    @property
    def retries(self) -> int:
        return self._endpoints.retries

    def _pick(self) -> Endpoint:
        return self._endpoints.pick()

    async def solve(self, a: object, b: object, *, timeout: float | None = None,
                    **options: object) -> SolveResult:
        """See `Client.solve`."""
        request = calls.solve("AsyncClient.solve", a, b, {}, options)
        start = time.perf_counter()
        response = await self._call("solve", request, timeout)
        return SolveResult.from_proto(response, time.perf_counter() - start)

    async def solve_batch(self, matrices: Any, rhs: Any, *, method: str = "auto",
                          recycle: int | None = None, order: str = "auto",
                          features: Any = None, progress: Progress = False,
                          shards: int | None = None, timeout: float | None = None,
                          **options: Any) -> list[SolveResult]:
        """See `Client.solve_batch`."""
        plan = calls.batch("AsyncClient.solve_batch", matrices, rhs, dict(
            method=method, recycle=recycle, order=order, features=features), options)
        collector = BatchCollector(plan.count, progress)
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        await asyncio.gather(*(self._run_shard(plan, shard, collector, deadline)
                               for shard in plan.shards(shards or len(self._endpoints))))
        return collector.finish()

    async def _run_shard(self, plan: BatchPlan, indices: list[int],
                         collector: BatchCollector, deadline: float) -> None:
        """See `Client._run_shard`."""
        endpoint = self._endpoints.pick()
        attempt = 0
        while indices:
            part = plan.part(indices)
            call, argument = endpoint.route("solve_batch", part.request)
            try:
                async for decoded in call(argument,
                                          timeout=max(deadline - time.monotonic(), 0)):
                    collector.add(part, decoded)
                return
            except grpc.RpcError as err:
                indices = collector.missing(indices)
                pause = self._endpoints.retry_pause(err, attempt, deadline)
            attempt += 1
            await asyncio.sleep(pause)
            endpoint = self._endpoints.pick(avoid=endpoint)

    def sequence(self, *, method: str = "sor", tuner: str | None = None,
                 omega: float | None = None, state: bytes | None = None,
                 stream: bool = False, **options: Any) -> AsyncSequence:
        """See `Client.sequence`; the result's `solve` is awaitable."""
        cls = AsyncStreamSequence if stream else AsyncSequence
        return cls(self, method=method, tuner=tuner, omega=omega, state=state, **options)

    async def transport(self, a: Any = None, b: Any = None, M: Any = None, *, X: Any = None,
                        Y: Any = None, reg: float = 1e-2, method: str = "auto",
                        tol: float | None = None, plan: str = "dense",
                        timeout: float | None = None, **options: Any) -> TransportResult:
        """See `Client.transport`."""
        explicit = dict(X=X, Y=Y, reg=reg, method=method, tol=tol, plan=plan)
        results = await self._transport("AsyncClient.transport", a, b, M, explicit,
                                        options, timeout)
        return unbatched(results, M, X)

    async def transport_batch(self, a: Any = None, b: Any = None, M: Any = None, *,
                              X: Any = None, Y: Any = None, reg: float = 1e-2,
                              method: str = "auto", tol: float | None = None,
                              plan: str = "dense", timeout: float | None = None,
                              **options: Any) -> list[TransportResult]:
        """See `Client.transport_batch`."""
        explicit = dict(X=X, Y=Y, reg=reg, method=method, tol=tol, plan=plan)
        return await self._transport("AsyncClient.transport_batch", a, b, M, explicit,
                                     options, timeout)

    async def _transport(self, public: str, a: Any, b: Any, M: Any,
                         explicit: dict[str, Any], options: dict[str, Any],
                         timeout: float | None) -> list[TransportResult]:
        request = calls.transport(public, a, b, M, explicit, options)
        start = time.perf_counter()
        response = await self._call("transport", request, timeout)
        return results_from_proto(response, time.perf_counter() - start)

    async def complete(self, rows: Any, cols: Any = None, vals: Any = None,
                       shape: Any = None, rank: int = 10, *, timeout: float | None = None,
                       **options: Any) -> CompletionResult:
        """See `Client.complete`."""
        request = calls.complete("AsyncClient.complete", rows, cols, vals, shape, rank,
                                 options)
        start = time.perf_counter()
        response = await self._call("complete", request, timeout)
        return result_from_proto(response, time.perf_counter() - start)

    async def info(self, *, timeout: float | None = None) -> ServerInfo:
        return ServerInfo.from_proto(
            await self._call("get_info", info_pb2.GetInfoRequest(), timeout))

    async def fit_regression(self, X: Any, y: Any, alpha: float, *,
                             timeout: float | None = None,
                             _public: str = "AsyncClient.fit_regression",
                             **options: Any) -> RegressionResult:
        """See `Client.fit_regression` (and `lasso`, `elastic_net`, `logistic_l1`)."""
        request = calls.fit(_public, X, y, alpha, options)
        start = time.perf_counter()
        response = await self._call("fit", request, timeout)
        return regression_result(response, time.perf_counter() - start, X.shape[1])

    async def lasso(self, X: Any, y: Any, alpha: float, **options: Any) -> RegressionResult:
        """See `Client.lasso`."""
        return await self.fit_regression(X, y, alpha, loss="squared", l1_ratio=1.0,
                                         _public="AsyncClient.lasso", **options)

    async def elastic_net(self, X: Any, y: Any, alpha: float, l1_ratio: float = 0.5,
                          **options: Any) -> RegressionResult:
        """See `Client.elastic_net`."""
        return await self.fit_regression(X, y, alpha, loss="squared", l1_ratio=l1_ratio,
                                         _public="AsyncClient.elastic_net", **options)

    async def logistic_l1(self, X: Any, y: Any, alpha: float,
                          **options: Any) -> RegressionResult:
        """See `Client.logistic_l1`."""
        return await self.fit_regression(X, y, alpha, loss="logistic",
                                         _public="AsyncClient.logistic_l1", **options)

    async def lasso_path(self, X: Any, y: Any, *, alphas: Any = None, n_alphas: int = 100,
                         eps: float = 1e-3, timeout: float | None = None,
                         **options: Any) -> list[RegressionResult]:
        """See `Client.lasso_path`."""
        request = calls.path("AsyncClient.lasso_path", X, y,
                             dict(alphas=alphas, n_alphas=n_alphas, eps=eps), options)
        start = time.perf_counter()
        out = []
        try:
            call, argument = self._endpoints.pick().route("fit_path", request)
            async for decoded in call(argument, timeout=self.timeout if timeout
                                                is None else timeout):
                out.append(regression_result(decoded, time.perf_counter() - start,
                                             X.shape[1]))
        except grpc.RpcError as err:
            raise from_rpc_error(err) from None
        return out

    async def _call(self, name: str, request: object, timeout: float | None) -> Any:
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        endpoint = self._endpoints.pick()
        attempt = 0
        chunks = False
        while True:
            call, argument = endpoint.route(name, request, chunks)
            try:
                return await call(argument, timeout=max(deadline - time.monotonic(), 0.0))
            except grpc.RpcError as err:
                if not chunks and too_large(err, name, request):
                    chunks = True  # the server's limit is below our threshold: stream it
                    continue
                pause = self._endpoints.retry_pause(err, attempt, deadline)
            attempt += 1
            await asyncio.sleep(pause)
            endpoint = self._endpoints.pick(avoid=endpoint)

    async def close(self) -> None:
        for endpoint in self._endpoints.all:
            await endpoint.channel.close()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
