"""cupy.cuda on the stand-in: one device, streams that only count synchronisations,
pinned memory as host buffers, the memory pool and memory hooks."""

from __future__ import annotations

from typing import Any

from cupy._core import count_sync
from cupy.cuda import memory, runtime
from cupy.cuda.memory import MemoryHook, MemoryPool, PinnedMemoryPool

__all__ = ["Device", "MemoryHook", "MemoryPool", "PinnedMemoryPool", "Stream",
           "alloc_pinned_memory", "get_current_stream", "is_available", "memory", "runtime"]


def is_available() -> bool:
    return True


class Stream:
    null: Stream

    def __init__(self, null: bool = False, non_blocking: bool = False,
                 ptr: int = 0) -> None:
        self.ptr = ptr

    def synchronize(self) -> None:
        count_sync()

    def __enter__(self) -> Stream:
        return self

    def __exit__(self, *_: Any) -> None:
        pass


Stream.null = Stream(null=True)


def get_current_stream(device_id: int = -1) -> Stream:
    return Stream.null


class Device:
    def __init__(self, device: int | None = None) -> None:
        self.id = 0 if device is None else int(device)
        if self.id != 0:
            raise runtime.CUDARuntimeError(101)

    @property
    def mem_info(self) -> tuple[int, int]:
        from cupy._core import MEMORY

        return max(runtime.TOTAL_MEMORY - MEMORY.used, 0), runtime.TOTAL_MEMORY

    @property
    def compute_capability(self) -> str:
        return "90"

    def synchronize(self) -> None:
        count_sync()

    def use(self) -> None:
        pass

    def __enter__(self) -> Device:
        return self

    def __exit__(self, *_: Any) -> None:
        pass


def alloc_pinned_memory(size: int) -> bytearray:
    """Host memory that numpy.frombuffer can view, as CuPy's PinnedMemoryPointer."""
    return bytearray(size)
