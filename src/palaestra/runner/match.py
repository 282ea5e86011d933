"""One match of a multi-agent game: any player in any seat, moves asked concurrently, every seat recorded.

Each seat has a buffer of pending messages: what the game tells a seat accumulates until the seat
must move, and then its agent gets one ``Observation`` with all of it. Every round the seats in
``game.acting()`` are asked at once (a simultaneous-move game waits for the slowest seat, never
for the sum), each under the per-move time limit; then ``game.step`` applies the moves.

Bad input never stops a match. A seat whose agent raises, times out or returns something that is
not a ``Message`` forfeits by the game's rule (``game.apply_forfeit(seat, reason)``), and so does a
seat that has made ``game.max_invalid`` illegal moves in a row (``game.over_invalid_limit()``). The number of rounds is capped (by
``max_steps``, default the game's ``spec.max_steps``): a match that reaches the cap ends as
``truncated`` with the scores it has. (The move time limit acts at the agent's ``await`` points: an
agent that blocks the event loop in plain Python cannot be interrupted.)

The record keeps, per seat, one step per move: the messages the seat's agent was given, its move,
the step info, and as reward everything the seat received after that move until its next one (so
a seat's step rewards add up to its final score); plus its model calls and what it was told after
its last move.
"""

from __future__ import annotations

import asyncio
import time
import traceback
from collections.abc import Mapping
from typing import Any, TypeVar

from palaestra.errors import ModelError, UsageError
from palaestra.models.base import GenerateConfig, Model
from palaestra.multi import BotFactory, MultiAgentEnv
from palaestra.policy import Agent, agent_trace
from palaestra.records import MODEL_ERROR_PREFIX, MatchRecord, SeatRecord, StepRecord, winners
from palaestra.runner.episode import RecordingModel
from palaestra.runner.players import ModelPool, Player, PlayerSpec, make_player_agent, parse_player, seat_seed
from palaestra.sanitize import clean_message
from palaestra.tools import ToolPolicy
from palaestra.types import Message, Observation, Step, Task, ToolSpec

T = TypeVar("T")
Lineup = Mapping[str, PlayerSpec] | Mapping[int, PlayerSpec] | Mapping[str | int, PlayerSpec]
"""Player specs by seat name or seat index."""


def resolve_seats(players: Mapping[Any, T], seats: list[str], default: T) -> dict[str, T]:
    """Map player specs (or per-seat settings) given by seat name or seat index onto the game's
    seats; the rest get ``default``."""
    out: dict[str, T] = {}
    for key, spec in players.items():
        if isinstance(key, int) or (isinstance(key, str) and key.isdigit() and key not in seats):
            i = int(key)
            if not 0 <= i < len(seats):
                raise UsageError(f"seat index {i} out of range: this game has {len(seats)} seats")
            seat = seats[i]
        elif key in seats:
            seat = key
        else:
            raise UsageError(f"unknown seat {key!r}; this game's seats: {', '.join(seats)}")
        out[seat] = spec
    return {s: out.get(s, default) for s in seats}


def default_player(game: MultiAgentEnv) -> str:
    """The game's first bot, or ``random`` for a game without bots."""
    bots = game.bots()
    return f"bot:{next(iter(bots))}" if bots else "random"


