"""Krylov recycling: GCRO-DR and deflated (recycled) CG against a direct solve, and
the products they save across a sequence of related Darcy systems."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from solvers import SolverInputError
from solvers.linear import recycled_cg_cpu, recycling, solve

from problems import darcy_2d, gaussian_random_field, poisson_2d


def _darcy_sequence(count: int, k: int = 24, skew: bool = False, seed: int = 0) -> list:
    rng = np.random.default_rng(seed)
    return [darcy_2d(k, np.exp(0.5 * gaussian_random_field(k, rng)), skew=skew)
            for _ in range(count)]


@pytest.mark.parametrize("method,skew", [("gcrodr", False), ("gcrodr", True),
                                         ("recycled_cg", False)])
def test_recycled_sequence_matches_direct_and_saves_products(method: str, skew: bool) -> None:
    mats = _darcy_sequence(8, skew=skew)
    b = np.ones(mats[0].shape[0])
    space, products = None, []
    for a in mats:
        r = solve(a, b, method=method, rtol=1e-9, recycle=10, restart=30,
                  recycle_space=space)
        x_ref = spla.spsolve(a.tocsc(), b)
        assert r.converged and r.residual_norm <= 1e-9
        assert np.linalg.norm(r.x - x_ref) <= 1e-6 * np.linalg.norm(x_ref)
        assert r.extra["recycled"] == (space is not None)
        space = r.extra["recycle_space"]
        assert space is not None and space.kind == method and space.k >= 10
        products.append(r.matvecs)
    # The first system builds the space; the later ones must profit from it.
    assert np.mean(products[4:]) < 0.8 * products[0]


def test_gcrodr_space_satisfies_its_invariants() -> None:
    """C = A U with orthonormal rows; after adopting a new matrix the same holds for it."""
    a, a_next = _darcy_sequence(2, skew=True)
    b = np.ones(a.shape[0])
    r = solve(a, b, method="gcrodr", rtol=1e-8, recycle=8, restart=24)
    space = r.extra["recycle_space"]
    np.testing.assert_allclose(space.c @ space.c.T, np.eye(space.k), atol=1e-8)
    np.testing.assert_allclose((a @ space.u.T).T, space.c, atol=1e-8 * abs(space.c).max())
    moved, products = recycling.adopt(space, a_next, np, same_matrix=False)
    assert products == space.k
    np.testing.assert_allclose(moved.c @ moved.c.T, np.eye(space.k), atol=1e-8)
    np.testing.assert_allclose((a_next @ moved.u.T).T, moved.c, atol=1e-8 * abs(moved.c).max())


@pytest.mark.parametrize("method", ["gcrodr", "recycled_cg"])
def test_products_are_the_steps_the_setup_and_one_check(method: str) -> None:
    """From x0 = 0, products = Krylov steps + the k of moving the space + the one true
    residual that verifies convergence + the best-iterate checkpoints (iterations 64,
    128, ...): GCRO-DR's cycles end on the Arnoldi recurrence (a GEMV), not on a product
    with A per cycle."""
    mats = _darcy_sequence(3)
    b = np.ones(mats[0].shape[0])
    space = None
    for a in mats:
        r = solve(a, b, method=method, rtol=1e-9, recycle=8, restart=24, recycle_space=space)
        assert r.converged and r.iterations > 24  # several GCRO-DR cycles
        setup = r.extra["recycle_setup_matvecs"]
        assert setup == (0 if space is None else 8)
        # One a doubling of the checks from the 64th (the compiled loop checks once a
        # chunk of iterations, so it may reach none).
        checkpoints = r.extra["checkpoint_matvecs"]
        assert checkpoints <= sum(1 for k in (64, 128, 256, 512) if r.iterations >= k)
        assert r.matvecs == r.iterations + setup + 1 + checkpoints
        space = r.extra["recycle_space"]


def test_recycled_cg_with_jacobi_and_many_columns() -> None:
    a = _darcy_sequence(1)[0]
    rng = np.random.default_rng(3)
    b = rng.standard_normal((a.shape[0], 3))
    r = solve(a, b, method="recycled_cg", preconditioner="jacobi", rtol=1e-10, recycle=12)
    x_ref = spla.spsolve(a.tocsc(), b)
    assert r.converged and np.abs(r.x - x_ref).max() <= 1e-7 * np.abs(x_ref).max()
    # Columns after the first reuse the space built by the first (same matrix).
    assert r.column_iterations[2] < r.column_iterations[0]


def test_a_space_of_the_wrong_kind_or_size_is_refused() -> None:
    a = _darcy_sequence(1)[0]
    b = np.ones(a.shape[0])
    space = solve(a, b, method="gcrodr", rtol=1e-6).extra["recycle_space"]
    with pytest.raises(SolverInputError) as info:
        solve(a, b, method="recycled_cg", recycle_space=space)
    assert info.value.field == "recycle_space"
    small = darcy_2d(8, np.ones((8, 8)))
    with pytest.raises(SolverInputError):
        solve(small, np.ones(64), method="gcrodr", recycle_space=space)
    with pytest.raises(SolverInputError) as info:
        solve(a, b, method="gcrodr", restart=10, recycle=9)
    assert info.value.field == "recycle"


def test_non_convergence_is_a_result() -> None:
    a = _darcy_sequence(1)[0]
    r = solve(a, np.ones(a.shape[0]), method="gcrodr", rtol=1e-12, maxiter=15)
    assert not r.converged and r.iterations <= 16


def test_carry_drops_on_a_new_pattern_and_when_it_stops_helping() -> None:
    from solvers.linear.carry import RecycleCarry, same_pattern
    from solvers.linear.recycling import RecycleSpace

    a = poisson_2d(8)
    b = (a + sp.eye(64, k=2)).tocsr()
    assert same_pattern(a, a.copy()) and not same_pattern(a, b)
    assert not same_pattern(a, poisson_2d(9)) and same_pattern(np.eye(3), np.ones((3, 3)))
    space = RecycleSpace(np.ones((2, 64)), np.ones((2, 64)), "gcrodr")
    carry = RecycleCarry()
    assert carry.offer(a) is None
    carry.record(a, 100, False, space)
    assert carry.offer(a.copy()) is space
    assert carry.offer(b) is None  # another pattern: dropped
    carry.record(b, 100, False, space)
    carry.record(b, 100, True, space)  # no cheaper than fresh: one strike
    assert carry.offer(b) is space
    carry.record(b, 90, True, space)  # cheaper: strikes reset
    carry.record(b, 101, True, space)
    assert carry.offer(b) is space and carry.drops == 0
    carry.record(b, 120, True, space)  # two in a row: dropped
    assert carry.offer(b) is None and carry.drops == 1


def test_order_by_starts_at_an_end_and_subsamples() -> None:
    from solvers.linear.ordering import order_by

    feats = np.array([[2.0], [0.0], [3.0], [1.0], [9.0]])
    assert order_by(feats) == [4, 2, 0, 3, 1]
    rng = np.random.default_rng(0)
    big = np.cumsum(rng.standard_normal((6, 200)), axis=0)  # a random walk: order 0..5
    assert order_by(big, max_columns=50) in ([0, 1, 2, 3, 4, 5], [5, 4, 3, 2, 1, 0])


def test_order_by_is_a_permutation_at_any_scale() -> None:
    """Values near 1e300 overflowed every squared distance: the walk revisited a row and
    dropped another (a SolveBatch of three such systems answered two)."""
    from solvers.linear.ordering import order_by

    rng = np.random.default_rng(1)
    for scale in (1e300, 1e-300, 1.0):
        feats = rng.standard_normal((7, 4)) * scale
        assert sorted(order_by(feats)) == list(range(7))
    assert sorted(order_by(np.array([[1.0], [np.nan], [2.0]]))) == [0, 1, 2]


@pytest.mark.parametrize("preconditioner", ["none", "jacobi"])
def test_compiled_deflated_cg_agrees_with_the_numpy_loop(preconditioner: str,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """The compiled CPU loop (recycled_cg_cpu) and the NumPy loop the GPU runs are the
    same method: same answers, products per system within rounding's reach."""
    mats = _darcy_sequence(6)
    b = np.ones(mats[0].shape[0])

    def run() -> list[int]:
        space, products = None, []
        for a in mats:
            r = solve(a, b, method="recycled_cg", preconditioner=preconditioner, rtol=1e-9,
                      recycle=10, recycle_space=space)
            x_ref = spla.spsolve(a.tocsc(), b)
            assert r.converged
            assert np.linalg.norm(r.x - x_ref) <= 1e-6 * np.linalg.norm(x_ref)
            space = r.extra["recycle_space"]
            products.append(r.matvecs)
        return products

    calls = []
    real = recycled_cg_cpu.deflated_cg
    monkeypatch.setattr(recycled_cg_cpu, "deflated_cg",
                        lambda *args: calls.append(1) or real(*args))
    compiled = run()
    assert len(calls) == len(mats)
    monkeypatch.setattr(recycled_cg_cpu, "applies", lambda *args: False)
    loop = run()
    assert compiled[0] == pytest.approx(loop[0], abs=2)  # plain CG: no space yet
    assert sum(compiled) == pytest.approx(sum(loop), rel=0.05)
    assert np.mean(compiled[3:]) < 0.8 * compiled[0]


