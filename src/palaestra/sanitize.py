"""Make what a model sends storable before anything else sees it.

Every model output of a run passes through ``RecordingModel`` and every action through the rollout
loop; both clean it here, whatever the provider or agent. Two things a reply can carry would
otherwise fail much later, when the finished episode is serialised for the store:

* lone UTF-16 surrogates (``"\\ud83d"``, half of an emoji cut by a token limit): not encodable as
  UTF-8, so no JSON writer, terminal or SQLite text column takes them. They become U+FFFD.
* JSON nested deeper than :data:`MAX_DEPTH` in tool-call arguments: no tool takes such arguments,
  and serialisers give up on them. The call keeps its name, loses its arguments and gets a
  ``parse_error``, which the env answers as an invalid action.
"""

from __future__ import annotations

from typing import Any

from palaestra.types import Message, ToolCall

MAX_DEPTH = 64
"""Deepest nesting of lists and objects accepted in a tool call's arguments."""


class TooDeep(ValueError):
    """A value nests lists/objects deeper than :data:`MAX_DEPTH`."""


def clean_text(text: str) -> str:
    """``text`` with every lone surrogate replaced by U+FFFD (the same object when there is none)."""
    if text.isascii():  # O(1) in CPython: the common case costs nothing
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return text


def clean_value(value: Any, depth: int = 0) -> Any:
    """A JSON-like value with its strings (keys too) cleaned, the same object when nothing had to
    change; raises :class:`TooDeep` past :data:`MAX_DEPTH` levels. Other objects are returned as
    they are."""
    if isinstance(value, str):
        return clean_text(value)
    if not isinstance(value, dict | list | tuple):
        return value
    if depth >= MAX_DEPTH:
        raise TooDeep(f"nested deeper than {MAX_DEPTH} levels")
    if isinstance(value, dict):
        pairs = [(clean_value(k), clean_value(v, depth + 1)) for k, v in value.items()]
        same = all(k is a and v is b for (k, v), (a, b) in zip(pairs, value.items(), strict=True))
        return value if same else dict(pairs)
    items = [clean_value(v, depth + 1) for v in value]
    return value if all(a is b for a, b in zip(items, value, strict=True)) else items


def _plain(value: Any, depth: int = 0) -> bool:
    """Whether ``value`` certainly needs no cleaning: ASCII strings only, nesting within bounds (a
    check that allocates nothing, for the common case)."""
    if isinstance(value, str):
        return value.isascii()
    if isinstance(value, dict):
        if depth >= MAX_DEPTH:
            return False
        return all(_plain(k) and _plain(v, depth + 1) for k, v in value.items())
    if isinstance(value, list | tuple):
        if depth >= MAX_DEPTH:
            return False
        return all(_plain(v, depth + 1) for v in value)
    return True


def _plain_message(m: Message) -> bool:
    if not (m.content.isascii() and _plain(m.name or "") and _plain(m.tool_call_id or "")):
        return False
    for c in m.tool_calls:
        texts = (c.id, c.name, c.raw_arguments or "", c.parse_error or "")
        if not (all(t.isascii() for t in texts) and _plain(c.arguments)):
            return False
    return True


def _clean_optional(text: str | None) -> str | None:
    return None if text is None else clean_text(text)


def clean_call(call: ToolCall) -> ToolCall:
    """``call`` with clean strings (the same object when they were); arguments nested too deep
    become a ``parse_error``."""
    update: dict[str, Any] = {
        "id": clean_text(call.id),
        "name": clean_text(call.name),
        "raw_arguments": _clean_optional(call.raw_arguments),
        "parse_error": _clean_optional(call.parse_error),
    }
    try:
        update["arguments"] = clean_value(call.arguments)
    except TooDeep as e:
        update["arguments"] = {}
        update["parse_error"] = f"arguments {e}"
    if all(update[k] is getattr(call, k) for k in update):
        return call
    return call.model_copy(update=update)


def clean_message(message: Message) -> Message:
    """``message`` with every string storable and every tool call's arguments within
    :data:`MAX_DEPTH` (the same object when nothing had to change)."""
    if _plain_message(message):
        return message
    calls = [clean_call(c) for c in message.tool_calls]
    update: dict[str, Any] = {
        "content": clean_text(message.content),
        "name": _clean_optional(message.name),
        "tool_call_id": _clean_optional(message.tool_call_id),
    }
    if all(update[k] is getattr(message, k) for k in update) and all(
        a is b for a, b in zip(calls, message.tool_calls, strict=True)
    ):
        return message
    return message.model_copy(update={**update, "tool_calls": calls})
