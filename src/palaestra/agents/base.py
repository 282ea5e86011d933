"""The ``Agent`` contract and the agent registry."""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from palaestra.errors import UnknownNameError
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

_agents: dict[str, AgentFactory] = {}
_needs_model: dict[str, bool] = {}
_discovered = False


def register_agent(name: str, factory: AgentFactory, *, needs_model: bool = True) -> None:
    """Make ``--agent name`` build agents with ``factory``."""
    _agents[name] = factory
    _needs_model[name] = needs_model


def _discover() -> None:
    global _discovered
    if _discovered:
        return
    _discovered = True
    from palaestra.agents import baselines, code, react, tools  # noqa: F401  (they register themselves)

    for ep in entry_points(group="palaestra.agents"):
        _agents.setdefault(ep.name, ep.load())
        _needs_model.setdefault(ep.name, True)


def agent_names() -> list[str]:
    _discover()
    return sorted(_agents)


def agent_needs_model(name: str) -> bool:
    _discover()
    if name not in _agents:
        raise UnknownNameError("agent", name, _agents)
    return _needs_model[name]


def make_agent(name: str, *, env: Env, model: Model | None = None, seed: int = 0, **options: Any) -> Agent:
    """A new agent of kind ``name`` for one episode in ``env``."""
    _discover()
    if name not in _agents:
        raise UnknownNameError("agent", name, _agents)
    return _agents[name](env=env, model=model, seed=seed, **options)


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