def test_direction_gram_is_the_gram_matrix_of_the_directions() -> None:
    """CG's scalars give Pt Pt^T exactly where orthogonality holds (a well-conditioned
    matrix), and the unprojected directions stay orthogonal to U."""
    n = 400
    a = (sp.diags([np.full(n - 1, -1.0), 4.0 + np.linspace(0, 3, n), np.full(n - 1, -1.0)],
                  [-1, 0, 1])).tocsr()
    rng = np.random.default_rng(5)
    b = rng.standard_normal(n)
    _, first = recycled_cg_cpu.deflated_cg(a, b.copy(), np.zeros(n), None, 1e-12, 1000,
                                           lambda: None, np.zeros((0, n)), np.zeros((0, n)),
                                           12, 0)
    assert first.gram is not None
    np.testing.assert_allclose(first.gram, first.z @ first.z.T, rtol=1e-9, atol=1e-12)
    r = solve(a, b, method="recycled_cg", rtol=1e-10, recycle=6)
    space, _ = recycling.adopt(r.extra["recycle_space"], a, np, same_matrix=True)
    res = b - space.c.T @ (space.u @ b)
    _, kept = recycled_cg_cpu.deflated_cg(a, res, space.u.T @ (space.u @ b), None, 1e-12,
                                          1000, lambda: None, space.u, space.c, 12, 0)
    pt = kept.z[6:]
    # Rounding leaves U r at eps |r_0| while the A-normalised directions grow as r
    # falls (here 1e-17 -> 2e-11 over 12 steps): far below what the Ritz step sees.
    assert np.abs(space.u @ pt.T).max() <= 1e-8 * np.abs(pt).max()
    np.testing.assert_allclose(kept.gram, pt @ pt.T, rtol=1e-8, atol=1e-12)


