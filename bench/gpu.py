"""The issues' GPU figures that the other benches do not produce, each against its peer
on the same machine and in the same run (a session with a GPU runs this through
scripts/gpu-check; --device cpu rehearses the same code on NumPy/SciPy here):

    python bench/gpu.py recycling  [--grid 1000] [--systems 100]  # issue 4: vs CuPy's GMRES/CG
    python bench/gpu.py transport  [--points 20000]               # issue 5: vs POT on CuPy
    python bench/gpu.py regression [--rows 100000] [--features 10000]  # issue 7: GPU vs CPU

recycling: SPD Darcy (a = exp(GRF)), f = 1, rtol 1e-8 on the true residual. GCRO-DR(40, 20)
against the device's GMRES(40) from zero, recycled CG against its CG, both carrying the
space through the sequence; products counted. transport: uniform point clouds in 2-D,
squared Euclidean cost over its max, reg 1e-2 and 1e-3, tol 1e-9 (POT: stopThr on its
own criterion), cost <P, M> compared; POT gets M built beforehand, solverd's time includes
building it from the points. regression: Gaussian design in float32 with 50
informative features, Lasso at alpha_max / 20 to relative gap 1e-6 on the GPU and on all
of the machine's CPU cores, and cuML's Lasso where it is installed.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from service.cpu import pin_blas_threads  # noqa: E402

if "regression" not in sys.argv:
    # The host's share of these solves is small dense algebra (Ritz problems of 40-80
    # rows), where BLAS threads cost milliseconds a call in synchronisation: measured
    # here, an 80 x 80 eigh took 0.56 ms on one thread and 6.8 ms on two. The regression
    # comparison wants every core for its CPU run.
    pin_blas_threads(1)

import numpy as np  # noqa: E402
import scipy.sparse as sp  # noqa: E402

from solvers.backend import CPU, get_backend  # noqa: E402

RTOL = 1e-8


def _modules(device: str) -> tuple[Any, Any, Any]:
    """(array module, sparse module, sparse.linalg module) of the device."""
    if device == "gpu":
        import cupy
        import cupyx.scipy.sparse as csp
        import cupyx.scipy.sparse.linalg as cspla

        return cupy, csp, cspla
    import scipy.sparse.linalg as spla

    return np, sp, spla


def _sync(xp: Any) -> None:
    if xp is not np:
        xp.cuda.get_current_stream().synchronize()


def _peer_krylov(name: str, mats: list, b: np.ndarray, device: str) -> tuple[float, int]:
    """The device's own GMRES(40) or CG from zero on each system: seconds, products."""
    xp, csp, spla = _modules(device)
    products, seconds = 0, 0.0
    b_dev = xp.asarray(b)
    for a in mats:
        a_dev = csp.csr_matrix(a) if device == "gpu" else a
        count = [0]

        def matvec(v: Any, a_dev: Any = a_dev, count: list = count) -> Any:
            count[0] += 1
            return a_dev @ v

        op = spla.LinearOperator(a.shape, matvec=matvec, dtype=np.float64)
        options: dict[str, Any] = {"maxiter": 10**5}
        if name == "gmres":
            options["restart"] = 40
        solver = getattr(spla, name)
        _sync(xp)
        start = time.perf_counter()
        try:
            x, info = solver(op, b_dev, rtol=RTOL, atol=0.0, **options)
        except TypeError:  # CuPy releases before SciPy's rtol rename
            x, info = solver(op, b_dev, tol=RTOL, atol=0.0, **options)
        _sync(xp)
        seconds += time.perf_counter() - start
        products += count[0]
        residual = float(xp.linalg.norm(b_dev - a_dev @ x) / xp.linalg.norm(b_dev))
        if residual > 1.01 * RTOL:
            print(f"  {device} {name}: a system ended at residual {residual:.1e} (info {info})")
    return seconds, products


def _ours_sequence(method: str, mats: list, b: np.ndarray, device: str) -> tuple[float, int, int]:
    from solvers.linear import solve

    space, products, setup, start = None, 0, 0, time.perf_counter()
    for a in mats:
        r = solve(a, b, method=method, rtol=RTOL, recycle_space=space, device=device)
        if not r.converged:
            print(f"  {method}: not converged ({r.stop_reason})")
        products += r.matvecs
        setup += r.extra.get("recycle_setup_matvecs", 0)
        space = r.extra.get("recycle_space")
    return time.perf_counter() - start, products, setup


def recycling(args: argparse.Namespace) -> None:
    from problems import darcy_2d, reference_random_field

    _modules(args.device)  # no device: say so before building the systems
    rng = np.random.default_rng(0)
    start = time.perf_counter()
    mats = [darcy_2d(args.grid, np.exp(reference_random_field(args.grid, rng)))
            for _ in range(args.systems)]
    b = np.ones(args.grid**2)
    print(f"recycling on {args.device}: n = {args.grid**2}, {args.systems} SPD Darcy systems, "
          f"rtol {RTOL:g} (built in {time.perf_counter() - start:.1f} s)", flush=True)
    # Untimed: compilation (numba, CuPy's kernels) and memory pools on two small systems.
    small = [darcy_2d(32, np.exp(reference_random_field(32, rng))) for _ in range(2)]
    for name in ("gmres", "cg"):
        _peer_krylov(name, small, np.ones(32 * 32), args.device)
    for method in ("gcrodr", "recycled_cg"):
        _ours_sequence(method, small, np.ones(32 * 32), args.device)
    for peer, ours in (("gmres", "gcrodr"), ("cg", "recycled_cg")):
        # Printed as each finishes: a run cut short by its time limit still says something.
        ref_seconds, ref_products = _peer_krylov(peer, mats, b, args.device)
        print(f"  {peer + ', the device library':32s} {ref_seconds:8.3f} s   products/system "
              f"{ref_products / args.systems:8.1f}", flush=True)
        seconds, products, setup = _ours_sequence(ours, mats, b, args.device)
        print(f"  {ours + ', carried':32s} {seconds:8.3f} s {seconds / ref_seconds:6.3f}x   "
              f"products/system {products / args.systems:8.1f} {products / ref_products:6.3f}x"
              f"   (setup {setup / args.systems:.1f})", flush=True)


