"""Repeated simultaneous-move games: the round engine shared by the four ``matrix-*`` families.

Every round each seat still in the game makes one move (at the same time, none sees the others'
moves); when all have moved, ``resolve`` applies execution noise, computes the payoffs, tells every
seat the public outcome (and each seat its private part) and starts the next round, until the
horizon drawn with the task is reached. A family subclass supplies the moves, the payoffs, the
texts, the action grid for regret and what counts as cooperating.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from palaestra import BotFactory, MultiAgentEnv, Task, ToolError, ToolResult

from .regret import external_regret

Move = str | int
"""A move: ``"cooperate"``/``"defect"``, ``"donate"``/``"keep"`` or an integer amount."""

UNKNOWN_HORIZON_CAP = 20
CONTINUE_PROBS = (0.85, 0.9, 0.95)


def horizon(rng: random.Random, known: bool, low: int = 5, high: int = 12) -> dict[str, Any]:
    """The number of rounds of a match: fixed and announced, or geometric with a cap and hidden."""
    if known:
        rounds = rng.randint(low, high)
        return {"rounds": rounds, "known_horizon": True, "continue_prob": None, "cap": rounds}
    delta = rng.choice(CONTINUE_PROBS)
    rounds = 1
    while rounds < UNKNOWN_HORIZON_CAP and rng.random() < delta:
        rounds += 1
    return {"rounds": rounds, "known_horizon": False, "continue_prob": delta, "cap": UNKNOWN_HORIZON_CAP}


def flips(rng: random.Random, rounds: int, seats: int, noise: float) -> list[list[int]]:
    """The pre-drawn execution errors: ``[round, seat index]`` for every move that noise flips."""
    if not noise:
        return []
    return [[r, i] for r in range(1, rounds + 1) for i in range(seats) if rng.random() < noise]


def fmt(x: float) -> str:
    """A payoff as people write it: ``5``, ``-2``, ``8.33``."""
    text = f"{round(x, 2):.2f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


@dataclass
class Round:
    """What happened in one round (``chosen`` and, in the airport game, ``payoffs`` are partly private)."""

    number: int
    alive: list[str]
    """Seats that still played for themselves (forfeited seats play the null move for the others)."""
    chosen: dict[str, Move]
    """The move each seat chose (private: with noise it may differ from what took effect)."""
    played: dict[str, Move]
    """The moves as they took effect, after noise (public)."""
    payoffs: dict[str, float]
    info: dict[str, Any] = field(default_factory=dict)
    """Public facts of the round: the runway level, the donor pairing, the generation."""


@dataclass(frozen=True)
class PublicRound:
    """The part of a round that every seat was told (what the bots read)."""

    number: int
    played: dict[str, Move]
    info: dict[str, Any]


class RepeatedGame(MultiAgentEnv):
    """A repeated game with simultaneous moves. Subclasses set ``spec`` and implement the hooks."""

    family: ClassVar[str]
    null_move: ClassVar[Move]
    """The move a forfeited seat plays for the rest of the match."""
    null_text: ClassVar[str]
    """The null move in words ("defect", "contribute 0" ...)."""
    move_tool: ClassVar[tuple[str, str]]
    """The move tool's name and its one argument, e.g. ``("play", "action")``."""
    talk_limit: ClassVar[int] = 400

    # ---- family hooks --------------------------------------------------------------------------
    def init_family(self, params: dict[str, Any]) -> list[str]:
        """Read the family's parameters and return the seat names."""
        raise NotImplementedError

    def family_rules(self, seat: str) -> str:
        """The public rules of the family as ``seat`` reads them (moves, payoffs, what is public)."""
        raise NotImplementedError

    def private_setup(self, seat: str) -> str | None:
        """What only ``seat`` is told at the start."""
        return None

    def begin_round(self) -> None:
        """Per-round set-up before the round's header (the donor game draws its pairing here)."""

    def round_header(self) -> str:
        """The public text that opens a round."""
        return f"Round {self.round}{f' of {self.total_rounds}' if self.known else ''}. {self.move_hint()}"

    def round_notes(self, seat: str) -> str | None:
        """A per-seat line added to the round's opening (only to ``seat``)."""
        return None

    def move_hint(self) -> str:
        raise NotImplementedError

    def compute_payoffs(self, played: dict[str, Move]) -> tuple[dict[str, float], dict[str, Any]]:
        """The round's payoffs for every seat, and its public facts, from the moves as played."""
        raise NotImplementedError

    def counterfactual(self, seat: str, rnd: Round, move: Move) -> float:
        """``seat``'s payoff in ``rnd`` had it played ``move`` while the others played as they did."""
        raise NotImplementedError

    def action_grid(self, seat: str) -> list[Move]:
        """The fixed actions the regret of ``seat`` is measured against."""
        raise NotImplementedError

    def cooperation(self, seat: str, move: Move) -> float:
        """How cooperative ``move`` is, from 0 (defect) to 1 (fully cooperate)."""
        raise NotImplementedError

    def flip(self, move: Move) -> Move:
        """The move that execution noise turns ``move`` into."""
        return move

    def announce(self, rnd: Round) -> None:
        """Tell the seats the round's outcome (public part to all, private parts to each)."""
        raise NotImplementedError

    def final_summary(self) -> None:
        """Tell the seats the final standings (public totals by default)."""
        self.tell("Final totals: " + self.totals_text() + ".")

    def family_result(self) -> dict[str, Any]:
        return {}

    def bots(self) -> dict[str, BotFactory]:
        from .bots import bots_for

        return bots_for(self.family)

    # ---- set-up ----------------------------------------------------------------------------------
    def setup(self, task: Task) -> None:
        p = task.params
        self.params = p
        self.total_rounds: int = p["rounds"]
        self.known: bool = p["known_horizon"]
        self.delta: float | None = p.get("continue_prob")
        self.cap: int = p["cap"]
        self.noise: float = p.get("noise", 0.0)
        self.flipped: set[tuple[int, int]] = {(r, i) for r, i in p.get("flips", [])}
        self.history: list[Round] = []
        self.round = 1
        self.moves: dict[str, Move] = {}
        self.talked: set[str] = set()
        self.agents = self.init_family(p)
        for seat in self.agents:
            private = self.private_setup(seat)
            if private:
                self.tell(private, to=seat)
        self._begin_round()

    def horizon_text(self) -> str:
        if self.known:
            return f"The game lasts exactly {self.total_rounds} rounds."
        assert self.delta is not None
        mean = (1 - self.delta**self.cap) / (1 - self.delta)  # the capped geometric's mean
        return (
            f"The number of rounds is not announced: after each round the game goes on to another round "
            f"with probability {self.delta} (about {mean:.0f} rounds on average), and "
            f"never beyond round {self.cap}. You learn that a round was the last when the game ends."
        )

    def noise_text(self) -> str:
        if not self.noise:
            return ""
        return (
            f"\nNoise: each move you choose is, with probability {self.noise}, replaced by the opposite "
            "move before it takes effect. Only you are told when this happened to your move; everyone "
            "sees the moves as they took effect."
        )

    def instructions(self, seat: str) -> str:
        tool, arg = self.move_tool
        return (
            f"{self.family_rules(seat)}\n\n"
            f"Horizon: {self.horizon_text()}{self.noise_text()}\n\n"
            f"Each round every player moves at the same time, without seeing the others' moves: call "
            f"{tool}({arg}=...) exactly once per round. When everyone has moved you are told the result "
            "and the next round begins. Your reward is the sum of your payoffs over all rounds.\n"
            f"Talk (optional): before your move in a round you may send one plain-text message (at most "
            f"{self.talk_limit} characters, no tool call) to all other players. It is cheap talk: it "
            "binds nobody.\n"
            f"Illegal moves are refused and count against you: after {self.max_invalid} in a row you "
            f"forfeit. A player who forfeits (also by timing out) keeps the payoffs earned so far, earns "
            f"nothing more, and is made to {self.null_text} every round for the rest of the game; "
            "the game ends when fewer than two players remain.\n"
            f"You are {seat}. Players: {', '.join(self.agents)}."
        )

    # ---- rounds ----------------------------------------------------------------------------------
    def acting(self) -> list[str]:
        if self.done:
            return []
        return [s for s in self.alive() if s not in self.moves]

    def submit(self, move: Move) -> None:
        """Record the move of ``self.seat`` for this round (called by the family's move tool)."""
        if self.done:
            raise ToolError("the game is over")
        if self.seat in self.moves:
            raise ToolError(f"you have already moved in round {self.round}; wait for its result")
        self.moves[self.seat] = move

    def resolve(self) -> None:
        if not self.done and len(self.alive()) >= 2 and not self.acting():
            self._play_round()

    def _begin_round(self) -> None:
        self.moves = {}
        self.talked = set()
        self.begin_round()
        self.tell(self.round_header())
        for seat in self.alive():
            note = self.round_notes(seat)
            if note:
                self.tell(note, to=seat)

    def _play_round(self) -> None:
        alive = self.alive()
        chosen = {s: (self.moves[s] if s in alive else self.null_move) for s in self.agents}
        played = {
            s: self.flip(m) if s in alive and (self.round, i) in self.flipped else m
            for i, (s, m) in enumerate(chosen.items())
        }
        payoffs, info = self.compute_payoffs(played)
        rnd = Round(self.round, alive, chosen, played, payoffs, info)
        self.history.append(rnd)
        for s in alive:
            self.reward(s, payoffs[s])
            if played[s] != chosen[s]:
                self.tell(
                    f"Noise: in round {self.round} your move '{chosen[s]}' was replaced by '{played[s]}'.",
                    to=s,
                )
        self.announce(rnd)
        self.round += 1
        if self.round > self.total_rounds:
            self._end(f"The game is over: round {rnd.number} was the last.")
        else:
            self._begin_round()

    def _end(self, why: str) -> None:
        self.tell(why)
        self.final_summary()
        self.finish()

    def forfeit(self, seat: str, reason: str) -> None:
        if self.done or seat not in self.agents or seat in self.out:
            return
        self.out.add(seat)
        self.tell(
            f"{seat} forfeits ({reason}): it earns nothing more and will {self.null_text} every round "
            "from now on."
        )
        if len(self.alive()) < 2:
            self._end("The game ends early: fewer than two players remain.")
        elif not self.acting():
            self._play_round()

    # ---- talk ------------------------------------------------------------------------------------
    async def on_text(self, text: str) -> ToolResult:
        tool, arg = self.move_tool
        text = re.sub(r"\s+", " ", text).strip()
        if not text:
            return ToolResult(f"Error: empty reply. Make your move for round {self.round} with {tool}.", True)
        if self.seat in self.talked:
            return ToolResult(
                f"Error: you have already sent your message for round {self.round} (one per round); "
                f"now make your move with {tool}({arg}=...).",
                True,
            )
        if len(text) > self.talk_limit:
            return ToolResult(
                f"Error: your message has {len(text)} characters, more than the limit of {self.talk_limit}; "
                "nothing was sent.",
                True,
            )
        self.talked.add(self.seat)
        others = [s for s in self.alive() if s != self.seat]
        self.tell(f"{self.seat} says: {text}", to=others)
        return ToolResult(
            f"Your message was delivered to {', '.join(others)}. Now make your move for round "
            f"{self.round} with {tool}({arg}=...)."
        )

    # ---- views and metrics -----------------------------------------------------------------------
    def public_record(self) -> list[PublicRound]:
        """The rounds so far as every seat was told them."""
        return [PublicRound(r.number, dict(r.played), self.public_info(r)) for r in self.history]

    def public_info(self, rnd: Round) -> dict[str, Any]:
        return dict(rnd.info)

    def totals_text(self) -> str:
        return ", ".join(f"{s} {fmt(self.scores.get(s, 0.0))}" for s in self.agents)

    def ranking(self, totals: dict[str, float]) -> list[str]:
        """Seats by payoff, best first; ties keep seat order."""
        order = {s: i for i, s in enumerate(self.agents)}
        return sorted(totals, key=lambda s: (-round(totals[s], 6), order[s]))

    def _counterfactual_of(self, seat: str, rnd: Round) -> Callable[[Move], float]:
        def u(move: Move) -> float:
            return self.counterfactual(seat, rnd, move)

        return u

    def result(self) -> dict[str, Any]:
        payoff: dict[str, float] = {}
        mean_payoff: dict[str, float] = {}
        coop: dict[str, float] = {}
        regret: dict[str, float] = {}
        mean_regret: dict[str, float] = {}
        best: dict[str, Move | None] = {}
        coop_all: list[float] = []
        for seat in self.agents:
            mine = [r for r in self.history if seat in r.alive]
            rounds = len(mine)
            coops = [self.cooperation(seat, r.chosen[seat]) for r in mine]
            coop_all += coops
            reg = external_regret(
                self.action_grid(seat),
                [self._counterfactual_of(seat, r) for r in mine],
                [r.payoffs[seat] for r in mine],
            )
            payoff[seat] = round(sum(r.payoffs[seat] for r in mine), 6)
            mean_payoff[seat] = round(payoff[seat] / rounds, 6) if rounds else 0.0
            coop[seat] = round(sum(coops) / rounds, 6) if rounds else 0.0
            regret[seat] = reg.regret
            mean_regret[seat] = round(reg.regret / rounds, 6) if rounds else 0.0
            best[seat] = reg.best_action
        standing = [s for s in self.agents if s not in self.out] or list(self.agents)
        top = max(payoff[s] for s in standing)
        leaders = [s for s in standing if payoff[s] == top]
        return {
            "family": self.family,
            "winner": leaders[0] if len(leaders) == 1 else None,
            "rounds_played": len(self.history),
            "rounds": self.total_rounds,
            "scores": dict(self.scores),
            "payoff": payoff,
            "mean_payoff": mean_payoff,
            "ranking": self.ranking(payoff),
            "cooperation_rate": coop,
            "cooperation": round(sum(coop_all) / len(coop_all), 6) if coop_all else 0.0,
            "regret": regret,
            "mean_regret": mean_regret,
            "best_fixed_action": best,
            "forfeited": [s for s in self.agents if s in self.out],
            **self.family_result(),
        }
