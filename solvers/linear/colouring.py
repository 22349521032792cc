"""Greedy multicolouring of a sparse matrix's graph, vectorised (no loop over rows).

Jones & Plassmann (SIAM J. Sci. Comput. 1993): each round, every uncoloured
vertex whose random priority beats all its uncoloured neighbours' joins an
independent set, and each takes the smallest colour none of its neighbours has
(first fit). On a 5-point grid this gives a handful of colours.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

MAX_COLOURS = 64


def colour(a: sp.spmatrix, seed: int = 0) -> np.ndarray:
    """colours[i] for each row, such that a[i, j] != 0 (i != j) implies different colours."""
    n = a.shape[0]
    graph = sp.csr_matrix(abs(a) + abs(a).T)  # the symmetrised pattern
    graph.setdiag(0)
    graph.eliminate_zeros()
    graph.data[:] = 1.0
    priority = np.random.default_rng(seed).permutation(n).astype(np.float64) + 1.0
    colours = np.full(n, -1, dtype=np.int64)
    while (uncoloured := colours < 0).any():
        live = np.where(uncoloured, priority, 0.0)
        # The largest priority among each vertex's uncoloured neighbours.
        best_neighbour = graph.multiply(live[None, :]).tocsr().max(axis=1).toarray().ravel()
        chosen = uncoloured & (priority > best_neighbour)
        pending = chosen.copy()
        for c in range(MAX_COLOURS):
            clash = graph @ (colours == c).astype(np.float64) > 0
            take = pending & ~clash
            colours[take] = c
            pending &= ~take
            if not pending.any():
                break
        else:
            raise RuntimeError(f"more than {MAX_COLOURS} colours needed")
    return colours


def is_valid(a: sp.spmatrix, colours: np.ndarray) -> bool:
    coo = sp.coo_matrix(a)
    off = (coo.row != coo.col) & (coo.data != 0)  # stored zeros couple nothing
    return bool(np.all(colours[coo.row[off]] != colours[coo.col[off]]))
