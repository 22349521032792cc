"""Requests built from a public method's keywords, shared by `Client` and `AsyncClient`.

Each builder takes the public method's name (for error messages), the keywords the caller
named explicitly and the rest (`extra`): aliases in `extra` are renamed (SciPy's
`maxiter`, POT's `numItermax`, ...), unknown names are a TypeError naming the public method.
"""

from __future__ import annotations

from typing import Any

from solverd import keywords
from solverd.batch import BatchPlan, plan_batch
from solverd.completion import complete_request, observed
from solverd.regression import _problem, fit_request, path_request
from solverd.requests import solve_request
from solverd.transport import transport_request
from solverd.wire import WireMessage

# What fit_regression and the paths take besides X, y, alpha.
FIT_OPTIONS = keywords.accepted(_problem, fit_request)


def _merged(public: str, explicit: dict[str, Any], extra: dict[str, Any],
            valid: frozenset[str], aliases: dict[str, str]) -> dict[str, Any]:
    """`explicit` updated by `extra` with aliases resolved; an alias of a name also given
    explicitly (not None) is a TypeError. Explicit Nones are left out: the request
    builder's own default applies."""
    renamed = keywords.resolve(public, extra, valid, aliases, explicit)
    given = {key: value for key, value in explicit.items() if value is not None}
    return {**given, **renamed}


def solve(public: str, a: object, b: object, explicit: dict[str, Any],
          extra: dict[str, Any]) -> WireMessage:
    options = _merged(public, explicit, extra, keywords.accepted(solve_request),
                      keywords.LINEAR)
    return solve_request(a, b, **options)


def batch(public: str, matrices: Any, rhs: Any, explicit: dict[str, Any],
          extra: dict[str, Any]) -> BatchPlan:
    options = _merged(public, explicit, extra, keywords.accepted(plan_batch),
                      keywords.LINEAR)
    return plan_batch(matrices, rhs, **options)


def transport(public: str, a: object, b: object, M: object, explicit: dict[str, Any],
              extra: dict[str, Any]) -> WireMessage:
    options = _merged(public, explicit, extra, keywords.accepted(transport_request),
                      keywords.TRANSPORT)
    return transport_request(a, b, M, **options)


def complete(public: str, rows: Any, cols: Any, vals: Any, shape: Any, rank: int,
             extra: dict[str, Any]) -> WireMessage:
    options = _merged(public, {"rank": rank}, extra,
                      keywords.accepted(complete_request) | {"rank"}, keywords.COMPLETION)
    r, c, v, size = observed(rows, cols, vals, shape)
    return complete_request(r, c, v, size, options.pop("rank"), **options)


def fit(public: str, X: Any, y: Any, alpha: float, extra: dict[str, Any]) -> WireMessage:
    options = keywords.resolve(public, extra, FIT_OPTIONS, keywords.REGRESSION)
    return fit_request(X, y, alpha, **options)


def path(public: str, X: Any, y: Any, explicit: dict[str, Any],
         extra: dict[str, Any]) -> WireMessage:
    options = keywords.resolve(public, extra, FIT_OPTIONS, keywords.REGRESSION)
    return path_request(X, y, **explicit, **options)
