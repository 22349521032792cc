"""Large payloads: one unary message vs a client stream of chunks (chunks.proto).

Times a CG solve of a tridiagonal system (a cheap solve, so transfer dominates) by
both routes at several sizes against one local server, medians of --repeat runs,
and prints the ratio. `--big` also round-trips a problem of more than 2 GiB (beyond
what one protobuf message can hold), which needs about 8 GiB of free memory.

    python bench/payload.py [--repeat 5] [--big]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from solverd import Client

from conftest import start_server
from problems import wide_band

NEVER = 1 << 40


def tridiagonal(n: int) -> sp.csr_matrix:
    return sp.diags([-np.ones(n - 1), 4 * np.ones(n), -np.ones(n - 1)], [-1, 0, 1],
                    format="csr")


def timed(client: Client, a: sp.csr_matrix, b: np.ndarray, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        result = client.solve(a, b, method="cg", rtol=1e-8, timeout=600)
        times.append(time.perf_counter() - start)
        assert result.converged
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--big", action="store_true")
    args = parser.parse_args()
    server = start_server("--backend", "cpu", "--max-message-bytes", str(1 << 30))
    try:
        unary = Client(server.address, chunk_threshold=NEVER, max_message_bytes=1 << 30)
        chunked = Client(server.address, chunk_threshold=0)
        print(f"{'payload MiB':>12} {'unary s':>9} {'chunked s':>10} {'unary/chunked':>14}")
        for n in (100_000, 300_000, 1_000_000, 3_000_000, 8_000_000):
            a = tridiagonal(n)
            b = np.ones(n)
            mib = (a.data.nbytes + a.indices.nbytes + a.indptr.nbytes + b.nbytes) / 2**20
            t_unary = timed(unary, a, b, args.repeat)
            t_chunked = timed(chunked, a, b, args.repeat)
            print(f"{mib:12.1f} {t_unary:9.3f} {t_chunked:10.3f} {t_unary / t_chunked:14.2f}")
        if args.big:
            a = wide_band(1_000_000, 90)
            b = np.random.default_rng(0).standard_normal(a.shape[0])
            gib = (a.data.nbytes + a.indices.nbytes + a.indptr.nbytes + b.nbytes) / 2**30
            start = time.perf_counter()
            result = chunked.solve(a, b, method="cg", rtol=1e-8, timeout=600)
            seconds = time.perf_counter() - start
            residual = np.linalg.norm(a @ result.x - b) / np.linalg.norm(b)
            print(f"big: {gib:.2f} GiB request, converged {result.converged} in "
                  f"{result.iterations} iterations, relative residual {residual:.1e}, "
                  f"round trip {seconds:.1f} s (decode {result.info.decode_seconds:.1f} s, "
                  f"compute {result.info.compute_seconds:.1f} s)")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
