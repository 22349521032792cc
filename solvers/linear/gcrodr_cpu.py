"""GCRO-DR's Arnoldi steps on a host CSR matrix as one compiled loop (numba).

The NumPy cycle of recycling.gcrodr spends a step at n = 4096 with 60 basis rows on two
passes of classical Gram-Schmidt (four GEMVs over the rows, ~105 us), a Python Givens
rotation (~15 us) and the interpreter between them, for one ~10 us sparse product.
Here a step is the product, one pass of modified Gram-Schmidt against [C; V] (each
row's subtraction fused with the next row's dot product, so each row comes from memory
once, against four times for CGS2) and the rotations, without returning to Python:
~72 us a step at 60 rows (88 us with MGS's two loops per row).

One pass of MGS suffices for GMRES-type least squares: MGS-GMRES is backward stable
(Paige, Rozloznik, Strakos, SIMAX 2006), orthogonality being lost only as the residual
of the cycle falls, and a cycle here reduces it by a bounded factor before the basis is
rebuilt from the true residual. SciPy's gcrotmk orthogonalises in the same way.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import scipy.sparse as sp

from solvers.jit import compiled
from solvers.linear.diagonals import dia_rows, diagonal_form
from solvers.linear.krylov import givens_step
from solvers.linear.products import CsrProducts

FAST = {"reassoc", "contract"}
BLOCK = 1024  # rows per block of a product by diagonals
RUNNING, CONVERGED, HAPPY, SINGULAR = 0, 1, 2, 3
_NO_OFFSETS = np.zeros(0, dtype=np.int64)


@compiled(fastmath=FAST)
def _product(indptr: Any, indices: Any, data: Any, offsets: Any, vals: Any, lo: int,
             hi: int, v: Any, w: Any) -> None:
    """w = A v, by diagonals when `offsets` is not empty, else by CSR."""
    n = v.shape[0]
    if offsets.shape[0]:
        for start in range(0, n, BLOCK):
            stop = min(start + BLOCK, n)
            dia_rows(offsets, vals, v, w[start:stop], start, stop, lo, hi)
        return
    for i in range(n):
        s = 0.0
        for jj in range(indptr[i], indptr[i + 1]):
            s += data[jj] * v[indices[jj]]
        w[i] = s


@compiled(fastmath=FAST)
def _orthogonalise(basis: Any, rows: int, w: Any, coef: Any) -> float:
    """Modified Gram-Schmidt of w against basis[:rows], each row's subtraction fused
    with the next row's dot product (taken on the updated w, as MGS does), so the next
    row is read again, for its own subtraction, from cache rather than from the basis
    in memory; the last pass yields ||w||^2. Returns it; coef[:rows] the coefficients.
    """
    n = w.shape[0]
    first = basis[0]
    s = 0.0
    for t in range(n):
        s += first[t] * w[t]
    norm2 = 0.0
    for i in range(rows):
        row = basis[i]
        coef[i] = s
        if i + 1 < rows:
            following = basis[i + 1]
            acc = 0.0
            for t in range(n):
                wt = w[t] - s * row[t]
                w[t] = wt
                acc += following[t] * wt
            s = acc
        else:
            for t in range(n):
                wt = w[t] - s * row[t]
                w[t] = wt
                norm2 += wt * wt
    return norm2


@compiled(fastmath=FAST)
def _steps(indptr: Any, indices: Any, data: Any, offsets: Any, vals: Any, lo: int, hi: int,
           basis: Any, kc: int, j0: int, j1: int, hess: Any, bmat: Any, tri: Any, cs: Any,
           sn: Any, g: Any, rot: Any, tol: float) -> tuple[int, int]:
    """Arnoldi steps j0 .. j1 - 1 of a cycle whose basis rows are [C (kc); V]: each
    writes A v_j orthogonalised into row kc + j + 1, column j of Hbar (hess, unrotated),
    of B = C A v (bmat) and of the rotated triangle (tri), and rotates g. Returns the
    next step and the status: RUNNING (j1 reached), CONVERGED (|g[j + 1]| <= tol),
    HAPPY (an invariant subspace: row kc + j + 1 zeroed) or SINGULAR (the step's
    product done, its column not usable)."""
    n = basis.shape[1]
    coef = np.empty(basis.shape[0])
    scratch = np.empty(n, dtype=basis.dtype)
    for j in range(j0, j1):
        w = scratch  # not a view of basis: LLVM then vectorises the fused loops (3x)
        _product(indptr, indices, data, offsets, vals, lo, hi, basis[kc + j], w)
        rows = kc + j + 1
        norm2 = _orthogonalise(basis, rows, w, coef)
        for i in range(rows):
            if i < kc:
                bmat[i, j] = coef[i]
            else:
                hess[i - kc, j] = coef[i]
                rot[i - kc] = coef[i]
        hn = math.sqrt(norm2)
        hess[j + 1, j] = hn
        rot[j + 1] = hn
        denom = givens_step(rot, cs, sn, g, j)
        if denom == 0.0:
            return j, SINGULAR
        for i in range(j + 1):
            tri[i, j] = rot[i]
        out = basis[kc + j + 1]
        if hn <= 1e-14 * denom:
            for t in range(n):
                out[t] = 0.0
            return j + 1, HAPPY
        scale = 1.0 / hn
        for t in range(n):
            out[t] = w[t] * scale
        if abs(g[j + 1]) <= tol:
            return j + 1, CONVERGED
    return j1, RUNNING


def applies(A: Any, M: Any, xp: Any) -> bool:
    """Whether the compiled steps can run: NumPy, a float32/float64 CSR matrix (or
    CsrProducts), no preconditioner."""
    a = getattr(A, "matrix", A)
    return (xp is np and M is None and sp.issparse(a) and a.format == "csr"
            and a.dtype in (np.float32, np.float64))


class Operator:
    """A's arrays for _steps: its diagonals for a stencil (the conversion costs a few
    products, a cycle runs tens), else its CSR arrays."""

    def __init__(self, A: Any, dtype: np.dtype) -> None:
        a = getattr(A, "matrix", A)
        form = A.diagonal_form() if isinstance(A, CsrProducts) else diagonal_form(a)
        index = np.int32 if a.nnz < 2**31 else np.int64
        self.data = a.data.astype(dtype, copy=False)
        if form is not None:
            self.offsets, self.lo, self.hi = form.offsets, form.lo, form.hi
            self.vals = form.vals.astype(dtype, copy=False)
            self.indptr = self.indices = np.zeros(0, dtype=index)
        else:
            self.offsets, self.lo, self.hi = _NO_OFFSETS, 0, 0
            self.vals = np.zeros((0, 0), dtype=dtype)
            self.indptr = a.indptr.astype(index, copy=False)
            self.indices = a.indices.astype(index, copy=False)
        self.chunk = int(max(1, 10_000_000 // (a.nnz + 2 * 64 * a.shape[0])))

    def steps(self, basis: Any, kc: int, j0: int, j1: int, hess: np.ndarray,
              bmat: np.ndarray, tri: np.ndarray, cs: np.ndarray, sn: np.ndarray,
              g: np.ndarray, rot: np.ndarray, tol: float) -> tuple[int, int]:
        return _steps(self.indptr, self.indices, self.data, self.offsets, self.vals,
                      self.lo, self.hi, basis, kc, j0, j1, hess, bmat, tri, cs, sn, g, rot,
                      tol)


def warm_up() -> None:
    """Compile the steps for float64 by CSR (int32 indices) and by diagonals."""
    from solvers.linear.diagonals import MIN_ROWS

    for size in (4, MIN_ROWS):
        a = sp.diags([np.full(size, 2.0), np.full(size - 1, -1.0), np.full(size - 1, 0.5)],
                     [0, -1, 1], format="csr")
        op = Operator(a, np.dtype(np.float64))
        basis = np.zeros((4, size))
        basis[0, 0] = 1.0
        basis[1, 1] = 1.0
        hess, bmat, tri = np.zeros((3, 2)), np.zeros((1, 2)), np.zeros((2, 2))
        g = np.zeros(3)
        g[0] = 1.0
        op.steps(basis, 1, 0, 2, hess, bmat, tri, np.zeros(2), np.zeros(2), g, np.zeros(3),
                 1e-12)
