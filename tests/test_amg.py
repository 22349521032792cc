"""AMG preconditioning (PyAMG) and AUTO's choices: answers checked against SuperLU on
the true residual, the hierarchy reported, options validated by field, AUTO's reasons."""

from __future__ import annotations

import itertools

import numpy as np
import pyamg
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from solvers.errors import SolverInputError
from solvers.linear import solve
from solvers.linear.amg import AmgOptions
from solvers.linear.solve import choose, pattern_dimension

from problems import convection_diffusion_2d, darcy_2d, gaussian_random_field, poisson_2d

RNG = np.random.default_rng(0)
DARCY = darcy_2d(96, np.exp(gaussian_random_field(96, RNG))).tocsr()
CONVECTION = convection_diffusion_2d(96).tocsr()
ELASTICITY, RIGID = pyamg.gallery.linear_elasticity((60, 60), format="csr")


def _close_to_superlu(a, x, b) -> None:
    ref = spla.spsolve(a.tocsc(), b)
    assert np.linalg.norm(x - ref) <= 1e-6 * np.linalg.norm(ref)


@pytest.mark.parametrize(("method", "a"), [("cg", DARCY), ("minres", DARCY),
                                           ("gmres", CONVECTION), ("bicgstab", CONVECTION)])
def test_amg_preconditions_every_krylov_method(method, a) -> None:
    b = np.ones(a.shape[0])
    plain = solve(a, b, method=method, rtol=1e-10)
    r = solve(a, b, method=method, preconditioner="amg", rtol=1e-10)
    assert r.converged and r.preconditioner == "amg"
    assert r.iterations < plain.iterations / 5
    _close_to_superlu(a, r.x, b)
    h = r.extra["amg"]
    assert h.kind == "sa" and h.levels >= 2 and 1.0 < h.operator_complexity < 3.0
    assert h.setup_seconds > 0 and r.setup_seconds >= h.setup_seconds


def test_the_near_nullspace_is_what_elasticity_needs() -> None:
    b = np.random.default_rng(1).standard_normal(ELASTICITY.shape[0])
    scalar = solve(ELASTICITY, b, method="cg", preconditioner="amg", rtol=1e-10)
    rigid = solve(ELASTICITY, b, method="cg", preconditioner="amg", rtol=1e-10,
                  amg_options=AmgOptions(near_nullspace=RIGID))
    assert rigid.converged and rigid.iterations < scalar.iterations / 3
    _close_to_superlu(ELASTICITY, rigid.x, b)


@pytest.mark.parametrize("options", [AmgOptions(kind="air"), AmgOptions(cycle="W"),
                                     AmgOptions(smoother="jacobi"),
                                     AmgOptions(strength="evolution")])
def test_the_options_users_tune(options) -> None:
    b = np.ones(CONVECTION.shape[0])
    r = solve(CONVECTION, b, method="gmres", preconditioner="amg", rtol=1e-10,
              amg_options=options)
    assert r.converged and r.extra["amg"].kind == ("air" if options.kind == "air" else "sa")
    _close_to_superlu(CONVECTION, r.x, b)


@pytest.mark.parametrize(("options", "field"), [
    (AmgOptions(kind="air"), "amg.kind"),  # AIR is not symmetric: not with CG
    (AmgOptions(cycle="X"), "amg.cycle"),
    (AmgOptions(near_nullspace=np.ones((5, 2))), "amg.near_nullspace"),
    (AmgOptions(max_levels=1), "amg.max_levels")])
def test_bad_options_name_their_field(options, field) -> None:
    with pytest.raises(SolverInputError) as info:
        solve(DARCY, np.ones(DARCY.shape[0]), method="cg", preconditioner="amg",
              amg_options=options)
    assert info.value.field == field


def test_the_pattern_dimension() -> None:
    assert pattern_dimension(sp.diags([1.0, 2.0, 1.0], [-1, 0, 1], shape=(4000, 4000))) < 1.3
    assert 1.8 < pattern_dimension(poisson_2d(120)) < 2.3
    assert pattern_dimension(pyamg.gallery.poisson((30, 30, 30), format="csr")) > 2.5


