"""One entry point for every linear method: choose, move to the device, solve, verify.

Every answer is judged on the true residual ||b - A x|| recomputed from the
returned x, never on a solver's running estimate: when the estimate says
"converged" but the true residual disagrees (rounding drift, a preconditioned
norm), the method restarts from x with a tighter target, a few times at most.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import scipy.sparse as sp

from solvers.backend import Backend, get_backend
from solvers.errors import SolverInputError, check_stop
from solvers.linear import amg, krylov, preconditioners, recycling
from solvers.linear import sor as sor_module
from solvers.linear.direct import (
    DEFAULT_FACTOR_BUDGET_BYTES,
    NO_GEOMETRY_DIMENSION,
    Factors,
    SingularMatrix,
    direct_solve,
    factor_flops,
    over_budget,
)
from solvers.linear.pattern import pattern_dimension
from solvers.linear.products import fast_products
from solvers.scaling import divided, safe_scale

METHODS = ("auto", "cg", "minres", "gmres", "bicgstab", "direct", "sor", "ssor_cg", "gcrodr",
           "recycled_cg")
# Methods that carry a recycle space from one system to the next (solvers/linear/recycling).
RECYCLING_METHODS = ("gcrodr", "recycled_cg")
ITERATIVE = {"cg": krylov.cg, "minres": krylov.minres, "gmres": krylov.gmres,
             "bicgstab": krylov.bicgstab}
# Methods built on SOR sweeps: PyAMG's compiled kernel on the CPU, multicolour on a GPU.
SWEEP_METHODS = ("sor", "ssor_cg")


def device_for(method: str, device: str) -> str:
    """The device a request runs on before any GPU probing: `auto` keeps the sweep
    methods on the CPU (natural order; the GPU's multicolour sweeps are another
    iteration with other counts, so they run only when the GPU is asked for)."""
    return "cpu" if method in SWEEP_METHODS and device == "auto" else device


def _sor_kernel(A: Any, b: Any, x: Any, M: Any, tol: float, maxiter: int,
                check: Callable[[], None], xp: Any, omega: float) -> krylov.KernelOutcome:
    return sor_module.sor(A, b, x, tol, maxiter, check, omega)


def _sor_gpu_kernel(colours: Any, A: Any, b: Any, x: Any, M: Any, tol: float, maxiter: int,
                    check: Callable[[], None], xp: Any, omega: float) -> krylov.KernelOutcome:
    from solvers.linear import sor_gpu

    return sor_gpu.sor(A, colours, b, x, tol, maxiter, check, omega)

# AUTO solves directly below these sizes: SuperLU on a 2-D stencil of 20k rows
# takes tens of milliseconds, which no unpreconditioned Krylov method beats.
AUTO_DIRECT_MAX_SPARSE_ROWS = 20_000
AUTO_DIRECT_MAX_DENSE_ROWS = 2_000
# ... if the factorisation is cheap for its pattern (direct.factor_flops, n^1.5 on a 2-D
# mesh, about n^1.9 on a 3-D one): on 3-D diffusion SuperLU took 12 ms at 1,728 rows
# like AMG-CG, 26 against 29-34 ms at 2,744 (3.3e6), 76 against 17 ms at 4,913 (1e7) and
# 2.2 s against 71 ms at 19,683, while a 2-D mesh of 20,000 rows (2.4e6) factors in
# about 40 ms. Up to the first size every pattern goes direct (its dimension would cost
# more than it decides).
AUTO_DIRECT_ALWAYS_ROWS = 1_000
AUTO_SMALL_DIRECT_FLOPS = 4e6
# Nonsymmetric or indefinite systems of a 2-D-like pattern go to SuperLU up to this size,
# and an AUTO iterative solve that fails falls back to it up to this size (2-D-like) or
# the 3-D one.
AUTO_DIRECT_MAX_2D_ROWS = 300_000
AUTO_FALLBACK_MAX_3D_ROWS = 60_000
DEFAULT_RESTART = 30
# True-residual verifications per column before giving up on a drifting estimate.
MAX_REFINEMENTS = 4


@dataclass
class LinearSolveResult:
    """The answer to A x = b and an honest account of how it was reached."""

    x: np.ndarray
    converged: bool
    iterations: int  # largest over the columns
    residual_norm: float  # largest true ||b - A x|| / ||b|| over the columns
    method: str
    preconditioner: str
    matvecs: int
    column_iterations: list[int]
    column_converged: list[bool]
    column_residual_norms: list[float]
    stop_reason: str
    backend: str
    device: str
    precision: str
    seconds: float
    setup_seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


def is_symmetric(a: np.ndarray | sp.spmatrix) -> bool:
    if a.shape[0] != a.shape[1]:
        return False
    if sp.issparse(a):
        diff = (a - a.T).tocsr()
        worst = abs(diff).max() if diff.nnz else 0.0
        scale = abs(a).max() if a.nnz else 0.0
    else:
        worst = float(np.abs(a - a.T).max()) if a.size else 0.0
        scale = float(np.abs(a).max()) if a.size else 0.0
    return bool(worst <= 1e-12 * scale)


def choose_method(a: np.ndarray | sp.spmatrix, preconditioner: str = "none") -> str:
    """AUTO's method (see choose)."""
    return choose(a, preconditioner)[0]


