"""Sparse regression on the CuPy backend (X products on the device, working-set
solves on the host): the same objective as the CPU. Skipped without a GPU."""

from __future__ import annotations

import numpy as np
import pytest
from regression_problems import labels, sparse_truth

from solvers.backend import CPU, gpu_status
from solvers.regression import alpha_max, fit

GPU = gpu_status()
pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not GPU.available, reason=f"no GPU: {GPU.reason}")]


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("loss", ["squared", "logistic"])
def test_gpu_matches_cpu(sparse, loss) -> None:
    from solvers.backend import gpu_backend

    if loss == "squared":
        X, y, _ = sparse_truth(300, 800, 10, sparse=sparse, offset=1.0)
    else:
        X, y, _ = labels(300, 800, 10)
    a = alpha_max(X, y, loss=loss) / 20
    gpu = fit(X, y, a, loss=loss, backend=gpu_backend(), tol=1e-10)
    cpu = fit(X, y, a, loss=loss, backend=CPU, tol=1e-10)
    assert gpu.converged and gpu.backend == "cupy"
    assert gpu.primal == pytest.approx(cpu.primal, rel=1e-9)
    assert np.abs(gpu.coef - cpu.coef).max() < 1e-6
