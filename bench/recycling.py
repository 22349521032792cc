"""Krylov recycling on sequences of related systems, side by side with SciPy.

    python bench/recycling.py [--quick] [--grid 64] [--systems 30] [--repeats 3]
                              [--sigma S] [--no-service] [--only gcrodr,cg,...]

Instances: 2-D Darcy flow -div(a grad u) = 1, u = 0 on the boundary, finite volumes
with harmonic-mean faces, a = exp(g), g a Gaussian random field with alpha 2.5, tau 7
at the neural-operator data sets' own scale (standard deviation about 0.25), or
rescaled to standard deviation `--sigma` (0.5 is a harder, higher-contrast batch):
(1) SPD, also through the service's SolveBatch; (2) SKR's skewed (nonsymmetric)
stencil, and the same with a Helmholtz shift -30 u (about 1.5x the operator's
smallest eigenvalue: indefinite); (3) "wind": high-contrast fields exp(1.6 (g + 0.3 e_t))
with g and e_t white noise, plus an upwind convection term of velocity 20 along the
diagonal (nonsymmetric); (4) one Poisson matrix with many right-hand sides. SciPy's own
recycling solver gcrotmk(m=40, k=20), its space carried, is the peer for GCRO-DR.
Every method stops at the true relative residual 1e-8; products with A are counted,
the k products of moving a space to a new matrix included (shown apart as "setup").
The "oracle space" rows seed each system with the exact k smallest eigenvectors of
the previous matrix (eigsh, not counted): a bound on what carrying a space can give.
BLAS pinned to one thread. petsc4py is not compared: it has no wheel, and building
PETSc from source does not fit here.
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

from service.cpu import pin_blas_threads  # noqa: E402

pin_blas_threads(1)

import numpy as np  # noqa: E402
import scipy.sparse.linalg as spla  # noqa: E402

import solvers  # noqa: E402
from solvers.linear import ordering, solve  # noqa: E402
from solvers.linear.ordering import order_by  # noqa: E402
from solvers.linear.recycling import RecycleSpace  # noqa: E402

from problems import darcy_2d, darcy_wind, poisson_2d, reference_random_field  # noqa: E402

RTOL = 1e-8
RESTART: int | None = None  # --restart: GCRO-DR's m (None: solverd's default)
TABLES = ("gcrodr", "cg", "skr", "helmholtz", "wind", "poisson", "sweep", "order")


class Counted(spla.LinearOperator):
    """A with its products counted (the count SciPy's solvers do not report)."""

    def __init__(self, a: object) -> None:
        super().__init__(np.float64, a.shape)  # type: ignore[attr-defined]
        self.a, self.products = a, 0

    def _matvec(self, v: np.ndarray) -> np.ndarray:
        self.products += 1
        return self.a @ v  # type: ignore[operator]


def scipy_krylov(solver: object, mats: list, rhs: list, **options: object) -> tuple[int, float]:
    products, start = 0, time.perf_counter()
    for a, b in zip(mats, rhs, strict=True):
        op = Counted(a)
        x, info = solver(op, b, rtol=RTOL, maxiter=10**5, **options)  # type: ignore[operator]
        assert info == 0 and np.linalg.norm(b - a @ x) <= 1.01 * RTOL * np.linalg.norm(b)
        products += op.products
    return products, time.perf_counter() - start


def scipy_gmres(mats: list, rhs: list) -> tuple[int, float]:
    return scipy_krylov(spla.gmres, mats, rhs, restart=40)


def scipy_cg(mats: list, rhs: list) -> tuple[int, float]:
    return scipy_krylov(spla.cg, mats, rhs)


def scipy_gcrotmk(mats: list, rhs: list, carry: bool = True,
                  order: list[int] | None = None, same_matrix: bool = False
                  ) -> tuple[int, float]:
    """SciPy's own recycling solver, gcrotmk(m=40, k=20), its space CU carried from
    system to system (discard_C: only U is kept and C = A U is recomputed, k products
    counted, as for ours when the matrix changes; kept for one matrix)."""
    products, start = 0, time.perf_counter()
    cu: list = []
    for i in order if order is not None else range(len(mats)):
        op = Counted(mats[i])
        x, info = spla.gcrotmk(op, rhs[i], rtol=RTOL, maxiter=10**4, m=40, k=20,
                               CU=cu if carry else None, discard_C=not same_matrix)
        assert info == 0 and (np.linalg.norm(rhs[i] - mats[i] @ x)
                              <= 1.01 * RTOL * np.linalg.norm(rhs[i]))
        products += op.products
    return products, time.perf_counter() - start


def splu_each(mats: list, rhs: list, reuse: bool) -> tuple[int, float]:
    start = time.perf_counter()
    lu = None
    for a, b in zip(mats, rhs, strict=True):
        if lu is None or not reuse:
            lu = spla.splu(a.tocsc())
        x = lu.solve(b)
        assert np.linalg.norm(b - a @ x) <= RTOL * np.linalg.norm(b)
    return 0, time.perf_counter() - start


def ours(mats: list, rhs: list, method: str, carry: bool, order: list[int] | None = None,
         same_matrix: bool = False) -> tuple[int, float, int]:
    products, setup, start = 0, 0, time.perf_counter()
    space = None
    for i in order if order is not None else range(len(mats)):
        r = solve(mats[i], rhs[i], method=method, rtol=RTOL, recycle_space=space,
                  same_matrix=same_matrix and space is not None,
                  restart=RESTART if method == "gcrodr" else None)
        assert r.converged, (method, i, r.stop_reason)
        products += r.matvecs
        setup += r.extra.get("recycle_setup_matvecs", 0)
        space = r.extra.get("recycle_space") if carry else None
    return products, time.perf_counter() - start, setup


def eigenvectors(mats: list, k: int = 20) -> list[np.ndarray]:
    """The k eigenvectors of least eigenvalue of each (SPD) matrix, as rows."""
    return [spla.eigsh(a.tocsc(), k=k, sigma=0, which="LM")[1].T.copy() for a in mats]


def real_eigenvectors(mats: list, k: int = 20) -> list[np.ndarray]:
    """An orthonormal real basis (rows) of the span of the k eigenvectors of least
    magnitude of each (nonsymmetric) matrix: eigs, real and imaginary parts, k kept."""
    out = []
    for a in mats:
        _, z = spla.eigs(a.tocsc(), k=k, sigma=0, which="LM")
        q, _ = np.linalg.qr(np.concatenate([z.real, z.imag], axis=1))
        out.append(q[:, :k].T.copy())
    return out


def oracle(mats: list, rhs: list, method: str, vectors: list[np.ndarray],
           own: bool = False) -> tuple[int, float, int]:
    """Each system after the first seeded with the exact k smallest eigenvectors of the
    previous matrix (eigsh, computed beforehand and not timed), moved to the new matrix
    as any carried space is (k products, counted): what the best space a solve could
    hand on would give, a bound for carrying. `own`: each system's own eigenvectors (a
    bound for any recycle space of k vectors)."""
    products, setup, start = 0, 0, time.perf_counter()
    for i, (a, b) in enumerate(zip(mats, rhs, strict=True)):
        space = None
        if i or own:
            j = i if own else i - 1
            u = vectors[j]
            space = RecycleSpace(u, (mats[j] @ u.T).T.copy(), method)
        r = solve(a, b, method=method, rtol=RTOL, recycle_space=space)
        assert r.converged, (method, i, r.stop_reason)
        products += r.matvecs
        setup += r.extra.get("recycle_setup_matvecs", 0)
    return products, time.perf_counter() - start, setup


def service_batch(client: object, mats: list, rhs: list, method: str) -> tuple[int, float, int]:
    """The same batch through SolveBatch: one call, the server orders and carries."""
    start = time.perf_counter()
    results = client.solve_batch(mats, rhs[0], method=method, rtol=RTOL)  # type: ignore[attr-defined]
    elapsed = time.perf_counter() - start
    for a, b, r in zip(mats, rhs, results, strict=True):
        assert r.converged and np.linalg.norm(b - a @ r.x) <= 1.01 * RTOL * np.linalg.norm(b)
    setup = sum(r.recycle_setup_matvecs for r in results)
    return sum(r.matvecs for r in results), elapsed, setup


def ordering_cost(k: int, sizes: list[int]) -> None:
    """What ordering a large batch costs: a shuffled sweep of N systems (the sweep
    table's family), ordered on the exact values and on their sketches; the path
    length in units of the parameter order's."""
    print(f"\n== ordering N shuffled {k}^2 sweep systems (values, p = {5 * k * k - 4 * k})")
    rng = np.random.default_rng(0)
    g0, g1 = reference_random_field(k, rng), reference_random_field(k, rng)
    for count in sizes:
        angles = np.random.default_rng(3).permutation(np.linspace(0.0, np.pi, count))
        feats = np.array([darcy_2d(k, np.exp(np.cos(t) * g0 + np.sin(t) * g1)).data
                          for t in angles])
        ideal = feats[np.argsort(angles)]
        best = float(np.linalg.norm(np.diff(ideal, axis=0), axis=1).sum())
        row = []
        for label, work in (("exact", 1 << 62), ("sketched", ordering.MAX_EXACT_WORK)):
            saved, ordering.MAX_EXACT_WORK = ordering.MAX_EXACT_WORK, work
            start = time.perf_counter()
            order = order_by(feats)
            elapsed = time.perf_counter() - start
            ordering.MAX_EXACT_WORK = saved
            path = float(np.linalg.norm(np.diff(feats[order], axis=0), axis=1).sum())
            row.append(f"{label} {elapsed:7.3f} s, path {path / best:.3f}x")
        print(f"  N = {count:5d}: " + ";  ".join(row))


def table(title: str, rows: dict[str, list[tuple]], base: str, count: int) -> None:
    print(f"\n== {title}")
    ref_p = statistics.median(r[0] for r in rows[base])
    ref_t = statistics.median(r[1] for r in rows[base])
    for name, runs in rows.items():
        p = statistics.median(r[0] for r in runs)
        t = statistics.median(r[1] for r in runs)
        ratio_p = f"{p / ref_p:6.3f}x" if p and ref_p else "      -"
        setup = statistics.median(r[2] for r in runs) if len(runs[0]) > 2 else 0
        extra = (f"   (setup {setup / count:5.1f}/system; without it "
                 f"{(p - setup) / ref_p:5.3f}x)" if setup else "")
        print(f"  {name:46s} products/system {p / count:7.1f} {ratio_p}   "
              f"time {t:7.3f} s {t / ref_t:6.3f}x{extra}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="48 x 48, 12 systems, 1 repeat")
    parser.add_argument("--grid", type=int, default=64)
    parser.add_argument("--systems", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--sigma", type=float, default=None,
                        help="rescale each field to this standard deviation")
    parser.add_argument("--only", default=",".join(TABLES),
                        help=f"comma-separated tables to run, of {','.join(TABLES)}")
    parser.add_argument("--restart", type=int, default=None,
                        help="GCRO-DR's m, in process (default: solverd's)")
    parser.add_argument("--oracle", action="store_true",
                        help="wind: also seed with exact eigenvectors (eigs, slow)")
    parser.add_argument("--no-service", action="store_true",
                        help="skip the SolveBatch-over-gRPC row")
    args = parser.parse_args()
    tables = set(args.only.split(","))
    global RESTART
    RESTART = args.restart
    if not tables <= set(TABLES):
        parser.error(f"--only: unknown table(s) {sorted(tables - set(TABLES))}")
    solvers.warm_up()  # the compiled loops load (or compile) once, as the server does at start
    if args.quick:
        args.grid, args.systems, args.repeats = 48, 12, 1
    k, count = args.grid, args.systems
    rng = np.random.default_rng(0)
    fields = [reference_random_field(k, rng) for _ in range(count)]
    if args.sigma is not None:
        fields = [args.sigma * g / g.std() for g in fields]
    spd = [darcy_2d(k, np.exp(g)) for g in fields]
    skew = [darcy_2d(k, np.exp(g), skew=True) for g in fields]
    helmholtz = [darcy_2d(k, np.exp(g), shift=-30.0, skew=True) for g in fields]
    ones = [np.ones(k * k)] * count
    order = order_by(np.array([m.data for m in spd]))
    shuffled = list(np.random.default_rng(1).permutation(count))
    std = statistics.mean(float(g.std()) for g in fields)
    print(f"n = {k * k}, {count} systems, rtol {RTOL:g} (true residual), a = exp(GRF alpha "
          f"2.5, tau 7), mean std {std:.3f}; medians of {args.repeats} run(s)")
    server = None
    if not args.no_service and tables & {"gcrodr", "cg"}:
        from solverd import Client

        from conftest import start_server

        server = start_server("--backend", "cpu")
        client = Client(server.address)

    def runs(fn, *a, **kw) -> list[tuple[int, float]]:  # type: ignore[no-untyped-def]
        return [fn(*a, **kw) for _ in range(args.repeats)]

    exact = eigenvectors(spd) if tables & {"gcrodr", "cg"} else []

    if "gcrodr" in tables:
        table("SPD Darcy: GCRO-DR (m 80, k 20) against SciPy GMRES(40) from zero", {
            "scipy gmres(40)": runs(scipy_gmres, spd, ones),
            "gcrodr, no carry-over": runs(ours, spd, ones, "gcrodr", False),
            "gcrodr, carried, input order": runs(ours, spd, ones, "gcrodr", True),
            "gcrodr, carried, shuffled": runs(ours, spd, ones, "gcrodr", True, shuffled),
            "gcrodr, carried, greedy order": runs(ours, spd, ones, "gcrodr", True, order),
            "scipy gcrotmk(40, 20), carried, greedy order":
                runs(scipy_gcrotmk, spd, ones, True, order),
            "gcrodr, oracle space (time: not a method)":
                runs(oracle, spd, ones, "gcrodr", exact),
            **({"SolveBatch over gRPC (gcrodr, values order)":
                runs(service_batch, client, spd, ones, "gcrodr")} if server else {}),
            "scipy splu per system": runs(splu_each, spd, ones, False),
        }, "scipy gmres(40)", count)
    if "cg" in tables:
        table("SPD Darcy: recycled CG (k = 20) against CG", {
            "scipy cg": runs(scipy_cg, spd, ones),
            "solverd cg": runs(ours, spd, ones, "cg", False),
            "recycled_cg, carried, input order": runs(ours, spd, ones, "recycled_cg", True),
            "recycled_cg, carried, greedy order":
                runs(ours, spd, ones, "recycled_cg", True, order),
            "recycled_cg, oracle space (time: not a method)":
                runs(oracle, spd, ones, "recycled_cg", exact),
            **({"SolveBatch over gRPC (recycled_cg)":
                runs(service_batch, client, spd, ones, "recycled_cg")} if server else {}),
        }, "scipy cg", count)
    if "skr" in tables:
        table("SKR's nonsymmetric Darcy stencil", {
            "scipy gmres(40)": runs(scipy_gmres, skew, ones),
            "gcrodr, carried, input order": runs(ours, skew, ones, "gcrodr", True),
            "gcrodr, carried, greedy order": runs(ours, skew, ones, "gcrodr", True, order),
            "scipy gcrotmk(40, 20), carried, input order": runs(scipy_gcrotmk, skew, ones),
            "scipy gcrotmk(40, 20), carried, greedy order":
                runs(scipy_gcrotmk, skew, ones, True, order),
        }, "scipy gmres(40)", count)
    if "helmholtz" in tables:
        table("Helmholtz: the skewed stencil with a shift -30 u (indefinite)", {
            "scipy gmres(40)": runs(scipy_gmres, helmholtz, ones),
            "gcrodr, no carry-over": runs(ours, helmholtz, ones, "gcrodr", False),
            "gcrodr, carried, greedy order": runs(ours, helmholtz, ones, "gcrodr", True, order),
            "scipy gcrotmk(40, 20), carried, greedy order":
                runs(scipy_gcrotmk, helmholtz, ones, True, order),
            "scipy splu per system": runs(splu_each, helmholtz, ones, False),
        }, "scipy gmres(40)", count)
    if "wind" in tables:
        wrng = np.random.default_rng(4)
        g = wrng.standard_normal((k, k))
        wind = [darcy_wind(k, np.exp(1.6 * (g + 0.3 * wrng.standard_normal((k, k)))), 20.0)
                for _ in range(count)]
        wind_vectors = real_eigenvectors(wind) if args.oracle else []
        table("wind: high-contrast white-noise fields with convection (nonsymmetric)", {
            "scipy gmres(40)": runs(scipy_gmres, wind, ones),
            "scipy gcrotmk(40, 20), fresh": runs(scipy_gcrotmk, wind, ones, False),
            "scipy gcrotmk(40, 20), carried": runs(scipy_gcrotmk, wind, ones),
            "gcrodr, no carry-over": runs(ours, wind, ones, "gcrodr", False),
            "gcrodr, carried": runs(ours, wind, ones, "gcrodr", True),
            **({"gcrodr, previous matrix's 20 eigenvectors (time: not a method)":
                runs(oracle, wind, ones, "gcrodr", wind_vectors),
                "gcrodr, its own 20 eigenvectors (time: not a method)":
                runs(oracle, wind, ones, "gcrodr", wind_vectors, True)}
               if args.oracle else {}),
            "scipy splu per system": runs(splu_each, wind, ones, False),
        }, "scipy gcrotmk(40, 20), carried", count)
    poisson = [poisson_2d(k)] * count
    brng = np.random.default_rng(2)
    rhs = [brng.standard_normal(k * k) for _ in range(count)]
    if "poisson" in tables:
        table("one Poisson matrix, many right-hand sides", {
            "scipy gmres(40)": runs(scipy_gmres, poisson, rhs),
            "gcrodr, same matrix": runs(ours, poisson, rhs, "gcrodr", True, None, True),
            "scipy gcrotmk(40, 20), same matrix":
                runs(scipy_gcrotmk, poisson, rhs, True, None, True),
            "scipy cg": runs(scipy_cg, poisson, rhs),
            "recycled_cg, same matrix":
                runs(ours, poisson, rhs, "recycled_cg", True, None, True),
            "scipy splu once, reused": runs(splu_each, poisson, rhs, True),
        }, "scipy gmres(40)", count)
    # A parameter sweep sent in random order: a = exp(cos t g0 + sin t g1), t on an
    # arc, where neighbours in t are alike and the input order hides it.
    g0, g1 = fields[0], fields[1]
    angles = np.random.default_rng(3).permutation(np.linspace(0.0, np.pi, count))
    sweep = [darcy_2d(k, np.exp(np.cos(t) * g0 + np.sin(t) * g1)) for t in angles]
    sweep_order = order_by(np.array([m.data for m in sweep]))
    if "sweep" in tables:
        table("a parameter sweep in random order: does sorting pay?", {
            "scipy gmres(40)": runs(scipy_gmres, sweep, ones),
            "gcrodr, carried, input (random) order": runs(ours, sweep, ones, "gcrodr", True),
            "gcrodr, carried, greedy order":
                runs(ours, sweep, ones, "gcrodr", True, sweep_order),
            "scipy gcrotmk(40, 20), carried, greedy order":
                runs(scipy_gcrotmk, sweep, ones, True, sweep_order),
            "scipy cg": runs(scipy_cg, sweep, ones),
            "recycled_cg, carried, input order": runs(ours, sweep, ones, "recycled_cg", True),
            "recycled_cg, carried, greedy order":
                runs(ours, sweep, ones, "recycled_cg", True, sweep_order),
        }, "scipy gmres(40)", count)
    if "order" in tables:
        ordering_cost(k, [100, 300] if not args.quick else [100])
    if server is not None:
        client.close()
        server.stop()


if __name__ == "__main__":
    main()
