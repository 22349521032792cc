"""Direct solves: sparse LU (SuperLU on the CPU) or dense LU, all columns at once."""

from __future__ import annotations

import functools
import importlib.util
import logging
import math
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.linalg
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from solvers import abandonable
from solvers.backend import Backend
from solvers.errors import Interrupted
from solvers.linear.pattern import natural_order_flops, pattern_dimension, structural_asymmetry

# What direct_solve reports as the solver that factorised (SolveResponse.direct_solver).
SUPERLU = "superlu"
LAPACK = "lapack"
CUDSS = "cudss"
CUPYX_SPLU = "cupyx-splu"
CUPY_DENSE = "cupy-dense"

# Sparse factorisations estimated above this many flops run in a child process that a
# deadline or cancel can kill (solvers/abandonable: about 15 ms to start one); below it,
# a few tens of milliseconds at most, on the calling thread.
ABANDONABLE_FLOPS = 3e8


class SingularMatrix(Exception):
    pass


def factor_flops(a: sp.spmatrix) -> float:
    """A rough count of a sparse LU's flops from the dimension d its pattern behaves
    like (solve.pattern_dimension): nested-dissection-like orderings factor a d-D mesh
    in about n^(3 (d - 1) / d) (n^1.5 in 2-D, n^2 in 3-D; n^3 for a pattern with no
    geometry, as a random one)."""
    n = a.shape[0]
    d = pattern_dimension(a)
    return float(n) ** (3.0 * (d - 1.0) / d) if d > 1.0 else float(n)


# The natural order is kept while its LU costs at most this many flops per stored entry:
# below it the order is cheaper to keep than to compute (COLAMD's pass is most of a
# 250-row mesh's factorisation; the natural order took 0.5-0.75 of its time on PyAMG's
# example meshes up to 230 flops per entry, 0.98 at 530, 1.06 at 985).
NATURAL_FLOPS_PER_ENTRY = 300.0
# A pattern this close to symmetric (extra entries of A + A^T over A's) orders A + A^T.
NEAR_SYMMETRIC = 0.05


def superlu_ordering(a: sp.spmatrix) -> str:
    """SuperLU's column ordering for `a`: the natural one when its profile is cheap
    (small meshes numbered locally), minimum degree on A + A^T for a structurally
    (nearly) symmetric 2-D-like pattern, COLAMD (SciPy's default) otherwise. Measured with
    spsolve, one thread: minimum degree on A + A^T took 0.72-0.84 of COLAMD's time on 2-D
    Poisson and upwind convection-diffusion from 2,500 to 90,000 rows, 0.5-0.64 on 2-D
    elasticity, 0.78 on a shifted Laplacian, but 1.2-2.5x on 3-D Poisson."""
    csr = a if a.format == "csr" else sp.csr_matrix(a)
    if natural_order_flops(csr) <= NATURAL_FLOPS_PER_ENTRY * max(csr.nnz, 1):
        return "NATURAL"
    if structural_asymmetry(csr) <= NEAR_SYMMETRIC and pattern_dimension(a) <= 2.5:
        return "MMD_AT_PLUS_A"
    return "COLAMD"


# What a direct solve may hold in factors unless the caller says otherwise (the server's
# --max-factor-bytes, lowered in a container to half its memory limit).
DEFAULT_FACTOR_BUDGET_BYTES = 4 * 1024**3
# Bytes per stored factor entry: a value and, amortised over supernodes, under an index.
FACTOR_ENTRY_BYTES = 12


# Patterns whose dimension (pattern.pattern_dimension) passes this fill as 3-D meshes do:
# the estimator reads 2.7-2.8 on 3-D Poisson grids, 2.4-2.6 on 2-D elasticity (two
# unknowns per node) and 2.0 on 2-D scalar stencils.
FILL_3D_DIMENSION = 2.65
# Past this the pattern has no mesh behind it (a random sparse matrix reads 16): its LU
# is taken as dense.
NO_GEOMETRY_DIMENSION = 3.5


