"""POT-shaped calls served by solverd: switching from POT is one import.

    import solverd.ot as ot          # instead of: import ot
    P = ot.sinkhorn(a, b, M, reg, client=client)

Same arguments and return values as POT's `ot.sinkhorn`, `ot.sinkhorn2`,
`ot.emd` and `ot.emd2`, plus `client=` (a solverd.Client). The stopping rule is
stricter than POT's: `stopThr` bounds the L1 error of both marginals of the
returned plan (POT: the 2-norm of one marginal, every tenth iteration).
`method`: POT's names map to solverd's ("sinkhorn", "sinkhorn_log" and
"sinkhorn_stabilized" all run the stabilised log-domain Sinkhorn;
"sinkhorn_epsilon_scaling" epsilon scaling), plus "sns" and "auto".
"""

from __future__ import annotations

from typing import Any

import numpy as np

from solverd.client import Client
from solverd.transport import TransportResult

_METHODS = {"sinkhorn": "sinkhorn", "sinkhorn_log": "sinkhorn",
            "sinkhorn_stabilized": "sinkhorn", "sinkhorn_epsilon_scaling": "sinkhorn_eps",
            "sns": "sns", "auto": "auto"}


def _solve(client: Client, a: Any, b: Any, M: Any, reg: float, method: str,
           numItermax: int, stopThr: float, plan: str) -> TransportResult:
    if method not in _METHODS:
        raise ValueError(f"unknown method {method!r}; one of {sorted(_METHODS)}")
    result = client.transport(a, b, M, reg=reg, method=_METHODS[method], tol=stopThr,
                              max_iterations=numItermax, plan=plan)
    assert isinstance(result, TransportResult)
    return result


def _log(result: TransportResult, reg: float) -> dict[str, Any]:
    assert result.f is not None and result.g is not None
    with np.errstate(over="ignore"):
        return {"niter": result.sinkhorn_iterations + result.newton_iterations,
                "err": [result.marginal_error], "log_u": result.f / reg,
                "log_v": result.g / reg, "u": np.exp(result.f / reg),
                "v": np.exp(result.g / reg), "result": result}


def sinkhorn(a: Any, b: Any, M: Any, reg: float, method: str = "sinkhorn",
             numItermax: int = 1000, stopThr: float = 1e-9, verbose: bool = False,
             log: bool = False, *, client: Client, **kwargs: Any) -> Any:
    """The entropic plan (and, with log=True, a dict with niter, err, u, v, log_u,
    log_v and the full solverd `result`)."""
    result = _solve(client, a, b, M, reg, method, numItermax, stopThr, "dense")
    return (result.plan, _log(result, reg)) if log else result.plan


def sinkhorn2(a: Any, b: Any, M: Any, reg: float, method: str = "sinkhorn",
              numItermax: int = 1000, stopThr: float = 1e-9, verbose: bool = False,
              log: bool = False, *, client: Client, **kwargs: Any) -> Any:
    """The linear cost <P, M> of the entropic plan (POT's sinkhorn2)."""
    result = _solve(client, a, b, M, reg, method, numItermax, stopThr, "none")
    return (result.cost, _log(result, reg)) if log else result.cost


def emd(a: Any, b: Any, M: Any, numItermax: int = 100000, log: bool = False, *,
        client: Client, **kwargs: Any) -> Any:
    """The exact optimal plan (dense)."""
    result = client.transport(a, b, M, method="exact", plan="dense",
                              exact_potentials=log)
    assert isinstance(result, TransportResult)
    if not log:
        return result.plan
    return result.plan, {"cost": result.cost, "u": result.f, "v": result.g,
                         "warning": None if result.converged else result.stop_reason}


def emd2(a: Any, b: Any, M: Any, numItermax: int = 100000, log: bool = False, *,
         client: Client, **kwargs: Any) -> Any:
    """The exact transport cost (Wasserstein distance for a metric cost)."""
    result = client.transport(a, b, M, method="exact", plan="none", exact_potentials=log)
    assert isinstance(result, TransportResult)
    if not log:
        return result.cost
    return result.cost, {"cost": result.cost, "u": result.f, "v": result.g,
                         "warning": None if result.converged else result.stop_reason}
