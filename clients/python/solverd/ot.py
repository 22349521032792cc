"""POT-shaped calls served by solverd: switching from POT is one import.

    import solverd.ot as ot          # instead of: import ot
    P = ot.sinkhorn(a, b, M, reg, client="host:50051")

`sinkhorn`, `sinkhorn2`, `emd` and `emd2` take POT's arguments, positionally or by
name, and return what POT returns, plus `client=` (a solverd.Client, or an address
whose Client is shared in the process). Where they differ:
- The stopping rule is stricter: `stopThr` bounds the L1 error of both marginals of
  the returned plan (POT: the 2-norm of one marginal, every tenth iteration).
- `method`: "sinkhorn", "sinkhorn_log" and "sinkhorn_stabilized" all run solverd's
  stabilised log-domain Sinkhorn; "sinkhorn_epsilon_scaling" epsilon scaling;
  "greenkhorn" is not implemented as such: the same entropic problem is solved by
  Sinkhorn (`numItermax` then counts Sinkhorn iterations); plus "sns" and "auto".
- Out of scope: `reg=0` in sinkhorn (that is exact transport: use emd), a warm start
  (`warmstart`, `potentials_init`), backends other than NumPy (convert first).
- POT's tuning keywords for its own iterations (tau, print_period, epsilon0,
  numInnerItermax, stopInnerThr, processes, numThreads) are accepted and have no effect;
  any other keyword is refused with TypeError.

As POT does: a 2-D `b` (m, k) solves k problems (sinkhorn and sinkhorn2 return the k
costs, emd2 a list); a scipy.sparse cost in emd/emd2 restricts transport to its stored
entries and returns a sparse plan (coo_array); float32 inputs give float32 results;
non-convergence warns (UserWarning) unless `warn=False`; `log=True` adds a dict.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import scipy.sparse as sp

from solverd.client import Client
from solverd.transport import TransportResult

_METHODS = {"sinkhorn": "sinkhorn", "sinkhorn_log": "sinkhorn",
            "sinkhorn_stabilized": "sinkhorn", "sinkhorn_epsilon_scaling": "sinkhorn_eps",
            "greenkhorn": "sinkhorn", "sns": "sns", "auto": "auto"}
# POT's keywords that tune its own iterations: no meaning for solverd's solvers.
_POT_TUNING = frozenset({"tau", "print_period", "epsilon0", "numInnerItermax",
                         "stopInnerThr", "processes", "numThreads"})
_SINKHORN_WARNING = ("Sinkhorn did not converge. You might want to increase the number of "
                     "iterations `numItermax` or the regularization parameter `reg`.")
_EMD_WARNING = "numItermax reached before optimality. Try to increase numItermax."
_CLIENTS: dict[str, Client] = {}


def _client(client: Client | str | None) -> Client:
    if isinstance(client, Client):
        return client
    if not isinstance(client, str):
        raise TypeError("client= is required: a solverd.Client or an address 'host:port'")
    if client not in _CLIENTS:
        _CLIENTS[client] = Client(client)
    return _CLIENTS[client]


def _check_keywords(kwargs: dict[str, Any], name: str) -> None:
    unknown = sorted(set(kwargs) - _POT_TUNING)
    if unknown:
        raise TypeError(f"{name}() got unexpected keyword argument(s) {', '.join(unknown)}")


def _histogram(w: Any) -> np.ndarray | None:
    """None (uniform) for POT's empty list, else a float array."""
    if w is None or np.size(w) == 0:
        return None
    return np.asarray(w)


def _dtype(*arrays: Any) -> np.dtype:
    """The dtype of POT's answer: float32 when the inputs are, else float64."""
    kinds = [x.dtype if sp.issparse(x) else np.asarray(x).dtype for x in arrays
             if x is not None and (sp.issparse(x) or np.size(x) > 0)]
    return np.dtype(np.float32) if kinds and all(k == np.float32 for k in kinds) \
        else np.dtype(np.float64)


def _scalar(value: float, dtype: np.dtype) -> Any:
    return dtype.type(value)


def _columns(b: np.ndarray | None) -> list[np.ndarray | None]:
    """The target histograms: b itself, or each column of a 2-D b."""
    return [b] if b is None or b.ndim == 1 else [b[:, k] for k in range(b.shape[1])]


def _entropic(client: Client, a: Any, b: Any, M: Any, reg: float, method: str,
              numItermax: int, stopThr: float, plan: str) -> list[TransportResult]:
    if method not in _METHODS:
        raise ValueError(f"unknown method {method!r}; one of {sorted(_METHODS)}")
    if not reg > 0:
        raise ValueError("reg must be > 0: reg = 0 is exact transport (use emd / emd2)")
    if sp.issparse(M):
        raise ValueError("a sparse cost is for emd / emd2; Sinkhorn needs a dense M")
    a_, b_ = _histogram(a), _histogram(b)
    columns = _columns(b_)
    M_ = np.asarray(M, dtype=np.float64)
    options = {"reg": reg, "method": _METHODS[method], "tol": stopThr,
               "max_iterations": numItermax, "plan": plan}
    if len(columns) == 1:
        return [client.transport(a_, columns[0], M_, **options)]
    # Several target histograms: one batched call of k problems.
    k = len(columns)
    n = M_.shape[0]
    a_k = np.tile(a_ if a_ is not None else np.full(n, 1.0 / n), (k, 1))
    return client.transport_batch(a_k, np.stack(columns),
                                  np.broadcast_to(M_, (k, *M_.shape)), **options)


