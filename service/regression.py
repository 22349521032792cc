"""solverd.v1.SparseRegression: decode, validate, fit on a worker, encode; FitPath
streams one response per alpha as the path generator yields it."""

from __future__ import annotations

import functools
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import grpc
import numpy as np

from service import metrics, regression_validation
from service.config import ServerConfig
from service.pool import WorkPool
from service.registry import Undecodable
from service.rpc import StopSignal, fill_info, run_rpc, run_solver, solver_backend
from service.status import invalid_argument
from solverd.tensors import to_tensor
from solverd.v1 import regression_pb2, regression_pb2_grpc
from solverd.wire import DecodedMessage
from solvers.backend import Backend
from solvers.regression import RegressionResult, fit, path

# Solver argument names that differ from the request's field names.
_FIELD_OF_ARGUMENT = {"max_iter": "problem.max_iterations", "weights": "problem.feature_weights",
                      "X": "problem.x", "y": "problem.y", "loss": "problem.loss",
                      "l1_ratio": "problem.l1_ratio", "tol": "problem.tol"}


@dataclass
class _PathStream:
    problem: regression_validation.RegressionProblem | None = None
    results: Iterator[RegressionResult] | None = None
    backend: Backend | None = None
    stop: StopSignal | None = None
    decode_seconds: float = 0.0
    done: bool = False


class SparseRegressionServicer(regression_pb2_grpc.SparseRegressionServicer):
    def __init__(self, config: ServerConfig, pools: dict[str, WorkPool]) -> None:
        self.config = config
        self.pools = pools

    async def Fit(self, request: DecodedMessage,
                  context: grpc.aio.ServicerContext) -> regression_pb2.FitResponse:
        return await run_rpc("solverd.v1.SparseRegression/Fit", request, context,
                             functools.partial(self._fit, request, context))

    async def _fit(self, request: DecodedMessage, context: grpc.aio.ServicerContext,
                   labels: dict[str, str]) -> regression_pb2.FitResponse:
        started = time.perf_counter()
        try:
            problem = regression_validation.fit_request(request, self.config.limits)
        except regression_validation.ValidationError as exc:
            raise invalid_argument(exc.violations) from None
        backend = solver_backend(problem.device, self.config.allow_gpu)
        _label(labels, problem, backend)
        decode_seconds = time.perf_counter() - started
        stop = StopSignal(context, self.config.limits.max_solve_seconds)
        job = functools.partial(fit, problem.X, problem.y, problem.alpha,
                                coef_init=problem.coef_init, backend=backend,
                                should_stop=stop.poll, **problem.options)
        result, queued = await run_solver(self.pools[backend.device], job, stop,
                                          _FIELD_OF_ARGUMENT)
        return _respond("solverd.v1.SparseRegression/Fit", result, problem, backend, decode_seconds,
                        queued, 0)

    async def FitPath(self, request: DecodedMessage | Undecodable,
                      context: grpc.aio.ServicerContext
                      ) -> AsyncIterator[regression_pb2.FitResponse]:
        stream = _PathStream()
        for index in range(self.config.limits.max_batch):
            yield await run_rpc("solverd.v1.SparseRegression/FitPath", request, context,
                                functools.partial(self._path_step, request, context, stream,
                                                  index),
                                count_request=index == 0, streamed=True)
            if stream.done:
                return

    async def _path_step(self, request: DecodedMessage, context: grpc.aio.ServicerContext,
                         stream: _PathStream, index: int,
                         labels: dict[str, str]) -> regression_pb2.FitResponse:
        started = time.perf_counter()
        if stream.problem is None:
            try:
                stream.problem = regression_validation.path_request(request,
                                                                    self.config.limits)
            except regression_validation.ValidationError as exc:
                raise invalid_argument(exc.violations) from None
            stream.backend = solver_backend(stream.problem.device, self.config.allow_gpu)
            stream.stop = StopSignal(context, self.config.limits.max_solve_seconds)
            stream.results = path(stream.problem.X, stream.problem.y, backend=stream.backend,
                                  should_stop=stream.stop.poll, **stream.problem.path,
                                  **stream.problem.options)
        problem, backend = stream.problem, stream.backend
        assert backend is not None and stream.stop is not None and stream.results is not None
        _label(labels, problem, backend)
        decode_seconds = time.perf_counter() - started
        job = functools.partial(next, stream.results, None)
        result, queued = await run_solver(self.pools[backend.device], job, stream.stop,
                                          _FIELD_OF_ARGUMENT)
        if result is None:  # cannot happen: the stream ends after the last alpha
            raise AssertionError("path ended early")
        stream.done = index + 1 >= problem.path_length
        return _respond("solverd.v1.SparseRegression/FitPath", result, problem, backend,
                        decode_seconds, queued, index)


def _label(labels: dict[str, str], problem: regression_validation.RegressionProblem,
           backend: Backend) -> None:
    labels["method"] = str(problem.options["loss"])
    labels["backend"] = backend.device


def _respond(rpc: str, result: RegressionResult,
             problem: regression_validation.RegressionProblem, backend: Backend,
             decode_seconds: float, queued: float, index: int) -> regression_pb2.FitResponse:
    metrics.child(metrics.COMPUTE_SECONDS, rpc, result.loss, backend.device).observe(
        result.seconds)
    metrics.child(metrics.ITERATIONS, rpc, result.loss, backend.device).observe(result.epochs)
    encode_start = time.perf_counter()
    out = regression_pb2.FitResponse()
    _encode(result, problem.coef_format, out)
    out.index = index
    # the design's dtype: validation admits float32 and float64 only
    fill_info(out.info, backend.name, backend.device_name, str(problem.X.dtype),
              result.stop_reason, decode_seconds, queued, result.seconds, encode_start)
    return out


def _encode(result: RegressionResult, coef_format: str, out: regression_pb2.FitResponse
            ) -> None:
    out.alpha = result.alpha
    support = result.support
    if coef_format == "dense":
        to_tensor(np.ascontiguousarray(result.coef), out.coef)
    to_tensor(support.astype(np.int64), out.support_indices)
    to_tensor(np.ascontiguousarray(result.coef[support]), out.support_values)
    out.intercept = result.intercept
    out.primal = result.primal
    out.dual = result.dual
    out.gap = result.gap
    out.relative_gap = result.relative_gap
    out.kkt_violation = result.kkt_violation
    out.converged = result.converged
    out.iterations = result.iterations
    out.epochs = result.epochs
    out.newton_steps = result.newton_steps
    out.passes = result.passes
    out.working_set_sizes.extend(result.ws_sizes)
    out.screened = result.n_screened
    if result.classes is not None:
        out.classes.extend(result.classes)
