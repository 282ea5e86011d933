"""``reflexion``: try the task, reflect on a failure, try again with the reflections in context.

Reflexion (Shinn et al. 2023), Agent-R and AgentRefine learn from a failed attempt. Here the agent
plays whole trials itself on the episode's env before the runner steps anything: at ``reset`` it
snapshots the env; on the first ``act`` it plays a trial with the inner agent (any action format),
and on failure asks the model what went wrong and what to do differently (one call, no tools),
restores the snapshot and plays again with every reflection added to the goal, up to ``trials``
trials. Then it restores the env once more, and the runner's real episode replays the last trial's
actions (envs are deterministic from a snapshot, so the recorded episode is that trial). Should the
env answer differently after all, the inner agent carries on from where the replay ran out.

Reflections persist in the run's memory bank (the store's ``memories`` table, kind ``reflection``,
keyed by env and task): a later episode of the same *train* task starts with them. Reflections
written on dev or test tasks are kept but never read back (see :class:`~palaestra.records.MemoryBank`).

The first step's trace holds the reflections read and, per trial, its outcome, length and the
reflection written after it; the later steps' say which trial they replay.
"""

from __future__ import annotations

from typing import Any

from palaestra.agents.base import memory_bank
from palaestra.agents.strategy import Wrapper, build_inner, clip, goal_text, render_step, with_note
from palaestra.env import Env
from palaestra.errors import UsageError
from palaestra.models.base import GenerateConfig, Model
from palaestra.policy import Agent, agent_trace
from palaestra.records import MemoryBank, MemoryEntry
from palaestra.sanitize import clean_message
from palaestra.types import Message, Observation, Task

REFLECT = """You are reviewing an attempt at a task that failed. Be concrete and brief."""
ASK = (
    "The attempt failed ({why}). In two or three sentences: what went wrong, and what exactly will "
    "you do differently on the next attempt?"
)
KIND = "reflection"
TRANSCRIPT_STEPS = 30
"""The latest steps of a failed trial the reflection prompt shows."""


class Trial:
    """One attempt: the actions, a transcript for the reflection prompt, and how it ended."""

    def __init__(self) -> None:
        self.actions: list[Message] = []
        self.transcript: list[str] = []
        self.success = False
        self.reward = 0.0
        self.ended = False


class Reflexion(Wrapper):
    def __init__(
        self,
        inner: Agent,
        env: Env,
        model: Model,
        config: GenerateConfig | None,
        *,
        trials: int,
        keep: int,
        bank: MemoryBank | None,
    ) -> None:
        super().__init__(inner)
        self.env, self.model, self.config = env, model, config or GenerateConfig()
        self.trials, self.keep, self.bank = trials, keep, bank
        self.snap: Any = None
        self.plan: list[Message] | None = None
        self.final = 0
        self.pos = 0

    async def reset(self, task: Task) -> None:
        await super().reset(task)
        try:
            self.snap = self.env.snapshot()
        except Exception as e:
            raise UsageError(
                f"reflexion replays trials from a snapshot, and {self.env.spec.name}'s failed: {e}"
            ) from e
        self.plan, self.pos = None, 0

    async def act(self, observation: Observation) -> Message:
        if self.plan is None:
            await self._trials(observation)
        assert self.plan is not None
        if self.pos < len(self.plan):
            self.pos += 1
            if self.pos > 1:
                self.trace = {"replay": {"trial": self.final, "step": self.pos - 1}}
            return self.plan[self.pos - 1].model_copy(deep=True)
        self.trace = {"replay": {"trial": self.final, "past_end": True}}
        return await self.act_inner(observation)

    def _recall(self, task: Task) -> list[str]:
        if self.bank is None:
            return []
        entries = self.bank.recall(self.env.spec.name, KIND, task_id=task.id, limit=self.keep)
        return [e.value for e in reversed(entries)]  # oldest first, as they were written

    async def _trials(self, first: Observation) -> None:
        assert self.task is not None
        read = self._recall(self.task)
        reflections = list(read)
        trials: list[dict[str, Any]] = []
        trial = Trial()
        for t in range(self.trials):
            if t:
                self.env.restore(self.snap)
                await self.inner.reset(self.task)
            trial = await self._play(with_note(first, _note(reflections[-self.keep :])))
            record: dict[str, Any] = {
                "trial": t,
                "success": trial.success,
                "reward": trial.reward,
                "steps": len(trial.actions),
            }
            trials.append(record)
            if trial.success or t == self.trials - 1:
                break
            text = await self._reflect(goal_text(first), trial)
            reflections.append(text)
            record["reflection"] = clip(text)
            self._persist(text, t)
        self.env.restore(self.snap)
        self.plan, self.final = trial.actions, len(trials) - 1
        self.trace = {"read": [clip(r) for r in read], "trials": trials, "replaying": self.final}

    async def _play(self, observation: Observation) -> Trial:
        trial = Trial()
        limit = self.env.turn_limit or self.env.spec.max_steps
        for _ in range(limit):
            action = clean_message(await self.inner.act(observation))
            agent_trace(self.inner)  # a trial's inner traces are not the episode's
            step = await self.env.step(action)
            trial.actions.append(action)
            trial.transcript.append(render_step(action, step.observation.messages))
            trial.reward += step.reward
            trial.success = bool(step.info.get("success", False))
            observation = step.observation
            if step.terminated or step.truncated:
                trial.ended = True
                break
        return trial

    async def _reflect(self, goal: str, trial: Trial) -> str:
        why = "it ended without success" if trial.ended else f"it ran out of its {len(trial.actions)} turns"
        steps = "\n\n".join(trial.transcript[-TRANSCRIPT_STEPS:])
        prompt = [
            Message(role="system", content=REFLECT),
            Message(role="user", content=f"Task:\n{goal}\n\nYour attempt:\n{steps}\n\n{ASK.format(why=why)}"),
        ]
        out = await self.model.generate(prompt, None, self.config)
        return out.message.content.strip() or "(no reflection)"

    def _persist(self, text: str, trial: int) -> None:
        if self.bank is None or self.task is None:
            return
        entry = MemoryEntry(
            env=self.env.spec.name,
            split=self.task.split,
            task_id=self.task.id,
            kind=KIND,
            key=self.task.id,
            value=text,
            meta={"trial": trial},
        )
        self.bank.remember([entry])


def _note(reflections: list[str]) -> str:
    if not reflections:
        return ""
    lines = "\n".join(f"{i}. {r}" for i, r in enumerate(reflections, 1))
    return f"Reflections on your earlier attempts at this task:\n{lines}"


def reflexion_agent(
    *,
    env: Env,
    model: Model | None = None,
    seed: int = 0,
    config: GenerateConfig | None = None,
    inner: str = "tools",
    trials: int = 3,
    keep: int = 3,
    memory: bool = True,
    **options: Any,
) -> Agent:
    """``trials``: attempts at most (each up to the episode's step limit); ``keep``: reflections in
    context at most (the latest); ``memory``: keep reflections in the run's store across episodes."""
    if model is None:
        raise UsageError("agent 'reflexion' needs a model (it writes the reflections): pass --model")
    if not isinstance(trials, int) or trials < 1 or not isinstance(keep, int) or keep < 1:
        raise UsageError(
            f"reflexion: trials and keep must be at least 1, got trials={trials!r}, keep={keep!r}"
        )
    agent = build_inner(inner, env=env, model=model, seed=seed, config=config, options=options)
    bank = memory_bank() if memory else None
    return Reflexion(agent, env, model, config, trials=trials, keep=keep, bank=bank)
