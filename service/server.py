"""Assembles the grpc.aio server: services, health, reflection, metrics, shutdown."""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
import sys
import time
import warnings
from collections.abc import Callable

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio

import solvers
from service import reflection
from service.admission import Admission
from service.auth import TokenInterceptor, server_credentials
from service.completion import MatrixCompletionServicer
from service.config import ServerConfig
from service.info import ServerInfoServicer
from service.linear import LinearSolverServicer
from service.metrics import start_metrics_server
from service.pool import WorkPool
from service.registry import add_service
from service.regression import SparseRegressionServicer
from service.transport import TransportServicer
from service.version import VERSION
from solverd.channels import STREAM_WINDOW_BYTES
from solverd.v1 import completion_pb2, info_pb2, linear_pb2, regression_pb2, transport_pb2
from solvers.backend import gpu_status

log = logging.getLogger("solverd")

SERVICES = (
    linear_pb2.DESCRIPTOR.services_by_name["LinearSolver"].full_name,
    info_pb2.DESCRIPTOR.services_by_name["ServerInfo"].full_name,
    transport_pb2.DESCRIPTOR.services_by_name["Transport"].full_name,
    completion_pb2.DESCRIPTOR.services_by_name["MatrixCompletion"].full_name,
    regression_pb2.DESCRIPTOR.services_by_name["SparseRegression"].full_name,
)


# The health name a liveness probe asks for: SERVING while the event loop answers.
LIVENESS = "solverd.liveness"


def build_pools(config: ServerConfig, cpu_workers: int) -> dict[str, WorkPool]:
    pools = {"cpu": WorkPool("cpu", cpu_workers, config.limits.max_queue)}
    gpu = gpu_status() if config.allow_gpu else None
    if config.backend == "gpu" and not (gpu and gpu.available):
        raise SystemExit(f"--backend gpu, but {gpu.reason if gpu else 'GPU disabled'}")
    if gpu is not None and gpu.available:
        pools["gpu"] = WorkPool("gpu", config.gpu_workers, config.limits.max_queue)
    return pools


