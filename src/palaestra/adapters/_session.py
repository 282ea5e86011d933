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

from palaestra.agents.react import describe_tools
from palaestra.env import Env, make
from palaestra.errors import UsageError
from palaestra.types import Message, Observation, Split, Task, ToolCall, ToolSpec

T = TypeVar("T")
RewardKind = Literal["reward", "success", "progress"]
REWARD_KINDS: tuple[RewardKind, ...] = ("reward", "success", "progress")


def make_single(name: str | Env) -> Env:
    """A single-agent env by name; a game is refused with one clear line."""
    env = make(name) if isinstance(name, str) else name
    if not isinstance(env, Env):
        raise UsageError(f"{name} is a multi-agent game; this bridge serves single-agent environments")
    return env


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
