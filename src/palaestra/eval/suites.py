"""Named evaluation suites: which environments, split, tasks and samples make up a benchmark.

A suite becomes one ordinary run (one ``RunConfig``), so it is stored, resumed, shown, compared and
exported like any other run. Its environments are resolved when the run is created and stored
with it, so ``--resume`` repeats exactly the same episodes even if environments were added since.

* ``quick`` — 6 test tasks of every single-agent environment (2 per difficulty level), one sample:
  a smoke test that takes seconds with the expert.
* ``core`` — 60 test tasks of every single-agent environment (20 per level), one sample: the
  benchmark to report.
* ``safety`` — 6 test tasks of each prompt-injection variant (tools, shop, crm, household), of
  the knowledge-poisoning one (tools-poison) and of the memory-poisoning one (tools-mempoison), each
  agent run twice on them, without and under attack (:func:`safety_configs`): utility, utility
  under attack and attack success rate, per agent, template and defence.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from palaestra.agents.base import agent_needs_model
from palaestra.env import Env, env_factory, env_names, make
from palaestra.errors import UnknownNameError, UsageError
from palaestra.runner.run import RunConfig
from palaestra.types import Split

SAFETY_ENVS = (
    "tools-attack",
    "shop-attack",
    "crm-attack",
    "household-attack",
    "tools-poison",
    "tools-mempoison",
)
SAFETY_LINEUP: tuple[tuple[str, dict[str, Any]], ...] = (
    ("random", {}),
    ("expert", {}),
    ("gullible", {}),
    ("careful", {}),
    ("memory", {"inner": "gullible"}),
    *((d, {"inner": "gullible"}) for d in ("spotlight", "sandwich", "tool_filter", "detector")),
)
"""The agents of ``eval safety`` when none is named: the baselines, both scripted victims, the
gullible one behind a retrieval memory (the victim of memory poisoning), and each defence around the gullible one (with ``--model``, the model's ``tools`` agent and each
defence around it are added)."""


@dataclass(frozen=True, slots=True)
class Suite:
    name: str
    description: str
    split: Split = "test"
    tasks: int = 10
    """Tasks per environment (they cycle through the difficulty levels)."""
    samples: int = 1
    """Episodes per task."""
    envs: tuple[str, ...] | None = None
    """The environments; ``None``: every registered single-agent environment."""

    def env_list(self) -> list[str]:
        return list(self.envs) if self.envs is not None else single_agent_envs()


SUITES: dict[str, Suite] = {
    s.name: s
    for s in (
        Suite("quick", "6 test tasks of every single-agent env, 2 per level: a smoke test", tasks=6),
        Suite("core", "60 test tasks of every single-agent env, 20 per level: the benchmark", tasks=60),
        Suite(
            "safety",
            "prompt injection: 6 test tasks of each attack variant, without and under attack",
            tasks=6,
            envs=SAFETY_ENVS,
        ),
    )
}


def suite_names() -> list[str]:
    return list(SUITES)


def get_suite(name: str) -> Suite:
    if name not in SUITES:
        raise UnknownNameError("suite", name, SUITES)
    return SUITES[name]


def single_agent_envs() -> list[str]:
    """Every registered environment that is a single-agent ``Env``, in name order."""
    out = []
    for name in env_names():
        factory = env_factory(name)
        if isinstance(factory, type):
            if issubclass(factory, Env):
                out.append(name)
            continue
        try:  # a factory function: look at what it builds
            if isinstance(make(name), Env):
                out.append(name)
        except Exception:  # a broken plugin must not break every suite
            continue
    return out


def suite_config(
    name: str,
    *,
    envs: list[str] | None = None,
    tasks: int | None = None,
    samples: int | None = None,
    **options: Any,
) -> RunConfig:
    """The ``RunConfig`` of suite ``name``; ``envs`` restricts it to some of its environments,
    ``tasks`` and ``samples`` override its counts, ``options`` are other ``RunConfig`` fields
    (agent, model, seed, concurrency, ...)."""
    suite = get_suite(name)
    members = suite.env_list()
    if envs:
        unknown = [e for e in envs if e not in members]
        if unknown:
            raise UsageError(
                f"suite {name!r} has no environment {', '.join(map(repr, unknown))}; "
                f"its environments: {', '.join(members)}"
            )
        members = [e for e in members if e in envs]
    if not members:
        raise UsageError(f"suite {name!r} has no environments (is anything registered?)")
    return RunConfig(
        envs=members,
        split=suite.split,
        tasks=suite.tasks if tasks is None else tasks,
        samples=suite.samples if samples is None else samples,
        **options,
    )


def safety_lineup(agent: str | None, model: str | None) -> list[tuple[str, dict[str, Any]]]:
    """The agents ``eval safety`` runs: ``agent`` alone, or the default lineup (plus the model's
    ``tools`` agent and the defences around it when a model is given)."""
    if agent:
        return [(agent, {})]
    lineup = list(SAFETY_LINEUP)
    if model:
        lineup += [
            ("tools", {}),
            *((d, {"inner": "tools"}) for d in ("spotlight", "sandwich", "tool_filter", "detector")),
        ]
    return lineup


def safety_configs(
    lineup: list[tuple[str, dict[str, Any]]],
    *,
    envs: list[str] | None = None,
    tasks: int | None = None,
    samples: int | None = None,
    model: str | None = None,
    agent_options: dict[str, Any] | None = None,
    **options: Any,
) -> list[RunConfig]:
    """Two runs per agent of the lineup on the safety suite's tasks: without attack, then under it."""
    configs = []
    for agent, opts in lineup:
        for attack in (False, True):
            base = suite_config("safety", envs=envs, tasks=tasks, samples=samples, **options)
            configs.append(
                base.model_copy(
                    update={
                        "agent": agent,
                        "model": model if agent_needs_model(agent, opts) else None,
                        "agent_options": {**(agent_options or {}), **opts},
                        "env_kwargs": {e: {"attack": attack} for e in base.envs},
                    }
                )
            )
    return configs
