"""`solverd serve`: the console entry point.

BLAS threads are pinned to the CPU quota here, before anything imports NumPy.
"""

from __future__ import annotations

import asyncio
import logging
import sys

from service.config import build_parser, config_from_args
from service.cpu import cpu_quota, pin_blas_threads


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    config = config_from_args(args)
    quota = cpu_quota()
    blas_threads = config.blas_threads or quota
    pin_blas_threads(blas_threads)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from service.server import serve  # imports NumPy: only after pinning

    asyncio.run(serve(config, config.cpu_workers or quota, blas_threads))


if __name__ == "__main__":
    main()
