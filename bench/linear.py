"""Linear solves against the tools users already have (issue 26's suite).

    python bench/linear.py [--quick] [--only darcy,...] [--repeats 1] [--no-client]
    python bench/linear.py --sequence [--quick] [--systems 20] [--tuned]
    python bench/linear.py --same-matrix [--quick] [--systems 20]

Each problem is solved to rtol 1e-8 on the true residual by solverd's AUTO (in process
and through a client to a local server) and by its peers in the same run: PyAMG
(smoothed-aggregation PCG for symmetric problems, GMRES on smoothed aggregation for
nonsymmetric ones: the AIR variant is slower on these, measured), SciPy's SuperLU
(`spsolve`), and SciPy's CG/GMRES with ILU (drop 1e-4, fill 10). Printed per problem:
seconds (setup included), iterations, peak traced memory, and AUTO's time over the
fastest peer's; the geometric mean of that ratio at the end. One BLAS thread.
`--quick` halves the grids (n about 2.5e4-6.5e4) for a rehearsal. The problems are
built by tests/linear_suite.py, whose answers tests/test_linear_suite.py checks at 1/8 size.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from service.cpu import pin_blas_threads  # noqa: E402

pin_blas_threads(1)

import numpy as np  # noqa: E402
import pyamg  # noqa: E402
import scipy.sparse as sp  # noqa: E402
import scipy.sparse.linalg as spla  # noqa: E402

from solvers.linear import solve  # noqa: E402
from solvers.linear.amg import AmgOptions  # noqa: E402

from linear_suite import Problem, convection_diffusion, suite  # noqa: E402
from problems import darcy_2d, gaussian_random_field  # noqa: E402

RTOL = 1e-8


def _measure(run: Callable[[], tuple[np.ndarray, int]], a: sp.spmatrix, b: np.ndarray,
             repeats: int) -> tuple[float, int, float, float]:
    """(median seconds, iterations, relative residual, peak MB) of `run`. The peak is
    traced in a first run; tracemalloc slows Python-level work and not native work (it
    had put AUTO at 1.5-1.9x spsolve on the 250-row meshes, 1.15x untraced), so a run
    under 2 s is timed again without it, one under 0.25 s as many times as fit in
    half a second."""
    tracemalloc.start()
    start = time.perf_counter()
    x, iterations = run()
    first = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    times = [first] if first >= 2.0 else []
    count = max(repeats - len(times), min(200, int(0.5 / max(first, 1e-4))))
    for _ in range(count):
        start = time.perf_counter()
        x, iterations = run()
        times.append(time.perf_counter() - start)
    residual = float(np.linalg.norm(b - a @ x) / np.linalg.norm(b))
    return statistics.median(times), iterations, residual, peak


def peers(p: Problem) -> dict[str, Callable[[], tuple[np.ndarray, int]]]:
    a, b = p.a, p.b

    def pyamg_run() -> tuple[np.ndarray, int]:
        residuals: list[float] = []
        if p.symmetric:
            ml = pyamg.smoothed_aggregation_solver(a, B=p.near_nullspace)
            x = ml.solve(b, tol=RTOL, accel="cg", residuals=residuals, maxiter=2000)
        else:
            ml = pyamg.smoothed_aggregation_solver(a, symmetry="nonsymmetric")
            x = ml.solve(b, tol=RTOL, accel="gmres", residuals=residuals, maxiter=2000)
        return x, len(residuals)

    def superlu() -> tuple[np.ndarray, int]:
        return spla.spsolve(a.tocsc(), b), 0

    def ilu_krylov() -> tuple[np.ndarray, int]:
        ilu = spla.spilu(a.tocsc(), drop_tol=1e-4, fill_factor=10)
        M = spla.LinearOperator(a.shape, ilu.solve)
        count = [0]

        def counted(_: Any) -> None:
            count[0] += 1

        # CG needs a symmetric preconditioner: ILU is not, so GMRES for every problem.
        x, _ = spla.gmres(a, b, M=M, rtol=RTOL, atol=0.0, restart=40, maxiter=200,
                          callback=counted, callback_type="pr_norm")
        return x, count[0]

    return {"pyamg": pyamg_run, "spsolve": superlu, "gmres+ilu": ilu_krylov}


def _cell(name: str, figures: tuple[float, int, float, float]) -> str:
    seconds, iterations, residual, peak = figures
    note = "" if residual <= 1.01 * RTOL else f", residual {residual:.0e}"
    return f"{name} {seconds:.2f}s ({iterations}, {peak:.0f} MB{note})"


def _warm_up() -> None:
    """Imports, compiled kernels and PyAMG's first calls, untimed, for every contender."""
    a = darcy_2d(64, np.ones((64, 64))).tocsr()
    b = np.ones(a.shape[0])
    for method, pre in (("cg", "amg"), ("gmres", "amg"), ("direct", "none"), ("cg", "none")):
        solve(a, b, method=method, preconditioner=pre, rtol=RTOL)
    solve(a, b, rtol=RTOL)
    pyamg.smoothed_aggregation_solver(a).solve(b, tol=RTOL, accel="cg")
    spla.spsolve(a.tocsc(), b)


