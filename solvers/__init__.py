"""Pure numerics: one subpackage per solver family, plus the array-backend switch.

No gRPC and no protobuf here: a solver takes arrays and options and returns a
result dataclass, so everything is usable in-process.
"""

from solvers.errors import Interrupted, SolverInputError

__all__ = ["Interrupted", "SolverInputError", "warm_up"]


def warm_up() -> None:
    """Compile the numba kernels (coordinate passes, network simplex, deflated CG,
    products by diagonals) now
    rather than on the first request: 0.2-0.4 s each without a cache, milliseconds
    with one."""
    from solvers.linear import diagonals, recycled_cg_cpu
    from solvers.regression import kernels
    from solvers.transport import simplex

    kernels.warm_up()
    simplex.warm_up()
    recycled_cg_cpu.warm_up()
    diagonals.warm_up()