async def play_match(
    game: MultiAgentEnv,
    players: Lineup,
    task: Task,
    *,
    max_steps: int | None = None,
    move_timeout: float | None = None,
    record: MatchRecord | None = None,
    models: ModelPool | None = None,
    seed: int = 0,
    default: PlayerSpec | None = None,
    human: BotFactory | None = None,
    generate: GenerateConfig | None = None,
    agent_options: dict[str, Any] | None = None,
    tool_policy: ToolPolicy | None = None,
    seat_policies: Mapping[str, ToolPolicy] | None = None,
) -> MatchRecord:
    """Play one match of ``task`` and return its record. Never raises for the match's own failures
    (an exception from the game ends it as ``error`` with the traceback); a bad player spec or seat
    name raises ``UsageError`` before the first move. Cancellation propagates.

    ``players`` maps seat names or indices to player specs; seats not named get ``default`` (the
    game's first bot, or ``random``). Human seats have no move time limit. ``tool_policy`` holds for
    every seat but those ``seat_policies`` names (by seat name or index): tool permissions per seat.
    """
    rec = record or MatchRecord(id=task.id, task=task)
    pool = models or ModelPool()  # shared by the caller's matches, or this match's own
    start = time.perf_counter()
    try:
        try:
            obs = await game.reset(task)
        except Exception as e:
            _fail(rec, e)
            return rec
        seats = list(game.agents)
        lineup = resolve_seats(players, seats, default if default is not None else default_player(game))
        if tool_policy is not None:
            game.tool_policy = tool_policy
        if seat_policies:
            game.seat_policies = resolve_seats(seat_policies, seats, game.tool_policy)
        bots = game.bots()
        parsed = {
            s: parse_player(p, bots) if isinstance(p, str) else Player("custom", "custom")
            for s, p in lineup.items()
        }
        for seat, player in parsed.items():
            rec.seats[seat] = SeatRecord(seat, player.spec, model=player.model or "")
        match = _Match(game, rec, {s: list(obs[s].messages) for s in seats}, move_timeout)
        for seat, player in parsed.items():
            spec = lineup[seat]
            model: Model | None = None
            if player.model:
                model = RecordingModel(pool.get(player.model), rec.seats[seat].calls)
            if player.kind == "human":
                match.humans.add(seat)
            if player.kind in ("agent", "human"):
                match.withheld.add(seat)  # hidden roles and values stay hidden from models and people
            try:
                match.agents[seat] = make_player_agent(
                    player,
                    None if isinstance(spec, str) else spec,
                    game,
                    seat,
                    seat_seed(seed, rec.id, seat),
                    model=model,
                    human=human,
                    generate=generate,
                    agent_options=agent_options,
                )
            except UsageError:
                raise
            except Exception as e:
                await match.forfeit(seat, f"crashed at start: {type(e).__name__}: {e}")
        try:
            await match.run(task, max_steps or game.spec.max_steps)
        except Exception as e:
            _fail(rec, e)
        if match.server_failed is not None and rec.status != "error":
            # the seat forfeited because its model server failed, not by its own play: the match
            # measured the server, so it is an error that --resume plays again (it counts for no rating)
            rec.status = "error"
            rec.error = f"{MODEL_ERROR_PREFIX}{match.server_failed}"
    finally:
        rec.wall = time.perf_counter() - start
        _finalise(game, rec)
        try:
            await game.close()
        except Exception as e:
            if rec.error is None:
                rec.error = f"game.close failed: {type(e).__name__}: {e}"
        if models is None:
            await pool.close()
    return rec


def _fail(rec: MatchRecord, e: BaseException) -> None:
    rec.status = "error"
    rec.error = f"{type(e).__name__}: {e}\n{traceback.format_exc()}"


def _finalise(game: MultiAgentEnv, rec: MatchRecord) -> None:
    scores = game.scores
    for seat, sr in rec.seats.items():
        sr.score = float(scores.get(seat, 0.0))
        # rewards given outside a step (a forfeit that ends the game) go to the seat's last step,
        # so that a seat's step rewards always add up to its score
        missing = sr.score - sum(st.reward for st in sr.steps)
        if sr.steps and abs(missing) > 1e-9:
            sr.steps[-1].reward += missing
    try:
        rec.result = dict(game.result()) if rec.seats else {}
    except Exception as e:
        rec.result = {}
        if rec.error is None:
            rec.error = f"game.result failed: {type(e).__name__}: {e}"
    for seat, share in winners(rec.result, rec.scores).items():
        rec.seats[seat].won = share