def test_a_returned_space_outlives_the_next_solve() -> None:
    """The harvest buffers are reused per thread; a space handed out must not be."""
    mats = _darcy_sequence(3)
    b = np.ones(mats[0].shape[0])
    first = solve(mats[0], b, method="recycled_cg", rtol=1e-9, recycle=8)
    space = first.extra["recycle_space"]
    u, c = space.u.copy(), space.c.copy()
    solve(mats[1], b, method="recycled_cg", rtol=1e-9, recycle=8)
    solve(mats[2], b, method="recycled_cg", rtol=1e-9, recycle=8, recycle_space=space)
    np.testing.assert_array_equal(space.u, u)
    np.testing.assert_array_equal(space.c, c)


@pytest.mark.parametrize("grid,contrast,k,preconditioner", [
    (24, 0.5, 8, "none"), (48, 1.0, 20, "none"), (32, 2.0, 10, "jacobi")])
def test_recycled_cg_asked_for_float32_computes_in_float64(
        grid: int, contrast: float, k: int, preconditioner: str) -> None:
    """Deflated CG in float32 broke down ("not positive definite") or stalled on about
    half of these SPD systems, which float32 CG solves; asked for float32 it computes in
    float64 and says so."""
    rng = np.random.default_rng(101)
    mats = [darcy_2d(grid, np.exp(contrast * gaussian_random_field(grid, rng)))
            .astype(np.float32) for _ in range(4)]
    b = np.ones(mats[0].shape[0], dtype=np.float32)
    space = None
    for a in mats:
        r = solve(a, b, method="recycled_cg", precision="float32", rtol=3e-4, recycle=k,
                  recycle_space=space, preconditioner=preconditioner)
        x_ref = spla.spsolve(a.astype(np.float64).tocsc(), b.astype(np.float64))
        assert r.converged, r.stop_reason
        assert np.linalg.norm(r.x - x_ref) <= 1e-2 * np.linalg.norm(x_ref)
        assert r.precision == "float64" and r.x.dtype == np.float64
        assert r.extra["recycled"] == (space is not None)
        space = r.extra["recycle_space"]
        assert space.u.dtype == np.float64


