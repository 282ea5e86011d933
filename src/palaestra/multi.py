"""``MultiAgentEnv``: games and worlds with several named seats.

A game is one class, like a single-agent ``Env``:

- ``generate(rng, difficulty) -> params`` and ``setup(task)``, which sets ``self.agents`` (the
  seats) and tells each seat its private setup with ``self.tell(text, to=seat)``;
- ``@tool`` methods are the moves; inside one, ``self.seat`` is the seat that made it. Raise
  ``ToolError`` for an illegal move: it is answered to that seat only and counted;
- ``acting()`` names the seats that move now (one for turn-based games, several for simultaneous
  moves); ``resolve()`` runs after every acting seat has moved (simultaneous resolution, phases);
- ``self.tell(text, to=None)`` sends a message to every seat (public) or only to the seats named;
- ``self.reward(seat, r)`` and ``self.finish(rewards)`` give rewards and end the game;
- ``forfeit(seat, reason)`` applies the game's rule when a seat times out, crashes or keeps
  making illegal moves (by default the seat is out of the game and scores 0);
- ``bots()`` lists the rule-based players.

The runner drives a game only through ``reset``, ``to_move``, ``step``, ``over_invalid_limit``,
``apply_forfeit``, ``tool_specs``, ``valid_actions``, ``result`` and ``close``; it never reads
the game's state.

A seat sees only what it was told and the answers to its own moves: observations are built per
seat from per-seat queues, so private information cannot reach another seat by construction.
"""

from __future__ import annotations

import functools
import inspect
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any, ClassVar

from palaestra.tasksource import EnvSpec, TaskSource
from palaestra.tools import ToolHost, ToolPolicy, ToolResult
from palaestra.types import Message, Observation, Step, Task, ToolCall, ToolSpec

if TYPE_CHECKING:
    from palaestra.policy import Agent

BotFactory = Callable[["MultiAgentEnv", str, int], "Agent"]
"""``factory(game, seat, seed) -> Agent``: a rule-based player for one seat."""


