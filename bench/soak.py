"""Soak: the server's memory under a long run of mixed calls (issue 27).

    python bench/soak.py [--calls 20000] [--every 1000] [--threads 4]

20,000 calls spread over every family and over what goes wrong in production: valid
calls (Solve, SolveBatch, a SolveSequence stream, Transport, Complete, Fit), invalid
ones (INVALID_ARGUMENT), oversize ones (over --max-message-bytes), chunked uploads,
lying chunk streams (more bytes than declared), calls cancelled mid-solve and calls
whose deadline expires. The server's RSS is sampled every 1,000 calls and printed
as a curve; after the warm-up (the first 20%) it must stay within 10% of its level
there.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import grpc  # noqa: E402
import numpy as np  # noqa: E402

from solverd import Client  # noqa: E402
from solverd.requests import solve_request  # noqa: E402

from conftest import chunk_data, chunk_header, start_server  # noqa: E402
from problems import poisson_2d  # noqa: E402

MIB = 1 << 20


class Calls:
    """One call of each kind; `run(i)` makes the i-th of the mix."""

    def __init__(self, address: str) -> None:
        rng = np.random.default_rng(0)
        self.address = address
        self.client = Client(address, retries=0, timeout=30)
        self.chunked = Client(address, retries=0, timeout=30, chunk_threshold=0)
        self.a = poisson_2d(40)
        self.b = rng.standard_normal(self.a.shape[0])
        self.big = poisson_2d(300)  # slow enough to cancel or expire mid-solve
        self.M = rng.random((80, 60))
        cells = np.unique(rng.integers(0, 200 * 150, 3000))
        self.obs = (cells // 150, cells % 150, rng.standard_normal(cells.size))
        self.X = rng.standard_normal((200, 400))
        self.y = self.X[:, :5] @ np.ones(5) + 0.1 * rng.standard_normal(200)
        self.channel = grpc.insecure_channel(address, options=[
            ("grpc.max_send_message_length", 64 * MIB)])
        self.raw_solve = self.channel.unary_unary("/solverd.v1.LinearSolver/Solve",
                                                  request_serializer=lambda m: m,
                                                  response_deserializer=lambda m: m)
        self.raw_chunked = self.channel.stream_unary("/solverd.v1.LinearSolver/SolveChunked",
                                                     request_serializer=lambda m: m,
                                                     response_deserializer=lambda m: m)
        self.oversize = solve_request(poisson_2d(10), np.ones(3 * MIB)).serialize()
        self.invalid = solve_request(poisson_2d(10), np.ones(50_000)).serialize()
        request = solve_request(poisson_2d(10), np.ones(100))
        request.message.b.ClearField("data")
        self.lying = [chunk_header(request, [("b", 4 * MIB)]),
                      *[chunk_data(0, b"\0" * MIB)] * 4, chunk_data(0, b"12345678")]
        self.kinds = [self.solve, self.batch, self.sequence, self.transport, self.complete,
                      self.fit, self.invalid_call, self.oversize_call, self.chunked_call,
                      self.lying_call, self.cancelled, self.expired]

    def run(self, i: int) -> str:
        kind = self.kinds[i % len(self.kinds)]
        try:
            kind()
            return "ok"
        except grpc.RpcError as err:
            return err.code().name
        except Exception as exc:  # the client's typed errors carry the status
            return type(exc).__name__

    def solve(self) -> None:
        self.client.solve(self.a, self.b, method="cg")

    def batch(self) -> None:
        self.client.solve_batch(self.a, np.stack([self.b, 2 * self.b]), method="cg")

    def sequence(self) -> None:
        with self.client.sequence(method="gcrodr", stream=True) as seq:
            for k in range(3):
                seq.solve(self.a, self.b * (k + 1))

    def transport(self) -> None:
        self.client.transport(None, None, self.M, reg=0.05)

    def complete(self) -> None:
        self.client.complete(*self.obs, (200, 150), rank=3, max_iterations=10)

    def fit(self) -> None:
        self.client.lasso(self.X, self.y, 0.05)

    def invalid_call(self) -> None:
        self.raw_solve(self.invalid, timeout=30)

    def oversize_call(self) -> None:
        self.raw_solve(self.oversize, timeout=30)

    def chunked_call(self) -> None:
        self.chunked.solve(self.a, self.b, method="cg")

    def lying_call(self) -> None:
        self.raw_chunked(iter(self.lying), timeout=30)

    def cancelled(self) -> None:
        future = self.raw_solve.future(solve_request(self.big, np.ones(self.big.shape[0]),
                                                     method="cg", rtol=1e-14
                                                     ).serialize(), timeout=30)
        time.sleep(0.02)
        future.cancel()

    def expired(self) -> None:
        self.client.solve(self.big, np.ones(self.big.shape[0]), method="cg", rtol=1e-14,
                          timeout=0.05)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--every", type=int, default=1_000)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args()
    server = start_server("--backend", "cpu", "--max-message-bytes", str(2 * MIB))
    try:
        calls = Calls(server.address)
        counts: dict[str, int] = {}
        lock = threading.Lock()
        curve = [(0, server.rss_bytes() / MIB)]
        print(f"calls      RSS MiB   ({len(calls.kinds)} kinds in turn, {args.threads} threads)",
              flush=True)
        print(f"{0:>6d} {curve[0][1]:9.1f}", flush=True)
        start = time.perf_counter()
        with ThreadPoolExecutor(args.threads) as pool:
            done = 0
            while done < args.calls:
                size = min(args.every, args.calls - done)
                for outcome in pool.map(calls.run, range(done, done + size)):
                    with lock:
                        counts[outcome] = counts.get(outcome, 0) + 1
                done += size
                curve.append((done, server.rss_bytes() / MIB))
                print(f"{done:>6d} {curve[-1][1]:9.1f}", flush=True)
        seconds = time.perf_counter() - start
        settled = [r for n, r in curve if n >= 0.2 * args.calls]
        base = settled[0]
        drift = max(abs(r - base) for r in settled) / base
        print(f"{args.calls} calls in {seconds:.0f} s; outcomes {dict(sorted(counts.items()))}")
        print(f"after warm-up ({int(0.2 * args.calls)} calls): RSS {base:.0f} MiB, largest "
              f"departure {100 * drift:.1f}% (target: within 10%), median "
              f"{statistics.median(settled):.0f} MiB")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
