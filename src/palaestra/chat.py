"""The one conversion between Palaestra's messages and the chat dicts that models, chat templates and
exports use (the OpenAI chat shape).

Tool calls come out as ``{"id", "type": "function", "function": {"name", "arguments"}}``, with the
arguments in one of two encodings:

- ``"object"`` (chat templates, which apply ``tojson`` to them, and TRL datasets): the decoded
  object; a call whose arguments were not a JSON object keeps the model's raw text as a string.
- ``"json"`` (the OpenAI chat-completions API): a JSON string, the model's own text when it has one,
  so a server is shown exactly what it generated.

Tool results are ``role: "tool"`` with ``tool_call_id`` and ``name``. A message is either a
:class:`~palaestra.types.Message` or a stored message (the store's dump of one, defaults left out).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from palaestra.types import Message, ToolCall, ToolSpec

ChatMessage = dict[str, Any]
ArgumentEncoding = Literal["object", "json"]


def _call_dict(c: ToolCall | Mapping[str, Any], arguments: ArgumentEncoding) -> dict[str, Any]:
    if isinstance(c, ToolCall):
        call_id, name, args, raw, error = c.id, c.name, c.arguments, c.raw_arguments, c.parse_error
    else:
        call_id, name = c.get("id", ""), c["name"]
        args, raw, error = c.get("arguments") or {}, c.get("raw_arguments"), c.get("parse_error")
    if arguments == "json":
        value: Any = raw if raw is not None else json.dumps(args, ensure_ascii=False)
    else:
        value = (raw or "") if error else dict(args)
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": value}}


def chat_message(m: Message | Mapping[str, Any], *, arguments: ArgumentEncoding = "object") -> ChatMessage:
    """One message in the chat shape (see the module's docstring for ``arguments``)."""
    if isinstance(m, Message):
        role, content, calls, call_id, name = m.role, m.content, m.tool_calls, m.tool_call_id, m.name
    else:
        role, content, calls = m["role"], m.get("content") or "", m.get("tool_calls") or []
        call_id, name = m.get("tool_call_id"), m.get("name")
    out: ChatMessage = {"role": role, "content": content}
    if calls:
        out["tool_calls"] = [_call_dict(c, arguments) for c in calls]
    if call_id is not None:
        out["tool_call_id"] = call_id
    if name is not None:
        out["name"] = name
    return out


def chat_messages(
    messages: Sequence[Message | Mapping[str, Any]], *, arguments: ArgumentEncoding = "object"
) -> list[ChatMessage]:
    """Every message of a conversation in the chat shape."""
    return [chat_message(m, arguments=arguments) for m in messages]


def chat_tools(tools: Sequence[ToolSpec] | None) -> list[dict[str, Any]] | None:
    """Tools in the OpenAI ``tools=[...]`` shape (which chat templates take too), or None."""
    return [t.openai() for t in tools] if tools else None
