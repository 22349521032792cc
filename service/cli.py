"""`solverd serve`: the console entry point.

BLAS threads are pinned to the CPU quota here, before anything imports NumPy.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import dataclasses
import functools
import logging
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Callable

from service.config import build_parser, config_from_args
from service.cpu import cpu_quota, default_blas_threads, pin_blas_threads


def _fork_processes(count: int) -> tuple[int, list[int]]:
    """Forks count - 1 children before gRPC or NumPy start any thread; returns this
    process's index and, in the parent (index 0), the children's pids."""
    children = []
    for index in range(1, count):
        pid = os.fork()
        if pid == 0:
            return index, []
        children.append(pid)
    atexit.register(lambda: [os.waitpid(pid, 0) for pid in children])
    return 0, children


def _signal_all(pids: list[int]) -> None:
    """The parent passes its SIGTERM/SIGINT on: every process drains its own calls."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)


def writable_numba_cache(writable: Callable[[str], bool] = lambda path: os.access(path, os.W_OK)
                         ) -> None:
    """The image compiles the numba kernels into NUMBA_CACHE_DIR at build; a pod's root
    filesystem is read-only, and numba refuses a cache it cannot write (compiling every
    kernel again, 13-27 s). A read-only cache is copied to the temporary directory (an
    emptyDir in the manifests) and used from there. Before numba is imported."""
    cache = os.environ.get("NUMBA_CACHE_DIR")
    if not cache or not os.path.isdir(cache) or writable(cache):
        return
    target = os.path.join(tempfile.gettempdir(), "solverd-numba")
    if not os.path.exists(target):
        shutil.copytree(cache, target)
    os.environ["NUMBA_CACHE_DIR"] = target


def main(argv: list[str] | None = None) -> None:
    writable_numba_cache()
    args = build_parser().parse_args(argv)
    config = config_from_args(args)
    quota = cpu_quota()
    children: list[int] = []
    if config.processes > 1:
        # Several processes on one port (SO_REUSEPORT, gRPC's default on Linux): the
        # kernel spreads connections over them, and each has its own GIL and event
        # loop. Each gets its share of the CPU quota and metrics port + index.
        if config.port == 0:
            raise SystemExit("--processes > 1 needs a fixed --port")
        index, children = _fork_processes(config.processes)
        quota = max(1, quota // config.processes)
        if config.metrics_port > 0:
            config = dataclasses.replace(config, metrics_port=config.metrics_port + index)
    workers = config.cpu_workers or quota
    blas_threads = config.blas_threads or default_blas_threads(quota, workers)
    pin_blas_threads(blas_threads)
    from solverd.allocator import tune_allocator

    tune_allocator(config.malloc_retain_mib * 1024 * 1024)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from service.server import serve  # imports NumPy: only after pinning

    asyncio.run(serve(config, workers, blas_threads,
                      on_stop=functools.partial(_signal_all, children)))


if __name__ == "__main__":
    main()
