"""cupyx on the stand-in (solverd's test tool; see cupy/__init__.py): scipy.sparse and
scipy.sparse.linalg only."""

import os as _os

if _os.environ.get("SOLVERD_FAKE_GPU") != "1":
    raise ImportError("this is solverd's test stand-in for cupyx (tests/standin); it loads "
                      "only with SOLVERD_FAKE_GPU=1")

from cupyx import scipy

__all__ = ["scipy"]
