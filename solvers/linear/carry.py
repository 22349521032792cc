"""Whether a recycle space goes on from one system of a sequence to the next.

A space moves to a new matrix of the same sparsity pattern (k products refit it;
SKR, Wang et al., ICLR 2024, and Parks et al. 2006 assume matrices that differ a
little). It is dropped when the pattern or the size changes, since nothing then
says the slow directions of one matrix are those of the other, and when it stops
helping: two recycled solves in a row that each cost at least as many products as
the last solve that started without one (one is not enough: a space harvested from
a single solve is often weak at first and improves as it is carried, and counts
vary by a few percent with the right-hand side). The next system then starts
afresh and builds a new space from its own Krylov subspace.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from solvers.linear.recycling import RecycleSpace


def same_pattern(a: Any, b: Any) -> bool:
    """True when `a` and `b` have one shape and one sparsity pattern (dense: shape)."""
    if a is b:
        return True
    if a.shape != b.shape or sp.issparse(a) != sp.issparse(b):
        return False
    if not sp.issparse(a):
        return True
    a, b = a.tocsr(), b.tocsr()
    return bool(np.array_equal(a.indptr, b.indptr) and np.array_equal(a.indices, b.indices))


@dataclass
class RecycleCarry:
    """The space a sequence carries, and what it needs to judge it."""

    space: RecycleSpace | None = None
    matrix: Any = None  # the last system's A, for the pattern test
    fresh_products: int | None = None  # the last solve that started without a space
    drops: int = 0  # spaces dropped because they stopped helping
    strikes: int = 0  # recycled solves in a row no cheaper than a fresh one
    patience: int = 2

    def offer(self, a: Any) -> RecycleSpace | None:
        """The space for a system with matrix `a`, or None to start afresh."""
        if self.space is not None and (self.matrix is None
                                       or not same_pattern(self.matrix, a)):
            self.space = None
        return self.space

    def record(self, a: Any, products: int, recycled: bool,
               space: RecycleSpace | None) -> None:
        """After a solve of `a`: its products (setup included), whether it used a
        carried space, and the space it ended with."""
        self.matrix = a
        self.space = space
        if not recycled:
            self.fresh_products, self.strikes = products, 0
            return
        no_better = self.fresh_products is not None and products >= self.fresh_products
        self.strikes = self.strikes + 1 if no_better else 0
        if self.strikes >= self.patience:
            self.space, self.strikes = None, 0
            self.drops += 1


@dataclass
class AmgCarry:
    """The AMG hierarchy a batch or stream reuses for its next systems (PyAMG's setup is
    about 45% of an AMG-CG solve on a 2-D Darcy system). A hierarchy built for one
    matrix is refreshed for its neighbours (amg.refresh: new Galerkin coarse operators
    on the old aggregation, a few percent of the setup) and in a slowly changing
    sequence converges as a fresh one would. It is rebuilt when its iterations grow
    past GROWTH times those of the solve it was built for (the aggregation no longer
    fits the matrix), when the time its reuses spent beyond that solve adds up to its
    setup time (rent or buy), when a reused solve fails (the solver then builds afresh
    itself), or when the size changes."""

    GROWTH = 1.5

    hierarchy: Any = None
    rows: int = 0
    fresh_solve_seconds: float = 0.0  # the solve it was built for, setup excluded
    extra_seconds: float = 0.0  # what its reuses spent beyond that, summed
    reuses: int = 0
    rebuilds: int = 0

    def offer(self, a: Any) -> Any:
        if self.hierarchy is not None and a.shape[0] != self.rows:
            self.hierarchy = None
        return self.hierarchy

    def record(self, a: Any, result: Any) -> None:
        """After a solve: its result (extra["amg"] when it used AMG, extra["amg_reused"]
        when the hierarchy was this carry's)."""
        built = result.extra.get("amg")
        if built is None:
            self.hierarchy = None
            return
        if not result.extra.get("amg_reused"):
            self.hierarchy, self.rows = built, a.shape[0]
            self.fresh_solve_seconds = max(result.seconds - built.setup_seconds, 0.0)
            self.extra_seconds = 0.0
            built.fresh_iterations = result.iterations
            return
        self.reuses += 1
        self.extra_seconds += max(result.seconds - self.fresh_solve_seconds, 0.0)
        grown = result.iterations > self.GROWTH * self.hierarchy.fresh_iterations + 3
        if (not result.converged or grown
                or self.extra_seconds >= self.hierarchy.setup_seconds):
            self.hierarchy = None  # a new one costs less than keeping this one
            self.rebuilds += 1


@dataclass
class FactorCarry:
    """The LU factors a batch of one matrix or a stream keeps for its next systems of
    the same A (a factorisation is most of a direct solve: the triangles of a 90k-row 2-D
    system take a few milliseconds against its 0.3 s). They are offered only to a system
    whose matrix they factor, closed as soon as another matrix comes (a child process
    holding them is killed), and closed when the call ends."""

    factors: Any = None
    reuses: int = 0

    def offer(self, a: Any) -> Any:
        if self.factors is not None and (self.factors.closed or not same_pattern(
                self.factors.matrix, a)):
            self.close()
        return self.factors

    def record(self, result: Any) -> None:
        kept = result.extra.get("factors")
        if kept is not self.factors:
            self.close()
            self.factors = kept
        elif kept is not None:
            self.reuses += 1

    def close(self) -> None:
        if self.factors is not None:
            self.factors.close()
        self.factors = None
