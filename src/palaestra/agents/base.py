"""The agent registry (``--agent NAME``); the ``Agent`` contract itself is in :mod:`palaestra.policy`."""

from __future__ import annotations

import inspect
from collections.abc import Callable
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
for _name, _ref, _needs in (
    ("expert", "palaestra.agents.baselines:expert_agent", False),
    ("random", "palaestra.agents.baselines:random_agent", False),
    ("noisy", "palaestra.agents.noisy:noisy_agent", False),
    ("tools", "palaestra.agents.tools:tools_agent", True),
    ("react", "palaestra.agents.react:react_agent", True),
    ("code", "palaestra.agents.code:code_agent", True),
):
    AGENTS.register(_name, _ref, needs_model=_needs)


def _search_needs_model(options: dict[str, Any]) -> bool:
    """A search strategy needs the run's model when the agent it wraps does, or to value states."""
    from palaestra.agents.search import needs_model

    return needs_model(options)


def _search_inner_options(name: str, options: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    from palaestra.agents.search import inner_options

    return inner_options(AGENTS.get(name), options)


for _name, _ref in (
    ("bestofn", "palaestra.agents.bestofn:bestofn_agent"),
    ("beam", "palaestra.agents.beam:beam_agent"),
    ("mcts", "palaestra.agents.mcts:mcts_agent"),
    ("astar", "palaestra.agents.astar:astar_agent"),
):
    AGENTS.register(_name, _ref, needs_model=_search_needs_model, wraps=_search_inner_options)


def register_agent(
    name: str, factory: AgentFactory, *, needs_model: bool | Callable[[dict[str, Any]], bool] = True
) -> None:
    """Make ``--agent name`` build agents with ``factory``. ``needs_model`` may depend on the agent's
    options (a strategy needs a model when the agent it wraps does)."""
    AGENTS.register(name, factory, needs_model=needs_model)


def agent_names() -> list[str]:
    return AGENTS.names()


def agent_needs_model(name: str, options: dict[str, Any] | None = None) -> bool:
    """Whether agent ``name`` with ``options`` (``--agent-opt``) needs the run's model."""
    needs = AGENTS.meta(name).get("needs_model", True)
    return bool(needs(options or {}) if callable(needs) else needs)


def check_agent_options(name: str, options: dict[str, Any]) -> None:
    """Refuse, before a run starts, options that agent ``name``'s factory cannot take (a factory
    with ``**options`` passes them on, e.g. to the agent it wraps, and is checked when built; one
    registered with ``wraps=fn``, ``fn(factory, options) -> (inner name, inner options)``, has the
    options it passes on checked against the agent it wraps)."""
    params = inspect.signature(AGENTS.get(name)).parameters.values()
    wraps = AGENTS.meta(name).get("wraps")
    if callable(wraps):
        inner, rest = wraps(name, options)
        check_agent_options(inner, rest)
        return
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