class SolverdServer:
    """One replica. `start()` binds and serves; `stop()` drains: health turns
    NOT_SERVING first, new calls are refused, in-flight calls get the grace period."""

    def __init__(self, config: ServerConfig, cpu_workers: int, blas_threads: int) -> None:
        self.config = config
        self.pools = build_pools(config, cpu_workers)

        limit = config.limits.max_message_bytes
        options: list[tuple[str, int]] = [
            ("grpc.max_receive_message_length", limit),
            ("grpc.max_send_message_length", limit),
            ("grpc.http2.lookahead_bytes", STREAM_WINDOW_BYTES),
            # gRPC sets SO_REUSEPORT by default on Linux: a second server on a port in use
            # started without error and took part of the traffic. Only --processes
            # shares a port on purpose.
            ("grpc.so_reuseport", 1 if config.processes > 1 else 0),
        ]
        if config.max_connection_age_seconds > 0:
            age_ms = int(config.max_connection_age_seconds * 1000)
            options += [("grpc.max_connection_age_ms", age_ms),
                        ("grpc.max_connection_age_grace_ms",
                         int(config.limits.max_solve_seconds * 1000))]
        # Beyond max_inflight solver calls the admission answers RESOURCE_EXHAUSTED before
        # any handler runs: the backlog, and so the latency of admitted calls, stays
        # bounded; health and reflection are not counted and never refused.
        self.admission = Admission(config.limits.max_inflight)
        from service import rpc

        rpc.ACCESS_LOG_SAMPLE = min(max(config.access_log_sample, 0.0), 1.0)
        interceptors: list[grpc.aio.ServerInterceptor] = (
            [TokenInterceptor(config.auth_token)] if config.auth_token else [])
        interceptors.append(self.admission)
        self.credentials = server_credentials(config)
        self.server = grpc.aio.server(options=options, interceptors=interceptors)
        add_service(self.server, linear_pb2.DESCRIPTOR.services_by_name["LinearSolver"],
                    LinearSolverServicer(config, self.pools), config.limits)
        add_service(self.server, transport_pb2.DESCRIPTOR.services_by_name["Transport"],
                    TransportServicer(config, self.pools), config.limits)
        add_service(self.server, completion_pb2.DESCRIPTOR.services_by_name["MatrixCompletion"],
                    MatrixCompletionServicer(config, self.pools), config.limits)
        add_service(self.server, regression_pb2.DESCRIPTOR.services_by_name["SparseRegression"],
                    SparseRegressionServicer(config, self.pools), config.limits)
        add_service(self.server, info_pb2.DESCRIPTOR.services_by_name["ServerInfo"],
                    ServerInfoServicer(config, self.pools, blas_threads), config.limits)
        self.health = health_aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        reflection.enable(
            self.server, (*SERVICES, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name))
        self.port = 0
        self.metrics_port = 0

    async def start(self) -> None:
        # NumPy's RuntimeWarnings (divide by zero, overflow) come from the values callers
        # send; the solvers detect those states and report them in the answer. In the
        # server's log they were noise no operator can act on.
        warnings.filterwarnings("ignore", category=RuntimeWarning,
                                module=r"(solvers|numpy|scipy|pyamg)(\.|$)")
        # Before the port opens: no request waits for numba compilation, and a startup
        # probe sees no SERVING until the kernels are ready.
        started = time.perf_counter()
        await asyncio.to_thread(solvers.warm_up)
        log.info("kernels ready in %.2f s", time.perf_counter() - started)
        # What start-up made (modules, numba's compiled kernels, protobuf descriptors:
        # ~10^6 objects) lives as long as the process: out of the collector's reach, a
        # full collection under load no longer walks it. Measured at 1,500 tiny
        # solves/s: full collections of 24-37 ms, each a stall every caller saw.
        gc.collect()
        gc.freeze()
        address = f"{self.config.host}:{self.config.port}"
        try:
            self.port = (self.server.add_insecure_port(address) if self.credentials is None
                         else self.server.add_secure_port(address, self.credentials))
        except RuntimeError:
            self.port = 0
        if self.port == 0:
            raise SystemExit(f"solverd: cannot listen on {address} (--port, SOLVERD_PORT): "
                             f"the port is in use or the address is not this machine's")
        if self.config.metrics_port >= 0:
            try:
                self.metrics_port = start_metrics_server(self.config.metrics_port,
                                                         self.config.host)
            except OSError as exc:
                raise SystemExit(f"solverd: cannot serve metrics on {self.config.host}:"
                                 f"{self.config.metrics_port} (--metrics-port, "
                                 f"SOLVERD_METRICS_PORT): {exc.strerror or exc}") from None
        await self.server.start()
        if self.config.auth_token and self.credentials is None:
            log.warning("--auth-token without --tls-cert: the token crosses the network in "
                        "clear text; serve TLS, or keep the port inside a trusted mesh")
        for name in ("", LIVENESS, *SERVICES):
            await self.health.set(name, health_pb2.HealthCheckResponse.SERVING)

    async def stop(self) -> None:
        """Drain: readiness ("" and each service) turns NOT_SERVING and new solver calls
        get UNAVAILABLE, while the server still answers health (LIVENESS stays SERVING,
        so a liveness probe does not restart a draining pod) and the calls in flight
        finish, for up to the grace period. Those still running then are cancelled:
        every solver stops within about 100 ms of it (see solvers.stopping)."""
        for name in ("", *SERVICES):
            await self.health.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
        self.admission.draining = True
        end = time.monotonic() + self.config.grace_seconds
        while self.admission.active and time.monotonic() < end:
            await asyncio.sleep(0.05)
        await self.server.stop(0)
        for pool in self.pools.values():
            pool.shutdown()


async def serve(config: ServerConfig, cpu_workers: int, blas_threads: int,
                on_stop: Callable[[], None] | None = None) -> None:
    server = SolverdServer(config, cpu_workers, blas_threads)
    await server.start()
    devices = ", ".join(f"{name} x{pool.workers}" for name, pool in server.pools.items())
    # Tests and scripts wait for this exact line. One write: with --processes every
    # process prints it to the same pipe, and print() under `python -u` writes the text
    # and its newline apart, so two ready lines could merge into one.
    metrics = f" :{server.metrics_port}" if config.metrics_port >= 0 else " off"
    sys.stdout.write(f"solverd {VERSION} serving on {config.host}:{server.port} "
                     f"metrics{metrics} workers [{devices}] "
                     f"blas_threads {blas_threads}\n")
    sys.stdout.flush()
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    await stopping.wait()
    if on_stop is not None:
        on_stop()
    log.info("draining: health NOT_SERVING, grace %.1f s", config.grace_seconds)
    await server.stop()