def test_recycled_cg_refuses_ilu() -> None:
    mats = _darcy_sequence(1)
    b = np.ones(mats[0].shape[0])
    with pytest.raises(SolverInputError, match="symmetric"):
        solve(mats[0], b, method="recycled_cg", preconditioner="ilu")


def test_recycled_cg_that_starts_converged_keeps_its_space() -> None:
    a = _darcy_sequence(1)[0]
    b = np.ones(a.shape[0])
    first = solve(a, b, method="recycled_cg", rtol=1e-10, recycle=8)
    r = solve(a, b, method="recycled_cg", rtol=1e-8, x0=first.x, recycle=8,
              recycle_space=first.extra["recycle_space"], same_matrix=True)
    assert r.converged and r.iterations == 0
    assert r.extra["recycle_space"].k == 8


def test_a_same_matrix_space_that_is_not_positive_definite_is_dropped_at_no_cost() -> None:
    """same_matrix trusts C = A U as sent; a C that makes U C^T indefinite cannot make
    U A-orthonormal, so the solve starts afresh and reports no setup products."""
    a = _darcy_sequence(1)[0]
    b = np.ones(a.shape[0])
    space = solve(a, b, method="recycled_cg", rtol=1e-9, recycle=6).extra["recycle_space"]
    forged = recycling.RecycleSpace(space.u, -space.c, "recycled_cg")
    r = solve(a, b, method="recycled_cg", rtol=1e-9, recycle=6, recycle_space=forged,
              same_matrix=True)
    assert r.converged and not r.extra["recycled"]
    assert r.extra["recycle_setup_matvecs"] == 0


def test_warm_up_compiles_what_recycled_cg_runs() -> None:
    """After solvers.warm_up() no recycled CG solve compiles anything more (without and
    with Jacobi, asked for float64 or float32)."""
    import solvers

    solvers.warm_up()
    loop = recycled_cg_cpu._iterations  # _product and _resync compile inside it
    before = len(loop.signatures)
    assert before >= 2
    mats = _darcy_sequence(2)
    b = np.ones(mats[0].shape[0])
    for precision in ("float64", "float32"):
        for preconditioner in ("none", "jacobi"):
            first = solve(mats[0], b, method="recycled_cg", rtol=1e-8, recycle=4,
                          precision=precision, preconditioner=preconditioner)
            solve(mats[1], b, method="recycled_cg", rtol=1e-8, recycle=4, precision=precision,
                  preconditioner=preconditioner, recycle_space=first.extra["recycle_space"])
    assert len(loop.signatures) == before


