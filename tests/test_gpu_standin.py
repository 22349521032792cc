"""The NumPy stand-in for CuPy (tests/standin) is honest: it refuses what CuPy refuses,
types kernels as CuPy does, counts what it claims to count, and a wrong GPU branch
fails the lane. Runs in the stand-in lane (SOLVERD_FAKE_GPU=1 ./dev test -m gpu); the
guard tests at the end run everywhere."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import gpu_lane

ROOT = Path(__file__).resolve().parent.parent


def standin(test):
    """A GPU-lane test that checks the stand-in itself: skipped on a real device."""
    skip = pytest.mark.skipif(not gpu_lane.on_standin(), reason="checks the stand-in only")
    return pytest.mark.gpu(skip(test))


@standin
def test_no_implicit_host_conversion_and_no_host_arrays_in_device_work() -> None:
    import cupy

    x = cupy.arange(4.0)
    host = np.ones(4)
    with pytest.raises(TypeError, match="Implicit conversion"):
        np.asarray(x)
    with pytest.raises(TypeError):
        x + host
    with pytest.raises(TypeError):
        host * x
    with pytest.raises(TypeError):
        cupy.dot(host, x)
    with pytest.raises(TypeError):
        cupy.concatenate([x, host])
    with pytest.raises(TypeError):
        x[:] = host
    x[:] = cupy.asarray(host)  # an explicit upload is fine
    np.testing.assert_array_equal(x.get(), host)
    with pytest.raises(AttributeError):
        cupy.errstate  # noqa: B018  (NumPy has it, CuPy does not)


@standin
def test_device_results_stay_on_the_device() -> None:
    import cupy

    x = cupy.arange(6.0).reshape(2, 3)
    for value in (x.sum(), cupy.dot(x[0], x[1]), x[1, 2], cupy.linalg.norm(x), x.max()):
        assert isinstance(value, cupy.ndarray) and value.shape == ()
    slots = cupy.zeros((2, 3))
    cell = slots[1][2]  # a 0-d view, as CuPy's: dot(out=) and kernels write through it
    cupy.dot(x[0], x[1], out=cell)
    assert slots.get()[1, 2] == 14.0
    host = np.empty(2)
    assert x[0, :2].get(out=host) is host and host.tolist() == [0.0, 1.0]
    with pytest.raises(TypeError):
        cupy.asarray(np.zeros(2, dtype=np.float128 if hasattr(np, "float128") else object))


@standin
def test_kernels_follow_cupys_type_rules_and_c_arithmetic() -> None:
    import cupy

    axpy = cupy.ElementwiseKernel("T a, T x", "T y", "y += a * x", "t_axpy")
    y = cupy.ones(3)
    axpy(2.0, cupy.arange(3.0), y)  # a Python scalar is cast to T
    assert y.get().tolist() == [1.0, 3.0, 5.0]
    with pytest.raises(TypeError, match="mismatched"):
        axpy(cupy.asarray(2.0, dtype=np.float32), cupy.arange(3.0), y)
    with pytest.raises(TypeError):
        axpy(2.0, np.arange(3.0), y)  # host array
    with pytest.raises(ValueError, match="Out shape"):
        axpy(2.0, cupy.ones((2, 3)), cupy.ones(3))
    rows = cupy.ElementwiseKernel("int32 r, T v", "raw T x", "x[r] += v", "t_scatter")
    x = cupy.zeros(5)
    rows(cupy.asarray(np.array([4, 1], dtype=np.int32)), cupy.asarray([1.0, 2.0]), x)
    assert x.get().tolist() == [0.0, 2.0, 0.0, 0.0, 1.0]
    with pytest.raises(TypeError, match="mismatched"):
        rows(cupy.asarray(np.array([4, 1], dtype=np.int64)), cupy.asarray([1.0, 2.0]), x)
    c = cupy.ElementwiseKernel("T a, T b", "T q", "q = a / b * 2.0", "t_div")
    q = c(cupy.asarray(np.array([7, -7], dtype=np.int32)), cupy.asarray(
        np.array([2, 2], dtype=np.int32)))
    assert q.dtype == np.int32 and q.get().tolist() == [6, -6]  # C truncates toward zero
    with pytest.raises(NotImplementedError):
        cupy.ElementwiseKernel("T a", "T b", "b = a > 0 ? a : 0", "t_ternary")


@standin
def test_syncs_and_device_memory_are_counted() -> None:
    import cupy

    before = gpu_lane.host_syncs()
    x = cupy.arange(10.0)
    s = x.sum()
    assert gpu_lane.host_syncs() == before  # device work alone never syncs
    float(s)
    x.get()
    bool(s > 0)
    cupy.cuda.get_current_stream().synchronize()
    assert gpu_lane.host_syncs() == before + 4
    with gpu_lane.device_memory() as held:
        big = cupy.zeros((100, 100))
        view = big[10:20]
        del view
        big2 = big * 2
        del big, big2
    assert held["peak"] == 2 * 100 * 100 * 8  # a view costs nothing
    pool = cupy.get_default_memory_pool()
    pool.set_limit(size=pool.used_bytes() + 1000)
    try:
        with pytest.raises(MemoryError) as info:
            cupy.zeros(1000)
        assert type(info.value).__module__ == "cupy.cuda.memory"
    finally:
        pool.set_limit(size=0)


@standin
def test_a_wrong_gpu_kernel_fails_the_lane() -> None:
    """The fused CG kernel with one sign flipped: the GPU test that passes on the true
    kernel fails on the mutant."""
    test = "tests/test_gpu.py::test_gpu_matches_cpu_spd[none-cg]"
    base = {**os.environ, "SOLVERD_FAKE_GPU": "1"}
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "gpu",
               test]
    good = subprocess.run(command, cwd=ROOT, env=base, capture_output=True, text=True,
                          timeout=240)
    assert good.returncode == 0, good.stdout[-2000:]
    flipped = {**base, "SOLVERD_STANDIN_MUTATE": "r -= alpha * q=>r += alpha * q"}
    mutant = subprocess.run(command, cwd=ROOT, env=flipped, capture_output=True, text=True,
                            timeout=240)
    assert mutant.returncode == 1 and "1 failed" in mutant.stdout, mutant.stdout[-2000:]


def test_the_standin_never_loads_without_being_asked() -> None:
    """On the path by accident, it refuses to import, so a server never mistakes NumPy
    for a GPU; and nothing that ships (the image, the package) carries it."""
    env = {k: v for k, v in os.environ.items() if k != "SOLVERD_FAKE_GPU"}
    env["PYTHONPATH"] = os.pathsep.join([str(gpu_lane.STANDIN), str(ROOT)])
    probe = ("from solvers.backend import gpu_status; s = gpu_status(); "
             "print(s.available, s.name, s.reason)")
    out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True,
                         text=True, timeout=120, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("False"), out.stdout
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "COPY tests" not in dockerfile
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert 'include = ["solvers*", "service*"]' in pyproject