def sequence(args: argparse.Namespace) -> None:
    """20 systems of a slowly changing field (each step adds 5% of a fresh field to the
    log-coefficient) solved by SolveBatch (AUTO: AMG-CG, the hierarchy reused while it
    pays) against PyAMG built afresh per system and SuperLU per system."""
    mats, b, k = _sequence_systems(args)
    with _local_client(mats[0][:100, :100]) as client:
        start = time.perf_counter()
        results = client.solve_batch(mats, b, rtol=RTOL, order="input",
                                     warm_start=args.warm_start)
        t_batch = time.perf_counter() - start
    reuses = sum(bool(r.amg and r.amg["reused"]) for r in results)
    worst = max(float(np.linalg.norm(b - a @ r.x) / np.linalg.norm(b))
                for a, r in zip(mats, results, strict=True))
    start = time.perf_counter()
    for a in mats:
        pyamg.smoothed_aggregation_solver(a).solve(b, tol=RTOL, accel="cg")
    t_pyamg = time.perf_counter() - start
    start = time.perf_counter()
    for a in mats:
        spla.spsolve(a.tocsc(), b)
    t_lu = time.perf_counter() - start
    fastest = min(t_pyamg, t_lu)
    print(f"sequence: {args.systems} Darcy {k}^2 systems, a slowly changing field | solverd "
          f"SolveBatch (AUTO: {results[0].method}, hierarchy reused "
          f"{reuses} times, iterations {[r.iterations for r in results]}, worst residual "
          f"{worst:.1e}) {t_batch:.2f} s | PyAMG afresh {t_pyamg:.2f} s | spsolve {t_lu:.2f} s | "
          f"ratio {t_batch / fastest:.2f}", flush=True)


def same_matrix(args: argparse.Namespace) -> None:
    """Many right-hand sides of one nonsymmetric matrix (convection-diffusion, Pe 400,
    AUTO: SuperLU), one at a time: a SolveBatch of one matrix and a SolveSequence stream
    (the same A object, sent once) that keep its LU factors, against spsolve per system
    and against SciPy's splu once then its solve per system (what a user who knows the
    matrix repeats would write)."""
    k = 150 if args.quick else 300
    a = convection_diffusion(k, 400.0)
    rhs = np.random.default_rng(2).standard_normal((args.systems, k * k))
    with _local_client(a[:100, :100]) as client:
        start = time.perf_counter()
        batch = client.solve_batch(a, rhs, rtol=RTOL)
        t_batch = time.perf_counter() - start
        start = time.perf_counter()
        with client.sequence(method="auto", stream=True, rtol=RTOL) as seq:
            streamed = [seq.solve(a, b) for b in rhs]
        t_stream = time.perf_counter() - start
    reused = [sum(r.factors_reused for r in rs) for rs in (batch, streamed)]
    worst = max(float(np.linalg.norm(b - a @ r.x) / np.linalg.norm(b))
                for rs in (batch, streamed) for b, r in zip(rhs, rs, strict=True))
    csc = a.tocsc()
    start = time.perf_counter()
    for b in rhs:
        spla.spsolve(csc, b)
    t_spsolve = time.perf_counter() - start
    start = time.perf_counter()
    lu = spla.splu(csc)
    for b in rhs:
        lu.solve(b)
    t_splu = time.perf_counter() - start
    print(f"same matrix: {args.systems} right-hand sides, convection-diffusion Pe 400 {k}^2 | "
          f"solverd SolveBatch {t_batch:.2f} s, stream {t_stream:.2f} s (factors reused "
          f"{reused[0]} and {reused[1]} times, worst residual {worst:.1e}) | spsolve per "
          f"system {t_spsolve:.2f} s | splu once {t_splu:.2f} s | ratio to spsolve: batch "
          f"{t_batch / t_spsolve:.2f}, stream {t_stream / t_spsolve:.2f}; to splu once: "
          f"batch {t_batch / t_splu:.2f}, stream {t_stream / t_splu:.2f}", flush=True)


