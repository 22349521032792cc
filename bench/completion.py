"""Matrix completion side by side with softImpute-ALS (and fancyimpute), in one run.

    python bench/completion.py [--quick] [--sizes 1000 5000] [--repeats 3]
                               [--scale 25000 50000 100000] [--fancyimpute]

BLAS pinned to one thread, everything in-process, seeds fixed.
1. Recovery: M = U V^T / sqrt(k), U, V Gaussian n x n, k = 10, 5 x k (2n - k) entries
   observed uniformly, noiseless and with noise 0.1. Error: relative RMSE against the
   truth on 20,000 unobserved entries, after every round (the solvers' test-entry
   history). softImpute-ALS (Hastie et al. 2015; solverd's implementation, rank k, 300
   rounds) runs over a lambda grid; its best error and the time it first reached it
   are the reference. altmin (exact rows; with noise, its ridge tuned over a grid on the
   same errors): the time it first reached that error, and its own final error and
   time; with noise, "reached" allows 0.5% (both approach the same rank-k fit) and the
   ratio of final errors (altmin / softImpute best) is printed. Times are medians of
   --repeats runs (each from the start, setup included).
2. Scale: n x n with 100 n entries (10^7 at n = 10^5), k = 50: seconds per round
   (one U and one V update), the exponent of a log-log fit against |Omega| k over the
   sizes, and the solver's peak allocations (tracemalloc) against 8 (|Omega| + (m + n) k)
   bytes: a constant ratio across sizes is O((m + n) k + |Omega|) memory.
3. Ratings: 20,000 users x 5,000 items, 10^6 ratings on a 1..5 scale (Zipf item
   popularity, log-normal user activity, biases, rank 10 taste, noise 0.5, rounded and
   clipped). 80/10/10 split; each method's reg tuned on the validation split over its
   own grid, test RMSE reported, both with row/column biases.
--device gpu: every solve on the GPU (CuPy). --quick: smaller sizes, one repeat, under
two minutes on 2 cores. --fancyimpute: also
fancyimpute's SoftImpute at default settings on the first recovery problem (minutes).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from service.cpu import pin_blas_threads  # noqa: E402

pin_blas_threads(1)

import numpy as np  # noqa: E402
from completion_problems import low_rank  # noqa: E402

from solvers.backend import CPU, Backend, get_backend  # noqa: E402
from solvers.completion import complete as complete_on  # noqa: E402

SOFT_LAMBDAS = (1e-3, 1e-1, 1.0, 10.0)
BACKEND: Backend = CPU  # --device


def complete(*args, **kwargs):  # type: ignore[no-untyped-def]
    return complete_on(*args, backend=BACKEND, **kwargs)


def first_reaching(result, target: float, scale: float,  # type: ignore[no-untyped-def]
                   slack: float = 1e-9) -> float:
    """Seconds at the first round whose test error <= target (1 + slack) (inf if never)."""
    errors = np.asarray(result.holdout_rmse) / scale
    hit = np.flatnonzero(errors <= target * (1 + slack))
    return float(result.round_seconds[hit[0]]) if hit.size else float("inf")


def recovery(n: int, noise: float, repeats: int) -> None:
    k = 10
    _, r, c, v, ur, uc, truth = low_rank(n, n, k, ratio=5, noise=noise)
    scale = float(np.sqrt(np.mean(truth**2)))
    test = (ur, uc, truth)
    best = (np.inf, 0.0, 0.0)  # error, lambda, seconds
    for lam in SOFT_LAMBDAS:
        res = complete(r, c, v, (n, n), k, method="softimpute_als", reg=lam, tol=1e-9,
                       atol=1e-14, maxiter=300, test=test)
        err = float(np.nanmin(res.holdout_rmse)) / scale
        if err < best[0]:
            best = (err, lam, 0.0)
    soft_err, lam = best[0], best[1]
    soft_times, soft_rounds = [], 0
    for _ in range(repeats):
        res = complete(r, c, v, (n, n), k, method="softimpute_als", reg=lam, tol=1e-9,
                       atol=1e-14, maxiter=300, test=test)
        soft_times.append(first_reaching(res, soft_err, scale))
        soft_rounds = int(np.argmin(res.holdout_rmse)) + 1
    # altmin's ridge is tuned the same way (on the same errors) when there is noise.
    regs = [0.0] if noise == 0 else [0.0, 5e-4, 1e-3, 2e-3, 4e-3]
    finals = [complete(r, c, v, (n, n), k, reg=reg, test=test).holdout_rmse[-1]
              for reg in regs]
    reg = regs[int(np.argmin(finals))]
    reach, total, final_err, rounds = [], [], 0.0, 0
    for _ in range(repeats):
        start = time.perf_counter()
        res = complete(r, c, v, (n, n), k, reg=reg, test=test)
        total.append(time.perf_counter() - start)
        # With noise both methods approach the same rank-k least squares fit; errors
        # within 0.5% of each other count as the same accuracy (the ratio is printed).
        reach.append(first_reaching(res, soft_err, scale, 0.0 if noise == 0 else 5e-3))
        final_err, rounds = res.holdout_rmse[-1] / scale, res.iterations
    soft_s, reach_s = statistics.median(soft_times), statistics.median(reach)
    print(f"{n:6d} {noise:5.1f} | {lam:7.0e} {soft_rounds:6d} {soft_err:9.2e} {soft_s:8.2f} | "
          f"{reg:7.0e} {reach_s:8.3f} {rounds:6d} {final_err:9.2e} "
          f"{statistics.median(total):8.3f} | {final_err / soft_err:9.3f} "
          f"{soft_s / reach_s:7.1f}x", flush=True)


def scale_sweeps(sizes: list[int], k: int, per_row: int) -> None:
    print(f"\nScale: n x n, {per_row} n entries, k = {k}: seconds per round (median of 3 rounds)")
    print("peak: the solver's own allocations (tracemalloc); model: 8 (|Omega| + 2 n k) bytes")
    print(f"{'n':>7} {'|Omega|':>10} | {'layout+init s':>13} {'s/round':>8} "
          f"{'peak MB':>10} {'model MB':>10} {'ratio':>6}")
    xs, ys = [], []
    for n in sizes:
        rng = np.random.default_rng(0)
        count = per_row * n
        idx = np.unique(rng.integers(0, n * n, size=count, dtype=np.int64))
        rows, cols = idx // n, idx % n
        del idx
        U = rng.standard_normal((n, k)) / k**0.25
        V = rng.standard_normal((n, k)) / k**0.25
        vals = np.empty(rows.size)
        step = 1 << 18
        for s in range(0, rows.size, step):
            vals[s:s + step] = np.einsum("ij,ij->i", U[rows[s:s + step]], V[cols[s:s + step]])
        del U, V
        tracemalloc.start()
        start = time.perf_counter()
        res = complete(rows, cols, vals, (n, n), k, maxiter=4, tol=0.0, atol=0.0, reg=0.0)
        elapsed = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
        per_round = float(np.median(np.diff(res.round_seconds)))
        setup = elapsed - (res.round_seconds[-1] - res.round_seconds[0]) - per_round
        model = 8 * (rows.size + 2 * n * k) / 2**20
        print(f"{n:7d} {rows.size:10d} | {setup:13.2f} {per_round:8.2f} {peak:10.0f} "
              f"{model:10.0f} {peak / model:6.1f}", flush=True)
        xs.append(rows.size * k)
        ys.append(per_round)
        del rows, cols, vals, res
    if len(xs) > 1:
        slope = np.polyfit(np.log(xs), np.log(ys), 1)[0]
        print(f"fitted exponent of s/round against |Omega| k: {slope:.2f}")


def ratings(users: int, items: int, count: int, k: int = 10, seed: int = 0):
    rng = np.random.default_rng(seed)
    popularity = 1.0 / np.arange(1, items + 1) ** 0.8
    popularity = rng.permutation(popularity / popularity.sum())
    activity = rng.lognormal(0, 1, users)
    activity /= activity.sum()
    idx = np.unique(rng.choice(users, size=int(count * 1.1), p=activity) * items
                    + rng.choice(items, size=int(count * 1.1), p=popularity))[:count]
    idx = rng.permutation(idx)
    r, c = idx // items, idx % items
    taste_u = rng.standard_normal((users, k)) * 0.35
    taste_i = rng.standard_normal((items, k)) * 0.35
    score = (3.6 + rng.normal(0, 0.4, users)[r] + rng.normal(0, 0.5, items)[c]
             + np.einsum("ij,ij->i", taste_u[r], taste_i[c]) + rng.normal(0, 0.5, r.size))
    return r, c, np.clip(np.round(score), 1, 5)


def ratings_table(users: int, items: int, count: int) -> None:
    r, c, v = ratings(users, items, count)
    cut1, cut2 = int(0.8 * r.size), int(0.9 * r.size)
    train = (r[:cut1], c[:cut1], v[:cut1])
    valid = (r[cut1:cut2], c[cut1:cut2], v[cut1:cut2])
    test_r, test_c, test_v = r[cut2:], c[cut2:], v[cut2:]
    shape = (users, items)
    print(f"\nRatings: {users} x {items}, {r.size} ratings (1..5), rank 10, 80/10/10 split")
    print(f"{'method':>15} {'reg (tuned)':>11} | {'valid RMSE':>10} {'test RMSE':>9} "
          f"{'rounds':>6} {'seconds':>8}")
    rmse = lambda p: float(np.sqrt(np.mean((p - test_v) ** 2)))  # noqa: E731
    base = complete(*train, shape, 1, center="biases", maxiter=1, reg=0.0)
    only_bias = base.global_mean + base.row_bias[test_r] + base.col_bias[test_c]
    print(f"{'biases only':>15} {'':>11} | {'':>10} {rmse(only_bias):9.4f}")
    grids = {"altmin": (0.02, 0.05, 0.1, 0.2), "softimpute_als": (5.0, 10.0, 20.0, 40.0)}
    for method, grid in grids.items():
        best = None
        for reg in grid:
            start = time.perf_counter()
            res = complete(*train, shape, 10, method=method, reg=reg, center="biases",
                           test=valid, maxiter=100, tol=1e-4)
            seconds = time.perf_counter() - start
            if best is None or res.holdout_rmse[-1] < best[1].holdout_rmse[-1]:
                best = (reg, res, seconds)
        assert best is not None
        reg, res, seconds = best
        print(f"{method:>15} {reg:11.3g} | {res.holdout_rmse[-1]:10.4f} "
              f"{rmse(res.predict(test_r, test_c)):9.4f} {res.iterations:6d} {seconds:8.2f}",
              flush=True)


def fancyimpute_row(n: int) -> None:
    import fancyimpute  # type: ignore[import-untyped]
    import sklearn.utils

    # fancyimpute 0.7 passes force_all_finite, which scikit-learn 1.8 renamed.
    original = sklearn.utils.check_array

    def check_array(*args, force_all_finite=True, **kwargs):  # type: ignore[no-untyped-def]
        kwargs.setdefault("ensure_all_finite", force_all_finite)
        return original(*args, **kwargs)

    fancyimpute.solver.check_array = check_array
    fancyimpute.soft_impute.check_array = check_array
    _, r, c, v, ur, uc, truth = low_rank(n, n, 10, ratio=5)
    X = np.full((n, n), np.nan)
    X[r, c] = v
    start = time.perf_counter()
    filled = fancyimpute.SoftImpute(verbose=False).fit_transform(X)
    seconds = time.perf_counter() - start
    err = np.linalg.norm(filled[ur, uc] - truth) / np.linalg.norm(truth)
    print(f"\nfancyimpute {fancyimpute.__version__} SoftImpute (defaults), n = {n}: "
          f"relative RMSE {err:.2e}, {seconds:.1f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 5000])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--scale", type=int, nargs="*", default=[25_000, 50_000, 100_000])
    parser.add_argument("--fancyimpute", action="store_true")
    parser.add_argument("--only", choices=("recovery", "ratings", "scale"))
    parser.add_argument("--device", choices=("cpu", "gpu"), default="cpu")
    args = parser.parse_args()
    global BACKEND
    BACKEND = get_backend(args.device)
    if args.quick:
        sizes, repeats, scale, shape = [1000], 1, [5_000, 10_000, 20_000], (5_000, 2_000, 200_000)
    else:
        sizes, repeats, scale, shape = args.sizes, args.repeats, args.scale, (20_000, 5_000,
                                                                              1_000_000)
    print(f"NumPy {np.__version__}, one BLAS thread, medians of {repeats}, device "
          f"{BACKEND.device_name}")
    print("Recovery, k = 10, 5x the degrees of freedom observed; error = relative RMSE on "
          "unobserved entries")
    print(f"{'':12} | {'softImpute-ALS (best of its lambdas)':<40} | "
          f"{'altmin':<50} |")
    print(f"{'n':>6} {'noise':>5} | {'lambda':>7} {'rounds':>6} {'best err':>9} {'s to it':>8}"
          f" | {'reg':>7} {'s to it':>8} {'rounds':>6} {'final err':>9} {'total s':>8} | "
          f"{'err ratio':>9} {'speedup':>8}")
    if args.only in (None, "recovery"):
        for n in sizes:
            for noise in (0.0, 0.1):
                recovery(n, noise, repeats)
    if args.only in (None, "ratings"):
        ratings_table(*shape)
    if scale and args.only in (None, "scale"):
        scale_sweeps(scale, 50, 100)
    if args.fancyimpute:
        fancyimpute_row(sizes[0])


if __name__ == "__main__":
    main()
