"""One episode of a single-agent env driven by tool calls: what every bridge shares.

A bridge (TRL, MCP, OpenEnv, verifiers, Inspect) receives tool calls by name and arguments from a
foreign framework and must hand back text, a reward and whether the episode is over. ``Episode``
does exactly that over the async ``Env`` API; ``SyncEpisode`` does it for frameworks that call
tools synchronously, on an event loop of its own that ``close()`` (or garbage collection) frees.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import weakref
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from palaestra.env import Env, make
from palaestra.errors import UsageError
from palaestra.multi import MultiAgentEnv
from palaestra.tools import ToolResult, describe_tools
from palaestra.types import Message, Observation, Split, Task, ToolCall, ToolSpec

T = TypeVar("T")
RewardKind = Literal["reward", "success", "progress"]
REWARD_KINDS: tuple[RewardKind, ...] = ("reward", "success", "progress")


def make_single(name: str | Env, *, seat: str | None = None, bot: str | None = None) -> Env:
    """A single-agent env by name; a game is played seat by seat (:class:`SeatEnv`)."""
    env = make(name) if isinstance(name, str) else name
    if isinstance(env, MultiAgentEnv):
        return SeatEnv(env, seat=seat, bot=bot)
    if not isinstance(env, Env):
        raise UsageError(f"{name} is not an environment")
    return env


def all_tools(env: Env) -> list[ToolSpec]:
    """Every tool ``env`` may ever offer (known before an episode starts)."""
    return env.game._tool_specs if isinstance(env, SeatEnv) else type(env)._tool_specs


class SeatEnv(Env):
    """One seat of a game as a single-agent env: the game's bot (``bot``, default its first) plays
    every other seat. ``seat`` defaults to the game's first seat. The seat's reward is its score;
    success is ending with the best score and no forfeit."""

    def __init__(self, game: MultiAgentEnv, *, seat: str | None = None, bot: str | None = None) -> None:
        self.game = game
        self.spec = game.spec  # type: ignore[misc]  # an instance's spec: the game's
        bots = game.bots()
        if not bots:
            raise UsageError(f"{game.spec.name} has no bots to play the other seats")
        if bot is not None and bot not in bots:
            raise UsageError(f"{game.spec.name} has no bot {bot!r}; its bots: {', '.join(bots)}")
        self.bot_factory = bots[bot or next(iter(bots))]
        self.chosen_seat = seat
        self.me = ""
        self._bots: dict[str, Any] = {}
        self._pending: dict[str, list[Message]] = {}
        self._news: list[Message] = []
        self._score = 0.0

    def generate(self, rng: Any, difficulty: int) -> dict[str, Any]:
        return self.game.generate(rng, difficulty)

    def tasks(
        self, split: Split = "test", n: int = 100, seed: int = 0, difficulty: int | None = None
    ) -> list[Task]:
        return self.game.tasks(split, n, seed=seed, difficulty=difficulty)

    def instructions(self) -> str:
        return self.game.instructions(self.me)

    async def setup(self, task: Task) -> str:  # type: ignore[override]  # Env.reset awaits it
        first = await self.game.reset(task)
        seats = list(self.game.agents)
        if self.chosen_seat is not None and self.chosen_seat not in seats:
            raise UsageError(
                f"{self.game.spec.name} has no seat {self.chosen_seat!r}; seats: {', '.join(seats)}"
            )
        self.me = self.chosen_seat or seats[0]
        self._pending = {s: list(first[s].messages) for s in seats}
        self._bots = {}
        for i, s in enumerate(seats):
            if s != self.me:
                self._bots[s] = self.bot_factory(self.game, s, task.seed + i)
                await self._bots[s].reset(task)
        self._score = 0.0
        await self._advance({})
        mine = [m for m in self._pending.pop(self.me, []) if m.role != "system"]
        self._pending[self.me] = []
        return f"You play seat {self.me}.\n\n" + messages_text(mine)

    def tool_specs(self) -> list[ToolSpec]:
        return self.game.tool_specs(self.me) if self.me else self.game._tool_specs

    async def _advance(self, mine: dict[str, Message]) -> None:
        """Apply ``mine`` with the bots' moves, then let the bots play until the seat must move."""
        moves = dict(mine)
        for _ in range(1000):  # bounded: a game that never hands the seat a move ends the episode
            if self.game.done or self.me in self.game.out:
                break
            acting = [s for s in self.game.acting() if s not in self.game.out]
            if self.me in acting and self.me not in moves:
                break
            for s in acting:
                if s != self.me:
                    obs = Observation(messages=self._pending.pop(s, []), tools=self.game.tool_specs(s))
                    moves[s] = await self._bots[s].act(obs)
            steps = await self.game.step(moves)
            moves = {}
            for s, st in steps.items():
                self._pending.setdefault(s, []).extend(st.observation.messages)
            streak = self.game.invalid_streak.get(self.me, 0)
            if streak >= self.game.max_invalid and not self.game.done:
                self.game.invalid_streak[self.me] = 0
                for s, st in (
                    await self.game.apply_forfeit(self.me, f"{streak} illegal moves in a row")
                ).items():
                    self._pending.setdefault(s, []).extend(st.observation.messages)

    async def _move(self, message: Message) -> ToolResult:
        await self._advance({self.me: message})
        news = self._pending.pop(self.me, [])
        score = float(self.game.scores.get(self.me, 0.0))
        self.add_reward(score - self._score)
        self._score = score
        if self.game.done or self.me in self.game.out:
            best = max(self.game.scores.values(), default=0.0)
            self.finish(self.me not in self.game.out and score >= best, reward=0.0)
        invalid = any(m.role == "tool" and m.content.startswith("Error") for m in news)
        return ToolResult(messages_text(news) or "(no news)", invalid=invalid)

    async def call(self, call: ToolCall) -> ToolResult:
        return await self._move(Message(role="assistant", tool_calls=[call]))

    async def on_text(self, text: str) -> ToolResult:
        return await self._move(Message(role="assistant", content=text))

    async def close(self) -> None:
        await self.game.close()