def tuned_sequence(args: argparse.Namespace) -> None:
    """The sequence row's systems solved by AUTO tuned along a SolveSequence stream
    (Tsallis-INF over direct, AMG reused, AMG rebuilt, recycling: auto_sequence), against
    each of those configurations fixed for the whole sequence, in process (the best of
    them is the best fixed configuration in hindsight)."""
    from solvers.linear.auto_sequence import ARMS, AutoSequence

    mats, b, k = _sequence_systems(args)
    with _local_client(mats[0][:100, :100]) as client:
        start = time.perf_counter()
        plays = []
        with client.sequence(method="auto", tuner="tsallis-inf", stream=True, rtol=RTOL,
                             seed=args.seed) as seq:
            for a in mats:
                r = seq.solve(a, b)
                assert r.converged
                plays.append(r.auto_reason.split()[3])
        t_tuned = time.perf_counter() - start
    in_process = AutoSequence(rtol=RTOL, seed=args.seed)
    start = time.perf_counter()
    for a in mats:
        assert in_process.solve(a, b).result.converged
    t_local = time.perf_counter() - start
    # Each configuration fixed for the whole sequence, the likely fastest first; one
    # whose running time passes 3x the best total so far cannot be the best and is
    # stopped there (unpreconditioned recycled CG takes minutes a system at 512^2).
    fixed: dict[str, str] = {}
    best_total, best = math.inf, ""
    for arm in ("amg_reuse", "amg_rebuild", "direct", "recycled"):
        seq_fixed = AutoSequence(rtol=RTOL, fixed=arm)
        start = time.perf_counter()
        for done, a in enumerate(mats, 1):
            assert seq_fixed.solve(a, b).result.converged
            elapsed = time.perf_counter() - start
            if elapsed > 3 * best_total and done < len(mats):
                fixed[arm] = f"> {elapsed:.2f} s (stopped after {done} systems)"
                break
        else:
            fixed[arm] = f"{elapsed:.2f} s"
            if elapsed < best_total:
                best_total, best = elapsed, arm
    counts = {arm: plays.count(arm) for arm in ARMS}
    print(f"tuned sequence: {args.systems} Darcy {k}^2 systems | tuned AUTO stream "
          f"{t_tuned:.2f} s, plays {counts}; in process {t_local:.2f} s | fixed: "
          + ", ".join(f"{arm} {t}" for arm, t in fixed.items())
          + f" | ratio to the best fixed ({best}): stream {t_tuned / best_total:.2f}, in "
          f"process {t_local / best_total:.2f}", flush=True)


@contextlib.contextmanager
def _local_client(warm: sp.spmatrix) -> Iterator[Any]:
    """A client of a fresh local CPU server (one BLAS thread), warmed by solving `warm`;
    the server stops on leaving."""
    from solverd import Client

    from conftest import start_server

    server = start_server("--backend", "cpu", "--blas-threads", "1")
    try:
        client = Client(server.address, timeout=3600)
        client.solve(warm, np.ones(warm.shape[0]), rtol=RTOL)
        yield client
    finally:
        server.stop()


def _sequence_systems(args: argparse.Namespace) -> tuple[list, np.ndarray, int]:
    rng = np.random.default_rng(1)
    k = 256 if args.quick else 512
    log_c = gaussian_random_field(k, rng)
    mats = []
    for _ in range(args.systems):
        log_c = log_c + 0.05 * gaussian_random_field(k, rng)
        mats.append(darcy_2d(k, np.exp(log_c)).tocsr())
    return mats, np.ones(k * k), k