def choose(a: np.ndarray | sp.spmatrix, preconditioner: str = "none",
           factor_budget: float | None = None) -> tuple[str, str, str]:
    """AUTO: (method, preconditioner, reason). Direct for small systems and for the
    nonsymmetric or indefinite ones of a 2-D-like sparsity pattern up to a size (SuperLU's
    fill grows as n log n there, as n^(4/3) in 3-D); AMG-preconditioned CG for the
    symmetric ones with a positive diagonal; else GMRES with AMG, MINRES for symmetric
    indefinite. A preconditioner asked for is kept and the method follows it (ILU and
    AIR are not symmetric: GMRES). No factorisation whose estimated factors
    (direct.factor_bytes) exceed `factor_budget` bytes is chosen."""
    n = a.shape[0]
    sparse = sp.issparse(a)
    small = AUTO_DIRECT_MAX_SPARSE_ROWS if sparse else AUTO_DIRECT_MAX_DENSE_ROWS
    over = ""  # why a factorisation AUTO would have chosen was not

    def fits() -> bool:
        nonlocal over
        needed = over_budget(a, factor_budget)
        if needed is None:
            return True
        over = (f"a factorisation (about {needed / 2**20:.0f} MiB of factors) exceeds the "
                f"budget of {factor_budget / 2**20:.0f} MiB; ")
        return False

    cheap = (not sparse or n <= AUTO_DIRECT_ALWAYS_ROWS
             or (n <= small and factor_flops(a) <= AUTO_SMALL_DIRECT_FLOPS))
    if n <= small and cheap and fits():
        return "direct", "none", f"small ({n} rows): a direct factorisation"
    symmetric = is_symmetric(a)
    spd_like = symmetric and _positive_diagonal(a)
    if preconditioner != "none":
        if preconditioner == "ilu" or not symmetric:
            return "gmres", preconditioner, f"{over}{preconditioner} asked for: GMRES"
        method = "cg" if spd_like else "minres"
        return method, preconditioner, f"{over}{preconditioner} asked for, symmetric: {method}"
    if not sparse:
        method = "cg" if spd_like else "minres" if symmetric else "gmres"
        return method, "none", f"{over}dense and large: an unpreconditioned Krylov method"
    shifted = spd_like and _shifted(a)
    if spd_like and not shifted:
        # The pattern's dimension (a reverse Cuthill-McKee pass, 0.25 s at 10^6 rows)
        # decides nothing here.
        return "cg", "amg", (f"{over}symmetric with a positive diagonal: smoothed-"
                             f"aggregation AMG with CG")
    dimension = pattern_dimension(a)
    two_d = dimension <= 2.5 and n <= AUTO_DIRECT_MAX_2D_ROWS
    if shifted and two_d and fits():
        return "direct", "none", (f"symmetric, but its diagonal falls short of its "
                                  f"off-diagonal row sums in most rows (a shifted, "
                                  f"Helmholtz-like operator: likely indefinite, where CG "
                                  f"breaks down), {dimension:.1f}-D pattern, {n} rows: "
                                  f"SuperLU")
    if spd_like:
        return "cg", "amg", (f"{over}symmetric with a positive diagonal ({dimension:.1f}-D "
                             f"pattern): smoothed-aggregation AMG with CG")
    if two_d and fits():
        what = "symmetric indefinite" if symmetric else "nonsymmetric"
        return "direct", "none", (f"{what}, {dimension:.1f}-D pattern, {n} rows: SuperLU "
                                  f"(fill about n log n)")
    if symmetric:
        return "minres", "none", (f"{over}symmetric indefinite, {dimension:.1f}-D pattern: "
                                  f"MINRES")
    if dimension > NO_GEOMETRY_DIMENSION:
        # Aggregation has no mesh to coarsen: on a random pattern PyAMG's hierarchy
        # stalled, its lazily built coarsest solve ran up to 0.5 s where no stop is polled,
        # and GMRES on it broke down. Plain GMRES polls every step (and falls back).
        return "gmres", "none", (f"{over}nonsymmetric, {dimension:.1f}-D pattern (no "
                                 f"mesh behind it): GMRES")
    return "gmres", "amg", (f"{over}nonsymmetric, {dimension:.1f}-D pattern: nonsymmetric "
                            f"smoothed-aggregation AMG with GMRES")