def test_harmonic_ritz_without_a_preconditioner_skips_the_product_it_knows() -> None:
    """Unpreconditioned, the rows of W after U are the Arnoldi vectors, so Vhat W^T is
    [0; I; 0] by orthogonality and is not formed: the space equals the one from the
    full product, on a cycle that carries a space and on the first one (to 1e-4 of the
    largest entry: one pass of modified Gram-Schmidt keeps the basis orthonormal only to
    about eps times the condition of the cycle's Krylov matrix, which grows as the
    cycle converges, measured up to 2.4e-5 here; a wrong shortcut differs at order one)."""
    mats = _darcy_sequence(2, skew=True)
    b = np.ones(mats[0].shape[0])
    cycles: list = []
    real = recycling._harmonic_ritz

    def spy(xp, basis, w_rows, hess, bmat, space, kc, done, k, w_is_v):  # type: ignore[no-untyped-def]
        cycles.append((basis.copy(), hess.copy(), bmat.copy(), space, kc, done, k, w_is_v))
        return real(xp, basis, w_rows, hess, bmat, space, kc, done, k, w_is_v)

    recycling._harmonic_ritz = spy
    try:
        first = solve(mats[0], b, method="gcrodr", rtol=1e-9, recycle=8, restart=20)
        solve(mats[1], b, method="gcrodr", rtol=1e-9, recycle=8, restart=20,
              recycle_space=first.extra["recycle_space"])
    finally:
        recycling._harmonic_ritz = real
    assert {c[4] for c in cycles} == {0, 8} and all(c[7] for c in cycles)
    for basis, hess, bmat, space, kc, done, k, _ in cycles[:1] + cycles[-3:]:
        w_rows = basis[kc: kc + done]
        known = real(np, basis, w_rows, hess, bmat, space, kc, done, k, True)
        formed = real(np, basis, w_rows, hess, bmat, space, kc, done, k, False)
        np.testing.assert_allclose(known.u, formed.u, atol=1e-4 * abs(formed.u).max())
        np.testing.assert_allclose(known.c, formed.c, atol=1e-4)


@pytest.mark.parametrize("x0", [False, True])
def test_recycled_cg_carries_an_exact_space_between_columns(x0: bool) -> None:
    """Columns of b are solved in turn, each handing its space to the next. The space a
    solve hands back is A-orthonormal to rounding only; taken as is, the third of
    three columns broke down ("not positive definite") on this Poisson matrix."""
    a = poisson_2d(12).tocsr()
    b = np.random.default_rng(0).standard_normal((a.shape[0], 4))
    start = np.full(b.shape, 0.1) if x0 else None
    r = solve(a, b, method="recycled_cg", rtol=1e-9, x0=start)
    assert r.converged and all(r.column_converged), r.stop_reason
    for j in range(b.shape[1]):
        assert np.linalg.norm(b[:, j] - a @ r.x[:, j]) <= 1e-9 * np.linalg.norm(b[:, j])
    assert r.column_iterations[-1] < r.column_iterations[0]  # the carried space pays