def _row(p: Problem, client: Any, args: argparse.Namespace) -> float:
    """One problem's line of the suite: AUTO (in process and, given a client, through
    it) against each peer; returns AUTO's time over the fastest converged peer's."""
    n = p.a.shape[0]
    options = AmgOptions(near_nullspace=p.near_nullspace)
    found: dict[str, tuple[float, int, float, float]] = {}

    def auto(p: Problem = p, options: AmgOptions = options) -> tuple[np.ndarray, int]:
        r = solve(p.a, p.b, rtol=RTOL, amg_options=options)
        auto.detail = f"{r.method}+{r.preconditioner}"  # type: ignore[attr-defined]
        return r.x, r.iterations

    found["solverd auto"] = _measure(auto, p.a, p.b, args.repeats)
    detail = auto.detail  # type: ignore[attr-defined]
    if client is not None:
        amg = None if p.near_nullspace is None else {"near_nullspace": p.near_nullspace}

        def remote(p: Problem = p, amg: Any = amg) -> tuple[np.ndarray, int]:
            r = client.solve(p.a, p.b, rtol=RTOL, amg=amg)
            return r.x, r.iterations

        found["via client"] = _measure(remote, p.a, p.b, args.repeats)
    for name, run in peers(p).items():
        if name in args.skip or (name == "spsolve" and "3-D" in p.name and n > 150_000):
            continue
        try:
            found[name] = _measure(run, p.a, p.b, args.repeats)
        except Exception as exc:  # a peer that fails is a row, not a crash
            print(f"    {name}: {type(exc).__name__}: {exc}")
    fastest = min((v[0], k) for k, v in found.items()
                  if k not in ("solverd auto", "via client") and v[2] <= 1.01 * RTOL)
    ratio = found["solverd auto"][0] / fastest[0]
    cells = "  ".join(_cell(k, v) for k, v in found.items())
    print(f"{p.name:36s} n {n:8d} | auto = {detail:12s} | {cells} | ratio "
          f"{ratio:.2f} (fastest: {fastest[1]})", flush=True)
    return ratio


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", type=lambda s: s.split(","), default=None)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--no-client", action="store_true")
    parser.add_argument("--skip", type=lambda s: s.split(","), default=[],
                        help="peers to leave out (spsolve on 3-D problems fills for minutes)")
    parser.add_argument("--sequence", action="store_true", help="only the sequence row")
    parser.add_argument("--systems", type=int, default=20)
    parser.add_argument("--warm-start", action="store_true",
                        help="sequence: start each system from the last one's answer")
    parser.add_argument("--tuned", action="store_true",
                        help="sequence: AUTO tuned along a stream against fixed configurations")
    parser.add_argument("--seed", type=int, default=0, help="--tuned: the tuner's seed")
    parser.add_argument("--same-matrix", action="store_true",
                        help="only the row of many right-hand sides of one matrix")
    args = parser.parse_args()
    if args.same_matrix:
        same_matrix(args)
        return
    if args.sequence and args.tuned:
        tuned_sequence(args)
        return
    if args.sequence:
        sequence(args)
        return
    rng = np.random.default_rng(0)
    problems = [p for p in suite(args.quick, rng)
                if args.only is None or any(o in p.name for o in args.only)]
    print(f"rtol {RTOL:g} on the true residual, one BLAS thread, median of {args.repeats} "
          f"(runs under 2 s timed untraced, under 0.25 s repeated for 0.5 s); seconds "
          f"(iterations, peak MB); ratio: AUTO in process / fastest peer")
    _warm_up()
    warm = darcy_2d(64, np.ones((64, 64))).tocsr()
    with contextlib.nullcontext() if args.no_client else _local_client(warm) as client:
        ratios = [_row(p, client, args) for p in problems]
    geo = math.exp(sum(math.log(r) for r in ratios) / len(ratios))
    print(f"geometric mean of AUTO / fastest peer: {geo:.2f}; worst {max(ratios):.2f}")


if __name__ == "__main__":
    main()
