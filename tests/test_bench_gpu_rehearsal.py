"""bench/gpu.py is what a session with a GPU runs (through scripts/gpu-check) in the few
minutes of device time it has: its --device cpu rehearsal runs the same code on NumPy
and SciPy, so a change that breaks it shows here and not on the device. Nothing timed
is asserted."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(("what", "size", "expect"), [
    ("recycling", ["--grid", "24", "--systems", "3"], ["gcrodr, carried", "recycled_cg, carried"]),
    ("transport", ["--points", "200", "--regs", "1e-2"], ["converged True"]),
    ("regression", ["--rows", "400", "--features", "150"], ["converged True", "cpu / cpu time"]),
])
def test_gpu_bench_rehearses_on_the_cpu(what: str, size: list[str], expect: list[str]) -> None:
    result = subprocess.run([sys.executable, str(ROOT / "bench" / "gpu.py"), "--device", "cpu",
                             what, *size], capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stderr
    for text in expect:
        assert text in result.stdout, result.stdout
    assert "not converged" not in result.stdout
