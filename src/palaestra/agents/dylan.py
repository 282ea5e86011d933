"""``dylan``: pick the team from a pool by each member's measured contribution (DyLAN's agent
importance, measured on train tasks).

Option ``members`` is the pool: model specs (``"openai:A|openai:B|local:C"``), each an inner agent
(option ``inner``, any action format) on its own model. Before the first episode at a difficulty,
every member plays ``calibrate`` train tasks of the env at that difficulty on its own (a fresh env
instance, tasks drawn from ``calibration_seed``): its *contribution* is the share of those tasks it
solved, its mean progress breaking ties, then its place in the pool. For each task the ``k`` members
with the highest contribution at the task's difficulty form the team, a
:class:`~palaestra.agents.jury.Jury` over them (options ``tie_break``, ``rounds``).

In a run, each calibration episode's outcome is kept in the run's memory bank (kind ``dylan``, one
entry per member and train task, written with split ``train``), so later episodes and later runs in
the same store read the scores back instead of playing again; the bank never returns what was
written on dev or test tasks, and calibration tasks are train tasks only, so nothing a test episode
did can move the choice. Outside a run, each agent calibrates for itself. The calibration's model
calls are recorded with the episode that made them.

Each step's trace has the scores (``contribution``, ``progress``, ``tasks`` per member), the chosen
members (``team``), the number of calibration episodes played before it (``calibrated``, where
any) and the jury's own trace (``members``, ``votes``, ``chosen``: the proposal taken).
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

from palaestra.agents.base import agent_needs_model, memory_bank
from palaestra.agents.jury import Jury, TieBreak, member_specs
from palaestra.agents.strategy import Members, build_inner, close_agent, close_all
from palaestra.env import Env, make
from palaestra.errors import UsageError
from palaestra.models.base import GenerateConfig, Model
from palaestra.policy import Agent, agent_trace
from palaestra.records import MemoryBank, MemoryEntry
from palaestra.sanitize import clean_message
from palaestra.types import Message, Observation, Task

KIND = "dylan"
"""Memory kind of calibration outcomes: key ``inner|member spec|difficulty``, value JSON
``{"success": bool, "progress": float, "steps": int}``."""

_LOCKS: dict[tuple[int, str, str], asyncio.Lock] = {}
"""One calibration at a time per bank, env and pool: concurrent episodes wait and read its scores."""


@dataclass(frozen=True)
class Score:
    """A member's measured contribution on the train calibration tasks."""

    contribution: float
    """Share of the calibration tasks it solved on its own."""
    progress: float
    """Its mean progress on them (breaks ties)."""
    tasks: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "contribution": round(self.contribution, 4),
            "progress": round(self.progress, 4),
            "tasks": self.tasks,
        }


def score_of(outcomes: list[dict[str, Any]]) -> Score:
    """The score of a member from its calibration outcomes."""
    n = len(outcomes)
    if not n:
        return Score(0.0, 0.0, 0)
    return Score(
        sum(bool(o["success"]) for o in outcomes) / n, sum(float(o["progress"]) for o in outcomes) / n, n
    )


def top_k(names: list[str], scores: dict[str, Score], k: int) -> list[int]:
    """The pool indices of the ``k`` members of highest contribution (progress, then pool order,
    break ties), in pool order."""
    ranked = sorted(
        range(len(names)), key=lambda i: (-scores[names[i]].contribution, -scores[names[i]].progress, i)
    )
    return sorted(ranked[:k])


async def solo(env: Env, agent: Agent, task: Task, *, withhold: bool, max_steps: int) -> dict[str, Any]:
    """One calibration episode of ``agent`` alone on ``task``: whether it solved it, its progress and
    its steps."""
    observation = await env.reset(task)
    await agent.reset(task.public() if withhold else task)
    success, progress, steps = False, 0.0, 0
    while steps < max_steps:
        steps += 1
        action = clean_message(await agent.act(observation))
        agent_trace(agent)  # a calibration episode's traces are not the episode's
        step = await env.step(action)
        success = bool(step.info.get("success", False))
        progress = float(step.info.get("progress", progress))
        if step.terminated or step.truncated:
            break
        observation = step.observation
    return {"success": success, "progress": 1.0 if success else progress, "steps": steps}


