"""A stand-in decision-maker for the fake OpenAI server: it picks a choice per situation.

``situation_responder`` reads the request's decision tool (its ``choice`` enum) and the user
message, and calls the tool with a choice that depends only on the persona and situation lines, so
archetype and individual mode decide alike (the exact-state line is ignored). It lets benchmarks and
demos run a simulation end to end over HTTP with no model::

    FakeOpenAIServer(responder=situation_responder)
"""

from __future__ import annotations

import zlib
from typing import Any

DECIDING_LINES = ("Persona:", "Situation:")


def _user_text(request: dict[str, Any]) -> str:
    for m in reversed(request.get("messages") or ()):
        if isinstance(m, dict) and m.get("role") == "user" and isinstance(m.get("content"), str):
            return str(m["content"])
    return ""


def _choices(request: dict[str, Any]) -> tuple[str, list[str]]:
    """The first tool with a ``choice`` enum: its name and the choices."""
    for tool in request.get("tools") or ():
        fn = tool.get("function") or {}
        enum = (((fn.get("parameters") or {}).get("properties") or {}).get("choice") or {}).get("enum")
        if isinstance(enum, list) and enum:
            return str(fn.get("name")), [str(c) for c in enum]
    return "", []


def situation_responder(request: dict[str, Any]) -> dict[str, Any]:
    """A call of the decision tool whose choice is a hash of the persona and situation lines."""
    tool, choices = _choices(request)
    if not choices:
        return {"content": "I have no choice to make."}
    key = "\n".join(line for line in _user_text(request).splitlines() if line.startswith(DECIDING_LINES))
    choice = choices[zlib.crc32(key.encode()) % len(choices)]
    return {"tool_calls": [{"name": tool, "arguments": {"choice": choice}}]}
