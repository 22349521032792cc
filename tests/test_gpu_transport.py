"""Entropic transport on the CuPy backend: the CPU's answers, host arrays out, and every
service over gRPC on a GPU server. Skipped without a GPU (run on the stand-in in CI)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from solvers.backend import CPU, gpu_status
from solvers.transport import transport

GPU = gpu_status()
pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not GPU.available, reason=f"no GPU: {GPU.reason}")]

RNG = np.random.default_rng(11)
X, Y = RNG.random((160, 2)), RNG.random((120, 2))


def _both(**kwargs):
    from solvers.backend import gpu_backend

    return (transport(backend=gpu_backend(), **kwargs), transport(backend=CPU, **kwargs))


@pytest.mark.parametrize(("method", "reg", "extra"), [
    ("sinkhorn", 1e-2, {}), ("sinkhorn_eps", 1e-3, {}), ("sns", 1e-3, {}),
    ("sinkhorn", 5e-2, {"reg_m": 0.5}), ("sinkhorn_eps", 1e-2, {"reg_m": 2.0})])
@pytest.mark.parametrize("plan", ["dense", "sparse", "none"])
def test_gpu_transport_matches_cpu(method: str, reg: float, extra: dict, plan: str) -> None:
    a = RNG.random(160)
    a[:4] = 0.0  # massless points take the embedding branch
    a /= a.sum()
    gpu, cpu = _both(a=a, b=None, X=X, Y=Y, scale="max", reg=reg, method=method, plan=plan,
                     **extra)
    assert gpu.backend == "cupy" and gpu.converged and cpu.converged
    assert gpu.cost == pytest.approx(cpu.cost, rel=1e-8)
    assert gpu.objective == pytest.approx(cpu.objective, rel=1e-8, abs=1e-12)
    assert isinstance(gpu.f, np.ndarray) and isinstance(gpu.g, np.ndarray)
    np.testing.assert_allclose(gpu.f, cpu.f, atol=1e-7 * max(1.0, abs(cpu.f).max()))
    if plan == "dense":
        assert isinstance(gpu.plan, np.ndarray)
        np.testing.assert_allclose(gpu.plan, cpu.plan, atol=1e-9)
    elif plan == "sparse":
        assert sp.issparse(gpu.plan) and gpu.plan.nnz == cpu.plan.nnz
    if "reg_m" not in extra:
        assert gpu.marginal_error_a <= 1e-8 and gpu.marginal_error_b <= 1e-8


def test_gpu_transport_from_a_cost_matrix_and_exact_on_the_host() -> None:
    M = ((X[:, None, :] - Y[None, :, :]) ** 2).sum(-1)
    gpu, cpu = _both(a=None, b=None, M=M, reg=1e-2 * M.max(), method="sinkhorn")
    assert gpu.converged and gpu.cost == pytest.approx(cpu.cost, rel=1e-9)
    exact, exact_cpu = _both(a=None, b=None, M=M, reg=0.0)
    assert exact.method == "exact" and exact.device == "cpu"
    assert exact.cost == pytest.approx(exact_cpu.cost, rel=1e-12)


def test_every_service_on_a_gpu_server() -> None:
    """Transport, completion and regression over gRPC with --backend gpu: device=auto
    runs them on the device and the answers check out on the host."""
    from completion_problems import low_rank, relative_error
    from regression_problems import sparse_truth

    from solverd import Client

    from conftest import start_server

    running = start_server("--backend", "gpu")
    try:
        with Client(running.address, timeout=120) as client:
            r = client.transport(None, None, X=X, Y=Y, scale="max", reg=1e-2)
            cpu = transport(None, None, X=X, Y=Y, scale="max", reg=1e-2, backend=CPU)
            assert r.info.backend == "cupy" and r.converged
            assert r.cost == pytest.approx(cpu.cost, rel=1e-8)
            _, rows, cols, vals, ur, uc, truth = low_rank(200, 150, 4, ratio=5)
            c = client.complete(rows, cols, vals, (200, 150), 4)
            assert c.info.backend == "cupy" and c.converged
            assert relative_error(c.predict(ur, uc), truth) < 1e-6
            Xr, y, _ = sparse_truth(200, 400, 8, sparse=False, offset=1.0)
            f = client.lasso(Xr, y, alpha=0.05, tol=1e-8)
            assert f.info.backend == "cupy" and f.converged
    finally:
        running.stop()
