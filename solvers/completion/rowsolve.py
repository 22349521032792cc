"""One half-step of alternating minimisation: every row's ridge least squares
    min_x ||A_i x - b_i||^2 + reg d_i ||x||^2,  A_i = W[partners of row i],
solved for all rows of a bucket at once (batched matmul and batched LAPACK, no loop
over rows), exactly or approximately.

The approximate solver follows Gu, Song, Yin and Zhang (ICLR 2024): a sparse sketch
S A_i (each of A_i's rows added with a random sign into one of s slots, O(d_i k)), the
triangular factor R of the sketched problem as a preconditioner (so A_i R^-1 has
condition O(1)), and a few preconditioned CG steps warm-started from the previous
factor. The weight reg d_i is "weighted-lambda" ridge (Zhou et al. 2008): one reg fits
rows of every degree.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from solvers.backend import Backend
from solvers.completion.observations import Bucket
from solvers.errors import check_stop

ROW_SOLVERS = ("auto", "exact", "sketch")
# "auto" takes the normal equations. The sketched solve needs fewer flops once a row's
# entries d >> k, but on a CPU each of its CG steps streams A_i twice, at memory speed,
# while the Gram A_i^T A_i is one BLAS-3 pass: measured per row (.prof, 2 cores),
# k = 10, d = 100: 4.8 us exact vs 39 us sketched; k = 50, d = 2000: 350 vs 3000 us.
# A ridge this small relative to the Gram's mean diagonal keeps rows with fewer
# entries than the rank solvable (their least squares is underdetermined) while moving
# a well-posed row's solution by about 1e-14 of itself.
JITTER = 1e-14


def _gather(factor_ext: Any, bucket: Bucket, xp: Any) -> Any:
    return xp.take(factor_ext, bucket.other, axis=0)  # (B, D, k); padding: the zero row


def _ridge(gram: Any, bucket: Bucket, reg: float, xp: Any) -> Any:
    idx = xp.arange(gram.shape[-1])
    jitter = JITTER * gram[:, idx, idx].mean(axis=1) + 1e-300
    gram[:, idx, idx] += (reg * bucket.degree + jitter)[:, None]
    return gram


def _exact(A: Any, b: Any, bucket: Bucket, reg: float, xp: Any) -> Any:
    At = A.transpose(0, 2, 1)
    gram = _ridge(At @ A, bucket, reg, xp)
    rhs = At @ b[:, :, None]
    return xp.linalg.solve(gram, rhs)[:, :, 0]


def _sketched(A: Any, b: Any, x0: Any, bucket: Bucket, reg: float, sketch_size: int,
              steps: int, rng: np.random.Generator, xp: Any) -> Any:
    B, D, k = A.shape
    s = sketch_size
    slots = math.ceil(D / s) * s
    # A random permutation of the padded positions into a (slots / s) x s grid, summed
    # over the first axis: each row of A lands in one of s sketch rows, with a sign.
    perm = xp.asarray(rng.permutation(slots))
    sign = xp.asarray(rng.choice(np.array([-1.0, 1.0]), size=slots))
    padded = xp.zeros((B, slots, k))
    padded[:, :D] = A
    SA = (xp.take(padded, perm, axis=1) * sign[None, :, None]).reshape(
        B, slots // s, s, k).sum(axis=1)
    # The preconditioner is R^-1 R^-T with R^T R the sketched (ridged) Gram: applied as
    # one k x k matvec with the Gram's inverse.
    inverse = xp.linalg.inv(_ridge(SA.transpose(0, 2, 1) @ SA, bucket, reg, xp))
    ridge = (reg * bucket.degree)[:, None]
    At = A.transpose(0, 2, 1)

    def normal(v: Any) -> Any:  # (A^T A + reg d) v, O(d k)
        return (At @ (A @ v[:, :, None]))[:, :, 0] + ridge * v

    def precondition(v: Any) -> Any:
        return (inverse @ v[:, :, None])[:, :, 0]

    x = x0.copy()
    r = (At @ b[:, :, None])[:, :, 0] - normal(x)
    z = precondition(r)
    p = z.copy()
    rz = (r * z).sum(axis=1)
    for _ in range(steps):
        q = normal(p)
        pq = (p * q).sum(axis=1)
        alpha = xp.where(pq > 0, rz / xp.where(pq > 0, pq, 1.0), 0.0)[:, None]
        x += alpha * p
        r -= alpha * q
        z = precondition(r)
        rz_new = (r * z).sum(axis=1)
        beta = xp.where(rz > 0, rz_new / xp.where(rz > 0, rz, 1.0), 0.0)[:, None]
        p = z + beta * p
        rz = rz_new
    return x


def solve_rows(buckets: list[Bucket], other: Any, current: Any, reg: float, solver: str,
               backend: Backend, rng: np.random.Generator, sketch_size: int, steps: int,
               residual: bool = False, offset: Any = None,
               should_stop: Callable[[], str | None] | None = None
               ) -> tuple[Any, float, dict[str, int]]:
    """New factor rows for every key of the `buckets` given the `other` factor; rows with no
    entries keep `current`. `offset` (one number per row of `other`) is subtracted from
    the values first (the other side's biases). Returns (factor, sum of squared
    residuals when `residual`, rows solved per solver). `should_stop` is polled between
    buckets: a round on 10^7 entries takes seconds."""
    xp = backend.xp
    k = other.shape[1]
    other_ext = xp.concatenate([other, xp.zeros((1, k))])
    offset_ext = None if offset is None else xp.concatenate([offset, xp.zeros(1)])
    factor = current.copy()
    sse = 0.0
    used = {"exact": 0, "sketch": 0}
    for bucket in buckets:
        check_stop(should_stop)
        A = _gather(other_ext, bucket, xp)
        b = bucket.vals if offset_ext is None else (
            bucket.vals - xp.take(offset_ext, bucket.other, axis=0))
        width = A.shape[1]
        if solver == "sketch" and width > sketch_size:
            x = _sketched(A, b, current[bucket.keys], bucket, reg, sketch_size, steps, rng, xp)
            used["sketch"] += int(bucket.keys.shape[0])
        else:
            x = _exact(A, b, bucket, reg, xp)
            used["exact"] += int(bucket.keys.shape[0])
        factor[bucket.keys] = x
        if residual:
            res = (A @ x[:, :, None])[:, :, 0] - b
            sse += float((res * res).sum())
    return factor, sse, used
