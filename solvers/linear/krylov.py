"""Krylov kernels for one right-hand side, written once for NumPy and CuPy.

Each kernel starts from `x`, stops when its residual *estimate* falls to `tol`
(an absolute 2-norm), after `maxiter` iterations, or on breakdown, and calls
`check()` once per iteration so that a deadline or a cancellation can stop it
(check raises `Interrupted`). The caller verifies the true residual afterwards.

References: Hestenes & Stiefel (1952) for CG; Paige & Saunders (1975) for
MINRES; Saad & Schultz (1986) for GMRES, with classical Gram-Schmidt applied
twice (Giraud, Langou, Rozloznik 2005) so each step is two matrix-vector
products with the basis instead of j+1 dot products; van der Vorst (1992) for
BiCGStab.
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np
import scipy.linalg
import scipy.linalg.blas

from solvers.backend import host_scalars
from solvers.jit import compiled

# None means no preconditioner: kernels then skip work that M = I makes redundant.
Precond = Callable[[Any], Any] | None
Check = Callable[[], None]


@dataclass
class KernelOutcome:
    x: Any
    iterations: int
    matvecs: int
    reason: str  # "converged", "max_iterations" or "breakdown: ..."
    # ||b - A x|| for the returned x where the caller measured it (solve's _iterate).
    true_residual: float | None = None
    # Products spent on the best-iterate checkpoints (solve's _iterate), in matvecs.
    checkpoint_matvecs: int = 0


def _dot(xp: ModuleType, u: Any, v: Any) -> float:
    return float(xp.dot(u, v))


def _norm(xp: ModuleType, v: Any) -> float:
    return math.sqrt(max(_dot(xp, v, v), 0.0))


def _apply(M: Precond, v: Any) -> Any:
    return v if M is None else M(v)


_CPU_AXPY: dict[str, Callable[..., Any]] = {}


def _blas_single_threaded() -> bool:
    """Whether BLAS was told to run one thread (the server pins it before NumPy loads)."""
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):  # OpenBLAS's precedence
        value = os.environ.get(name)
        if value is not None:
            return value.strip() == "1"
    return False


# Measured on 2 cores (n = 202,500, 200 CG iterations): BLAS axpy cut CG from 410 to
# 326 ms with one BLAS thread, but made it 7x slower (2.4 s) with two, its threads
# fighting the single-threaded SpMV between calls. NumPy's two-pass update has no
# such cliff, so it stays the default where BLAS may be multithreaded.
_USE_CPU_BLAS_AXPY = _blas_single_threaded()


def axpy(xp: ModuleType, alpha: float, x: Any, y: Any) -> None:
    """y += alpha * x in place: one BLAS pass, no temporary (NumPy's `y += alpha * x`
    makes two passes and allocates; on a GPU it is two kernel launches)."""
    if xp is np:
        alpha = float(alpha)  # a 0-d array from a backend-generic caller
        if not _USE_CPU_BLAS_AXPY:
            y += alpha * x
            return
        fn = _CPU_AXPY.get(y.dtype.char)
        if fn is None:
            fn = _CPU_AXPY[y.dtype.char] = scipy.linalg.blas.get_blas_funcs("axpy", (y,))
        out = fn(x, y, a=alpha)
        if out is not y:  # BLAS works on a copy when y is not contiguous
            y[...] = out
    else:
        _gpu_axpy(xp)(alpha, x, y)


@functools.cache
def _gpu_axpy(cupy: ModuleType) -> Callable[[Any, Any, Any], None]:
    """One fused kernel for y += alpha * x; alpha may be a host or a 0-d device scalar.
    A host scalar goes in as a kernel argument: no upload, no transfer."""
    kernel = cupy.ElementwiseKernel("T alpha, T x", "T y", "y += alpha * x", "solverd_axpy")

    def run(alpha: Any, x: Any, y: Any) -> None:
        if isinstance(alpha, cupy.ndarray):
            if alpha.dtype != y.dtype:
                alpha = alpha.astype(y.dtype)
        else:
            alpha = float(alpha)
        kernel(alpha, x, y)

    return run


def cg(A: Any, b: Any, x: Any, M: Precond, tol: float, maxiter: int, check: Check,
       xp: ModuleType) -> KernelOutcome:
    """Preconditioned CG. On CuPy, `cg_gpu.cg` runs the same iteration with fused kernels."""
    if xp is not np:
        from solvers.linear import cg_gpu

        return cg_gpu.cg(A, b, x, M, tol, maxiter, check, xp)
    r = b - A @ x
    rr = xp.dot(r, r)
    if math.sqrt(max(float(rr), 0.0)) <= tol:
        return KernelOutcome(x, 0, 1, "converged")
    z = _apply(M, r)
    p = z.copy()
    rz = rr if M is None else xp.dot(r, z)
    tol_sq = tol * tol
    for it in range(1, maxiter + 1):
        check()
        q = A @ p
        pq = xp.dot(p, q)
        alpha = rz / pq
        axpy(xp, alpha, p, x)
        axpy(xp, -alpha, q, r)
        rr = xp.dot(r, r)
        pq_host, rr_host = float(pq), float(rr)
        if not pq_host > 0.0:
            axpy(xp, -alpha, p, x)  # undo the step taken with a meaningless alpha
            return KernelOutcome(x, it - 1, it + 1, "breakdown: matrix is not positive definite")
        if rr_host <= tol_sq:
            return KernelOutcome(x, it, it + 1, "converged")
        z = _apply(M, r)
        # Without a preconditioner z is r: r.z is the r.r just computed.
        rz_next = rr if M is None else xp.dot(r, z)
        if M is not None and not float(rz_next) > 0.0:
            return KernelOutcome(x, it, it + 1,
                                 "breakdown: preconditioner is not positive definite")
        p *= rz_next / rz
        p += z
        rz = rz_next
    return KernelOutcome(x, maxiter, maxiter + 1, "max_iterations")


def minres(A: Any, b: Any, x: Any, M: Precond, tol: float, maxiter: int, check: Check,
           xp: ModuleType) -> KernelOutcome:
    """Preconditioned MINRES (Paige & Saunders). M must be symmetric positive definite.

    The estimate `phibar` is the residual in the M^-1 norm; with M = I it is the
    2-norm. The caller's true-residual check covers the difference.
    """
    r1 = b - A @ x
    y = _apply(M, r1)
    beta1_sq = _dot(xp, r1, y)
    if beta1_sq < 0.0:
        return KernelOutcome(x, 0, 1, "breakdown: preconditioner is not positive definite")
    beta1 = math.sqrt(beta1_sq)
    if beta1 <= tol or _norm(xp, r1) <= tol:
        return KernelOutcome(x, 0, 1, "converged")
    eps = float(np.finfo(np.float64).eps)
    old_beta, beta = 0.0, beta1
    dbar = epsln = 0.0
    phibar = beta1
    cs, sn = -1.0, 0.0
    w = xp.zeros_like(b)
    w2 = xp.zeros_like(b)
    r2 = r1
    for it in range(1, maxiter + 1):
        check()
        v = y * (1.0 / beta)
        y = A @ v
        if it >= 2:
            y -= (beta / old_beta) * r1
        # alpha is applied on the device and read with beta^2: one transfer an iteration.
        alpha_now = xp.dot(v, y)
        y -= (alpha_now / beta) * r2
        r1, r2 = r2, y
        y = _apply(M, r2)
        old_beta = beta
        alpha, beta_sq = host_scalars(xp, alpha_now, xp.dot(r2, y))
        if beta_sq < 0.0:
            return KernelOutcome(x, it, it + 1,
                                 "breakdown: preconditioner is not positive definite")
        beta = math.sqrt(beta_sq)
        old_eps = epsln
        delta = cs * dbar + sn * alpha
        gbar = sn * dbar - cs * alpha
        epsln = sn * beta
        dbar = -cs * beta
        gamma = max(math.hypot(gbar, beta), eps)
        cs, sn = gbar / gamma, beta / gamma
        phi = cs * phibar
        phibar = sn * phibar
        w1, w2 = w2, w
        w = (v - old_eps * w1 - delta * w2) * (1.0 / gamma)
        axpy(xp, phi, w, x)
        if phibar <= tol:
            return KernelOutcome(x, it, it + 1, "converged")
        if beta == 0.0:
            # The Krylov space is invariant: x is the minimiser over it.
            return KernelOutcome(x, it, it + 1, "converged" if phibar <= tol else "stagnation")
    return KernelOutcome(x, maxiter, maxiter + 1, "max_iterations")


def to_host64(v: Any) -> np.ndarray:
    """A small device or host array as float64 on the host."""
    return np.asarray(v.get() if hasattr(v, "get") else v, dtype=np.float64)


def arnoldi_step(xp: ModuleType, rows: Any, w: Any) -> np.ndarray:
    """Orthogonalises w (in place) against the orthonormal `rows` by classical
    Gram-Schmidt, returns the coefficients with ||w|| appended, on the host.

    On a GPU the second pass always runs (Giraud, Langou, Rozloznik 2005: twice is
    enough), so h and ||w||^2 reach the host together, one copy per step. On the host a
    test costs nothing and the second pass, half the step's memory traffic, runs only
    when the first removed more than half of w's squared norm (Daniel, Gragg, Kaufman,
    Stewart 1976): otherwise w cannot have lost orthogonality to the rows."""
    if xp is np:
        before = float(np.dot(w, w))
        h = rows @ w
        w -= rows.T @ h
        after = float(np.dot(w, w))
        if after <= 0.5 * before:
            h2 = rows @ w
            w -= rows.T @ h2
            h += h2
            after = float(np.dot(w, w))
        col = np.empty(h.shape[0] + 1)
        col[:-1] = h
        col[-1] = math.sqrt(max(after, 0.0))
        return col
    h = rows @ w
    w -= rows.T @ h
    h2 = rows @ w
    w -= rows.T @ h2
    h += h2
    col = to_host64(xp.concatenate((h, xp.dot(w, w)[None])))
    col[-1] = math.sqrt(max(col[-1], 0.0))
    return col


@compiled()
def givens_step(col: np.ndarray, cs: np.ndarray, sn: np.ndarray, g: np.ndarray,
                j: int) -> float:
    """Column j of an upper Hessenberg least-squares problem: applies the j earlier
    rotations to `col` in place, then the one that zeroes col[j + 1], and rotates the
    right-hand side g. Returns the new diagonal entry (0: the matrix is singular).
    Compiled: GMRES's and GCRO-DR's NumPy cycles call it per step, and gcrodr_cpu's
    compiled steps inline it."""
    for i in range(j):
        t = cs[i] * col[i] + sn[i] * col[i + 1]
        col[i + 1] = -sn[i] * col[i] + cs[i] * col[i + 1]
        col[i] = t
    denom = math.hypot(col[j], col[j + 1])
    if denom == 0.0:
        return 0.0
    cs[j], sn[j] = col[j] / denom, col[j + 1] / denom
    col[j], col[j + 1] = denom, 0.0
    g[j + 1] = -sn[j] * g[j]
    g[j] = cs[j] * g[j]
    return denom


# A preconditioner that overflows (AMG on a matrix it does not suit: a random pattern with
# a weak diagonal) fills the Krylov vectors with inf and NaN; GMRES stops with this rather
# than solve a least-squares problem of NaNs (SciPy's solve_triangular raised ValueError).
_NON_FINITE = "breakdown: non-finite Krylov vector (the preconditioner or A overflowed)"


def gmres(A: Any, b: Any, x: Any, M: Precond, tol: float, maxiter: int, check: Check,
          xp: ModuleType, restart: int = 30) -> KernelOutcome:
    """Restarted GMRES(restart), right-preconditioned, so the estimate is the true 2-norm."""
    n = b.shape[0]
    m = max(1, min(restart, n))
    basis = xp.empty((m + 1, n), dtype=b.dtype)
    iterations = matvecs = 0
    while True:
        r = b - A @ x
        matvecs += 1
        beta = _norm(xp, r)
        if beta <= tol:
            return KernelOutcome(x, iterations, matvecs, "converged")
        if not math.isfinite(beta):
            return KernelOutcome(x, iterations, matvecs, _NON_FINITE)
        if iterations >= maxiter:
            return KernelOutcome(x, iterations, matvecs, "max_iterations")
        basis[0] = r / beta
        hess = np.zeros((m + 1, m))
        cs = np.zeros(m)
        sn = np.zeros(m)
        g = np.zeros(m + 1)
        g[0] = beta
        k = 0
        breakdown = ""
        for j in range(m):
            check()
            w = A @ _apply(M, basis[j])
            matvecs += 1
            iterations += 1
            col = arnoldi_step(xp, basis[: j + 1], w)
            if not np.all(np.isfinite(col)):
                breakdown = _NON_FINITE
                break
            hn = col[j + 1]
            denom = givens_step(col, cs, sn, g, j)
            if denom == 0.0:
                breakdown = "breakdown: matrix is singular on the Krylov space"
                break
            hess[: j + 2, j] = col
            k = j + 1
            # A happy breakdown (hn ~ 0) means the solution lies in the current space.
            if abs(g[j + 1]) <= tol or hn <= 1e-14 * denom or iterations >= maxiter:
                break
            basis[j + 1] = w * (1.0 / hn)
        if k > 0:
            y = scipy.linalg.solve_triangular(hess[:k, :k], g[:k])
            x += _apply(M, basis[:k].T @ xp.asarray(y, dtype=b.dtype))
        if breakdown:
            return KernelOutcome(x, iterations, matvecs, breakdown)


def bicgstab(A: Any, b: Any, x: Any, M: Precond, tol: float, maxiter: int, check: Check,
             xp: ModuleType) -> KernelOutcome:
    """Right-preconditioned BiCGStab: two products with A per iteration.

    Its scalars reach the host in two transfers an iteration, [r.r, r_hat.r, r_hat.v]
    and [s.s, t.t, t.s] (on a GPU each read is a synchronisation; one by one they were
    six): beta is applied on the device, and the check of an iteration's r is read with
    the next iteration's scalars. The price is a product spent before a check that
    stops: after a converged r (its successor's A p) or s (A s)."""
    r = b - A @ x
    matvecs = 1
    if _norm(xp, r) <= tol:
        return KernelOutcome(x, 0, matvecs, "converged")
    r_hat = r.copy()
    rho = alpha = omega = 1.0
    v = xp.zeros_like(b)
    p = xp.zeros_like(b)
    tiny = float(np.finfo(np.float64).tiny)
    tol_sq = tol * tol
    for it in range(1, maxiter + 1):
        check()
        rr_now, rho_now = xp.dot(r, r), xp.dot(r_hat, r)
        p -= omega * v
        p *= rho_now * ((alpha / omega) / rho)  # beta, from rho_now on the device
        p += r
        p_hat = _apply(M, p)
        v = A @ p_hat
        matvecs += 1
        rr, rho_next, denom = host_scalars(xp, rr_now, rho_now, xp.dot(r_hat, v))
        if it > 1 and rr <= tol_sq:  # the previous iteration's r
            return KernelOutcome(x, it - 1, matvecs, "converged")
        if abs(rho_next) <= tiny:
            return KernelOutcome(x, it - 1, matvecs, "breakdown: rho = 0")
        if abs(denom) <= tiny:
            return KernelOutcome(x, it - 1, matvecs, "breakdown: r_hat . v = 0")
        rho = rho_next
        alpha = rho / denom
        s = r - alpha * v
        s_hat = _apply(M, s)
        t = A @ s_hat
        matvecs += 1
        ss, tt, ts = host_scalars(xp, xp.dot(s, s), xp.dot(t, t), xp.dot(t, s))
        if ss <= tol_sq:
            axpy(xp, alpha, p_hat, x)
            return KernelOutcome(x, it, matvecs, "converged")
        omega = ts / tt if tt > 0.0 else 0.0
        axpy(xp, alpha, p_hat, x)
        axpy(xp, omega, s_hat, x)
        r = s
        axpy(xp, -omega, t, r)
        if omega == 0.0:
            return KernelOutcome(x, it, matvecs, "breakdown: omega = 0")
    if _dot(xp, r, r) <= tol_sq:
        return KernelOutcome(x, maxiter, matvecs, "converged")
    return KernelOutcome(x, maxiter, matvecs, "max_iterations")
