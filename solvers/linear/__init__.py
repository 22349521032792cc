"""Linear systems A x = b: CG, MINRES, GMRES, BiCGStab and direct, on CPU or GPU."""

from solvers.linear.solve import METHODS, LinearSolveResult, choose_method, device_for, solve

__all__ = ["METHODS", "LinearSolveResult", "choose_method", "device_for", "solve"]
