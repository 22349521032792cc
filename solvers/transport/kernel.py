"""The stabilised Gibbs kernel that every entropic solver here iterates on.

The plan is P = diag(u) K diag(v) with K = exp((f_i + g_j - M_ij) / reg): the
potentials f, g hold the large part of the solution ("absorbed" into K) and the
scalings u, v only what changed since. An iteration is then two matrix-vector
products, as fast as scaling-domain Sinkhorn, yet nothing overflows: whenever a
scaling leaves [exp(-tau), exp(tau)] it is folded into the potentials and K is
rebuilt (Schmitzer, "Stabilized sparse scaling algorithms for entropy
regularized transport problems", SIAM J. Sci. Comput. 2019).

Rebuilding K is one exp pass over n x m entries. It runs a log-domain half step
first (f from g by a soft-min), so every row of the new K holds its marginal
exactly and a row can never be all zeros, however small reg is. Entries of K
below exp(-745) underflow to 0; between rebuilds the scalings move them by at
most exp(2 tau), so what is lost stays below exp(-645): far under any tolerance.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from solvers.backend import host_scalars
from solvers.errors import check_stop

TAU = 50.0
# A rebuild goes through K in blocks of rows of about this many entries, polling the
# caller's stop between them: one pass over the 10^8-entry limit takes about a second.
REBUILD_BLOCK_ENTRIES = 1 << 22
_LO, _HI = math.exp(-TAU), math.exp(TAU)


class Kernel:
    """P = diag(u) K diag(v), K = exp((f + g - M) / reg), on backend `xp`."""

    def __init__(self, xp: Any, M: Any, a: Any, b: Any, reg: float,
                 f: Any = None, g: Any = None, power: float = 1.0,
                 buffer: Any = None,
                 should_stop: Callable[[], str | None] | None = None) -> None:
        self.xp = xp
        self.should_stop = should_stop
        self.M = M
        self.a = a
        self.b = b
        self.reg = reg
        self.power = power  # rho / (rho + reg) for KL-relaxed marginals, else 1
        n, m = M.shape
        self.f = xp.zeros(n) if f is None else f.copy()
        self.g = xp.zeros(m) if g is None else g.copy()
        # `buffer`: a spent kernel's n x m memory (epsilon scaling's stages reuse one).
        self.K = xp.empty_like(M) if buffer is None else buffer
        self.rebuilds = 0
        self.rebuild()

    def rebuild(self) -> None:
        """Folds u, v into f, g, takes the exact log-domain f-step, and rebuilds K."""
        xp, reg = self.xp, self.reg
        n, m = self.M.shape
        step = max(1, REBUILD_BLOCK_ENTRIES // max(m, 1))
        parts = []
        for start in range(0, n, step):
            if start:
                check_stop(self.should_stop)
            rows = slice(start, min(start + step, n))
            K = self.K[rows]
            # K <- (g_j - M_ij) / reg, shifted by its row maximum: the soft-min of row i.
            xp.subtract(self.g[None, :], self.M[rows], out=K)
            K /= reg
            top = K.max(axis=1)
            K -= top[:, None]
            xp.exp(K, out=K)
            # f_i = p (reg log a_i - reg logsumexp_j((g_j - M_ij) / reg)): for p = 1
            # row i then sums to a_i exactly.
            f = self.power * reg * (xp.log(self.a[rows]) - xp.log(K.sum(axis=1)) - top)
            K *= xp.exp(f / reg + top)[:, None]
            parts.append(f)
        self.f = parts[0] if len(parts) == 1 else xp.concatenate(parts)
        self.u = xp.ones_like(self.f)
        self.v = xp.ones_like(self.g)
        self.rebuilds += 1

    def absorb(self) -> None:
        """Moves the scalings into the potentials, then rebuilds K. Where K cannot hold
        a column (every entry of it underflowed: K^T u = 0 and v = b / 0), the v-step is
        taken in the log domain instead, so the column gets its mass; discarding it (as
        this once did) rebuilt the same kernel forever."""
        xp = self.xp
        if bool(xp.all(xp.isfinite(self.v) & (self.v > 0))):
            self.g = self.g + self.reg * xp.log(self.v)
        else:
            self.log_v_step()
        self.rebuild()

    def log_v_step(self) -> None:
        """g_j = p (reg log b_j - reg logsumexp_i((F_i - M_ij) / reg)) with F = f + reg
        log u: the exact v-step, in K's memory as scratch (rebuild() refills K). A u that
        is not finite (it never is after a rebuild) keeps its row's f."""
        xp, K, reg = self.xp, self.K, self.reg
        usable = xp.isfinite(self.u) & (self.u > 0)
        F = self.f + reg * xp.log(xp.where(usable, self.u, 1.0))
        xp.subtract(F[:, None], self.M, out=K)
        K /= reg
        top = K.max(axis=0)
        K -= top[None, :]
        xp.exp(K, out=K)
        self.g = self.power * reg * (xp.log(self.b) - xp.log(K.sum(axis=0)) - top)

    def out_of_range(self) -> Any:
        """A 0-d flag on the backend: whether a scaling left [e^-TAU, e^TAU] or is not
        finite (NaN fails every comparison, and max and min propagate it)."""
        u, v = self.u, self.v
        return ~((u.min() >= _LO) & (u.max() <= _HI) & (v.min() >= _LO) & (v.max() <= _HI))

    def needs_absorb(self) -> bool:
        return bool(self.out_of_range())

    def read(self, *values: Any) -> list[float]:
        """0-d backend values as host floats in one transfer."""
        return host_scalars(self.xp, *values)

    def potentials(self) -> tuple[Any, Any]:
        xp, reg = self.xp, self.reg
        return self.f + reg * xp.log(self.u), self.g + reg * xp.log(self.v)

    def take_plan(self) -> Any:
        """The plan, built in K's memory rather than a new n x m array: the kernel is
        spent afterwards (its potentials remain)."""
        P = self.K
        P *= self.u[:, None]
        P *= self.v[None, :]
        self.K = None
        return P

    def take_buffer(self) -> Any:
        """K's memory for the next kernel; this one is spent."""
        K, self.K = self.K, None
        return K

    def plan_rows(self, lo: int, hi: int) -> Any:
        """Rows lo:hi of the plan: a block, never the whole n x m."""
        block = self.K[lo:hi] * self.u[lo:hi, None]
        block *= self.v[None, :]
        return block

    def mass(self) -> Any:
        """The plan's total mass (0-d, on the backend): one product, no n x m temporary."""
        return self.u @ (self.K @ self.v)

    def marginals(self) -> tuple[Any, Any]:
        return self.u * (self.K @ self.v), self.v * (self.K.T @ self.u)
