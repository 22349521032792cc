"""A stand-in for nvmath-python's sparse direct solver (cuDSS), for the GPU lane.

Loads only with SOLVERD_FAKE_GPU=1, beside the CuPy stand-in: it factorises with SciPy's
SuperLU on the host and keeps the stateful DirectSolver calls solverd uses (plan,
factorize, solve, reset_operands, free, the context manager) and their rules (a CSR
matrix, device operands, nothing after free), so the lane checks solverd's cuDSS path
without a GPU. Not cuDSS: no timing means anything here.
"""

from __future__ import annotations

import os as _os

if _os.environ.get("SOLVERD_FAKE_GPU") != "1":
    raise ImportError("this is solverd's test stand-in for nvmath-python (tests/standin); it "
                      "loads only with SOLVERD_FAKE_GPU=1")
