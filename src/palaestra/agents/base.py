"""The ``Agent`` contract and the agent registry."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from palaestra.registry import Registry
from palaestra.types import Message, Observation, Task, ToolCall

if TYPE_CHECKING:
    from palaestra.env import Env
    from palaestra.models.base import Model


@runtime_checkable
class Agent(Protocol):
    """Acts in an environment. It owns its context (history, memory) and, usually, calls a model."""

    async def reset(self, task: Task) -> None: ...

    async def act(self, observation: Observation) -> Message: ...


AgentFactory = Callable[..., Agent]
"""``factory(env=..., model=..., seed=..., **options) -> Agent``; ``model`` may be None."""

AGENTS: Registry[AgentFactory] = Registry("agent", "palaestra.agents")
"""Every agent kind by name (``--agent NAME``). Metadata ``needs_model`` (default True)."""
for _name, _ref, _needs in (
    ("expert", "palaestra.agents.baselines:expert_agent", False),
    ("random", "palaestra.agents.baselines:random_agent", False),
    ("tools", "palaestra.agents.tools:tools_agent", True),
    ("react", "palaestra.agents.react:react_agent", True),
    ("code", "palaestra.agents.code:code_agent", True),
):
    AGENTS.register(_name, _ref, needs_model=_needs)


def register_agent(name: str, factory: AgentFactory, *, needs_model: bool = True) -> None:
    """Make ``--agent name`` build agents with ``factory``."""
    AGENTS.register(name, factory, needs_model=needs_model)


def agent_names() -> list[str]:
    return AGENTS.names()


def agent_needs_model(name: str) -> bool:
    return bool(AGENTS.meta(name).get("needs_model", True))


def make_agent(name: str, *, env: Env, model: Model | None = None, seed: int = 0, **options: Any) -> Agent:
    """A new agent of kind ``name`` for one episode in ``env``."""
    return AGENTS.get(name)(env=env, model=model, seed=seed, **options)


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
