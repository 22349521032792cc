"""Sparse regression: Lasso, elastic net and L1-logistic regression by working sets,
Gap Safe screening and greedy block coordinate descent with Newton steps."""

from solvers.regression.objective import LOSSES, Certificate, Penalty, certificate
from solvers.regression.solve import RegressionResult, alpha_grid, alpha_max, fit, path

__all__ = ["LOSSES", "Certificate", "Penalty", "RegressionResult", "alpha_grid", "alpha_max",
           "certificate", "fit", "path"]
