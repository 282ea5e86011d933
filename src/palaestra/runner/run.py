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
from functools import partial
from typing import Any, Literal

from pydantic import Field

from palaestra.agents.base import (
    agent_needs_model,
    check_agent_options,
    make_agent,
    use_memory,
    use_model_options,
)
from palaestra.env import Env, env_factory, make
from palaestra.errors import ModelError, PalaestraError, StoreError, UsageError
from palaestra.models.base import GenerateConfig, Model, ModelOutput, get_model
from palaestra.perturb import Perturbed, PerturbKind
from palaestra.records import EpisodeRecord, MemoryBank, MemoryEntry, RunStore
from palaestra.runner.episode import RecordingModel, rollout
from palaestra.runner.settings import StoredConfig
from palaestra.runner.workers import (
    Feed,
    LocalPool,
    Outcome,
    Pool,
    Recipe,
    SerialWriter,
    auto_workers,
    play_all,
    quiet_gc,
    spread,
)
from palaestra.tasksource import TaskSource
from palaestra.tools import IrreversiblePolicy, ToolPolicy
from palaestra.types import Message, Split, Task, ToolSpec


class RunConfig(StoredConfig):
    """Everything that defines a run; stored with it so ``--resume`` repeats it exactly (less the
    runtime-only model options: see :mod:`palaestra.runner.settings`)."""

    envs: list[str]
    agent: str = "expert"
    model: str | None = None
    split: Split = "test"
    tasks: int = Field(10, ge=1)
    samples: int = Field(1, ge=1)
    """Episodes per task (for pass@k and sampling)."""
    difficulty: int | None = None
    seed: int = 0
    concurrency: int | None = Field(None, ge=1)
    """Episodes in flight; default: the model's connection limit (32 without a model)."""
    max_steps: int | None = Field(None, ge=1)
    timeout: float | None = Field(None, gt=0)
    """Wall-clock limit of one episode, seconds."""
    agent_options: dict[str, Any] = Field(default_factory=dict)
    env_kwargs: dict[str, dict[str, Any]] = Field(default_factory=dict)
    """Constructor arguments per environment, e.g. ``{"deduction": {"answerer": "openai:..."}}``."""
    irreversible: IrreversiblePolicy = "allow"
    """What a call of a tool that cannot be undone does: ``allow``, ``confirm`` or ``block``."""
    allow_tools: list[str] = Field(default_factory=list)
    """Tool-name patterns the agent may call (empty: all); ``deny_tools`` wins over them."""
    deny_tools: list[str] = Field(default_factory=list)
    stop_on_loop: bool = False
    """End an episode as soon as the agent loops (``palaestra.loops``)."""
    perturb: PerturbKind | None = None
    """Make tools malfunction (``palaestra.perturb``): ``error``, ``repeat`` or ``irrelevant``."""
    perturb_rate: float = Field(0.3, gt=0, le=1)
    """The share of tool results that ``perturb`` rewrites."""

    def tool_policy(self) -> ToolPolicy | None:
        """The policy every episode's env applies, or ``None`` when the run sets none."""
        policy = ToolPolicy(self.irreversible, tuple(self.allow_tools), tuple(self.deny_tools))
        return policy if policy.active else None


@dataclass(slots=True)
class EpisodeSpec:
    id: str
    task: Task
    sample: int
    env: str
    """The env as the run's config names it (a registered name or a ``module:Class`` reference), which
    is also what its ``env_kwargs`` are keyed by."""


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
        # one task at a time (memory stays flat however many), unless the env has its own tasks()
        tasks = env.iter_tasks if type(env).tasks is TaskSource.tasks else env.tasks
        for task in tasks(config.split, config.tasks, seed=config.seed, difficulty=config.difficulty):
            for s in range(config.samples):
                yield EpisodeSpec(f"{name}/{task.id}/{s}", task, s, name)