class Dylan:
    """The pool, its scores per difficulty, and the jury of the current task."""

    def __init__(
        self,
        env: Env,
        pool: list[tuple[str, str, Agent]],
        *,
        inner: str,
        k: int,
        calibrate: int,
        calibration_seed: int,
        bank: MemoryBank | None,
        tie_break: TieBreak,
        rounds: int,
        seed: int,
        models: Members,
        build: Any,
    ) -> None:
        self.env = env
        self.pool = pool
        """(name, memory key prefix, agent) of each member."""
        self.inner, self.k, self.calibrate, self.calibration_seed = inner, k, calibrate, calibration_seed
        self.bank = bank
        self.tie_break: TieBreak = tie_break
        self.rounds, self.seed = rounds, seed
        self.models = models
        self.build = build
        """``build(i, env) -> Agent``: a fresh agent of pool member ``i`` in ``env`` (calibration)."""
        self.local: dict[str, list[dict[str, Any]]] = {}
        """Calibration outcomes by memory key, when there is no bank."""
        self.scores: dict[str, Score] = {}
        self.chosen: list[int] = []
        self.jury: Jury | None = None
        self.calibrated = 0

    async def reset(self, task: Task) -> None:
        self.scores = await self.measure(task.difficulty)
        names = [name for name, _, _ in self.pool]
        self.chosen = top_k(names, self.scores, self.k)
        team = [(names[i], self.pool[i][2]) for i in self.chosen]
        self.jury = Jury(team, tie_break=self.tie_break, seed=self.seed, rounds=self.rounds)
        await self.jury.reset(task)

    async def act(self, observation: Observation) -> Message:
        assert self.jury is not None, "reset first"
        return await self.jury.act(observation)

    def pop_trace(self) -> dict[str, Any] | None:
        vote = self.jury.pop_trace() if self.jury is not None else None
        if vote is None:
            return None
        trace = {
            "scores": {name: self.scores[name].as_dict() for name, _, _ in self.pool},
            "team": [self.pool[i][0] for i in self.chosen],
            **vote,
        }
        if self.calibrated:
            trace["calibrated"], self.calibrated = self.calibrated, 0
        return trace

    async def aclose(self) -> None:
        await close_all([agent for _, _, agent in self.pool], self.models)

    # ---- calibration ---------------------------------------------------------------------------
    def key(self, i: int, difficulty: int) -> str:
        return f"{self.pool[i][1]}|d{difficulty}"

    def outcomes(self, key: str) -> dict[str, dict[str, Any]]:
        """Calibration outcomes of a member key by train task id (the bank's: train entries only)."""
        if self.bank is None:
            return {o["task_id"]: o for o in self.local.get(key, [])}
        entries = self.bank.recall(self.env.spec.name, KIND, limit=100_000)
        return {e.task_id: {**json.loads(e.value), "task_id": e.task_id} for e in entries if e.key == key}

    async def measure(self, difficulty: int) -> dict[str, Score]:
        """Every member's score at ``difficulty``, calibrating what is missing first."""
        tasks = self.env.tasks("train", self.calibrate, seed=self.calibration_seed, difficulty=difficulty)
        lock_key = (
            id(self.bank),
            self.env.spec.name,
            "|".join(self.key(i, difficulty) for i in range(len(self.pool))),
        )
        async with _LOCKS.setdefault(lock_key, asyncio.Lock()):
            scores: dict[str, Score] = {}
            for i, (name, _, _) in enumerate(self.pool):
                key = self.key(i, difficulty)
                done = self.outcomes(key)
                missing = [t for t in tasks if t.id not in done]
                if missing:
                    await self._calibrate(i, key, missing)
                    done = self.outcomes(key)
                scores[name] = score_of([done[t.id] for t in tasks if t.id in done])
            return scores

    async def _calibrate(self, i: int, key: str, tasks: list[Task]) -> None:
        withhold = agent_needs_model(self.inner, {})
        kept: list[MemoryEntry] = []
        for task in tasks:
            assert task.split == "train"  # never calibrate on anything else
            env = make(self.env.spec.name)
            assert isinstance(env, Env)
            agent = self.build(i, env)
            try:
                out = await solo(env, agent, task, withhold=withhold, max_steps=self.env.spec.max_steps)
            finally:
                await close_agent(agent)
                await env.close()
            self.calibrated += 1
            kept.append(MemoryEntry(self.env.spec.name, task.split, task.id, KIND, key, json.dumps(out)))
            self.local.setdefault(key, []).append({**out, "task_id": task.id})
        if self.bank is not None:
            self.bank.remember(kept)


def dylan_agent(
    *,
    env: Env,
    model: Model | None = None,
    seed: int = 0,
    config: GenerateConfig | None = None,
    inner: str = "tools",
    members: Any = None,
    k: int = 2,
    calibrate: int = 4,
    calibration_seed: int = 0,
    tie_break: str = "first",
    rounds: int = 0,
    **options: Any,
) -> Agent:
    """``members``: the pool's model specs (a list, or ``"A|B|C"``); ``k``: members per team;
    ``calibrate``: train tasks each member plays alone to measure its contribution;
    ``calibration_seed``: the seed of those tasks; ``tie_break``, ``rounds``: the team's jury."""
    if members is None:
        raise UsageError("dylan needs a pool: --agent-opt members='openai:A|openai:B|openai:C'")
    specs = member_specs(members, model)
    for name, value, low in (
        ("k", k, 1),
        ("calibrate", calibrate, 1),
        ("calibration_seed", calibration_seed, 0),
    ):
        if not isinstance(value, int) or isinstance(value, bool) or value < low:
            raise UsageError(f"dylan: {name} must be an integer >= {low}, got {value!r}")
    if k > len(specs):
        raise UsageError(f"dylan: k={k} is more than the pool's {len(specs)} members")
    if not isinstance(rounds, int) or rounds < 0:
        raise UsageError(f"dylan: rounds must be 0 or more, got {rounds!r}")
    if tie_break not in ("first", "seeded"):
        raise UsageError(f"dylan: tie_break must be 'first' or 'seeded', got {tie_break!r}")
    models = Members(model)
    member_models = [models.model(spec, f"dylan member {i}") for i, spec in enumerate(specs)]

    def build(i: int, where: Env) -> Agent:
        return build_inner(
            inner, env=where, model=member_models[i], seed=seed + i, config=config, options=options
        )

    pool = [
        (f"{i}:{spec or member_models[i].name}", f"{inner}|{spec or member_models[i].name}", build(i, env))
        for i, spec in enumerate(specs)
    ]
    return Dylan(
        env,
        pool,
        inner=inner,
        k=k,
        calibrate=calibrate,
        calibration_seed=calibration_seed,
        bank=memory_bank(),
        tie_break=tie_break,  # type: ignore[arg-type]
        rounds=rounds,
        seed=seed,
        models=models,
        build=build,
    )
