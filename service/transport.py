"""solverd.v1.Transport: decode, validate, solve each problem on a worker, encode."""

from __future__ import annotations

import functools
import time

import grpc
import numpy as np
import scipy.sparse as sp

from service import metrics, transport_validation
from service.config import ServerConfig
from service.pool import WorkPool
from service.rpc import StopSignal, fill_info, run_rpc, run_solver, solver_backend
from service.status import invalid_argument
from solverd.tensors import to_tensor
from solverd.v1 import transport_pb2, transport_pb2_grpc
from solverd.wire import DecodedMessage
from solvers.backend import Backend
from solvers.transport import TransportResult, transport

# Solver argument names that differ from the request's field names.
_FIELD_OF_ARGUMENT = {"M": "cost", "X": "x", "Y": "y", "maxiter": "max_iterations"}


class TransportServicer(transport_pb2_grpc.TransportServicer):
    def __init__(self, config: ServerConfig, pools: dict[str, WorkPool]) -> None:
        self.config = config
        self.pools = pools

    async def Solve(self, request: DecodedMessage,
                    context: grpc.aio.ServicerContext) -> transport_pb2.TransportResponse:
        return await run_rpc("solverd.v1.Transport/Solve", request, context,
                             functools.partial(self._solve, request, context))

    async def _solve(self, request: DecodedMessage, context: grpc.aio.ServicerContext,
                     labels: dict[str, str]) -> transport_pb2.TransportResponse:
        started = time.perf_counter()
        try:
            problem = transport_validation.transport_request(request, self.config.limits)
        except transport_validation.ValidationError as exc:
            raise invalid_argument(exc.violations) from None
        options = problem.options
        labels["method"] = str(options["method"])
        exact = options["method"] == "exact" or (options["method"] == "auto"
                                                 and options["reg"] == 0)
        device = "cpu" if exact else problem.device  # exact transport runs on the host
        backend = solver_backend(device, self.config.allow_gpu)
        labels["backend"] = backend.device
        decode_seconds = time.perf_counter() - started
        stop = StopSignal(context, self.config.limits.max_solve_seconds)
        job = functools.partial(_solve_all, problem, backend, stop.poll)
        (results, compute), queued = await run_solver(self.pools[backend.device], job, stop,
                                                      _FIELD_OF_ARGUMENT)
        labels["method"] = results[0].method
        metrics.child(metrics.COMPUTE_SECONDS, "solverd.v1.Transport/Solve", labels["method"],
                      backend.device).observe(compute)
        encode_start = time.perf_counter()
        response = transport_pb2.TransportResponse()
        for result in results:
            _encode(result, response.results.add())
            metrics.child(metrics.ITERATIONS, "solverd.v1.Transport/Solve", result.method,
                          backend.device).observe(result.iterations.get("sinkhorn", 0)
                                                + result.iterations.get("newton", 0))
        fill_info(response.info, backend.name, backend.device_name, "float64",
                  results[0].stop_reason, decode_seconds, queued, compute, encode_start)
        return response


def _solve_all(problem: transport_validation.TransportProblem, backend: Backend,
               should_stop: object) -> tuple[list[TransportResult], float]:
    start = time.perf_counter()
    results = []
    for i in range(problem.count):
        results.append(transport(
            None if problem.a is None else problem.a[i],
            None if problem.b is None else problem.b[i],
            problem.sparse_cost if problem.sparse_cost is not None else
            None if problem.cost is None else problem.cost[i],
            X=None if problem.x is None else problem.x[i],
            Y=None if problem.y is None else problem.y[i],
            backend=backend, should_stop=should_stop,  # type: ignore[arg-type]
            **problem.options))  # type: ignore[arg-type]
    return results, time.perf_counter() - start


def _encode(result: TransportResult, out: transport_pb2.TransportResult) -> None:
    out.cost = result.cost
    out.objective = result.objective
    if result.f is not None:
        to_tensor(np.ascontiguousarray(result.f), out.f)
        to_tensor(np.ascontiguousarray(result.g), out.g)
    plan = result.plan
    if isinstance(plan, np.ndarray):
        to_tensor(plan, out.plan.dense)
    elif isinstance(plan, sp.spmatrix | sp.sparray):
        coo = plan.tocoo()
        out.plan.sparse.shape.extend(coo.shape)
        to_tensor(coo.row.astype(np.int64), out.plan.sparse.row)
        to_tensor(coo.col.astype(np.int64), out.plan.sparse.col)
        to_tensor(coo.data, out.plan.sparse.data)
    out.plan.dropped_mass = result.dropped_mass
    out.marginal_error_a = result.marginal_error_a
    out.marginal_error_b = result.marginal_error_b
    out.method = transport_validation.METHOD_CODES[result.method]
    out.converged = result.converged
    out.stop_reason = result.stop_reason
    out.sinkhorn_iterations = result.iterations.get("sinkhorn", 0)
    out.newton_iterations = result.iterations.get("newton", 0)
    out.cg_iterations = result.iterations.get("cg", 0)
    out.lp_rounds = result.iterations.get("lp_rounds", 0)
    out.simplex_pivots = result.iterations.get("simplex_pivots", 0)
    out.cost_scale = result.cost_scale
    out.compute_seconds = result.seconds
