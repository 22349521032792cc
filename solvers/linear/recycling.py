"""Krylov subspace recycling across a sequence of related systems.

GCRO-DR (Parks, de Sturler, Mackey, Johnson, Maiti, SISC 2006) for general
matrices and deflated CG (Saad, Yeung, Erhel, Guyomarc'h, SISC 2000) with Ritz
vectors harvested from each solve, as in recycled CG (Wang, de Sturler, Paulino,
IJNME 2007), for symmetric positive definite ones. Both keep a k-dimensional
space U that holds the slowest-converging directions and hand it to the next
system (SKR, Wang et al., ICLR 2024, feeds them systems sorted by similarity).

Vectors are rows: U and C are (k, n) arrays, so the products with them are one
GEMV each on either backend. U lives in the solution space (right
preconditioning, x = M y), so C = A U stays meaningful when the matrix and its
preconditioner change; the small eigen- and least-squares problems run on the host
once per cycle. Orthogonalisation is classical Gram-Schmidt applied twice
(Giraud, Langou, Rozloznik 2005) against [C; V] at once. On the CPU, deflated CG
on a CSR matrix runs as one compiled loop (recycled_cg_cpu); the loop here serves
the GPU and every other operand.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from types import ModuleType
from typing import Any

import numpy as np
import scipy.linalg

from solvers.backend import host_scalars
from solvers.linear import gcrodr_cpu, recycled_cg_cpu
from solvers.linear.krylov import (
    Check,
    KernelOutcome,
    Precond,
    _apply,
    _norm,
    arnoldi_step,
    axpy,
    givens_step,
    to_host64,
)
from solvers.linear.products import CsrProducts, fast_products

DEFAULT_RESTART = 80
DEFAULT_RECYCLE = 20


@dataclass
class RecycleSpace:
    """U (k, n) and C = A U (k, n). For GCRO-DR C has orthonormal rows; for deflated
    CG the rows of U are A-orthonormal (U A U^T = I), exactly once adopt() has taken
    the space for a solve, to rounding as a solve hands it back."""

    u: Any
    c: Any
    kind: str  # "gcrodr" or "recycled_cg": the two are not interchangeable
    # Recycled CG: the iterations of the solve that harvested the space, which sizes
    # the next harvest (0: unknown, as for a space sent by a client).
    iterations: int = 0

    @property
    def k(self) -> int:
        return int(self.u.shape[0])

    def nbytes(self) -> int:
        return int(self.u.nbytes + self.c.nbytes)


def _real_basis(vectors: np.ndarray, chosen: np.ndarray) -> np.ndarray:
    """A real orthonormal basis of the span of the chosen (complex) eigenvectors and of
    their conjugates: the real and imaginary parts of each, their rank read off an SVD
    (a conjugate pair's four parts span its plane; a pair cut in two by the choice adds
    one dimension)."""
    z = vectors[:, chosen]
    parts = np.concatenate((z.real, z.imag[:, np.abs(z.imag).max(axis=0) > 0]), axis=1)
    left, sv, _ = np.linalg.svd(parts, full_matrices=False)
    keep = sv > 1e-10 * max(sv[0] if sv.size else 0.0, 1e-300)
    return left[:, keep]


def adopt(space: RecycleSpace, A: Any, xp: ModuleType,
          same_matrix: bool) -> tuple[RecycleSpace, int]:
    """The space for a new system: as is for the same matrix; else C = A_new U and
    re-normalised (k products with A). Returns the space and the products spent."""
    if same_matrix:
        # _ritz leaves U A U^T = I to rounding; deflated CG wants it exact.
        return (space if space.kind == "gcrodr" else _a_orthonormal(xp, space)), 0
    # A space from a client may hold any finite numbers: rows scaled to max |u| = 1
    # keep C = A U and the Gram matrices below overflow; the span, all that is kept
    # of U here (C is recomputed and re-normalised), is unchanged.
    peak = xp.max(xp.abs(space.u), axis=1)
    if not bool(xp.all(peak > 0)):
        raise np.linalg.LinAlgError("recycle space has a zero vector")
    space = replace(space, u=space.u / peak[:, None])
    c = _products(A, space.u, xp)
    if space.kind == "gcrodr":
        # QR of C^T: C = R^T Q^T, so Q^T = R^-T C and U <- R^-T U keeps C = A U.
        q, r = xp.linalg.qr(c.T)
        r_host = to_host64(r)
        if np.min(np.abs(np.diag(r_host))) <= 1e-12 * np.max(np.abs(np.diag(r_host))):
            raise np.linalg.LinAlgError("recycle space collapsed under the new matrix")
        rinv = xp.asarray(scipy.linalg.inv(r_host), dtype=space.u.dtype)
        return replace(space, u=(space.u.T @ rinv).T.copy(), c=q.T.copy()), space.k
    # Deflated CG wants U A U^T = I under the new matrix.
    return _a_orthonormal(xp, replace(space, c=c)), space.k


def _initial_residual(A: Any, b: Any, x: Any, xp: ModuleType) -> tuple[Any, int]:
    """b - A x and the products it took: none from a zero start (the default)."""
    if not bool(xp.any(x)):
        return b.copy(), 0
    return b - A @ x, 1


def gcrodr(A: Any, b: Any, x: Any, M: Precond, tol: float, maxiter: int, check: Check,
           xp: ModuleType, restart: int = DEFAULT_RESTART, recycle: int = DEFAULT_RECYCLE,
           space: RecycleSpace | None = None) -> tuple[KernelOutcome, RecycleSpace | None]:
    """GCRO-DR(m, k), right-preconditioned. `space` (already adopted for this A) seeds
    the solve; the returned space carries the harmonic Ritz vectors of least magnitude
    from the last cycle. Without a space the first cycle is GMRES(m)."""
    n = b.shape[0]
    m = max(2, min(restart, n))
    # The size of the space handed on: `recycle`, whatever the size of the one given (a
    # conjugate pair cut in two adds one; taken as the next target, that grew the space
    # by one every few systems, each cycle's Arnoldi steps shrinking with it).
    k = max(1, min(recycle, m - 2))
    dtype = b.dtype
    r, matvecs = _initial_residual(A, b, x, xp)
    iterations = 0
    if space is not None and space.k > 0:
        # Minimise over range(C) first: x += U C^T r, r -= C C^T r.
        coef = space.c @ r
        x += space.u.T @ coef
        r -= space.c.T @ coef
    basis = xp.empty((m + 1, n), dtype=dtype)
    compiled_op = (gcrodr_cpu.Operator(A, dtype) if gcrodr_cpu.applies(A, M, xp)
                   else None)
    # With a preconditioner, the rows M v: applied once each, not again for x and U.
    preconditioned = None if M is None else xp.empty((m, n), dtype=dtype)
    while True:
        beta = _norm(xp, r)
        if beta <= tol:
            return KernelOutcome(x, iterations, matvecs, "converged"), space
        if iterations >= maxiter:
            return KernelOutcome(x, iterations, matvecs, "max_iterations"), space
        kc = 0 if space is None else space.k
        if kc:
            basis[:kc] = space.c
        steps = m - kc
        basis[kc] = r / beta
        hess = np.zeros((steps + 1, steps))
        bmat = np.zeros((kc, steps))
        cs, sn = np.zeros(steps), np.zeros(steps)
        g = np.zeros(steps + 1)
        g[0] = beta
        tri = np.zeros((steps, steps))  # the rotated (triangular) Hessenberg matrix
        done = 0
        breakdown = ""
        if compiled_op is not None:
            done, steps_taken, breakdown = _compiled_cycle(
                compiled_op, basis, kc, steps, hess, bmat, tri, cs, sn, g, tol,
                maxiter - iterations, check)
            matvecs += steps_taken
            iterations += steps_taken
        for j in range(steps if compiled_op is None else 0):
            check()
            z = basis[kc + j] if M is None else M(basis[kc + j])
            if preconditioned is not None:
                preconditioned[j] = z  # M v, kept for the update and the Ritz step
            w = A @ z
            matvecs += 1
            iterations += 1
            col_all = arnoldi_step(xp, basis[: kc + j + 1], w)
            bmat[:, j] = col_all[:kc]
            col = col_all[kc:]
            hn = col[j + 1]
            hess[: j + 2, j] = col  # the harmonic Ritz step needs Hbar unrotated
            rot = col.copy()
            denom = givens_step(rot, cs, sn, g, j)
            if denom == 0.0:
                breakdown = "breakdown: matrix is singular on the Krylov space"
                break
            tri[: j + 1, j] = rot[: j + 1]
            done = j + 1
            # Stored before any exit: the harmonic Ritz step below uses V_{j+1}.
            happy = hn <= 1e-14 * denom
            basis[kc + j + 1] = 0.0 if happy else w * (1.0 / hn)
            if abs(g[j + 1]) <= tol or happy or iterations >= maxiter:
                break
        if done == 0:
            return KernelOutcome(x, iterations, matvecs, breakdown or "breakdown"), space
        y2 = scipy.linalg.solve_triangular(tri[:done, :done], g[:done])
        y2_dev = xp.asarray(y2, dtype=dtype)
        # W = M V: the directions in solution space (right preconditioning).
        w_rows = basis[kc: kc + done] if preconditioned is None else preconditioned[:done]
        x += w_rows.T @ y2_dev
        if kc:
            x -= space.u.T @ xp.asarray(bmat[:, :done] @ y2, dtype=dtype)  # type: ignore[union-attr]
        # r - A W y = V_{m+1} (beta e1 - Hbar y) since A W = C B + V_{m+1} Hbar: a GEMV,
        # not a product with A (one per m - k steps, 5% of them at m = 40, k = 20).
        # The caller checks the claim of convergence on the true residual.
        e = -(hess[: done + 1, :done] @ y2)
        e[0] += beta
        r = basis[kc: kc + done + 1].T @ xp.asarray(e, dtype=dtype)
        space = _harmonic_ritz(xp, basis, w_rows, hess, bmat, space, kc, done, k,
                               preconditioned is None)
        if breakdown:
            return KernelOutcome(x, iterations, matvecs, breakdown), space


def _compiled_cycle(op: gcrodr_cpu.Operator, basis: np.ndarray, kc: int, steps: int,
                    hess: np.ndarray, bmat: np.ndarray, tri: np.ndarray, cs: np.ndarray,
                    sn: np.ndarray, g: np.ndarray, tol: float, budget: int,
                    check: Check) -> tuple[int, int, str]:
    """One cycle's Arnoldi steps by gcrodr_cpu, returning to Python every op.chunk steps
    for check(). Returns the usable steps, the products taken and a breakdown, if any."""
    rot = np.zeros(steps + 1)
    j = 0
    limit = min(steps, budget)
    while j < limit:
        check()
        j, status = op.steps(basis, kc, j, min(limit, j + op.chunk), hess, bmat, tri, cs,
                             sn, g, rot, tol)
        if status == gcrodr_cpu.SINGULAR:
            return j, j + 1, "breakdown: matrix is singular on the Krylov space"
        if status != gcrodr_cpu.RUNNING:
            break
    return j, j, ""


def _harmonic_ritz(xp: ModuleType, basis: Any, w_rows: Any, hess: np.ndarray,
                   bmat: np.ndarray, space: RecycleSpace | None, kc: int, done: int,
                   k: int, w_is_v: bool) -> RecycleSpace | None:
    """The next recycle space from the cycle just finished: the harmonic Ritz vectors of
    least magnitude of A on span(W), W = [Uhat; M V] with Uhat = D U (unit rows), from
    G^T G z = theta G^T Vhat^T W z with A W = Vhat G (Parks et al. 2006, sec. 2.4).
    `w_is_v`: no preconditioner, so the rows of W after U are the Arnoldi vectors."""
    dtype = basis.dtype
    vhat = basis[: kc + done + 1]
    mm = kc + done
    if mm <= k:
        return space
    gmat = np.zeros((mm + 1, mm))
    gmat[kc:, kc:] = hess[: done + 1, :done]
    vw = np.zeros((mm + 1, mm))  # Vhat W^T
    d = np.zeros(0)
    if kc:
        d = 1.0 / to_host64(xp.linalg.norm(space.u, axis=1))  # type: ignore[union-attr]
        gmat[:kc, :kc] = np.diag(d)
        gmat[:kc, kc:] = bmat[:, :done]
        vw[:, :kc] = to_host64(vhat @ space.u.T) * d  # type: ignore[union-attr]
    if w_is_v:
        # The basis is orthonormal and orthogonal to C, so Vhat V^T = [0; I; 0]: a
        # quarter of this step's flops spared.
        vw[kc: kc + done, kc:] = np.eye(done)
    else:
        vw[:, kc:] = to_host64(vhat @ w_rows.T)
    p = _harmonic_vectors(gmat, vw, k)
    if p is None:
        return space
    q, rr = np.linalg.qr(gmat @ p)
    if np.min(np.abs(np.diag(rr))) <= 1e-12 * np.max(np.abs(np.diag(rr))):
        return space
    # C = Vhat^T Q and U = W^T P R^-1, as rows: GEMMs producing row-major (k, n) blocks.
    c_new = xp.asarray(q.T, dtype=dtype) @ vhat
    coeff = p @ scipy.linalg.inv(rr)  # rows of W: [Uhat; W_V]
    u_new = xp.asarray(coeff[kc:].T, dtype=dtype) @ w_rows
    if kc:
        u_new += xp.asarray((coeff[:kc] * d[:, None]).T, dtype=dtype) @ space.u  # type: ignore[union-attr]
    return RecycleSpace(u_new, c_new, "gcrodr")


def _harmonic_vectors(gmat: np.ndarray, vw: np.ndarray, k: int) -> np.ndarray | None:
    """An orthonormal basis of the k eigenvectors z of least |theta| of
    G^T G z = theta G^T VW z, or None. With G = Q R this is the standard eigenproblem
    Q^T VW R^-1 y = mu y, mu = 1 / theta, z = R^-1 y: half the time of the QZ
    algorithm on the pencil (and none of SciPy's per-vector normalisation); the pencil
    is solved as it is when R is too near singular for that."""
    qg, rg = np.linalg.qr(gmat)
    diag = np.abs(np.diag(rg))
    try:
        if diag.min() > 1e-10 * diag.max():
            mu, y = np.linalg.eig(qg.T @ vw @ scipy.linalg.inv(rg))
            chosen = np.argsort(-np.abs(mu))[:k]
            vectors = scipy.linalg.solve_triangular(rg, y)
        else:
            theta, vectors = scipy.linalg.eig(gmat.T @ gmat, gmat.T @ vw)
            finite = np.flatnonzero(np.isfinite(theta))
            if finite.size < k:
                return None
            chosen = finite[np.argsort(np.abs(theta[finite]))[:k]]
    except (np.linalg.LinAlgError, ValueError):
        return None
    if not np.all(np.isfinite(vectors[:, chosen])):
        return None
    p = _real_basis(vectors, chosen)
    return p if p.shape[1] else None


def recycled_cg(A: Any, b: Any, x: Any, M: Precond, tol: float, maxiter: int, check: Check,
                xp: ModuleType, recycle: int = DEFAULT_RECYCLE, space: RecycleSpace | None = None,
                harvest: int | None = None) -> tuple[KernelOutcome, RecycleSpace | None]:
    """Deflated preconditioned CG for symmetric positive definite A.

    With U A U^T = I (C = A U), the start is projected, x += U^T U r, and every search
    direction is kept A-orthogonal to U: p = z + beta p - U^T (C z). The first
    `harvest` search directions (default: harvest_size) and their products are kept;
    Rayleigh-Ritz of A on span[U; P] gives the k Ritz vectors of least Ritz value for
    the next system at no extra product with A.
    """
    k = recycle
    s = harvest_size(k, space) if harvest is None else harvest
    r, matvecs = _initial_residual(A, b, x, xp)
    deflate = space is not None and space.k > 0
    if deflate:
        coef = space.u @ r  # type: ignore[union-attr]
        x += space.u.T @ coef  # type: ignore[union-attr]
        r -= space.c.T @ coef  # type: ignore[union-attr]
    if recycled_cg_cpu.applies(A, M, xp):
        n = r.shape[0]
        u = space.u if deflate else np.zeros((0, n), dtype=r.dtype)  # type: ignore[union-attr]
        c = space.c if deflate else u  # type: ignore[union-attr]
        outcome, kept = recycled_cg_cpu.deflated_cg(A, r, x, M, tol, maxiter, check, u, c, s,
                                                    matvecs)
        return outcome, _counted(_ritz(xp, space, kept.z, kept.az, k, kept.shift, kept.gram),
                                 outcome.iterations)
    z = _apply(M, r)
    p = z - space.u.T @ (space.c @ z) if deflate else z.copy()  # type: ignore[union-attr]
    rz_now = xp.dot(r, z)
    rz = float(rz_now)
    kept_p: list[Any] = []
    kept_ap: list[Any] = []
    iterations = 0
    reason = "max_iterations"
    if _norm(xp, r) <= tol:
        reason = "converged"
    else:
        tol_sq = tol * tol
        while iterations < maxiter:
            check()
            ap = A @ p
            matvecs += 1
            iterations += 1
            # The step is taken on the device before p.Ap reaches the host, with the
            # residual's and r.z's products, in one transfer an iteration (on a GPU each
            # read is a synchronisation; one by one they were three). p.Ap <= 0 (or not
            # finite) makes the step zero, so a breakdown leaves x and r as they were.
            pap_now = xp.dot(p, ap)
            ok = pap_now > 0
            safe_pap = xp.where(ok, pap_now, 1.0)
            # The first directions, not the last: measured on Darcy sequences, the first
            # 2k cut products to 0.62x of CG, the last 2k to 0.97x.
            keep = len(kept_p) < s
            if keep:
                scale = 1.0 / xp.sqrt(safe_pap)  # A-normalised: a well-scaled Gram matrix
                kept_p.append(p * scale)
                kept_ap.append(ap * scale)
            alpha = xp.where(ok, rz_now / safe_pap, 0.0)
            axpy(xp, alpha, p, x)
            axpy(xp, -alpha, ap, r)
            rr_now = xp.dot(r, r)
            z = _apply(M, r)
            rz_now = rr_now if M is None else xp.dot(r, z)
            pap, rr, rz_new = host_scalars(xp, pap_now, rr_now, rz_now)
            if not (pap > 0.0 and math.isfinite(pap)):
                if keep:
                    kept_p.pop()
                    kept_ap.pop()
                reason = "breakdown: A is not positive definite"
                break
            if rr <= tol_sq:
                reason = "converged"
                break
            beta = rz_new / rz
            rz = rz_new
            p *= beta
            p += z
            if deflate:
                p -= space.u.T @ (space.c @ z)  # type: ignore[union-attr]
    outcome = KernelOutcome(x, iterations, matvecs, reason)
    if not kept_p:
        return outcome, space
    rows_z, rows_az = xp.stack(kept_p), xp.stack(kept_ap)
    if deflate:
        rows_z = xp.concatenate([space.u, rows_z])  # type: ignore[union-attr]
        rows_az = xp.concatenate([space.c, rows_az])  # type: ignore[union-attr]
    return outcome, _counted(_ritz(xp, space, rows_z, rows_az, k), iterations)


def harvest_size(k: int, space: RecycleSpace | None) -> int:
    """How many of a solve's first directions to keep for the Ritz step: 3k, or, when
    the solve that harvested `space` was long, up to 5k, a quarter of its iterations.
    The slowest directions take longer to show in longer solves (finer grids): on the
    Darcy batch, products per system against CG's, 64^2 (~150 iterations): 2k 0.604x,
    3k 0.578x, 4k 0.564x, 5k 0.554x at +25% wall time; 128^2 (~350): 3k 0.604x, 4k
    0.569x, 5k 0.549x, 6k 0.539x, wall time within noise."""
    iterations = 0 if space is None else space.iterations
    return max(3 * k, min(5 * k, iterations // 4))


def _counted(space: RecycleSpace | None, iterations: int) -> RecycleSpace | None:
    return None if space is None else replace(space, iterations=iterations)


def _a_orthonormal(xp: ModuleType, space: RecycleSpace) -> RecycleSpace:
    """U A U^T = I to working precision (the directions assume it exactly): measured,
    a harvested space off by 2e-7 stalled deflated CG, and one pass of this fixed it.
    No product with A: C = A U is transformed alongside U. LinAlgError when A is not
    positive definite on U."""
    gram = to_host64(space.u @ space.c.T)
    gram = 0.5 * (gram + gram.T)
    chol = np.linalg.cholesky(gram)
    linv = xp.asarray(scipy.linalg.solve_triangular(chol, np.eye(space.k), lower=True),
                      dtype=space.u.dtype)
    return replace(space, u=linv @ space.u, c=linv @ space.c)


def _products(A: Any, u: Any, xp: ModuleType) -> Any:
    """C with rows c_l = A u_l. A CPU CSR matrix takes one fast product a row (k x 10 us
    at n = 4096, against 620 us for SciPy's A @ U^T with its layout copies); otherwise
    one sparse-dense product."""
    fast = fast_products(A) if xp is np else A
    if isinstance(fast, CsrProducts) and u.dtype == fast.dtype:
        c = np.empty_like(u)
        for row in range(u.shape[0]):
            c[row] = fast @ np.ascontiguousarray(u[row])
        return c
    return (A @ u.T).T


def _ritz(xp: ModuleType, space: RecycleSpace | None, z: Any, az: Any, k: int,
          shift: np.ndarray | None = None,
          gram: np.ndarray | None = None) -> RecycleSpace | None:
    """Rayleigh-Ritz of A on the span of the rows of Z = [U; P] (AZ: their products):
    the k Ritz vectors of least Ritz value, with their products by linearity.

    `shift` (s, k) when the rows after U are Pt = P + shift U, the directions before
    their projection (recycled_cg_cpu keeps those): the span is the same, and the
    Gram matrix and the coefficients are moved between the two bases on the host.
    `gram`, Pt Pt^T from CG's scalars (recycled_cg_cpu.direction_gram), spares the
    product Z Z^T; the result is checked and, should it come out degenerate, the
    step is redone with Z Z^T. The returned U is A-orthonormal to rounding only;
    adopt() makes it exact."""
    if z.shape[0] == 0 or (z.shape[0] <= k and space is not None):
        return space
    m = z.shape[0]
    kk = m - (0 if shift is None else shift.shape[0])
    # Z A Z^T = I by construction: U A U^T = I, the deflation keeps every direction
    # A-orthogonal to U, CG keeps them conjugate, and each is A-normalised. So the
    # Ritz values are 1 / mu for the eigenvalues mu of Z Z^T, the least the largest.
    # Measured on the Darcy batch: forming Z A Z^T and whitening by it changed the
    # products by 0.1% (166.1 vs 166.3 per system) and cost 10% of the wall time.
    if gram is not None:
        zz = np.zeros((m, m))
        zz[:kk, :kk] = _gram(xp, z[:kk])
        zz[kk:, kk:] = gram
    else:
        zz = _gram(xp, z)
    if shift is not None and shift.size:  # rows after U and a U to shift them by
        # Zt = T Z with T = [[I, 0], [shift, I]]: Z Z^T = T^-1 (Zt Zt^T) T^-T.
        tinv = np.eye(m)
        tinv[kk:, :kk] = -shift
        zz = tinv @ zz @ tinv.T
    else:
        tinv = None
    zz = 0.5 * (zz + zz.T)
    _, y = np.linalg.eigh(zz)
    coeff = y[:, ::-1][:, :min(k, m)]
    coeff_z = coeff if tinv is None else tinv.T @ coeff
    u = xp.asarray(coeff_z.T, dtype=z.dtype) @ z
    c = xp.asarray(coeff.T, dtype=z.dtype) @ az
    if gram is not None and not _well_posed(xp, u, c):
        return _ritz(xp, space, z, az, k, shift)
    return RecycleSpace(u, c, "recycled_cg")


def _well_posed(xp: ModuleType, u: Any, c: Any) -> bool:
    """Whether U A U^T (= U C^T) is safely positive definite: Ritz vectors from
    CG's scalar relations can repeat (Lanczos' ghost copies of a converged one).
    Cholesky of its unit-diagonal scaling, with every pivot above 1e-8."""
    h = to_host64(u @ c.T)
    d = np.diag(h)
    if not np.all(d > 0):
        return False
    scaled = h / np.sqrt(np.outer(d, d))
    try:
        pivots = np.diag(np.linalg.cholesky(0.5 * (scaled + scaled.T)))
    except np.linalg.LinAlgError:
        return False
    return bool(np.min(pivots) ** 2 > 1e-8)


def _gram(xp: ModuleType, z: Any) -> np.ndarray:
    """Z Z^T on the host in float64 (measured: BLAS's symmetric rank-k update, half
    the flops, took as long as the GEMM at 80 x 4096)."""
    return to_host64(z @ z.T)
