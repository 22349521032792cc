"""cupy.cuda.runtime on the stand-in: one device, named so nobody takes it for a GPU."""

from __future__ import annotations

from typing import Any

DEVICE_NAME = "NumPy stand-in for CuPy (no GPU)"
TOTAL_MEMORY = 16 * 2**30


class CUDARuntimeError(RuntimeError):
    def __init__(self, status: int, message: str = "") -> None:
        self.status = status
        super().__init__(f"cudaErrorCode {status}: {message}" if message else
                         f"cudaErrorCode {status}")


CUDARuntimeError.__module__ = "cupy_backends.cuda.api.runtime"


def getDeviceCount() -> int:
    return 1


def getDevice() -> int:
    return 0


def getDeviceProperties(device: int) -> dict[str, Any]:
    if device != 0:
        raise CUDARuntimeError(101, "invalid device ordinal")
    return {"name": DEVICE_NAME.encode(), "totalGlobalMem": TOTAL_MEMORY, "major": 9,
            "minor": 0, "multiProcessorCount": 1}


def runtimeGetVersion() -> int:
    return 12090


def driverGetVersion() -> int:
    return 12090
