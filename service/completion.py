"""solverd.v1.MatrixCompletion: decode, validate, complete on a worker, encode."""

from __future__ import annotations

import functools
import time

import grpc
import numpy as np

from service import completion_validation, metrics
from service.config import ServerConfig
from service.pool import WorkPool
from service.rpc import StopSignal, fill_info, run_rpc, run_solver, solver_backend
from service.status import invalid_argument
from solverd.tensors import to_tensor
from solverd.v1 import completion_pb2, completion_pb2_grpc
from solverd.wire import DecodedMessage
from solvers.backend import Backend
from solvers.completion import CompletionResult, complete

# Solver argument names that differ from the request's field names.
_FIELD_OF_ARGUMENT = {"maxiter": "max_iterations", "holdout": "holdout_fraction"}


class MatrixCompletionServicer(completion_pb2_grpc.MatrixCompletionServicer):
    def __init__(self, config: ServerConfig, pools: dict[str, WorkPool]) -> None:
        self.config = config
        self.pools = pools

    async def Complete(self, request: DecodedMessage,
                       context: grpc.aio.ServicerContext) -> completion_pb2.CompleteResponse:
        return await run_rpc("solverd.v1.MatrixCompletion/Complete", request, context,
                             functools.partial(self._complete, request, context))

    async def _complete(self, request: DecodedMessage, context: grpc.aio.ServicerContext,
                        labels: dict[str, str]) -> completion_pb2.CompleteResponse:
        started = time.perf_counter()
        try:
            problem = completion_validation.complete_request(request, self.config.limits)
        except completion_validation.ValidationError as exc:
            raise invalid_argument(exc.violations) from None
        labels["method"] = str(problem.options["method"])
        backend = solver_backend(problem.device, self.config.allow_gpu)
        labels["backend"] = backend.device
        decode_seconds = time.perf_counter() - started
        stop = StopSignal(context, self.config.limits.max_solve_seconds)
        job = functools.partial(_complete, problem, backend, stop.poll)
        (result, compute), queued = await run_solver(self.pools[backend.device], job, stop,
                                                     _FIELD_OF_ARGUMENT)
        rpc = "solverd.v1.MatrixCompletion/Complete"
        metrics.child(metrics.COMPUTE_SECONDS, rpc, result.method,
                      backend.device).observe(compute)
        metrics.child(metrics.ITERATIONS, rpc, result.method,
                      backend.device).observe(result.iterations)
        encode_start = time.perf_counter()
        response = completion_pb2.CompleteResponse()
        _encode(result, response)
        fill_info(response.info, backend.name, backend.device_name, "float64",
                  result.stop_reason, decode_seconds, queued, compute, encode_start)
        return response


def _complete(problem: completion_validation.CompletionProblem, backend: Backend,
              should_stop: object) -> tuple[CompletionResult, float]:
    start = time.perf_counter()
    result = complete(problem.rows, problem.cols, problem.values, problem.shape, problem.rank,
                      test=problem.test, predict=problem.predict, backend=backend,
                      should_stop=should_stop,  # type: ignore[arg-type]
                      **problem.options)  # type: ignore[arg-type]
    return result, time.perf_counter() - start


def _encode(result: CompletionResult, out: completion_pb2.CompleteResponse) -> None:
    to_tensor(np.ascontiguousarray(result.U), out.u)
    to_tensor(np.ascontiguousarray(result.V), out.v)
    to_tensor(np.ascontiguousarray(result.singular_values), out.singular_values)
    out.global_mean = result.global_mean
    if result.row_bias is not None:
        to_tensor(np.ascontiguousarray(result.row_bias), out.row_bias)
        to_tensor(np.ascontiguousarray(result.col_bias), out.col_bias)
    out.train_rmse.extend(result.train_rmse)
    out.holdout_rmse.extend(result.holdout_rmse)
    out.round_seconds.extend(result.round_seconds)
    out.iterations = result.iterations
    out.converged = result.converged
    out.stop_reason = result.stop_reason
    out.method = completion_validation.METHOD_CODES[result.method]
    out.row_solver = result.row_solver
    out.init_seconds = result.init_seconds
    out.holdout_count = result.holdout_count
    out.reg = result.reg
    if result.predictions is not None:
        to_tensor(np.ascontiguousarray(result.predictions), out.predictions)