class MultiAgentEnv(ToolHost, TaskSource):
    spec: ClassVar[EnvSpec]
    _engine = True

    agents: list[str]
    task: Task
    seat: str
    """The seat whose move is being applied (valid inside tools and ``on_text``)."""
    done: bool = False
    out: set[str]
    """Seats that are out of the game (they are not asked to move)."""
    scores: dict[str, float]
    """Each seat's score so far (the sum of its rewards)."""
    max_invalid: int = 3
    """Illegal moves in a row after which the runner forfeits the seat."""
    seat_policies: dict[str, ToolPolicy] | None = None
    """Tool permissions per seat (over ``tool_policy``, which holds for the other seats)."""

    # ---- to implement ------------------------------------------------------------------------
    def setup(self, task: Task) -> Awaitable[None] | None:
        """Set ``self.agents`` and the game state; ``tell`` each seat what it knows at the start."""
        raise NotImplementedError(f"{type(self).__name__} must implement setup()")

    def acting(self) -> list[str]:
        """The seats that must move now."""
        raise NotImplementedError(f"{type(self).__name__} must implement acting()")

    def instructions(self, seat: str) -> str:
        """The system prompt of ``seat``: the rules and its role."""
        return self.spec.description

    def resolve(self) -> None:
        """Called after all acting seats have moved: resolve simultaneous moves, advance phases."""

    async def on_text(self, text: str) -> ToolResult:
        """A reply with no tool call from ``self.seat``. Games with talk override this."""
        names = ", ".join(t.name for t in self.tool_specs(self.seat))
        return ToolResult(f"Error: no move found. Act by calling one of the tools: {names}.", invalid=True)

    def forfeit(self, seat: str, reason: str) -> None:
        """The game's rule for a seat that timed out, crashed or kept moving illegally."""
        self.out.add(seat)
        self.tell(f"{seat} forfeits ({reason}) and is out of the game.")
        if len(self.alive()) <= 1 or not self.acting():
            self.finish({s: (1.0 if s in self.alive() else 0.0) for s in self.agents})

    def result(self) -> dict[str, Any]:
        """Per-game metrics for the record (winner, roles, per-seat scores ...)."""
        return {"scores": dict(self.scores)}

    def bots(self) -> dict[str, BotFactory]:
        """Rule-based players, by name."""
        return {}

    def tool_specs(self, seat: str) -> list[ToolSpec]:
        """The moves ``seat`` may make now (all ``@tool`` methods by default)."""
        return self._tool_specs

    def valid_actions(self, seat: str) -> list[ToolCall] | None:
        """The concrete moves that make sense for ``seat`` now, where the game can list them."""
        return None

    # ---- what the runner calls -----------------------------------------------------------------
    def to_move(self) -> list[str]:
        """The seats the runner asks for a move now: the acting seats still in the game."""
        return [s for s in self.acting() if s not in self.out]

    def over_invalid_limit(self) -> list[str]:
        """The seats in play that have made ``max_invalid`` illegal moves in a row; their count
        starts again (the runner forfeits each with ``apply_forfeit``)."""
        seats = [
            s
            for s, n in self.invalid_streak.items()
            if n >= self.max_invalid and s not in self.out and not self.done
        ]
        for s in seats:
            self.invalid_streak[s] = 0
        return seats

    # ---- engine --------------------------------------------------------------------------------
    def tell(self, text: str, to: str | Iterable[str] | None = None, *, name: str | None = None) -> None:
        """Send ``text`` to every seat (``to=None``) or only to the named seats."""
        seats = self.agents if to is None else [to] if isinstance(to, str) else list(to)
        for s in seats:
            self._outbox[s].append(Message(role="user", content=text, name=name))

    def reward(self, seat: str, r: float) -> None:
        """Give ``seat`` a reward in this step (added to its score)."""
        self._rewards[seat] = self._rewards.get(seat, 0.0) + r
        self.scores[seat] = self.scores.get(seat, 0.0) + r

    def finish(self, rewards: dict[str, float] | None = None) -> None:
        """End the game, giving each seat its final reward."""
        for seat, r in (rewards or {}).items():
            self.reward(seat, r)
        self.done = True

    def alive(self) -> list[str]:
        return [s for s in self.agents if s not in self.out]

    async def reset(self, task: Task) -> dict[str, Observation]:
        self.task = task
        self.done = False
        self.out: set[str] = set()
        self.agents = []
        self._outbox: defaultdict[str, list[Message]] = defaultdict(list)
        self._rewards: dict[str, float] = {}
        self.invalid_streak: dict[str, int] = {}
        self.scores: dict[str, float] = {}
        self.turn = 0
        self._reset_ledger()
        ret = self.setup(task)
        if inspect.isawaitable(ret):
            await ret
        self.scores = {s: self.scores.get(s, 0.0) for s in self.agents}
        self.invalid_streak = {s: 0 for s in self.agents}
        out = {}
        for s in self.agents:
            msgs = [Message(role="system", content=self.instructions(s)), *self._outbox.pop(s, [])]
            out[s] = Observation(messages=msgs, tools=self.tool_specs(s), info={"acting": s in self.acting()})
        return out

    async def step(self, actions: dict[str, Message]) -> dict[str, Step]:
        """Apply one move per acting seat; return a ``Step`` for every seat that got news."""
        self.turn += 1
        self._rewards = {}
        self._ledger().events.clear()  # each Step reports the refusals of its own turn
        invalid: dict[str, bool] = {}
        acting = set(self.acting())
        for seat, action in actions.items():
            self.seat = seat
            if seat not in acting or self.done:
                why = "the game is over" if self.done else "it is not your turn"
                self._answer(seat, action, ToolResult(f"Error: {why}; this move was ignored.", True))
                invalid[seat] = True
                continue
            bad = False
            self._begin_reply(seat)
            if action.tool_calls:
                for call in action.tool_calls:
                    res = await self._guarded_call(call, functools.partial(self.call, seat, call), seat)
                    bad |= res.invalid
                    self._outbox[seat].append(self._tool_message(call, res))
                    if self.done:
                        break
            else:
                res = await self.on_text(action.content)
                bad = res.invalid
                if res.content:
                    self._outbox[seat].append(Message(role="user", content=res.content))
            invalid[seat] = bad
            self.invalid_streak[seat] = self.invalid_streak.get(seat, 0) + 1 if bad else 0
        if not self.done:
            self.resolve()
        return self._collect(set(actions), invalid)

    async def apply_forfeit(self, seat: str, reason: str) -> dict[str, Step]:
        """Forfeit ``seat`` (the runner calls this for a seat that timed out, crashed or kept moving
        illegally) and return the resulting ``Step`` per seat, as ``step`` would."""
        self._rewards = {}
        self._ledger().events.clear()
        if seat not in self.out and not self.done:
            self.forfeit(seat, reason)
            if not self.done:
                self.resolve()
        return self._collect({seat}, {})

    def _collect(self, moved: set[str], invalid: dict[str, bool]) -> dict[str, Step]:
        now_acting = set(self.acting()) if not self.done else set()
        steps: dict[str, Step] = {}
        for seat in self.agents:
            news = self._outbox.pop(seat, [])
            if not (news or seat in moved or seat in self._rewards or self.done):
                continue
            steps[seat] = Step(
                observation=Observation(
                    messages=news, tools=self.tool_specs(seat), info={"acting": seat in now_acting}
                ),
                reward=self._rewards.get(seat, 0.0),
                terminated=self.done or seat in self.out,
                info={
                    "invalid_action": invalid.get(seat, False),
                    "score": self.scores.get(seat, 0.0),
                    **self._host_info(seat),
                },
            )
        return steps

    def _answer(self, seat: str, action: Message, res: ToolResult) -> None:
        if action.tool_calls:
            for call in action.tool_calls:
                self._outbox[seat].append(self._tool_message(call, res))
        else:
            self._outbox[seat].append(Message(role="user", content=res.content))

    def _policy(self, seat: str) -> ToolPolicy:
        return (self.seat_policies or {}).get(seat, self.tool_policy)

    async def call(self, seat: str, call: ToolCall) -> ToolResult:
        """Validate and run one move of ``seat``. Never raises for bad input."""
        self.seat = seat
        allowed = {t.name for t in self.tool_specs(seat)}
        if call.name in self._tools and call.name not in allowed:
            return ToolResult(
                f"Error: {call.name} is not available to you now. Available: {', '.join(sorted(allowed))}.",
                True,
            )
        return await self._run_tool(call)

    async def close(self) -> None:
        """Release what the match holds."""
