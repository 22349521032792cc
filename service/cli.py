"""`solverd serve`: the console entry point.

BLAS threads are pinned to the CPU quota here, before anything imports NumPy.
"""

from __future__ import annotations

import asyncio
import logging
import sys

from service.config import build_parser, config_from_args
from service.cpu import cpu_quota, default_blas_threads, pin_blas_threads


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    config = config_from_args(args)
    quota = cpu_quota()
    workers = config.cpu_workers or quota
    blas_threads = config.blas_threads or default_blas_threads(quota, workers)
    pin_blas_threads(blas_threads)
    from solverd.allocator import tune_allocator

    tune_allocator(config.malloc_retain_mib * 1024 * 1024)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from service.server import serve  # imports NumPy: only after pinning

    asyncio.run(serve(config, workers, blas_threads))


if __name__ == "__main__":
    main()
