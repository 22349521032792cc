"""GPU out of memory: that request alone gets RESOURCE_EXHAUSTED, and once memory is
there again the next request succeeds. Skipped without a GPU."""

from __future__ import annotations

import numpy as np
import pytest
from test_faults import InProcessServer

from solverd import Client, ResourceExhausted
from solvers.backend import gpu_status

GPU = gpu_status()
pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not GPU.available, reason=f"no GPU: {GPU.reason}")]


def test_out_of_device_memory_fails_one_request_only() -> None:
    import cupy

    server = InProcessServer(backend="gpu")
    pool = cupy.get_default_memory_pool()
    try:
        n = 4000  # a dense float64 A is 128 MB on the device
        rng = np.random.default_rng(0)
        a = rng.standard_normal((n, n)) / np.sqrt(n) + 4 * np.eye(n)
        b = rng.standard_normal(n)
        with Client(server.address) as client:
            pool.set_limit(size=32 * 2**20)
            with pytest.raises(ResourceExhausted) as info:
                client.solve(a, b, method="gmres", device="gpu", rtol=1e-8)
            assert "out of memory" in str(info.value).lower()
            assert info.value.retry_delay and info.value.retry_delay > 0
            pool.set_limit(size=0)  # no limit: the memory is there again
            result = client.solve(a, b, method="gmres", device="gpu", rtol=1e-8)
        assert result.converged and result.info.backend == "cupy"
        assert np.linalg.norm(a @ result.x - b) <= 1e-7 * np.linalg.norm(b)
    finally:
        pool.set_limit(size=0)
        server.close()
