"""Any Palaestra multi-agent game as a PettingZoo ``ParallelEnv`` with text spaces.

    from palaestra.adapters.pettingzoo import PettingZooEnv

    env = PettingZooEnv("auction", difficulty=1)
    obs, infos = env.reset(seed=0)                 # the seed picks the task
    while env.agents:
        actions = {a: my_policy(obs[a], infos[a]) for a in env.agents}
        obs, rewards, terminations, truncations, infos = env.step(actions)

Agents are the game's seats. Observations and actions are strings (``gymnasium.spaces.Text`` over
the Gymnasium adapter's character set): an observation is the text of what the seat was told since
the last step (the first one also lists its tools), and an action is ``tool({"arg": value})``,
``tool arg ...``, a JSON object ``{"name": ..., "arguments": {...}}`` or plain text, as in the
Gymnasium adapter.

PettingZoo's parallel API asks for an action from every live agent each step, but a turn-based game
lets only some seats move: **actions of seats that are not acting now are ignored** (they are not
counted as illegal moves). ``infos[agent]["acting"]`` says which seats the game waits for. An acting
seat that sends no action simply has not moved yet.

A seat that makes ``game.max_invalid`` illegal moves in a row forfeits by the game's rule, as in
the runner; a forfeited seat is terminated. ``forfeits=False`` answers illegal moves but never
forfeits (PettingZoo's ``max_cycles_test`` plays random strings and expects the game to last).

``observations="utf8"`` gives each observation as a fixed-size ``uint8`` array (``Box``) of its
UTF-8 bytes, zero-padded or cut to ``max_bytes``: PettingZoo's AEC ``api_test`` assumes NumPy
observations and fails on text. ``env(game)`` is the AEC form (``parallel_to_aec``).

The adapter owns an event loop; ``close()`` frees it and the game, and so does garbage collection
(the loop only) when a caller forgets to close. Rewards are the change of each seat's score since the
previous step; every agent is truncated after ``max_cycles`` steps (default: the game's
``spec.max_steps``).
"""

from __future__ import annotations

import asyncio
import json
import weakref
from typing import Any, Literal

import numpy as np
from gymnasium import spaces
from gymnasium.utils import seeding
from pettingzoo import AECEnv, ParallelEnv
from pettingzoo.utils.conversions import parallel_to_aec

from palaestra.adapters.gymnasium import CHARSET, MAX_ACTION, MAX_OBSERVATION, _clean
from palaestra.agents.human import parse_command
from palaestra.env import make
from palaestra.errors import UsageError
from palaestra.multi import MultiAgentEnv
from palaestra.tools import describe_tools
from palaestra.types import Message, Observation, Split, Step, Task, ToolCall, ToolSpec


def parse_action(text: str, tools: list[ToolSpec], call_id: str) -> Message:
    """The assistant message for an action string (see the module docstring)."""
    stripped = text.strip()
    if stripped.startswith("{"):
        try:
            data = json.loads(stripped)
        except json.JSONDecodeError:
            data = None
        if isinstance(data, dict) and isinstance(data.get("name"), str):
            args = data.get("arguments") or {}
            call = ToolCall(id=call_id, name=data["name"], arguments=args if isinstance(args, dict) else {})
            return Message(role="assistant", tool_calls=[call])
    parsed = parse_command(stripped, tools, call_id)
    if parsed is not None:
        return Message(role="assistant", tool_calls=[parsed])
    return Message(role="assistant", content=text)


