"""Optimal transport: stabilised Sinkhorn, epsilon scaling, Sinkhorn-Newton-Sparse,
unbalanced (KL-relaxed) transport and exact transport, on CPU or GPU."""

from solvers.transport.cost import METRICS, SCALES, cost_matrix
from solvers.transport.solve import METHODS, PLANS, TransportResult, choose_method, transport

__all__ = ["METHODS", "METRICS", "PLANS", "SCALES", "TransportResult", "choose_method",
           "cost_matrix", "transport"]