def test_auto_choices_and_their_reasons() -> None:
    big_darcy = darcy_2d(160, np.exp(gaussian_random_field(160, RNG))).tocsr()
    method, pre, reason = choose(big_darcy)
    assert (method, pre) == ("cg", "amg") and "positive diagonal" in reason
    method, pre, reason = choose(convection_diffusion_2d(160).tocsr())
    assert method == "direct" and "2.0-D" in reason
    cube = pyamg.gallery.poisson((40, 40, 40), format="csr")
    assert choose(cube)[:2] == ("cg", "amg")
    assert choose(poisson_2d(100))[0] == "direct"  # small
    assert choose(big_darcy, "ilu")[:2] == ("gmres", "ilu")
    b = np.ones(big_darcy.shape[0])
    r = solve(big_darcy, b, rtol=1e-9)
    assert r.converged and r.method == "cg" and r.preconditioner == "amg"
    assert "AMG" in r.extra["auto_reason"]


def test_small_3d_systems_are_not_factorised() -> None:
    """Small means cheap to factorise for the pattern: a 2-D mesh of 19,600 rows is, a
    3-D one of 8,000 is not (SuperLU 0.25 s against AMG-CG's 0.025 s, measured)."""
    assert choose(poisson_2d(140))[0] == "direct"
    assert choose(pyamg.gallery.poisson((10, 10, 10), format="csr"))[0] == "direct"
    cube = pyamg.gallery.poisson((20, 20, 20), format="csr")
    assert choose(cube)[:2] == ("cg", "amg")
    windy = (cube + 0.3 * sp.eye(cube.shape[0], k=1)).tocsr()
    assert choose(windy)[:2] == ("gmres", "amg")
    b = np.random.default_rng(4).standard_normal(cube.shape[0])
    for a in (cube, windy):
        r = solve(a, b, rtol=1e-10)
        assert r.converged and r.method != "direct"
        _close_to_superlu(a, r.x, b)


def test_auto_falls_back_to_direct_when_its_choice_fails() -> None:
    """A Laplacian shifted on 40% of its rows: symmetric with a positive diagonal, yet
    indefinite, and too few rows shifted for AUTO to see it (solve._shifted). AUTO's
    AMG-CG fails; it solves directly instead and says so."""
    part = (np.arange(160 * 160) < 0.4 * 160 * 160).astype(float)
    a = (poisson_2d(160) - 0.01 * sp.diags(part)).tocsr()
    b = np.ones(a.shape[0])
    r = solve(a, b, rtol=1e-9)
    assert r.converged and r.method == "direct"
    assert "fell back" in r.extra["auto_reason"] and r.extra["fallback_from"] == "cg"
    _close_to_superlu(a, r.x, b)


def test_amg_over_the_wire(client) -> None:
    from solverd import InvalidArgument

    b = np.random.default_rng(2).standard_normal(ELASTICITY.shape[0])
    r = client.solve(ELASTICITY, b, method="cg", preconditioner="amg", rtol=1e-10,
                     amg={"near_nullspace": RIGID, "cycle": "V", "max_coarse": 300})
    assert r.converged and r.amg["kind"] == "sa" and r.amg["levels"] >= 2
    assert r.amg["setup_seconds"] > 0 and r.iterations < 40
    _close_to_superlu(ELASTICITY, r.x, b)
    with pytest.raises(InvalidArgument) as info:
        client.solve(DARCY, np.ones(DARCY.shape[0]), method="cg", preconditioner="amg",
                     amg={"near_nullspace": np.ones((3, 2))})
    assert info.value.violations[0].field == "amg.near_nullspace"
    big = darcy_2d(160, np.exp(gaussian_random_field(160, RNG))).tocsr()
    auto = client.solve(big, np.ones(big.shape[0]), rtol=1e-9)
    assert auto.converged and auto.method == "cg" and "AMG" in auto.auto_reason
    mats = [DARCY * (1 + 0.1 * k) for k in range(3)]
    batch = client.solve_batch(mats, np.ones(DARCY.shape[0]), method="cg",
                               preconditioner="amg", rtol=1e-9)
    assert all(x.converged and x.amg is not None for x in batch)


def _aligned_anisotropy(k: int) -> sp.csr_matrix:
    stencil = pyamg.gallery.diffusion_stencil_2d(epsilon=1e-6, theta=0.0, type="FD")
    return pyamg.gallery.stencil_grid(stencil, (k, k), format="csr")