def pick_task(
    env: Env, split: Split = "test", seed: int = 0, difficulty: int | None = None, index: int = 0
) -> Task:
    """Task ``index`` of ``env``'s ``split`` drawn from ``seed`` (as ``palaestra run`` draws them)."""
    return env.tasks(split, index + 1, seed=seed, difficulty=difficulty)[index]


def messages_text(messages: list[Message]) -> str:
    """The text of an observation's messages, one paragraph each."""
    return "\n\n".join(m.content for m in messages if m.content)


def prompt_text(obs: Observation, *, with_tools: bool = False) -> str:
    """The first observation as one prompt: instructions, goal and optionally the tools' list."""
    text = messages_text(obs.messages)
    return f"{text}\n\n{describe_tools(obs.tools)}" if with_tools else text


@dataclass(frozen=True)
class EpisodeOptions:
    """How a served env's episodes are made: default split and difficulty of the tasks, the step
    limit, and for a game the seat the client plays and the bot playing the others."""

    split: Split = "test"
    difficulty: int | None = None
    max_steps: int | None = None
    seat: str | None = None
    bot: str | None = None

    def make(self, env: str) -> Env:
        return make_single(env, seat=self.seat, bot=self.bot)

    def episode(self, env: str) -> Episode:
        return Episode(self.make(env), max_steps=self.max_steps)


@dataclass
class Outcome:
    """What one tool call did: the text for the agent, the step's reward and the episode's state."""

    text: str
    reward: float
    done: bool
    info: dict[str, Any] = field(default_factory=dict)


class Episode:
    """One episode of ``env``: ``start(task)``, then ``act(name, arguments)`` per tool call."""

    def __init__(self, env: Env, *, max_steps: int | None = None) -> None:
        self.env = env
        self.max_steps = max_steps or env.spec.max_steps
        self.task: Task | None = None
        self.total_reward = 0.0
        self.steps = 0
        self.first: Observation | None = None
        self._calls = itertools.count(1)

    @property
    def done(self) -> bool:
        return self.task is not None and (self.env.done or self.steps >= self.max_steps)

    @property
    def tools(self) -> list[ToolSpec]:
        return self.env.tool_specs()

    async def start(self, task: Task) -> Observation:
        self.task = task
        self.total_reward = 0.0
        self.steps = 0
        self.env.turn_limit = self.max_steps
        self.first = await self.env.reset(task)
        return self.first

    async def act(self, name: str, arguments: dict[str, Any] | None = None) -> Outcome:
        """Run one tool call as one step of the env."""
        call = ToolCall(id=f"call_{next(self._calls)}", name=name, arguments=dict(arguments or {}))
        return await self.reply(Message(role="assistant", tool_calls=[call]))

    async def reply(self, message: Message) -> Outcome:
        """Run one assistant reply (tool calls or text) as one step of the env."""
        if self.task is None:
            raise UsageError("the episode has not started: reset it with a task first")
        step = await self.env.step(message)
        self.steps += 1
        self.total_reward += step.reward
        text = messages_text(step.observation.messages)
        if not self.env.done and self.steps >= self.max_steps:
            self.env.truncate()
            text = f"{text}\nThe step limit ({self.max_steps}) is reached; the episode is over."
        info = {**step.info, "success": self.env.success, "progress": self.env.progress()}
        return Outcome(text=text, reward=step.reward, done=self.done, info=info)

    def score(self, kind: RewardKind = "reward") -> float:
        """The episode's score: total reward, 1/0 success, or progress (0..1)."""
        if kind == "success":
            return 1.0 if self.env.success else 0.0
        if kind == "progress":
            return float(self.env.progress()) if self.task is not None else 0.0
        return self.total_reward

    def result(self) -> dict[str, Any]:
        """The episode's outcome as plain data."""
        return {
            "task_id": self.task.id if self.task else None,
            "done": self.done,
            "success": bool(self.env.success),
            "reward": self.total_reward,
            "progress": float(self.env.progress()) if self.task is not None else 0.0,
            "steps": self.steps,
        }

    async def close(self) -> None:
        await self.env.close()


def _stop_loop(loop: asyncio.AbstractEventLoop, thread: threading.Thread) -> None:
    if not loop.is_closed():
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.close()


class SyncEpisode:
    """An ``Episode`` behind blocking calls, usable from any thread, even one running an event loop.

    The episode lives on an event loop of its own, in a daemon thread; ``close()`` (or garbage
    collection) closes the env and stops and frees that loop."""

    def __init__(self, env: Env, *, max_steps: int | None = None) -> None:
        self.episode = Episode(env, max_steps=max_steps)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="palaestra-episode", daemon=True)
        self._thread.start()
        self._finalizer = weakref.finalize(self, _stop_loop, self._loop, self._thread)

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        if self._loop.is_closed():
            coro.close()
            raise UsageError("this episode is closed")
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    def start(self, task: Task) -> Observation:
        return self.run(self.episode.start(task))

    def act(self, name: str, arguments: dict[str, Any] | None = None) -> Outcome:
        return self.run(self.episode.act(name, arguments))

    def close(self) -> None:
        if not self._loop.is_closed():
            self.run(self.episode.close())
        self._finalizer()
