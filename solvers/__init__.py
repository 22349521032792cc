"""Pure numerics: one subpackage per solver family, plus the array-backend switch.

No gRPC and no protobuf here: a solver takes arrays and options and returns a
result dataclass, so everything is usable in-process.
"""

from solvers.errors import Interrupted, SolverInputError

__all__ = ["Interrupted", "SolverInputError", "warm_up"]


def warm_up() -> None:
    """Compile the numba kernels (coordinate passes, network simplex, deflated CG,
    GCRO-DR's Arnoldi steps, products by diagonals) now rather than on the first
    request: measured 16.6 s in all without a cache before GCRO-DR's steps (8.7 s before
    the products by diagonals, which the deflated-CG loop inlines), 1.0 s with one."""
    from solvers import abandonable
    from solvers.linear import diagonals, gcrodr_cpu, recycled_cg_cpu
    from solvers.regression import kernels
    from solvers.transport import simplex

    kernels.warm_up()
    simplex.warm_up()
    recycled_cg_cpu.warm_up()
    gcrodr_cpu.warm_up()
    diagonals.warm_up()
    abandonable.warm_up()
