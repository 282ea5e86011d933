"""Runs of matches: fixed lineups (``palaestra match``) and tournaments (``palaestra tournament``).

A fixed pool of worker coroutines plays the scheduled matches (as ``runner.run`` does episodes):
each finished match is written to the store in one transaction, and ``--resume`` plays only the
matches whose ids are missing. Match ids come from the schedule, and the schedule from the config
(and, for Swiss rounds, from the stored results of the earlier rounds), so a resumed run plays
exactly the matches the first run would have played.

Pairings are round robin or Swiss (see :mod:`palaestra.runner.pairings`). When a game has more seats than there are players, the free seats go to the ``filler`` player
(default: the game's first bot that is not a listed player, else ``random``), which is not rated.
Each round of a tournament plays one task, the same for all its matches.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from pydantic import Field

from palaestra.env import make
from palaestra.errors import ModelError, UsageError
from palaestra.models.base import Model
from palaestra.multi import BotFactory, MultiAgentEnv
from palaestra.ratings import standings
from palaestra.records import MatchRecord, MatchRow, RunStore
from palaestra.runner.match import play_match, resolve_seats
from palaestra.runner.pairings import round_robin_lineups, swiss_lineups
from palaestra.runner.players import ModelPool, parse_player
from palaestra.runner.run import FatalGuard, RunStopped, open_run
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
    spread,
)
from palaestra.tools import IrreversiblePolicy, ToolPolicy
from palaestra.types import Split, Task


class _Common(StoredConfig):
    FLAGS: ClassVar[dict[str, str]] = {"max_steps": "--max-rounds"}

    game: str
    split: Split = "test"
    difficulty: int | None = None
    seed: int = 0
    concurrency: int | None = Field(None, ge=1)
    """Matches in flight; default: the smallest model connection limit over the LLM seats of a
    match (32 without models)."""
    max_steps: int | None = Field(None, ge=1)
    """Round cap of one match (default: the game's ``spec.max_steps``)."""
    move_timeout: float | None = Field(300.0, gt=0)
    """Seconds one seat may take for one move (people have no limit)."""
    agent_options: dict[str, Any] = Field(default_factory=dict)
    irreversible: IrreversiblePolicy = "allow"
    """What a call of a tool that cannot be undone does, for every seat."""

    def tool_policies(self) -> tuple[ToolPolicy | None, dict[str, ToolPolicy]]:
        """The policy of every seat (None: no rule), and the policies of the seats with permissions
        of their own (none: in a tournament seats rotate between players, so every seat has the
        same rules)."""
        return (ToolPolicy(self.irreversible) if self.irreversible != "allow" else None), {}


class MatchConfig(_Common):
    """``palaestra match``: the same lineup on ``tasks`` tasks."""

    kind: Literal["match"] = "match"
    seats: dict[str, str] = Field(default_factory=dict)
    """Seat name (or index) -> player spec."""
    default: str | None = None
    """The player of the seats not named (default: the game's first bot, else ``random``)."""
    tasks: int = Field(1, ge=1)
    allow_tools: dict[str, list[str]] = Field(default_factory=dict)
    """Seat name (or index) -> the tool patterns that seat may call (AIOS-style permissions)."""
    deny_tools: dict[str, list[str]] = Field(default_factory=dict)
    """Seat name (or index) -> the tool patterns that seat may not call."""

    def tool_policies(self) -> tuple[ToolPolicy, dict[str, ToolPolicy]]:
        """The policy of every seat, and the policies of the seats with permissions of their own."""
        named = {**dict.fromkeys(self.allow_tools), **dict.fromkeys(self.deny_tools)}
        own = {
            s: ToolPolicy(
                self.irreversible, tuple(self.allow_tools.get(s, ())), tuple(self.deny_tools.get(s, ()))
            )
            for s in named
        }
        return ToolPolicy(self.irreversible), own


class TournamentConfig(_Common):
    """``palaestra tournament``: players paired round robin or Swiss for ``rounds`` rounds."""

    kind: Literal["tournament"] = "tournament"
    players: list[str]
    rounds: int = Field(1, ge=1)
    format: Literal["round-robin", "swiss"] = "round-robin"
    filler: str | None = None


AnyConfig = MatchConfig | TournamentConfig


def load_config(data: dict[str, Any]) -> AnyConfig:
    """The config of a stored match run, or a one-line error for other runs."""
    kind = data.get("kind")
    if kind == "match":
        return MatchConfig.model_validate(data)
    if kind == "tournament":
        return TournamentConfig.model_validate(data)
    raise UsageError("this run is not a match or tournament run; resume it with `palaestra run --resume`")


@dataclass(slots=True)
class MatchSpec:
    id: str
    task: Task
    lineup: dict[str | int, str]
    round: int = 0


@dataclass
class MatchStats:
    """Live counters for progress displays."""

    total: int = 0
    skipped: int = 0
    done: int = 0
    errors: int = 0
    truncated: int = 0
    forfeits: int = 0
    moves: int = 0
    model_calls: int = 0
    tokens: int = 0
    started: float = 0.0


def _game(name: str) -> MultiAgentEnv:
    game = make(name)
    if not isinstance(game, MultiAgentEnv):
        raise UsageError(f"{name} is a single-agent environment; use `palaestra run {name}`")
    return game


async def seats_of(name: str, task: Task) -> list[str]:
    """The seats of ``task``'s game (a reset of a scratch instance)."""
    game = _game(name)
    try:
        await game.reset(task)
        return list(game.agents)
    finally:
        await game.close()


def _filler(config: TournamentConfig, game: MultiAgentEnv) -> str:
    if config.filler:
        spec = parse_player(config.filler, game.bots()).spec
        if spec in config.players:
            raise UsageError(f"--filler {config.filler} is also a listed player; pick another filler")
        return spec
    for name in game.bots():
        if f"bot:{name}" not in config.players:
            return f"bot:{name}"
    if "random" not in config.players:
        return "random"
    raise UsageError(f"{config.game} has more seats than players; name a filler player with --filler")


def _lineup(names: list[str]) -> dict[str | int, str]:
    return dict(enumerate(names))


class Scheduler:
    """The matches of a run, from its config (and for Swiss, from the stored earlier rounds)."""

    def __init__(self, config: AnyConfig) -> None:
        self.config = config
        self.game = _game(config.game)
        n = config.tasks if isinstance(config, MatchConfig) else config.rounds
        self.tasks = self.game.tasks(config.split, n, seed=config.seed, difficulty=config.difficulty)
        self.seats: dict[str, list[str]] = {}

    async def check(self) -> None:
        """Fail early, with one line, on bad players, seats or counts."""
        c = self.config
        bots = self.game.bots()
        if isinstance(c, MatchConfig):
            for spec in [*c.seats.values(), *([c.default] if c.default else [])]:
                parse_player(spec, bots)
            resolve_seats(dict(c.seats), await self.seat_names(self.tasks[0]), c.default or "random")
        else:
            if len(c.players) < 2:
                raise UsageError("a tournament needs at least two players")
            canon = [parse_player(p, bots).spec for p in c.players]
            if len(set(canon)) != len(canon):
                raise UsageError("a player is listed twice; list each player once")
            c.players = canon

    def models(self) -> list[str]:
        """The model specs the run's players use (checked players: call after :meth:`check`)."""
        c = self.config
        named = (
            [*c.seats.values(), c.default or ""]
            if isinstance(c, MatchConfig)
            else [*c.players, c.filler or ""]
        )
        bots = self.game.bots()
        return sorted({m for m in (parse_player(p, bots).model for p in named if p) if m})

    async def seat_names(self, task: Task) -> list[str]:
        if task.id not in self.seats:
            self.seats[task.id] = await seats_of(self.config.game, task)
        return self.seats[task.id]

    async def filler_for(self, task: Task) -> str | None:
        c = self.config
        assert isinstance(c, TournamentConfig)
        return _filler(c, self.game) if len(await self.seat_names(task)) > len(c.players) else None

    async def total(self) -> int:
        c = self.config
        if isinstance(c, MatchConfig):
            return len(self.tasks)
        n = 0
        for task in self.tasks:
            k = len(await self.seat_names(task))
            g = min(len(c.players), k)
            n += math.comb(len(c.players), g) * k if c.format == "round-robin" else len(c.players) // g
        return n

    async def stage(self, r: int, prior: Sequence[MatchRow]) -> list[MatchSpec]:
        """The matches of stage ``r`` (a Swiss round; everything at once otherwise)."""
        c = self.config
        if isinstance(c, MatchConfig):
            lineup: dict[str | int, str] = {k: v for k, v in c.seats.items()}
            return [MatchSpec(f"{i:04d}-{t.id}", t, lineup) for i, t in enumerate(self.tasks)]
        rounds = range(c.rounds) if c.format == "round-robin" else [r]
        specs = []
        for rnd in rounds:
            task = self.tasks[rnd]
            k = len(await self.seat_names(task))
            filler = await self.filler_for(task)
            if c.format == "round-robin":
                lineups = round_robin_lineups(c.players, k, filler)
            else:
                lineups = swiss_lineups(c.players, k, filler, prior, seed=c.seed)
            specs += [
                MatchSpec(f"r{rnd:03d}-m{i:04d}", task, _lineup(names), rnd)
                for i, names in enumerate(lineups)
            ]
        return specs

    @property
    def stages(self) -> int:
        c = self.config
        return c.rounds if isinstance(c, TournamentConfig) and c.format == "swiss" else 1


class MatchRunner:
    """Plays a run's matches (any number at once) with one shared pool of models: in the process
    that runs the run, or in each of its workers (see :func:`match_runner`)."""

    def __init__(
        self,
        config: AnyConfig,
        models: dict[str, Model] | None = None,
        human: BotFactory | None = None,
    ) -> None:
        self.config, self.human = config, human
        self.guard = FatalGuard()
        self.pool = ModelPool(config.model_options, models, wrap=self.guard.wrap)

    async def play(self, spec: MatchSpec) -> Outcome[MatchRecord]:
        """Play one match; no record when a fatal model error came first or during it (it may have
        met it: not the players' doing, so ``--resume`` plays it again)."""
        config = self.config
        if self.guard.error is not None:
            return Outcome(None, self.guard.error)
        rec = MatchRecord(id=spec.id, task=spec.task, round=spec.round)
        policy, seat_policies = config.tool_policies()
        await play_match(
            _game(config.game),
            spec.lineup,
            spec.task,
            max_steps=config.max_steps,
            move_timeout=config.move_timeout,
            record=rec,
            models=self.pool,
            seed=config.seed,
            default=config.default if isinstance(config, MatchConfig) else None,
            human=self.human,
            generate=config.generate,
            agent_options=config.agent_options,
            tool_policy=policy,
            seat_policies=seat_policies,
        )
        if self.guard.error is not None:
            return Outcome(None, self.guard.error)
        return Outcome(rec)

    def failed(self, spec: MatchSpec, reason: str) -> MatchRecord:
        return failed_match(spec, reason)

    async def aclose(self) -> None:
        await self.pool.close()


def match_runner(config: AnyConfig) -> MatchRunner:
    """A worker's :class:`MatchRunner` (its models are opened from the run's config on first use)."""
    return MatchRunner(config)


def failed_match(spec: MatchSpec, reason: str) -> MatchRecord:
    """The record of a match that could not be played (``error`` with ``reason``)."""
    return MatchRecord(id=spec.id, task=spec.task, round=spec.round, status="error", error=reason)


async def run_matches(
    config: AnyConfig,
    store: RunStore,
    *,
    run_id: str | None = None,
    resume: bool = False,
    models: dict[str, Model] | None = None,
    human: BotFactory | None = None,
    on_match: Callable[[MatchRecord, MatchStats], None] | None = None,
    on_start: Callable[[str, MatchStats], None] | None = None,
    workers: int | Literal["auto"] | None = None,
    ray: str | None = None,
) -> str:
    """Run (or resume) a match or tournament run and return its id; results are in ``store`` and its
    standings in the run's summary. Ctrl-C marks the run ``interrupted`` and keeps finished matches.

    Matches play in this process unless ``workers`` is above 1 or ``ray`` is given, as for
    :func:`palaestra.runner.run.run` (``models`` objects and human players play here only;
    ``"auto"`` plays them here, and other runs as :func:`~palaestra.runner.workers.auto_workers` says)."""
    sched = Scheduler(config)
    await sched.check()
    if resume and run_id is None:
        raise UsageError("--resume needs a run id")
    if workers == "auto":
        workers = (
            None if ray is not None else await _auto_workers(sched, store, run_id, resume, models, human)
        )
    distributed = ray is not None or (workers or 1) > 1
    if distributed and (models or human or _has_person(config)):
        raise UsageError("model objects and human players play in this process only: no workers, no ray")
    local = MatchRunner(config, models, human)
    pool: Pool[MatchSpec, MatchRecord] = LocalPool(local)
    if distributed:
        recipe = Recipe(match_runner, config)
        pool = spread(recipe, workers, ray)
    try:
        for spec in sched.models():  # a bad model spec or local dir fails before the run is recorded
            local.pool.get(spec)
        await pool.start()
        run_id, done = open_run(store, config, run_id, resume=resume)
    except BaseException:
        await pool.aclose()
        await local.aclose()
        raise
    players = config.players if isinstance(config, TournamentConfig) else None
    writer = SerialWriter()
    stats = MatchStats(skipped=len(done), started=time.perf_counter())

    async def record(rec: MatchRecord) -> None:
        # the writer thread does the SQLite work (which releases the GIL), so the other
        # matches play on meanwhile; one thread keeps the store's single writer
        await writer.call(store.write_match, run_id, rec)
        stats.done += 1
        stats.errors += rec.status == "error"
        stats.truncated += rec.status == "truncated"
        stats.forfeits += sum(1 for s in rec.seats.values() if s.forfeit)
        stats.moves += sum(len(s.steps) for s in rec.seats.values())
        stats.model_calls += sum(len(s.calls) for s in rec.seats.values())
        stats.tokens += sum(s.usage.total_tokens for s in rec.seats.values())
        if on_match:
            on_match(rec, stats)

    status = "failed"
    fatal: ModelError | None = None
    try:
        stats.total = max(await sched.total(), len(done))
        if on_start:
            on_start(run_id, stats)
        for r in range(sched.stages):
            prior = [m for m in store.match_rows(run_id) if m.round < r] if r else []
            specs = [s for s in await sched.stage(r, prior) if s.id not in done]
            if not specs:
                continue
            n = min(_concurrency(config, specs, local.pool), len(specs))
            fatal = await play_all(Feed(iter(specs)), pool, n, record, failed_match)
            if fatal is not None:
                break
        status = "finished" if fatal is None else "failed"
    except asyncio.CancelledError:
        status = "interrupted"
        raise
    except BaseExceptionGroup as eg:  # a bug outside any match (store, agent construction)
        raise eg.exceptions[0] from None
    finally:
        writer.close()  # a write under way finishes before the run's status is set
        summary = {"kind": config.kind, "game": config.game, **standings(store.match_rows(run_id), players)}
        store.set_run_status(run_id, status, summary)
        await pool.aclose()
        if distributed:
            await local.aclose()
    if fatal is not None:
        raise RunStopped(run_id, fatal)
    return run_id


def _has_person(c: AnyConfig) -> bool:
    named = [*c.seats.values(), c.default or ""] if isinstance(c, MatchConfig) else c.players
    return "human" in named


async def _auto_workers(
    sched: Scheduler,
    store: RunStore,
    run_id: str | None,
    resume: bool,
    models: dict[str, Model] | None,
    human: BotFactory | None,
) -> int:
    if models or human or _has_person(sched.config):
        return 1  # they play in this process
    done = len(store.finished_episode_ids(run_id)) if resume and run_id else 0
    local = next((m for m in sched.models() if m.startswith("local:")), None)
    return auto_workers(await sched.total() - done, local)


def _concurrency(config: AnyConfig, specs: Sequence[MatchSpec], pool: ModelPool) -> int:
    """Matches in flight: the configured number, else the smallest connection limit of the models
    in play divided by the most LLM seats one match has (32 without models)."""
    if config.concurrency:
        return config.concurrency
    bots = _game(config.game).bots()
    limits, llm_seats = [], 1
    for spec in specs[:256]:
        named = list(spec.lineup.values())
        if isinstance(config, MatchConfig) and config.default:
            named.append(config.default)
        used = [m for m in (parse_player(p, bots).model for p in named) if m]
        llm_seats = max(llm_seats, len(used))
        limits += [pool.get(m).max_concurrency for m in used]
    return max(1, min(limits) // llm_seats) if limits else 32
