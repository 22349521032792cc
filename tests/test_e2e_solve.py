"""Real solves through a real server process, checked against scipy's spsolve."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from solverd import AsyncClient, Client, FailedPrecondition

from problems import convection_diffusion_2d, poisson_2d, relative_residual

K = 100  # n = 10^4
SPD = poisson_2d(K)
NONSYM = convection_diffusion_2d(K)
RNG = np.random.default_rng(11)
B = RNG.standard_normal(K * K)
X_SPD = spla.spsolve(SPD.tocsc(), B)
X_NONSYM = spla.spsolve(NONSYM.tocsc(), B)


def _check(r, a, x_ref, rtol: float) -> None:
    assert r.converged, r.info.stop_reason
    own = relative_residual(a, r.x, B)
    assert own <= rtol
    assert r.residual_norm == pytest.approx(own, rel=1e-6, abs=1e-16)
    # cond(A) ~ 6e3 for the SPD case: the error bound is cond * rtol.
    assert np.linalg.norm(r.x - x_ref) / np.linalg.norm(x_ref) < 1e-6


@pytest.mark.parametrize("method", ["cg", "minres", "gmres", "bicgstab", "direct", "auto"])
def test_spd_poisson_each_method(client: Client, method: str) -> None:
    r = client.solve(SPD, B, method=method, rtol=1e-10)
    _check(r, SPD, X_SPD, 1e-10)
    assert r.method == (method if method != "auto" else "direct")
    assert r.info.backend == "numpy" and r.info.device == "cpu"
    assert r.x.dtype == np.float64 and r.x.shape == B.shape


@pytest.mark.parametrize("method", ["gmres", "bicgstab", "direct", "auto"])
@pytest.mark.parametrize("preconditioner", ["none", "jacobi", "ilu"])
def test_nonsymmetric_convection_diffusion(client: Client, method: str,
                                           preconditioner: str) -> None:
    r = client.solve(NONSYM, B, method=method, preconditioner=preconditioner, rtol=1e-10)
    _check(r, NONSYM, X_NONSYM, 1e-10)


def test_info_timings_are_filled(client: Client) -> None:
    r = client.solve(SPD, B, method="cg", rtol=1e-8)
    i = r.info
    assert i.compute_seconds > 0 and i.decode_seconds > 0 and i.encode_seconds > 0
    assert i.queue_seconds >= 0
    assert i.round_trip_seconds >= i.compute_seconds
    assert r.iterations > 10 and r.matvecs >= r.iterations


def test_coo_and_dense_inputs(client: Client) -> None:
    r = client.solve(SPD.tocoo(), B, method="cg", rtol=1e-10)
    _check(r, SPD, X_SPD, 1e-10)
    small = SPD[:300, :300].toarray()
    rd = client.solve(small, B[:300], method="direct")
    assert rd.converged
    np.testing.assert_allclose(rd.x, np.linalg.solve(small, B[:300]), rtol=1e-10)


def test_several_right_hand_sides(client: Client) -> None:
    b = RNG.standard_normal((K * K, 3))
    for method in ("cg", "direct"):
        r = client.solve(SPD, b, method=method, rtol=1e-10)
        assert r.x.shape == b.shape and r.converged
        assert len(r.column_iterations) == 3
        np.testing.assert_allclose(r.x, spla.spsolve(SPD.tocsc(), b), rtol=1e-6, atol=1e-8)


def test_float32_round_trip(client: Client) -> None:
    r = client.solve(SPD.astype(np.float32), B.astype(np.float32), method="cg", rtol=1e-4)
    assert r.info.precision == "float32" and r.x.dtype == np.float32 and r.converged


def test_non_convergence_is_a_result_over_the_wire(client: Client) -> None:
    r = client.solve(SPD, B, method="cg", rtol=1e-12, max_iterations=3)
    assert not r.converged and r.iterations == 3 and r.info.stop_reason == "max_iterations"


def test_unsorted_duplicate_csr_entries_are_summed(client: Client) -> None:
    """The same matrix as CSR arrays with each diagonal entry split in two and every
    row's entries in random order. (Built from triplets, SciPy would have summed the
    duplicates on the client; this one reached the server's canonicalisation, which
    had written into the request's read-only buffer: INTERNAL.)"""
    csr = SPD.tocsr()
    data, indices, indptr = [], [], [0]
    for i in range(csr.shape[0]):
        cols = csr.indices[csr.indptr[i]:csr.indptr[i + 1]]
        vals = np.where(cols == i, csr.data[csr.indptr[i]:csr.indptr[i + 1]] - 1.0,
                        csr.data[csr.indptr[i]:csr.indptr[i + 1]])
        row_cols, row_vals = np.r_[cols, i], np.r_[vals, 1.0]
        order = RNG.permutation(row_cols.size)
        indices.append(row_cols[order])
        data.append(row_vals[order])
        indptr.append(indptr[-1] + row_cols.size)
    messy = sp.csr_matrix((np.concatenate(data), np.concatenate(indices), np.array(indptr)),
                          shape=SPD.shape)
    assert not messy.has_canonical_format
    for method in ("direct", "cg"):
        r = client.solve(messy, B, method=method, rtol=1e-10)
        assert r.converged
        assert np.linalg.norm(r.x - X_SPD) <= 1e-8 * np.linalg.norm(X_SPD)


def test_gpu_request_on_cpu_server_fails_precondition(client: Client) -> None:
    with pytest.raises(FailedPrecondition, match="GPU"):
        client.solve(SPD, B, device="gpu")


def test_info(client: Client) -> None:
    info = client.info()
    assert info.version == "0.1.0"
    assert info.default_device == "cpu"
    names = {b.name: b for b in info.backends}
    assert names["numpy"].available and "ilu" in names["numpy"].preconditioners
    assert not names["cupy"].available and names["cupy"].reason
    assert info.limits["max_message_bytes"] == 256 * 1024 * 1024
    assert "gmres" in info.methods and info.blas_threads >= 1


def test_async_client(server) -> None:
    async def main() -> list:
        async with AsyncClient(server.address) as client:
            return await asyncio.gather(*(client.solve(SPD, B * (i + 1), method="cg", rtol=1e-10)
                                          for i in range(4)))

    for i, r in enumerate(asyncio.run(main())):
        assert r.converged
        x_ref = X_SPD * (i + 1)
        assert np.linalg.norm(r.x - x_ref) / np.linalg.norm(x_ref) < 1e-6
