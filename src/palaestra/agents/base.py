"""The agent registry (``--agent NAME``); the ``Agent`` contract itself is in :mod:`palaestra.policy`.

An agent name is a registered name (``tools``), a registered name with options
(``team:planner=openai:A,caller=local:B``: the same as ``--agent team --agent-opt planner=openai:A
--agent-opt caller=local:B``), or a reference to a factory in a file or module
(``my_strategy.py:my_agent``; the factory's attribute ``needs_model``, default True, says whether it
needs ``--model``). See docs/add-a-strategy.md.

Cross-episode strategies (reflection over retries, retrieval memory) keep what they remember in a
:class:`~palaestra.records.MemoryBank`. The runner hands its run's store to every agent built while
the run runs (:func:`use_memory`); a factory reads it with :func:`memory_bank` (None outside a run,
or when the store keeps no memories). The run's model options reach the models of team members the
same way (:func:`use_model_options`).
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from palaestra.errors import UsageError
from palaestra.policy import Agent
from palaestra.records import MemoryBank
from palaestra.registry import Registry, load_reference

if TYPE_CHECKING:
    from palaestra.env import Env
    from palaestra.models.base import Model


AgentFactory = Callable[..., Agent]
"""``factory(env=..., model=..., seed=..., **options) -> Agent``; ``model`` may be None."""

AGENTS: Registry[AgentFactory] = Registry("agent", "palaestra.agents")
"""Every agent kind by name (``--agent NAME``). Metadata ``needs_model`` (default True)."""


def _inner_needs_model(options: dict[str, Any]) -> bool:
    """A wrapper (a defence) needs the run's model exactly when the agent it wraps does."""
    inner = str(options.get("inner", "tools"))
    return agent_needs_model(inner, {k: v for k, v in options.items() if k != "inner"})


_INNER = _inner_needs_model
_needs: bool | Callable[[dict[str, Any]], bool]
for _name, _ref, _needs in (
    ("expert", "palaestra.agents.baselines:expert_agent", False),
    ("random", "palaestra.agents.baselines:random_agent", False),
    ("noisy", "palaestra.agents.noisy:noisy_agent", False),
    ("tools", "palaestra.agents.tools:tools_agent", True),
    ("react", "palaestra.agents.react:react_agent", True),
    ("code", "palaestra.agents.code:code_agent", True),
    ("reflexion", "palaestra.agents.reflexion:reflexion_agent", True),
    ("memory", "palaestra.agents.memory:memory_agent", _INNER),
    ("team", "palaestra.agents.team:team_agent", True),
    ("jury", "palaestra.agents.jury:jury_agent", True),
    ("escalate", "palaestra.agents.jury:escalate_agent", True),
    ("dylan", "palaestra.agents.dylan:dylan_agent", True),
    ("flow", "palaestra.agents.flow:flow_agent", True),
    ("state", "palaestra.agents.state:state_agent", True),
    ("gullible", "palaestra.agents.victims:gullible_agent", False),
    ("careful", "palaestra.agents.victims:careful_agent", False),
    ("spotlight", "palaestra.agents.defences:spotlight_agent", _INNER),
    ("sandwich", "palaestra.agents.defences:sandwich_agent", _INNER),
    ("tool_filter", "palaestra.agents.defences:tool_filter_agent", _INNER),
    ("detector", "palaestra.agents.defences:detector_agent", _INNER),
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


def option_value(text: str) -> Any:
    """An option's value: JSON when it parses (32, 0.5, true, ["a"]), else the text itself."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def split_agent_name(name: str) -> tuple[str, dict[str, Any]]:
    """``("team", {"planner": "openai:A", "caller": "local:B"})`` for ``team:planner=openai:A,caller=local:B``;
    a name without options (or a factory reference) comes back as it is, with no options."""
    base, sep, rest = name.partition(":")
    if not sep or base not in AGENTS:
        return name, {}
    options: dict[str, Any] = {}
    for pair in rest.split(","):
        key, eq, value = pair.partition("=")
        if not eq or not key.strip().isidentifier():
            raise UsageError(f"agent {name!r}: expected NAME:KEY=VALUE,KEY=VALUE; got {pair!r}")
        options[key.strip()] = option_value(value)
    return base, options


def agent_factory(name: str) -> AgentFactory:
    """The factory of agent ``name``: registered, or a ``file.py:attr`` / ``module:attr`` reference."""
    base, _ = split_agent_name(name)
    if base in AGENTS or ":" not in base:
        return AGENTS.get(base)
    factory = load_reference(base)
    if not callable(factory):
        raise UsageError(f"agent {name!r} is not a factory (a callable returning an agent)")
    return factory  # type: ignore[no-any-return]


def agent_needs_model(name: str, options: dict[str, Any] | None = None) -> bool:
    """Whether agent ``name`` with ``options`` (``--agent-opt``) needs the run's model."""
    base, named = split_agent_name(name)
    if base in AGENTS or ":" not in base:
        needs = AGENTS.meta(base).get("needs_model", True)
        return bool(needs({**named, **(options or {})}) if callable(needs) else needs)
    return bool(getattr(agent_factory(base), "needs_model", True))


_MEMORY: ContextVar[MemoryBank | None] = ContextVar("palaestra_memory_bank", default=None)


@contextmanager
def use_memory(bank: MemoryBank | None) -> Iterator[None]:
    """Agents built inside this block (and in tasks started inside it) see ``bank`` as
    :func:`memory_bank`: how the runner hands its store to cross-episode strategies."""
    token = _MEMORY.set(bank)
    try:
        yield
    finally:
        _MEMORY.reset(token)


def memory_bank() -> MemoryBank | None:
    """The bank of the run that is building this agent, if any."""
    return _MEMORY.get()


_MODEL_OPTIONS: ContextVar[tuple[str | None, dict[str, Any]]] = ContextVar(
    "palaestra_model_options", default=(None, {})
)


@contextmanager
def use_model_options(spec: str | None, options: dict[str, Any]) -> Iterator[None]:
    """Agents built inside this block see the run's ``--model`` spec and its ``get_model`` options
    (``--base-url``, ``--api-key``) as :func:`run_model_options`: how the runner hands them to the
    models of team members, which are built per episode."""
    token = _MODEL_OPTIONS.set((spec, dict(options)))
    try:
        yield
    finally:
        _MODEL_OPTIONS.reset(token)


def run_model_options() -> tuple[str | None, dict[str, Any]]:
    """The ``--model`` spec and model options of the run building this agent ((None, {}) outside one)."""
    spec, options = _MODEL_OPTIONS.get()
    return spec, dict(options)


def check_agent_options(name: str, options: dict[str, Any]) -> None:
    """Refuse, before a run starts, options that agent ``name``'s factory cannot take (a factory
    with ``**options`` passes them on, e.g. to the agent it wraps, and is checked when built; one
    registered with ``wraps=fn``, ``fn(factory, options) -> (inner name, inner options)``, has the
    options it passes on checked against the agent it wraps)."""
    name, named = split_agent_name(name)
    options = {**named, **options}
    wraps = AGENTS.meta(name).get("wraps") if name in AGENTS else None
    if callable(wraps):
        inner, rest = wraps(name, options)
        check_agent_options(inner, rest)
        return
    params = inspect.signature(agent_factory(name)).parameters.values()
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
    name, named = split_agent_name(name)
    factory = agent_factory(name)
    try:
        return factory(env=env, model=model, seed=seed, **{**named, **options})
    except TypeError as e:
        if "unexpected keyword argument" not in str(e):
            raise
        raise UsageError(f"agent {name!r}: {str(e).split('() ', 1)[-1]} (check --agent-opt)") from None
