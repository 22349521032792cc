"""Deflated CG on a host CSR matrix as one compiled loop (numba).

The NumPy form of recycled CG (recycling.recycled_cg) spends an iteration at n = 4096,
k = 20 on one sparse product (~16 us), two GEMVs with the k x n blocks U and C
(~22 us) and a dozen array operations with an interpreter between them (~25 us):
about three CG iterations. Here an iteration reads C once and nothing of U:

- the direction is kept unprojected, p = pt - U^T nu with nu = C pt (C U^T = U A U^T
  = I makes C p = 0), so A p = A pt - C^T nu and x = xt - U^T xi, with xi summing
  alpha nu, is formed once at the end;
- mu = C M^-1 r, which the next projection needs, follows its own recurrence
  mu <- mu - alpha (C M^-1 A pt - (C M^-1 C^T) nu), so that the sparse product, C^T nu
  and C M^-1 A pt are one sweep over the rows in blocks small enough for L1;
- mu and nu are recomputed from r and pt (one more sweep) each time the loop returns
  to Python, so rounding in the recurrences cannot build up over a long solve.

A matrix on a few diagonals (a grid stencil) is multiplied by them in that sweep
(solvers.linear.diagonals), any other by its CSR arrays.

The mathematics is that of recycling.recycled_cg (Saad, Yeung, Erhel, Guyomarc'h,
SISC 2000): M is the identity or a diagonal (Jacobi), U A U^T = I, C = U A. The first
`harvest` directions and their products are written, A-normalised, into the rows
after U and C of two buffers for the Ritz step.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from solvers.jit import compiled
from solvers.linear.diagonals import dia_rows, diagonal_form
from solvers.linear.krylov import Check, KernelOutcome
from solvers.linear.preconditioners import Diagonal
from solvers.linear.products import CsrProducts

# Reassociation lets LLVM vectorise the dot products; results differ from the NumPy
# loop by rounding only.
FAST = {"reassoc", "contract"}
BLOCK = 1024  # rows per block in _product

RUNNING, CONVERGED, BREAKDOWN = 0, 1, 2
_NO_OFFSETS = np.zeros(0, dtype=np.int64)

# The harvest buffers are kept per thread and reused: written afresh they cost a page
# fault per 4 KiB, measured at 15 us an iteration while harvesting (n = 4096, k = 20:
# ~1 ms a solve, a tenth of it). Large ones are not kept, where faults matter less
# than the memory held.
KEEP_BUFFER_BYTES = 16 << 20
_buffers = threading.local()


def _harvest_buffers(rows: int, n: int, dtype: np.dtype) -> tuple[np.ndarray, np.ndarray]:
    size = rows * n
    if 2 * size * dtype.itemsize > KEEP_BUFFER_BYTES:
        return np.empty((rows, n), dtype=dtype), np.empty((rows, n), dtype=dtype)
    held = getattr(_buffers, dtype.name, None)
    if held is None or held[0].size < size:
        held = (np.empty(size, dtype=dtype), np.empty(size, dtype=dtype))
        setattr(_buffers, dtype.name, held)
    return held[0][:size].reshape(rows, n), held[1][:size].reshape(rows, n)


@compiled(fastmath=FAST)
def _resync(c: Any, d: Any, r: Any, pt: Any, mu: Any, nu: Any) -> None:
    for row in range(c.shape[0]):
        cr = c[row]
        s_mu = 0.0
        s_nu = 0.0
        for i in range(cr.shape[0]):
            s_mu += cr[i] * (r[i] if d is None else d[i] * r[i])
            s_nu += cr[i] * pt[i]
        mu[row] = s_mu
        nu[row] = s_nu


@compiled(fastmath=FAST)
def _product(indptr: Any, indices: Any, data: Any, offsets: Any, vals: Any, lo: int,
             hi: int, d: Any, c: Any, nu: Any, pt: Any, ap: Any, t: Any, wb: Any, dwb: Any,
             qb: Any) -> float:
    """ap = A p = A pt - C^T nu and t = C M^-1 A pt in one sweep, in blocks of rows
    small enough that the block's A pt, M^-1 A pt and C^T nu stay in L1; C is read
    four rows at a time. A given by diagonals (`offsets` not empty) is multiplied by
    them, else by CSR. Returns pt . ap (= p A p, as C p = 0). Loops run over block
    views from 0: numba then proves the indices nonnegative and drops its wraparound
    test, which otherwise stops LLVM vectorising (measured 3.5x slower)."""
    k, n = c.shape
    for row in range(k):
        t[row] = 0.0
    pap = 0.0
    for start in range(0, n, BLOCK):
        stop = min(start + BLOCK, n)
        m = stop - start
        if offsets.shape[0]:
            dia_rows(offsets, vals, pt, wb, start, stop, lo, hi)
        else:
            ipb = indptr[start:stop + 1]
            for ii in range(m):
                s = 0.0
                for jj in range(ipb[ii], ipb[ii + 1]):
                    s += data[jj] * pt[indices[jj]]
                wb[ii] = s
        for ii in range(m):
            dwb[ii] = wb[ii] if d is None else d[start + ii] * wb[ii]
            qb[ii] = 0.0
        row = 0
        while row + 3 < k:
            c0 = c[row, start:stop]
            c1 = c[row + 1, start:stop]
            c2 = c[row + 2, start:stop]
            c3 = c[row + 3, start:stop]
            n0, n1, n2, n3 = nu[row], nu[row + 1], nu[row + 2], nu[row + 3]
            a0 = a1 = a2 = a3 = 0.0
            for ii in range(m):
                w = dwb[ii]
                a0 += c0[ii] * w
                a1 += c1[ii] * w
                a2 += c2[ii] * w
                a3 += c3[ii] * w
                qb[ii] += n0 * c0[ii] + n1 * c1[ii] + n2 * c2[ii] + n3 * c3[ii]
            t[row] += a0
            t[row + 1] += a1
            t[row + 2] += a2
            t[row + 3] += a3
            row += 4
        while row < k:
            c0 = c[row, start:stop]
            n0 = nu[row]
            a0 = 0.0
            for ii in range(m):
                a0 += c0[ii] * dwb[ii]
                qb[ii] += n0 * c0[ii]
            t[row] += a0
            row += 1
        apb = ap[start:stop]
        ptb = pt[start:stop]
        for ii in range(m):
            a_i = wb[ii] - qb[ii]
            apb[ii] = a_i
            pap += ptb[ii] * a_i
    return pap


@compiled(fastmath=FAST)
def _iterations(indptr: Any, indices: Any, data: Any, offsets: Any, vals: Any, lo: int,
                hi: int, d: Any, c: Any, g: Any,
                x: Any, r: Any, pt: Any, ap: Any, mu: Any, nu: Any, xi: Any,
                rz: float, tol2: float, steps: int, keep_p: Any, keep_ap: Any,
                keep_nu: Any, keep_s: Any, kept: int) -> tuple[int, float, int, int]:
    """Up to `steps` iterations from the state (x, r, pt, mu, nu, xi, rz); ap is
    scratch. Returns (iterations done, rz, RUNNING/CONVERGED/BREAKDOWN, directions
    kept). Indices unsigned: see _product on wraparound tests."""
    n = r.shape[0]
    k = c.shape[0]
    base = keep_p.shape[0] - keep_nu.shape[0]  # harvest rows follow U's k rows
    cap = keep_nu.shape[0]
    t = np.empty(k, dtype=np.float64)
    wb = np.empty(BLOCK, dtype=r.dtype)
    dwb = np.empty(BLOCK, dtype=r.dtype)
    qb = np.empty(BLOCK, dtype=r.dtype)
    _resync(c, d, r, pt, mu, nu)
    done = 0
    status = RUNNING
    while done < steps:
        pap = _product(indptr, indices, data, offsets, vals, lo, hi, d, c, nu, pt, ap, t,
                       wb, dwb, qb)
        done += 1
        if not (pap > 0.0 and math.isfinite(pap)):
            status = BREAKDOWN
            break
        alpha = rz / pap
        if kept < cap:
            scale = 1.0 / math.sqrt(pap)
            zrow = keep_p[base + kept]
            arow = keep_ap[base + kept]
            for i in range(n):
                zrow[i] = pt[i] * scale
                arow[i] = ap[i] * scale
            for row in range(k):
                keep_nu[kept, row] = nu[row] * scale
            keep_s[kept, 0] = rz
            keep_s[kept, 1] = pap
            kept += 1
        for row in range(k):
            s = t[row]
            for col in range(k):
                s -= g[row, col] * nu[col]
            mu[row] -= alpha * s
            xi[row] += alpha * nu[row]
        rz_new = 0.0
        rr = 0.0
        for i in range(n):
            x[i] += alpha * pt[i]
            ri = r[i] - alpha * ap[i]
            r[i] = ri
            rz_new += ri * (ri if d is None else d[i] * ri)
            rr += ri * ri
        if rr <= tol2:
            status = CONVERGED
            break
        beta = rz_new / rz
        rz = rz_new
        for row in range(k):
            nu[row] = mu[row] + beta * nu[row]
        for i in range(n):
            pt[i] = (r[i] if d is None else d[i] * r[i]) + beta * pt[i]
    return done, rz, status, kept


@dataclass
class Harvest:
    """The directions a solve keeps for the Ritz step, A-normalised: Z = [U; Pt] and
    AZ = [C; A P], where Pt = P + shift U are the directions before their projection
    (the same span as [U; P]); `gram` is Pt Pt^T from CG's scalars when M = I (see
    direction_gram), else None. Views of this thread's buffers: valid until its next
    solve."""

    z: np.ndarray
    az: np.ndarray
    shift: np.ndarray
    gram: np.ndarray | None


def direction_gram(scalars: np.ndarray) -> np.ndarray:
    """Pt Pt^T for the harvested directions of unpreconditioned deflated CG, from the
    (r.r, p A p) of each step, without touching the vectors.

    pt_j = r_j + beta_j pt_{j-1}, and r_j is orthogonal to U and to every earlier
    direction (Saad et al. 2000), so pt_i . pt_j = beta_{i+1} ... beta_j |pt_i|^2 for
    i <= j, |pt_j|^2 = |r_j|^2 + beta_j^2 |pt_{j-1}|^2, and U pt_j = 0. In floating
    point these are CG's Lanczos relations (eigCG, Stathopoulos and Orginos 2010),
    whose Ritz values stay accurate as the vectors lose orthogonality (Paige 1980):
    measured on the Darcy batch, entries off by 10-70% from the vectors' own Gram
    matrix, and the same products per system (165.2 against 165.5)."""
    rz, pap = scalars[:, 0], scalars[:, 1]
    s = rz.shape[0]
    if s == 0:
        return np.zeros((0, 0))
    beta = np.ones(s)
    beta[1:] = rz[1:] / rz[:-1]
    norms = np.empty(s)
    norms[0] = rz[0]
    for j in range(1, s):
        norms[j] = rz[j] + beta[j] ** 2 * norms[j - 1]
    logs = np.cumsum(np.log(np.maximum(beta, np.finfo(np.float64).tiny)))
    # exp(L_j - L_i) |pt_i|^2 above the diagonal (j >= i), mirrored below it.
    upper = np.triu(np.exp(np.minimum(logs[None, :] - logs[:, None], 0.0)) * norms[:, None])
    gram = upper + np.triu(upper, 1).T
    scale = 1.0 / np.sqrt(pap)
    return gram * scale[:, None] * scale[None, :]


def applies(A: Any, M: Any, xp: Any) -> bool:
    """Whether this loop can run the solve: NumPy, a CSR matrix (or CsrProducts) of
    float32/float64, and no preconditioner or a diagonal one."""
    a = getattr(A, "matrix", A)
    return (xp is np and sp.issparse(a) and a.format == "csr"
            and a.dtype in (np.float32, np.float64)
            and (M is None or (isinstance(M, Diagonal) and isinstance(M.inverse, np.ndarray))))


def steps_per_call(n: int, nnz: int, k: int) -> int:
    """Iterations between returns to Python (check() and a resync): about a
    millisecond's work, at least one."""
    work = nnz + 3 * k * n + 8 * n  # ~0.1 ns each, measured at n = 4096, k = 20
    return int(min(128, max(1, 1e7 // max(work, 1))))


def deflated_cg(A: Any, r: Any, x: Any, M: Diagonal | None, tol: float, maxiter: int,
                check: Check, u: Any, c: Any, harvest: int,
                matvecs: int) -> tuple[KernelOutcome, Harvest]:
    """Deflated CG from x with residual r (both updated in place), r already
    orthogonal to U's rows. Returns the outcome and the first `harvest` directions."""
    a = getattr(A, "matrix", A)
    n = r.shape[0]
    dtype = r.dtype
    k = u.shape[0]
    # d = None (no preconditioner) compiles a loop that reads no diagonal: 24 bytes an
    # unknown an iteration fewer.
    d = None if M is None else np.ascontiguousarray(M.inverse, dtype=dtype)
    c = np.ascontiguousarray(c, dtype=dtype)
    c64 = c.astype(np.float64, copy=False)
    g = (c64 if d is None else c64 * d) @ c64.T if k else np.zeros((0, 0))
    # Valid until this thread's next solve: _ritz reads them, and keeps nothing of them.
    zbuf, azbuf = _harvest_buffers(k + harvest, n, dtype)
    zbuf[:k] = u
    azbuf[:k] = c
    keep_nu = np.empty((harvest, k))
    keep_s = np.empty((harvest, 2), dtype=np.float64)
    pt = r.copy() if d is None else d * r
    ap = np.empty(n, dtype=dtype)
    # The projection coefficients and their recurrence in float64 whatever the data
    # (in float32 they drifted within a call of up to 128 steps).
    mu = np.zeros(k)
    nu = np.zeros(k)
    xi = np.zeros(k, dtype=np.float64)
    rz = float(np.dot(r, pt))
    kept = iterations = 0
    reason = "max_iterations"
    if float(np.dot(r, r)) <= tol * tol:
        reason = "converged"
    chunk = steps_per_call(n, a.nnz, k)
    index = np.uint32 if a.nnz < 2**32 else np.uint64
    # A stencil is multiplied by diagonals: the loop runs hundreds of products, the
    # conversion costs about eight (5-point Darcy, n = 16384, k = 20: _product 105 ->
    # 74 us). Only the form in use is passed (the other as empty arrays).
    form = A.diagonal_form() if isinstance(A, CsrProducts) else diagonal_form(a)
    if form is not None:
        offsets, vals, lo, hi = form.offsets, form.vals, form.lo, form.hi
        indptr = indices = np.zeros(0, dtype=index)
    else:
        offsets, vals, lo, hi = _NO_OFFSETS, np.zeros((0, 0), dtype=a.data.dtype), 0, 0
        indptr, indices = a.indptr.astype(index), a.indices.astype(index)
    while reason == "max_iterations" and iterations < maxiter:
        check()
        done, rz, status, kept = _iterations(
            indptr, indices, a.data, offsets, vals, lo, hi, d, c, g, x, r, pt, ap, mu, nu,
            xi, rz, tol * tol, min(chunk, maxiter - iterations), zbuf, azbuf, keep_nu, keep_s,
            kept)
        iterations += done
        if status == CONVERGED:
            reason = "converged"
        elif status == BREAKDOWN:
            reason = "breakdown: A is not positive definite"
    if k:
        x -= u.T @ xi.astype(dtype)
    outcome = KernelOutcome(x, iterations, matvecs + iterations, reason)
    harvest_out = Harvest(zbuf[:k + kept], azbuf[:k + kept], keep_nu[:kept].astype(np.float64),
                          direction_gram(keep_s[:kept]) if M is None else None)
    return outcome, harvest_out


def warm_up() -> None:
    """Compile what solve() runs: float64 (a float32 request computes in float64 too),
    with int32 indices (what SciPy builds), without and with a Jacobi diagonal."""
    a = sp.csr_matrix(sp.diags([np.full(4, 2.0), np.full(3, -1.0), np.full(3, -1.0)],
                               [0, -1, 1]))
    b = np.ones(4)
    u = np.zeros((1, 4))
    u[0, 0] = 1.0 / math.sqrt(2.0)
    for m in (None, Diagonal(np.full(4, 0.5))):
        deflated_cg(a, b.copy(), np.zeros(4), m, 1e-6, 10, lambda: None, u, u @ a.toarray(),
                    2, 0)
