"""The transportation problem by the primal network simplex, compiled (numba).

    min sum_ij M_ij x_ij   s.t.  sum_j x_ij = a_i,  sum_i x_ij = b_j,  x >= 0

on the complete bipartite graph of n sources and m sinks (Dantzig's transportation
simplex; Ahuja, Magnanti, Orlin, "Network Flows", ch. 11, for the tree operations).
A basis is a spanning tree of the n + m nodes; dual potentials u (sources) and v
(sinks) satisfy u_i + v_j = M_ij on its edges, and the basis is optimal when every
reduced cost M_ij - u_i - v_j is >= -eps.

- Start: the north-west-corner tree (n + m - 1 cells, a staircase path), so no
  artificial arcs and no big-M costs that would cost potentials their precision.
- Pricing: block search (the rule LEMON's network simplex uses by default): scan
  blocks of about sqrt(nm) / 2 cells from where the last scan stopped and enter the most
  negative reduced cost of the first block that has one. Optimal after a full cycle
  over all cells finds none. The scans read M about 35 times over, so a cost matrix
  beyond the caches is priced from a float32 copy (half the memory traffic): a cell
  enters only if its float64 reduced cost is negative, and the first float32 candidate
  that is not (or a full cycle with none) hands over to float64 pricing, which alone
  declares optimality.
- The tree keeps parent pointers, depths and doubly linked child lists: a pivot
  costs its cycle (found by climbing to the common ancestor) plus the subtree that
  moves, whose potentials and depths are updated in one traversal.
- Leaving edge: a decreasing edge of least flow, the last such in the cycle's
  orientation from the apex (the strongly-feasible-tree rule that prevents cycling
  on degenerate pivots, which are most pivots here).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from solvers.jit import compiled
from solvers.stopping import watched

OPTIMAL = 0
MAX_PIVOTS = 1
STOPPED = 2
# Cost matrices of at least this many cells (16 MB in float64) are priced in float32 first.
COARSE_PRICING_CELLS = 1 << 21


@compiled()
def _detach(x: int, parent: np.ndarray, first: np.ndarray, nxt: np.ndarray,
            prv: np.ndarray) -> None:
    p = parent[x]
    if prv[x] != -1:
        nxt[prv[x]] = nxt[x]
    else:
        first[p] = nxt[x]
    if nxt[x] != -1:
        prv[nxt[x]] = prv[x]
    nxt[x] = -1
    prv[x] = -1


@compiled()
def _attach(x: int, p: int, parent: np.ndarray, first: np.ndarray, nxt: np.ndarray,
            prv: np.ndarray) -> None:
    parent[x] = p
    nxt[x] = first[p]
    prv[x] = -1
    if first[p] != -1:
        prv[first[p]] = x
    first[p] = x


@compiled(fastmath={"reassoc", "contract"}, inline="always")
def _scan_row(row: np.ndarray, ui: float, v: np.ndarray, start: int, stop: int,
              best: float) -> tuple[float, int]:
    """The least reduced cost row[q] - ui - v[q] below `best` over q in [start, stop),
    and its q (-1 when none is below)."""
    found = -1
    for q in range(start, stop):
        d = row[q] - ui - v[q]
        if d < best:
            best = d
            found = q
    return best, found


@compiled(fastmath={"reassoc", "contract"})
def network_simplex(a: np.ndarray, b: np.ndarray, M: np.ndarray, M32: np.ndarray,
                    eps: float, eps32: float, max_pivots: int, block: int,
                    stop: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, int]:
    """Returns (parent, flow, potential, pivots, status): node x's tree edge joins it
    to parent[x] (-1 for the root, source 0) and carries flow[x]; potential holds u
    then v. status OPTIMAL, MAX_PIVOTS or STOPPED (stop[0] set: solvers/stopping, read
    at every pivot and every block of the pricing scan). M32: M in float32 for the
    first phase of pricing, with eps32 = eps plus its rounding; empty for float64
    pricing only."""
    n, m = M.shape
    N = n + m
    parent = np.full(N, -1, dtype=np.int64)
    depth = np.zeros(N, dtype=np.int64)
    flow = np.zeros(N)
    pot = np.zeros(N)
    first = np.full(N, -1, dtype=np.int64)
    nxt = np.full(N, -1, dtype=np.int64)
    prv = np.full(N, -1, dtype=np.int64)
    # North-west corner: each cell after the first brings in one new node, attached to
    # the cell's other node, which is already in the tree.
    ra = a.copy()
    rb = b.copy()
    i = 0
    j = 0
    new_source = False
    for k in range(N - 1):
        t = min(ra[i], rb[j])
        t = max(t, 0.0)
        ra[i] -= t
        rb[j] -= t
        if k == 0:
            x, p = n, 0
        elif new_source:
            x, p = i, n + j
        else:
            x, p = n + j, i
        _attach(x, p, parent, first, nxt, prv)
        depth[x] = depth[p] + 1
        flow[x] = t
        pot[x] = M[i, j] - pot[p]  # u_i + v_j = M_ij on the tree edge
        if k == N - 2:
            break
        if i == n - 1:
            new_source = False
        elif j == m - 1:
            new_source = True
        else:
            new_source = ra[i] <= rb[j]
        if new_source:
            i += 1
        else:
            j += 1
    cells = n * m
    ci = 0
    cj = 0
    path_s = np.empty(N, dtype=np.int64)
    path_t = np.empty(N, dtype=np.int64)
    stack = np.empty(N, dtype=np.int64)
    pivots = 0
    coarse = M32.shape[0] > 0
    while True:
        # Block search for an entering cell, in row segments from where the last one
        # stopped.
        best = -eps32 if coarse else -eps
        bi = -1
        bj = -1
        scanned = 0
        left = block
        while scanned < cells:
            seg = min(m - cj, left, cells - scanned)
            # One scan, compiled once per row dtype (float32 M32, float64 M).
            if coarse:
                best, q = _scan_row(M32[ci], pot[ci], pot[n:], cj, cj + seg, best)
            else:
                best, q = _scan_row(M[ci], pot[ci], pot[n:], cj, cj + seg, best)
            if q >= 0:
                bi = ci
                bj = q
            scanned += seg
            left -= seg
            cj += seg
            if cj == m:
                cj = 0
                ci = ci + 1 if ci + 1 < n else 0
            if left == 0:
                if bi != -1:
                    break
                if stop[0]:
                    return parent, flow, pot, pivots, STOPPED
                left = block
        if coarse and bi != -1:
            best = M[bi, bj] - pot[bi] - pot[n + bj]  # the exact reduced cost
            if not best < -eps:
                bi = -1
        if bi == -1:
            if coarse:
                coarse = False
                continue
            return parent, flow, pot, pivots, OPTIMAL
        if pivots >= max_pivots:
            return parent, flow, pot, pivots, MAX_PIVOTS
        if stop[0]:
            return parent, flow, pot, pivots, STOPPED
        pivots += 1
        s = bi
        t = n + bj
        # The cycle: the entering edge s -> t, then the tree path from t back to s.
        # Climbing from t, edges at sinks decrease and at sources increase; climbing
        # from s, the reverse.
        ls = 0
        lt = 0
        x = s
        y = t
        while depth[x] > depth[y]:
            path_s[ls] = x
            ls += 1
            x = parent[x]
        while depth[y] > depth[x]:
            path_t[lt] = y
            lt += 1
            y = parent[y]
        while x != y:
            path_s[ls] = x
            ls += 1
            x = parent[x]
            path_t[lt] = y
            lt += 1
            y = parent[y]
        # Leaving edge: least flow among the decreasing edges; ties go to the last in
        # the cycle's orientation from the apex: apex -> s, s -> t, t -> apex.
        theta = np.inf
        leave = -1
        on_t = False
        for q in range(ls - 1, -1, -1):  # apex -> s
            x = path_s[q]
            if x < n and flow[x] <= theta:  # a source's edge decreases on this side
                theta = flow[x]
                leave = q
        for q in range(lt):  # t -> apex
            y = path_t[q]
            if y >= n and flow[y] <= theta:
                theta = flow[y]
                leave = q
                on_t = True
        if theta > 0.0:
            for q in range(ls):
                x = path_s[q]
                flow[x] += -theta if x < n else theta
            for q in range(lt):
                y = path_t[q]
                flow[y] += -theta if y >= n else theta
        # Re-hang the subtree cut off by the leaving edge from the entering edge:
        # reverse the parent pointers on the path from the entering endpoint inside
        # it (v0) up to the leaving edge's lower node (v_k).
        if on_t:
            path = path_t
            outside = s
        else:
            path = path_s
            outside = t
        for q in range(leave + 1):
            _detach(path[q], parent, first, nxt, prv)
        for q in range(leave, 0, -1):
            flow[path[q]] = flow[path[q - 1]]
            _attach(path[q], path[q - 1], parent, first, nxt, prv)
        flow[path[0]] = theta
        _attach(path[0], outside, parent, first, nxt, prv)
        # Potentials of the moved subtree: shift so the entering edge has reduced cost
        # 0 (sources and sinks in opposite directions), and depths from the new parent.
        shift = best if path[0] < n else -best
        top = 0
        stack[0] = path[0]
        depth[path[0]] = depth[outside] + 1
        while top >= 0:
            x = stack[top]
            top -= 1
            pot[x] += shift if x < n else -shift
            ch = first[x]
            while ch != -1:
                depth[ch] = depth[x] + 1
                top += 1
                stack[top] = ch
                ch = nxt[ch]


Cells = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, int, bool]


def solve_transportation(a: np.ndarray, b: np.ndarray, M: np.ndarray, eps: float,
                         max_pivots: int, block_factor: float = 0.5,
                         should_stop: Callable[[], str | None] | None = None) -> Cells:
    """(rows, cols, values) of the optimal basic plan's cells, potentials f (n) and g
    (m), pivots, and whether optimality was proved within max_pivots. Raises
    Interrupted within about 10 ms of `should_stop` naming a reason."""
    n, m = M.shape
    M = np.ascontiguousarray(M, dtype=np.float64)
    # Blocks of sqrt(nm) / 2 cells: measured 1.06x ot.emd2's time at n = 1000 and 1.09x
    # at 2000, against 1.15x and 1.20x for sqrt(nm) and 1.45x and 1.72x for 2 sqrt(nm).
    block = max(int(block_factor * np.sqrt(n * m)), 16)
    # Measured at n = 2000 (32 MB of costs): 0.57 -> 0.28 s uniform and 0.67 -> 0.54 s
    # random weights with float32 pricing; at n = 1000 (8 MB) 10% slower (the copy).
    if n * m >= COARSE_PRICING_CELLS:
        M32 = M.astype(np.float32)
        # Rounding to float32 moves a cost by at most half an ulp, 2^-24 max |M|: a
        # float32 candidate must clear twice that, so near-ties are left to float64.
        eps32 = eps + max(float(M32.max()), -float(M32.min())) * 2.0**-23
    else:
        M32, eps32 = np.empty((0, 0), dtype=np.float32), eps
    with watched(should_stop) as stop:
        parent, flow, pot, pivots, status = network_simplex(
            np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64), M, M32, eps,
            eps32, max_pivots, block, stop.flag)
        stop.raise_if_set()
    nodes = np.flatnonzero(parent >= 0)
    par = parent[nodes]
    source = nodes < n
    rows = np.where(source, nodes, par)
    cols = np.where(source, par, nodes) - n
    return rows, cols, flow[nodes], pot[:n].copy(), pot[n:].copy(), int(pivots), \
        status == OPTIMAL


def warm_up() -> None:
    """Compile (or load from the cache) the simplex before the first request needs it,
    both pricing variants: float64 only, and float32 first (used from 2^21 cells on; the
    first large exact problem after a start took 2.8 s compiling it)."""
    half = np.full(2, 0.5)
    M = np.array([[0.0, 1.0], [1.0, 0.0]])
    solve_transportation(half, half, M, 1e-12, 100)
    network_simplex(half, half, M, M.astype(np.float32), 1e-12, 1e-6, 100, 16,
                    np.zeros(1, dtype=np.uint8))
