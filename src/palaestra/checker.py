"""``check_env``: does an environment keep the contract? (the counterpart of Gymnasium's checker)

It checks that task generation is reproducible and the splits are disjoint, that the same task and
the same actions give byte-identical observations, that bad actions come back as invalid steps and
never as exceptions, and it measures the expert's and the random baseline's success on a split.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from palaestra.agents.base import make_agent
from palaestra.env import Env, make
from palaestra.records import EpisodeRecord
from palaestra.runner.episode import rollout
from palaestra.types import Message, Split, Task, ToolCall


@dataclass
class CheckReport:
    env: str
    expert_success: float = 0.0
    expert_reward: float = 0.0
    random_success: float = 0.0
    random_reward: float = 0.0
    problems: list[str] = field(default_factory=list)
    episodes: dict[str, list[EpisodeRecord]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems


def _new_env(name: str, **kwargs: Any) -> Env:
    env = make(name, **kwargs)
    if not isinstance(env, Env):
        raise TypeError(f"{name} is not a single-agent Env")
    return env


async def run_agent(
    name: str, agent: str, tasks: list[Task], seed: int = 0, env_kwargs: dict[str, Any] | None = None
) -> list[EpisodeRecord]:
    """Play ``tasks`` one after another with a model-free agent (expert, random)."""
    out = []
    for task in tasks:
        env = _new_env(name, **(env_kwargs or {}))
        ag = make_agent(agent, env=env, seed=seed)
        rec = EpisodeRecord(id=task.id, task=task, agent=agent, model="")
        out.append(await rollout(env, ag, task, record=rec))
    return out


def _transcript(rec: EpisodeRecord) -> str:
    parts = [m.model_dump_json() for s in rec.steps for m in [*s.observation, s.action]]
    parts += [m.model_dump_json() for m in rec.final]
    return "\n".join(parts)


async def acheck_env(
    name: str, n: int = 30, split: Split = "test", env_kwargs: dict[str, Any] | None = None
) -> CheckReport:
    env = _new_env(name, **(env_kwargs or {}))
    report = CheckReport(env=name)
    p = report.problems

    # Task generation: reproducible, distinct, disjoint across splits, id says the split.
    tasks = env.tasks(split, n, seed=0)
    if [t.id for t in tasks] != [t.id for t in _new_env(name, **(env_kwargs or {})).tasks(split, n, seed=0)]:
        p.append("tasks() is not reproducible for the same seed")
    if len({t.id for t in tasks}) != len(tasks):
        p.append("tasks() returned duplicate task ids")
    ids: dict[str, set[str]] = {}
    for s in ("train", "dev", "test"):
        ids[s] = {t.id for t in env.tasks(s, min(n, 20), seed=1)}
    if ids["train"] & ids["test"] or ids["train"] & ids["dev"] or ids["dev"] & ids["test"]:
        p.append("train/dev/test task ids overlap")

    # Expert and random baseline.
    expert = await run_agent(name, "expert", tasks, env_kwargs=env_kwargs)
    rand = await run_agent(name, "random", tasks, env_kwargs=env_kwargs)
    report.episodes = {"expert": expert, "random": rand}
    for label, recs in (("expert", expert), ("random", rand)):
        errors = [r for r in recs if r.status == "error"]
        if errors:
            p.append(f"{label}: {len(errors)} episodes raised: {errors[0].error}")
    report.expert_success = sum(r.success for r in expert) / len(expert)
    report.expert_reward = sum(r.reward for r in expert) / len(expert)
    report.random_success = sum(r.success for r in rand) / len(rand)
    report.random_reward = sum(r.reward for r in rand) / len(rand)

    # Determinism: replaying the expert's actions on a fresh env gives the same bytes.
    for rec in expert[:5]:
        replay = _new_env(name, **(env_kwargs or {}))
        copy = EpisodeRecord(id=rec.id, task=rec.task, agent="replay", model="")
        await rollout(replay, _Replay([s.action for s in rec.steps]), rec.task, record=copy)
        if _transcript(copy) != _transcript(rec):
            p.append(f"task {rec.task.id}: same actions gave different observations")
            break

    # Invalid actions come back as invalid steps, never as exceptions.
    bad = [
        ToolCall(id="bad1", name="no_such_tool_xyz", arguments={}),
        ToolCall(id="bad2", name=env.tool_specs()[0].name, arguments={"no_such_argument_xyz": 1}),
        ToolCall(id="bad3", name=env.tool_specs()[0].name, raw_arguments="{oops", parse_error="bad JSON"),
    ]
    for call in bad:
        e = _new_env(name, **(env_kwargs or {}))
        await e.reset(tasks[0])
        step = await e.step(Message(role="assistant", tool_calls=[call]))
        if not step.info.get("invalid_action"):
            p.append(f"bad call {call.name}({call.arguments}) was not marked invalid_action")
        if step.terminated and step.info.get("success"):
            p.append("a bad call ended the episode with success")
        await e.close()
    return report


class _Replay:
    def __init__(self, actions: list[Message]) -> None:
        self.actions = actions
        self.i = 0

    async def reset(self, task: Task) -> None:
        self.i = 0

    async def act(self, observation: Any) -> Message:
        self.i += 1
        return self.actions[self.i - 1]


def check_env(
    name: str, n: int = 30, split: Split = "test", env_kwargs: dict[str, Any] | None = None
) -> CheckReport:
    """Run every contract check on environment ``name`` over ``n`` tasks of ``split``."""
    return asyncio.run(acheck_env(name, n, split, env_kwargs))
