"""The compiled coordinate passes against plain-Python passes written from the
definition, the two working-set solvers against each other, and the fits that use the
column (residual) solver against scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from regression_problems import objective, sparse_truth

from solvers import jit
from solvers.errors import Interrupted
from solvers.regression import Penalty, alpha_max, certificate, fit, kernels, path
from solvers.regression.design import Design
from solvers.regression.greedy import solve_block
from solvers.regression.objective import loss_residual
from solvers.regression.residual import solve_residual

linear_model = pytest.importorskip("sklearn.linear_model")


def _soft(z, t):
    return np.sign(z) * max(abs(z) - t, 0.0)


def _reference_pass(Xc, cols, w, r, lam, l2):
    """One cyclic pass of exact coordinate minimisation of
    ||r||^2 / 2n + lam.|w| + l2.w^2 / 2 on the dense (already centred) columns."""
    n = Xc.shape[0]
    w, r = w.copy(), r.copy()
    for k, j in enumerate(cols):
        L = Xc[:, j] @ Xc[:, j] / n + l2[k]
        g = -Xc[:, j] @ r / n + l2[k] * w[k]
        new = _soft(w[k] - g / L, lam[k] / L)
        r -= (new - w[k]) * Xc[:, j]
        w[k] = new
    return w, r


def _inputs(rng, n, p, m):
    cols = np.sort(rng.choice(p, m, replace=False)).astype(np.int64)
    w = rng.standard_normal(m) * (rng.random(m) < 0.5)
    return cols, w, rng.random(m) * 0.05, rng.random(m) * 0.1


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_dense_pass_matches_the_definition(dtype):
    rng = np.random.default_rng(0)
    X = np.asfortranarray(rng.standard_normal((40, 30)).astype(dtype))
    cols, w, lam, l2 = _inputs(rng, 40, 30, 12)
    r = rng.standard_normal(40)
    Xd = X.astype(np.float64)
    want_w, want_r = _reference_pass(Xd, cols, w, r, lam, l2)
    got_w, got_r = w.copy(), r.copy()
    L = (Xd[:, cols] ** 2).sum(axis=0) / 40 + l2
    kernels.dense_pass(X, cols, got_w, got_r, L, lam, l2, 1 / 40)
    assert np.allclose(got_w, want_w, rtol=1e-10, atol=1e-12)
    assert np.allclose(got_r, want_r, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("center", [False, True])
def test_sparse_pass_matches_the_definition(center):
    rng = np.random.default_rng(1)
    n, p = 50, 40
    X = sp.random(n, p, density=0.2, random_state=1, format="csc")
    cols, w, lam, l2 = _inputs(rng, n, p, 15)
    mean = np.asarray(X.mean(axis=0)).ravel() if center else np.zeros(p)
    Xc = X.toarray() - mean
    r = rng.standard_normal(n)
    want_w, want_r = _reference_pass(Xc, cols, w, r, lam, l2)
    got_w, r0 = w.copy(), r.copy()
    state = np.array([0.0, r0.sum()])  # the residual is r0 + state[0]
    L = (Xc[:, cols] ** 2).sum(axis=0) / n + l2
    kernels.sparse_pass(X.data, X.indices, X.indptr, mean, cols, got_w, r0, state, L, lam,
                        l2, 1 / n, n)
    assert np.allclose(got_w, want_w, rtol=1e-10, atol=1e-12)
    assert np.allclose(r0 + state[0], want_r, rtol=1e-10, atol=1e-12)
    assert state[1] == pytest.approx(r0.sum(), abs=1e-10)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_column_dots_match_a_product(dtype):
    rng = np.random.default_rng(12)
    X = np.asfortranarray(rng.standard_normal((50, 30)).astype(dtype))
    r = rng.standard_normal(50)
    cols = np.array([29, 0, 7, 7], dtype=np.int64)
    want = X.astype(np.float64)[:, cols].T @ r
    assert np.allclose(kernels.column_dots(X, cols, r), want, rtol=1e-12, atol=1e-12)
    assert Design(X, center=False).rmatvec_columns(cols, r) == pytest.approx(want, rel=1e-12)


def test_gram_passes_match_the_definition():
    rng = np.random.default_rng(2)
    A = rng.standard_normal((30, 10))
    H = A.T @ A / 30
    c = rng.standard_normal(10)
    w = rng.standard_normal(10) * (rng.random(10) < 0.5)
    lam = np.full(10, 0.3)
    want = w.copy()
    for _ in range(3):
        for j in range(10):
            g = H[j] @ want - c[j]
            want[j] = _soft(want[j] - g / H[j, j], lam[j] / H[j, j])
    got = w.copy()
    g = H @ got - c
    for _ in range(3):
        kernels.gram_pass(H, g, got, lam, np.diag(H).copy(), np.arange(10))
    assert np.allclose(got, want, rtol=1e-12, atol=1e-14)
    assert np.allclose(g, H @ got - c, atol=1e-12)


@pytest.mark.parametrize("sparse", [False, True])
def test_column_and_gram_solvers_agree(sparse):
    """One working-set problem solved both ways reaches the same minimiser (unique:
    the ridge term makes it strongly convex)."""
    X, y, _ = sparse_truth(80, 200, 10, seed=3, sparse=sparse)
    D = Design(X, center=True)
    yc = y - y.mean()
    W = np.arange(0, 200, 2)
    lam, l2 = np.full(W.size, 0.02), np.full(W.size, 0.01)
    res = solve_residual(D, W, np.zeros(W.size), yc.copy(), lam, l2, 1e-12, 100_000)
    H = D.gram(W, W) / D.n + np.diag(l2)
    grad = -D.rmatvec_columns(W, yc) / D.n
    ref = solve_block(H, grad, np.zeros(W.size), lam, 1e-12, 100_000)
    assert np.abs(res.w - ref.w).max() < 1e-8 * max(np.abs(ref.w).max(), 1.0)
    assert np.allclose(res.resid, yc - D.matvec(W, res.w), atol=1e-9)


def test_wide_dense_problem_on_columns_matches_sklearn():
    """Working sets above n / 2 features go to the column solver."""
    X, y, _ = sparse_truth(60, 600, 40, seed=4, offset=1.0)
    a = alpha_max(X, y) / 500
    res = fit(X, y, a, tol=1e-10)
    assert res.converged and max(res.ws_sizes) > 30 and res.support.size > 30
    ref = linear_model.Lasso(alpha=a, tol=1e-14, max_iter=500_000).fit(X, y)
    assert res.primal <= objective(X, y, ref.coef_, ref.intercept_, a) * (1 + 1e-9)
    assert objective(X, y, res.coef, res.intercept, a) == pytest.approx(res.primal, rel=1e-9)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_sparse_elastic_net_with_intercept_matches_sklearn(dtype):
    X, y, _ = sparse_truth(300, 800, 20, seed=5, sparse=True, offset=2.0)
    X = X.astype(dtype)
    # float32 passes certify a relative gap down to about 1e-7, float64 to rounding
    tol = 1e-6 if dtype == np.float32 else 1e-10
    a = alpha_max(X, y, l1_ratio=0.7) / 50
    res = fit(X, y, a, l1_ratio=0.7, tol=tol)
    X64 = X.astype(np.float64)
    ref = linear_model.ElasticNet(alpha=a, l1_ratio=0.7, tol=1e-14,
                                  max_iter=500_000).fit(X64, y)
    ours = objective(X64, y, res.coef, res.intercept, a, 0.7)
    assert res.converged and res.relative_gap <= tol
    assert ours <= objective(X64, y, ref.coef_, ref.intercept_, a, 0.7) * (1 + 10 * tol)
    assert np.abs(res.coef - ref.coef_).max() < (1e-2 if dtype == np.float32 else 1e-5) \
        * np.abs(ref.coef_).max()


def test_stop_request_interrupts_column_passes():
    X, y, _ = sparse_truth(400, 3000, 200, seed=6, sparse=True)
    with pytest.raises(Interrupted):
        fit(X, y, alpha_max(X, y) / 1e4, tol=1e-14, should_stop=lambda: "deadline")


def test_without_a_cache_location_kernels_compile_in_memory(monkeypatch):
    calls = []

    def fake_njit(**options):
        calls.append(options)
        if options.get("cache"):  # what numba raises with no writable cache location
            raise RuntimeError("cannot cache function: no locator available")
        return lambda fn: fn

    monkeypatch.setattr(jit, "njit", fake_njit)
    fn = jit.compiled(fastmath=kernels.FAST)(lambda v: v + 1)
    assert fn(1) == 2
    assert [c.get("cache") for c in calls] == [True, None]
    assert calls[1]["nogil"] and calls[1]["fastmath"] == kernels.FAST


def _exact_relative_gap(X, y, r, loss="squared"):
    """The certificate from scratch, with every product X^T r exact."""
    Xd = X.toarray() if sp.issparse(X) else np.asarray(X, dtype=np.float64)
    if loss == "squared" and r.intercept != 0:
        Xd, y = Xd - Xd.mean(axis=0), y - y.mean()
        b = 0.0
    else:
        b = r.intercept
    ys = y if loss == "squared" else np.where(y > 0, 1.0, -1.0)
    z = Xd @ r.coef + b
    resid = loss_residual(loss, ys, z)
    pen = Penalty(r.alpha, r.l1_ratio, np.ones(Xd.shape[1]))
    return certificate(loss, ys, z, resid, Xd.T @ resid, r.coef, pen).relative_gap


@pytest.mark.parametrize(("sparse", "loss", "l1_ratio"), [
    (False, "squared", 1.0), (True, "squared", 1.0), (False, "squared", 0.5),
    (False, "logistic", 1.0)])
def test_partial_passes_keep_the_certificate_rigorous(sparse, loss, l1_ratio):
    """Along a path most passes skip the features a safe bound settles; every reported
    gap must still bound the gap computed with all products exact."""
    X, y, _ = sparse_truth(150, 2000, 15, seed=8, sparse=sparse, offset=1.0)
    if loss == "logistic":
        y = np.where(y > np.median(y), 1, 0)
    results = list(path(X, y, loss=loss, l1_ratio=l1_ratio, n_alphas=30, eps=1e-2,
                        tol=1e-8))
    assert all(r.converged for r in results)
    assert sum(r.partial_passes for r in results) >= len(results) // 2
    for r in results:
        exact = _exact_relative_gap(X, y, r, loss)
        assert exact <= r.relative_gap * (1 + 1e-6) + 1e-14
        assert exact <= 1e-8 * (1 + 1e-6) + 1e-14
    for r in results[5::8]:
        single = fit(X, y, r.alpha, loss=loss, l1_ratio=l1_ratio, tol=1e-12)
        assert r.primal == pytest.approx(single.primal, rel=1e-7)


def test_warm_up_compiles_what_the_solvers_call():
    """After solvers.warm_up() no fit or exact transport compiles anything more: the
    server's first request does not wait for numba."""
    import solvers
    from solvers.transport import simplex, transport

    solvers.warm_up()
    dispatchers = (kernels.dense_pass, kernels.sparse_pass, kernels.gram_pass,
                   kernels.column_dots, simplex.network_simplex)
    before = [len(d.signatures) for d in dispatchers]
    assert all(before)
    for dtype in (np.float64, np.float32):
        for sparse in (False, True):
            X, y, _ = sparse_truth(40, 200, 10, seed=9, sparse=sparse)
            fit(X.astype(dtype), y, alpha_max(X, y) / 100)  # the column solver
        X, y, _ = sparse_truth(300, 100, 5, seed=9)
        fit(X.astype(dtype), y, alpha_max(X, y) / 100)  # the Gram solver (W < n / 2)
    a = np.full(5, 0.2)
    transport(a, np.array([0.1, 0.2, 0.3, 0.4]), np.random.default_rng(0).random((5, 4)),
              method="exact")
    assert [len(d.signatures) for d in dispatchers] == before
