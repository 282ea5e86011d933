"""The agent registry (``--agent NAME``); the ``Agent`` contract itself is in :mod:`palaestra.policy`."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from palaestra.policy import Agent
from palaestra.registry import Registry

if TYPE_CHECKING:
    from palaestra.env import Env
    from palaestra.models.base import Model


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
