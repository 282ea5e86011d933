"""Errors that reach a user as one clear line (what, where, how to fix)."""

from __future__ import annotations

from collections.abc import Iterable


class PalaestraError(Exception):
    """Base of every error Palaestra raises on purpose. ``str(e)`` is a complete one-line message."""

    exit_code = 1


class UsageError(PalaestraError):
    """Bad input from the user: unknown name, bad flag value, unusable file."""

    exit_code = 2


class UnknownNameError(UsageError):
    def __init__(self, kind: str, name: str, valid: Iterable[str]) -> None:
        self.kind, self.name, self.valid = kind, name, sorted(valid)
        super().__init__(f"unknown {kind} {name!r}; valid {kind}s: {', '.join(self.valid) or '(none)'}")


class ModelError(PalaestraError):
    """A model call failed for good (after retries): the episode that made it ends as ``error``.

    ``status`` is the server's HTTP status when there was one; ``retries`` how many times the call
    was retried before giving up; ``fatal`` says every later call would fail the same way (bad key,
    no such model or endpoint: 401/403/404), so a run should stop instead of repeating it.
    """

    def __init__(
        self, message: str, *, status: int | None = None, retries: int = 0, fatal: bool = False
    ) -> None:
        super().__init__(message)
        self.status, self.retries, self.fatal = status, retries, fatal


class StoreError(PalaestraError):
    """The store file cannot be used (corrupt, foreign, newer schema). The file is left untouched."""

    exit_code = 2
