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


def agent_trace(agent: object) -> dict[str, Any] | None:
    """What ``agent`` did to choose its last action, for the store: its ``pop_trace()`` if it has one.

    A strategy (search, reflection, memory, a team) keeps the inner structure of its last decision
    (the search tree, the reflection it read, the memories it retrieved, which member said what) and
    hands it over once through ``pop_trace() -> dict | None``; the runner stores it with the step
    (``StepRecord.trace``) and the viewer shows it. Plain agents have no ``pop_trace``.
    """
    pop = getattr(agent, "pop_trace", None)
    trace = pop() if callable(pop) else None
    if trace is not None and not isinstance(trace, dict):
        raise TypeError(f"{type(agent).__name__}.pop_trace() returned {type(trace).__name__}, not a dict")
    return trace


def action(name: str, call_id: str | None = None, /, **arguments: Any) -> Message:
    """An assistant message that calls one tool: ``action("move", direction="north")``."""
    return Message(
        role="assistant",
        tool_calls=[ToolCall(id=call_id or f"call_{name}", name=name, arguments=arguments)],
    )


class Policy:
    """Base for scripted policies (experts, bots): implement ``choose(observation) -> Message``.

    An expert is built with the environment passed in and reads its hidden state as ``self.env``
    (declare its type in the subclass, ``env: MazeEnv``; the env declares ``expert_policy =
    ShortestPath``). A policy that reads only its observations is built without one.
    """

    env: Any
    """The environment (or game) the policy reads, where it was built with one."""
    task: Task

    def __init__(self, env: Any = None) -> None:
        if env is not None:
            self.env = env

    async def reset(self, task: Task) -> None:
        self.task = task

    async def act(self, observation: Observation) -> Message:
        return self.choose(observation)

    def choose(self, observation: Observation) -> Message:
        raise NotImplementedError
