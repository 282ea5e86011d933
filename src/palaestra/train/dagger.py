"""``palaestra train dagger``: DAgger, the expert labels the states the model itself reaches.

Each iteration rolls the current model out on fresh train tasks (a stored run), then labels every
state it visited: the episode's task is started in a fresh environment, the model's actions are
replayed one by one, and at each state the environment's expert (built on the environment as it is
there) says what it would do. That action, paired with the prompt the model saw at that state (the
stored conversation up to there, cut as the ``local`` provider cuts it), is one SFT example. The
examples of every iteration so far (and any ``data`` given) train the next model from the base
(LoRA by default), which is then scored greedily on held-out tasks (``dagger.json``, and the
learning curve in ``curve.svg``).

Only environments whose expert reads the state it is asked about can label a state the expert did
not reach itself (:data:`STATE_EXPERTS`); the others keep a plan of their own from the episode's
start, so they are refused.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from palaestra.chat import ChatMessage, chat_message
from palaestra.errors import UsageError
from palaestra.store.rows import EpisodeDetail
from palaestra.train.loop import LoopRecord, check_positive, run_model, success_by_env
from palaestra.types import Message, Split, Task

STATE_EXPERTS = frozenset({"maze", "guess", "household", "crafting", "wordle", "planning"})
"""Built-in environments whose expert computes its action from the environment's current state
alone (shortest path, the interval left, a replanning planner, a solver over the feedback history).
A plugin environment declares the same with a class attribute ``state_expert = True``."""


class DaggerConfig(BaseModel):
    """Settings of a DAgger loop; stored in ``dagger.json``."""

    model_config = ConfigDict(extra="forbid")

    envs: list[str]
    model: str
    """The base model: a local model directory (or an embedded name)."""
    iterations: int = 3
    tasks: int = 32
    """Train tasks per environment rolled out in each iteration (new tasks every iteration)."""
    temperature: float = 0.0
    """Sampling temperature of the rollouts (0: the model's greedy policy)."""
    eval_tasks: int = 20
    """Held-out tasks per environment, the same at every iteration (greedy)."""
    eval_split: Split = "dev"
    difficulty: int | None = None
    max_steps: int | None = None
    max_tokens: int | None = None
    """Tokens per reply (default: the model's ``max_new_tokens``)."""
    data: list[str] = Field(default_factory=list)
    """SFT export files (expert demonstrations) trained on in every iteration, with the labels."""
    start: str | None = None
    """The first policy rolled out (iteration 0), e.g. an SFT model or adapter (default: ``model``)."""
    label: Literal["all", "disagreements"] = "all"
    """Which visited states become training rows: all, or only those where the model's action was
    not the expert's (where the policy needs correcting; a fraction of the compute)."""
    warm_start: bool = False
    """Train each iteration from the previous one's model on ``data`` and that iteration's labels
    (with LoRA: the same adapter trained further), instead of from ``model`` on every label so far."""
    seed: int = 0
    concurrency: int | None = None
    train: dict[str, Any] = Field(default_factory=lambda: {"lora": True})
    """``palaestra.train.TrainConfig`` fields of each iteration's SFT."""


class DaggerRow(BaseModel):
    """One iteration of the loop (iteration 0: the base model, evaluated only)."""

    iteration: int
    model: str
    rollout_run: str | None = None
    episodes: int = 0
    states: int = 0
    """States labeled in this iteration."""
    agreement: float | None = None
    """Share of those states where the model already did what the expert says."""
    diverged: int = 0
    """Episodes whose replay stopped matching the stored observations (labeled up to there)."""
    rows: int = 0
    """Labeled states trained on, all iterations so far (plus the ``data`` rows)."""
    train_loss: float | None = None
    eval_run: str
    eval_success: dict[str, float]
    eval_mean: float
    seconds: float


def check_state_experts(envs: Sequence[str]) -> None:
    """Refuse (one line) environments whose expert cannot label an arbitrary state."""
    from palaestra.env import env_factory

    bad = []
    for name in envs:
        cls = env_factory(name)
        declared = getattr(cls, "state_expert", None)
        if not (declared if declared is not None else name in STATE_EXPERTS):
            bad.append(name)
    if bad:
        raise UsageError(
            f"dagger needs an expert that can label any state; {', '.join(bad)} "
            f"{'has' if len(bad) == 1 else 'have'} none (use: {', '.join(sorted(STATE_EXPERTS))})"
        )


def _same(observed: Sequence[Message], stored: Sequence[dict[str, Any]]) -> bool:
    return [(m.role, m.content) for m in observed] == [
        (m.get("role"), m.get("content") or "") for m in stored
    ]


async def label_episode(
    env_name: str, episode: EpisodeDetail, *, max_steps: int | None = None
) -> tuple[list[dict[str, Any]], int, bool]:
    """The expert's labels of a stored episode's states: ``(rows, agreed, diverged)``.

    Each row is an SFT row whose ``messages`` are the conversation the model had before acting at
    that state followed by the expert's action, with ``train_turns`` naming that last message only.
    ``agreed`` counts states where the model's own action was the expert's; ``diverged`` says the
    replay stopped matching the stored observations (the episode is labeled up to there)."""
    from palaestra.env import Env, make
    from palaestra.export.conversation import tools_of

    env = make(env_name)
    if not isinstance(env, Env):
        raise UsageError(f"{env_name} is a multi-agent game; dagger trains single-agent envs")
    task = Task.model_validate(episode.task)
    tools = tools_of(episode) or None
    env.turn_limit = max_steps or env.spec.max_steps  # as the runner sets it: the same goal text
    rows: list[dict[str, Any]] = []
    agreed, diverged = 0, False
    history: list[ChatMessage] = []
    try:
        obs = await env.reset(task)
        for step in episode.steps:
            if env.done or not _same(obs.messages, step.observation):
                diverged = not env.done
                break
            history += [chat_message(m) for m in step.observation]
            expert = env.expert()  # built on the env as it is now
            if expert is None:
                raise UsageError(f"{env_name} has no expert to label states with")
            await expert.reset(task)
            label = await expert.act(obs)
            taken = Message.model_validate(step.action)
            same = _calls(label) == _calls(taken)
            agreed += same
            rows.append(
                {
                    "messages": [*history, chat_message(label)],
                    "tools": tools,
                    "train_turns": [len(history)],
                    "env": env_name,
                    "task_id": task.id,
                    "episode_id": episode.row.id,
                    "step": step.index,
                    "agreed": same,
                }
            )
            history.append(chat_message(taken))
            obs = (await env.step(taken)).observation
    finally:
        await env.close()
    return rows, agreed, diverged


def _calls(m: Message) -> list[tuple[str, str]]:
    return [(c.name, json.dumps(c.arguments, sort_keys=True)) for c in m.tool_calls]


def label_run(
    store: Any, run_id: str, out: Path, *, max_steps: int | None, only_disagreements: bool = False
) -> tuple[int, int, int, int]:
    """Label every episode of ``run_id`` into ``out`` (JSONL; with ``only_disagreements`` just the
    states where the model's action was not the expert's); ``(episodes, states, agreed, diverged)``
    counting every state visited."""
    episodes = states = agreed = diverged = 0
    with out.open("w", encoding="utf-8") as f:
        for row in store.episode_rows(run_id):
            ep = store.episode_detail(run_id, row.id)
            rows, ok, off = asyncio.run(label_episode(row.env, ep, max_steps=max_steps))
            for r in rows:
                if not (only_disagreements and r["agreed"]):
                    f.write(json.dumps(r) + "\n")
            episodes += 1
            states += len(rows)
            agreed += ok
            diverged += off
    return episodes, states, agreed, diverged


def dagger(
    cfg: DaggerConfig, work: Path, *, on_row: Callable[[DaggerRow], None] | None = None
) -> list[DaggerRow]:
    """Run the loop in ``work`` (resumes after the iterations ``work/dagger.json`` holds)."""
    from palaestra.models.chat_format import resolve_model_dir
    from palaestra.store.sqlite import Store
    from palaestra.train.config import make_config
    from palaestra.train.curve import write_curve
    from palaestra.train.data import check_files
    from palaestra.train.trainer import train_sft

    check_positive(iterations=cfg.iterations, tasks=cfg.tasks, eval_tasks=cfg.eval_tasks)
    check_state_experts(cfg.envs)
    base = resolve_model_dir(cfg.model)
    train_config = make_config(**cfg.train)
    extra = check_files(cfg.data) if cfg.data else []
    work.mkdir(parents=True, exist_ok=True)
    record = LoopRecord(work / "dagger.json", cfg, "dagger loop", free=("iterations",))
    rows = [DaggerRow.model_validate(r) for r in record.rows]

    def common(split: str) -> dict[str, Any]:
        return {
            "split": split, "difficulty": cfg.difficulty, "max_steps": cfg.max_steps,
            "max_tokens": cfg.max_tokens, "concurrency": cfg.concurrency,
        }  # fmt: skip

    store = Store(work / "dagger.db")
    try:

        def finish(t0: float, model: Path, **done: Any) -> None:
            eval_run = run_model(
                store,
                cfg.envs,
                f"local:{model}",
                tasks=cfg.eval_tasks,
                seed=cfg.seed,
                **common(cfg.eval_split),
            )
            per_env, mean = success_by_env(store, eval_run)
            row = DaggerRow(
                iteration=len(rows), model=str(model), eval_run=eval_run, eval_success=per_env,
                eval_mean=mean, seconds=round(time.perf_counter() - t0, 1), **done,
            )  # fmt: skip
            rows.append(row)
            record.add(row)
            points = [{"step": r.iteration, "success": r.eval_success, "mean": r.eval_mean} for r in rows]
            write_curve(
                points, work / "curve.svg", title=f"DAgger on {', '.join(cfg.envs)}", xlabel="iteration"
            )
            if on_row:
                on_row(row)

        if not rows:
            finish(time.perf_counter(), resolve_model_dir(cfg.start) if cfg.start else base)
        while len(rows) <= cfg.iterations:
            k, t0 = len(rows), time.perf_counter()
            current = Path(rows[-1].model)
            it_dir = work / f"iter{k}"
            it_dir.mkdir(exist_ok=True)
            rollout = run_model(
                store, cfg.envs, f"local:{current}", tasks=cfg.tasks, seed=cfg.seed + 1000 * k,
                temperature=cfg.temperature, **common("train"),
            )  # fmt: skip
            episodes, states, agreed, diverged = label_run(
                store, rollout, it_dir / "labels.jsonl", max_steps=cfg.max_steps,
                only_disagreements=cfg.label == "disagreements",
            )  # fmt: skip
            labels = [
                work / f"iter{i}" / "labels.jsonl" for i in range(1 if not cfg.warm_start else k, k + 1)
            ]
            data = [*extra, *(f for f in labels if f.stat().st_size)]
            if not data:
                raise UsageError(
                    f"iteration {k}: the rollouts reached no state to label ({episodes} episodes)"
                )
            source = current if cfg.warm_start else base
            result = train_sft(data, source, it_dir / "model", train_config, overwrite=True)
            finish(
                t0, it_dir / "model", rollout_run=rollout, episodes=episodes, states=states,
                agreement=round(agreed / states, 4) if states else None, diverged=diverged,
                rows=sum(_lines(f) for f in data), train_loss=result.final_loss,
            )  # fmt: skip
    finally:
        store.close()
    return rows


def _lines(path: Path) -> int:
    with path.open("rb") as f:
        return sum(1 for _ in f)
