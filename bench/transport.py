"""Optimal transport side by side with POT, in one run.

    python bench/transport.py [--quick] [--sizes 1000 2000] [--regs 1e-2 1e-3 1e-4]
                              [--repeats 3]

Uniform 2-D point clouds (seeds fixed), uniform weights, squared Euclidean cost
divided by its max, tol 1e-9, BLAS pinned to one thread. For each (n, reg): POT's
`ot.sinkhorn` (scaling domain, stopThr 1e-9 on the 2-norm of one marginal, checked
every 10 iterations) and solverd's `auto` method in-process (stabilised Sinkhorn at
1e-2, Sinkhorn-Newton-Sparse below; stops on the L1 error of both marginals, a
stricter rule). Exact transport: POT's `ot.emd2` (network simplex) against
solverd's `exact`. Medians of --repeats runs; the truth is ot.emd2's cost.
Exact rows (the network simplex) for uniform weights and for random weights
0.1 + U(0, 1), normalised, on the same cost.
--quick: n = 1000 only, one repeat (under two minutes on 2 cores). `--regs` with no
value: the exact rows only.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from service.cpu import pin_blas_threads  # noqa: E402

pin_blas_threads(1)

import numpy as np  # noqa: E402
import ot  # noqa: E402

from solvers.transport import transport  # noqa: E402

TOL = 1e-9


def instance(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X, Y = rng.random((n, 2)), rng.random((n, 2))
    M = ot.dist(X, Y)
    M /= M.max()
    return np.full(n, 1 / n), np.full(n, 1 / n), M


def timed(fn, repeats: int):  # type: ignore[no-untyped-def]
    times, out = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return out, statistics.median(times), times


def l1_errors(P: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    return float(max(np.abs(P.sum(1) - a).sum(), np.abs(P.sum(0) - b).sum()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 2000])
    parser.add_argument("--regs", type=float, nargs="*", default=[1e-2, 1e-3, 1e-4])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    sizes, repeats = ([1000], 1) if args.quick else (args.sizes, args.repeats)
    print(f"POT {ot.__version__}, NumPy {np.__version__}, one BLAS thread, tol {TOL}, "
          f"medians of {repeats}")
    print(f"{'n':>5} {'reg':>7} | {'POT it':>7} {'POT s':>8} {'POT L1 err':>10} | "
          f"{'method':>8} {'it (S+N)':>9} {'ours s':>8} {'L1 err':>8} | {'speedup':>7} "
          f"{'cost rel diff':>13} {'gap to W':>9}")
    for n in sizes:
        a, b, M = instance(n)
        w, emd_s, _ = timed(lambda a=a, b=b, M=M: ot.emd2(a, b, M, numItermax=10**7), repeats)
        for reg in args.regs:
            def pot(a=a, b=b, M=M, reg=reg):  # type: ignore[no-untyped-def]
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    return ot.sinkhorn(a, b, M, reg, stopThr=TOL, numItermax=100_000, log=True)

            def ours(a=a, b=b, M=M, reg=reg):  # type: ignore[no-untyped-def]
                return transport(a, b, M, reg=reg, tol=TOL)

            (P, log), pot_s, _ = timed(pot, repeats)
            r, our_s, _ = timed(ours, repeats)
            pot_cost = float((P * M).sum())
            pot_ok = bool(np.isfinite(P).all() and log["niter"] < 100_000)
            its = f"{r.iterations['sinkhorn']}+{r.iterations['newton']}"
            diff = abs(r.cost - pot_cost) / pot_cost if pot_ok else float("nan")
            pot_err = l1_errors(P, a, b)
            print(f"{n:5d} {reg:7.0e} | {log['niter']:7d} {pot_s:8.3f} {pot_err:10.1e} | "
                  f"{r.method:>8} {its:>9} {our_s:8.3f} "
                  f"{max(r.marginal_error_a, r.marginal_error_b):8.1e} | "
                  f"{pot_s / our_s:6.2f}x {diff:13.1e} {(r.cost - w) / w:+9.2%}"
                  + ("" if r.converged else "  NOT CONVERGED"), flush=True)
        ex, ours_s, _ = timed(lambda a=a, b=b, M=M: transport(
            a, b, M, method="exact", plan="none"), repeats)
        print(f"{n:5d} uniform | ot.emd2 {emd_s:.3f} s, W = {w:.10e} | solverd exact "
              f"{ours_s:.3f} s ({ex.iterations.get('simplex_pivots', 0)} pivots, potentials "
              f"included), W = {ex.cost:.10e}, rel diff {abs(ex.cost - w) / w:.1e} | time "
              f"ratio {ours_s / emd_s:.2f}x of emd2", flush=True)
        # General weights on the same clouds.
        rng = np.random.default_rng(n)
        wa, wb = rng.random(n) + 0.1, rng.random(n) + 0.1
        wa, wb = wa / wa.sum(), wb / wb.sum()
        ww, wemd_s, _ = timed(lambda wa=wa, wb=wb, M=M: ot.emd2(wa, wb, M, numItermax=10**7),
                              repeats)
        wex, wours_s, _ = timed(lambda wa=wa, wb=wb, M=M: transport(
            wa, wb, M, method="exact", plan="none"), repeats)
        pivots = wex.iterations.get("simplex_pivots", 0)
        print(f"{n:5d} weights | ot.emd2 {wemd_s:.3f} s, W = {ww:.10e} | solverd exact "
              f"{wours_s:.3f} s ({pivots} pivots, potentials included), "
              f"W = {wex.cost:.10e}, rel diff {abs(wex.cost - ww) / ww:.1e} | time ratio "
              f"{wours_s / wemd_s:.2f}x of emd2", flush=True)


if __name__ == "__main__":
    main()