def plant_memories(store: object, env: Env, task: Task) -> None:
    """Write what an attacker with access to the agents' memory planted for ``task`` into the run's
    bank (AgentPoison, :class:`~palaestra.records.PoisonsMemory`), each forged task's entries once."""
    # what isinstance(env, PoisonsMemory) checks, without the protocol check's cost (about 20 us in
    # Python 3.11) on every episode of every run
    attacker_memories = getattr(env, "attacker_memories", None)
    if not callable(attacker_memories) or not isinstance(store, MemoryBank):
        return
    planted: list[MemoryEntry] = attacker_memories(task)
    new = [e for e in planted if not store.recall(e.env, e.kind, task_id=e.task_id, limit=1)]
    store.remember(new)


def _episode_seed(config: RunConfig, episode_id: str) -> int:
    digest = hashlib.blake2b(f"{config.seed}/{episode_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> 1


def validate(config: RunConfig) -> None:
    """Fail early, with one line, on unknown names or bad values (the bounds of the numbers are
    checked by :class:`RunConfig` itself)."""
    for name in config.envs:
        env_factory(name)
    config.tool_policy()  # an empty tool pattern: one line
    if (
        agent_needs_model(config.agent, config.agent_options) and not config.model
    ):  # an unknown agent: one line too
        raise UsageError(f"agent {config.agent!r} needs a model: pass --model PROVIDER:NAME")
    check_agent_options(config.agent, config.agent_options)


async def check_envs(config: RunConfig) -> None:
    """Build each environment and its first task (then close it), so a bad ``--env-arg`` or
    ``--difficulty`` is one line before the run is recorded."""
    for name in config.envs:
        env = make(name, **config.env_kwargs.get(name, {}))
        try:
            if not isinstance(env, Env):
                raise UsageError(f"{name} is a multi-agent game; use `palaestra match {name}`")
            env.tasks(config.split, 1, seed=config.seed, difficulty=config.difficulty)
        finally:
            await env.close()


class RunStopped(PalaestraError):
    """A run stopped early because every later model call would fail alike (``ModelError.fatal``:
    bad key, no such model). The episodes that ended on it are not recorded, nor are those not
    started, so ``--resume`` after the fix runs them all."""

    def __init__(self, run_id: str, cause: ModelError) -> None:
        super().__init__(f"run {run_id} stopped: {cause}")
        self.run_id, self.cause = run_id, cause


class FatalGuard:
    """Watches a run's model calls for the first fatal :class:`ModelError` (``e.fatal``)."""

    def __init__(self) -> None:
        self.error: ModelError | None = None

    def wrap(self, model: Model) -> GuardedModel:
        return GuardedModel(model, self)


class GuardedModel:
    """A model whose fatal errors stop the run they belong to (one wrapper per episode, or per run)."""

    def __init__(self, inner: Model, guard: FatalGuard) -> None:
        self.inner, self.guard = inner, guard
        self.name = inner.name
        self.max_concurrency = inner.max_concurrency
        self.tripped = False
        """This wrapper's calls met a fatal error."""

    async def generate(
        self, messages: list[Message], tools: list[ToolSpec] | None, config: GenerateConfig
    ) -> ModelOutput:
        try:
            return await self.inner.generate(messages, tools, config)
        except ModelError as e:
            if e.fatal:
                self.tripped = True
                self.guard.error = self.guard.error or e
            raise

    async def close(self) -> None:
        await self.inner.close()


async def run(
    config: RunConfig,
    store: RunStore,
    *,
    run_id: str | None = None,
    resume: bool = False,
    model: Model | None = None,
    on_episode: Callable[[EpisodeRecord, RunStats], None] | None = None,
    on_start: Callable[[str, RunStats], None] | None = None,
    workers: int | Literal["auto"] | None = None,
    ray: str | None = None,
) -> str:
    """Run (or resume) a run and return its id. Finished episodes are in ``store``.

    Everything is checked, and the model built, before the run is recorded: bad input leaves no
    run behind. Cancellation (Ctrl-C) stops cleanly: the run is marked ``interrupted`` and every
    finished episode is kept; ``resume=True`` with the same id runs only what is missing. A fatal
    model error (bad key, no such model) stops the run and raises :class:`RunStopped`.

    Episodes play in this process unless ``workers`` is above 1 (that many worker processes on this
    machine; ``"auto"``: see :func:`~palaestra.runner.workers.auto_workers`) or ``ray`` is given
    (actors on the Ray cluster at that address; ``""``: the one Ray finds, else a local instance;
    ``workers`` actors, default one per CPU of the cluster). Either way this process writes the
    store. A ``model`` object is played in this process only.
    """
    validate(config)
    await check_envs(config)
    if resume and run_id is None:
        raise UsageError("--resume needs a run id")
    if workers == "auto":
        workers = (
            None if ray is not None else auto_workers(_todo(config, store, run_id, resume), config.model)
        )
    distributed = ray is not None or (workers or 1) > 1
    if distributed and model is not None:
        raise UsageError("a model object plays in this process only: pass workers=1 and no ray address")
    owns_model = (
        model is None and bool(config.model) and agent_needs_model(config.agent, config.agent_options)
    )
    if owns_model:
        model = get_model(config.model or "", **config.model_options)
    concurrency = config.concurrency or (model.max_concurrency if model else 32)
    opener = getattr(store, "memory_opener", None)  # a store that keeps cross-episode memories
    open_memory: Callable[[], MemoryBank] | None = opener() if callable(opener) else None
    pool: Pool[EpisodeSpec, EpisodeRecord]
    if distributed:
        if owns_model and model is not None:
            await model.close()  # it was built to check it: the workers build their own
        recipe = Recipe(episode_runner, (config, open_memory))
        pool = spread(recipe, workers, ray)
    else:
        pool = LocalPool(EpisodeRunner(config, model, owns_model=owns_model, open_memory=open_memory))
    try:
        await pool.start()
        run_id, done = open_run(store, config, run_id, resume=resume)
        await _episodes(config, store, run_id, done, pool, concurrency, on_episode, on_start)
    finally:
        await pool.aclose()
    return run_id


def _todo(config: RunConfig, store: RunStore, run_id: str | None, resume: bool) -> int:
    """How many episodes a run (or what is left of a resumed one) has to play."""
    total = len(config.envs) * config.tasks * config.samples
    return total - len(store.finished_episode_ids(run_id)) if resume and run_id else total


def open_run(
    store: RunStore, config: StoredConfig, run_id: str | None, *, resume: bool
) -> tuple[str, set[str]]:
    """Record a new run (its config as stored: no credentials), or mark a resumed one running;
    return its id and the ids of its finished episodes. Call it once everything is checked."""
    if resume:
        if run_id is None:
            raise UsageError("--resume needs a run id")
        done = store.finished_episode_ids(run_id)
        store.set_run_status(run_id, "running")
        return run_id, done
    run_id = run_id or new_run_id()
    store.create_run(run_id, config.model_dump(mode="json"))
    return run_id, set()


class EpisodeRunner:
    """Plays a run's episodes (any number at once) with one shared model: in the process that
    runs the run, or in each of its workers (see :func:`episode_runner`)."""

    def __init__(
        self,
        config: RunConfig,
        model: Model | None,
        *,
        owns_model: bool = False,
        open_memory: Callable[[], MemoryBank] | None = None,
    ) -> None:
        self.config, self.model, self.owns_model = config, model, owns_model
        self.guard = FatalGuard()
        # oracles (expert, random) may read the task's params
        self.withhold = agent_needs_model(config.agent, config.agent_options)
        self.policy = config.tool_policy()
        # cross-episode strategies remember in the run's store, on a connection of their own
        self.memory = open_memory() if open_memory is not None else None

    async def play(self, spec: EpisodeSpec) -> Outcome[EpisodeRecord]:
        """Play one episode; no record when a fatal model error ended it, or ended another one
        before it started (not the agent's failure: ``--resume`` plays it again)."""
        config, guard = self.config, self.guard
        if guard.error is not None:
            return Outcome(None, guard.error)
        env = make(spec.env, **config.env_kwargs.get(spec.env, {}))
        assert isinstance(env, Env)
        plant_memories(self.memory, env, spec.task)
        if config.perturb:
            env = Perturbed(env, config.perturb, config.perturb_rate, seed=config.seed)
        rec = EpisodeRecord(
            id=spec.id, task=spec.task, agent=config.agent, model=config.model or "", sample=spec.sample
        )
        guarded = guard.wrap(self.model) if self.model is not None else None
        # cross-episode strategies remember in the run's store; members' own models are built
        # with the run's model options (--base-url, --api-key), also while the episode plays
        with use_memory(self.memory), use_model_options(config.model, config.model_options):
            agent = make_agent(
                config.agent,
                env=env,
                model=RecordingModel(guarded, rec.calls) if guarded is not None else None,
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
                withhold_params=self.withhold,
                stop_on_loop=config.stop_on_loop,
                tool_policy=self.policy,
            )
        if guarded is not None and guarded.tripped:
            return Outcome(None, guard.error)
        return Outcome(rec)

    def failed(self, spec: EpisodeSpec, reason: str) -> EpisodeRecord:
        return failed_episode(self.config, spec, reason)

    async def aclose(self) -> None:
        close = getattr(self.memory, "close", None)
        if callable(close):
            close()
        if self.owns_model and self.model is not None:
            await self.model.close()


def episode_runner(payload: tuple[RunConfig, Callable[[], MemoryBank] | None]) -> EpisodeRunner:
    """A worker's :class:`EpisodeRunner`, with its own model built from the run's config and its
    own connection to the run's memory bank (SQLite in WAL mode takes one writer at a time)."""
    config, open_memory = payload
    model = None
    if config.model and agent_needs_model(config.agent, config.agent_options):
        model = get_model(config.model, **config.model_options)
    return EpisodeRunner(config, model, owns_model=True, open_memory=open_memory)


def failed_episode(config: RunConfig, spec: EpisodeSpec, reason: str) -> EpisodeRecord:
    """The record of an episode that could not be played (``error`` with ``reason``)."""
    return EpisodeRecord(
        id=spec.id,
        task=spec.task,
        agent=config.agent,
        model=config.model or "",
        sample=spec.sample,
        status="error",
        error=reason,
    )


async def _episodes(
    config: RunConfig,
    store: RunStore,
    run_id: str,
    done: set[str],
    pool: Pool[EpisodeSpec, EpisodeRecord],
    concurrency: int,
    on_episode: Callable[[EpisodeRecord, RunStats], None] | None,
    on_start: Callable[[str, RunStats], None] | None,
) -> None:
    """The scheduler of a recorded run: ``concurrency`` coroutines hand episodes to ``pool`` and
    write what comes back; sets the run's status and summary however they end."""
    status = "failed"
    fatal: ModelError | None = None
    writer = SerialWriter()
    try:
        # Tasks are generated lazily, a batch at a time, as episodes need them.
        total = len(config.envs) * config.tasks * config.samples
        todo = total - len(done)
        feed = Feed(s for s in episode_specs(config) if s.id not in done)
        stats = RunStats(total=total, skipped=len(done), started=time.perf_counter())
        if on_start:
            on_start(run_id, stats)

        async def record(rec: EpisodeRecord) -> None:
            await writer.call(store.write_episode, run_id, rec)
            stats.done += 1
            stats.success += rec.success
            stats.errors += rec.status == "error"
            stats.model_calls += len(rec.calls)
            stats.tokens += rec.usage.total_tokens
            if on_episode:
                on_episode(rec, stats)

        with quiet_gc():
            fatal = await play_all(
                feed, pool, min(concurrency, todo), record, partial(failed_episode, config)
            )
        status = "finished" if fatal is None else "failed"
    except asyncio.CancelledError:
        status = "interrupted"
        raise
    except BaseExceptionGroup as eg:  # a bug outside any episode (store, agent construction)
        status = "failed"
        raise eg.exceptions[0] from None
    finally:
        writer.close()  # a write under way finishes before the run's status is set
        try:
            store.set_run_status(run_id, status, store.summary(run_id))
        except StoreError:
            if status == "finished":  # otherwise the error already on its way says more
                raise
    if fatal is not None:
        raise RunStopped(run_id, fatal)
