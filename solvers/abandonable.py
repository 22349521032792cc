"""Native work that cannot poll a stop, run where it can be abandoned.

A sparse LU (SuperLU) runs for seconds to minutes in one native call: no deadline or
cancel reaches it, and on a worker thread it holds that worker and its CPU until it
ends (measured: 30 CPU-s after a 200 ms deadline). Here such a call runs in a child
process forked from a clean fork server (never from the server's threaded process),
and the parent waits in short slices, polling the caller's stop: on a stop the child
is killed at once and its CPU and memory return to the machine.
"""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.connection
import multiprocessing.spawn
import threading
import weakref
from collections.abc import Callable
from typing import Any

from solvers.errors import Interrupted

POLL_SECONDS = 0.02
_CONTEXT: Any = None
_LOCK = threading.Lock()
# Set when no fork server can run here (no forkserver start method, no writable temporary
# directory): the work then runs in place, as it did before, unstoppable but answered.
_UNAVAILABLE: str | None = None


def _context() -> Any:
    global _CONTEXT, _UNAVAILABLE
    with _LOCK:
        if _UNAVAILABLE is not None:
            return None
        if _CONTEXT is None:
            try:
                context = multiprocessing.get_context("forkserver")
            except ValueError as exc:  # a platform without it (Windows)
                _UNAVAILABLE = str(exc)
                return None
            # What the children import once in the fork server, not per call.
            context.set_forkserver_preload(["numpy", "scipy.sparse.linalg", "scipy.linalg"])
            _CONTEXT = context
        return _CONTEXT


def _without_main(name: str) -> dict[str, Any]:
    """multiprocessing's preparation data for a child, less the caller's main module:
    the child runs a function of this package and needs nothing from it, while importing
    it ran a script without a `__main__` guard (a benchmark, a notebook's export) a
    second time inside the child."""
    data = _preparation_data(name)
    data.pop("init_main_from_path", None)
    data.pop("init_main_from_name", None)
    return data


_preparation_data = multiprocessing.spawn.get_preparation_data


def _start(process: Any) -> None:
    """process.start() with the main module left out of what the child prepares."""
    with _LOCK:
        multiprocessing.spawn.get_preparation_data = _without_main
        try:
            process.start()
        finally:
            multiprocessing.spawn.get_preparation_data = _preparation_data


def _child(connection: multiprocessing.connection.Connection, fn: Callable[..., Any],
           args: tuple[Any, ...]) -> None:
    try:
        outcome: tuple[str, Any] = ("ok", fn(*args))
    except Exception as exc:  # handed to the parent as it is
        outcome = ("error", exc)
    connection.send(outcome)
    connection.close()


def _await(receiver: Any, process: Any, should_stop: Callable[[], str | None] | None) -> Any:
    """The child's next answer, polling `should_stop` between short waits. Raises what
    the child raised, Interrupted on a stop, RuntimeError if the child died."""
    while True:
        if receiver.poll(POLL_SECONDS):
            try:
                status, value = receiver.recv()
            except EOFError:
                raise RuntimeError(f"the factorisation's process died "
                                   f"(exit code {process.exitcode})") from None
            if status == "error":
                raise value
            return value
        reason = should_stop() if should_stop is not None else None
        if reason:
            raise Interrupted(reason)
        if not process.is_alive() and not receiver.poll(0):
            raise RuntimeError(f"the factorisation's process died (exit code "
                               f"{process.exitcode})")


def _end(process: Any) -> None:
    if process.is_alive():
        process.kill()
    process.join(5)
    process.close()


def run(fn: Callable[..., Any], args: tuple[Any, ...],
        should_stop: Callable[[], str | None] | None) -> Any:
    """fn(*args) in a child process (fn and args picklable; fn importable). Raises
    what fn raised, Interrupted when `should_stop` names a reason first (the child is
    killed), or RuntimeError if the child dies (killed for memory, say)."""
    context = _context()
    if context is None:
        return fn(*args)
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(target=_child, args=(sender, fn, args), daemon=True)
    _start(process)
    sender.close()
    try:
        return _await(receiver, process, should_stop)
    finally:
        receiver.close()
        _end(process)


def _keeper_child(connection: multiprocessing.connection.Connection,
                  build: Callable[..., Any], args: tuple[Any, ...]) -> None:
    try:
        kept = build(*args)
    except Exception as exc:
        connection.send(("error", exc))
        connection.close()
        return
    connection.send(("ok", None))
    while True:
        try:
            name, call_args = connection.recv()
        except (EOFError, OSError):  # the parent closed or died: nothing left to serve
            return
        try:
            outcome: tuple[str, Any] = ("ok", getattr(kept, name)(*call_args))
        except Exception as exc:
            outcome = ("error", exc)
        connection.send(outcome)


def _close_keeper(connection: Any, process: Any) -> None:
    connection.close()
    _end(process)


class Keeper:
    """An object built by build(*args) in a child process and kept there, its methods
    called by name until `close` (a SuperLU factorisation reused for more right-hand
    sides: the object cannot cross processes, and building it cannot poll a stop). A
    stop during a call kills the child, so a Keeper that raised Interrupted is closed.
    Without a fork server the object is built and kept in place."""

    def __init__(self, build: Callable[..., Any], args: tuple[Any, ...],
                 should_stop: Callable[[], str | None] | None) -> None:
        self._local: Any = None
        self._closed = False
        self._connection: Any = None
        self._process: Any = None
        self._finalizer: Any = None
        context = _context()
        if context is None:
            self._local = build(*args)
            return
        parent, child = context.Pipe(duplex=True)
        process = context.Process(target=_keeper_child, args=(child, build, args), daemon=True)
        _start(process)
        child.close()
        self._connection, self._process = parent, process
        # The child goes with this object even if nobody closes it.
        self._finalizer = weakref.finalize(self, _close_keeper, parent, process)
        try:
            _await(parent, process, should_stop)
        except BaseException:
            self.close()
            raise

    @property
    def in_child(self) -> bool:
        return self._process is not None

    def call(self, name: str, args: tuple[Any, ...],
             should_stop: Callable[[], str | None] | None) -> Any:
        if self._closed:
            raise RuntimeError("the kept object was closed")
        if self._process is None:
            return getattr(self._local, name)(*args)
        try:
            self._connection.send((name, args))
            return _await(self._connection, self._process, should_stop)
        except (Interrupted, RuntimeError, OSError):
            self.close()  # killed at a stop, or dead: the child serves no more
            raise

    def close(self) -> None:
        self._closed = True
        if self._finalizer is not None:
            self._finalizer()
        self._local = None


def _nothing() -> None:
    return None


def warm_up() -> None:
    """Start the fork server (about 0.5 s, its imports) before a request needs it. If it
    cannot start, long factorisations run in place (and cannot be stopped) rather than
    the server not starting."""
    global _UNAVAILABLE
    try:
        run(_nothing, (), None)
    except (OSError, RuntimeError) as exc:
        _UNAVAILABLE = f"{type(exc).__name__}: {exc}"
        logging.getLogger("solverd").warning(
            "no fork server (%s): long sparse factorisations will run in place and cannot "
            "be stopped at a deadline", _UNAVAILABLE)
