"""Sinkhorn's alternating scaling on the stabilised kernel (log-domain safe).

Balanced: u = a / (K v), v = b / (K^T u). Unbalanced with KL-relaxed marginals
(Chizat, Peyre, Schmitzer, Vialard, "Scaling algorithms for unbalanced optimal
transport problems", Math. Comp. 2018): the same steps raised to the power
rho / (rho + reg).

The row marginal error after a v-step costs nothing extra: K v is needed for
the next u-step anyway, so the error is checked every iteration (POT checks
every tenth, with an extra product).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from solvers.errors import check_stop
from solvers.transport.kernel import Kernel


@dataclass
class SinkhornStage:
    iterations: int
    error: float
    converged: bool
    stalled: bool


def sinkhorn_steps(kernel: Kernel, tol: float, maxiter: int, rho: float | None = None,
                   stall_window: int = 0, stall_ratio: float = 0.5,
                   should_stop: Callable[[], str | None] | None = None,
                   check_every: int = 1) -> SinkhornStage:
    """Alternates scalings until the marginal error (L1) is at most tol.

    `stall_window` > 0: also stop when the error fell by less than `stall_ratio`
    over that many iterations (the caller switches to Newton steps then).
    `rho`: KL weight of unbalanced marginals (None: balanced). For unbalanced
    problems the error is the change of the scalings, as the marginals are
    not meant to be met. `should_stop` is polled every `check_every` iterations
    (every one by default: a poll costs a microsecond, an iteration at the 10^8-entry
    limit a quarter of a second).
    """
    xp = kernel.xp
    a, b = kernel.a, kernel.b
    power = None if rho is None else kernel.power
    history: list[float] = []
    error = float("inf")
    # The error is read off the previous step; a kernel rebuild resets the
    # scalings, so the step after one tells nothing and is not checked.
    checkable = False
    for it in range(1, maxiter + 1):
        Kv = kernel.K @ kernel.v
        u_old, v_old = kernel.u, kernel.v
        if power is None:
            # Columns are exact after a v-step; rows tell the error of (u_old, v_old).
            measured = xp.abs(u_old * Kv - a).sum() if checkable else None
            kernel.u = a / Kv
            kernel.v = b / (kernel.K.T @ kernel.u)
        else:
            # The true scalings are exp(f / reg) u and exp(g / reg) v: raising them
            # to `power` leaves a factor exp((power - 1) f / reg) on the absorbed ones.
            kernel.u = xp.exp(power * xp.log(a / Kv) - (1 - power) * kernel.f / kernel.reg)
            KTu = kernel.K.T @ kernel.u
            kernel.v = xp.exp(power * xp.log(b / KTu) - (1 - power) * kernel.g / kernel.reg)
            measured = (xp.abs(xp.log(kernel.u / u_old)).max()
                        + xp.abs(xp.log(kernel.v / v_old)).max()) if checkable else None
        # The error and the scalings' range reach the host together: one transfer an
        # iteration, however many checks (on a GPU each read is a synchronisation).
        if measured is None:
            error_now, out_of_range = math.inf, kernel.read(kernel.out_of_range())[0]
        else:
            error_now, out_of_range = kernel.read(measured, kernel.out_of_range())
        if checkable:
            error = error_now
            if error <= tol:
                if power is None:  # the balanced error belongs to the step before
                    kernel.u, kernel.v = u_old, v_old
                    return SinkhornStage(it - 1, error, True, False)
                return SinkhornStage(it, error, True, False)
        checkable = True
        if out_of_range:
            # An absorption costs several iterations (exp over the n x m kernel).
            check_stop(should_stop)
            kernel.absorb()
            checkable = False
        if stall_window and it % stall_window == 0 and error < float("inf"):
            history.append(error)
            if len(history) >= 2 and history[-1] > stall_ratio * history[-2]:
                return SinkhornStage(it, error, False, True)
        if it % check_every == 0:
            check_stop(should_stop)
    return SinkhornStage(maxiter, error, False, False)


def epsilon_schedule(reg: float, cost_scale: float, factor: float = 0.1) -> list[float]:
    """Regularisations from cost_scale / 10 down to reg, each `factor` times the last."""
    regs = [reg]
    start = 0.1 * cost_scale
    while regs[-1] / factor < start:
        regs.append(regs[-1] / factor)
    return regs[::-1]


def kernel_for(xp: Any, M: Any, a: Any, b: Any, reg: float,
               previous: Kernel | None, rho: float | None = None,
               should_stop: Callable[[], str | None] | None = None) -> Kernel:
    """A kernel at `reg`, warm-started from the potentials of a previous stage."""
    power = 1.0 if rho is None else rho / (rho + reg)
    if previous is None:
        return Kernel(xp, M, a, b, reg, power=power, should_stop=should_stop)
    f, g = previous.potentials()
    # The previous stage's K becomes this one's: one n x m kernel alive, not two.
    return Kernel(xp, M, a, b, reg, f=f, g=g, power=power, buffer=previous.take_buffer(),
                  should_stop=should_stop)