def looks_spd(a: np.ndarray | sp.spmatrix) -> bool:
    """Symmetric with a positive diagonal: AUTO's test for the CG family."""
    return is_symmetric(a) and _positive_diagonal(a)


def _shifted(a: sp.spmatrix) -> bool:
    """A Z-matrix (no positive off-diagonal entry) whose row sums are negative in most
    rows: a diffusion operator minus a shift, as a Helmholtz one. A Laplacian or Darcy
    matrix has zero row sums inside and positive ones at the boundary; a symmetric
    Z-matrix is positive definite only if it is an M-matrix, which a shift past its
    least eigenvalue undoes. On bench/linear.py's shifted Laplacian AMG-CG broke down
    at its first step, its hierarchy built for nothing (1.23x SuperLU's time)."""
    csr = sp.csr_matrix(a)
    rows = np.repeat(np.arange(csr.shape[0]), np.diff(csr.indptr))
    off = rows != csr.indices
    if np.any(csr.data[off] > 0):
        return False
    sums = np.asarray(csr.sum(axis=1)).ravel()
    return bool(np.count_nonzero(sums < 0) > 0.5 * csr.shape[0])


def _positive_diagonal(a: np.ndarray | sp.spmatrix) -> bool:
    return bool(np.all(a.diagonal() > 0))


def resolve_dtype(precision: str, a: Any, b: np.ndarray) -> np.dtype:
    if precision == "float64":
        return np.dtype(np.float64)
    if precision == "float32":
        return np.dtype(np.float32)
    if precision != "auto":
        raise SolverInputError("precision", f"unknown precision {precision!r}")
    both32 = a.dtype == np.float32 and b.dtype == np.float32
    return np.dtype(np.float32 if both32 else np.float64)


