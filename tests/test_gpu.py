"""The CuPy backend: same algorithms, same answers as the CPU. Skipped without a GPU."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse.linalg as spla

from solvers.backend import gpu_status

from problems import convection_diffusion_2d, poisson_2d, relative_residual

GPU = gpu_status()
pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not GPU.available, reason=f"no GPU: {GPU.reason}")]

SPD = poisson_2d(60)
NONSYM = convection_diffusion_2d(60)
B = np.random.default_rng(5).standard_normal(SPD.shape[0])


def _solve(a, b, **kw):
    from solvers.linear import solve

    return solve(a, b, **kw)


@pytest.mark.parametrize("method", ["cg", "minres", "gmres", "bicgstab", "direct"])
@pytest.mark.parametrize("preconditioner", ["none", "jacobi"])
def test_gpu_matches_cpu_spd(method: str, preconditioner: str) -> None:
    gpu = _solve(SPD, B, method=method, preconditioner=preconditioner, rtol=1e-10, device="gpu")
    cpu = _solve(SPD, B, method=method, preconditioner=preconditioner, rtol=1e-10, device="cpu")
    assert gpu.backend == "cupy" and gpu.device == GPU.name
    assert gpu.converged and isinstance(gpu.x, np.ndarray)
    assert relative_residual(SPD, gpu.x, B) <= 1e-10
    x_ref = spla.spsolve(SPD.tocsc(), B)
    assert np.linalg.norm(gpu.x - x_ref) / np.linalg.norm(x_ref) < 1e-7
    # Same algorithm: iteration counts agree up to rounding-order effects.
    assert abs(gpu.iterations - cpu.iterations) <= max(3, cpu.iterations // 20)


@pytest.mark.parametrize("method", ["gmres", "bicgstab", "direct"])
def test_gpu_nonsymmetric(method: str) -> None:
    r = _solve(NONSYM, B, method=method, rtol=1e-10, device="gpu")
    assert r.converged and relative_residual(NONSYM, r.x, B) <= 1e-10


def test_gpu_ilu_if_available() -> None:
    from solvers.backend import gpu_backend
    from solvers.linear.preconditioners import has_ilu

    if not has_ilu(gpu_backend()):
        pytest.skip("this CuPy has no spilu")
    r = _solve(NONSYM, B, method="gmres", preconditioner="ilu", rtol=1e-10, device="gpu")
    assert r.converged and relative_residual(NONSYM, r.x, B) <= 1e-10


def test_gpu_several_rhs_float32_dense() -> None:
    b = np.random.default_rng(2).standard_normal((SPD.shape[0], 3))
    r = _solve(SPD, b, method="cg", rtol=1e-9, device="gpu")
    assert r.converged and r.x.shape == b.shape
    f = _solve(SPD.astype(np.float32), B.astype(np.float32), method="cg", rtol=1e-5,
               device="gpu")
    assert f.precision == "float32" and f.x.dtype == np.float32 and f.converged
    dense = SPD[:300, :300].toarray()
    d = _solve(dense, B[:300], method="direct", device="gpu")
    np.testing.assert_allclose(d.x, np.linalg.solve(dense, B[:300]), rtol=1e-9, atol=1e-12)


def test_gpu_interruptible() -> None:
    from solvers import Interrupted

    calls = []
    with pytest.raises(Interrupted):
        _solve(SPD, B, method="cg", rtol=1e-15, device="gpu",
               should_stop=lambda: "deadline" if calls.append(1) or len(calls) > 5 else None)


def test_gpu_server_end_to_end() -> None:
    from solverd import Client

    from conftest import start_server

    running = start_server("--backend", "gpu")
    try:
        with Client(running.address) as client:
            info = client.info()
            assert info.default_device == "gpu" and info.gpu is not None
            assert info.gpu.memory_total_bytes > 0 and info.gpu.device == GPU.name
            r = client.solve(SPD, B, method="cg", rtol=1e-10)  # device=auto -> GPU
            assert r.info.backend == "cupy" and r.converged
            assert relative_residual(SPD, r.x, B) <= 1e-10
            c = client.solve(SPD, B, method="cg", rtol=1e-10, device="cpu")
            assert c.info.backend == "numpy"
    finally:
        running.stop()


def test_multicolour_sweep_is_sor_in_colour_order() -> None:
    """One GPU sweep equals a natural-order CPU sweep of the colour-permuted system."""
    import cupy
    import scipy.sparse as sp

    from solvers.backend import gpu_backend
    from solvers.linear.sor import csr_for_sweeps, sweep
    from solvers.linear.sor_gpu import MulticolourSweeps

    a = csr_for_sweeps(convection_diffusion_2d(20), np.dtype(np.float64))
    sweeps = MulticolourSweeps(a, gpu_backend(), np.dtype(np.float64))
    order = np.argsort(sweeps.colours, kind="stable")
    perm = sp.csr_matrix(a[order][:, order])
    rng = np.random.default_rng(2)
    x0, b = rng.standard_normal(a.shape[0]), rng.standard_normal(a.shape[0])
    for omega in (1.0, 1.6):
        x_gpu = cupy.asarray(x0)
        sweeps.sweep(cupy.asarray(b), x_gpu, omega)
        x_cpu = x0[order].copy()
        sweep(perm, b[order].copy(), x_cpu, omega)
        np.testing.assert_allclose(x_gpu.get()[order], x_cpu, rtol=1e-12, atol=1e-12)


def test_gpu_sor_and_ssor_cg_converge() -> None:
    r = _solve(SPD, B, method="sor", omega=1.8, rtol=1e-8, device="gpu")
    assert r.backend == "cupy" and r.converged
    assert relative_residual(SPD, r.x, B) <= 1e-8
    cpu = _solve(SPD, B, method="sor", omega=1.8, rtol=1e-8, device="cpu")
    # Red-black keeps the matrix consistently ordered: the natural order's rate (Young).
    assert r.iterations < 1.3 * cpu.iterations
    s = _solve(SPD, B, method="ssor_cg", omega=1.5, rtol=1e-8, device="gpu")
    plain = _solve(SPD, B, method="cg", rtol=1e-8, device="gpu")
    assert s.converged and s.iterations < plain.iterations
    assert relative_residual(SPD, s.x, B) <= 1e-8


def test_gpu_amg_cycle_runs_on_the_device() -> None:
    """PyAMG's hierarchy on the device, a Jacobi V-cycle: symmetric (CG takes it), the
    CPU's answers, a few more iterations than PyAMG's Gauss-Seidel cycle."""
    import cupy
    import pyamg

    from solvers.backend import gpu_backend
    from solvers.linear import amg
    from solvers.linear.amg import AmgOptions
    from solvers.linear.amg_gpu import DeviceCycle

    from problems import darcy_2d, gaussian_random_field

    a = darcy_2d(64, np.exp(gaussian_random_field(64, np.random.default_rng(4)))).tocsr()
    cycle = DeviceCycle(amg.build(a, "cg"), gpu_backend(), np.dtype(np.float64))
    rng = np.random.default_rng(5)
    u, v = (cupy.asarray(rng.standard_normal(a.shape[0])) for _ in range(2))
    assert float(cupy.dot(u, cycle(v))) == pytest.approx(float(cupy.dot(v, cycle(u))), rel=1e-10)
    assert float(cupy.dot(u, cycle(u))) > 0
    for method, matrix in (("cg", a), ("gmres", NONSYM)):
        rhs = np.ones(matrix.shape[0])
        gpu = _solve(matrix, rhs, method=method, preconditioner="amg", rtol=1e-10, device="gpu")
        cpu = _solve(matrix, rhs, method=method, preconditioner="amg", rtol=1e-10, device="cpu")
        assert gpu.converged and gpu.backend == "cupy"
        assert relative_residual(matrix, gpu.x, rhs) <= 1e-10
        assert gpu.iterations <= 2 * cpu.iterations + 2
    elastic, modes = pyamg.gallery.linear_elasticity((40, 40), format="csr")
    rhs = np.ones(elastic.shape[0])
    r = _solve(elastic, rhs, method="cg", preconditioner="amg", rtol=1e-10, device="gpu",
               amg_options=AmgOptions(near_nullspace=modes))
    assert r.converged and r.iterations < 30 and relative_residual(elastic, r.x, rhs) <= 1e-10


def _nvmath_importable() -> bool:
    import importlib.util

    return importlib.util.find_spec("nvmath") is not None


def test_gpu_direct_says_which_factorisation_ran(monkeypatch) -> None:
    from solvers.linear import direct

    r = _solve(NONSYM, B, method="direct", rtol=1e-10, device="gpu")
    assert r.extra["direct_solver"] == ("cudss" if _nvmath_importable() else "cupyx-splu")
    assert r.converged and relative_residual(NONSYM, r.x, B) <= 1e-10
    monkeypatch.setattr(direct, "_cudss_importable", lambda: False)
    r = _solve(NONSYM, B, method="direct", rtol=1e-10, device="gpu")
    assert r.extra["direct_solver"] == "cupyx-splu"
    assert r.converged and relative_residual(NONSYM, r.x, B) <= 1e-10


def test_gpu_direct_falls_back_to_splu_when_cudss_fails(monkeypatch, caplog) -> None:
    from solvers.linear import direct

    def broken(*args):
        raise OSError("libcudss.so.0: cannot open shared object file")

    monkeypatch.setattr(direct, "_cudss_importable", lambda: True)
    monkeypatch.setattr(direct, "_cudss", broken)
    r = _solve(NONSYM, B, method="direct", rtol=1e-10, device="gpu")
    assert r.extra["direct_solver"] == "cupyx-splu" and r.converged
    assert "cuDSS failed" in caplog.text


def test_gpu_kept_factors_solve_more_right_hand_sides() -> None:
    """The factors kept on the device (cuDSS where nvmath-python imports) answer later
    right-hand sides, of the planned shape or another, and are freed on close."""
    rhs = np.random.default_rng(8).standard_normal((NONSYM.shape[0], 3))
    first = _solve(NONSYM, rhs[:, 0], method="direct", rtol=1e-10, device="gpu",
                   keep_factors=True)
    kept = first.extra["factors"]
    assert kept.on_gpu and kept.which == first.extra["direct_solver"]
    again = _solve(NONSYM, rhs[:, 1], rtol=1e-10, device="gpu", factors=kept)
    wide = _solve(NONSYM, rhs[:, 1:], rtol=1e-10, device="gpu", factors=kept)
    assert again.extra["factors_reused"] and wide.extra["factors_reused"]
    assert relative_residual(NONSYM, again.x, rhs[:, 1]) <= 1e-10
    assert np.linalg.norm(NONSYM @ wide.x - rhs[:, 1:]) <= 1e-10 * np.linalg.norm(rhs[:, 1:])
    kept.close()
    if _nvmath_importable() and "stand-in" in GPU.name:
        from nvmath.sparse.advanced import COUNTS  # the stand-in's books

        assert COUNTS["created"] == COUNTS["freed"]
