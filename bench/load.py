"""Load: many concurrent clients for a fixed time, a mix of tiny and medium solves.

Starts a CPU server (or uses --target), runs --clients concurrent callers (asyncio
tasks over a few channels, requests serialized once) for --seconds, and prints per
class the requests/s, p50/p99 latency and the status codes. RESOURCE_EXHAUSTED is
deliberate shedding (bounded queue); any other non-OK code is an error.

    python bench/load.py [--clients 64] [--seconds 20] [--medium 0.02] [--target host:port]
                         [--rate R] [--server-args '--processes 2 --port 50997']

Two ways to load it. Closed loop (default): each caller sends its next request when
the last one returns, so the server runs saturated and requests/s is its capacity;
latency there is fixed by Little's law, clients / (requests/s) on average (64 callers
at 1,600/s wait 40 ms whatever the server does), so it says how many callers were
chosen, not how fast a request is served. Open loop (`--rate R`): the callers send
R requests/s in all on a fixed schedule, each caller's sends evenly spaced and the
callers staggered, and a request's latency counts from when it was due, not from
when it left (a caller held up by a slow answer does not hide the delay it caused:
"coordinated omission", Tene's wrk2); this is the latency a caller sees at that load.

Targets (issue 8, 2 cores, client and server on the same machine): >= 1,500 tiny
solves/s, tiny p99 < 20 ms, no errors other than shedding. Checked by

    python bench/load.py --clients 64 --seconds 15 --medium 0.02 --rate 1531 \
        --channels 16 --server-args '--processes 2 --port 50997'

(1,531/s with 2% medium = 1,500 tiny/s); bench/results/load.txt has the figures.
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
                  stop_at: float, seed: int, out: dict[str, list],
                  interval: float | None = None, offset: float = 0.0) -> None:
    """Closed loop, or with `interval` one send per interval from now + offset, each
    request timed from when it was due."""
    call = channel.unary_unary(SOLVE.path, request_serializer=None,
                               response_deserializer=None)
    rng = random.Random(seed)
    due = time.perf_counter() + offset
    while time.perf_counter() < stop_at:
        kind = "medium" if rng.random() < medium else "tiny"
        if interval is None:
            start = time.perf_counter()
        else:
            start = due
            due += interval
            wait = start - time.perf_counter()
            if wait > 0:
                await asyncio.sleep(wait)
            if start >= stop_at:
                break
        try:
            await call(payloads[kind], timeout=30)
            code = "OK"
        except grpc.aio.AioRpcError as err:
            code = err.code().name
            if code == "RESOURCE_EXHAUSTED":
                await asyncio.sleep(0.005)
        out[kind].append((time.perf_counter() - start, code))


async def _run(target: str, clients: int, seconds: float, medium: float,
               channels: int, rate: float | None) -> dict[str, list]:
    payloads = _requests()
    # Each channel its own TCP connection: channels to one target otherwise share one
    # subchannel (gRPC's global pool), and every call would reach one server process.
    own = [("grpc.use_local_subchannel_pool", 1)]
    opened = [grpc.aio.insecure_channel(target, options=channel_options(64 << 20) + own)
              for _ in range(channels)]
    out: dict[str, list] = {"tiny": [], "medium": []}
    # Warm up: connections, the server's first-call imports.
    await asyncio.gather(*(_caller(opened[i % channels], payloads, medium,
                                   time.perf_counter() + 1.0, i, {"tiny": [], "medium": []})
                           for i in range(clients)))
    stop_at = time.perf_counter() + seconds
    interval = None if rate is None else clients / rate
    await asyncio.gather(*(_caller(opened[i % channels], payloads, medium, stop_at, 1000 + i,
                                   out, interval, 0.0 if interval is None
                                   else interval * i / clients)
                           for i in range(clients)))
    for c in opened:
        await c.close()
    return out


def _report(out: dict[str, list], seconds: float) -> None:
    print(f"{'class':>7} {'requests':>9} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} "
          f"{'p99.9 ms':>9}  codes")
    for kind, samples in out.items():
        if not samples:
            continue
        ok = np.array([t for t, c in samples if c == "OK"]) * 1e3
        codes = collections.Counter(c for _, c in samples)
        p50, p99, p999 = (np.percentile(ok, [50, 99, 99.9]) if ok.size
                          else (float("nan"),) * 3)
        print(f"{kind:>7} {len(samples):9d} {ok.size / seconds:8.0f} {p50:8.2f} {p99:8.2f} "
              f"{p999:9.2f}  {dict(codes)}")
    errors = sum(c not in ("OK", "RESOURCE_EXHAUSTED") for s in out.values() for _, c in s)
    print(f"errors other than shedding: {errors}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--medium", type=float, default=0.02,
                        help="fraction of medium solves (default 0.02)")
    parser.add_argument("--channels", type=int, default=4)
    parser.add_argument("--rate", type=float, default=None,
                        help="open loop: requests/s offered in all (default: closed loop)")
    parser.add_argument("--target", help="a running server; default: start one")
    parser.add_argument("--server-args", default="", help="extra flags for the server")
    args = parser.parse_args()
    server = None
    target = args.target
    if target is None:
        server = start_server("--backend", "cpu", *args.server_args.split())
        target = server.address
    try:
        out = asyncio.run(_run(target, args.clients, args.seconds, args.medium, args.channels,
                               args.rate))
    finally:
        if server is not None:
            server.stop()
    loop = "closed loop" if args.rate is None else f"open loop at {args.rate:g} requests/s"
    print(f"{args.clients} clients, {loop}, {args.seconds:.0f} s, medium fraction "
          f"{args.medium}, target {target}")
    _report(out, args.seconds)


if __name__ == "__main__":
    main()
