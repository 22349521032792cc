"""Property-based tests of the answers: well-formed problems with hostile values
(entries near the float64 range's ends, float32 overflow, extreme tolerances,
regularisations and iteration caps). Every call must end in a deliberate status,
and an answer that says converged=True must really satisfy its own criterion,
checked here independently."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from solverd import Client, DeadlineExceeded, InvalidArgument

from conftest import RunningServer, start_server

SCALES = st.sampled_from([1e-300, 1e-200, 1e-20, 1.0, 1e20, 1e200, 1e300])
SETTINGS = settings(max_examples=60, deadline=None, derandomize=True, database=None,
                    suppress_health_check=list(HealthCheck))
CASES: Counter[str] = Counter()


@pytest.fixture(scope="module")
def target() -> RunningServer:
    running = start_server("--backend", "cpu", "--max-solve-seconds", "5")
    yield running
    running.stop()


def _matrix(seed: int, n: int, spd: bool) -> sp.csr_matrix:
    rng = np.random.default_rng(seed)
    off = sp.random(n, n, density=min(1.0, 3 / n), random_state=rng, format="csr")
    off = off + off.T if spd else off
    diag = np.asarray(abs(off).sum(axis=1)).ravel() + rng.uniform(0.5, 2.0, n)
    return sp.csr_matrix(off - sp.diags(np.zeros(n)) + sp.diags(diag))


@given(seed=st.integers(0, 10_000), n=st.integers(1, 30), spd=st.booleans(),
       sa=SCALES, sb=SCALES,
       method=st.sampled_from(["auto", "cg", "minres", "gmres", "bicgstab", "direct", "sor",
                               "ssor_cg"]),
       precision=st.sampled_from(["auto", "float64", "float32"]),
       rtol=st.sampled_from([0.0, 1e-14, 1e-8, 0.5]),
       max_iterations=st.sampled_from([None, 1, 3, 10_000]))
@SETTINGS
def _linear(target, seed, n, spd, sa, sb, method, precision, rtol, max_iterations) -> None:
    a = _matrix(seed, n, spd or method in ("cg", "minres", "ssor_cg")) * sa
    b = np.random.default_rng(seed + 1).uniform(-1, 1, n) * sb
    with Client(target.address, timeout=30) as client:
        try:
            r = client.solve(a, b, method=method, precision=precision, rtol=rtol,
                             atol=0.0, max_iterations=max_iterations)
        except (InvalidArgument, DeadlineExceeded):
            return
    CASES["linear"] += 1
    if not r.converged:
        return
    CASES["linear converged"] += 1
    assert np.isfinite(r.x).all()
    # The residual in extended precision (x86 long double reaches 1e4932), where
    # nothing the scales produce overflows or underflows.
    ld = np.longdouble
    x = r.x.astype(ld)
    res = np.sqrt(np.sum((b.astype(ld) - (a.astype(ld) @ x)) ** 2))
    tol = max(rtol, 1e-5 if np.dtype(r.info.precision) == np.float32 else 1e-12)
    assert res <= ld(tol) * np.sqrt(np.sum(b.astype(ld) ** 2)) * 1.5, (res, r.info.precision)


def test_linear_answers(target) -> None:
    _linear(target)


@given(seed=st.integers(0, 10_000), n=st.integers(1, 25), m=st.integers(1, 25),
       scale=SCALES, reg=st.sampled_from([1e-300, 1e-4, 1e-2, 1.0, 1e300]),
       method=st.sampled_from(["auto", "sinkhorn", "sinkhorn_eps", "sns", "exact"]),
       max_iterations=st.sampled_from([None, 1, 100_000]))
@SETTINGS
def _transport(target, seed, n, m, scale, reg, method, max_iterations) -> None:
    rng = np.random.default_rng(seed)
    a = rng.uniform(0.1, 1.0, n)
    b = rng.uniform(0.1, 1.0, m)
    a, b = a / a.sum(), b / b.sum()
    M = rng.uniform(0, 1, (n, m)) * scale
    with Client(target.address, timeout=30) as client:
        try:
            r = client.transport(a, b, M, reg=reg, method=method, tol=1e-6,
                                 max_iterations=max_iterations)
        except (InvalidArgument, DeadlineExceeded):
            return
    CASES["transport"] += 1
    if not r.converged:
        return
    CASES["transport converged"] += 1
    plan = r.plan.toarray() if sp.issparse(r.plan) else r.plan
    assert np.isfinite(plan).all() and (plan >= 0).all()
    err = np.abs(plan.sum(1) - a).sum() + np.abs(plan.sum(0) - b).sum()
    assert err <= 1e-5 + r.dropped_mass, (err, r.method)
    assert np.isfinite(r.cost)


@given(seed=st.integers(0, 10_000), n=st.integers(2, 40), p=st.integers(1, 60),
       sx=SCALES, sy=SCALES, frac=st.sampled_from([1e-6, 0.05, 0.5, 1.0, 10.0]),
       l1_ratio=st.sampled_from([1.0, 0.5, 0.01]), intercept=st.booleans())
@SETTINGS
def _lasso(target, seed, n, p, sx, sy, frac, l1_ratio, intercept) -> None:
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p)) * sx
    y = (X[:, : min(p, 3)].sum(axis=1) / sx + rng.standard_normal(n)) * sy
    yc = y - y.mean() if intercept else y
    Xc = X - X.mean(axis=0) if intercept else X
    with np.errstate(over="ignore", invalid="ignore"):
        alpha_max = float(np.max(np.abs(Xc.T @ yc)) / (n * l1_ratio)) if p else 1.0
    if not np.isfinite(alpha_max) or alpha_max <= 0:
        alpha_max = 1.0
    with Client(target.address, timeout=30) as client:
        try:
            r = client.elastic_net(X, y, alpha_max * frac, l1_ratio=l1_ratio,
                                   fit_intercept=intercept, tol=1e-6)
        except (InvalidArgument, DeadlineExceeded):
            return
    CASES["lasso"] += 1
    if not r.converged:
        return
    CASES["lasso converged"] += 1
    assert np.isfinite(r.coef).all() and np.isfinite(r.intercept)
    assert r.relative_gap <= 1e-6 * 1.01
    # The primal it reports is the primal of the coefficients it returns, computed here
    # in extended precision (x86 long double), where these scales neither over- nor
    # underflow; where the float64 value cannot hold it, inf or 0 is the honest report.
    ld = np.longdouble
    w = r.coef.astype(ld)
    resid = y.astype(ld) - X.astype(ld) @ w - ld(r.intercept)
    alpha = ld(alpha_max) * ld(frac)
    primal = (resid @ resid) / (2 * n) + alpha * (
        ld(l1_ratio) * np.abs(w).sum() + ld(1 - l1_ratio) / 2 * (w @ w))
    top, bottom = ld(np.finfo(np.float64).max), ld(np.finfo(np.float64).tiny)
    # Float64 coefficients carry a rounding of ~1e-16 of X w, so any evaluation of the
    # primal is exact only to about eps ||y||^2 / n: a primal far below that (a near-
    # perfect fit) is compared at that absolute scale, like the relative gap itself.
    floor = ld(1e-12) * (y.astype(ld) @ y.astype(ld)) / (2 * n)
    if bottom * 1e3 < primal < top / 1e3:
        assert abs(ld(r.primal) - primal) <= ld(1e-6) * primal + floor, (r.primal, primal)


def test_lasso_answers(target) -> None:
    _lasso(target)


@given(seed=st.integers(0, 10_000), m=st.integers(2, 30), n=st.integers(2, 30),
       rank=st.integers(1, 4), scale=SCALES, method=st.sampled_from(["altmin", "softimpute_als"]),
       center=st.sampled_from(["none", "global", "biases"]),
       reg=st.sampled_from([0.0, 1e-3, 1.0]))
@SETTINGS
def _completion(target, seed, m, n, rank, scale, method, center, reg) -> None:
    rng = np.random.default_rng(seed)
    truth = rng.standard_normal((m, 2)) @ rng.standard_normal((2, n))
    mask = rng.random((m, n)) < 0.6
    rows, cols = np.nonzero(mask)
    if rows.size == 0:
        return
    vals = truth[rows, cols] * scale
    with Client(target.address, timeout=30) as client:
        try:
            r = client.complete(rows, cols, vals, (m, n), rank=rank, method=method,
                                center=center, reg=reg * scale, seed=seed)
        except (InvalidArgument, DeadlineExceeded):
            return
    CASES["completion"] += 1
    if not r.converged:
        return
    CASES["completion converged"] += 1
    assert np.isfinite(r.U).all() and np.isfinite(r.V).all()
    # The RMSE it reports is that of the estimate it returns (long double: no underflow).
    ld = np.longdouble
    estimate = r.predict(rows, cols).astype(ld)
    rmse = np.sqrt(np.mean((estimate - vals.astype(ld)) ** 2))
    reported = ld(r.history.train_rmse[-1])
    # Agreement to 1e-6, or to float64 roundoff of the values where the fit is exact.
    values_rms = np.sqrt(np.mean(vals.astype(ld) ** 2))
    assert abs(rmse - reported) <= ld(1e-6) * rmse + ld(1e-12) * values_rms, (rmse, reported)


def test_completion_answers(target) -> None:
    _completion(target)


def test_transport_answers_and_report(target) -> None:
    _transport(target)
    print(f"\nanswer fuzz: {CASES} answered cases (InvalidArgument/deadline not counted)")
    # Enough answers claimed convergence for the checks above to have bitten.
    assert all(CASES[f"{fam} converged"] >= 15 for fam in ("linear", "transport",
                                                                  "lasso", "completion")), CASES


def _tensor(array: np.ndarray):
    from solverd.tensors import to_tensor
    from solverd.v1 import tensor_pb2

    out = tensor_pb2.Tensor()
    to_tensor(np.ascontiguousarray(array, dtype=np.float64), out)
    return out


@given(seed=st.integers(0, 10_000), n=st.integers(3, 30), k=st.integers(1, 8),
       method=st.sampled_from(["gcrodr", "recycled_cg"]), scale=SCALES,
       forge=st.sampled_from(["random", "zeros", "repeated", "unrelated_c", "true_c"]))
@SETTINGS
def _forged_recycle(target, seed, n, k, method, scale, forge) -> None:
    """A recycle space only accelerates: whatever a client sends back, the answer must
    be right (or the request refused)."""
    from solverd.v1 import linear_pb2

    rng = np.random.default_rng(seed)
    a = _matrix(seed, n, spd=True)
    b = rng.standard_normal(n)
    k = min(k, n)
    u = rng.standard_normal((k, n)) * scale
    if forge == "zeros":
        u[:] = 0.0
    elif forge == "repeated":
        u[:] = u[0]
    c = (a @ u.T).T if forge == "true_c" else rng.standard_normal((k, n)) * scale
    space = linear_pb2.RecycleSpace(kind=method, u=_tensor(u), c=_tensor(c))
    with Client(target.address, timeout=30) as client:
        try:
            r = client.solve(a, b, method=method, rtol=1e-10, recycle=k, recycle_space=space)
        except (InvalidArgument, DeadlineExceeded):
            return
    CASES["recycle"] += 1
    if r.converged:
        CASES["recycle converged"] += 1
        assert np.linalg.norm(a @ r.x - b) <= 1.5e-10 * np.linalg.norm(b), forge


_GENUINE: dict[str, bytes] = {}


def _genuine_state(address: str) -> bytes:
    """A real Tsallis-INF state after a few tuned solves, to forge variants of."""
    if "state" not in _GENUINE:
        a = _matrix(1, 25, spd=True)
        with Client(address) as client, client.sequence(method="sor",
                                                        tuner="tsallis-inf") as seq:
            for k in range(4):
                seq.solve(a, np.full(25, 1.0 + k))
            _GENUINE["state"] = seq.state
    return _GENUINE["state"]


@given(seed=st.integers(0, 10_000),
       mutation=st.sampled_from(["none", "grid_scale", "grid_huge", "losses_huge",
                                 "losses_nan", "plays_negative", "plays_huge", "step_huge",
                                 "truncate", "extend", "kind", "version", "sum_negative"]),
       method=st.sampled_from(["sor", "ssor_cg"]))
@SETTINGS
def _forged_tuner(target, seed, mutation, method) -> None:
    """Forged Tsallis-INF states: refused, or used, with a correct answer either way."""
    from solverd.v1 import linear_pb2

    rng = np.random.default_rng(seed)
    state = linear_pb2.TunerState.FromString(_genuine_state(target.address))
    arms = len(state.grid)
    if mutation == "grid_scale":
        state.grid[rng.integers(arms)] *= float(rng.choice([-1.0, 0.0, 1.2, 5.0]))
    elif mutation == "grid_huge":
        state.grid[rng.integers(arms)] = 1e300
    elif mutation == "losses_huge":
        state.losses[rng.integers(arms)] = float(rng.choice([1e300, -1e300]))
    elif mutation == "losses_nan":
        state.losses[rng.integers(arms)] = float("nan")
    elif mutation == "plays_negative":
        state.plays[rng.integers(arms)] = -1.0
    elif mutation == "plays_huge":
        state.plays[rng.integers(arms)] = 1e18
    elif mutation == "step_huge":
        state.step = 2**63
    elif mutation == "truncate":
        del state.losses[-1]
    elif mutation == "extend":
        state.grid.append(1.5)
    elif mutation == "kind":
        state.kind = "chebcb"
    elif mutation == "version":
        state.version = 99
    elif mutation == "sum_negative":
        state.iterations_sum = -5.0
    a = _matrix(seed, 25, spd=True)
    b = rng.standard_normal(25)
    with Client(target.address, timeout=30) as client:
        try:
            r = client.solve(a, b, method=method, tuner="tsallis-inf", tuner_state=state,
                             rtol=1e-8)
        except (InvalidArgument, DeadlineExceeded):
            CASES["tuner refused"] += 1
            return
    CASES["tuner used"] += 1
    if r.converged:
        assert np.linalg.norm(a @ r.x - b) <= 1.5e-8 * np.linalg.norm(b)


def test_forged_states(target) -> None:
    _forged_recycle(target)
    _forged_tuner(target)
    print(f"\nforged states: {CASES}")
    assert CASES["recycle converged"] >= 15
    assert CASES["tuner refused"] >= 5 and CASES["tuner used"] >= 5


@given(seed=st.integers(0, 10_000), n=st.integers(2, 25), count=st.integers(1, 5),
       sa=SCALES, sb=SCALES, shared=st.booleans(),
       method=st.sampled_from(["auto", "gcrodr", "recycled_cg", "cg"]))
@SETTINGS
def _batch(target, seed, n, count, sa, sb, shared, method) -> None:
    """Batches carry a recycle space from system to system: extreme scales must not
    leak a wrong answer through it."""
    rng = np.random.default_rng(seed)
    base = _matrix(seed, n, spd=True)
    mats = base * sa if shared else [sp.csr_matrix(base + sp.diags(rng.uniform(0, 1, n))) * sa
                                     for _ in range(count)]
    rhs = rng.standard_normal((count, n)) * sb
    with Client(target.address, timeout=30) as client:
        try:
            results = client.solve_batch(mats, rhs, method=method, rtol=1e-10,
                                         recycle=min(n, 4))
        except (InvalidArgument, DeadlineExceeded):
            return
    CASES["batch"] += 1
    ld = np.longdouble
    for i, r in enumerate(results):
        if not r.converged:
            continue
        CASES["batch converged"] += 1
        a = mats if shared else mats[i]
        res = np.sqrt(np.sum((rhs[i].astype(ld) - a.astype(ld) @ r.x.astype(ld)) ** 2))
        assert res <= ld(1.5e-10) * np.sqrt(np.sum(rhs[i].astype(ld) ** 2)), (i, method)


def test_batch_answers(target) -> None:
    _batch(target)
    assert CASES["batch converged"] >= 30, CASES
