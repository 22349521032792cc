"""The CPU lane for the GPU tests.

`SOLVERD_FAKE_GPU=1 ./dev test -m gpu` runs every GPU test on this machine against
tests/standin, a NumPy stand-in for CuPy that keeps CuPy's rules (no implicit host
conversion, no host arrays in device operations, 0-d device results, kernels typed
as CuPy types them) and counts host synchronisations and device memory. The real
CuPy takes precedence whenever it imports and sees a device; the stand-in is never
on the server's path otherwise (it refuses to import without SOLVERD_FAKE_GPU=1).
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

STANDIN = Path(__file__).resolve().parent / "standin"
MODE = "off"  # what activate() found: 'off', 'real' or 'standin'


def _real_cupy_sees_a_device() -> bool:
    spec = importlib.util.find_spec("cupy")
    if spec is None or str(STANDIN) in str(spec.origin):
        return False
    # Probed in a child, without the stand-in: importing the real CuPy here would
    # shadow it, and a child of the lane has the stand-in on its PYTHONPATH.
    env = {k: v for k, v in os.environ.items() if k != "SOLVERD_FAKE_GPU"}
    env["PYTHONPATH"] = os.pathsep.join(p for p in env.get("PYTHONPATH", "").split(os.pathsep)
                                        if p and p != str(STANDIN))
    probe = "import cupy, sys; sys.exit(0 if cupy.cuda.runtime.getDeviceCount() > 0 else 1)"
    try:
        return subprocess.run([sys.executable, "-c", probe], capture_output=True, env=env,
                              timeout=120).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def activate(force: bool = False) -> str:
    """Puts the stand-in first on this process's path and on its children's, when asked
    (SOLVERD_FAKE_GPU=1) and no real device is there, or when forced (to count what
    the stand-in counts on a machine with a device). Returns 'standin', 'real' or 'off'."""
    global MODE
    if force:
        os.environ["SOLVERD_FAKE_GPU"] = "1"
    if os.environ.get("SOLVERD_FAKE_GPU") != "1":
        return MODE
    if not force and _real_cupy_sees_a_device():
        os.environ["SOLVERD_FAKE_GPU"] = "0"  # children too: the real device wins
        MODE = "real"
        return MODE
    for name in [m for m in sys.modules if m.split(".")[0] in ("cupy", "cupyx")]:
        del sys.modules[name]
    path = str(STANDIN)
    if path not in sys.path:
        sys.path.insert(0, path)
    parts = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    if path not in parts:
        os.environ["PYTHONPATH"] = os.pathsep.join([path, *parts])
    MODE = "standin"
    return MODE


def on_standin() -> bool:
    return MODE == "standin"


def host_syncs() -> int:
    """Host synchronisations so far (stand-in only)."""
    from cupy._core import COUNTERS

    return COUNTERS.syncs


@contextmanager
def device_memory() -> Iterator[dict[str, int]]:
    """Peak device bytes held during the block beyond those held at its start
    (stand-in only): {'peak': ...} once the block ends."""
    import gc

    from cupy._core import MEMORY

    gc.collect()
    start, saved = MEMORY.used, MEMORY.peak
    MEMORY.peak = start
    figures = {"peak": 0}
    try:
        yield figures
    finally:
        figures["peak"] = MEMORY.peak - start
        MEMORY.peak = max(saved, MEMORY.peak)
