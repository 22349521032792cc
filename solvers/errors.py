"""Exceptions shared by every solver family."""

from __future__ import annotations


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
