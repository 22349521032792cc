"""The issues' GPU figures that the other benches do not produce, each against its peer
on the same machine and in the same run (a session with a GPU runs this through
scripts/gpu-check; --device cpu rehearses the same code on NumPy/SciPy, and
SOLVERD_FAKE_GPU=1 --device gpu on the NumPy stand-in for CuPy):

    python bench/gpu.py recycling  [--grid 1000] [--systems 10] [--only cg,gmres]
    python bench/gpu.py transport  [--points 20000]               # vs POT on CuPy
    python bench/gpu.py regression [--rows 100000] [--features 10000]  # GPU vs CPU
    python bench/gpu.py syncs      # host synchronisations per iteration (stand-in)
    python bench/gpu.py amg [--grid 1000]  # AMG-CG on the device vs CuPy CG, host PyAMG

recycling: SPD Darcy (a = exp(GRF)), f = 1, rtol 1e-8 on the true residual. Recycled CG
against the device's CG and GCRO-DR(40, 20) against its GMRES(40), from zero, carrying
the space through the sequence; products counted, each system's line printed as it
ends (a run cut short keeps them), the peer capped at --cap products a system (a
capped figure is a lower bound, marked >=). transport: uniform point clouds in 2-D,
squared Euclidean cost over its max, reg 1e-2 and 1e-3, tol 1e-9 (POT: stopThr on its
own criterion), cost <P, M> compared; POT gets M built beforehand, solverd's time
includes building it from the points. regression: Gaussian design in float32 with 50
informative features, made on the device, Lasso at alpha_max / 20 to relative gap
1e-6 on the GPU and on all of the machine's CPU cores, and cuML's Lasso where it is
installed. Device memory: the peak the memory pool handed out during solverd's solve
(a CuPy memory hook). syncs: counted on the stand-in, which runs the same code.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

# POT given CuPy arrays tries its JAX backend first, and JAX takes 75% of the GPU's
# memory at start unless told not to; nothing here uses JAX, PyTorch or TensorFlow.
for _key in ("POT_BACKEND_DISABLE_JAX", "POT_BACKEND_DISABLE_PYTORCH",
             "POT_BACKEND_DISABLE_TENSORFLOW"):
    os.environ.setdefault(_key, "1")
os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")

import gpu_lane  # noqa: E402

gpu_lane.activate(force="syncs" in sys.argv)

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


class PeakMemory:
    """Peak bytes the device's memory pool handed out during a `with` block, beyond
    what it held at the start (a CuPy memory hook; none on the CPU)."""

    def __init__(self, xp: Any) -> None:
        self.xp = xp
        self.peak = 0

    def __enter__(self) -> PeakMemory:
        if self.xp is np:
            return self
        outer = self

        class Hook(self.xp.cuda.MemoryHook):
            name = "solverd_bench_peak"

            def __init__(self) -> None:
                self.used = 0

            def malloc_postprocess(self, **kw: Any) -> None:
                self.used += kw["mem_size"]
                outer.peak = max(outer.peak, self.used)

            def free_postprocess(self, **kw: Any) -> None:
                self.used -= kw["mem_size"]

        self._hook = Hook()
        self._hook.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.xp is not np:
            self._hook.__exit__(*exc)

    def text(self) -> str:
        return "n/a on the cpu" if self.xp is np else f"{self.peak / 2**30:.2f} GiB"


class _Capped(Exception):
    pass


def _peer_krylov(name: str, mats: list, b: np.ndarray, device: str, cap: int,
                 label: str = "") -> tuple[float, int, int]:
    """The device's own GMRES(40) or CG from zero on each system: seconds, products,
    systems stopped at the cap."""
    xp, csp, spla = _modules(device)
    products, seconds, capped = 0, 0.0, 0
    b_dev = xp.asarray(b)
    for i, a in enumerate(mats):
        a_dev = csp.csr_matrix(a) if device == "gpu" else a
        count = [0]

        def matvec(v: Any, a_dev: Any = a_dev, count: list = count) -> Any:
            count[0] += 1
            if count[0] > cap:
                raise _Capped
            return a_dev @ v

        op = spla.LinearOperator(a.shape, matvec=matvec, dtype=np.float64)
        options: dict[str, Any] = {"maxiter": 10 * cap}
        if name == "gmres":
            options["restart"] = 40
        solver = getattr(spla, name)
        _sync(xp)
        start = time.perf_counter()
        x = None
        try:
            try:
                x, _ = solver(op, b_dev, rtol=RTOL, atol=0.0, **options)
            except TypeError:  # CuPy releases before SciPy's rtol rename
                x, _ = solver(op, b_dev, tol=RTOL, atol=0.0, **options)
        except _Capped:
            capped += 1
        _sync(xp)
        elapsed = time.perf_counter() - start
        seconds += elapsed
        used = min(count[0], cap)
        products += used
        note = f"capped at {cap} products" if x is None else \
            f"residual {float(xp.linalg.norm(b_dev - a_dev @ x) / xp.linalg.norm(b_dev)):.1e}"
        if label:
            print(f"    {label} system {i + 1}/{len(mats)}: {elapsed:.3f} s, {used} products, "
                  f"{note}", flush=True)
    return seconds, products, capped


def _ours_sequence(method: str, mats: list, b: np.ndarray, device: str,
                   label: str = "") -> tuple[float, int, int, PeakMemory]:
    from solvers.linear import solve

    xp = _modules(device)[0]
    space, products, setup, total = None, 0, 0, 0.0
    peak = PeakMemory(xp)
    with peak:
        for i, a in enumerate(mats):
            start = time.perf_counter()
            r = solve(a, b, method=method, rtol=RTOL, recycle_space=space, device=device)
            elapsed = time.perf_counter() - start
            total += elapsed
            products += r.matvecs
            setup += r.extra.get("recycle_setup_matvecs", 0)
            space = r.extra.get("recycle_space")
            if label:
                print(f"    {label} system {i + 1}/{len(mats)}: {elapsed:.3f} s, {r.matvecs} "
                      f"products, residual {r.residual_norm:.1e}"
                      f"{'' if r.converged else ', not converged (' + r.stop_reason + ')'}",
                      flush=True)
    return total, products, setup, peak


PAIRS = {"cg": ("cg", "recycled_cg"), "gmres": ("gmres", "gcrodr")}


def recycling(args: argparse.Namespace) -> None:
    from problems import darcy_2d, reference_random_field

    _modules(args.device)  # no device: say so before building the systems
    rng = np.random.default_rng(0)
    start = time.perf_counter()
    mats = [darcy_2d(args.grid, np.exp(reference_random_field(args.grid, rng)))
            for _ in range(args.systems)]
    b = np.ones(args.grid**2)
    print(f"recycling on {args.device}: n = {args.grid**2}, {args.systems} SPD Darcy systems, "
          f"rtol {RTOL:g}, peer capped at {args.cap} products a system (built in "
          f"{time.perf_counter() - start:.1f} s)", flush=True)
    # Untimed: compilation (numba, CuPy's kernels) and memory pools on two small systems.
    small = [darcy_2d(32, np.exp(reference_random_field(32, rng))) for _ in range(2)]
    for pair in args.only:
        peer, ours = PAIRS[pair]
        _peer_krylov(peer, small, np.ones(32 * 32), args.device, args.cap)
        _ours_sequence(ours, small, np.ones(32 * 32), args.device)
    for pair in args.only:
        peer, ours = PAIRS[pair]
        ref_seconds, ref_products, capped = _peer_krylov(peer, mats, b, args.device, args.cap,
                                                         peer)
        bound = ">=" if capped else "  "
        print(f"  {peer + ', the device library':32s} {bound}{ref_seconds:8.3f} s   "
              f"products/system {bound}{ref_products / args.systems:8.1f}"
              f"{f'   ({capped} capped)' if capped else ''}", flush=True)
        seconds, products, setup, peak = _ours_sequence(ours, mats, b, args.device, ours)
        print(f"  {ours + ', carried':32s}   {seconds:8.3f} s {seconds / ref_seconds:6.3f}x   "
              f"products/system   {products / args.systems:8.1f} "
              f"{products / ref_products:6.3f}x   (setup {setup / args.systems:.1f}; device "
              f"memory peak {peak.text()})", flush=True)


def _pot_arrays(xp: Any) -> Any:
    """The array module POT gets: the device's, except on the stand-in, where POT's
    CuPy backend would need more of CuPy than the stand-in has (the peer's figure means
    nothing there anyway)."""
    return np if gpu_lane.on_standin() else xp


def transport(args: argparse.Namespace) -> None:
    import ot

    from solvers.transport import transport as solve_transport

    backend = get_backend(args.device)
    xp = backend.xp
    pxp = _pot_arrays(xp)
    rng = np.random.default_rng(0)
    X, Y = rng.random((args.points, 2)), rng.random((args.points, 2))
    print(f"transport on {args.device}: n = m = {args.points} uniform points, max-normalised "
          f"squared Euclidean cost", flush=True)
    small = 64  # untimed: compilation and memory pools
    M = ot.dist(pxp.asarray(X[:small]), pxp.asarray(Y[:small]))
    ot.sinkhorn(pxp.full(small, 1.0 / small), pxp.full(small, 1.0 / small), M / M.max(), 1e-2)
    solve_transport(None, None, X=X[:small], Y=Y[:small], scale="max", reg=1e-2, plan="none",
                    backend=backend)
    for reg in args.regs:
        start = time.perf_counter()
        peak = PeakMemory(xp)
        with peak:
            r = solve_transport(None, None, X=X, Y=Y, scale="max", reg=reg, tol=1e-9,
                                plan="none", backend=backend)
        t_ours = time.perf_counter() - start
        print(f"  reg {reg:g}: solverd {r.method} {t_ours:.3f} s, cost {r.cost:.10e}, "
              f"converged {r.converged}, iterations {r.iterations}, device memory peak "
              f"{peak.text()} (M is {args.points**2 * 8 / 2**30:.2f} GiB)", flush=True)
        a = pxp.full(args.points, 1.0 / args.points)
        M = ot.dist(pxp.asarray(X), pxp.asarray(Y))  # POT is timed on M built beforehand
        M /= M.max()
        _sync(pxp)
        start = time.perf_counter()
        P = ot.sinkhorn(a, a, M, reg, stopThr=1e-9, numItermax=100_000)
        _sync(pxp)
        t_pot = time.perf_counter() - start
        cost_pot = float((P * M).sum())
        del P, M
        print(f"  reg {reg:g}: POT {t_pot:.3f} s, cost {cost_pot:.10e} | speedup "
              f"{t_pot / t_ours:.2f}x, cost rel diff {abs(r.cost - cost_pot) / cost_pot:.1e}",
              flush=True)


def _design(n: int, p: int, device: str) -> tuple[np.ndarray, np.ndarray, float, float]:
    """X (n x p, float32, column-major on the host), y, alpha_max and the seconds it took:
    drawn on the device when there is one (the host's generator took 16 s for half of
    10^5 x 10^4, and X @ w with a float64 w 22 s more, promoting X to float64)."""
    xp = get_backend(device).xp
    start = time.perf_counter()
    rng = xp.random.default_rng(0)
    Xt = rng.standard_normal((p, n), dtype=np.float32)  # rows of Xt: columns of X
    w = xp.zeros(p, dtype=np.float32)
    picks = np.random.default_rng(1).choice(p, 50, replace=False)
    w[xp.asarray(picks)] = rng.standard_normal(50, dtype=np.float32)
    y = w @ Xt + rng.standard_normal(n, dtype=np.float32)
    # alpha_max of the centred problem: max_j |x_j . (y - mean y)| / n.
    a_max = float(xp.abs(Xt @ (y - y.mean())).max()) / n
    if device == "gpu":
        Xt_host, y_host = Xt.get(), y.get()
    else:
        Xt_host, y_host = Xt, y
    return Xt_host.T, y_host.astype(np.float64), a_max, time.perf_counter() - start


def regression(args: argparse.Namespace) -> None:
    from solvers.regression import alpha_max, fit

    backend = get_backend(args.device)
    n, p = args.rows, args.features
    X, y, a_max, prepared = _design(n, p, args.device)
    a = a_max / 20
    print(f"regression on {args.device}: dense {n} x {p} float32 ({X.nbytes / 2**30:.1f} GiB), "
          f"Lasso at alpha_max / 20, tol 1e-6 (made in {prepared:.1f} s)", flush=True)
    results = {}
    warm = X[:500, :200]
    for b in (backend, CPU):  # untimed: compilation and memory pools
        fit(warm, y[:500], alpha_max(warm, y[:500]) / 20, backend=b)
    for label, b in ((args.device, backend), ("cpu, all cores", CPU)):
        runs = []
        peak = PeakMemory(b.xp)
        for _ in range(args.repeat):
            start = time.perf_counter()
            with peak:
                r = fit(X, y, a, tol=1e-6, backend=b)
            runs.append(time.perf_counter() - start)
        results[label] = (statistics.median(runs), r)
        print(f"  {label:16s} {results[label][0]:8.3f} s  primal {r.primal:.12e}  gap "
              f"{r.relative_gap:.1e}  support {len(r.support)}  converged {r.converged}  "
              f"device memory peak {peak.text()}", flush=True)
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


def amg(args: argparse.Namespace) -> None:
    """AMG-CG on the device (PyAMG's hierarchy moved there, a Jacobi V-cycle) against the
    device's CG without a preconditioner and PyAMG's own SA-PCG on the host."""
    import pyamg

    from solvers.linear import solve

    from problems import darcy_2d, gaussian_random_field

    xp = _modules(args.device)[0]
    rng = np.random.default_rng(0)
    start = time.perf_counter()
    a = darcy_2d(args.grid, np.exp(gaussian_random_field(args.grid, rng))).tocsr()
    b = np.ones(a.shape[0])
    print(f"amg on {args.device}: Darcy {args.grid}^2 (n = {a.shape[0]}), rtol {RTOL:g} "
          f"(built in {time.perf_counter() - start:.1f} s)", flush=True)
    small = darcy_2d(32, np.ones((32, 32))).tocsr()  # untimed: compilation and pools
    solve(small, np.ones(small.shape[0]), method="cg", preconditioner="amg", device=args.device)
    peak = PeakMemory(xp)
    start = time.perf_counter()
    with peak:
        r = solve(a, b, method="cg", preconditioner="amg", rtol=RTOL, device=args.device)
    t_ours = time.perf_counter() - start
    print(f"  solverd AMG-CG on {args.device}: {t_ours:.3f} s (setup {r.setup_seconds:.3f} s), "
          f"{r.iterations} iterations, residual {r.residual_norm:.1e}, device memory peak "
          f"{peak.text()}", flush=True)
    start = time.perf_counter()
    ml = pyamg.smoothed_aggregation_solver(a)
    residuals: list[float] = []
    ml.solve(b, tol=RTOL, accel="cg", residuals=residuals)
    t_pyamg = time.perf_counter() - start
    print(f"  PyAMG SA-PCG on the host: {t_pyamg:.3f} s, {len(residuals)} iterations | "
          f"ratio {t_ours / t_pyamg:.2f}", flush=True)
    seconds, products, capped = _peer_krylov("cg", [a], b, args.device, args.cap)
    print(f"  the device library's CG: {'>=' if capped else ''}{seconds:.3f} s, {products} "
          f"products | ratio {t_ours / seconds:.2f}", flush=True)


def _count(run: Any) -> tuple[int, int]:
    """(host syncs, iterations) of one run."""
    before = gpu_lane.host_syncs()
    iterations = run()
    return gpu_lane.host_syncs() - before, iterations


def syncs(args: argparse.Namespace) -> None:
    from solvers.backend import gpu_backend
    from solvers.linear import solve
    from solvers.transport import transport as solve_transport

    from problems import convection_diffusion_2d, darcy_2d, poisson_2d, reference_random_field

    spd, nonsym = poisson_2d(40), convection_diffusion_2d(40)
    b = np.random.default_rng(3).standard_normal(spd.shape[0])
    print("host synchronisations per iteration of the GPU loops, counted on the NumPy "
          "stand-in for CuPy (the same code; a read of device data by the host is one)")
    rows: list[tuple[str, Any]] = []
    for method, pre, a in (("cg", "none", spd), ("cg", "jacobi", spd), ("minres", "none", spd),
                           ("gmres", "none", nonsym), ("bicgstab", "none", nonsym),
                           ("bicgstab", "jacobi", nonsym), ("sor", "none", spd)):
        def run(method: str = method, pre: str = pre, a: Any = a) -> int:
            r = solve(a, b, method=method, preconditioner=pre, rtol=1e-10, device="gpu",
                      omega=1.8 if method == "sor" else 1.0)
            return r.iterations
        rows.append((f"{method} ({pre})", run))
    rng = np.random.default_rng(0)
    mats = [darcy_2d(32, np.exp(reference_random_field(32, rng))) for _ in range(3)]
    for method in ("gcrodr", "recycled_cg"):
        def run_seq(method: str = method) -> int:
            space, iterations = None, 0
            for a in mats:
                r = solve(a, np.ones(32 * 32), method=method, rtol=1e-9, device="gpu",
                          recycle_space=space)
                space, iterations = r.extra["recycle_space"], iterations + r.iterations
            return iterations
        rows.append((f"{method} (3 carried systems)", run_seq))
    X, Y = rng.random((150, 2)), rng.random((120, 2))
    for method, reg, extra, key in (("sinkhorn", 1e-2, {}, "sinkhorn"),
                                    ("sinkhorn", 1e-2, {"reg_m": 1.0}, "sinkhorn"),
                                    ("sns", 1e-3, {}, "newton")):
        def run_ot(method: str = method, reg: float = reg, extra: dict = extra,
                   key: str = key) -> int:
            r = solve_transport(None, None, X=X, Y=Y, scale="max", reg=reg, method=method,
                                plan="none", backend=gpu_backend(), **extra)
            return r.iterations[key]
        label = f"{method}{' unbalanced' if extra else ''} (per {key} step)"
        rows.append((label, run_ot))
    for label, run in rows:
        count, iterations = _count(run)
        print(f"  {label:40s} {count / max(iterations, 1):6.2f} syncs/iteration "
              f"({count} over {iterations} iterations, setup and checks included)", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", choices=("cpu", "gpu"), default="gpu")
    sub = parser.add_subparsers(dest="what", required=True)
    rec = sub.add_parser("recycling")
    rec.add_argument("--grid", type=int, default=1000)
    rec.add_argument("--systems", type=int, default=10)
    rec.add_argument("--only", type=lambda s: s.split(","), default=["cg", "gmres"])
    rec.add_argument("--cap", type=int, default=20_000, help="products a peer system may take")
    ot_ = sub.add_parser("transport")
    ot_.add_argument("--points", type=int, default=20_000)
    ot_.add_argument("--regs", type=float, nargs="+", default=[1e-2, 1e-3])
    reg = sub.add_parser("regression")
    reg.add_argument("--rows", type=int, default=100_000)
    reg.add_argument("--features", type=int, default=10_000)
    reg.add_argument("--repeat", type=int, default=1)
    sub.add_parser("syncs")
    amg_ = sub.add_parser("amg")
    amg_.add_argument("--grid", type=int, default=1000)
    amg_.add_argument("--cap", type=int, default=20_000, help="products the peer CG may take")
    args = parser.parse_args()
    if args.what == "syncs" and not gpu_lane.on_standin():
        raise SystemExit("syncs are counted on the stand-in (tests/standin)")
    {"recycling": recycling, "transport": transport, "regression": regression,
     "syncs": syncs, "amg": amg}[args.what](args)


if __name__ == "__main__":
    main()
