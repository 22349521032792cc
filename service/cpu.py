"""CPU quota and memory limit detection, and BLAS thread pinning. Imports nothing heavy: it must run
before NumPy loads, because BLAS libraries read their thread counts once, at load."""

from __future__ import annotations

import math
import os

BLAS_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                  "BLIS_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")


def cpu_quota() -> int:
    """CPUs this process may use: the cgroup quota (containers), else its affinity mask."""
    try:
        count = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        count = os.cpu_count() or 1
    quota = _cgroup_quota()
    if quota is not None:
        count = min(count, max(1, math.ceil(quota)))
    return max(1, count)


def _cgroup_quota() -> float | None:
    try:  # cgroup v2: "max 100000" or "200000 100000"
        with open("/sys/fs/cgroup/cpu.max") as f:
            quota, period = f.read().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:  # cgroup v1
        with open("/sys/fs/cgroup/cpu/cpu.cfs_quota_us") as f:
            quota_us = int(f.read())
        with open("/sys/fs/cgroup/cpu/cpu.cfs_period_us") as f:
            period_us = int(f.read())
        return None if quota_us <= 0 else quota_us / period_us
    except (OSError, ValueError):
        return None


# Above this a cgroup "limit" means none (cgroup v1 reports 2^63 rounded to pages).
_UNLIMITED = 1 << 60


def memory_limit(root: str = "/sys/fs/cgroup") -> int | None:
    """Bytes this process's cgroup may use (a container's memory limit), or None."""
    for path in (f"{root}/memory.max", f"{root}/memory/memory.limit_in_bytes"):
        try:
            with open(path) as f:
                text = f.read().strip()
        except OSError:
            continue
        if text == "max":
            return None
        try:
            value = int(text)
        except ValueError:
            continue
        return value if 0 < value < _UNLIMITED else None
    return None


def default_blas_threads(quota: int, workers: int) -> int:
    """Workers x BLAS threads stays within the quota: each concurrent solve gets its
    share, and no core is fought over by spinning BLAS threads."""
    return max(1, quota // max(1, workers))


def pin_blas_threads(threads: int) -> None:
    """Sets every BLAS thread variable the user has not set. Must precede `import numpy`:
    OpenBLAS spawning one thread per host core on a 2-CPU quota made Krylov loops 10x slower."""
    for name in BLAS_VARIABLES:
        os.environ.setdefault(name, str(threads))
