"""Bounded worker pools: numerical work runs here, off the event loop."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

from service import metrics

T = TypeVar("T")


class QueueFull(Exception):
    """Every worker is busy and the queue is at its limit."""


class WorkerDied(Exception):
    """A job ended by a BaseException (SystemExit, KeyboardInterrupt, ...) in its worker:
    re-raised as such on the event loop it would stop the whole server."""


def contained(fn: Callable[[], T]) -> T:
    """fn() on the event loop, with a BaseException it raises (SystemExit,
    KeyboardInterrupt) turned into WorkerDied: on the loop it would stop the server."""
    try:
        return fn()
    except Exception:
        raise
    except BaseException as exc:
        raise WorkerDied(f"the solver died on the event loop: {type(exc).__name__}: "
                         f"{exc}") from None


class WorkPool:
    """A thread pool with at most `workers + max_queue` requests admitted at once.

    A slot is released when the job really ends (or is cancelled before it starts),
    not when its awaiting coroutine gives up, so admission tracks the actual load.
    """

    def __init__(self, name: str, workers: int, max_queue: int) -> None:
        self.name = name
        self.workers = workers
        self.capacity = workers + max_queue
        self._executor = ThreadPoolExecutor(workers, thread_name_prefix=f"solverd-{name}")
        self._admitted = 0
        self._lock = threading.Lock()

    @property
    def admitted(self) -> int:
        return self._admitted

    @property
    def full(self) -> bool:
        return self._admitted >= self.capacity

    def full_error(self) -> QueueFull:
        return QueueFull(f"{self.name} queue full ({self.capacity} requests admitted)")

    def _release(self, _future: Future) -> None:
        with self._lock:
            self._admitted -= 1
            metrics.child(metrics.QUEUE_DEPTH, self.name).set(self._admitted)

    async def run(self, fn: Callable[[], T], inline: bool = False) -> tuple[T, float]:
        """Runs fn on a worker; returns its result and the seconds it waited in the queue.

        `inline`: run it here, on the event loop, for work of a few milliseconds at most
        (the caller's estimate): handing it to a thread costs more than the work, and a
        worker holding the GIL can make the loop wait up to the 5 ms switch interval.
        """
        if inline:
            metrics.child(metrics.QUEUE_SECONDS, self.name).observe(0.0)
            return contained(fn), 0.0
        with self._lock:
            if self.full:
                raise self.full_error()
            self._admitted += 1
            metrics.child(metrics.QUEUE_DEPTH, self.name).set(self._admitted)
        submitted = time.perf_counter()

        def job() -> tuple[T, float]:
            waited = time.perf_counter() - submitted
            return fn(), waited

        future = self._executor.submit(job)
        future.add_done_callback(self._release)
        try:
            result, waited = await asyncio.wrap_future(future)
        except (Exception, asyncio.CancelledError):
            raise
        except BaseException as exc:
            raise WorkerDied(f"the solver's worker thread died: {type(exc).__name__}: "
                             f"{exc}") from None
        finally:
            # The future holds the job's exception, whose traceback holds this frame:
            # a cycle that would keep the request's arrays until a full collection.
            del future
        metrics.child(metrics.QUEUE_SECONDS, self.name).observe(waited)
        return result, waited

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
