"""Sparse regression against scikit-learn, celer and skglm on one certificate.

Every solver's coefficients are scored by solvers.regression.certificate (the relative
duality gap gap / (||y||^2 / n)). A peer's time is the time of its first run, over a
ladder of its own tolerances, whose coefficients reach relative gap <= 1e-6: time to
the same certificate, not to each tool's own notion of done. BLAS is pinned to one
thread; numba compilation (skglm's and ours) is done before timing. Medians of --repeat runs.

    python bench/regression.py            # everything (about 30 minutes, mostly saga)
    python bench/regression.py --quick    # under two minutes

The GPU figure (a 10^5 x 10^4 design on the GPU against the CPU) is bench/gpu.py's.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import scipy.sparse as sp  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from solvers.regression import Penalty, alpha_grid, alpha_max, certificate, fit, path  # noqa: E402
from solvers.regression.objective import loss_residual  # noqa: E402

TARGET = 1e-6
LADDER = (1e-4, 1e-6, 1e-8, 1e-10, 1e-12)


def rel_gap(X, y, w, alpha, loss="squared", b=0.0):
    z = np.asarray(X @ w).ravel() + b
    ys = y if loss == "squared" else np.where(y > 0, 1.0, -1.0)
    r = loss_residual(loss, ys, z)
    c = certificate(loss, ys, z, r, np.asarray(X.T @ r).ravel(), w,
                    Penalty(alpha, 1.0, np.ones(X.shape[1])))
    return c.relative_gap, c.primal


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def peer_time(run, score, repeat):
    """(seconds, primal, tol) of the loosest tol in LADDER whose answer certifies."""
    for tol in LADDER:
        seconds, out = timed(lambda tol=tol: run(tol))
        gap, primal = score(out)
        if gap <= TARGET:
            times = [seconds] + [timed(lambda tol=tol: run(tol))[0] for _ in range(repeat - 1)]
            return statistics.median(times), primal, tol
    return float("nan"), float("nan"), None


def make_problems(quick):
    from sklearn.datasets import make_regression

    X1, y1 = make_regression(2000, 10000, n_informative=50, noise=1, random_state=0)
    X1 = np.asfortranarray(X1)
    problems = [("dense make_regression 2000x10000", X1, y1, (20,) if quick else (20, 100))]
    if not quick:
        rng = np.random.default_rng(0)
        X2 = sp.random(10_000, 50_000, density=1e-3, random_state=0, format="csc")
        w2 = np.zeros(50_000)
        w2[rng.choice(50_000, 500, replace=False)] = rng.standard_normal(500)
        y2 = X2 @ w2 + 0.01 * rng.standard_normal(10_000)
        problems.append(("sparse 1e4x5e4 density 1e-3", X2, y2, (100, 1000)))
        n, p, rho = 1000, 5000, 0.6
        X3 = np.empty((n, p))
        X3[:, 0] = rng.standard_normal(n)
        for j in range(1, p):
            X3[:, j] = rho * X3[:, j - 1] + np.sqrt(1 - rho**2) * rng.standard_normal(n)
        X3 = np.asfortranarray(X3)
        w3 = np.zeros(p)
        w3[rng.choice(p, 50, replace=False)] = rng.standard_normal(50)
        y3 = X3 @ w3 + 0.5 * rng.standard_normal(n)
        problems.append(("AR(1) rho=0.6 1000x5000", X3, y3, (100, 1000)))
    return problems


def lasso_rows(problems, repeat):
    import celer
    import skglm
    from sklearn.linear_model import Lasso

    rows = []
    for name, X, y, divisors in problems:
        amax = alpha_max(X, y, fit_intercept=False)
        for div in divisors:
            a = amax / div
            ours = [timed(lambda a=a, X=X, y=y: fit(X, y, a, fit_intercept=False))
                    for _ in range(repeat)]
            t_ours = statistics.median(t for t, _ in ours)
            res = ours[0][1]
            gap, primal = rel_gap(X, y, res.coef, a)
            peers = {}
            for label, make in (
                ("sklearn", lambda tol, a=a: Lasso(alpha=a, fit_intercept=False, tol=tol,
                                                   max_iter=10**6)),
                ("celer", lambda tol, a=a: celer.Lasso(alpha=a, fit_intercept=False, tol=tol,
                                                       max_iter=1000)),
                ("skglm", lambda tol, a=a: skglm.Lasso(alpha=a, fit_intercept=False, tol=tol,
                                                       max_iter=1000)),
            ):
                peers[label] = peer_time(
                    lambda tol, make=make, X=X, y=y: make(tol).fit(X, y).coef_,
                    lambda w, a=a, X=X, y=y: rel_gap(X, y, w, a), repeat)
            best = min(peers, key=lambda k: peers[k][0])
            rows.append((f"{name} a_max/{div}", t_ours, gap, primal, peers, best,
                         len(res.support)))
    return rows


def path_row(X, y, n_alphas, repeat):
    import celer
    from sklearn.linear_model import lasso_path

    grid = alpha_grid(alpha_max(X, y, fit_intercept=False), n_alphas, 1e-2)

    def ours():
        return list(path(X, y, alphas=grid, fit_intercept=False))

    runs = [timed(ours) for _ in range(repeat)]
    t_ours = statistics.median(t for t, _ in runs)
    worst = max(rel_gap(X, y, r.coef, r.alpha)[0] for r in runs[0][1])

    def score(coefs):
        gaps = [rel_gap(X, y, coefs[:, k], a) for k, a in enumerate(grid)]
        return max(g for g, _ in gaps), gaps[-1][1]

    peers = {
        "sklearn": peer_time(lambda tol: lasso_path(X, y, alphas=grid, tol=tol,
                                                    max_iter=10**6)[1], score, repeat),
        "celer": peer_time(lambda tol: celer.celer_path(X, y, "lasso", alphas=grid,
                                                        tol=tol)[1], score, repeat),
    }
    return t_ours, worst, peers


def logistic_rows(repeat, quick):
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(1)
    n, p = (1000, 2000) if quick else (2000, 5000)
    X = rng.standard_normal((n, p))
    w = np.zeros(p)
    w[rng.choice(p, 30, replace=False)] = rng.standard_normal(30)
    y = np.where(X @ w + 0.5 * rng.standard_normal(n) > 0, 1, 0)
    amax = alpha_max(X, y, loss="logistic", fit_intercept=False)
    rows = []
    for div in (10,) if quick else (10, 50):
        a = amax / div
        ours = [timed(lambda a=a: fit(X, y, a, loss="logistic", fit_intercept=False))
                for _ in range(repeat)]
        t_ours = statistics.median(t for t, _ in ours)
        gap, primal = rel_gap(X, y, ours[0][1].coef, a, "logistic")
        peers = {}
        for solver in ("liblinear", "saga"):
            def run(tol, solver=solver, a=a):
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    m = LogisticRegression(C=1 / (a * n), l1_ratio=1.0, solver=solver, tol=tol,
                                           fit_intercept=False, max_iter=10**5)
                    return m.fit(X, y).coef_.ravel()
            peers[solver] = peer_time(run, lambda w, a=a: rel_gap(X, y, w, a, "logistic"),
                                      repeat)
        best = min(peers, key=lambda k: peers[k][0])
        rows.append((f"L1-logistic {n}x{p} a_max/{div}", t_ours, gap, primal, peers, best, 0))
    return rows


def show(rows):
    print(f"{'problem':42s} {'ours s':>8s} {'gap':>9s} {'sklearn s':>10s} {'celer s':>8s} "
          f"{'skglm s':>8s} {'ratio':>7s} {'obj rel diff':>12s}")
    for name, t, gap, primal, peers, best, _support in rows:
        cells = []
        for label in ("sklearn", "celer", "skglm", "liblinear", "saga"):
            if label in peers:
                cells.append(f"{label}={peers[label][0]:.3f}s(tol {peers[label][2]:g})")
        ratio = t / peers[best][0]
        diff = abs(primal - peers[best][1]) / abs(peers[best][1])
        print(f"{name:42s} {t:8.3f} {gap:9.1e}  {'  '.join(cells)}  ours/{best}={ratio:.2f}  "
              f"objdiff={diff:.1e}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--repeat", type=int, default=None)
    ap.add_argument("--only", choices=("lasso", "path", "logistic"))
    args = ap.parse_args()
    repeat = args.repeat or (1 if args.quick else 3)
    import skglm

    Xw, yw = np.random.default_rng(0).standard_normal((50, 100)), np.ones(50)
    skglm.Lasso(alpha=0.1, fit_intercept=False).fit(Xw, yw)  # numba compilation
    for Xk in (Xw, sp.csc_matrix(Xw)):  # ours too: the kernels' compilation or cache load
        fit(Xk, yw, alpha_max(Xk, yw, fit_intercept=False) / 100, fit_intercept=False)
    problems = make_problems(args.quick)
    if args.only in (None, "lasso"):
        show(lasso_rows(problems, repeat))
    if args.only in (None, "path"):
        X, y = problems[0][1], problems[0][2]
        n_alphas = 20 if args.quick else 50
        t, worst, peers = path_row(X, y, n_alphas, repeat)
        cells = "  ".join(f"{k}={v[0]:.3f}s(tol {v[2]:g})" for k, v in peers.items())
        best = min(peers, key=lambda k: peers[k][0])
        print(f"{n_alphas}-alpha path to a_max/100 on the first problem: ours {t:.3f}s "
              f"(worst gap {worst:.1e})  {cells}  ours/{best}={t / peers[best][0]:.2f}")
    if args.only in (None, "logistic"):
        show(logistic_rows(repeat, args.quick))


if __name__ == "__main__":
    main()
