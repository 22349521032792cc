"""Low-rank matrix completion: alternating minimisation with exact or sketched row
updates, and softImpute-ALS, on CPU or GPU."""

from solvers.completion.biases import CENTERS
from solvers.completion.rowsolve import ROW_SOLVERS
from solvers.completion.solve import METHODS, CompletionResult, complete

__all__ = ["CENTERS", "METHODS", "ROW_SOLVERS", "CompletionResult", "complete"]