def _sinkhorn_log(results: list[TransportResult], reg: float) -> dict[str, Any]:
    def pick(values: list[Any]) -> Any:
        return values[0] if len(values) == 1 else np.stack(values, axis=-1)

    with np.errstate(over="ignore"):
        return {"niter": max(r.sinkhorn_iterations + r.newton_iterations for r in results),
                "err": [max(r.marginal_error for r in results)],
                "log_u": pick([r.f / reg for r in results]),  # type: ignore[operator]
                "log_v": pick([r.g / reg for r in results]),  # type: ignore[operator]
                "u": pick([np.exp(r.f / reg) for r in results]),  # type: ignore[operator]
                "v": pick([np.exp(r.g / reg) for r in results]),  # type: ignore[operator]
                "result": results[0] if len(results) == 1 else results}


def _warn_unconverged(results: list[TransportResult], warn: bool, message: str) -> None:
    if not warn or all(r.converged for r in results):
        return
    if any(r.stop_reason == "infeasible" for r in results):
        message = ("The problem is infeasible: the sparse cost's entries cannot carry the "
                   "marginals (no plan).")
    warnings.warn(message, UserWarning, stacklevel=3)


def sinkhorn(a: Any, b: Any, M: Any, reg: float, method: str = "sinkhorn",
             numItermax: int = 1000, stopThr: float = 1e-9, verbose: bool = False,
             log: bool = False, warn: bool = True, warmstart: Any = None, *,
             client: Client | str | None = None, **kwargs: Any) -> Any:
    """The entropic plan; for a 2-D b the vector of the k costs (as POT). With log=True
    also a dict: niter, err, u, v, log_u, log_v and the solverd `result`."""
    _check_keywords(kwargs, "sinkhorn")
    if warmstart is not None:
        raise NotImplementedError("warmstart is not supported by solverd")
    b_ = _histogram(b)
    several = b_ is not None and b_.ndim == 2
    results = _entropic(_client(client), a, b, M, reg, method, numItermax, stopThr,
                        "none" if several else "dense")
    _warn_unconverged(results, warn, _SINKHORN_WARNING)
    dtype = _dtype(a, b, M)
    if several:
        value: Any = np.array([r.cost for r in results], dtype=dtype)
    else:
        value = np.asarray(results[0].plan, dtype=dtype)
    return (value, _sinkhorn_log(results, reg)) if log else value


def sinkhorn2(a: Any, b: Any, M: Any, reg: float, method: str = "sinkhorn",
              numItermax: int = 1000, stopThr: float = 1e-9, verbose: bool = False,
              log: bool = False, warn: bool = False, warmstart: Any = None, *,
              client: Client | str | None = None, **kwargs: Any) -> Any:
    """The linear cost <P, M> of the entropic plan (a vector for a 2-D b), as POT's
    sinkhorn2 (which does not warn unless warn=True)."""
    _check_keywords(kwargs, "sinkhorn2")
    if warmstart is not None:
        raise NotImplementedError("warmstart is not supported by solverd")
    b_ = _histogram(b)
    results = _entropic(_client(client), a, b, M, reg, method, numItermax, stopThr, "none")
    _warn_unconverged(results, warn, _SINKHORN_WARNING)
    dtype = _dtype(a, b, M)
    if b_ is not None and b_.ndim == 2:
        value: Any = np.array([r.cost for r in results], dtype=dtype)
    else:
        value = _scalar(results[0].cost, dtype)
    return (value, _sinkhorn_log(results, reg)) if log else value


def _exact(client: Client, a: Any, b: Any, M: Any, numItermax: int, plan: str,
           check_marginals: bool, potentials_init: Any) -> list[TransportResult]:
    if potentials_init is not None:
        raise NotImplementedError("potentials_init is not supported by solverd")
    a_, b_ = _histogram(a), _histogram(b)
    if check_marginals and a_ is not None and b_ is not None and b_.ndim == 1:
        sa, sb = float(np.sum(a_)), float(np.sum(b_))
        if not np.isclose(sa, sb, rtol=1e-6, atol=0.0):
            raise ValueError(f"a and b vector must have the same sum, got {sa} and {sb}")
    cost = M if sp.issparse(M) else np.asarray(M, dtype=np.float64)
    out = []
    # POT's default cap (100,000 simplex iterations) stands for "no cap": solverd's
    # pivots differ from POT's, and its own cap is followed by column generation. A
    # smaller numItermax caps the pivots, the plan reached returned with a warning.
    cap = int(numItermax) if numItermax < 100_000 else 0
    for column in _columns(b_):
        out.append(client.transport(a_, column, cost, method="exact", plan=plan,
                                    max_iterations=cap))
    return out