def transport(args: argparse.Namespace) -> None:
    import ot

    from solvers.transport import transport as solve_transport

    backend = get_backend(args.device)
    xp = backend.xp
    rng = np.random.default_rng(0)
    X, Y = rng.random((args.points, 2)), rng.random((args.points, 2))
    print(f"transport on {args.device}: n = m = {args.points} uniform points, max-normalised "
          f"squared Euclidean cost", flush=True)
    small = 64  # untimed: compilation and memory pools
    M = ot.dist(xp.asarray(X[:small]), xp.asarray(Y[:small]))
    ot.sinkhorn(xp.full(small, 1.0 / small), xp.full(small, 1.0 / small), M / M.max(), 1e-2)
    solve_transport(None, None, X=X[:small], Y=Y[:small], scale="max", reg=1e-2, plan="none",
                    backend=backend)
    a = xp.full(args.points, 1.0 / args.points)
    M = ot.dist(xp.asarray(X), xp.asarray(Y))  # POT is timed on M built beforehand
    M /= M.max()
    for reg in args.regs:
        _sync(xp)
        start = time.perf_counter()
        P = ot.sinkhorn(a, a, M, reg, stopThr=1e-9, numItermax=100_000)
        _sync(xp)
        t_pot = time.perf_counter() - start
        cost_pot = float((P * M).sum())
        del P
        start = time.perf_counter()
        r = solve_transport(None, None, X=X, Y=Y, scale="max", reg=reg, tol=1e-9, plan="none",
                            backend=backend)
        t_ours = time.perf_counter() - start
        print(f"  reg {reg:g}: POT {t_pot:.3f} s, cost {cost_pot:.10e} | solverd {r.method} "
              f"{t_ours:.3f} s, cost {r.cost:.10e}, converged {r.converged} | speedup "
              f"{t_pot / t_ours:.2f}x, cost rel diff {abs(r.cost - cost_pot) / cost_pot:.1e}",
              flush=True)


def regression(args: argparse.Namespace) -> None:
    from solvers.regression import alpha_max, fit

    backend = get_backend(args.device)
    rng = np.random.default_rng(0)
    n, p = args.rows, args.features
    start = time.perf_counter()
    X = rng.standard_normal((n, p), dtype=np.float32)
    w = np.zeros(p)
    w[rng.choice(p, 50, replace=False)] = rng.standard_normal(50)
    y = X @ w + rng.standard_normal(n)
    a = alpha_max(X, y) / 20
    print(f"regression on {args.device}: dense {n} x {p} float32 ({X.nbytes / 2**30:.1f} GiB), "
          f"Lasso at alpha_max / 20, tol 1e-6 (built in {time.perf_counter() - start:.1f} s)",
          flush=True)
    results = {}
    for b in (backend, CPU):  # untimed: compilation and memory pools
        fit(X[:500, :200], y[:500], alpha_max(X[:500, :200], y[:500]) / 20, backend=b)
    for label, b in ((args.device, backend), ("cpu, all cores", CPU)):
        runs = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            r = fit(X, y, a, tol=1e-6, backend=b)
            runs.append(time.perf_counter() - start)
        results[label] = (statistics.median(runs), r)
        print(f"  {label:16s} {results[label][0]:8.3f} s  primal {r.primal:.12e}  gap "
              f"{r.relative_gap:.1e}  support {len(r.support)}  converged {r.converged}",
              flush=True)
    try:
        from cuml.linear_model import Lasso as CumlLasso  # type: ignore[import-not-found]
    except ImportError:
        print("  cuML: not installed here")
    else:
        start = time.perf_counter()
        CumlLasso(alpha=a, tol=1e-8, max_iter=10_000).fit(X, y)
        print(f"  cuML Lasso (its own tolerance) {time.perf_counter() - start:.3f} s")
    t_dev, t_cpu = results[args.device][0], results["cpu, all cores"][0]
    print(f"  {args.device} / cpu time: {t_dev / t_cpu:.3f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", choices=("cpu", "gpu"), default="gpu")
    sub = parser.add_subparsers(dest="what", required=True)
    rec = sub.add_parser("recycling")
    rec.add_argument("--grid", type=int, default=1000)
    rec.add_argument("--systems", type=int, default=100)
    ot_ = sub.add_parser("transport")
    ot_.add_argument("--points", type=int, default=20_000)
    ot_.add_argument("--regs", type=float, nargs="+", default=[1e-2, 1e-3])
    reg = sub.add_parser("regression")
    reg.add_argument("--rows", type=int, default=100_000)
    reg.add_argument("--features", type=int, default=10_000)
    reg.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    {"recycling": recycling, "transport": transport, "regression": regression}[args.what](args)


if __name__ == "__main__":
    main()
