"""``react``: the model writes ``Thought: ...`` then ``Action: tool({json args})`` as plain text.

The agent describes the tools in its system prompt, parses the action into a tool call, and shows
the env's answers as ``Observation: ...``. A reply without a parseable action goes to the env as
plain text (free-text envs take it as speech; the others answer with an error and count an invalid
action), and the agent adds a reminder of the format to what the model reads next.
"""

from __future__ import annotations

import json
import re
from typing import Any

from palaestra.agents.context import check_budget, fit_history
from palaestra.env import Env
from palaestra.errors import UsageError
from palaestra.models.base import GenerateConfig, Model
from palaestra.policy import Agent
from palaestra.tools import describe_tools
from palaestra.types import Message, Observation, Task, ToolCall, ToolSpec

FORMAT = """Answer in this format:
Thought: your reasoning about what to do next
Action: tool_name({"argument": value, ...})

Call exactly one tool per reply, with its arguments as a JSON object (use {} for none)."""

_NAME = re.compile(r"[A-Za-z_][\w\-.]*")

# The reply is read line by line with plain string operations: each character is looked at a bounded
# number of times, so parsing is linear in the reply's length whatever a model writes (a regex with
# ``^\s*`` under MULTILINE rescans every run of blank lines from each of its lines: quadratic).


def _label_value(line: str, label: str) -> str | None:
    """What follows ``label:`` on a line like ``  **Label** : value`` (case-insensitive), else None."""
    s = line.lstrip().lstrip("*")
    if s[: len(label)].lower() != label:
        return None
    s = s[len(label) :].lstrip("*").lstrip()
    return s[1:] if s.startswith(":") else None


def _action_text(text: str) -> str | None:
    """The text of the last ``Action:`` line, stripped; None when there is none. A bare
    ``Action:`` takes the next non-blank line; with only blank lines after it, it counts (as "")
    only if some whitespace other than newlines follows its colon."""
    found: str | None = None
    before: str | None = None  # what was found before a bare ``Action:``
    waiting = spaces = False
    for line in text.split("\n"):
        if waiting:
            if line.strip():
                found, waiting = line.strip(), False
            spaces = spaces or bool(line)
            continue
        value = _label_value(line, "action")
        if value is None:
            continue
        before, found = found, value.strip()
        waiting, spaces = not found, bool(value)
    if waiting and not spaces:
        return before
    return found


def _action_input(text: str) -> str:
    """Everything after the first ``Action Input:``, stripped ("" when there is none)."""
    offset = 0
    for line in text.split("\n"):
        value = _label_value(line, "action input")
        if value is not None:
            return (value + text[offset + len(line) :]).strip()
        offset += len(line) + 1
    return ""


def _split_call(line: str) -> tuple[str, str] | None:
    """``(name, raw arguments)`` of ``name(args)`` or ``name`` (in optional backticks), else None."""
    body = line.lstrip("`").rstrip("`").rstrip()
    m = _NAME.match(body)
    if m is None:
        return None
    rest = body[m.end() :].lstrip()
    if not rest:
        return m.group(), ""
    if len(rest) >= 2 and rest[0] == "(" and rest[-1] == ")":
        return m.group(), rest[1:-1].strip()
    return None


def parse_action(text: str, call_id: str) -> ToolCall | None:
    """The tool call in a ReAct reply, or None if it has no ``Action:`` line.

    An action whose arguments are not a JSON object comes back with ``parse_error`` set.
    """
    line = _action_text(text)
    if line is None:
        return None
    parts = _split_call(line)
    if parts is None:
        return ToolCall(
            id=call_id,
            name=line.split("(")[0].strip() or "?",
            raw_arguments=line,
            parse_error="could not read 'tool_name({...})'",
        )
    name, raw = parts
    if not raw:
        raw = _action_input(text)
    if not raw:
        return ToolCall(id=call_id, name=name, arguments={})
    try:
        args = json.loads(raw)
    except json.JSONDecodeError as e:
        return ToolCall(id=call_id, name=name, raw_arguments=raw, parse_error=f"invalid JSON: {e.msg}")
    except RecursionError:
        return ToolCall(id=call_id, name=name, raw_arguments=raw, parse_error="invalid JSON: nested too deep")
    if not isinstance(args, dict):
        return ToolCall(
            id=call_id, name=name, raw_arguments=raw, parse_error="arguments must be a JSON object"
        )
    return ToolCall(id=call_id, name=name, arguments=args)


class ReActAgent:
    """``max_context_tokens``: the history budget (see :mod:`palaestra.agents.context`)."""

    def __init__(
        self,
        model: Model,
        env: Env,
        config: GenerateConfig | None = None,
        *,
        max_context_tokens: int | None = None,
    ) -> None:
        self.model = model
        self.max_context_tokens = check_budget(max_context_tokens)
        self.free_text = env.spec.free_text
        self.config = config or GenerateConfig()
        self.history: list[Message] = []
        self.tools_shown: list[ToolSpec] | None = None
        self.n = 0
        self.format_error = False

    async def reset(self, task: Task) -> None:
        self.history = []
        self.tools_shown = None
        self.n = 0
        self.format_error = False

    def _render(self, observation: Observation) -> list[Message]:
        out: list[Message] = []
        texts: list[str] = []
        for m in observation.messages:
            if m.role == "system":
                out.append(Message(role="system", content=f"{m.content}\n\n{FORMAT}"))
            elif m.role == "tool":
                texts.append(f"Observation: {m.content}")
            else:
                texts.append(m.content)
        if observation.tools is not self.tools_shown and observation.tools:
            texts.append(describe_tools(observation.tools))
            self.tools_shown = observation.tools
        if self.format_error:
            texts.append("Format error: your reply had no 'Action: tool_name({...})' line. " + FORMAT)
        if texts:
            out.append(Message(role="user", content="\n\n".join(texts)))
        return out

    async def act(self, observation: Observation) -> Message:
        self.history.extend(self._render(observation))
        out = await self.model.generate(fit_history(self.history, self.max_context_tokens), None, self.config)
        text = out.message.content
        self.history.append(Message(role="assistant", content=text))
        self.n += 1
        call = parse_action(text, f"call_{self.n}")
        self.format_error = call is None and not self.free_text
        return Message(role="assistant", content=text, tool_calls=[call] if call else [])


def react_agent(
    *,
    env: Env,
    model: Model | None = None,
    seed: int = 0,
    config: GenerateConfig | None = None,
    max_context_tokens: int | None = None,
    **_: Any,
) -> Agent:
    if model is None:
        raise UsageError("agent 'react' needs a model: pass --model PROVIDER:NAME")
    return ReActAgent(model, env, config, max_context_tokens=max_context_tokens)
