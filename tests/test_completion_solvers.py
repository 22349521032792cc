"""Matrix completion in process: recovery of a known low-rank truth, each row solve
against NumPy's least squares, softImpute-ALS against a dense soft-impute fixed point,
centring, and input errors naming their field."""

from __future__ import annotations

import numpy as np
import pytest
from completion_problems import low_rank, relative_error

from solvers.backend import CPU
from solvers.completion import complete
from solvers.completion.observations import layout, observations
from solvers.completion.rowsolve import solve_rows
from solvers.errors import Interrupted, SolverInputError


@pytest.mark.parametrize("row_solver", ["exact", "sketch"])
def test_exact_recovery_noiseless(row_solver):
    _, r, c, v, ur, uc, truth = low_rank(400, 300, 5, ratio=5)
    res = complete(r, c, v, (400, 300), 5, row_solver=row_solver)
    assert res.converged and res.stop_reason == "tolerance"
    assert res.row_solver == row_solver
    assert relative_error(res.predict(ur, uc), truth) < 1e-8
    assert res.train_rmse[-1] < 1e-12 * np.sqrt(np.mean(v * v))
    assert len(res.round_seconds) == res.iterations and res.init_seconds > 0


def test_noisy_recovery_is_below_the_noise():
    _, r, c, v, ur, uc, truth = low_rank(500, 500, 5, ratio=5, noise=0.1)
    res = complete(r, c, v, (500, 500), 5)
    assert res.converged and res.stop_reason == "stalled_rmse"
    rmse = np.sqrt(np.mean((res.predict(ur, uc) - truth) ** 2))
    # An oracle that knew the column and row spaces would reach sigma sqrt(dof / |Omega|)
    # (0.045 here): within 30% of it, and far below the noise itself.
    oracle = 0.1 * np.sqrt(5 * (1000 - 5) / r.size)
    assert rmse < 1.3 * oracle
    assert res.train_rmse[-1] == pytest.approx(0.1, rel=0.15)


def test_each_row_is_its_ridge_least_squares():
    rng = np.random.default_rng(3)
    m, n, k, reg = 60, 40, 4, 0.3
    obs = observations(*np.divmod(rng.choice(m * n, 700, replace=False), n),
                       rng.standard_normal(700), (m, n))
    V = rng.standard_normal((n, k))
    lay = layout(obs.rows, obs.cols, obs.vals, m, n, k, CPU)
    U, sse, used = solve_rows(lay, V, np.zeros((m, k)), reg, "exact", CPU, rng, 2 * k, 4,
                              residual=True)
    total = 0.0
    for i in range(m):
        mine = obs.rows == i
        A, b = V[obs.cols[mine]], obs.vals[mine]
        x = np.linalg.solve(A.T @ A + reg * mine.sum() * np.eye(k), A.T @ b)
        np.testing.assert_allclose(U[i], x, rtol=1e-9, atol=1e-12)
        total += float(np.sum((A @ x - b) ** 2))
    assert sse == pytest.approx(total, rel=1e-9)
    assert used["exact"] == np.unique(obs.rows).size
    # The sketched solve reaches the same answer with enough CG steps.
    Us, _, used = solve_rows(lay, V, np.zeros((m, k)), reg, "sketch", CPU, rng, k, 60)
    sketched = np.unique(obs.rows)[np.bincount(obs.rows, minlength=m)[np.unique(obs.rows)] > k]
    assert used["sketch"] == sketched.size > 0
    np.testing.assert_allclose(Us, U, rtol=1e-7, atol=1e-9)


def _soft_impute_dense(M, mask, lam, iters=3000):
    """Mazumder, Hastie and Tibshirani (2010): Z <- S_lam(P_Omega(M) + P_Omega^perp(Z)),
    with a dense SVD: the reference fixed point."""
    Z = np.zeros_like(M)
    for _ in range(iters):
        u, s, vt = np.linalg.svd(np.where(mask, M, Z), full_matrices=False)
        Z_new = (u * np.maximum(s - lam, 0)) @ vt
        if np.linalg.norm(Z_new - Z) <= 1e-13 * np.linalg.norm(Z_new):
            return Z_new
        Z = Z_new
    return Z


def test_softimpute_als_reaches_the_soft_impute_solution():
    _, r, c, v, *_ = low_rank(40, 30, 3, ratio=4, noise=0.05, seed=2)
    M = np.zeros((40, 30))
    mask = np.zeros((40, 30), dtype=bool)
    M[r, c], mask[r, c] = v, True
    lam = 1.0
    Z = _soft_impute_dense(M, mask, lam)
    rank = int((np.linalg.svd(Z, compute_uv=False) > 1e-8).sum())
    res = complete(r, c, v, (40, 30), rank + 2, method="softimpute_als", reg=lam, tol=1e-14,
                   atol=1e-14, maxiter=5000)
    np.testing.assert_allclose(res.U @ res.V.T, Z, atol=1e-6 * np.abs(Z).max())
    assert res.row_solver == ""


