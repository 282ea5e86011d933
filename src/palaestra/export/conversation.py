"""Stored episodes as chat conversations in the shape that chat templates and TRL take.

A stored step holds the messages the agent received and the agent's action, so the conversation
is the concatenation of every step's observation and action, then the final observation, each
message converted by :func:`palaestra.chat.chat_message` (tool-call arguments as objects).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from palaestra.chat import ChatMessage, chat_message
from palaestra.store.rows import EpisodeDetail


def conversation(episode: EpisodeDetail, *, final: bool = True) -> list[ChatMessage]:
    """The whole conversation of an episode: each step's observation and action, in order, and
    (with ``final``) the environment's answer to the last action."""
    out: list[ChatMessage] = []
    for step in episode.steps:
        out.extend(chat_message(m) for m in step.observation)
        out.append(chat_message(step.action))
    if final:
        out.extend(chat_message(m) for m in episode.final)
    return out


def trim_to_last_assistant(messages: Sequence[ChatMessage]) -> list[ChatMessage]:
    """The messages up to and including the last assistant turn.

    What the environment said after the agent's last action is dropped: it is never trained on,
    and in preference data it would give the outcome away ("correct!")."""
    for i in range(len(messages) - 1, -1, -1):
        if messages[i]["role"] == "assistant":
            return list(messages[: i + 1])
    return []


def tools_of(episode: EpisodeDetail) -> list[dict[str, Any]]:
    """The tools offered during the episode in the OpenAI ``tools=[...]`` format, each name once
    (in order of first appearance; a tool whose spec changed keeps its latest spec)."""
    by_name: dict[str, dict[str, Any]] = {}
    for step in episode.steps:
        for t in step.tools or []:
            by_name[t["name"]] = {
                "type": "function",
                "function": {
                    "name": t["name"],
                    "description": t.get("description", ""),
                    "parameters": t.get("parameters") or {"type": "object", "properties": {}},
                },
            }
    return list(by_name.values())


def message_key(m: ChatMessage) -> str:
    """What a message says, without call ids (which differ between runs of the same actions)."""
    calls = [(c["function"]["name"], c["function"]["arguments"]) for c in m.get("tool_calls", [])]
    return json.dumps([m["role"], m["content"], m.get("name"), calls], sort_keys=True, default=str)


def common_prefix(a: Sequence[ChatMessage], b: Sequence[ChatMessage]) -> int:
    """How many leading messages ``a`` and ``b`` have in common (call ids aside)."""
    n = 0
    for x, y in zip(a, b, strict=False):
        if message_key(x) != message_key(y):
            break
        n += 1
    return n


def goal(episode: EpisodeDetail) -> str:
    """The task as the agent first read it: the first user message of the episode."""
    steps = episode.steps
    for m in steps[0].observation if steps else []:
        if m.get("role") == "user":
            return str(m.get("content") or "")
    return ""
