"""GLEE's bargaining family: Alice and Bob split a sum of money by alternating offers, and the money
loses value for each of them round by round (discount factors ``delta_A``, ``delta_B``).

Alice proposes in odd rounds, Bob in even rounds; the other accepts (the game ends with that split)
or rejects (the next round begins). After the last round without agreement both get nothing.
With complete information each knows both discount factors, else only its own. When messages are
allowed, an offer may carry a free-text message to the other player.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from palaestra import EnvSpec, Task, ToolError, tool
from palaestra.envs.bargain.env import MONEY_ORDERS, SEATS, GleeGame, money, percent
from palaestra.envs.bargain.theory import SplitMetrics, exact, proposer, spe_keeps, split_metrics

DELTAS = (0.8, 0.85, 0.9, 0.95, 1.0)
"""Discount factors (GLEE: 0.8, 0.9, 0.95, 1)."""


@dataclass(frozen=True)
class Level:
    rounds: tuple[int, int]
    complete: tuple[bool, ...]
    messages: tuple[bool, ...]


LEVELS = {
    1: Level(rounds=(2, 5), complete=(True,), messages=(False,)),
    2: Level(rounds=(6, 9), complete=(True, False), messages=(True, False)),
    3: Level(rounds=(10, 15), complete=(False,), messages=(True,)),
}


@dataclass(frozen=True)
class Offer:
    round: int
    proposer: str
    alice_gain: int
    bob_gain: int
    message: str
    accepted: bool | None = None


@dataclass(frozen=True)
class SplitView:
    """What one seat knows now (the bots read this)."""

    seat: str
    money: int
    max_rounds: int
    round: int
    proposer: str
    my_delta: float
    other_delta: float | None
    """None when this seat does not know it (incomplete information)."""
    messages_allowed: bool
    pending: Offer | None
    """The offer this seat must answer now, if any."""
    offers: tuple[Offer, ...]


class BargainingGame(GleeGame):
    family = "bargaining"
    spec = EnvSpec(
        name="bargain-bargaining",
        description=(
            "GLEE bargaining: Alice and Bob split a sum of money by alternating offers while inflation "
            "(per-player discount factors) shrinks what the money is worth each round."
        ),
        max_steps=120,
        metrics=("self_gain", "efficiency", "fairness", "agreement", "rounds"),
        tags=("multi-agent", "negotiation", "bargaining", "glee"),
    )

    def generate(self, rng: random.Random, difficulty: int) -> dict[str, Any]:
        lv = LEVELS[difficulty]
        return {
            "money": rng.choice(MONEY_ORDERS),
            "max_rounds": rng.randint(*lv.rounds),
            "delta_alice": rng.choice(DELTAS),
            "delta_bob": rng.choice(DELTAS),
            "complete_information": rng.choice(lv.complete),
            "messages_allowed": rng.choice(lv.messages),
        }

    # ---- setup ---------------------------------------------------------------------------------
    def setup(self, task: Task) -> None:
        p = task.params
        self.money = int(p["money"])
        self.max_rounds = int(p["max_rounds"])
        self.delta = {"alice": float(p["delta_alice"]), "bob": float(p["delta_bob"])}
        self.complete = bool(p["complete_information"])
        self.messages = bool(p["messages_allowed"])
        if self.money < 2 or self.max_rounds < 1 or not all(0 < d <= 1 for d in self.delta.values()):
            raise ValueError("bargaining needs money >= 2, max_rounds >= 1 and discount factors in (0, 1]")
        self.agents = list(SEATS)
        self.then = None
        self.round = 1
        self.pending: Offer | None = None
        self.offers: list[Offer] = []
        self.deal: Offer | None = None
        self._open_round()

    def instructions(self, seat: str) -> str:
        other = self.other(seat)
        me, them = self.name(seat), self.name(other)
        own = self.delta[seat]
        info = f"Inflation: with each round that passes, money is worth {percent(1 - own)} less for you"
        info += f" (your discount factor is {own:g}: money received in round t is worth {own:g}^(t-1) of "
        info += "its face value to you)."
        if self.complete:
            d = self.delta[other]
            info += (
                f" For {them}, money is worth {percent(1 - d)} less each round (discount factor {d:g}). "
                f"Both of you know both discount factors."
            )
        else:
            info += f" You do not know how inflation affects {them}, and {them} does not know yours."
        talk = (
            f"Each offer may carry a free-text message to {them} (the message argument, at most 500 "
            "characters); it binds nobody."
            if self.messages
            else "No messages: offers are made without any text."
        )
        return (
            f"You are {me}. You and {them} must agree on how to divide {money(self.money)}.\n\n"
            "Rules:\n"
            f"1. The game lasts at most {self.max_rounds} rounds. Alice makes the offer in odd rounds "
            "(1, 3, ...), Bob in even rounds (2, 4, ...).\n"
            f"2. The proposer calls offer(alice_gain, bob_gain) with whole amounts that add up to "
            f"exactly {money(self.money)}. The other player then calls accept() (the money is divided "
            "that way and the game ends) or reject() (the next round begins).\n"
            f"3. If no offer is accepted by the end of round {self.max_rounds}, both of you get nothing.\n"
            f"4. {info}\n"
            f"5. {talk}\n"
            "6. Illegal moves are refused; after 3 in a row you forfeit (also if you time out): the game "
            "ends at once, you score -1 and the other player scores 0.\n\n"
            "Your score: your share of the money times your discount factor to the power (round of "
            "agreement - 1); 0 without agreement. Maximise it."
        )

    # ---- turns -----------------------------------------------------------------------------------
    def proposer(self) -> str:
        return proposer(self.round)

    def acting(self) -> list[str]:
        if self.done:
            return []
        p = self.proposer()
        return [p] if self.pending is None else [self.other(p)]

    def moves_now(self, seat: str) -> tuple[str, ...]:
        return ("offer",) if self.pending is None else ("accept", "reject")

    def role_moves(self, seat: str) -> tuple[str, ...]:
        return ("offer", "accept", "reject")

    def may_talk(self, seat: str) -> bool:
        return self.messages

    def worth(self, seat: str, round_: int | None = None) -> float:
        """What one unit of money received in ``round_`` (default: now) is worth to ``seat``."""
        return self.delta[seat] ** ((round_ or self.round) - 1)

    def _open_round(self) -> None:
        p, r = self.proposer(), self.round
        head = f"Round {r} of {self.max_rounds}" + (" (the last round)" if r == self.max_rounds else "")
        for s in SEATS:
            lines = [f"{head}: you make the offer." if s == p else f"{head}: {self.name(p)} makes the offer."]
            if r > 1:
                line = f"Money is now worth {percent(self.worth(s))} of its round-1 value to you"
                if self.complete:
                    o = self.other(s)
                    line += f", and {percent(self.worth(o))} to {self.name(o)}"
                lines.append(line + ".")
            if s == p:
                talk = ", with an optional message" if self.messages else ""
                lines.append(f"Your move: offer(alice_gain, bob_gain) dividing {money(self.money)}{talk}.")
            self.tell("\n".join(lines), to=s)

    def _next_round(self) -> None:
        self.round += 1
        self._open_round()

    @tool
    def offer(self, alice_gain: int, bob_gain: int, message: str = "") -> str:
        """Propose how to divide the money (only the proposer of the round).

        Args:
            alice_gain: the whole amount Alice gets, from 0 to the total.
            bob_gain: the whole amount Bob gets; alice_gain + bob_gain must equal the total.
            message: a free-text message to the other player, sent with the offer.
        """
        self.check_turn("offer")
        total = self.money
        if alice_gain < 0 or bob_gain < 0:
            raise ToolError("amounts cannot be negative")
        if alice_gain + bob_gain != total:
            raise ToolError(
                f"alice_gain + bob_gain is {money(alice_gain + bob_gain)}, but the offer must divide exactly "
                f"{money(total)}"
            )
        text = self.take_message(message)
        seat, other = self.seat, self.other(self.seat)
        self.pending = Offer(self.round, seat, alice_gain, bob_gain, text)
        mine = alice_gain if other == "alice" else bob_gain
        lines = [f"{self.name(seat)} offers: Alice gets {money(alice_gain)}, Bob gets {money(bob_gain)}."]
        if text:
            lines.append(self.quote(seat, text))
        worth = self.worth(other)
        value = f"Accepting gives you {money(mine)}"
        if worth != 1:
            value += f", worth {money(round(mine * worth, 2))} in round-1 money"
        lines.append(value + ".")
        if self.round == self.max_rounds:
            lines.append("This is the last round: if you reject, both of you get nothing.")
        lines.append("Your move: accept() or reject().")
        self.tell("\n".join(lines), to=other)
        return f"You offered: Alice gets {money(alice_gain)}, Bob gets {money(bob_gain)}. Waiting for the answer."

    @tool
    def accept(self) -> str:
        """Accept the offer on the table: the money is divided that way and the game ends."""
        self.check_turn("accept")
        offer = self._close_offer(True)
        self.deal = offer
        self.tell(f"{self.name(self.seat)} accepts your offer.", to=offer.proposer)
        self.then = self._settle
        return "You accepted the offer."

    @tool
    def reject(self) -> str:
        """Reject the offer on the table: the next round begins (after the last round, nobody gets anything)."""
        self.check_turn("reject")
        offer = self._close_offer(False)
        self.tell(f"{self.name(self.seat)} rejects your offer.", to=offer.proposer)
        self.then = self._settle if self.round >= self.max_rounds else self._next_round
        return "You rejected the offer."

    def _close_offer(self, accepted: bool) -> Offer:
        offer = self.pending
        if offer is None:
            raise ToolError("there is no offer to answer")
        done = Offer(offer.round, offer.proposer, offer.alice_gain, offer.bob_gain, offer.message, accepted)
        self.offers.append(done)
        self.pending = None
        return done

    def _settle(self) -> None:
        gains = self.gains()
        deal = self.deal
        if deal is None:
            self.tell(f"No agreement after {self.max_rounds} rounds: both get nothing. The game is over.")
        else:
            self.tell(
                f"Agreement in round {deal.round}: Alice gets {money(deal.alice_gain)}, Bob gets "
                f"{money(deal.bob_gain)}. The game is over."
            )
        for s in SEATS:
            if deal is None:
                self.tell("Your score: 0.", to=s)
                continue
            got = deal.alice_gain if s == "alice" else deal.bob_gain
            self.tell(
                f"You get {money(got)} in round {deal.round}, worth {percent(self.worth(s, deal.round))} of its "
                f"face value to you. Your score: {gains[s]:g}.",
                to=s,
            )
        self.end()

    def forfeit_note(self, seat: str) -> str:
        return f"There is no agreement; {self.name(self.other(seat))} scores 0."

    def gains(self) -> dict[str, float]:
        if self.deal is None or self.out:
            return {"alice": 0.0, "bob": 0.0}
        return self._metrics().self_gain

    def _metrics(self) -> SplitMetrics:
        deal = None if self.out else self.deal
        return split_metrics(
            self.money,
            deal.alice_gain if deal else None,
            deal.round if deal else self.round,
            self.delta["alice"],
            self.delta["bob"],
        )

    # ---- what a seat knows -----------------------------------------------------------------------
    def view(self, seat: str) -> SplitView:
        other = self.other(seat)
        return SplitView(
            seat=seat,
            money=self.money,
            max_rounds=self.max_rounds,
            round=self.round,
            proposer=self.proposer(),
            my_delta=self.delta[seat],
            other_delta=self.delta[other] if self.complete else None,
            messages_allowed=self.messages,
            pending=self.pending if self.pending is not None and seat != self.pending.proposer else None,
            offers=tuple(self.offers),
        )

    def spe_split(self) -> tuple[int, int]:
        """Alice's and Bob's amounts in the subgame-perfect equilibrium (agreement in round 1)."""
        keep = spe_keeps(self.money, self.max_rounds, {s: exact(d) for s, d in self.delta.items()})[0]
        return keep, self.money - keep

    def result(self) -> dict[str, Any]:
        m = self._metrics()
        deal = None if self.out else self.deal
        spe_alice, _ = self.spe_split()
        first = self.offers[0] if self.offers else None
        spe_metrics = split_metrics(self.money, spe_alice, 1, self.delta["alice"], self.delta["bob"])
        return {
            **self.base_result(),
            "agreement": deal is not None,
            "rounds": deal.round if deal else self.round,
            "alice_gain": deal.alice_gain if deal else 0,
            "bob_gain": deal.bob_gain if deal else 0,
            "share": {"alice": m.share, "bob": round(1 - m.share, 6) if deal else 0.0},
            "self_gain": m.self_gain,
            "efficiency": m.efficiency,
            "fairness": m.fairness,
            "spe_share": round(spe_alice / self.money, 6),
            "spe_self_gain": spe_metrics.self_gain,
            "first_offer_share": round(first.alice_gain / self.money, 6) if first else None,
            "offers": len(self.offers),
            "money": self.money,
            "max_rounds": self.max_rounds,
            "delta_alice": self.delta["alice"],
            "delta_bob": self.delta["bob"],
            "complete_information": self.complete,
            "messages_allowed": self.messages,
        }


def delta_fractions(view: SplitView) -> dict[str, Fraction]:
    """The discount factors a seat works with: the other's if known, else its own as a guess."""
    other = "bob" if view.seat == "alice" else "alice"
    guess = view.other_delta if view.other_delta is not None else view.my_delta
    return {view.seat: exact(view.my_delta), other: exact(guess)}
