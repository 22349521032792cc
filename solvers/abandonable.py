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
    finally:
        receiver.close()
        if process.is_alive():
            process.kill()
        process.join(5)
        process.close()


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