class PettingZooEnv(ParallelEnv):  # type: ignore[misc]
    """A Palaestra ``MultiAgentEnv`` behind PettingZoo's parallel API."""

    metadata = {"render_modes": ["ansi"], "name": "palaestra", "is_parallelizable": True}  # noqa: RUF012

    def __init__(
        self,
        game: str | MultiAgentEnv,
        *,
        split: Split = "train",
        difficulty: int | None = None,
        max_cycles: int | None = None,
        render_mode: str | None = None,
        forfeits: bool = True,
        observations: Literal["text", "utf8"] = "text",
        max_bytes: int = 8192,
    ) -> None:
        inner = make(game) if isinstance(game, str) else game
        if not isinstance(inner, MultiAgentEnv):
            raise UsageError(f"{game} is a single-agent environment; use the Gymnasium adapter")
        self.game = inner
        self.split: Split = split
        self.difficulty = difficulty
        self.max_cycles = max_cycles or inner.spec.max_steps
        self.render_mode = render_mode
        self.forfeits = forfeits
        self.encoding = observations
        self.max_bytes = max_bytes
        self._obs_space: spaces.Space[Any] = (
            spaces.Text(max_length=MAX_OBSERVATION, min_length=0, charset=CHARSET)
            if observations == "text"
            else spaces.Box(0, 255, (max_bytes,), np.uint8)
        )
        self._act_space = spaces.Text(max_length=MAX_ACTION, min_length=1, charset=CHARSET)
        self._loop = asyncio.new_event_loop()
        self._finalizer = weakref.finalize(self, self._loop.close)
        self._rng, _ = seeding.np_random(None)
        self._task: Task | None = None
        self._cycles = 0
        self._calls = 0
        self._scores: dict[str, float] = {}
        self._last: dict[str, str] = {}
        # the seats are known once a task is set up: the first task of the split names them
        first = inner.tasks(split, 1, seed=0, difficulty=difficulty)[0]
        self._run(inner.reset(first))
        self.possible_agents: list[str] = list(inner.agents)
        self.agents: list[str] = []

    # ---- spaces: one object for every seat, as PettingZoo asks --------------------------------
    def observation_space(self, agent: str) -> spaces.Space[Any]:
        return self._obs_space

    def action_space(self, agent: str) -> spaces.Text:
        return self._act_space

    @property
    def observation_spaces(self) -> dict[str, spaces.Space[Any]]:
        return dict.fromkeys(self.possible_agents, self._obs_space)

    @property
    def action_spaces(self) -> dict[str, spaces.Text]:
        return dict.fromkeys(self.possible_agents, self._act_space)

    # ---- the API -----------------------------------------------------------------------------------
    def _run(self, coro: Any) -> Any:
        return self._loop.run_until_complete(coro)

    def _text(self, seat: str, messages: list[Message], first: bool = False) -> str:
        parts = [m.content for m in messages if m.content]
        if first:
            parts.append(describe_tools(self.game.tool_specs(seat)))
        return _clean("\n\n".join(parts))

    def _encode(self, text: str) -> Any:
        if self.encoding == "text":
            return text
        data = text.encode("utf-8")[: self.max_bytes]
        out = np.zeros(self.max_bytes, dtype=np.uint8)
        out[: len(data)] = np.frombuffer(data, dtype=np.uint8)
        return out

    def _info(self, seat: str, acting: set[str], **extra: Any) -> dict[str, Any]:
        assert self._task is not None
        return {
            "acting": seat in acting,
            "tools": [t.model_dump() for t in self.game.tool_specs(seat)],
            "score": self._scores.get(seat, 0.0),
            "task_id": self._task.id,
            **extra,
        }

    def reset(
        self, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, str], dict[str, dict[str, Any]]]:
        if seed is not None:
            self._rng, _ = seeding.np_random(seed)
        options = options or {}
        if "task" in options:
            t = options["task"]
            task = t if isinstance(t, Task) else Task.model_validate(t)
        else:
            task_seed = int(self._rng.integers(0, 2**31 - 1))
            task = self.game.tasks(self.split, 1, seed=task_seed, difficulty=self.difficulty)[0]
        self._task = task
        self._cycles = 0
        obs: dict[str, Observation] = self._run(self.game.reset(task))
        self.agents = list(self.game.agents)
        self.possible_agents = list(self.game.agents)
        self._scores = dict.fromkeys(self.agents, 0.0)
        acting = set(self.game.acting())
        self._last = {s: self._text(s, obs[s].messages, first=True) for s in self.agents}
        return {s: self._encode(t) for s, t in self._last.items()}, {
            s: self._info(s, acting) for s in self.agents
        }

    def step(
        self, actions: dict[str, str]
    ) -> tuple[
        dict[str, str],
        dict[str, float],
        dict[str, bool],
        dict[str, bool],
        dict[str, dict[str, Any]],
    ]:
        if self._task is None:
            raise RuntimeError("call reset() before step()")
        game = self.game
        live = list(self.agents)
        out = game.out
        acting = [s for s in game.acting() if s not in out] if not game.done else []
        moves: dict[str, Message] = {}
        for seat in acting:
            if seat in actions and seat in live:
                self._calls += 1
                moves[seat] = parse_action(str(actions[seat]), game.tool_specs(seat), f"call_{self._calls}")
        news: dict[str, list[Message]] = {s: [] for s in live}
        invalid: dict[str, bool] = {}
        if not game.done and (moves or not acting):
            self._collect(news, self._run(game.step(moves)))
            invalid = {s: True for s in moves if game.invalid_streak.get(s, 0) > 0}
        for seat in live:
            streak = game.invalid_streak.get(seat, 0)
            if self.forfeits and not game.done and seat not in out and streak >= game.max_invalid:
                game.invalid_streak[seat] = 0
                game.forfeit(seat, f"{game.max_invalid} illegal moves in a row")
        if game.done:  # what the end told the seats (a forfeit that ended the game)
            self._collect(news, self._run(game.step({})))
        self._cycles += 1
        now_acting = set(game.acting()) if not game.done else set()
        observations, rewards, terminated, truncated, infos = {}, {}, {}, {}, {}
        for seat in live:
            score = float(game.scores.get(seat, 0.0))
            rewards[seat] = score - self._scores.get(seat, 0.0)
            self._scores[seat] = score
            terminated[seat] = game.done or seat in out
            truncated[seat] = not terminated[seat] and self._cycles >= self.max_cycles
            observations[seat] = self._text(seat, news[seat])
            infos[seat] = self._info(seat, now_acting, invalid_action=invalid.get(seat, False))
        self._last = observations
        self.agents = [s for s in live if not (terminated[s] or truncated[s])]
        encoded = {s: self._encode(t) for s, t in observations.items()}
        return encoded, rewards, terminated, truncated, infos

    def _collect(self, news: dict[str, list[Message]], steps: dict[str, Step]) -> None:
        for seat, st in steps.items():
            if seat in news:
                news[seat].extend(st.observation.messages)

    def render(self) -> str | None:
        if self.render_mode != "ansi":
            return None
        return "\n\n".join(f"[{seat}]\n{text}" for seat, text in self._last.items())

    def close(self) -> None:
        if not self._loop.is_closed():
            self._run(self.game.close())
            self._finalizer()


def env(game: str | MultiAgentEnv, **options: Any) -> AECEnv:
    """The game as a PettingZoo AEC env (``parallel_to_aec`` of :class:`PettingZooEnv`)."""
    return parallel_to_aec(PettingZooEnv(game, **options))
