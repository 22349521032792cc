"""The synchronous client."""

from __future__ import annotations

import time
from collections.abc import Sequence as Seq
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import grpc

from solverd import calls
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
from solverd.errors import DeadlineExceeded, SolverdError, from_rpc_error
from solverd.regression import RegressionResult
from solverd.regression import result_from_proto as regression_result
from solverd.results import ServerInfo, SolveResult
from solverd.sequence import Sequence, StreamSequence
from solverd.transport import TransportResult, results_from_proto, unbatched
from solverd.v1 import info_pb2


class Client:
    """A connection to solverd: one target, or a list of them (replicas).

    With a list, calls go to the endpoints in turn and `solve_batch` is sharded across
    them; a target such as "dns:///solverd-headless:50051" that resolves to several
    addresses is balanced by gRPC's round_robin policy. `token`: a bearer token for
    servers run with --auth-token; `credentials`: grpc.ssl_channel_credentials(...) for
    TLS (see solverd.tls). Requests larger than `chunk_threshold` bytes travel as a
    stream of chunks (no 2 GiB message limit, and faster for large payloads).

    Every call has a deadline (`timeout` seconds, per call or the client's
    default). Calls are pure functions on the server, so a call that fails with
    UNAVAILABLE (server restarting, connection reset) is retried up to `retries`
    times with jittered backoff, within the same deadline; nothing else is retried.
    """

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
        self._endpoints = Endpoints(grpc, target, credentials, max_message_bytes, token,
                                    chunk_threshold, retries)
        self.timeout = timeout

    @property
    def retries(self) -> int:
        return self._endpoints.retries

    def _pick(self) -> Endpoint:
        return self._endpoints.pick()

    def solve(self, a: object, b: object, *, method: str = "auto", x0: object | None = None,
              preconditioner: str = "none", rtol: float | None = None,
              atol: float | None = None, max_iterations: int | None = None,
              restart: int | None = None, device: str = "auto", precision: str = "auto",
              omega: float | None = None, timeout: float | None = None,
              **sequence_options: Any) -> SolveResult:
        """Solves A x = b. A: scipy.sparse matrix or 2-D array; b: shape (n,) or (n, k).

        Methods: auto, cg, minres, gmres, bicgstab, direct, sor, ssor_cg (with `omega`);
        auto says why in `.auto_reason`. Preconditioners: none, jacobi, ilu, amg (with
        `amg={"kind", "strength", "smoother", "cycle", "near_nullspace", "max_coarse",
        "max_levels"}`; `.amg` describes the hierarchy). Stops when
        ||b - A x|| <= max(rtol ||b||, atol) (rtol default 1e-5). Non-convergence is a
        result (`converged=False`), not an exception. `sequence_options` (tuner,
        tuner_state, context, cap, ...) are the raw sequence fields;
        `client.sequence(...)` manages them for you.
        """
        request = calls.solve("Client.solve", a, b, dict(
            method=method, x0=x0, preconditioner=preconditioner, rtol=rtol, atol=atol,
            max_iterations=max_iterations, restart=restart, device=device,
            precision=precision, omega=omega), sequence_options)
        start = time.perf_counter()
        response = self._call("solve", request, timeout)
        return SolveResult.from_proto(response, time.perf_counter() - start)

    def solve_batch(self, matrices: Any, rhs: Any, *, method: str = "auto",
                    recycle: int | None = None, order: str = "auto", features: Any = None,
                    progress: Progress = False, shards: int | None = None,
                    timeout: float | None = None, **options: Any) -> list[SolveResult]:
        """Solves N related systems in one call (SolveBatch) and returns the results in
        input order. The server orders them (greedy nearest neighbour on the matrices'
        values, or on `features` (N, d) when given), solves them in that order carrying
        a Krylov recycle space, and streams each result back as it is done.

        matrices: one matrix shared by every system, or a sequence of N matrices
        (matrices sharing a sparsity pattern travel as one pattern plus values; other
        patterns go in separate calls). rhs: one vector per system (a sequence or an
        (N, n) array), or one vector for N matrices. method: "auto" (over 20,000 rows
        and SPD-looking: AMG-CG, its hierarchy reused from system to system while that
        pays; matrices AUTO would factorise, without `recycle` or a preconditioner:
        SuperLU per system, one LU for a batch of one matrix; else recycled CG for
        SPD-looking matrices, GCRO-DR otherwise), "gcrodr", "recycled_cg", or any
        method of `solve` (then without recycling; with preconditioner "amg" the
        hierarchy is reused as for auto). order: "auto", "input", "values",
        "features". progress: True for a bar on stderr, or a callable(done, total).
        Other options (rtol, atol, max_iterations, restart, preconditioner, device,
        precision, warm_start) apply to every system. shards: split the batch into this
        many calls run in parallel (default: one per endpoint of the client); a shard
        whose server dies is finished on another endpoint.
        """
        plan = calls.batch("Client.solve_batch", matrices, rhs, dict(
            method=method, recycle=recycle, order=order, features=features), options)
        collector = BatchCollector(plan.count, progress)
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        shards = plan.shards(shards or len(self._endpoints))
        if len(shards) == 1:
            self._run_shard(plan, shards[0], collector, deadline)
        else:
            with ThreadPoolExecutor(len(shards)) as pool:
                for done in [pool.submit(self._run_shard, plan, shard, collector, deadline)
                             for shard in shards]:
                    done.result()
        return collector.finish()

    def _run_shard(self, plan: BatchPlan, indices: list[int], collector: BatchCollector,
                   deadline: float) -> None:
        """Solves `indices` on one endpoint; if it becomes UNAVAILABLE (a server that
        died mid-batch), the systems it had not answered go to another endpoint."""
        endpoint = self._endpoints.pick()
        attempt = 0
        while indices:
            part = plan.part(indices)
            call, argument = endpoint.route("solve_batch", part.request)
            try:
                for decoded in call(argument, timeout=max(deadline - time.monotonic(), 0)):
                    collector.add(part, decoded)
                return
            except grpc.RpcError as err:
                indices = collector.missing(indices)
                pause = self._endpoints.retry_pause(err, attempt, deadline)
            attempt += 1
            time.sleep(pause)
            endpoint = self._endpoints.pick(avoid=endpoint)

    def transport(self, a: Any = None, b: Any = None, M: Any = None, *, X: Any = None,
                  Y: Any = None, reg: float = 1e-2, method: str = "auto",
                  tol: float | None = None, plan: str = "dense", timeout: float | None = None,
                  **options: Any) -> TransportResult:
        """Optimal transport between histograms a (n) and b (m); None means uniform.

        The cost is M (n x m), or built on the server from points X (n x d) and
        Y (m x d) with `metric` ("sqeuclidean", "euclidean", "cityblock") and `scale`
        ("none", "max", "mean"). Entropic methods minimise <P, M> + reg sum P log P to
        an L1 marginal error of `tol` (1e-9): "sinkhorn" (log-domain safe), "sinkhorn_eps"
        (epsilon scaling), "sns" (Sinkhorn-Newton-Sparse, for small reg), "exact"
        (reg ignored), or "auto". `reg_m` relaxes the marginals (unbalanced). plan:
        "dense", "sparse" (entries below plan_threshold x the largest dropped; see
        `dropped_mass`) or "none". A scipy.sparse M (with method "exact", or "auto" and
        reg=0) restricts exact transport to its stored entries: absent pairs cannot carry
        mass. Other options: max_iterations (for "exact": simplex pivots at most, the plan
        reached returned unconverged), plan_threshold, device, exact_potentials.
        Several problems in one call: `transport_batch`.
        """
        explicit = dict(X=X, Y=Y, reg=reg, method=method, tol=tol, plan=plan)
        results = self._transport("Client.transport", a, b, M, explicit, options, timeout)
        return unbatched(results, M, X)

    def transport_batch(self, a: Any = None, b: Any = None, M: Any = None, *,
                        X: Any = None, Y: Any = None, reg: float = 1e-2,
                        method: str = "auto", tol: float | None = None,
                        plan: str = "dense", timeout: float | None = None,
                        **options: Any) -> list[TransportResult]:
        """B transport problems in one call, as `transport` with a leading batch axis on
        every array (a: (B, n), b: (B, m), M: (B, n, m) or X: (B, n, d), Y: (B, m, d));
        returns B results in order. Unbatched arrays give a list of one."""
        explicit = dict(X=X, Y=Y, reg=reg, method=method, tol=tol, plan=plan)
        return self._transport("Client.transport_batch", a, b, M, explicit, options, timeout)

    def _transport(self, public: str, a: Any, b: Any, M: Any, explicit: dict[str, Any],
                   options: dict[str, Any], timeout: float | None) -> list[TransportResult]:
        request = calls.transport(public, a, b, M, explicit, options)
        start = time.perf_counter()
        response = self._call("transport", request, timeout)
        return results_from_proto(response, time.perf_counter() - start)

    def sequence(self, *, method: str = "sor", tuner: str | None = None,
                 omega: float | None = None, state: bytes | None = None,
                 stream: bool = False, **options: Any) -> Sequence:
        """A sequence of related systems (see solverd.sequence): SOR / SSOR-CG whose omega
        a tuner learns, a recycling method ("gcrodr", "recycled-cg") that carries
        its Krylov recycle space from each system to the next, or method="auto" with
        tuner="tsallis-inf" and stream=True: AUTO learning which configuration (direct,
        AMG reused or rebuilt, recycling) is fastest along the stream. With stream=True
        any method may go without a tuner: the server keeps the AMG hierarchy from
        system to system and, when the same A object is solved again, its LU factors.

        tuner: "tsallis-inf", "chebcb" (send `context=` with each solve), or None with a
        fixed `omega`. state: a saved `Sequence.state` to resume from. Other options
        (cap, seed, context_range, recycle, rtol, atol, ...) apply to every solve.
        """
        cls = StreamSequence if stream else Sequence
        return cls(self, method=method, tuner=tuner, omega=omega, state=state, **options)

    def complete(self, rows: Any, cols: Any = None, vals: Any = None, shape: Any = None,
                 rank: int = 10, *, timeout: float | None = None,
                 **options: Any) -> CompletionResult:
        """Low-rank completion of an m x n matrix from observed entries: COO arrays
        (rows, cols, vals) with `shape`, or one scipy.sparse matrix whose stored entries
        are the observations. Returns `.U` (m x k), `.V` (n x k), `.predict(rows, cols)`,
        `.history` (per-round train / holdout RMSE and seconds), `.converged`.

        method: "altmin" (spectral start, alternating ridge least squares; row_solver
        "exact" or "sketch" as in Gu et al. 2024) or "softimpute_als" (Hastie et al.
        2015; reg is its nuclear-norm lambda). reg: altmin's ridge per row, times the
        row's entry count; unset, the server picks it among 0, 1e-2 and 1e-1 times the
        values' RMS on a held-out tenth (`.reg` says which). center: "none", "global" or
        "biases" (ratings). Stops when the observed RMSE changes by at most tol in a
        round (1e-5) or falls to atol x the values' RMS (1e-12). holdout: fraction of
        entries held out for a holdout RMSE; test=(rows, cols, vals) instead;
        predict=(rows, cols) returns estimates in `.predictions`. Other options:
        bias_reg, max_iterations, seed, sketch_size, sketch_steps, device.
        """
        request = calls.complete("Client.complete", rows, cols, vals, shape, rank, options)
        start = time.perf_counter()
        response = self._call("complete", request, timeout)
        return result_from_proto(response, time.perf_counter() - start)

    def lasso(self, X: Any, y: Any, alpha: float, **options: Any) -> RegressionResult:
        """min (1/2n) ||y - X w - b||^2 + alpha ||w||_1 (scikit-learn's Lasso scaling)."""
        return self.fit_regression(X, y, alpha, loss="squared", l1_ratio=1.0,
                                   _public="Client.lasso", **options)

    def elastic_net(self, X: Any, y: Any, alpha: float, l1_ratio: float = 0.5,
                    **options: Any) -> RegressionResult:
        """min (1/2n) ||y - X w - b||^2 + alpha (l1_ratio ||w||_1
        + (1 - l1_ratio)/2 ||w||^2) (scikit-learn's ElasticNet scaling)."""
        return self.fit_regression(X, y, alpha, loss="squared", l1_ratio=l1_ratio,
                                   _public="Client.elastic_net", **options)

    def logistic_l1(self, X: Any, y: Any, alpha: float, **options: Any) -> RegressionResult:
        """min (1/n) sum log(1 + exp(-y_i (x_i.w + b))) + alpha ||w||_1, y with two
        classes (the larger is +1); scikit-learn's C is 1 / (alpha n)."""
        return self.fit_regression(X, y, alpha, loss="logistic",
                                   _public="Client.logistic_l1", **options)

    def fit_regression(self, X: Any, y: Any, alpha: float, *, timeout: float | None = None,
                       _public: str = "Client.fit_regression",
                       **options: Any) -> RegressionResult:
        """One sparse regression fit (SparseRegression.Fit). X dense or scipy.sparse.
        Options: loss ("squared", "logistic"), l1_ratio, fit_intercept, feature_weights,
        tol (relative duality gap, 1e-6), max_iterations, coef_init, coef_format
        ("dense", "sparse"), device. The result carries the certificate (primal, dual,
        gap, relative_gap, kkt_violation) and `converged`."""
        request = calls.fit(_public, X, y, alpha, options)
        start = time.perf_counter()
        response = self._call("fit", request, timeout)
        return regression_result(response, time.perf_counter() - start, X.shape[1])

    def lasso_path(self, X: Any, y: Any, *, alphas: Any = None, n_alphas: int = 100,
                   eps: float = 1e-3, timeout: float | None = None,
                   **options: Any) -> list[RegressionResult]:
        """Solutions for decreasing alphas (given, or n_alphas log-spaced from alpha_max
        to eps alpha_max), warm-started along the path, streamed as each is solved; the
        same options as fit_regression (loss="logistic" or l1_ratio < 1 give the other
        paths)."""
        return list(self.iter_path(X, y, alphas=alphas, n_alphas=n_alphas, eps=eps,
                                   timeout=timeout, **options))

    def iter_path(self, X: Any, y: Any, *, alphas: Any = None, n_alphas: int = 100,
                  eps: float = 1e-3, timeout: float | None = None,
                  **options: Any) -> Any:
        """lasso_path as a generator: each alpha's result as soon as the server sends it."""
        request = calls.path("Client.lasso_path", X, y,
                             dict(alphas=alphas, n_alphas=n_alphas, eps=eps), options)
        start = time.perf_counter()
        try:
            call, argument = self._pick().route("fit_path", request)
            for decoded in call(argument, timeout=self.timeout if timeout is None
                                else timeout):
                yield regression_result(decoded, time.perf_counter() - start, X.shape[1])
        except grpc.RpcError as err:
            raise from_rpc_error(err) from None

    def info(self, *, timeout: float | None = None) -> ServerInfo:
        """Version, backends (GPU name and memory if any) and limits of the server."""
        return ServerInfo.from_proto(self._call("get_info", info_pb2.GetInfoRequest(),
                                                timeout))

    def _call(self, name: str, request: object, timeout: float | None) -> Any:
        seconds = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + seconds
        endpoint = self._endpoints.pick()
        attempt = 0
        chunks = False
        while True:
            call, argument = endpoint.route(name, request, chunks)
            try:
                return call(argument, timeout=max(deadline - time.monotonic(), 0.0))
            except grpc.RpcError as err:
                if not chunks and too_large(err, name, request):
                    chunks = True  # the server's limit is below our threshold: stream it
                    continue
                sent_chunks = call is endpoint.calls.get(f"{name}_chunked")
                if sent_chunks and endpoint.smaller_chunks(err):
                    continue  # the server's limit is below our chunks: smaller ones
                try:
                    pause = self._endpoints.retry_pause(err, attempt, deadline)
                except DeadlineExceeded as late:
                    raise DeadlineExceeded(
                        f"{late} after the call's timeout of {seconds:g} s: pass timeout= "
                        f"to this call, or Client(..., timeout=) for every call",
                        code=late.code) from None
            attempt += 1
            time.sleep(pause)
            endpoint = self._endpoints.pick(avoid=endpoint)

    def __deepcopy__(self, memo: dict[int, Any]) -> Client:
        # A connection is shared, not copied: scikit-learn's clone() deep-copies the
        # parameters of estimators that hold a Client.
        return self

    def close(self) -> None:
        for endpoint in self._endpoints.all:
            endpoint.channel.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = ["Client", "SolverdError"]
