"""Load: many concurrent clients for a fixed time, a mix of tiny and medium solves.

Starts a CPU server (or uses --target), runs --clients concurrent callers (asyncio
tasks over a few channels, requests serialized once) for --seconds, and prints per
class the requests/s, p50/p99 latency and the status codes. RESOURCE_EXHAUSTED is
deliberate shedding (bounded queue); any other non-OK code is an error.

    python bench/load.py [--clients 64] [--seconds 20] [--medium 0.02] [--target host:port]

Targets (issue 8, 2 cores, client and server on the same machine): >= 1,500 tiny
solves/s, tiny p99 < 20 ms, no errors other than shedding.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import random
import sys
import time
from pathlib import Path

import grpc
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from solverd.channels import SOLVE, channel_options
from solverd.requests import solve_request

from conftest import start_server
from problems import poisson_2d


def _requests() -> dict[str, bytes]:
    tiny = poisson_2d(5)  # n = 25: what a caller inside an optimisation loop sends
    medium = poisson_2d(60)  # n = 3,600: tens of milliseconds of CG
    return {
        "tiny": solve_request(tiny, np.ones(25), method="cg", rtol=1e-8).serialize(),
        "medium": solve_request(medium, np.ones(3600), method="cg", rtol=1e-8).serialize(),
    }


async def _caller(channel: grpc.aio.Channel, payloads: dict[str, bytes], medium: float,
                  stop_at: float, seed: int, out: dict[str, list]) -> None:
    call = channel.unary_unary(SOLVE.path, request_serializer=None,
                               response_deserializer=None)
    rng = random.Random(seed)
    while time.perf_counter() < stop_at:
        kind = "medium" if rng.random() < medium else "tiny"
        start = time.perf_counter()
        try:
            await call(payloads[kind], timeout=30)
            code = "OK"
        except grpc.aio.AioRpcError as err:
            code = err.code().name
            if code == "RESOURCE_EXHAUSTED":
                await asyncio.sleep(0.005)
        out[kind].append((time.perf_counter() - start, code))


async def _run(target: str, clients: int, seconds: float, medium: float,
               channels: int) -> dict[str, list]:
    payloads = _requests()
    opened = [grpc.aio.insecure_channel(target, options=channel_options(64 << 20))
              for _ in range(channels)]
    out: dict[str, list] = {"tiny": [], "medium": []}
    # Warm up: connections, the server's first-call imports.
    await asyncio.gather(*(_caller(opened[i % channels], payloads, medium,
                                   time.perf_counter() + 1.0, i, {"tiny": [], "medium": []})
                           for i in range(clients)))
    stop_at = time.perf_counter() + seconds
    await asyncio.gather(*(_caller(opened[i % channels], payloads, medium, stop_at, 1000 + i,
                                   out) for i in range(clients)))
    for c in opened:
        await c.close()
    return out


def _report(out: dict[str, list], seconds: float) -> None:
    print(f"{'class':>7} {'requests':>9} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8}  codes")
    for kind, samples in out.items():
        if not samples:
            continue
        ok = np.array([t for t, c in samples if c == "OK"]) * 1e3
        codes = collections.Counter(c for _, c in samples)
        p50, p99 = (np.percentile(ok, [50, 99]) if ok.size else (float("nan"),) * 2)
        print(f"{kind:>7} {len(samples):9d} {ok.size / seconds:8.0f} {p50:8.2f} {p99:8.2f}  "
              f"{dict(codes)}")
    errors = sum(c not in ("OK", "RESOURCE_EXHAUSTED") for s in out.values() for _, c in s)
    print(f"errors other than shedding: {errors}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--medium", type=float, default=0.02,
                        help="fraction of medium solves (default 0.02)")
    parser.add_argument("--channels", type=int, default=4)
    parser.add_argument("--target", help="a running server; default: start one")
    parser.add_argument("--server-args", default="", help="extra flags for the server")
    args = parser.parse_args()
    server = None
    target = args.target
    if target is None:
        server = start_server("--backend", "cpu", *args.server_args.split())
        target = server.address
    try:
        out = asyncio.run(_run(target, args.clients, args.seconds, args.medium, args.channels))
    finally:
        if server is not None:
            server.stop()
    print(f"{args.clients} clients, {args.seconds:.0f} s, medium fraction {args.medium}, "
          f"target {target}")
    _report(out, args.seconds)


if __name__ == "__main__":
    main()