class _Match:
    """The loop of one match (the state its helpers share)."""

    def __init__(
        self,
        game: MultiAgentEnv,
        rec: MatchRecord,
        pending: dict[str, list[Message]],
        move_timeout: float | None,
    ) -> None:
        self.game = game
        self.rec = rec
        self.agents: dict[str, Agent] = {}
        self.humans: set[str] = set()
        self.withheld: set[str] = set()
        self.pending = pending
        self.move_timeout = move_timeout
        self.early_reward: dict[str, float] = {}
        self.last_tools: dict[str, list[ToolSpec]] = {}
        self.server_failed: str | None = None
        """The first model error (after retries) a seat forfeited on, as ``seat NAME: error``."""

    async def run(self, task: Task, limit: int) -> None:
        game, rec = self.game, self.rec
        for seat, agent in self.agents.items():
            try:
                await agent.reset(task.public() if seat in self.withheld else task)
            except Exception as e:
                await self.forfeit(seat, f"crashed at reset: {type(e).__name__}: {e}")
        while not game.done:
            if rec.rounds >= limit:
                rec.status = "truncated"
                rec.error = f"round cap of {limit} reached"
                break
            acting = game.to_move()
            asked = await self.ask([s for s in acting if s in self.agents])
            moves: dict[str, Message] = {}
            for seat, got in asked.items():
                if isinstance(got, Message):
                    moves[seat] = got
                else:
                    await self.forfeit(seat, got)
            rec.rounds += 1
            if game.done:
                for seat in moves:
                    self.rec.seats[seat].steps[-1].info = {"round": rec.rounds, "ignored": "the game ended"}
            if game.done or (not moves and acting):
                continue  # the forfeits ended the game, or the game's rule decides who moves next
            await self.apply(moves)
        for seat, sr in rec.seats.items():
            sr.final = self.pending.get(seat, [])

    async def ask(self, seats: list[str]) -> dict[str, Message | str]:
        if len(seats) == 1:
            return {seats[0]: await self.ask_one(seats[0])}
        got = await asyncio.gather(*(self.ask_one(s) for s in seats))
        return dict(zip(seats, got, strict=True))

    async def ask_one(self, seat: str) -> Message | str:
        """The seat's move, or why it forfeits."""
        messages = self.pending[seat]
        self.pending[seat] = []
        tools = self.game.tool_specs(seat)
        # the parts are validated already (the game made them): skip pydantic's validation
        obs = Observation.model_construct(messages=messages, tools=tools, info={"acting": True, "seat": seat})
        limit = None if seat in self.humans else self.move_timeout
        try:
            async with asyncio.timeout(limit):
                action = clean_message(await self.agents[seat].act(obs))  # storable, as in rollout
        except TimeoutError:
            return f"timed out after {limit:g}s" if limit is not None else "timed out"
        except ModelError as e:
            self.server_failed = self.server_failed or f"seat {seat}: {e}"
            return f"model error: {e}"
        except Exception as e:
            reason = getattr(e, "forfeit_reason", None)  # a person leaving says so
            return str(reason) if reason else f"crashed: {type(e).__name__}: {e}"
        if not isinstance(action, Message):
            return f"crashed: the agent returned {type(action).__name__}, not a Message"
        sr = self.rec.seats[seat]
        prev = self.last_tools.get(seat)
        changed = prev is None or (tools is not prev and tools != prev)
        self.last_tools[seat] = tools
        reward = self.early_reward.pop(seat, 0.0)
        trace = agent_trace(self.agents[seat])
        sr.steps.append(
            StepRecord(len(sr.steps), messages, action, reward, {}, tools if changed else None, trace)
        )
        return action

    async def apply(self, moves: dict[str, Message]) -> None:
        game = self.game
        steps = await game.step(moves)
        for seat in moves:
            info = dict(steps[seat].info) if seat in steps else {}
            info["round"] = self.rec.rounds
            sr = self.rec.seats[seat]
            sr.steps[-1].info = info
            sr.invalid_actions += bool(info.get("invalid_action", False))
        self.deliver(steps)
        for seat in game.over_invalid_limit():  # the game's rule decides what follows
            await self.forfeit(seat, f"{game.max_invalid} illegal moves in a row")

    def deliver(self, steps: Mapping[str, Step]) -> None:
        """Add each seat's news to its pending messages and its rewards to its last move."""
        for seat, st in steps.items():
            if seat not in self.pending:
                continue
            self.pending[seat].extend(st.observation.messages)
            if st.reward:
                own = self.rec.seats[seat].steps
                if own:
                    own[-1].reward += st.reward
                else:
                    self.early_reward[seat] = self.early_reward.get(seat, 0.0) + st.reward

    async def forfeit(self, seat: str, reason: str) -> None:
        """Record the forfeit and apply the game's rule; what it tells the seats is delivered now."""
        sr = self.rec.seats[seat]
        sr.forfeits += 1
        if sr.forfeit is None:
            sr.forfeit = reason
        if not self.game.done:
            self.deliver(await self.game.apply_forfeit(seat, reason))
