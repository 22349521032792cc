"""Operations on a low-rank estimate U V^T that never form it."""

from __future__ import annotations

from typing import Any

# Entries per chunk when gathering factor rows: bounds the (chunk x k) temporaries.
CHUNK_ELEMENTS = 4_000_000


def entries(U: Any, V: Any, rows: Any, cols: Any, xp: Any) -> Any:
    """(U V^T)[rows, cols], in chunks."""
    out = xp.empty(rows.shape[0])
    step = max(1, CHUNK_ELEMENTS // max(1, U.shape[1]))
    for start in range(0, rows.shape[0], step):
        stop = start + step
        # take() gathers rows about twice as fast as fancy indexing (measured).
        out[start:stop] = xp.einsum("ij,ij->i", xp.take(U, rows[start:stop], axis=0),
                                    xp.take(V, cols[start:stop], axis=0))
    return out


def rmse(U: Any, V: Any, rows: Any, cols: Any, vals: Any, xp: Any) -> float:
    if rows.shape[0] == 0:
        return float("nan")
    res = entries(U, V, rows, cols, xp) - vals
    return float(xp.sqrt((res * res).mean()))


def balanced(U: Any, V: Any, xp: Any) -> tuple[Any, Any, Any]:
    """The same product as U' V'^T with U' = P sqrt(S), V' = Q sqrt(S) (P, Q orthonormal,
    S the singular values, descending): the factors a user expects, and S."""
    Qu, Ru = xp.linalg.qr(U)
    Qv, Rv = xp.linalg.qr(V)
    p, s, qt = xp.linalg.svd(Ru @ Rv.T)
    root = xp.sqrt(s)
    return (Qu @ p) * root, (Qv @ qt.T) * root, s