def _centred(result: TransportResult, a: np.ndarray, b: np.ndarray, center: bool
             ) -> tuple[np.ndarray, np.ndarray]:
    """Potentials with equal weighted sums (f + c, g - c with <a, f + c> = <b, g - c>),
    POT's `center_dual` convention; the plan's optimality does not depend on c."""
    f = np.asarray(result.f, dtype=np.float64)
    g = np.asarray(result.g, dtype=np.float64)
    if center:
        c = (b @ g - a @ f) / (a.sum() + b.sum())
        f, g = f + c, g - c
    return f, g


def _emd_log(result: TransportResult, a: np.ndarray, b: np.ndarray, center: bool,
             dtype: np.dtype) -> dict[str, Any]:
    f, g = _centred(result, a, b, center)
    return {"cost": _scalar(result.cost, dtype), "u": f.astype(dtype), "v": g.astype(dtype),
            "warning": None if result.converged else result.stop_reason,
            "result_code": 1 if result.converged else 3 if result.stop_reason ==
            "max_iterations" else 0, "result": result}


def _plan(result: TransportResult, sparse_cost: bool, dtype: np.dtype) -> Any:
    plan = result.plan
    if sparse_cost:  # POT returns a coo_array: elementwise `*` with the cost works
        return sp.coo_array(plan if sp.issparse(plan) else sp.csr_matrix(plan),
                            dtype=dtype)
    return np.asarray(plan.toarray() if sp.issparse(plan) else plan, dtype=dtype)


def _marginals(a: Any, b: Any, M: Any) -> tuple[np.ndarray, np.ndarray]:
    n, m = M.shape
    a_, b_ = _histogram(a), _histogram(b)
    return (np.full(n, 1.0 / n) if a_ is None else np.asarray(a_, dtype=np.float64),
            np.full(m, 1.0 / m) if b_ is None else np.asarray(b_, dtype=np.float64))


def emd(a: Any, b: Any, M: Any, numItermax: int = 100000, log: bool = False,
        center_dual: bool = True, numThreads: int = 1, check_marginals: bool = True,
        potentials_init: Any = None, *, client: Client | str | None = None,
        **kwargs: Any) -> Any:
    """The exact optimal plan (a coo_array for a sparse M), and with log=True a dict:
    cost, u, v (POT's centred duals), warning, result_code."""
    _check_keywords(kwargs, "emd")
    sparse_cost = sp.issparse(M)
    (result,) = _exact(_client(client), a, b, M, numItermax,
                       "sparse" if sparse_cost else "dense", check_marginals,
                       potentials_init)
    _warn_unconverged([result], True, _EMD_WARNING)
    dtype = _dtype(a, b, M)
    plan = _plan(result, sparse_cost, dtype)
    if not log:
        return plan
    a_, b_ = _marginals(a, b, M)
    return plan, _emd_log(result, a_, b_, center_dual, dtype)


def emd2(a: Any, b: Any, M: Any, processes: int = 1, numItermax: int = 100000,
         log: bool = False, return_matrix: bool = False, center_dual: bool = True,
         numThreads: int = 1, check_marginals: bool = True, potentials_init: Any = None, *,
         client: Client | str | None = None, **kwargs: Any) -> Any:
    """The exact transport cost (a list for a 2-D b), and with log=True a dict as emd's,
    with the plan in log['G'] when return_matrix=True."""
    _check_keywords(kwargs, "emd2")
    sparse_cost = sp.issparse(M)
    plan_form = ("sparse" if sparse_cost else "dense") if return_matrix else "none"
    results = _exact(_client(client), a, b, M, numItermax, plan_form, check_marginals,
                     potentials_init)
    _warn_unconverged(results, True, _EMD_WARNING)
    dtype = _dtype(a, b, M)
    a_, b_all = _marginals(a, _histogram(b)[:, 0] if np.ndim(b) == 2 else b, M)
    columns = _columns(_histogram(b))

    def one(result: TransportResult, column: np.ndarray | None) -> Any:
        cost = _scalar(result.cost, dtype)
        if not log:
            return cost
        b_ = b_all if column is None else np.asarray(column, dtype=np.float64)
        info = _emd_log(result, a_, b_, center_dual, dtype)
        if return_matrix:
            info["G"] = _plan(result, sparse_cost, dtype)
        return cost, info

    values = [one(r, c) for r, c in zip(results, columns, strict=True)]
    if len(values) == 1 and (_histogram(b) is None or np.ndim(b) == 1):
        return values[0]
    return values if log else np.array(values, dtype=dtype)
