"""What the gRPC round trip costs: in-process solve vs the same solve through solverd.

CSR system: 5-point Poisson on a 450 x 450 grid (n = 202,500, ~1.01M nonzeros),
exactly 200 CG iterations. Also SciPy's own CG on the same system (the peer a
user would otherwise embed), and the Tensor codec's throughput.

    python bench/overhead.py [--repeats 7] [--grid 450] [--iterations 200]

Targets (issue 2): RPC overhead <= 15% of the in-process solve; codec >= 1 GB/s.
Runs are interleaved and the median is reported: the machine is noisy.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from service.cpu import (  # noqa: E402  (before NumPy: pins BLAS)
    cpu_quota,
    default_blas_threads,
    pin_blas_threads,
)

# The same BLAS threads as the server's default, so both solves run alike.
BLAS_THREADS = default_blas_threads(cpu_quota(), cpu_quota())
pin_blas_threads(BLAS_THREADS)

import numpy as np  # noqa: E402
import scipy.sparse.linalg as spla  # noqa: E402

from solverd import Client, tune_allocator  # noqa: E402
from solverd.tensors import from_tensor  # noqa: E402
from solverd.v1 import linear_pb2  # noqa: E402
from solverd.wire import WireMessage, decode  # noqa: E402
from solvers.linear import solve  # noqa: E402

from conftest import start_server  # noqa: E402
from problems import poisson_2d  # noqa: E402


def codec_throughput(n: int, repeats: int) -> tuple[float, float, float]:
    """GB/s of the paths the service uses for a request's array: the client's encode
    (array -> serialized request, solverd.wire) and the server's decode (bytes ->
    parsed request -> array view, solverd.wire.decode), and of both together."""
    a = np.random.default_rng(0).standard_normal(n)
    enc, dec = [], []
    for _ in range(repeats):
        t = time.perf_counter()
        message = WireMessage(linear_pb2.SolveRequest())
        message.set_tensor("b", a)
        wire = message.serialize()
        enc.append(time.perf_counter() - t)
        t = time.perf_counter()
        decoded = decode(wire, linear_pb2.SolveRequest)
        back = from_tensor(decoded.message.b, decoded.tensor_bytes("b", decoded.message.b))
        dec.append(time.perf_counter() - t)
        assert back.shape == a.shape and back[-1] == a[-1]
    gb = a.nbytes / 1e9
    e, d = statistics.median(enc), statistics.median(dec)
    return gb / e, gb / d, gb / (e + d)


def peer_cg(device: str):
    """The solve a user would embed instead: SciPy's CG, or CuPy's (host arrays in and
    out, like solverd's in-process API, so transfers count for both)."""
    if device == "cpu":
        return lambda a, b, iters: spla.cg(a, b, rtol=1e-30, maxiter=iters)[0]
    import cupy
    import cupyx.scipy.sparse as csp
    import cupyx.scipy.sparse.linalg as cspla

    def run(a, b, iters):
        args = (csp.csr_matrix(a), cupy.asarray(b))
        try:  # CuPy >= 14 names it rtol, like SciPy
            x, _ = cspla.cg(*args, rtol=1e-30, maxiter=iters)
        except TypeError:
            x, _ = cspla.cg(*args, tol=1e-30, maxiter=iters)
        return x.get()

    return run


def measure(client: Client, a, b, iters: int, repeats: int, device: str) -> dict[str, float]:
    """Interleaved in-process / gRPC / peer solves; medians in seconds."""
    inproc, rpc, scipy_cg, parts = [], [], [], []
    peer = peer_cg(device)
    for _ in range(repeats):
        t = time.perf_counter()
        local = solve(a, b, method="cg", rtol=1e-30, maxiter=iters, device=device)
        inproc.append(time.perf_counter() - t)

        t = time.perf_counter()
        remote = client.solve(a, b, method="cg", rtol=1e-30, max_iterations=iters,
                              device=device)
        rpc.append(time.perf_counter() - t)
        i = remote.info
        parts.append((i.decode_seconds, i.queue_seconds, i.compute_seconds, i.encode_seconds))

        t = time.perf_counter()
        peer(a, b, iters)
        scipy_cg.append(time.perf_counter() - t)
        assert local.iterations == remote.iterations == iters
        if device == "cpu":
            assert np.array_equal(local.x, remote.x)
        else:  # GPU reductions need not be bitwise reproducible
            assert np.linalg.norm(local.x - remote.x) <= 1e-8 * np.linalg.norm(local.x)
    out = {"in": statistics.median(inproc), "rpc": statistics.median(rpc),
           "scipy": statistics.median(scipy_cg)}
    for k, name in enumerate(("decode", "queue", "compute", "encode")):
        out[name] = statistics.median(p[k] for p in parts)
    return out


def report(label: str, m: dict[str, float], peer: str) -> None:
    rpc_cost = m["rpc"] - m["compute"]
    end_to_end = m["rpc"] - m["in"]
    print(f"-- {label}")
    print(f"  in-process solve       {m['in'] * 1e3:8.1f} ms")
    print(f"  through gRPC           {m['rpc'] * 1e3:8.1f} ms   (server: decode "
          f"{m['decode'] * 1e3:.1f}, queue {m['queue'] * 1e3:.1f}, compute "
          f"{m['compute'] * 1e3:.1f}, encode {m['encode'] * 1e3:.1f} ms)")
    print(f"  RPC overhead           {rpc_cost * 1e3:8.1f} ms = "
          f"{100 * rpc_cost / m['in']:.1f}% of the in-process solve (target <= 15%): "
          f"round trip - server compute")
    print(f"  end to end             {end_to_end * 1e3:+8.1f} ms = "
          f"{100 * end_to_end / m['in']:+.1f}%: round trip - in-process solve (adds the "
          f"compute-speed difference between the two processes)")
    print(f"  {peer:22s} {m['scipy'] * 1e3:8.1f} ms   in-process / peer = "
          f"{m['in'] / m['scipy']:.2f}x, via gRPC / peer = {m['rpc'] / m['scipy']:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--grid", type=int, default=450)
    parser.add_argument("--iterations", type=int, default=200)
    parser.add_argument("--device", choices=["cpu", "gpu"], default="cpu",
                        help="gpu: CuPy in-process, the server on its GPU, CuPy's cg as peer")
    args = parser.parse_args()
    peer = "scipy.sparse.linalg.cg" if args.device == "cpu" else "cupyx...linalg.cg"

    a = poisson_2d(args.grid)
    b = np.random.default_rng(1).standard_normal(a.shape[0])
    print(f"system: n = {a.shape[0]:,}, nnz = {a.nnz:,}, CG x {args.iterations} iterations, "
          f"BLAS threads {BLAS_THREADS} (as the server's), device {args.device}, "
          f"repeats {args.repeats}, median of each")

    codec_default = codec_throughput(10_000_000, args.repeats)
    server = start_server("--backend", args.device)  # tunes its own allocator (the default)
    try:
        with Client(server.address) as client:
            for _ in range(2):  # warm-up: imports, CUDA context, kernel compilation
                client.solve(a, b, method="cg", rtol=1e-30, max_iterations=5,
                             device=args.device)
                solve(a, b, method="cg", rtol=1e-30, maxiter=5, device=args.device)
                peer_cg(args.device)(a, b, 5)
            default = measure(client, a, b, args.iterations, args.repeats, args.device)
            tuned_ok = tune_allocator()
            tuned = measure(client, a, b, args.iterations, args.repeats, args.device)
    finally:
        server.stop()
    codec_tuned = codec_throughput(10_000_000, args.repeats)

    report("client process with glibc's default allocator", default, peer)
    report(f"client process after solverd.tune_allocator() (applied: {tuned_ok})", tuned, peer)
    for label, (e, d, both) in (("default allocator", codec_default),
                                ("tune_allocator()", codec_tuned)):
        print(f"Tensor codec, 10M float64 (80 MB), {label}: encode {e:.2f} GB/s, decode "
              f"{d:.2f} GB/s, encode+decode {both:.2f} GB/s (target >= 1 GB/s)")


if __name__ == "__main__":
    main()
