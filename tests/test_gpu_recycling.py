"""Krylov recycling on the CuPy backend: GCRO-DR and deflated CG give the CPU's answers
in about the CPU's products, carry a device-resident space from system to system, take a
host space (from a CPU solve or a client) and serve SolveBatch. Skipped without a GPU."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse.linalg as spla

from solvers.backend import gpu_status

from problems import darcy_2d, gaussian_random_field

GPU = gpu_status()
pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not GPU.available, reason=f"no GPU: {GPU.reason}")]

RNG = np.random.default_rng(8)
MATS = [darcy_2d(32, np.exp(0.5 * gaussian_random_field(32, RNG))) for _ in range(5)]
SKEW = [darcy_2d(32, np.exp(0.5 * gaussian_random_field(32, RNG)), skew=True)
        for _ in range(4)]
B = np.ones(MATS[0].shape[0])


def _sequence(mats: list, method: str, device: str, preconditioner: str = "none") -> list:
    from solvers.linear import solve

    space, results = None, []
    for a in mats:
        r = solve(a, B, method=method, rtol=1e-9, recycle=10, restart=30, device=device,
                  preconditioner=preconditioner, recycle_space=space)
        x_ref = spla.spsolve(a.tocsc(), B)
        assert r.converged and np.linalg.norm(r.x - x_ref) <= 1e-6 * np.linalg.norm(x_ref)
        assert r.extra["recycled"] == (space is not None)
        space = r.extra["recycle_space"]
        results.append(r)
    return results


@pytest.mark.parametrize("method,preconditioner,mats", [
    ("gcrodr", "none", MATS), ("gcrodr", "jacobi", SKEW), ("recycled_cg", "none", MATS),
    ("recycled_cg", "jacobi", MATS)])
def test_gpu_sequence_matches_cpu(method: str, preconditioner: str, mats: list) -> None:
    import cupy

    gpu = _sequence(mats, method, "gpu", preconditioner)
    cpu = _sequence(mats, method, "cpu", preconditioner)
    assert all(r.backend == "cupy" for r in gpu)
    space = gpu[-1].extra["recycle_space"]
    assert isinstance(space.u, cupy.ndarray) and isinstance(space.c, cupy.ndarray)
    # Same algorithm; rounding order differs (and the CPU's deflated CG is the compiled
    # loop), so products agree to a few percent, and the carried space pays on both.
    for g, c in zip(gpu, cpu, strict=True):
        assert abs(g.matvecs - c.matvecs) <= max(4, c.matvecs // 10)
    assert np.mean([r.matvecs for r in gpu[2:]]) < 0.8 * gpu[0].matvecs


def test_gpu_space_satisfies_its_invariants() -> None:
    from solvers.linear import solve

    r = solve(SKEW[0], B, method="gcrodr", rtol=1e-9, recycle=10, restart=30, device="gpu")
    space = r.extra["recycle_space"]
    u, c = space.u.get(), space.c.get()
    np.testing.assert_allclose(c @ c.T, np.eye(space.k), atol=1e-8)
    np.testing.assert_allclose((SKEW[0] @ u.T).T, c, atol=1e-8 * abs(c).max())
    d = solve(MATS[0], B, method="recycled_cg", rtol=1e-9, recycle=10, device="gpu")
    du, dc = d.extra["recycle_space"].u.get(), d.extra["recycle_space"].c.get()
    np.testing.assert_allclose((MATS[0] @ du.T).T, dc, atol=1e-7 * abs(dc).max())


@pytest.mark.parametrize("method", ["gcrodr", "recycled_cg"])
def test_gpu_takes_a_host_space_and_the_same_matrix(method: str) -> None:
    from solvers.linear import solve

    host = solve(MATS[0], B, method=method, rtol=1e-9, recycle=10, device="cpu")
    fresh = solve(MATS[1], B, method=method, rtol=1e-9, recycle=10, device="gpu")
    moved = solve(MATS[1], B, method=method, rtol=1e-9, recycle=10, device="gpu",
                  recycle_space=host.extra["recycle_space"])
    assert moved.converged and moved.extra["recycle_setup_matvecs"] == 10
    assert moved.matvecs < fresh.matvecs
    b2 = np.random.default_rng(1).standard_normal(B.shape[0])
    same = solve(MATS[1], b2, method=method, rtol=1e-9, recycle=10, device="gpu",
                 recycle_space=moved.extra["recycle_space"], same_matrix=True)
    assert same.converged and same.extra["recycle_setup_matvecs"] == 0
    assert np.linalg.norm(b2 - MATS[1] @ same.x) <= 1e-9 * np.linalg.norm(b2)


def test_gpu_float32_recycling_converges_to_its_precision() -> None:
    from solvers.linear import solve

    space = None
    for a in MATS[:3]:
        r = solve(a, B, method="recycled_cg", rtol=1e-5, recycle=10, device="gpu",
                  precision="float32", recycle_space=space)
        assert r.converged and np.linalg.norm(B - a @ r.x) <= 1e-5 * np.linalg.norm(B)
        space = r.extra["recycle_space"]


def test_gpu_solve_batch_over_grpc() -> None:
    from solverd import Client

    from conftest import start_server

    running = start_server("--backend", "gpu")
    try:
        with Client(running.address) as client:
            for method in ("gcrodr", "recycled-cg"):
                results = client.solve_batch(MATS, B, method=method, rtol=1e-9, recycle=10)
                for a, r in zip(MATS, results, strict=True):
                    assert r.converged and r.info.backend == "cupy"
                    assert np.linalg.norm(B - a @ r.x) <= 1e-9 * np.linalg.norm(B)
                assert sum(r.recycled for r in results) == len(MATS) - 1
            first = client.solve(MATS[0], B, method="gcrodr", rtol=1e-9, recycle=10,
                                 return_recycle_space=True)
            second = client.solve(MATS[1], B, method="gcrodr", rtol=1e-9, recycle=10,
                                  recycle_space=first.recycle_space)
            assert second.recycled and second.converged and second.matvecs < first.matvecs
    finally:
        running.stop()


@pytest.mark.parametrize("method", ["gcrodr", "recycled_cg"])
def test_a_device_space_moves_to_a_cpu_solve(method: str) -> None:
    from solvers.linear import solve

    gpu = solve(MATS[0], B, method=method, rtol=1e-9, recycle=10, device="gpu")
    fresh = solve(MATS[1], B, method=method, rtol=1e-9, recycle=10, device="cpu")
    cpu = solve(MATS[1], B, method=method, rtol=1e-9, recycle=10, device="cpu",
                recycle_space=gpu.extra["recycle_space"])
    assert cpu.backend == "numpy" and cpu.converged and cpu.extra["recycled"]
    assert isinstance(cpu.extra["recycle_space"].u, np.ndarray)
    assert cpu.matvecs < fresh.matvecs


def test_a_stream_that_switches_device_keeps_recycling() -> None:
    """SolveSequence lets each message pick its device; the space the stream keeps moves
    with it (a device space once reached numpy.asarray: INTERNAL)."""
    from solverd import Client

    from conftest import start_server

    running = start_server("--backend", "gpu")
    try:
        with Client(running.address) as client, \
                client.sequence(method="gcrodr", recycle=10, rtol=1e-9, stream=True) as seq:
            results = []
            # The Python client fixes a stream's options; other clients may change the
            # device message by message, as this does.
            for a, device in zip(MATS, ("gpu", "cpu", "gpu", "cpu"), strict=False):
                seq._fixed["device"] = device
                results.append(seq.solve(a, B))
            for a, r, device in zip(MATS, results, ("cupy", "numpy", "cupy", "numpy"),
                                    strict=False):
                assert r.converged and r.info.backend == device
                assert np.linalg.norm(B - a @ r.x) <= 1e-9 * np.linalg.norm(B)
            assert all(r.recycled for r in results[1:])
    finally:
        running.stop()
