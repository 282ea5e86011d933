"""The agent registry (``--agent NAME``); the ``Agent`` contract itself is in :mod:`palaestra.policy`."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from palaestra.errors import UsageError
from palaestra.policy import Agent
from palaestra.registry import Registry

if TYPE_CHECKING:
    from palaestra.env import Env
    from palaestra.models.base import Model


AgentFactory = Callable[..., Agent]
"""``factory(env=..., model=..., seed=..., **options) -> Agent``; ``model`` may be None."""

AGENTS: Registry[AgentFactory] = Registry("agent", "palaestra.agents")
"""Every agent kind by name (``--agent NAME``). Metadata ``needs_model`` (default True)."""
_needs: bool | str
for _name, _ref, _needs in (
    ("expert", "palaestra.agents.baselines:expert_agent", False),
    ("random", "palaestra.agents.baselines:random_agent", False),
    ("tools", "palaestra.agents.tools:tools_agent", True),
    ("react", "palaestra.agents.react:react_agent", True),
    ("code", "palaestra.agents.code:code_agent", True),
    ("gullible", "palaestra.agents.victims:gullible_agent", False),
    ("careful", "palaestra.agents.victims:careful_agent", False),
    ("spotlight", "palaestra.agents.defences:spotlight_agent", "inner"),
    ("sandwich", "palaestra.agents.defences:sandwich_agent", "inner"),
    ("tool_filter", "palaestra.agents.defences:tool_filter_agent", "inner"),
    ("detector", "palaestra.agents.defences:detector_agent", "inner"),
):
    AGENTS.register(_name, _ref, needs_model=_needs)


def register_agent(name: str, factory: AgentFactory, *, needs_model: bool | str = True) -> None:
    """Make ``--agent name`` build agents with ``factory``. ``needs_model="inner"``: a wrapper that
    needs a model exactly when the agent it wraps (option ``inner``, default ``tools``) does."""
    AGENTS.register(name, factory, needs_model=needs_model)


def agent_names() -> list[str]:
    return AGENTS.names()


def agent_needs_model(name: str, options: Mapping[str, Any] | None = None) -> bool:
    """Whether agent ``name`` (built with ``options``) calls a model; a wrapper registered with
    ``needs_model="inner"`` answers for the agent it wraps."""
    needs = AGENTS.meta(name).get("needs_model", True)
    if needs == "inner":
        inner = (options or {}).get("inner", "tools")
        return agent_needs_model(str(inner)) if inner != name else True
    return bool(needs)


def check_agent_options(name: str, options: dict[str, Any]) -> None:
    """Refuse, before a run starts, options that agent ``name``'s factory cannot take (a factory
    with ``**options`` passes them on, e.g. to the agent it wraps, and is checked when built)."""
    params = inspect.signature(AGENTS.get(name)).parameters.values()
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return
    taken = {p.name for p in params} - {"env", "model", "seed", "config"}
    unknown = sorted(set(options) - taken)
    if unknown:
        offered = ", ".join(sorted(taken)) or "none"
        raise UsageError(f"agent {name!r} takes no option {unknown[0]!r} (its options: {offered})")


def make_agent(name: str, *, env: Env, model: Model | None = None, seed: int = 0, **options: Any) -> Agent:
    """A new agent of kind ``name`` for one episode in ``env``.

    ``options`` come from the run's config (``--agent-opt KEY=VALUE``). A strategy that wraps another
    agent takes the inner one's name as option ``inner`` and builds it with this same function,
    passing on the options it does not use itself. An option no factory takes is a usage error.
    """
    factory = AGENTS.get(name)
    try:
        return factory(env=env, model=model, seed=seed, **options)
    except TypeError as e:
        if "unexpected keyword argument" not in str(e):
            raise
        raise UsageError(f"agent {name!r}: {str(e).split('() ', 1)[-1]} (check --agent-opt)") from None
