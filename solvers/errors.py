"""Exceptions shared by every solver family."""

from __future__ import annotations

from collections.abc import Callable


class SolverInputError(ValueError):
    """The problem cannot be solved as posed; `field` names the offending argument."""

    def __init__(self, field: str, description: str) -> None:
        super().__init__(f"{field}: {description}")
        self.field = field
        self.description = description


class BackendUnavailable(RuntimeError):
    """The requested device cannot be used (no GPU, CuPy missing, disabled)."""


class Interrupted(Exception):
    """A solve stopped early because its caller asked it to (deadline, cancellation)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def check_stop(should_stop: Callable[[], str | None] | None) -> None:
    """Raises Interrupted when the caller's poll (deadline, cancellation) names a reason."""
    if should_stop is not None:
        reason = should_stop()
        if reason:
            raise Interrupted(reason)
