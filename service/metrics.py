"""Prometheus metrics, all prefixed solverd_, units in the names (Triton's convention)."""

from __future__ import annotations

import functools
import platform
import threading
from http.server import ThreadingHTTPServer
from typing import Any

import numpy as np
import scipy
from prometheus_client import REGISTRY, Counter, Gauge, Histogram, disable_created_metrics
from prometheus_client.exposition import MetricsHandler

from service.version import VERSION

# Each counter and histogram also exported a _created gauge, doubling the series.
disable_created_metrics()

_SECONDS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
            10.0, 30.0, 60.0, 300.0, 1800.0)
_BYTES = tuple(float(4**k) for k in range(5, 16))  # 1 KiB .. 1 GiB
_ITERATIONS = tuple(float(v) for v in (1, 3, 10, 30, 100, 300, 1000, 3000, 10_000, 30_000,
                                       100_000, 300_000, 1_000_000))

# One label vocabulary: rpc is gRPC's fully qualified method ("solverd.v1.LinearSolver/
# Solve", as gRPC's own metrics name it), backend the device ("cpu", "gpu"), method the
# family's own name ("sns", "cg", "squared"), "unknown" where the request never said
# (it failed validation first).
REQUESTS = Counter("solverd_requests", "Requests handled, each counted once, by outcome "
                   "(a streamed request: the outcome of its first answer)",
                   ["rpc", "method", "backend", "code"])
ITEMS = Counter("solverd_items", "Items answered inside a request: systems of a SolveBatch, "
                "alphas of a FitPath, messages of a SolveSequence stream",
                ["rpc", "method", "backend", "code"])
REQUEST_SECONDS = Histogram("solverd_request_duration_seconds",
                            "Time from receiving a request to answering it", ["rpc"],
                            buckets=_SECONDS)
QUEUE_SECONDS = Histogram("solverd_queue_duration_seconds",
                          "Time a request waited for a worker", ["backend"], buckets=_SECONDS)
COMPUTE_SECONDS = Histogram("solverd_compute_duration_seconds",
                            "Time spent in the solver, setup and transfers included",
                            ["rpc", "method", "backend"], buckets=_SECONDS)
ITERATIONS = Histogram("solverd_solver_iterations", "Iterations per solve (largest column)",
                       ["rpc", "method", "backend"], buckets=_ITERATIONS)
INFLIGHT = Gauge("solverd_inflight_requests", "Requests being decoded, queued or solved",
                 ["rpc"])
PAYLOAD_BYTES = Histogram("solverd_payload_bytes", "Serialized message sizes",
                          ["rpc", "direction"], buckets=_BYTES)
QUEUE_DEPTH = Gauge("solverd_queue_depth", "Requests waiting for or holding a worker",
                    ["backend"])
BUILD_INFO = Gauge("solverd_build_info", "Constant 1, labelled with the build's versions",
                   ["version", "python", "numpy", "scipy"])


@functools.lru_cache(maxsize=4096)
def child(metric: Any, *values: str) -> Any:
    """metric.labels(*values), cached: labels() takes a lock and builds a key on every
    call, a measurable share of a tiny request's time."""
    return metric.labels(*values)


class _ScrapeHandler(MetricsHandler.factory(REGISTRY)):  # type: ignore[misc]
    # A socket that sends no request within this many seconds is closed.
    timeout = 5.0

    def log_message(self, format: str, *args: Any) -> None:
        return None


class _MetricsServer(ThreadingHTTPServer):
    """prometheus_client's server opened a thread per connection and kept silent sockets
    forever (800 silent sockets: 810 threads). Here a connection gets a thread only
    while fewer than MAX_CONNECTIONS are open (more are closed at once), and one that
    stays silent is closed after the handler's timeout."""

    daemon_threads = True
    MAX_CONNECTIONS = 16

    def __init__(self, address: tuple[str, int]) -> None:
        self._slots = threading.BoundedSemaphore(self.MAX_CONNECTIONS)
        super().__init__(address, _ScrapeHandler)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()


def start_metrics_server(port: int, host: str = "0.0.0.0") -> int:
    """Serves /metrics on its own port; returns the bound port (useful with port 0)."""
    BUILD_INFO.labels(VERSION, platform.python_version(), np.__version__, scipy.__version__).set(1)
    server = _MetricsServer((host, port))
    threading.Thread(target=server.serve_forever, name="solverd-metrics", daemon=True).start()
    return int(server.server_port)

OMEGA = Histogram("solverd_tuner_omega", "Relaxation omega chosen for each tuned solve", ["tuner"],
                  buckets=tuple(round(0.05 * k, 2) for k in range(1, 40)))
TUNED_ITERATIONS = Histogram("solverd_tuner_iterations",
                             "Iterations charged to the tuner per solve (the cap when capped)",
                             ["tuner"], buckets=_ITERATIONS)
