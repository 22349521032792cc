"""Pure numerics: one subpackage per solver family, plus the array-backend switch.

No gRPC and no protobuf here: a solver takes arrays and options and returns a
result dataclass, so everything is usable in-process.
"""

from solvers.errors import Interrupted, SolverInputError

__all__ = ["Interrupted", "SolverInputError"]
