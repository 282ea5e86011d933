"""How the ``openai`` provider judges a failed attempt: what a server's error says, which statuses are
worth retrying (and which mean congestion), ``Retry-After``, and the one-line reasons it reports."""

from __future__ import annotations

import email.utils
import re
import time
from dataclasses import dataclass

from palaestra.errors import ModelError
from palaestra.models.base import ContextOverflowError

RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
CONGESTION_STATUSES = frozenset({408, 429, 503, 504})
"""Statuses that mean the server is overloaded: the adaptive limit shrinks on them."""
FATAL_STATUSES = frozenset({401, 403, 404})
"""Statuses after which every later call would fail alike (bad key, no such model or endpoint)."""


class _Retry(Exception):
    """One attempt failed in a way worth retrying. ``congestion`` marks the server as overloaded
    (429, 503, 504, 408, a timeout): the adaptive limit shrinks."""

    def __init__(
        self,
        reason: str,
        retry_after: float | None = None,
        congestion: bool = False,
        status: int | None = None,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after
        self.congestion = congestion
        self.status = status


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP-date); None when absent/bad."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - time.time())


def _one_line(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


@dataclass(frozen=True, slots=True)
class ServerError:
    """What a server's error body says: its message and the kind of error it names (type, code)."""

    message: str
    kind: str = ""
    """The body's error ``type`` and ``code`` fields, lower case, space separated."""
    validation: bool = False
    """The body lists validation failures (FastAPI's ``{"detail": [...]}``)."""

    @property
    def context_overflow(self) -> bool:
        """The request did not fit the model's context window."""
        return bool(_OVERFLOW_KINDS.intersection(self.kind.split()) or _OVERFLOW_TEXT.search(self.message))

    @property
    def client_fault(self) -> bool:
        """The request itself is wrong (sending it again would fail alike), whatever the status said."""
        if self.validation or _CLIENT_KINDS.intersection(self.kind.split()):
            return True
        if any(k.isdigit() and 400 <= int(k) < 500 and int(k) not in (408, 429) for k in self.kind.split()):
            return True
        return bool(_VALIDATION_TEXT.search(self.message))


_OVERFLOW_KINDS = frozenset({"context_length_exceeded", "exceed_context_size_error"})
_OVERFLOW_TEXT = re.compile(
    r"context (length|window|size)|maximum context|prompt is too long|too many tokens"
    r"|exceeds? (the )?(available |max(imum)? )?context",
    re.IGNORECASE,
)
_CLIENT_KINDS = frozenset(
    {
        "invalid_request_error",
        "badrequesterror",
        "bad_request",
        "bad_request_error",
        "validation_error",
        "requestvalidationerror",
        "not_supported_error",
        "notimplementederror",
    }
)
_VALIDATION_TEXT = re.compile(r"\bvalidation errors? for\b|\bvalidation error\b|\bunprocessable\b", re.I)


def _describe_exception(e: BaseException, timeout: float) -> str:
    if isinstance(e, TimeoutError):
        return f"timed out after {timeout:g}s"
    text = str(e) or type(e).__name__
    return _one_line(f"{type(e).__name__}: {text}", 200)


class _StreamError(Exception):
    """A streamed reply carried an error event instead of (more) tokens."""

    def __init__(self, error: ServerError) -> None:
        super().__init__(error.message)
        self.error = error


def rejection(
    status: int, error: ServerError, retry_after: str | None, *, name: str, url: str, model_name: str
) -> Exception:
    """The exception for a failed status: ``_Retry`` when worth retrying, else ModelError (a
    ContextOverflowError when the conversation outgrew the context, whatever the status)."""
    reason = f"HTTP {status}: {error.message}"
    if error.context_overflow:
        return ContextOverflowError(
            f"{name}: the conversation no longer fits the model's context: {reason}", status=status
        )
    if status in RETRY_STATUSES and not (status >= 500 and error.client_fault):
        return _Retry(reason, parse_retry_after(retry_after), status in CONGESTION_STATUSES, status)
    hint = ""
    if status in (401, 403):
        hint = " (check api_key / OPENAI_API_KEY)"
    elif status == 404:
        hint = f" (check the model name {model_name!r} and the base URL)"
    return ModelError(
        f"{name} request rejected, not retried: {reason}{hint}; POST {url}",
        status=status,
        fatal=status in FATAL_STATUSES,
    )
