"""The history budget of model-driven agents: what of a long conversation is sent to the model.

Every model-driven agent (``tools``, ``react``, ``code``) keeps its whole conversation and sends
:func:`fit_history` of it: the opening (system prompt and goal) and as many of the latest messages as
fit ``max_context_tokens``, with a note in the goal saying how many were left out. Tokens are
estimated from characters (:func:`estimate_tokens`, on the safe side for English text and code), so
set the budget somewhat under the server's context window, leaving room for the reply
(``--max-tokens``) and the tool descriptions. A conversation that still overflows ends the episode as
``truncated`` with the server's reason (see :class:`~palaestra.models.base.ContextOverflowError`).
"""

from __future__ import annotations

from palaestra.errors import UsageError
from palaestra.types import Message

CHARS_PER_TOKEN = 3
"""Characters counted as one token. Tokenisers of current models average 3.5-4.5 characters a
token on English text and code; 3 errs towards sending less rather than overflowing."""
MESSAGE_OVERHEAD = 4
"""Tokens a chat template adds around each message (role markers, separators)."""
NOTE_TOKENS = 20
"""Room kept for the note saying how many messages were left out."""


def estimate_tokens(message: Message) -> int:
    """About how many prompt tokens ``message`` takes."""
    chars = len(message.content)
    for call in message.tool_calls:
        chars += (
            len(call.name)
            + len(call.raw_arguments or "")
            + (0 if call.raw_arguments else 8 * len(call.arguments) + 2)
        )
    return MESSAGE_OVERHEAD + chars // CHARS_PER_TOKEN


def check_budget(max_context_tokens: int | None) -> int | None:
    if max_context_tokens is not None and max_context_tokens < 1:
        raise UsageError(f"max_context_tokens must be at least 1, got {max_context_tokens}")
    return max_context_tokens


def opening(history: list[Message]) -> int:
    """How many leading messages are the opening to keep: system messages and the first user one."""
    for i, m in enumerate(history):
        if m.role == "user":
            return i + 1
        if m.role != "system":
            return i
    return len(history)


def fit_history(history: list[Message], max_context_tokens: int | None) -> list[Message]:
    """``history`` cut to about ``max_context_tokens``: the opening, then the latest messages that
    fit (at least the last one). A tool result is never kept without the call it answers (even if
    that goes over the budget). Returns
    ``history`` itself when it fits."""
    if max_context_tokens is None:
        return history
    sizes = [estimate_tokens(m) for m in history]
    if sum(sizes) <= max_context_tokens:
        return history
    head = opening(history)
    if len(history) <= head:
        return history
    start = len(history) - 1  # the latest message always goes
    left = max_context_tokens - sum(sizes[:head]) - sizes[start] - NOTE_TOKENS
    while start > head and sizes[start - 1] <= left:
        start -= 1
        left -= sizes[start]
    while start > head and history[start].role == "tool":  # keep the call a kept result answers
        start -= 1
    dropped = start - head
    if dropped <= 0:
        return history
    kept = list(history[:head])
    note = f"[{dropped} earlier message{'s' if dropped > 1 else ''} left out to fit the context]"
    if kept:
        last = kept[-1]
        kept[-1] = last.model_copy(update={"content": f"{last.content}\n\n{note}"})
    return kept + list(history[start:])
