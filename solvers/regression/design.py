"""The design matrix X as the solvers see it: dense (column-major) or CSC, on either
backend, optionally centred. Every product with X goes through here.

Centring for the intercept (squared loss) is explicit for dense X (a centred copy,
as scikit-learn does) and implicit for sparse X, which must stay sparse:
X_c = X - 1 m^T, so X_c w = X w - m.w, X_c^T r = X^T r - m sum(r), and
X_c^T X_c = X^T X - n m m^T.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from solvers.backend import CPU, Backend
from solvers.errors import SolverInputError
from solvers.regression import kernels

FLOATS = (np.float32, np.float64)
COLUMN_BLOCK_ENTRIES = 1 << 22


class Design:
    def __init__(self, X: Any, center: bool, backend: Backend = CPU) -> None:
        self.backend = backend
        xp = backend.xp
        self.sparse = sp.issparse(X)
        if self.sparse:
            X = sp.csc_matrix(X)
            dtype = X.dtype if X.dtype in FLOATS else np.float64
            X = X.astype(dtype, copy=False)
            X.sum_duplicates()
            if X.nnz and not np.isfinite(X.data).all():
                raise SolverInputError("X", "has NaN or infinite entries")
        else:
            X = np.asarray(X)
            if X.ndim != 2:
                raise SolverInputError("X", f"must be 2-D, got shape {list(X.shape)}")
            dtype = X.dtype if X.dtype in FLOATS else np.float64
            if not np.isfinite(X).all():
                raise SolverInputError("X", "has NaN or infinite entries")
        self.n, self.p = X.shape
        if self.n < 1 or self.p < 1:
            raise SolverInputError("X", f"needs at least one row and column, got {X.shape}")
        self.dtype = np.dtype(dtype)
        mean = np.asarray(X.mean(axis=0), dtype=np.float64).ravel() if center else None
        self.mean = mean if self.sparse else None  # only sparse keeps its centring implicit
        if self.sparse:
            self.X = backend.matrix(X, self.dtype).tocsc() if backend.is_gpu else X
        else:
            dense = np.asfortranarray(X, dtype=self.dtype)
            if center:
                dense = np.asfortranarray(dense - mean.astype(self.dtype))
            self.X = xp.asarray(dense)
        self.col_means = mean if mean is not None else np.zeros(self.p)
        sq = self._column_sq_norms()
        self.sq_norms = sq  # ||x_j||^2 of the (centred) columns, float64, host

    def _column_sq_norms(self) -> np.ndarray:
        xp = self.backend.xp
        if self.sparse:
            sq = self.backend.to_host(self.X.multiply(self.X).sum(axis=0)).ravel()
            sq = np.asarray(sq, dtype=np.float64)
            if self.mean is not None:
                sq = sq - self.n * self.mean**2
            return np.maximum(sq, 0.0)
        # Column blocks in float64: a float32 X is never copied whole (a float64 copy of
        # X took twice X's memory on the device).
        step = max(1, COLUMN_BLOCK_ENTRIES // self.n)
        sq = xp.empty(self.p)
        for lo in range(0, self.p, step):
            block = self.X[:, lo:lo + step].astype(xp.float64, copy=False)
            sq[lo:lo + step] = xp.einsum("ij,ij->j", block, block)
        return np.asarray(self.backend.to_host(sq))

    def vec(self, v: np.ndarray) -> Any:
        """A host float64 vector on the device in the design's dtype."""
        return self.backend.xp.asarray(v, dtype=self.dtype)

    def matvec(self, cols: np.ndarray, w: np.ndarray) -> np.ndarray:
        """X[:, cols] w as a float64 host vector (n,); cols usually the support."""
        if cols.size == 0:
            return np.zeros(self.n)
        z = self.backend.to_host(self.columns(cols) @ self.vec(w))
        z = np.asarray(z, dtype=np.float64).ravel()
        if self.mean is not None:
            z -= float(self.mean[cols] @ w)
        return z

    def rmatvec(self, r: np.ndarray) -> np.ndarray:
        """X^T r over every column, float64 host (p,): the full pass the solvers count."""
        Xt_r = self.backend.to_host(self.X.T @ self.vec(r))
        Xt_r = np.asarray(Xt_r, dtype=np.float64).ravel()
        if self.mean is not None:
            Xt_r -= self.mean * float(np.sum(r))
        return Xt_r

    def rmatvec_columns(self, cols: np.ndarray, r: np.ndarray) -> np.ndarray:
        """X[:, cols]^T r (float64, host): a working set's share of a pass."""
        if cols.size == 0:
            return np.zeros(0)
        if not (self.sparse or self.backend.is_gpu):  # dense host X: no column copies
            return kernels.column_dots(self.X, np.ascontiguousarray(cols, dtype=np.int64),
                                       np.ascontiguousarray(r, dtype=np.float64))
        out = self.backend.to_host(self.columns(cols).T @ self.vec(r))
        out = np.asarray(out, dtype=np.float64).ravel()
        if self.mean is not None:
            out -= self.mean[cols] * float(np.sum(r))
        return out

    def columns(self, cols: np.ndarray) -> Any:
        return self.X[:, self.backend.xp.asarray(cols)] if self.backend.is_gpu else \
            self.X[:, cols]

    def gram(self, rows: np.ndarray, cols: np.ndarray, weights: np.ndarray | None = None
             ) -> np.ndarray:
        """X[:, rows]^T diag(weights) X[:, cols] (float64, host): cached working-set Grams."""
        xp = self.backend.xp
        A = self.columns(rows)
        B = A if cols is rows else self.columns(cols)
        if self.sparse:
            A = A.astype(np.float64)
            B = B.astype(np.float64) if B is not A else A
            if weights is not None:
                B = B.multiply(self.vec(weights).astype(np.float64)[:, None]).tocsc()
            G = (A.T @ B).toarray()
        else:
            if weights is not None:
                B = B * self.vec(weights)[:, None]
            A64 = A.astype(xp.float64, copy=False)
            G = A64.T @ (A64 if B is A else B.astype(xp.float64, copy=False))
        G = np.asarray(self.backend.to_host(G), dtype=np.float64)
        if self.mean is not None:
            if weights is None:
                G -= self.n * np.outer(self.mean[rows], self.mean[cols])
            else:  # only the logistic loss weights a Gram, and it never centres
                raise AssertionError("weighted Gram of an implicitly centred design")
        return G
