"""Matrix completion on the CuPy backend: the same answers as the CPU. Skipped
without a GPU."""

from __future__ import annotations

import numpy as np
import pytest
from completion_problems import low_rank, relative_error

from solvers.backend import CPU, gpu_status
from solvers.completion import complete

GPU = gpu_status()
pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not GPU.available, reason=f"no GPU: {GPU.reason}")]


@pytest.mark.parametrize("options", [
    {}, {"row_solver": "sketch"}, {"center": "biases", "reg": 1e-3},
    {"method": "softimpute_als", "reg": 1.0, "maxiter": 50},
])
def test_gpu_matches_cpu(options) -> None:
    from solvers.backend import gpu_backend

    _, r, c, v, ur, uc, truth = low_rank(400, 300, 5, ratio=5)
    gpu = complete(r, c, v, (400, 300), 5, backend=gpu_backend(), test=(ur, uc, truth),
                   **options)
    cpu = complete(r, c, v, (400, 300), 5, backend=CPU, test=(ur, uc, truth), **options)
    assert gpu.backend == "cupy" and gpu.iterations == pytest.approx(cpu.iterations, abs=2)
    if not options:
        assert relative_error(gpu.predict(ur, uc), truth) < 1e-8
    np.testing.assert_allclose(gpu.holdout_rmse[-1], cpu.holdout_rmse[-1], rtol=0.05,
                               atol=1e-9)
