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

_ACTION = re.compile(r"^\s*\**Action\**\s*:\s*(.+?)\s*$", re.MULTILINE | re.IGNORECASE)
_ACTION_INPUT = re.compile(r"^\s*\**Action Input\**\s*:\s*(.+)", re.MULTILINE | re.IGNORECASE | re.DOTALL)
_CALL = re.compile(r"^`*([A-Za-z_][\w\-.]*)\s*(?:\((.*)\))?\s*`*$", re.DOTALL)


def parse_action(text: str, call_id: str) -> ToolCall | None:
    """The tool call in a ReAct reply, or None if it has no ``Action:`` line.

    An action whose arguments are not a JSON object comes back with ``parse_error`` set.
    """
    matches = _ACTION.findall(text)
    if not matches:
        return None
    line = matches[-1].strip()
    m = _CALL.match(line)
    if m is None:
        return ToolCall(
            id=call_id,
            name=line.split("(")[0].strip() or "?",
            raw_arguments=line,
            parse_error="could not read 'tool_name({...})'",
        )
    name, raw = m.group(1), (m.group(2) or "").strip()
    if not raw:
        extra = _ACTION_INPUT.search(text)
        raw = extra.group(1).strip() if extra else ""
    if not raw:
        return ToolCall(id=call_id, name=name, arguments={})
    try:
        args = json.loads(raw)
    except json.JSONDecodeError as e:
        return ToolCall(id=call_id, name=name, raw_arguments=raw, parse_error=f"invalid JSON: {e.msg}")
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
