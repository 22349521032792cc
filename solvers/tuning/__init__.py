"""Online tuning of solver parameters across sequences of related systems.

Khodak, Chow, Balcan, Talwalkar, "Learning to Relax: Setting Solver Parameters
Across a Sequence of Linear System Instances" (ICLR 2024). Tuners see only
iteration counts. Their whole state is a plain dict (`state()` / `from_state`),
so a stateless service can hand it to the caller and take it back.
"""

from solvers.tuning.chebcb import ChebCB
from solvers.tuning.grid import default_grid
from solvers.tuning.tsallis import TsallisInf, tsallis_probabilities

__all__ = ["ChebCB", "TsallisInf", "default_grid", "tsallis_probabilities"]
