"""Multicolour SOR on CuPy.

Why multicolour: a natural-order SOR sweep is a sequential triangular solve; its
GPU versions (level scheduling, cuSPARSE SpSV) expose little parallelism on
stencil matrices. Rows of one colour are never coupled, so all of them update at
once: per colour one SpMV on that colour's rows and one scatter kernel,
x_i += omega (b - A x)_i / a_ii. The ordering differs from the CPU's natural
order, so iteration counts differ too (the tuner learns omega on the
implementation it is served). Colours come from solvers.linear.colouring.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np
import scipy.sparse as sp

from solvers.linear.colouring import colour
from solvers.linear.krylov import KernelOutcome
from solvers.linear.sor import iterate_sweeps


@functools.cache
def _update_kernel(cupy: ModuleType) -> Any:
    return cupy.ElementwiseKernel(
        "int32 row, T bc, T axc, T d, T omega", "raw T x",
        "x[row] += omega * (bc - axc) / d;", "solverd_multicolour_sor")


class MulticolourSweeps:
    """The colour classes of A on the GPU: rows, their CSR block, their diagonal."""

    def __init__(self, a: sp.csr_matrix, backend: Any, dtype: np.dtype) -> None:
        import cupyx.scipy.sparse as csp

        self.xp = backend.xp
        self.colours = colour(a)
        self.count = int(self.colours.max()) + 1
        diag = a.diagonal()
        self.blocks = []
        for c in range(self.count):
            rows = np.flatnonzero(self.colours == c).astype(np.int32)
            block = a[rows]
            gpu_block = csp.csr_matrix(
                (self.xp.asarray(block.data, dtype=dtype),
                 self.xp.asarray(block.indices, dtype=np.int32),
                 self.xp.asarray(block.indptr, dtype=np.int32)), shape=block.shape)
            self.blocks.append((self.xp.asarray(rows), gpu_block,
                                self.xp.asarray(diag[rows], dtype=dtype)))
        self.update = _update_kernel(self.xp)

    def gather(self, b: Any) -> list[Any]:
        """b split by colour: SOR's right-hand side is fixed, so split it once per solve."""
        return [b[rows] for rows, _, _ in self.blocks]

    def sweep(self, b: Any, x: Any, omega: float, direction: str = "forward",
              b_blocks: list[Any] | None = None) -> None:
        order = range(self.count)
        if direction == "backward":
            order = reversed(order)
        elif direction == "symmetric":
            order = [*range(self.count), *reversed(range(self.count))]
        parts = self.gather(b) if b_blocks is None else b_blocks
        w = float(omega)  # a kernel argument, cast to x's type: no upload per sweep
        for c in order:
            rows, block, diag = self.blocks[c]
            self.update(rows, parts[c], block @ x, diag, w, x)


def sor(a_dev: Any, sweeps: MulticolourSweeps, b: Any, x: Any, tol: float, maxiter: int,
        check: Callable[[], None], omega: float) -> KernelOutcome:
    b_blocks = sweeps.gather(b)  # b is fixed for the whole solve: split it once
    return iterate_sweeps(a_dev, b, x, tol, maxiter, check,
                          lambda: sweeps.sweep(b, x, omega, b_blocks=b_blocks), sweeps.xp)


def ssor_preconditioner(sweeps: MulticolourSweeps, omega: float) -> Callable[[Any], Any]:
    def apply(v: Any) -> Any:
        z = sweeps.xp.zeros_like(v)
        sweeps.sweep(v, z, omega, "symmetric")
        return z

    return apply
