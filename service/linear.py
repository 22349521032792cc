"""solverd.v1.LinearSolver: decode, validate, solve on a worker, encode."""

from __future__ import annotations

import functools
import time

import grpc

from service import metrics, validation
from service.config import ServerConfig
from service.pool import QueueFull, WorkPool
from service.rpc import StopSignal, run_rpc
from service.status import RpcFailure, invalid_argument, resource_exhausted
from service.version import VERSION
from solverd.tensors import to_tensor
from solverd.v1 import linear_pb2, linear_pb2_grpc
from solverd.wire import DecodedMessage
from solvers import linear
from solvers.backend import get_backend
from solvers.errors import BackendUnavailable, Interrupted, SolverInputError

# Solver argument names that differ from the request's field names.
_FIELD_OF_ARGUMENT = {"maxiter": "max_iterations"}


class LinearSolverServicer(linear_pb2_grpc.LinearSolverServicer):
    def __init__(self, config: ServerConfig, pools: dict[str, WorkPool]) -> None:
        self.config = config
        self.pools = pools

    async def Solve(self, request: DecodedMessage,
                    context: grpc.aio.ServicerContext) -> linear_pb2.SolveResponse:
        return await run_rpc("Solve", request, context,
                             functools.partial(self._solve, request, context))

    async def _solve(self, request: DecodedMessage, context: grpc.aio.ServicerContext,
                     labels: dict[str, str]) -> linear_pb2.SolveResponse:
        started = time.perf_counter()
        try:
            problem = validation.solve_request(request, self.config.limits)
        except validation.ValidationError as exc:
            raise invalid_argument(exc.violations) from None
        labels["method"] = problem.method
        try:
            backend = get_backend(problem.device, allow_gpu=self.config.allow_gpu)
        except BackendUnavailable as exc:
            raise RpcFailure(grpc.StatusCode.FAILED_PRECONDITION, str(exc)) from None
        labels["backend"] = backend.name
        decode_seconds = time.perf_counter() - started

        stop = StopSignal(context, self.config.limits.max_solve_seconds)
        job = functools.partial(
            linear.solve, problem.a, problem.b, method=problem.method,
            preconditioner=problem.preconditioner, x0=problem.x0, rtol=problem.rtol,
            atol=problem.atol, maxiter=problem.maxiter, restart=problem.restart,
            device=backend.device, precision=problem.precision,
            allow_gpu=self.config.allow_gpu, should_stop=stop.poll)
        try:
            result, queued = await self.pools[backend.device].run(job)
        except QueueFull as exc:
            raise resource_exhausted(str(exc), retry_after=0.5) from None
        except Interrupted as exc:
            raise stop.failure(exc.reason) from None
        except SolverInputError as exc:
            field = _FIELD_OF_ARGUMENT.get(exc.field, exc.field)
            raise invalid_argument([(field, exc.description)]) from None
        labels["method"] = result.method
        metrics.COMPUTE_SECONDS.labels("Solve", result.method, backend.name).observe(
            result.seconds)
        metrics.ITERATIONS.labels(result.method, backend.name).observe(result.iterations)

        encode_start = time.perf_counter()
        response = linear_pb2.SolveResponse(
            converged=result.converged,
            iterations=result.iterations,
            residual_norm=result.residual_norm,
            method=validation.METHOD_CODES[result.method],
            matvecs=result.matvecs,
            column_iterations=result.column_iterations,
            column_converged=result.column_converged,
            column_residual_norms=result.column_residual_norms,
        )
        to_tensor(result.x, response.x)
        info = response.info
        info.backend = result.backend
        info.device = result.device
        info.precision = result.precision
        info.stop_reason = result.stop_reason
        info.server_version = VERSION
        info.decode_seconds = decode_seconds
        info.queue_seconds = queued
        info.compute_seconds = result.seconds
        info.encode_seconds = time.perf_counter() - encode_start
        return response
