"""Runs: many episodes of agents in environments, scheduled continuously, recorded, resumable.

A fixed pool of worker coroutines pulls episodes from one queue: when an episode ends its worker
starts the next one at once, so a slow episode never holds back the others (no lockstep batches),
and memory stays flat however many episodes a run has. The number of workers is bounded by the
model's connection limit.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from palaestra.agents.base import agent_needs_model, make_agent
from palaestra.env import Env, env_factory, make
from palaestra.errors import StoreError, UsageError
from palaestra.models.base import GenerateConfig, Model, get_model
from palaestra.records import EpisodeRecord, RunStore
from palaestra.runner.episode import RecordingModel, rollout
from palaestra.types import Split, Task


class RunConfig(BaseModel):
    """Everything that defines a run; stored with it so ``--resume`` repeats it exactly."""

    model_config = ConfigDict(extra="forbid")

    envs: list[str]
    agent: str = "expert"
    model: str | None = None
    split: Split = "test"
    tasks: int = 10
    samples: int = 1
    """Episodes per task (for pass@k and sampling)."""
    difficulty: int | None = None
    seed: int = 0
    concurrency: int | None = None
    """Episodes in flight; default: the model's connection limit (32 without a model)."""
    max_steps: int | None = None
    timeout: float | None = None
    """Wall-clock limit of one episode, seconds."""
    generate: GenerateConfig = Field(default_factory=GenerateConfig)
    agent_options: dict[str, Any] = Field(default_factory=dict)
    model_options: dict[str, Any] = Field(default_factory=dict)
    env_kwargs: dict[str, dict[str, Any]] = Field(default_factory=dict)
    """Constructor arguments per environment, e.g. ``{"deduction": {"answerer": "openai:..."}}``."""


@dataclass(slots=True)
class EpisodeSpec:
    id: str
    task: Task
    sample: int


@dataclass
class RunStats:
    """Live counters for progress displays."""

    total: int = 0
    skipped: int = 0
    done: int = 0
    success: int = 0
    errors: int = 0
    model_calls: int = 0
    tokens: int = 0
    started: float = 0.0


def new_run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(3)


def episode_specs(config: RunConfig) -> Iterator[EpisodeSpec]:
    """The run's episodes in a fixed order: for each env, each task, each sample."""
    for name in config.envs:
        env = make(name, **config.env_kwargs.get(name, {}))
        if not isinstance(env, Env):
            raise UsageError(f"{name} is a multi-agent game; use `palaestra match {name}`")
        for task in env.tasks(config.split, config.tasks, seed=config.seed, difficulty=config.difficulty):
            for s in range(config.samples):
                yield EpisodeSpec(f"{name}/{task.id}/{s}", task, s)


def _episode_seed(config: RunConfig, episode_id: str) -> int:
    digest = hashlib.blake2b(f"{config.seed}/{episode_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> 1


def validate(config: RunConfig) -> None:
    """Fail early, with one line, on unknown names or bad values."""
    for name in config.envs:
        env_factory(name)
    if agent_needs_model(config.agent) and not config.model:
        raise UsageError(f"agent {config.agent!r} needs a model: pass --model PROVIDER:NAME")
    for field in ("tasks", "samples"):
        if getattr(config, field) < 1:
            raise UsageError(f"--{field} must be at least 1")
    if config.concurrency is not None and config.concurrency < 1:
        raise UsageError("--concurrency must be at least 1")


async def run(
    config: RunConfig,
    store: RunStore,
    *,
    run_id: str | None = None,
    resume: bool = False,
    model: Model | None = None,
    on_episode: Callable[[EpisodeRecord, RunStats], None] | None = None,
    on_start: Callable[[str, RunStats], None] | None = None,
) -> str:
    """Run (or resume) a run and return its id. Finished episodes are in ``store``.

    Cancellation (Ctrl-C) stops cleanly: the run is marked ``interrupted`` and every finished
    episode is kept; ``resume=True`` with the same id runs only what is missing.
    """
    validate(config)
    if resume:
        if run_id is None:
            raise UsageError("--resume needs a run id")
        done = store.finished_episode_ids(run_id)
        store.set_run_status(run_id, "running")
    else:
        run_id = run_id or new_run_id()
        store.create_run(run_id, config.model_dump(mode="json"))
        done = set()

    owns_model = model is None and bool(config.model) and agent_needs_model(config.agent)
    if owns_model:
        model = get_model(config.model or "", **config.model_options)
    concurrency = config.concurrency or (model.max_concurrency if model else 32)

    # Tasks are generated lazily, as workers need them, so the first episode starts at once.
    total = len(config.envs) * config.tasks * config.samples
    todo = total - len(done)
    specs = (s for s in episode_specs(config) if s.id not in done)
    stats = RunStats(total=total, skipped=len(done), started=time.perf_counter())
    if on_start:
        on_start(run_id, stats)
    queue: Iterator[EpisodeSpec] = specs
    model_name = config.model or ""
    withhold = agent_needs_model(config.agent)  # oracles (expert, random) may read the task's params

    async def worker() -> None:
        for spec in queue:  # shared iterator: each spec goes to exactly one worker
            env = make(spec.task.env, **config.env_kwargs.get(spec.task.env, {}))
            assert isinstance(env, Env)
            rec = EpisodeRecord(
                id=spec.id, task=spec.task, agent=config.agent, model=model_name, sample=spec.sample
            )
            agent = make_agent(
                config.agent,
                env=env,
                model=RecordingModel(model, rec.calls) if model is not None else None,
                seed=_episode_seed(config, spec.id),
                config=config.generate,
                **config.agent_options,
            )
            await rollout(
                env,
                agent,
                spec.task,
                record=rec,
                max_steps=config.max_steps,
                timeout=config.timeout,
                withhold_params=withhold,
            )
            store.write_episode(run_id, rec)
            stats.done += 1
            stats.success += rec.success
            stats.errors += rec.status == "error"
            stats.model_calls += len(rec.calls)
            stats.tokens += rec.usage.total_tokens
            if on_episode:
                on_episode(rec, stats)

    status = "failed"
    try:
        async with asyncio.TaskGroup() as tg:
            for _ in range(min(concurrency, max(1, todo))):
                tg.create_task(worker())
        status = "finished"
    except asyncio.CancelledError:
        status = "interrupted"
        raise
    except BaseExceptionGroup as eg:  # a bug outside any episode (store, agent construction)
        status = "failed"
        first = eg.exceptions[0]
        raise first from None
    finally:
        try:
            store.set_run_status(run_id, status, store.summary(run_id))
        except StoreError:
            if status == "finished":  # otherwise the error already on its way says more
                raise
        finally:
            if owns_model and model is not None:
                await model.close()
    return run_id