def test_biases_and_holdout():
    rng = np.random.default_rng(4)
    m, n = 300, 200
    row_bias, col_bias = rng.normal(0, 0.5, m), rng.normal(0, 0.3, n)
    (U, V), r, c, _, ur, uc, truth = low_rank(m, n, 3, ratio=8, seed=4)
    v = 3.5 + row_bias[r] + col_bias[c] + 0.3 * np.einsum("ij,ij->i", U[r], V[c])
    res = complete(r, c, v, (m, n), 3, center="biases", bias_reg=0.0, holdout=0.1, reg=1e-4)
    assert res.holdout_count == pytest.approx(0.1 * r.size, rel=0.15)
    assert res.holdout_rmse[-1] < 1e-3
    assert res.global_mean == pytest.approx(v.mean(), rel=1e-2)  # of the fitted 90%
    full = 3.5 + row_bias[ur] + col_bias[uc] + 0.3 * truth
    assert np.sqrt(np.mean((res.predict(ur, uc) - full) ** 2)) < 1e-3
    # Biases fitted once and frozen absorb part of the low-rank signal: refitting them
    # with the factors is what makes rank 3 enough.
    glob = complete(r, c, v, (m, n), 3, center="global", maxiter=5)
    assert glob.row_bias is None and glob.global_mean == pytest.approx(v.mean())


def test_factors_are_balanced_and_predictions_returned():
    _, r, c, v, ur, uc, _ = low_rank(100, 80, 4, ratio=6)
    res = complete(r, c, v, (100, 80), 4, predict=(ur[:50], uc[:50]), test=(r[:10], c[:10],
                                                                            v[:10]))
    np.testing.assert_allclose(res.U.T @ res.U, np.diag(res.singular_values), atol=1e-8)
    np.testing.assert_allclose(res.V.T @ res.V, np.diag(res.singular_values), atol=1e-8)
    assert np.all(np.diff(res.singular_values) <= 0)
    np.testing.assert_allclose(res.predictions, res.predict(ur[:50], uc[:50]))
    assert res.holdout_count == 10 and res.holdout_rmse[-1] < 1e-9


def test_should_stop_interrupts():
    _, r, c, v, *_ = low_rank(100, 80, 4, ratio=6)
    with pytest.raises(Interrupted):
        complete(r, c, v, (100, 80), 4, should_stop=lambda: "deadline")


def test_max_iterations_is_a_result():
    _, r, c, v, *_ = low_rank(100, 80, 4, ratio=6)
    res = complete(r, c, v, (100, 80), 4, maxiter=2)
    assert not res.converged and res.stop_reason == "max_iterations" and res.iterations == 2


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"rows": [0, 0], "cols": [1, 1], "vals": [1.0, 2.0]}, "rows"),
    ({"rows": [0, 5], "cols": [1, 1], "vals": [1.0, 2.0]}, "rows"),
    ({"rows": [0, 1], "cols": [-1, 1], "vals": [1.0, 2.0]}, "cols"),
    ({"rows": [0, 1], "cols": [1, 1], "vals": [1.0, np.nan]}, "values"),
    ({"rows": [0, 1], "cols": [1], "vals": [1.0, 2.0]}, "cols"),
    ({"rows": [0.5, 1], "cols": [1, 1], "vals": [1.0, 2.0]}, "rows"),
    ({"rank": 0}, "rank"),
    ({"rank": 5}, "rank"),
    ({"method": "svd"}, "method"),
    ({"reg": -1.0}, "reg"),
    ({"holdout": 1.0}, "holdout_fraction"),
    ({"maxiter": 0}, "max_iterations"),
    ({"test": ([0], [7], [1.0])}, "test_cols"),
    ({"predict": ([9], [0])}, "predict_rows"),
])
def test_bad_input_names_the_field(kwargs, field):
    args = {"rows": [0, 1, 2], "cols": [0, 1, 2], "vals": [1.0, 2.0, 3.0], "rank": 2}
    args.update(kwargs)
    with pytest.raises(SolverInputError) as err:
        complete(args.pop("rows"), args.pop("cols"), args.pop("vals"), (4, 3), **args)
    assert err.value.field == field


def test_the_default_reg_is_chosen_on_held_out_entries() -> None:
    """The digits matrix (values 0-16) half observed: unregularised altmin at rank 20
    overfits (held-out RMSE 1954); the default picks a ridge on a held-out tenth and
    predicts the unseen half to about the rank-5 fit's error. Exactly low-rank data keep
    reg = 0 and their exact recovery."""
    from sklearn.datasets import load_digits

    D = load_digits().data
    mask = np.random.default_rng(0).random(D.shape) < 0.5
    r, c = np.nonzero(mask)
    tr, tc = np.nonzero(~mask)
    test = (tr, tc, D[~mask])
    unregularised = complete(r, c, D[mask], D.shape, 20, reg=0.0, test=test)
    chosen = complete(r, c, D[mask], D.shape, 20, test=test)
    assert unregularised.holdout_rmse[-1] > 100
    assert chosen.reg > 0 and chosen.holdout_rmse[-1] < 4.0
    _, r2, c2, v2, ur, uc, truth = low_rank(300, 200, 4, ratio=5)
    exact = complete(r2, c2, v2, (300, 200), 4)
    assert exact.reg == 0.0 and relative_error(exact.predict(ur, uc), truth) < 1e-8
