"""What the GPU paths cost the host and the device, counted on the stand-in (CPU lane):
host synchronisations per iteration (each stalls the launch queue for tens of
microseconds) and device memory peaks (what decides the largest problem a device
takes). The figures are properties of the code, the same on a real device."""

from __future__ import annotations

import numpy as np
import pytest

import gpu_lane
from problems import convection_diffusion_2d, poisson_2d

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not gpu_lane.on_standin(), reason="counted on the stand-in")]

SPD = poisson_2d(40)
NONSYM = convection_diffusion_2d(40)
B = np.random.default_rng(3).standard_normal(SPD.shape[0])


def _syncs_per_iteration(run) -> tuple[float, int]:
    before = gpu_lane.host_syncs()
    iterations = run()
    return (gpu_lane.host_syncs() - before) / iterations, iterations


def _linear(a, method: str, preconditioner: str):
    from solvers.linear import solve

    def run() -> int:
        r = solve(a, B, method=method, preconditioner=preconditioner, rtol=1e-10,
                  device="gpu")
        assert r.converged
        return r.iterations

    return run


@pytest.mark.parametrize(("method", "preconditioner", "matrix", "bound"), [
    ("cg", "none", SPD, 1.0), ("cg", "jacobi", SPD, 1.0), ("minres", "none", SPD, 1.0),
    ("bicgstab", "none", NONSYM, 2.0), ("bicgstab", "jacobi", NONSYM, 2.0),
    ("recycled_cg", "none", SPD, 1.0), ("recycled_cg", "jacobi", SPD, 1.0),
    ("cg", "amg", SPD, 1.0),  # the cycle itself reads nothing back
    ("gmres", "none", NONSYM, 1.0 + 1 / 30)])  # and one a restart (||r||)
def test_krylov_host_syncs_per_iteration(method, preconditioner, matrix, bound) -> None:
    per, iterations = _syncs_per_iteration(_linear(matrix, method, preconditioner))
    assert iterations > 20 or preconditioner == "amg"  # AMG-CG takes ~10
    # The loop's own reads, plus a constant for setup and the true-residual check.
    assert per <= bound + 12 / iterations, per


@pytest.mark.parametrize("extra", [{}, {"reg_m": 1.0}])
def test_sinkhorn_reads_the_host_once_an_iteration(extra) -> None:
    from solvers.backend import gpu_backend
    from solvers.transport import transport

    rng = np.random.default_rng(0)
    X, Y = rng.random((120, 2)), rng.random((100, 2))

    def run() -> int:
        r = transport(None, None, X=X, Y=Y, scale="max", reg=1e-2, method="sinkhorn",
                      plan="none", backend=gpu_backend(), **extra)
        assert r.converged
        return r.iterations["sinkhorn"]

    per, iterations = _syncs_per_iteration(run)
    assert iterations > 100 and per <= 1.0 + 30 / iterations, per


def test_kernels_take_host_scalars_without_uploads() -> None:
    """A scalar given to a fused kernel goes in as an argument: no device array is made
    for it (each was an allocation and a host-to-device copy per call)."""
    import cupy

    from solvers.linear.krylov import axpy

    x, y = cupy.ones(1000), cupy.zeros(1000)
    with gpu_lane.device_memory() as held:
        for _ in range(10):
            axpy(cupy, 0.5, x, y)
    assert held["peak"] == 0 and float(y[0]) == 5.0


def test_entropic_transport_peaks_at_two_cost_sized_arrays(monkeypatch) -> None:
    """M and the kernel K are n x m each; nothing else of that size lives at once (the
    finish and epsilon scaling's stages made 4-5 more). Blocks of rows are what the
    finish and Newton steps add: made small here, as they are next to a large M."""
    from solvers.backend import gpu_backend
    from solvers.transport import newton, transport

    monkeypatch.setattr(newton, "BLOCK_ENTRIES", 4000)
    rng = np.random.default_rng(1)
    n, m = 300, 400
    X, Y = rng.random((n, 2)), rng.random((m, 2))
    cost_bytes = n * m * 8
    for method, reg in (("sinkhorn", 1e-2), ("sinkhorn_eps", 1e-3), ("sns", 1e-3)):
        for plan in ("dense", "sparse", "none"):
            with gpu_lane.device_memory() as held:
                r = transport(None, None, X=X, Y=Y, scale="max", reg=reg, method=method,
                              plan=plan, backend=gpu_backend())
            assert r.converged
            assert held["peak"] <= 2.25 * cost_bytes, (method, plan,
                                                      held["peak"] / cost_bytes)


def test_a_float32_lasso_design_holds_no_float64_copy_of_x(monkeypatch) -> None:
    from solvers.backend import gpu_backend
    from solvers.regression import alpha_max, design, fit

    monkeypatch.setattr(design, "COLUMN_BLOCK_ENTRIES", 60_000)  # small, as next to a large X
    rng = np.random.default_rng(2)
    X = rng.standard_normal((600, 2000), dtype=np.float32)
    y = X[:, :10] @ rng.standard_normal(10).astype(np.float32) + 0.1 * rng.standard_normal(600)
    with gpu_lane.device_memory() as held:
        r = fit(X, y, alpha_max(X, y) / 20, backend=gpu_backend(), tol=1e-6)
    assert r.converged
    assert held["peak"] <= 1.25 * X.nbytes, held["peak"] / X.nbytes
