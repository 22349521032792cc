"""Keyword arguments in the names each ecosystem uses, and errors that help.

A SciPy user writes `maxiter`, a scikit-learn user `max_iter`, a POT user `numItermax`
and `stopThr`: where the meaning is the same they are taken as solverd's own name. An
unknown keyword is a TypeError that names the public method and the closest valid
names, not an internal function's.
"""

from __future__ import annotations

import difflib
import functools
import inspect
from collections.abc import Callable, Iterable
from collections.abc import Set as AbstractSet
from typing import Any

# Alias -> solverd's name, per family (SciPy's linear solvers, scikit-learn, POT).
LINEAR = {"maxiter": "max_iterations", "max_iter": "max_iterations", "tol": "rtol"}
REGRESSION = {"max_iter": "max_iterations", "maxiter": "max_iterations"}
TRANSPORT = {"numItermax": "max_iterations", "maxiter": "max_iterations",
             "max_iter": "max_iterations", "stopThr": "tol"}
COMPLETION = {"max_iter": "max_iterations", "maxiter": "max_iterations",
              "lambda_": "reg", "max_rank": "rank"}


@functools.lru_cache(maxsize=64)
def accepted(*targets: Callable[..., Any]) -> frozenset[str]:
    """The keyword-only names the callables take. Cached: reading a signature costs tens
    of microseconds, and every call of the client asks."""
    names = set()
    for target in targets:
        for name, p in inspect.signature(target).parameters.items():
            if p.kind == p.KEYWORD_ONLY:
                names.add(name)
    return frozenset(names)


def unexpected(public: str, key: str, valid: Iterable[str]) -> TypeError:
    valid = sorted(valid)
    close = difflib.get_close_matches(key, valid, n=3, cutoff=0.5)
    hint = f"; did you mean {' or '.join(map(repr, close))}?" if close else ""
    return TypeError(f"{public}() got an unexpected keyword argument {key!r}{hint} "
                     f"(valid: {', '.join(valid)})")


def resolve(public: str, options: dict[str, Any], valid: AbstractSet[str],
            aliases: dict[str, str], given: dict[str, Any] | None = None
            ) -> dict[str, Any]:
    """`options` with aliases renamed; TypeError for an unknown name, or for an alias
    whose name was also given (in `options` or as an explicit non-None `given`)."""
    out: dict[str, Any] = {}
    given = given or {}
    for key, value in options.items():
        name = aliases.get(key, key) if key not in valid else key
        if name not in valid:
            raise unexpected(public, key, valid | set(aliases))
        if name in out or given.get(name) is not None:
            raise TypeError(f"{public}() got {name!r} twice (as {key!r} too)")
        out[name] = value
    return out
