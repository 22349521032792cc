"""solverd.v1.LinearSolver: decode, validate, solve on a worker, encode.

Solve is one call; SolveSequence keeps a tuner (and the last matrix) for the life
of a stream; SolveBatch orders N related systems and streams their answers. All
share `_execute`.
"""

from __future__ import annotations

import functools
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from typing import Any

import grpc

from service import metrics, tuner_state, validation
from service.config import ServerConfig
from service.pool import QueueFull, WorkPool
from service.registry import Undecodable
from service.rpc import (
    StopSignal,
    budgeted,
    fill_info,
    run_rpc,
    run_solver,
    solver_backend,
)
from service.status import (
    RpcFailure,
    detached,
    invalid_argument,
    resource_exhausted,
    to_grpc_status,
)
from service.streams import idle_limited
from solverd.tensors import to_tensor
from solverd.v1 import linear_pb2, linear_pb2_grpc
from solverd.wire import DecodedMessage
from solvers import linear
from solvers.errors import SolverInputError
from solvers.linear.auto_sequence import AutoSequence
from solvers.linear.carry import AmgCarry, FactorCarry, RecycleCarry
from solvers.linear.ordering import order_by
from solvers.linear.sequence import SequenceStep, SolverSequence

# Solves estimated below this run on the event loop (see WorkPool.run).
INLINE_SECONDS = 0.005


def _extent(problem: validation.SolveProblem) -> tuple[int, int, int]:
    """n, the stored entries of A, and the columns of b: what the cost estimates use."""
    a = problem.a
    n = a.shape[0]
    nnz = a.nnz if hasattr(a, "nnz") else n * a.shape[1]
    return n, nnz, problem.b.shape[1] if problem.b.ndim == 2 else 1


def _tiny(problem: validation.SolveProblem, backend: Any) -> bool:
    """Whether the worst case of this solve (every iteration it may take, at ~10 us of
    Python per iteration plus its products) is a few milliseconds."""
    if backend.is_gpu or problem.method in validation.TUNED_METHODS:
        return False
    n, nnz, columns = _extent(problem)
    if n > 2000:
        return False
    if problem.method in ("direct", "auto"):  # auto: direct for small systems
        return n <= 100 and columns <= 8
    iterations = problem.maxiter or 10 * n
    return columns * iterations * (10e-6 + 3e-9 * nnz) <= INLINE_SECONDS


# A first try on the event loop (see run_solver) for solves whose setup is cheap.
# Long enough for a CG of a few thousand unknowns under load (5-6 ms): one that misses
# it is started again on a worker, its first try wasted, and fights the loop for the
# GIL. Measured, 1,500 tiny/s plus 2% such solves, 2 processes: 4 ms gave tiny p99
# 8-38 ms (median of 6 runs 17) and medium p99 29-91 ms; 12 ms gave 8-17 (10) and 12-18.
FIRST_TRY_SECONDS = 0.012
_FIRST_TRY_METHODS = ("cg", "minres", "gmres", "bicgstab")


def _cheap_setup(problem: validation.SolveProblem, backend: Any) -> bool:
    """Whether the solve polls its stop within a fraction of a millisecond from the
    start (no factorisation, no ILU, modest products), so a budget can end it."""
    if backend.is_gpu or problem.method not in _FIRST_TRY_METHODS:
        return False
    if problem.preconditioner not in ("none", "jacobi"):
        return False
    _, nnz, columns = _extent(problem)
    return nnz <= 200_000 and columns <= 4


# Solver argument names that differ from the request's field names.
_FIELD_OF_ARGUMENT = {"maxiter": "max_iterations", "state": "tuner_state"}


@dataclass
class BatchState:
    """What a SolveBatch call carries from one system to the next."""

    problem: validation.BatchProblem | None = None
    order: list[int] = field(default_factory=list)
    carry: RecycleCarry = field(default_factory=RecycleCarry)
    previous_x: Any = None
    amg: AmgCarry = field(default_factory=AmgCarry)  # the hierarchy reused across systems
    lu: FactorCarry = field(default_factory=FactorCarry)  # a batch of one matrix: its LU