def factor_bytes(a: np.ndarray | sp.spmatrix) -> float:
    """The bytes of A's LU factors, estimated from its pattern before factorising, meant
    as an upper bound. With the orderings superlu_ordering picks, SuperLU's fill
    nnz(L + U) measured 0.6-1.5 x nnz(A) log2 n on 2-D-like patterns (Poisson, upwind
    convection-diffusion, elasticity; 3,200 to 160,000 rows) and 1.1-1.3 x n^(5/3) on
    3-D Poisson (1,728 to 21,952 rows): the estimate takes 1.2 and 1.5, the latter scaled
    up for stencils wider than 7 points. A dense A: its n^2 copy."""
    n = a.shape[0]
    if not sp.issparse(a):
        return 8.0 * n * n
    if n < 2:
        return float(FACTOR_ENTRY_BYTES * max(a.nnz, 1))
    dimension = pattern_dimension(a)
    if dimension <= FILL_3D_DIMENSION:
        fill = 1.2 * a.nnz * math.log2(n)
    elif dimension > NO_GEOMETRY_DIMENSION:  # a random pattern: the factors fill in
        fill = float(n) * n
    else:
        fill = 1.5 * n ** (5.0 / 3.0) * max(1.0, a.nnz / (7.0 * n))
    return FACTOR_ENTRY_BYTES * min(fill, float(n) * n)


def over_budget(a: np.ndarray | sp.spmatrix, budget: float | None) -> float | None:
    """The estimated bytes of A's factors (factor_bytes) when they exceed `budget`
    (None: no budget), else None: a factorisation that is never to be started."""
    if budget is None:
        return None
    needed = factor_bytes(a)
    return needed if needed > budget else None


def _superlu_solve(csc: sp.csc_matrix, b: np.ndarray, trans: str = "N",
                   ordering: str = "COLAMD") -> np.ndarray:
    """SuperLU of `csc` in the column `ordering`, then op(csc) x = b with op the
    identity ("N") or the transpose ("T"); a function, for abandonable.run."""
    return _SuperLU(csc, ordering).solve(b, trans)