def solve(
    a: np.ndarray | sp.spmatrix,
    b: np.ndarray,
    *,
    method: str = "auto",
    preconditioner: str = "none",
    x0: np.ndarray | None = None,
    rtol: float = 1e-5,
    atol: float = 0.0,
    maxiter: int | None = None,
    restart: int | None = None,
    device: str = "auto",
    precision: str = "auto",
    allow_gpu: bool = True,
    omega: float = 1.0,
    should_stop: Callable[[], str | None] | None = None,
    recycle: int | None = None,
    recycle_space: recycling.RecycleSpace | None = None,
    same_matrix: bool = False,
    amg_options: amg.AmgOptions | None = None,
    amg_hierarchy: amg.Hierarchy | None = None,
    factors: Factors | None = None,
    keep_factors: bool = False,
    factor_budget: float | None = DEFAULT_FACTOR_BUDGET_BYTES,
) -> LinearSolveResult:
    """Solves A x = b (b of shape (n,) or (n, k)) on the CPU or the GPU.

    Stops when ||b - A x|| <= max(rtol ||b||, atol) for each column, after
    `maxiter` iterations per column (default 10 n), or on breakdown; the result
    says which. `omega` is the relaxation of "sor" (one iteration = one forward
    sweep) and of the SSOR preconditioner of "ssor_cg". `should_stop` is polled
    once per iteration; a non-None return (e.g. "deadline") aborts the solve with
    `Interrupted`.

    "gcrodr" and "recycled_cg" take a `recycle_space` from an earlier solve (host or
    device arrays; `same_matrix` when A has not changed, else k products re-fit it)
    and return the next one in `result.extra["recycle_space"]`; `restart` is
    GCRO-DR's m (default 40), `recycle` its k (default 20).

    `keep_factors` keeps a direct solve's factorisation in `result.extra["factors"]`;
    passed back as `factors` for a system of the same A ("direct" or "auto"), the next
    solve reuses it (`extra["factors_reused"]`). The caller closes them when done.
    `factor_budget` (bytes; None: no limit) bounds the factors a direct solve may
    start (direct.factor_bytes estimates them): AUTO then picks another method, and
    "direct" raises SolverInputError naming `method`.
    """
    start = time.perf_counter()
    n = a.shape[0]
    if a.ndim != 2 or a.shape[0] != a.shape[1]:
        raise SolverInputError("a", f"A must be square, got shape {a.shape}")
    if b.ndim not in (1, 2) or b.shape[0] != n:
        raise SolverInputError("b", f"b must have shape ({n},) or ({n}, k), got {b.shape}")
    if x0 is not None and x0.shape != b.shape:
        raise SolverInputError("x0", f"x0 must have the shape of b {b.shape}, got {x0.shape}")
    if method not in METHODS:
        raise SolverInputError("method", f"unknown method {method!r}; one of {METHODS}")
    if preconditioner not in preconditioners.PRECONDITIONERS:
        raise SolverInputError("preconditioner", f"unknown preconditioner {preconditioner!r}")
    if not (rtol >= 0 and math.isfinite(rtol)):
        raise SolverInputError("rtol", f"rtol must be finite and >= 0, got {rtol}")
    if not (atol >= 0 and math.isfinite(atol)):
        raise SolverInputError("atol", f"atol must be finite and >= 0, got {atol}")
    maxiter = 10 * n if not maxiter else int(maxiter)
    asked_maxiter = maxiter  # a reused hierarchy's solve is capped below it (see below)
    if maxiter < 0:
        raise SolverInputError("maxiter", "maxiter must be >= 0")
    default_restart = recycling.DEFAULT_RESTART if method == "gcrodr" else DEFAULT_RESTART
    restart = default_restart if not restart else int(restart)
    if restart < 1:
        raise SolverInputError("restart", "restart must be >= 1")

    dtype = resolve_dtype(precision, a, b)
    scale_a, scale_b = _exact_scales(a, b, dtype)
    if scale_a != 1.0 or scale_b != 1.0:
        # Values whose squares over- or underflow would make every norm inf or 0 and
        # the stopping test meaningless: solve (A / sa) y = b / sb, x = y sb / sa,
        # with powers of two so the scaling itself rounds nothing.
        a_s, b_s = divided(a, scale_a), divided(b, scale_b)
        result = solve(a_s, b_s, method=method, preconditioner=preconditioner,
                       x0=None if x0 is None else x0 * (scale_a / scale_b), rtol=rtol,
                       atol=atol / scale_b, maxiter=maxiter, restart=restart, device=device,
                       precision=precision, allow_gpu=allow_gpu, omega=omega,
                       should_stop=should_stop, recycle=recycle, recycle_space=recycle_space,
                       same_matrix=same_matrix, amg_options=amg_options,
                       amg_hierarchy=amg_hierarchy, factors=factors,
                       keep_factors=keep_factors, factor_budget=factor_budget)
        return _unscaled(result, a_s, b_s, np.float64(scale_b), np.float64(scale_a), rtol,
                         atol / scale_b, start)
    auto_reason = ""
    reusable = (factors is not None and method in ("auto", "direct") and factors.matches(
        a, dtype, get_backend(device_for("direct", device), allow_gpu=allow_gpu).is_gpu))
    if not reusable:
        factors = None
    if method == "auto" and reusable:
        chosen, preconditioner = "direct", "none"
        auto_reason = "the factors of this matrix, kept from an earlier system: their triangles"
    elif method == "auto":
        chosen, preconditioner, auto_reason = choose(a, preconditioner, factor_budget)
    else:
        chosen = method
    needed = over_budget(a, factor_budget) if chosen == "direct" and factors is None else None
    if needed is not None:
        raise SolverInputError("method", (
            f"a direct factorisation of this matrix would hold about "
            f"{needed / 2**20:.0f} MiB of factors, over the budget of "
            f"{factor_budget / 2**20:.0f} MiB; use auto or an iterative method"))
    if chosen == "recycled_cg" and dtype == np.float32:
        # Deflated CG keeps every direction A-orthogonal to U by projections that single
        # precision cannot hold. Measured on 80 float32 Darcy systems (grids 24-64,
        # contrast exp(0.5-2 GRF), k 8-20, rtol 3e-4): recycled CG broke down ("not
        # positive definite") or stalled on 41 (the NumPy loop the GPU runs: 18), float32
        # CG on 2; GCRO-DR in float32 is sound. So it computes in float64 (0 of 80 fail,
        # also at rtol 1e-5), and the result's precision says so.
        dtype = np.dtype(np.float64)
    if chosen in SWEEP_METHODS:
        sor_module.check_omega(omega)
        if preconditioner != "none":
            raise SolverInputError("preconditioner", f"{chosen} takes no preconditioner")
    backend = get_backend(device_for(chosen, device), allow_gpu=allow_gpu)

    def check() -> None:
        check_stop(should_stop)

    check()
    b2 = b.reshape(n, -1)
    sweep_csr = sor_module.csr_for_sweeps(a, dtype) if chosen in SWEEP_METHODS else None
    a_dev = sweep_csr if sweep_csr is not None and not backend.is_gpu else backend.matrix(a, dtype)
    b_dev = backend.asarray(b2, dtype=dtype)
    x_dev = (backend.xp.zeros_like(b_dev) if x0 is None
             else backend.asarray(x0.reshape(n, -1), dtype=dtype).copy())
    b_norms = [float(v) for v in backend.to_host(backend.xp.linalg.norm(b_dev, axis=0))]
    targets = [max(rtol * bn, atol) for bn in b_norms]

    setup_start = time.perf_counter()
    extra: dict[str, Any] = {}
    if chosen == "direct":
        outcomes = _direct(a, a_dev, b_dev, x_dev, backend, dtype, should_stop, factors,
                           keep_factors, extra)
        used_preconditioner = "none"
    else:
        options: dict[str, Any] = {}
        # SOR's kernel hands A to PyAMG, which wants the CSR matrix itself. One
        # wrapper for the whole solve: it counts the products that decide whether a
        # stencil is worth converting to diagonals (products.CONVERT_AFTER).
        a_kernel = a_dev if chosen == "sor" else fast_products(a_dev)
        if chosen in SWEEP_METHODS and backend.is_gpu:
            from solvers.linear import sor_gpu

            colours = sor_gpu.MulticolourSweeps(sweep_csr, backend, dtype)
            extra["colours"] = colours.count
            if chosen == "sor":
                precond, used_preconditioner = None, "none"
                kernel = functools.partial(_sor_gpu_kernel, colours)
                options["omega"] = omega
            else:
                precond = sor_gpu.ssor_preconditioner(colours, omega)
                kernel, used_preconditioner = krylov.cg, "ssor"
        elif chosen == "sor":
            precond, kernel, used_preconditioner = None, _sor_kernel, "none"
            options["omega"] = omega
        elif chosen in RECYCLING_METHODS:
            if recycle is None:  # the default adapts to the problem: n < 20 is no error
                recycle = min(recycling.DEFAULT_RECYCLE, max(1, n // 2),
                              max(1, restart - 2) if chosen == "gcrodr" else n)
            if not 1 <= recycle <= max(1, min(restart - 2, n)) and chosen == "gcrodr":
                raise SolverInputError("recycle", f"recycle must lie in [1, restart - 2 = "
                                       f"{restart - 2}], got {recycle}")
            if not 1 <= recycle <= n:
                raise SolverInputError("recycle", f"recycle must lie in [1, n], got {recycle}")
            precond = preconditioners.build(preconditioner, a, a_dev, backend, dtype, chosen,
                                            amg_options, extra, amg_hierarchy, should_stop)
            used_preconditioner = preconditioner
            kernel = _recycling_kernel(chosen, a_kernel, backend, dtype, restart,
                                                       recycle, recycle_space, same_matrix,
                                                       extra)
        elif chosen == "ssor_cg":
            precond, kernel = sor_module.ssor_preconditioner(a_dev, omega), krylov.cg
            used_preconditioner = "ssor"
        else:
            precond = preconditioners.build(preconditioner, a, a_dev, backend, dtype, chosen,
                                            amg_options, extra, amg_hierarchy, should_stop)
            kernel, used_preconditioner = ITERATIVE[chosen], preconditioner
            if extra.get("amg_reused") and amg_hierarchy is not None:
                # Give a reused hierarchy a few times the iterations it took when built:
                # past that it has stopped fitting, and a fresh one is cheaper.
                maxiter = min(maxiter, 4 * amg_hierarchy.fresh_iterations + 20)
            if chosen == "gmres":
                options["restart"] = restart
        extra["preconditioner_seconds"] = time.perf_counter() - setup_start
        outcomes = []
        for j in range(b2.shape[1]):
            col = _iterate(kernel, a_kernel, b_dev[:, j].copy(), x_dev[:, j].copy(), precond,
                           targets[j], b_norms[j], maxiter, check, backend, options)
            x_dev[:, j] = col.x
            outcomes.append(col)
        extra["checkpoint_matvecs"] = sum(o.checkpoint_matvecs for o in outcomes)
    setup_seconds = extra.get("preconditioner_seconds", 0.0)

    measured = [o.true_residual for o in outcomes]
    if None not in measured:  # every column's, already measured on its returned x
        residuals = np.array(measured)
    else:
        with np.errstate(over="ignore", invalid="ignore"):  # a diverged x gives inf: a result
            residuals = backend.to_host(backend.xp.linalg.norm(b_dev - a_dev @ x_dev, axis=0))
    rel = [float(r) / bn if bn > 0 else float(r) for r, bn in zip(residuals, b_norms, strict=True)]
    # Every method, direct included, is judged by the same rule on the true residual.
    x_host = backend.to_host(x_dev).reshape(b.shape)
    finite_x = np.isfinite(x_host.reshape(n, -1)).all(axis=0)
    converged = [o.reason != "singular" and bool(np.isfinite(residuals[j]))
                 and bool(finite_x[j]) and bool(residuals[j] <= targets[j])
                 for j, o in enumerate(outcomes)]
    # A column that claimed convergence the true residual denies: an iterative method
    # stagnated; a factorisation lost the digits to ill-conditioning.
    denied = "ill-conditioned: residual above tolerance" if chosen == "direct" else "stagnation"
    failing = [o.reason if o.reason != "converged" else denied
               for o, ok in zip(outcomes, converged, strict=True) if not ok]
    backend.synchronize()
    if auto_reason:
        extra["auto_reason"] = auto_reason
    result = LinearSolveResult(
        x=x_host,
        converged=all(converged),
        iterations=max((o.iterations for o in outcomes), default=0),
        residual_norm=max(rel, default=0.0),
        method=chosen,
        preconditioner=used_preconditioner,
        matvecs=sum(o.matvecs for o in outcomes) + extra.get("recycle_setup_matvecs", 0),
        column_iterations=[o.iterations for o in outcomes],
        column_converged=converged,
        column_residual_norms=rel,
        stop_reason=failing[0] if failing else "converged",
        backend=backend.name,
        device=backend.device_name,
        precision=dtype.name,
        seconds=time.perf_counter() - start,
        setup_seconds=setup_seconds,
        extra=extra,
    )
    if extra.get("amg_reused") and not result.converged:
        # The reused hierarchy no longer fits this matrix: build one for it.
        fresh = solve(a, b, method=method if not auto_reason else chosen,
                      preconditioner=preconditioner, x0=x0, rtol=rtol, atol=atol,
                      maxiter=asked_maxiter, restart=restart, device=device,
                      precision=precision, allow_gpu=allow_gpu, should_stop=should_stop,
                      amg_options=amg_options, factor_budget=factor_budget)
        fresh.extra["amg_rebuilt_after"] = result.iterations
        fresh.matvecs += result.matvecs
        fresh.seconds = time.perf_counter() - start
        return fresh
    if auto_reason and not result.converged and _direct_fallback_fits(a, chosen,
                                                                      factor_budget):
        return _fell_back(result, a, b, x0, rtol, atol, device, precision, allow_gpu,
                          should_stop, start, factor_budget)
    return result


def _direct_fallback_fits(a: Any, chosen: str, factor_budget: float | None) -> bool:
    """Whether AUTO may retry a failed iterative solve directly: sparse, small enough for
    its pattern's dimension that a factorisation is quick, and its factors within the
    budget."""
    if chosen == "direct" or not sp.issparse(a):
        return False
    n = a.shape[0]
    limit = AUTO_DIRECT_MAX_2D_ROWS if pattern_dimension(a) <= 2.5 else \
        AUTO_FALLBACK_MAX_3D_ROWS
    return n <= limit and over_budget(a, factor_budget) is None


def _fell_back(failed: LinearSolveResult, a: Any, b: np.ndarray, x0: Any, rtol: float,
               atol: float, device: str, precision: str, allow_gpu: bool,
               should_stop: Callable[[], str | None] | None,
               start: float, factor_budget: float | None) -> LinearSolveResult:
    """AUTO's iterative choice did not converge: the direct solve, reported as such."""
    direct = solve(a, b, method="direct", x0=x0, rtol=rtol, atol=atol, device=device,
                   precision=precision, allow_gpu=allow_gpu, should_stop=should_stop,
                   factor_budget=factor_budget)
    reason = (f"{failed.extra.get('auto_reason', '')}; {failed.method} ended "
              f"'{failed.stop_reason}' after {failed.iterations} iterations: fell back to a "
              f"direct factorisation")
    direct.extra.update({"auto_reason": reason, "fallback_from": failed.method,
                         "fallback_iterations": failed.iterations})
    direct.matvecs += failed.matvecs
    direct.seconds = time.perf_counter() - start
    return direct


def _unscaled(result: LinearSolveResult, a_s: Any, b_s: np.ndarray, scale_b: np.float64,
              scale_a: np.float64, rtol: float, atol: float,
              start: float) -> LinearSolveResult:
    """x = y sb / sa, and whether x still solves the scaled system: entries that
    overflow, or underflow into subnormals, lose the accuracy y had. (NumPy scalars:
    a ratio of extreme scales gives 0 or inf, not an exception.)"""
    with np.errstate(over="ignore", under="ignore", invalid="ignore", divide="ignore"):
        x = result.x * (scale_b / scale_a)
        back = x * (scale_a / scale_b)
    reason = result.stop_reason
    converged = result.converged
    if not np.isfinite(x).all():
        converged, reason = False, "overflow: x is not representable in this precision"
    elif converged and not np.array_equal(back, result.x):
        b2, y2 = b_s.reshape(b_s.shape[0], -1), back.reshape(b_s.shape[0], -1)
        residuals = np.linalg.norm(b2 - a_s @ y2, axis=0)
        targets = np.maximum(rtol * np.linalg.norm(b2, axis=0), atol)
        if not (residuals <= targets).all():
            converged = False
            reason = "underflow: x is too small to hold the requested accuracy"
    return replace(result, x=x, converged=converged, stop_reason=reason,
                   seconds=time.perf_counter() - start)


def _exact_scales(a: Any, b: np.ndarray, dtype: np.dtype) -> tuple[float, float]:
    """Powers of two for A and b (see solvers.scaling); (1, 1) for ordinary data."""
    n = b.shape[0]
    return (safe_scale(a.data if sp.issparse(a) else a, n, dtype),
            safe_scale(b, n, dtype))


def _recycling_kernel(method: str, a_dev: Any, backend: Backend, dtype: np.dtype,
                      restart: int, recycle: int, space: recycling.RecycleSpace | None,
                      same_matrix: bool, extra: dict[str, Any]) -> Callable[..., Any]:
    """A kernel that threads the recycle space through the columns of b in
    extra["recycle_space"], where the last one stays. A space of another kind or size
    is refused; one the new matrix collapses is dropped (extra["recycled"] says
    whether one was used, extra["recycle_setup_matvecs"] what moving it cost)."""
    xp = backend.xp
    setup = 0
    extra["recycled"] = False
    if space is not None:
        n = a_dev.shape[0]
        if space.kind != method or space.u.shape != space.c.shape or space.u.shape[1] != n:
            raise SolverInputError("recycle_space", f"needs a {method} space of shape "
                                   f"(k, {n}) for U and C")
        # A stream may switch device between calls: a space left on the GPU comes to
        # the host explicitly (CuPy refuses numpy.asarray of a device array).
        moved = replace(space, u=_on_backend(backend, space.u, dtype),
                        c=_on_backend(backend, space.c, dtype))
        try:
            space, setup = recycling.adopt(moved, a_dev, xp, same_matrix)
            extra["recycled"] = True
        except (np.linalg.LinAlgError, ValueError):  # ValueError: SciPy's non-finite check
            space, setup = None, 0 if same_matrix else space.k  # products spent
    extra["recycle_setup_matvecs"] = setup
    extra["recycle_space"] = space
    columns_done = 0

    def kernel(A: Any, b: Any, x: Any, M: Any, tol: float, maxiter: int,
               check: Callable[[], None], xp: Any) -> krylov.KernelOutcome:
        nonlocal columns_done
        if columns_done and extra["recycle_space"] is not None:
            # The space the last column handed back holds U A U^T = I to rounding only,
            # and deflated CG needs it exact (without this, the third of three columns
            # broke down on a Poisson matrix): adopt it as for the same matrix, which
            # costs no product.
            try:
                extra["recycle_space"], _ = recycling.adopt(extra["recycle_space"], A, xp,
                                                            same_matrix=True)
            except np.linalg.LinAlgError:
                extra["recycle_space"] = None
        columns_done += 1
        if method == "gcrodr":
            outcome, extra["recycle_space"] = recycling.gcrodr(
                A, b, x, M, tol, maxiter, check, xp, restart, recycle, extra["recycle_space"])
        else:
            outcome, extra["recycle_space"] = recycling.recycled_cg(
                A, b, x, M, tol, maxiter, check, xp, recycle, extra["recycle_space"])
        return outcome

    return kernel


def _on_backend(backend: Backend, v: Any, dtype: np.dtype) -> Any:
    """v, a host or device array, on `backend` in `dtype`."""
    if not backend.is_gpu and not isinstance(v, np.ndarray):
        v = v.get()
    return backend.xp.asarray(v, dtype=dtype)


def _direct(a_host: Any, a_dev: Any, b_dev: Any, x_dev: Any, backend: Backend,
            dtype: np.dtype, should_stop: Callable[[], str | None] | None,
            factors: Factors | None, keep: bool, extra: dict[str, Any]
            ) -> list[krylov.KernelOutcome]:
    k = b_dev.shape[1]
    try:
        x, used, which = direct_solve(a_host, a_dev, b_dev, backend, dtype, should_stop,
                                      factors, keep)
        extra["direct_solver"] = which
        if used is not None:
            extra["factors"] = used
            extra["factors_reused"] = used is factors
            if used is not factors:
                extra["factor_seconds"] = used.factor_seconds
    except SingularMatrix:
        return [krylov.KernelOutcome(None, 0, 0, "singular") for _ in range(k)]
    x_dev[...] = x.reshape(x_dev.shape)
    return [krylov.KernelOutcome(None, 0, 0, "converged") for _ in range(k)]


def _iterate(kernel: Callable[..., krylov.KernelOutcome], a: Any, b: Any, x: Any,
             precond: krylov.Precond, target: float, b_norm: float, maxiter: int,
             check: Callable[[], None], backend: Backend,
             options: dict[str, Any]) -> krylov.KernelOutcome:
    """Runs `kernel` and verifies its claim of convergence on the true residual."""
    xp = backend.xp
    if b_norm == 0.0 and target == 0.0:
        x[...] = 0  # the unique solution of a nonsingular system with b = 0
        return krylov.KernelOutcome(x, 0, 0, "converged", 0.0)
    iterations = matvecs = 0
    goal = target
    outcome = krylov.KernelOutcome(x, 0, 0, "max_iterations")
    best = true = math.inf
    checkpoints = _Checkpoints(a, b, x, xp, check)
    for _ in range(MAX_REFINEMENTS + 1):
        outcome = kernel(a, b, x, precond, goal, maxiter - iterations, checkpoints, xp,
                         **options)
        x = checkpoints.x = outcome.x
        iterations += outcome.iterations
        matvecs += outcome.matvecs + 1
        with np.errstate(over="ignore", invalid="ignore"):  # a diverged x: inf, a result
            true = float(xp.linalg.norm(b - a @ x))
        if true <= target or outcome.reason != "converged" or iterations >= maxiter:
            break
        if true >= 0.5 * best:
            outcome.reason = "stagnation"  # the estimate keeps claiming what the truth denies
            break
        best = true
        goal = goal * max(1e-3, min(0.5, target / true))
    reason = outcome.reason
    if reason == "converged" and iterations >= maxiter:
        reason = "max_iterations"
    if not true <= target:  # a breakdown or a divergence: the best iterate seen
        x, true = checkpoints.best_of(x, true)
    return krylov.KernelOutcome(x, iterations, matvecs + checkpoints.products, reason, true,
                                checkpoints.products)


class _Checkpoints:
    """The check() a kernel calls once an iteration (a compiled loop: once a chunk),
    which also keeps the iterate with the least true residual among the start and the
    64th, 128th, 256th, ... check (one product each: 3 for a 300-iteration solve, in
    extra["checkpoint_matvecs"]). A solve that breaks down or diverges
    returns the best of those and its end (CG on an indefinite matrix had returned
    NaN, SOR inf, BiCGStab a residual of 1e152), still unconverged."""

    FIRST = 64

    def __init__(self, a: Any, b: Any, x: Any, xp: Any, check: Callable[[], None]) -> None:
        self.a, self.b, self.x, self.xp, self.check = a, b, x, xp, check
        self.start = x.copy()
        self.best: Any = None
        self.best_residual = math.inf
        self.count = 0
        self.next_at = self.FIRST
        self.products = 0

    def __call__(self) -> None:
        self.check()
        self.count += 1
        if self.count < self.next_at:
            return
        self.next_at *= 2
        residual = self._residual(self.x)
        if residual < self.best_residual:
            self.best, self.best_residual = self.x.copy(), residual

    def _residual(self, v: Any) -> float:
        self.products += 1
        with np.errstate(over="ignore", invalid="ignore"):
            value = float(self.xp.linalg.norm(self.b - self.a @ v))
        return value if math.isfinite(value) else math.inf

    def best_of(self, x: Any, residual: float) -> tuple[Any, float]:
        """(iterate, true residual): the end's, the best checkpoint's or the start's,
        whichever is least."""
        if not math.isfinite(residual):
            residual = math.inf
        candidates = [(residual, x), (self.best_residual, self.best)]
        if min(residual, self.best_residual) > 0:
            candidates.append((self._residual(self.start), self.start))
        value, chosen = min((c for c in candidates if c[1] is not None),
                            key=lambda c: c[0])
        if chosen is not x:
            x[...] = chosen
        return x, value
