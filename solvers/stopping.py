"""A stop flag that compiled loops read, set by a watchdog that polls the caller.

numba kernels run without the GIL and cannot call a Python poll cheaply. They read one
byte instead (`flag[0]`) at each step; a watchdog thread polls the caller's stop
(deadline, cancellation) every WATCH_SECONDS for every kernel running and sets the byte,
so a kernel ends within about that of a stop, whatever it is doing.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator

import numpy as np

from solvers.errors import Interrupted

WATCH_SECONDS = 0.01
Poll = Callable[[], str | None]


class _Watchdog:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._watched: dict[int, tuple[Poll, np.ndarray, list[str]]] = {}
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def add(self, poll: Poll) -> tuple[int, np.ndarray, list[str]]:
        flag = np.zeros(1, dtype=np.uint8)
        reason: list[str] = []
        with self._lock:
            key = id(flag)
            self._watched[key] = (poll, flag, reason)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="solverd-stop-watch",
                                                daemon=True)
                self._thread.start()
        self._wake.set()
        return key, flag, reason

    def remove(self, key: int) -> None:
        with self._lock:
            self._watched.pop(key, None)

    def _loop(self) -> None:
        while True:
            with self._lock:
                watched = list(self._watched.values())
            if not watched:
                self._wake.wait(1.0)
                self._wake.clear()
                continue
            for poll, flag, reason in watched:
                if not flag[0]:
                    said = poll()
                    if said:
                        reason.append(said)
                        flag[0] = 1
            time.sleep(WATCH_SECONDS)


_WATCHDOG = _Watchdog()


class StopFlag:
    """flag: the byte a kernel reads; `raise_if_set()` after the kernel returns."""

    def __init__(self, flag: np.ndarray, reason: list[str]) -> None:
        self.flag = flag
        self._reason = reason

    @property
    def stopped(self) -> bool:
        return bool(self.flag[0])

    def raise_if_set(self) -> None:
        if self.flag[0]:
            raise Interrupted(self._reason[0] if self._reason else "stopped")


@contextlib.contextmanager
def watched(should_stop: Poll | None) -> Iterator[StopFlag]:
    """A StopFlag set once `should_stop` names a reason (never, for None)."""
    if should_stop is None:
        yield StopFlag(np.zeros(1, dtype=np.uint8), [])
        return
    key, flag, reason = _WATCHDOG.add(should_stop)
    try:
        yield StopFlag(flag, reason)
    finally:
        _WATCHDOG.remove(key)
