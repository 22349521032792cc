"""cupy.cuda.memory on the stand-in: the pool reports and limits what live device
arrays hold (cupy/_core.py counts them); hooks see every allocation and release."""

from __future__ import annotations

from typing import Any

from cupy._core import MEMORY, OutOfMemoryError

__all__ = ["MemoryHook", "MemoryPool", "OutOfMemoryError", "PinnedMemoryPool"]


class MemoryPool:
    def used_bytes(self) -> int:
        return MEMORY.used

    def total_bytes(self) -> int:
        return MEMORY.used

    def free_bytes(self) -> int:
        return 0

    def n_free_blocks(self) -> int:
        return 0

    def free_all_blocks(self, stream: Any = None) -> None:
        pass

    def set_limit(self, size: int | None = None, fraction: float | None = None) -> None:
        if fraction is not None:
            from cupy.cuda.runtime import TOTAL_MEMORY

            size = int(fraction * TOTAL_MEMORY)
        MEMORY.limit = int(size or 0)

    def get_limit(self) -> int:
        return MEMORY.limit


class PinnedMemoryPool:
    def free_all_blocks(self) -> None:
        pass

    def n_free_blocks(self) -> int:
        return 0


class MemoryHook:
    """CuPy's hook protocol: `with hook:` installs it under its `name`."""

    name = "MemoryHook"

    def __enter__(self) -> MemoryHook:
        if self.name in MEMORY.hooks:
            raise KeyError(f"memory hook {self.name} already exists")
        MEMORY.hooks[self.name] = self
        return self

    def __exit__(self, *_: Any) -> None:
        del MEMORY.hooks[self.name]

    def alloc_preprocess(self, **kwargs: Any) -> None:
        pass

    def alloc_postprocess(self, **kwargs: Any) -> None:
        pass

    def malloc_preprocess(self, **kwargs: Any) -> None:
        pass

    def malloc_postprocess(self, **kwargs: Any) -> None:
        pass

    def free_preprocess(self, **kwargs: Any) -> None:
        pass

    def free_postprocess(self, **kwargs: Any) -> None:
        pass