def test_a_sequence_reuses_its_hierarchy_while_it_pays() -> None:
    """A changing field: the hierarchy built for the first system is refreshed for the
    next ones (Galerkin operators on its aggregation) and converges as fresh ones do,
    even on a field four times as rough. A grid-aligned anisotropy, whose strong
    connections the isotropic aggregation ignores, stalls within a few times the first
    iteration count: that system is solved with a hierarchy of its own, given the
    caller's whole iteration budget, and the next system reuses it."""
    from solvers.linear.carry import AmgCarry

    rng = np.random.default_rng(5)
    field = gaussian_random_field(96, rng)
    near = [darcy_2d(96, np.exp(field + 0.05 * gaussian_random_field(96, rng))).tocsr()
            for _ in range(3)]
    far = darcy_2d(96, np.exp(4.0 * gaussian_random_field(96, rng))).tocsr()
    aligned = _aligned_anisotropy(96)
    b = np.ones(96 * 96)
    carry = AmgCarry()
    reused, rebuilt, iterations = [], [], []
    for a in [*near, far, aligned, aligned]:
        r = solve(a, b, method="cg", preconditioner="amg", rtol=1e-9,
                  amg_hierarchy=carry.offer(a))
        assert r.converged
        _close_to_superlu(a, r.x, b)
        reused.append(r.extra["amg_reused"])
        rebuilt.append("amg_rebuilt_after" in r.extra)
        iterations.append(r.iterations)
        carry.record(a, r)
        if carry.hierarchy is not None:  # the clock's rule is tested apart: here only
            carry.hierarchy.setup_seconds = np.inf  # iterations decide (no timing noise)
    assert reused == [False, True, True, True, False, True]
    assert rebuilt == [False, False, False, False, True, False]
    fresh_far = solve(far, b, method="cg", preconditioner="amg", rtol=1e-9)
    assert iterations[3] <= fresh_far.iterations + 2
    assert max(iterations[1:3]) <= iterations[0] + 1
    # The stalled reuse was cut at 4 x 9 + 20 iterations; the rebuilt solve needed more.
    assert iterations[4] > 4 * iterations[0] + 20


def test_a_refreshed_hierarchy_is_the_galerkin_one_for_the_new_matrix() -> None:
    from solvers.linear import amg

    rng = np.random.default_rng(8)
    first = darcy_2d(64, np.exp(gaussian_random_field(64, rng))).tocsr()
    second = darcy_2d(64, np.exp(gaussian_random_field(64, rng))).tocsr()
    h = amg.build(first, "cg")
    coarsest_before = h.solver.levels[-1].A.toarray()
    h.solver.solve(np.ones(64 * 64), maxiter=1)  # makes the coarsest solve's cache
    amg.refresh(h, second)
    levels = h.solver.levels
    assert levels[0].A is not first and abs(levels[0].A - second).max() == 0
    for fine, coarse in itertools.pairwise(levels):
        galerkin = (fine.P.T @ fine.A @ fine.P).toarray()
        assert np.allclose(coarse.A.toarray(), galerkin, rtol=1e-12, atol=1e-12)
    assert not np.allclose(levels[-1].A.toarray(), coarsest_before)
    x = h.solver.solve(np.ones(64 * 64), tol=1e-10, accel="cg")
    _close_to_superlu(second, x, np.ones(64 * 64))


def test_the_rebuild_rules_of_a_carried_hierarchy() -> None:
    """Iterations grown past 1.5x (+3) of the build's, a failed solve, or reuses whose
    extra seconds add up to the setup: the next system builds afresh."""
    from types import SimpleNamespace

    from solvers.linear.amg import Hierarchy
    from solvers.linear.carry import AmgCarry

    def outcome(h, reused, iterations, seconds=1.0, converged=True):
        return SimpleNamespace(extra={"amg": h, "amg_reused": reused}, iterations=iterations,
                               seconds=seconds, converged=converged)

    a = sp.identity(10, format="csr")
    for later, kept in ((outcome(None, True, 18), True), (outcome(None, True, 19), False),
                        (outcome(None, True, 10, converged=False), False),
                        (outcome(None, True, 10, seconds=3.1), False)):
        h = Hierarchy("sa", 2, 1.0, 1.0, 1, setup_seconds=2.0)
        carry = AmgCarry()
        carry.record(a, outcome(h, False, 10, seconds=3.0))
        later.extra["amg"] = h
        carry.record(a, later)
        assert (carry.offer(a) is h) == kept


def test_a_batch_over_the_wire_reuses_the_hierarchy(client) -> None:
    rng = np.random.default_rng(6)
    field = gaussian_random_field(96, rng)
    mats = [darcy_2d(96, np.exp(field + 0.05 * gaussian_random_field(96, rng))).tocsr()
            for _ in range(4)]
    results = client.solve_batch(mats, np.ones(96 * 96), method="cg", preconditioner="amg",
                                 rtol=1e-9, order="input")
    assert all(r.converged for r in results)
    assert [r.amg["reused"] for r in results] == [False, True, True, True]
