"""Transport requests and results (shared by both clients)."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from solverd.results import SolveInfo, concise_repr, device_code, lookup
from solverd.tensors import from_tensor, index_array, value_array
from solverd.v1 import transport_pb2
from solverd.wire import DecodedMessage, WireMessage

METHODS = {"auto": transport_pb2.TRANSPORT_METHOD_AUTO,
           "sinkhorn": transport_pb2.TRANSPORT_METHOD_SINKHORN,
           "sinkhorn_eps": transport_pb2.TRANSPORT_METHOD_SINKHORN_EPS,
           "sns": transport_pb2.TRANSPORT_METHOD_SNS,
           "exact": transport_pb2.TRANSPORT_METHOD_EXACT}
METRICS = {"sqeuclidean": transport_pb2.COST_METRIC_SQEUCLIDEAN,
           "euclidean": transport_pb2.COST_METRIC_EUCLIDEAN,
           "cityblock": transport_pb2.COST_METRIC_CITYBLOCK}
SCALES = {"none": transport_pb2.COST_SCALE_NONE, "max": transport_pb2.COST_SCALE_MAX,
          "mean": transport_pb2.COST_SCALE_MEAN}
PLANS = {"dense": transport_pb2.PLAN_FORM_DENSE, "sparse": transport_pb2.PLAN_FORM_SPARSE,
         "none": transport_pb2.PLAN_FORM_NONE}
_METHOD_NAMES = {code: name for name, code in METHODS.items()}



def transport_request(a: object, b: object, M: object = None, *, X: object = None,
                      Y: object = None, reg: float = 1e-2, method: str = "auto",
                      tol: float = 1e-9, max_iterations: int | None = None,
                      reg_m: float | None = None, plan: str = "dense",
                      plan_threshold: float | None = None, metric: str = "sqeuclidean",
                      scale: str = "none", device: str = "auto",
                      exact_potentials: bool = False) -> WireMessage:
    req = transport_pb2.TransportRequest(
        reg=float(reg), method=lookup(METHODS, method, "method"), tol=float(tol),
        max_iterations=int(max_iterations or 0), plan=lookup(PLANS, plan, "plan"),
        plan_threshold=float(plan_threshold or 0.0), metric=lookup(METRICS, metric, "metric"),
        scale=lookup(SCALES, scale, "scale"), device=device_code(device),
        exact_potentials=exact_potentials)
    if reg_m is not None:
        req.reg_m = float(reg_m)
    wire = WireMessage(req)
    if sp.issparse(M):  # exact transport along its entries only
        coo = M.tocoo()  # type: ignore[attr-defined]
        req.sparse_cost.shape[:] = coo.shape
        wire.set_tensor("sparse_cost.row", index_array(coo.row))
        wire.set_tensor("sparse_cost.col", index_array(coo.col))
        wire.set_tensor("sparse_cost.data", value_array(coo.data))
        M = None
    _check_against_cost(a, b, M)
    for name, value in (("a", a), ("b", b), ("cost", M), ("x", X), ("y", Y)):
        if value is not None and not (hasattr(value, "__len__") and len(value) == 0):  # type: ignore[arg-type]
            wire.set_tensor(name, value_array(np.asarray(value)))
    return wire


def _check_against_cost(a: object, b: object, M: object) -> None:
    """M (n x m) against a (n) and b (m), where the mismatch is M's: M.T for M blamed
    the histograms before."""
    if M is None or a is None or b is None:
        return
    shape = np.shape(M)
    if len(shape) != 2:
        return
    n, m = np.size(a), np.size(b)
    if shape != (n, m):
        hint = " (transposed? M[i, j] is the cost from a's point i to b's point j)" \
            if shape == (m, n) else ""
        raise ValueError(f"M must have shape (len(a), len(b)) = ({n}, {m}), got "
                         f"{shape}{hint}")


@dataclass(frozen=True)
class TransportResult:
    """An optimal transport answer: cost <P, M>, the regularised objective, dual
    potentials f and g, the plan (dense, sparse or None as asked), its marginal errors
    (L1, on the returned plan), the method that ran and whether it converged (the
    marginal error within tol; exact: optimality certified by the potentials), with its
    iteration counts. `marginal_error` is the larger of the two."""

    __repr__ = concise_repr

    cost: float  # <P, M> on the returned plan (M as scaled)
    objective: float  # cost + reg sum P log P (+ reg_m KL terms when unbalanced)
    f: np.ndarray | None  # P_ij = exp((f_i + g_j - M_ij) / reg)
    g: np.ndarray | None
    plan: np.ndarray | sp.csr_matrix | None
    dropped_mass: float  # mass a sparse plan left out
    marginal_error_a: float  # || P 1 - a ||_1 on the returned plan
    marginal_error_b: float
    method: str
    converged: bool
    stop_reason: str
    sinkhorn_iterations: int
    newton_iterations: int
    cg_iterations: int
    lp_rounds: int
    cost_scale: float
    compute_seconds: float
    info: SolveInfo
    simplex_pivots: int = 0

    @property
    def marginal_error(self) -> float:
        return max(self.marginal_error_a, self.marginal_error_b)


def batched(M: object, X: object) -> bool:
    """Whether a transport call carries a leading batch axis (its answer is a list)."""
    source = M if M is not None else X
    return source is not None and not sp.issparse(source) and np.ndim(source) == 3


def unbatched(results: list[TransportResult], M: object, X: object) -> TransportResult:
    """`transport`'s one result. A batch sent to `transport` still gets its list (as
    before `transport_batch`), with a warning: its type says one result."""
    if batched(M, X):
        warnings.warn("transport() with a leading batch axis returns a list; call "
                      "transport_batch() for batches (its type says so)",
                      DeprecationWarning, stacklevel=3)
        return results  # type: ignore[return-value]
    return results[0]


def results_from_proto(decoded: DecodedMessage, round_trip: float) -> list[TransportResult]:
    msg = decoded.message
    i = msg.info
    info = SolveInfo.from_proto(i, round_trip)
    out = []
    for k, r in enumerate(msg.results):
        prefix = f"results.{k}"

        def tensor(path: str, t: object, prefix: str = prefix) -> np.ndarray:
            return from_tensor(t, decoded.tensor_bytes(f"{prefix}.{path}", t))  # type: ignore[arg-type]

        plan: np.ndarray | sp.csr_matrix | None = None
        if r.plan.HasField("dense"):
            plan = tensor("plan.dense", r.plan.dense)
        elif r.plan.HasField("sparse"):
            s = r.plan.sparse
            plan = sp.csr_matrix((tensor("plan.sparse.data", s.data),
                                  (tensor("plan.sparse.row", s.row),
                                   tensor("plan.sparse.col", s.col))), shape=tuple(s.shape))
        out.append(TransportResult(
            cost=r.cost, objective=r.objective,
            f=tensor("f", r.f) if r.HasField("f") else None,
            g=tensor("g", r.g) if r.HasField("g") else None,
            plan=plan, dropped_mass=r.plan.dropped_mass,
            marginal_error_a=r.marginal_error_a, marginal_error_b=r.marginal_error_b,
            method=_METHOD_NAMES.get(r.method, str(r.method)), converged=r.converged,
            stop_reason=r.stop_reason, sinkhorn_iterations=r.sinkhorn_iterations,
            newton_iterations=r.newton_iterations, cg_iterations=r.cg_iterations,
            lp_rounds=r.lp_rounds, cost_scale=r.cost_scale,
            compute_seconds=r.compute_seconds, info=info, simplex_pivots=r.simplex_pivots))
    return out