def test_the_harvest_grows_with_the_length_of_the_solve_that_made_the_space(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The space remembers its solve's iterations through a move to a new matrix, and
    a long solve's space asks the next one for more directions (at most 5k)."""
    space = recycling.RecycleSpace(np.zeros((20, 8)), np.zeros((20, 8)), "recycled_cg")
    assert recycling.harvest_size(20, None) == 60
    assert [recycling.harvest_size(20, dataclasses.replace(space, iterations=i))
            for i in (0, 100, 300, 400, 5000)] == [60, 60, 75, 100, 100]
    mats = _darcy_sequence(3, k=40)
    b = np.ones(mats[0].shape[0])
    asked: list[int] = []
    real = recycled_cg_cpu.deflated_cg
    monkeypatch.setattr(recycled_cg_cpu, "deflated_cg",
                        lambda *a: asked.append(a[9]) or real(*a))
    space, iterations = None, []
    for a in mats:
        r = solve(a, b, method="recycled_cg", rtol=1e-10, recycle=4, recycle_space=space)
        assert r.converged
        space = r.extra["recycle_space"]
        assert space.iterations == r.iterations
        iterations.append(r.iterations)
    assert asked == [12] + [max(12, min(20, i // 4)) for i in iterations[:-1]]
    assert max(asked) > 12  # the test reaches the growth it is about


def test_a_large_batch_is_ordered_on_sketches_and_still_finds_the_path(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """N^2 p past MAX_EXACT_WORK: the rows are sketched first, and a shuffled smooth
    one-parameter family still comes out in parameter order (either way round)."""
    from solvers.linear import ordering

    rng = np.random.default_rng(1)
    count, p = 400, 20_000
    base = rng.standard_normal((3, p))
    t = rng.permutation(np.linspace(0.0, 1.0, count))
    feats = (np.cos(2 * t)[:, None] * base[0] + np.sin(2 * t)[:, None] * base[1]
             + t[:, None] ** 2 * base[2] + 5.0)  # an offset: distances survive centring
    assert count * count * p > ordering.MAX_EXACT_WORK
    sketched = []
    real = ordering.sketch
    monkeypatch.setattr(ordering, "sketch", lambda f, d: sketched.append(d) or real(f, d))
    order = ordering.order_by(feats)
    assert sketched == [int(np.clip(ordering.L2_FLOATS // count, 32, 256))]
    assert sorted(order) == list(range(count))
    walk = t[order]
    assert np.all(np.diff(walk) > 0) or np.all(np.diff(walk) < 0)
    # The sketch keeps distances in expectation: within 25% here, d = 256.
    full = rng.standard_normal((40, p))
    pair = ordering.sketch(full, 256).astype(np.float64)
    ratio = (np.linalg.norm(pair[1:] - pair[:-1], axis=1)
             / np.linalg.norm(full[1:] - full[:-1], axis=1))
    assert ratio.min() > 0.75 and ratio.max() < 1.25


def _wind_sequence(count: int, k: int = 32) -> list:
    from problems import darcy_wind

    rng = np.random.default_rng(5)
    g = rng.standard_normal((k, k))
    return [darcy_wind(k, np.exp(1.6 * (g + 0.3 * rng.standard_normal((k, k)))), 20.0)
            for _ in range(count)]


@pytest.mark.parametrize("stencil", [True, False])
def test_compiled_arnoldi_steps_agree_with_the_numpy_cycle(monkeypatch, stencil: bool) -> None:
    """gcrodr_cpu (one pass of modified Gram-Schmidt, compiled) against the NumPy cycle
    (classical Gram-Schmidt twice): both reach the true residual against spsolve, with
    iteration counts within a few percent, carrying the space, by diagonals and by CSR
    (a matrix whose rows are permuted has no few diagonals)."""
    from solvers.linear import gcrodr_cpu

    mats = _wind_sequence(4)
    if not stencil:
        perm = np.random.default_rng(1).permutation(mats[0].shape[0])
        mats = [sp.csr_matrix(a[perm][:, perm]) for a in mats]
    b = np.ones(mats[0].shape[0])
    counts = {}
    for compiled in (True, False):
        if not compiled:
            monkeypatch.setattr(gcrodr_cpu, "applies", lambda *a: False)
        space, its = None, []
        for a in mats:
            r = solve(a, b, method="gcrodr", rtol=1e-9, recycle_space=space)
            x = spla.spsolve(a.tocsc(), b)
            assert r.converged and np.linalg.norm(b - a @ r.x) <= 1e-9 * np.linalg.norm(b)
            assert np.linalg.norm(r.x - x) <= 1e-5 * np.linalg.norm(x)
            its.append(r.iterations)
            space = r.extra["recycle_space"]
        counts[compiled] = sum(its)
    assert abs(counts[True] - counts[False]) <= 0.05 * counts[False], counts


def test_a_carried_space_keeps_its_size() -> None:
    """The harmonic Ritz step may keep one vector more (a conjugate pair cut in two);
    taken as the next solve's target, the space grew by one every few systems, and each
    cycle's Arnoldi steps shrank with it."""
    mats = _wind_sequence(10, k=24)
    b = np.ones(mats[0].shape[0])
    space, sizes = None, []
    for a in mats:
        r = solve(a, b, method="gcrodr", rtol=1e-8, recycle=6, restart=30,
                  recycle_space=space)
        assert r.converged
        space = r.extra["recycle_space"]
        sizes.append(space.k)
    assert max(sizes) <= 7, sizes


def test_compiled_arnoldi_steps_stop_at_a_deadline() -> None:
    """The compiled steps return to Python every ~10 ms of work, where the stop is read."""
    import time

    from solvers.errors import Interrupted

    a = _wind_sequence(1, k=160)[0]
    b = np.ones(a.shape[0])
    fire = time.monotonic() + 0.2
    start = time.monotonic()
    with pytest.raises(Interrupted):
        solve(a, b, method="gcrodr", rtol=1e-14, maxiter=10**6,
              should_stop=lambda: "deadline" if time.monotonic() > fire else None)
    assert time.monotonic() - start < 0.2 + 0.25