def _one_shot(a: sp.spmatrix, b: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """A x = b by SuperLU's driver (factor and solve in one call, no factor object kept:
    0.35 ms against 0.5 for splu then solve on a 260-row mesh); a CSR or CSC matrix of
    the working dtype is passed as it is (SciPy factorises a CSR one's transpose)."""
    if a.format not in ("csr", "csc") or a.dtype != dtype:
        a = sp.csr_matrix(a, dtype=dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error", spla.MatrixRankWarning)
        try:
            x = spla.spsolve(a, b, permc_spec=superlu_ordering(a))
        except (spla.MatrixRankWarning, RuntimeError) as exc:
            raise SingularMatrix(str(exc)) from None
    return np.asarray(x).reshape(b.shape)


def _factorable(a: sp.spmatrix, dtype: np.dtype) -> tuple[sp.csc_matrix, str]:
    """A CSC matrix for SuperLU and how to solve with it. A CSR matrix's arrays are the
    CSC arrays of its transpose: factorising A^T and solving A^T^T x = b spares the
    conversion (as SciPy's spsolve does), a fifth of a direct solve of a few hundred
    rows."""
    if a.format == "csr" and a.dtype == dtype and a.has_canonical_format:
        at = sp.csc_matrix((a.data, a.indices, a.indptr), shape=a.shape[::-1], copy=False)
        return at, "T"
    return sp.csc_matrix(a, dtype=dtype), "N"


def direct_solve(a_host: np.ndarray | sp.spmatrix, a_dev: Any, b_dev: Any,
                 backend: Backend, dtype: np.dtype,
                 should_stop: Callable[[], str | None] | None = None,
                 factors: Factors | None = None, keep: bool = False
                 ) -> tuple[Any, Factors | None, str]:
    """X with A X = B for a 2-D B on the backend, the factors it used when they were
    given (`factors`, of this A) or asked for (`keep`: the factorisation is kept for more
    right-hand sides; a GPU dense one is not), and which solver factorised (SUPERLU,
    LAPACK, CUDSS, CUPYX_SPLU, CUPY_DENSE). Raises SingularMatrix, or Interrupted when
    `should_stop` names a reason during a long sparse factorisation."""
    if factors is None and keep:
        factors = factorise(a_host, a_dev, b_dev, backend, dtype, should_stop)
    if factors is not None:
        return factors.solve(b_dev, should_stop), factors, factors.which
    if backend.is_gpu:
        x, which = _gpu(a_host, a_dev, b_dev, backend)
        return x, None, which
    if sp.issparse(a_host):
        b = np.asarray(b_dev, dtype=dtype)
        if _abandonable(a_host, should_stop):
            csc, trans = _factorable(a_host, dtype)
            ordering = superlu_ordering(a_host)
            x = abandonable.run(_superlu_solve, (csc, b, trans, ordering), should_stop)
            return x, None, SUPERLU
        return _one_shot(a_host, b, dtype), None, SUPERLU
    lu = _dense_lu(a_dev, dtype)
    return scipy.linalg.lu_solve(lu, b_dev, check_finite=False), None, LAPACK


def _abandonable(a: sp.spmatrix, should_stop: Callable[[], str | None] | None) -> bool:
    return should_stop is not None and factor_flops(a) > ABANDONABLE_FLOPS


def _dense_lu(a_dev: Any, dtype: np.dtype) -> tuple[np.ndarray, np.ndarray]:
    try:
        # lu_factor only warns on an exactly singular U; check the diagonal ourselves.
        lu, piv = scipy.linalg.lu_factor(np.asarray(a_dev, dtype=dtype), check_finite=False)
    except (ValueError, np.linalg.LinAlgError) as exc:
        raise SingularMatrix(str(exc)) from None
    if np.any(np.diagonal(lu) == 0):
        raise SingularMatrix("matrix is exactly singular")
    return lu, piv


class _SuperLU:
    """SuperLU's factors of a CSC matrix, solving op(A) X = B; built from picklable
    arguments so that a child process can hold it (abandonable.Keeper)."""

    def __init__(self, csc: sp.csc_matrix, ordering: str) -> None:
        try:
            self.lu = spla.splu(csc, permc_spec=ordering)
        except RuntimeError as exc:
            raise SingularMatrix(str(exc)) from None

    def solve(self, b: np.ndarray, trans: str) -> np.ndarray:
        return self.lu.solve(b, trans=trans)


def _nothing() -> None:
    return None


@dataclass(eq=False)
class Factors:
    """A factorisation kept for more right-hand sides of the same A (a batch of one
    matrix, a stream's same_matrix messages): the first system pays for it, the others
    solve the triangles only. `which` names the solver (SUPERLU, ...), `in_child` whether
    a child process holds them; `close` frees them (that child is killed)."""

    matrix: Any
    dtype: np.dtype
    on_gpu: bool
    which: str
    factor_seconds: float
    solver: Callable[[Any, Callable[[], str | None] | None], Any]
    closer: Callable[[], None] = _nothing
    in_child: bool = False
    closed: bool = False

    def matches(self, a: Any, dtype: np.dtype, on_gpu: bool) -> bool:
        """Whether these factors are of `a` (the same object, or equal pattern and
        values: O(nnz), against a factorisation's far more)."""
        if self.closed or dtype != self.dtype or on_gpu != self.on_gpu:
            return False
        mine = self.matrix
        if a is mine:
            return True
        if a.shape != mine.shape or sp.issparse(a) != sp.issparse(mine):
            return False
        if not sp.issparse(a):
            return bool(np.array_equal(a, mine))
        a, mine = sp.csr_matrix(a), sp.csr_matrix(mine)
        return bool(a.nnz == mine.nnz and np.array_equal(a.indptr, mine.indptr)
                    and np.array_equal(a.indices, mine.indices)
                    and np.array_equal(a.data, mine.data))

    def solve(self, b_dev: Any, should_stop: Callable[[], str | None] | None = None) -> Any:
        try:
            return self.solver(b_dev, should_stop)
        except (Interrupted, RuntimeError):
            self.close()  # a child killed at a stop, or dead: these factors are gone
            raise

    def close(self) -> None:
        self.closed = True
        self.closer()


def factorise(a_host: np.ndarray | sp.spmatrix, a_dev: Any, b_dev: Any, backend: Backend,
              dtype: np.dtype, should_stop: Callable[[], str | None] | None = None
              ) -> Factors | None:
    """A's factors, kept: SuperLU on the CPU (in a child process that a stop can kill when
    the factorisation is long, as direct_solve's), LAPACK for a dense A, cuDSS or cupyx's
    splu on the GPU (see _gpu_sparse); None for a dense A on the GPU (CuPy solves it
    whole). `b_dev` is a right-hand side of the shape to come (cuDSS plans for it)."""
    start = time.perf_counter()
    in_child = False
    closer: Callable[[], None] = _nothing
    if backend.is_gpu:
        if not sp.issparse(a_host):
            return None
        solver, closer, which = _gpu_sparse(a_host, a_dev, b_dev, backend)
    elif sp.issparse(a_host):
        solver, closer, in_child = _superlu_kept(a_host, dtype, should_stop)
        which = SUPERLU
    else:
        dense = _dense_lu(a_dev, dtype)
        which = LAPACK

        def solver(b: Any, stop: Callable[[], str | None] | None) -> Any:
            return scipy.linalg.lu_solve(dense, b, check_finite=False)
    return Factors(a_host, np.dtype(dtype), backend.is_gpu, which,
                   time.perf_counter() - start, solver, closer, in_child)


def _superlu_kept(a: sp.spmatrix, dtype: np.dtype,
                  should_stop: Callable[[], str | None] | None
                  ) -> tuple[Callable[[Any, Any], Any], Callable[[], None], bool]:
    csc, trans = _factorable(a, dtype)
    build_args = (csc, superlu_ordering(a))
    if _abandonable(a, should_stop):
        keeper = abandonable.Keeper(_SuperLU, build_args, should_stop)

        def in_child(b: Any, stop: Callable[[], str | None] | None) -> Any:
            return keeper.call("solve", (np.asarray(b, dtype=dtype), trans), stop)
        return in_child, keeper.close, keeper.in_child
    lu = _SuperLU(*build_args)

    def here(b: Any, stop: Callable[[], str | None] | None) -> Any:
        return lu.solve(np.asarray(b, dtype=dtype), trans)
    return here, _nothing, False


def _gpu_sparse(a_host: Any, a_dev: Any, b_dev: Any, backend: Backend
                ) -> tuple[Callable[[Any, Any], Any], Callable[[], None], str]:
    """A factorised sparse A on the GPU: (solve, free, which). NVIDIA's cuDSS through
    nvmath-python where it imports (factorisation and triangles on the device), else
    cupyx's splu (SuperLU on the host, the triangles on the device)."""
    if _cudss_importable():
        try:
            return _cudss(a_dev, b_dev, backend)
        except SingularMatrix:
            raise
        except Exception as exc:  # a missing libcudss, an unsupported dtype: SuperLU then
            _warn_once(f"cuDSS failed ({type(exc).__name__}: {exc}); direct GPU solves use "
                       f"cupyx's splu")
    import cupyx.scipy.sparse.linalg as cspla

    xp = backend.xp
    try:
        lu = cspla.splu(a_dev.tocsc(), permc_spec=superlu_ordering(a_host))
    except RuntimeError as exc:
        raise SingularMatrix(str(exc)) from None

    def solver(b: Any, stop: Callable[[], str | None] | None) -> Any:
        return _finite(lu.solve(b), xp)
    return solver, _nothing, CUPYX_SPLU


_WARNED: set[str] = set()


def _warn_once(message: str) -> None:
    if message not in _WARNED:
        _WARNED.add(message)
        logging.getLogger("solverd").warning(message)


@functools.cache
def _cudss_importable() -> bool:
    return importlib.util.find_spec("nvmath") is not None


def _finite(x: Any, xp: Any) -> Any:
    if not bool(xp.all(xp.isfinite(x))):
        raise SingularMatrix("matrix is singular to working precision")
    return x


def _cudss(a_dev: Any, b_dev: Any, backend: Backend
           ) -> tuple[Callable[[Any, Any], Any], Callable[[], None], str]:
    """cuDSS's LU of A (nvmath.sparse.advanced.DirectSolver: reordering and symbolic
    factorisation in plan(), numeric in factorize()); more right-hand sides of the shape
    it was planned for reset its operand b, others get a solver of their own."""
    from nvmath.sparse.advanced import DirectSolver

    xp = backend.xp
    csr = a_dev if a_dev.format == "csr" else a_dev.tocsr()
    planned_shape = b_dev.shape
    solver = DirectSolver(csr, xp.asfortranarray(b_dev))
    try:
        solver.plan()
        solver.factorize()
    except Exception:
        solver.free()
        raise

    def solve(b: Any, stop: Callable[[], str | None] | None) -> Any:
        if b.shape != planned_shape:
            with DirectSolver(csr, xp.asfortranarray(b)) as other:
                other.plan()
                other.factorize()
                return _finite(other.solve(), xp)
        solver.reset_operands(b=xp.asfortranarray(b))
        return _finite(solver.solve(), xp)
    return solve, solver.free, CUDSS


def _gpu(a_host: Any, a_dev: Any, b_dev: Any, backend: Backend) -> tuple[Any, str]:
    xp = backend.xp
    if isinstance(a_dev, xp.ndarray):
        try:
            x = xp.linalg.solve(a_dev, b_dev)
        except xp.linalg.LinAlgError as exc:
            raise SingularMatrix(str(exc)) from None
        return _finite(x, xp), CUPY_DENSE
    solve, free, which = _gpu_sparse(a_host, a_dev, b_dev, backend)
    try:
        return solve(b_dev, None), which
    finally:
        free()
