"""scripts/gpu-check is what a session with a GPU runs in the few minutes of device time
it has, with no network there. Rehearsed here end to end on the NumPy stand-in for CuPy
at small sizes: every step must finish cleanly, within the file budget that comes back
from the device, and the device run's limits must fit one call."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "gpu-check"
STEPS = ("warm", "tests", "syncs", "recycling-cg", "recycling-gmres", "amg", "transport",
         "regression", "completion", "overhead")


def test_the_device_run_fits_one_call() -> None:
    limits = [int(s) for s in re.findall(r"^step \S+ \S+ (\d+) ", SCRIPT.read_text(), re.M)]
    assert len(limits) == len(STEPS) and sum(limits) <= 540


def test_gpu_check_rehearses_every_step_on_the_standin(tmp_path: Path) -> None:
    """As on the device image, cryptography cannot be imported (it once stopped pytest's
    collection of tests/ before any GPU test ran); the peers' product cap is small
    enough to stop them, as at 1000^2."""
    out = tmp_path / "out"
    blocked = tmp_path / "blocked" / "cryptography"
    blocked.mkdir(parents=True)
    (blocked / "__init__.py").write_text("raise ImportError('not on the device image')\n")
    env = {**os.environ, "SOLVERD_FAKE_GPU": "1", "GPU_CHECK_SIZE": "rehearsal",
           "OUT": str(out), "PYTHON": sys.executable,
           "NUMBA_CACHE_DIR": str(tmp_path / "numba"),
           "PYTHONPATH": os.pathsep.join([str(blocked.parent),
                                          *filter(None, [os.environ.get("PYTHONPATH")])])}
    done = subprocess.run(["bash", str(SCRIPT)], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    files = sorted(p.name for p in out.iterdir())
    assert files == ["bench.txt", "device.txt", "summary.txt", "tests.txt"]  # <= 8 come back
    summary = (out / "summary.txt").read_text()
    for step in STEPS:
        assert re.search(rf"^{step} rc=0 \d+ s$", summary, re.M), summary
    tests = (out / "tests.txt").read_text()
    assert re.search(r"\d+ passed", tests) and "failed" not in tests and " error" not in tests
    bench = (out / "bench.txt").read_text()
    for text in ("recycled_cg, carried", "gcrodr, carried", "syncs/iteration", "POT",
                 "gpu / cpu time", "altmin", "through gRPC", "device memory peak",
                 "capped at 100 products", ">=", "solverd AMG-CG"):
        assert text in bench, text
    assert "not converged" not in bench


def test_a_bench_step_cut_short_keeps_its_finished_rows() -> None:
    """The device run kills a step at its limit: what it measured by then is printed."""
    command = ["timeout", "-s", "KILL", "15", sys.executable, str(ROOT / "bench" / "gpu.py"),
               "--device", "cpu", "recycling", "--grid", "48", "--systems", "4000",
               "--only", "cg"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode in (137, -9)  # killed
    assert re.search(r"cg system 1/4000: [\d.]+ s, \d+ products", done.stdout), done.stdout