@dataclass
class StreamState:
    """What a SolveSequence stream remembers between its messages."""

    sequence: SolverSequence | AutoSequence | None = None
    previous_a: Any = None
    first: validation.SolveProblem | None = None
    carry: RecycleCarry = field(default_factory=RecycleCarry)  # GCRO-DR / recycled CG
    amg: AmgCarry = field(default_factory=AmgCarry)  # the hierarchy reused across messages
    lu: FactorCarry = field(default_factory=FactorCarry)  # the last matrix's LU factors


class LinearSolverServicer(linear_pb2_grpc.LinearSolverServicer):
    def __init__(self, config: ServerConfig, pools: dict[str, WorkPool]) -> None:
        self.config = config
        self.pools = pools
        self.state_key = config.state_key.encode()

    async def Solve(self, request: DecodedMessage,
                    context: grpc.aio.ServicerContext) -> linear_pb2.SolveResponse:
        return await run_rpc("solverd.v1.LinearSolver/Solve", request, context,
                             functools.partial(self._solve, request, context, None))

    async def SolveSequence(self, requests: AsyncIterator[DecodedMessage | Undecodable],
                            context: grpc.aio.ServicerContext
                            ) -> AsyncIterator[linear_pb2.SolveResponse]:
        stream = StreamState()
        messages = idle_limited(requests, self.config.limits.stream_idle_seconds,
                                "SolveRequest")
        try:
            first = True
            async for request in messages:
                yield await run_rpc("solverd.v1.LinearSolver/SolveSequence", request, context,
                                    functools.partial(self._solve, request, context, stream),
                                    count_request=first, streamed=True)
                first = False
        except RpcFailure as failure:  # the stream went silent
            status = to_grpc_status(detached(failure))
            await context.abort(status.code, status.details, status.trailing_metadata)
        finally:
            stream.lu.close()  # kept factors do not outlive the stream

    async def _solve(self, request: DecodedMessage, context: grpc.aio.ServicerContext,
                     stream: StreamState | None,
                     labels: dict[str, str]) -> linear_pb2.SolveResponse:
        started = time.perf_counter()
        try:
            problem = validation.solve_request(
                request, self.config.limits, stream.previous_a if stream else None,
                stream=stream is not None)
        except validation.ValidationError as exc:
            raise invalid_argument(exc.violations) from None
        sequence = None
        same_matrix = False
        if stream is not None:
            same_matrix = problem.a is stream.previous_a
            stream.previous_a = problem.a
            if stream.first is None:
                stream.first = problem
            else:  # the stream's first request fixes how it is solved
                problem.method, problem.tuner = stream.first.method, stream.first.tuner
                problem.recycle = stream.first.recycle
            if problem.method in validation.RECYCLING_METHODS:
                problem.recycle_space = stream.carry.offer(problem.a)
            sequence = stream.sequence
        if problem.tuner != "none" and sequence is None:
            sequence = self._new_sequence(problem)
            if stream is not None:
                stream.sequence = sequence
        response, result = await self._execute(problem, sequence, context, labels,
                                               time.perf_counter() - started, same_matrix,
                                               None if stream is None else stream.amg,
                                               None if stream is None else stream.lu)
        if stream is not None and problem.method in validation.RECYCLING_METHODS:
            stream.carry.record(problem.a, result.matvecs, bool(result.extra.get("recycled")),
                                result.extra.get("recycle_space"))
        return response

    async def SolveBatch(self, request: DecodedMessage | Undecodable,
                         context: grpc.aio.ServicerContext
                         ) -> AsyncIterator[linear_pb2.SolveBatchResponse]:
        batch = BatchState()
        try:
            for position in range(self.config.limits.max_batch):
                yield await run_rpc("solverd.v1.LinearSolver/SolveBatch", request, context,
                                    functools.partial(self._batch_step, request, context,
                                                      batch, position),
                                    count_request=position == 0, streamed=True)
                if position + 1 >= batch.problem.count:  # type: ignore[union-attr]
                    return
        finally:
            batch.lu.close()  # kept factors do not outlive the call

    async def _batch_step(self, request: DecodedMessage, context: grpc.aio.ServicerContext,
                          batch: BatchState, position: int,
                          labels: dict[str, str]) -> linear_pb2.SolveBatchResponse:
        started = time.perf_counter()
        if batch.problem is None:
            try:
                batch.problem = validation.batch_request(request, self.config.limits)
            except validation.ValidationError as exc:
                raise invalid_argument(exc.violations) from None
            batch.order = await self._batch_order(batch.problem)
        plan = batch.problem
        index = batch.order[position]
        a = plan.matrix(index)
        problem = replace(plan.template, a=a, b=plan.rhs(index))
        if plan.warm_start and batch.previous_x is not None:
            problem.x0 = batch.previous_x
        recycling = problem.method in validation.RECYCLING_METHODS
        if recycling:
            problem.recycle_space = batch.carry.offer(a)
        same_matrix = plan.values is None and problem.recycle_space is not None
        one_matrix = plan.values is None and plan.count > 1
        response, result = await self._execute(problem, None, context, labels,
                                               time.perf_counter() - started, same_matrix,
                                               batch.amg, batch.lu if one_matrix else None)
        if recycling:
            batch.carry.record(a, result.matvecs, bool(result.extra.get("recycled")),
                               result.extra.get("recycle_space"))
        batch.previous_x = result.x
        return linear_pb2.SolveBatchResponse(index=index, position=position, result=response)

    async def _batch_order(self, plan: validation.BatchProblem) -> list[int]:
        if plan.order == "input" or plan.count < 3:
            return list(range(plan.count))
        feats = plan.features if plan.order == "features" else plan.values
        try:
            order, _ = await self.pools["cpu"].run(functools.partial(order_by, feats))
        except QueueFull as exc:
            raise resource_exhausted(str(exc), retry_after=0.5) from None
        return order

    def _new_sequence(self, problem: validation.SolveProblem) -> SolverSequence | AutoSequence:
        options: dict[str, Any] = {}
        if problem.tuner == "chebcb" and problem.context_range is not None:
            options["context_range"] = problem.context_range
        try:
            state = (tuner_state.from_proto(problem.tuner_state, self.state_key,
                                            self.config.limits.max_state_numbers)
                     if problem.tuner_state is not None else None)
            if problem.method == "auto":
                return AutoSequence(rtol=problem.rtol, atol=problem.atol, seed=problem.seed,
                                    state=state,
                                    factor_budget=self.config.limits.max_factor_bytes)
            return SolverSequence(problem.method, tuner=problem.tuner, cap=problem.cap,
                                  rtol=problem.rtol, atol=problem.atol, seed=problem.seed,
                                  state=state, **options)
        except SolverInputError as exc:
            raise invalid_argument([(_FIELD_OF_ARGUMENT.get(exc.field, exc.field),
                                     exc.description)]) from None

    async def _execute(self, problem: validation.SolveProblem,
                       sequence: SolverSequence | AutoSequence | None,
                       context: grpc.aio.ServicerContext, labels: dict[str, str],
                       decode_seconds: float, same_matrix: bool = False,
                       amg_carry: AmgCarry | None = None,
                       factor_carry: FactorCarry | None = None
                       ) -> tuple[linear_pb2.SolveResponse, Any]:
        """Runs one solve on a worker; the response and the solver's result."""
        labels["method"] = problem.method
        omega = problem.omega or 1.0
        backend = solver_backend(linear.device_for(problem.method, problem.device),
                                 self.config.allow_gpu)
        labels["backend"] = backend.device

        stop = StopSignal(context, self.config.limits.max_solve_seconds)
        if sequence is not None:
            job = functools.partial(sequence.solve, problem.a, problem.b, problem.context,
                                    problem.x0, stop.poll)
        else:
            job = functools.partial(
                linear.solve, problem.a, problem.b, method=problem.method,
                preconditioner=problem.preconditioner, x0=problem.x0, rtol=problem.rtol,
                atol=problem.atol, maxiter=problem.maxiter, restart=problem.restart,
                device=backend.device, precision=problem.precision,
                allow_gpu=self.config.allow_gpu, omega=omega, amg_options=problem.amg,
                amg_hierarchy=None if amg_carry is None else amg_carry.offer(problem.a),
                factors=None if factor_carry is None else factor_carry.offer(problem.a),
                factor_budget=self.config.limits.max_factor_bytes,
                keep_factors=factor_carry is not None,
                should_stop=stop.poll, **_recycling_options(problem, same_matrix))
        tiny = sequence is None and _tiny(problem, backend)
        first_try = None
        if sequence is None and not tiny and _cheap_setup(problem, backend):
            first_try = functools.partial(job, should_stop=budgeted(stop, FIRST_TRY_SECONDS))
        outcome, queued = await run_solver(self.pools[backend.device], job, stop,
                                           _FIELD_OF_ARGUMENT, inline=tiny,
                                           first_try=first_try)
        step = outcome if isinstance(outcome, SequenceStep) else None
        result = step.result if step is not None else outcome
        if amg_carry is not None and step is None:
            amg_carry.record(problem.a, result)
        if factor_carry is not None and step is None:
            factor_carry.record(result)
        labels["method"] = problem.method if step is not None else result.method
        rpc = labels["rpc"]
        metrics.child(metrics.COMPUTE_SECONDS, rpc, labels["method"], backend.device).observe(
            result.seconds)
        metrics.child(metrics.ITERATIONS, rpc, result.method, backend.device).observe(
            result.iterations)

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
        if problem.method in validation.TUNED_METHODS:
            response.omega = step.omega if step is not None else omega
        if step is not None and sequence is not None:
            response.tuned_iterations = step.iterations
            response.capped = step.capped
            tuner_state.to_proto(sequence.state(), response.tuner_state, self.state_key)
            if problem.method in validation.TUNED_METHODS:
                response.best_omega = step.best_omega
                metrics.child(metrics.OMEGA, problem.tuner).observe(step.omega)
                metrics.child(metrics.TUNED_ITERATIONS, problem.tuner).observe(step.charged)
        space = result.extra.get("recycle_space")
        if problem.method in validation.RECYCLING_METHODS:
            response.recycled = bool(result.extra.get("recycled"))
            response.recycle_setup_matvecs = int(result.extra.get("recycle_setup_matvecs", 0))
            if space is not None:
                response.recycle_bytes = space.nbytes()
                if problem.return_recycle_space:
                    response.recycle_space.kind = space.kind
                    response.recycle_space.iterations = min(space.iterations, 2**32 - 1)
                    to_tensor(backend.to_host(space.u), response.recycle_space.u)
                    to_tensor(backend.to_host(space.c), response.recycle_space.c)
        hierarchy = result.extra.get("amg")
        if hierarchy is not None:
            response.amg.reused = bool(result.extra.get("amg_reused"))
            response.amg.kind = hierarchy.kind
            response.amg.levels = hierarchy.levels
            response.amg.operator_complexity = hierarchy.operator_complexity
            response.amg.grid_complexity = hierarchy.grid_complexity
            response.amg.coarse_rows = hierarchy.coarse_rows
            response.amg.setup_seconds = hierarchy.setup_seconds
        response.auto_reason = result.extra.get("auto_reason", "")
        response.factors_reused = bool(result.extra.get("factors_reused"))
        response.direct_solver = result.extra.get("direct_solver", "")
        to_tensor(result.x, response.x)
        fill_info(response.info, result.backend, result.device, result.precision,
                  result.stop_reason, decode_seconds, queued, result.seconds, encode_start)
        return response, result


def _recycling_options(problem: validation.SolveProblem, same_matrix: bool) -> dict[str, Any]:
    if problem.method not in validation.RECYCLING_METHODS:
        return {}
    return {"recycle": problem.recycle or None, "recycle_space": problem.recycle_space,
            "same_matrix": same_matrix and problem.recycle_space is not None}
