"""The engine shared by the three GLEE families: two seats, turn-taking, optional messages, forfeits.

Every game has the seats ``alice`` and ``bob`` (called Alice and Bob in the texts). Exactly one seat
moves at a time. A family subclass says which moves a seat has now (``moves_now``), which moves its
role has at all (``role_moves``), whether a seat may attach a free-text message to its moves
(``may_talk``), and what each seat has gained (``gains``). Rewards are given once, at the end: each
seat's GLEE self-gain, or ``FORFEIT_SCORE`` for a seat that forfeits.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, ClassVar

from palaestra import BotFactory, MultiAgentEnv, ToolError, ToolSpec

SEATS = ("alice", "bob")
NAMES = {"alice": "Alice", "bob": "Bob"}
FORFEIT_SCORE = -1.0
"""The score of a seat that forfeits: the game ends at once and the other seat keeps what it has."""
MESSAGE_LIMIT = 500
"""Characters per free-text message."""
MONEY_ORDERS = (
    100, 200, 500, 1_000, 2_000, 5_000, 10_000, 20_000, 50_000, 100_000, 200_000, 500_000, 1_000_000,
)  # fmt: skip
"""The amounts at stake (GLEE uses 100, 10,000 and 1,000,000; the steps between them add variety)."""


def money(x: float) -> str:
    """``$1,250`` (whole amounts), ``$1,250.5`` (at most two decimals), ``-$40``."""
    sign = "-" if x < 0 else ""
    x = abs(x)
    if float(x).is_integer():
        return f"{sign}${int(x):,}"
    return f"{sign}$" + f"{x:,.2f}".rstrip("0").rstrip(".")


def percent(x: float) -> str:
    """A fraction as a percentage: ``0.95`` -> ``95%``, ``1/3`` -> ``33.33%``."""
    return f"{x * 100:.2f}".rstrip("0").rstrip(".") + "%"


def _without_message(spec: ToolSpec) -> ToolSpec:
    params = dict(spec.parameters)
    props = {k: v for k, v in params.get("properties", {}).items() if k != "message"}
    params["properties"] = props
    return spec.model_copy(update={"parameters": params})


class GleeGame(MultiAgentEnv):
    """A two-seat, turn-based economic game from GLEE. Subclasses set ``spec`` and the hooks."""

    family: ClassVar[str]
    _quiet: ClassVar[dict[str, ToolSpec]] = {}
    then: Callable[[], None] | None = None
    """What ``resolve`` does after the current move (set by moves)."""

    # ---- family hooks ------------------------------------------------------------------------
    def moves_now(self, seat: str) -> tuple[str, ...]:
        """The tools ``seat`` may call now (it is the acting seat)."""
        raise NotImplementedError

    def role_moves(self, seat: str) -> tuple[str, ...]:
        """Every tool the role of ``seat`` has in this game."""
        raise NotImplementedError

    def may_talk(self, seat: str) -> bool:
        """Whether ``seat`` may attach a free-text message to its moves."""
        return False

    def gains(self) -> dict[str, float]:
        """Each seat's self-gain for the game as it stands (its reward if the game ended now)."""
        raise NotImplementedError

    def forfeit_note(self, seat: str) -> str:
        """What happens to the game when ``seat`` forfeits (said to both seats)."""
        return "The game ends."

    # ---- seats and tools ---------------------------------------------------------------------
    @staticmethod
    def other(seat: str) -> str:
        return "bob" if seat == "alice" else "alice"

    @staticmethod
    def name(seat: str) -> str:
        return NAMES[seat]

    def tool_specs(self, seat: str) -> list[ToolSpec]:
        if not getattr(self, "agents", None) or seat not in SEATS:
            return self._tool_specs
        names = self.moves_now(seat) if seat in self.acting() else self.role_moves(seat)
        talk = self.may_talk(seat)
        by_name = {t.name: t for t in self._tool_specs}
        out = []
        for n in names:
            spec = by_name[n]
            if not talk and "message" in spec.parameters.get("properties", {}):
                key = f"{type(self).__name__}.{n}"
                if key not in self._quiet:
                    self._quiet[key] = _without_message(spec)
                spec = self._quiet[key]
            out.append(spec)
        return out

    def check_turn(self, move: str) -> None:
        """Refuse ``move`` unless the seat making it is the one to move and may make it now (a reply
        can carry several calls, and the turn may pass to the other seat between two of them)."""
        if self.done:
            raise ToolError("the game is over")
        if self.seat not in self.acting():
            raise ToolError(f"it is not your turn: wait for {self.name(self.other(self.seat))}")
        if move not in self.moves_now(self.seat):
            raise ToolError(f"you cannot {move} now; your moves now: {', '.join(self.moves_now(self.seat))}")

    def resolve(self) -> None:
        """Run what the last move set in motion (``self.then``): a new round or the end of the game.

        Moves only record themselves and tell the other seat; advancing here, after the mover's
        own answer, keeps every seat's messages in the order things happened."""
        then, self.then = self.then, None
        if then is not None and not self.done:
            then()

    def take_message(self, message: str) -> str:
        """Check the free-text message of the seat that moves; return it cleaned ("" for none)."""
        text = re.sub(r"\s+", " ", message).strip()
        if not text:
            return ""
        if not self.may_talk(self.seat):
            raise ToolError("messages are not allowed in this game: make the move without a message")
        if len(text) > MESSAGE_LIMIT:
            raise ToolError(
                f"your message has {len(text)} characters, more than the limit of {MESSAGE_LIMIT}; "
                "nothing was done"
            )
        return text

    def quote(self, seat: str, text: str) -> str:
        """A message of ``seat`` as the other seat reads it."""
        return f'{self.name(seat)}\'s message: "{text}"'

    # ---- ending ------------------------------------------------------------------------------
    def end(self) -> None:
        """Finish the game: every seat gets its self-gain (a forfeited seat ``FORFEIT_SCORE``)."""
        gains = self.gains()
        self.finish({s: FORFEIT_SCORE if s in self.out else gains[s] for s in self.agents})

    def forfeit(self, seat: str, reason: str) -> None:
        """The forfeiting seat scores ``FORFEIT_SCORE``; the game ends at once, and the other seat
        keeps what the game gives it as it stands (see ``forfeit_note``)."""
        if self.done or seat in self.out or seat not in SEATS:
            return
        self.out.add(seat)
        self.tell(f"{self.name(seat)} forfeits ({reason}). {self.forfeit_note(seat)}")
        self.end()

    def winner(self) -> str | None:
        """The seat with the strictly higher score (None on a tie)."""
        a, b = (self.scores.get(s, 0.0) for s in SEATS)
        return None if a == b else ("alice" if a > b else "bob")

    def base_result(self) -> dict[str, Any]:
        return {
            "family": self.family,
            "scores": dict(self.scores),
            "winner": self.winner() if self.done else None,
            "forfeited": [s for s in self.agents if s in self.out],
        }

    def bots(self) -> dict[str, BotFactory]:
        from palaestra.envs.bargain.bots import bots_for

        return bots_for(self.family)
