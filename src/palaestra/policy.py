"""The contract of whoever acts in an environment: the ``Agent`` protocol, the ``Policy`` base of
scripted players (experts, bots) and ``action`` to build a tool call.

Environments (their experts), agents, the runner and every bridge use these, so they live below all
of them and import nothing but the core types.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from palaestra.types import Message, Observation, Task, ToolCall


@runtime_checkable
class Agent(Protocol):
    """Acts in an environment. It owns its context (history, memory) and, usually, calls a model."""

    async def reset(self, task: Task) -> None: ...

    async def act(self, observation: Observation) -> Message: ...


def action(name: str, call_id: str | None = None, /, **arguments: Any) -> Message:
    """An assistant message that calls one tool: ``action("move", direction="north")``."""
    return Message(
        role="assistant",
        tool_calls=[ToolCall(id=call_id or f"call_{name}", name=name, arguments=arguments)],
    )


class Policy:
    """Base for scripted policies (experts, bots): implement ``choose(observation) -> Message``."""

    task: Task

    async def reset(self, task: Task) -> None:
        self.task = task

    async def act(self, observation: Observation) -> Message:
        return self.choose(observation)

    def choose(self, observation: Observation) -> Message:
        raise NotImplementedError
