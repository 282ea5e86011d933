"""GLEE's negotiation family: Alice sells a product to Bob by alternating price offers.

Each side has an outside option: a third party, John, will buy the product from Alice for her value
``F_A`` and sell one to Bob for his value ``F_B``, so a trade at price ``P`` gains Alice ``P - F_A``
and Bob ``F_B - P``, and no trade gains both nothing. Alice offers in odd rounds, Bob in even ones;
the other accepts, rejects (and counters next round) or ends the talks by dealing with John, which
the proposer may also do instead of offering. After the last round without a deal both deal with
John. With complete information each knows both values, else only its own.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from palaestra import EnvSpec, Task, ToolError, tool
from palaestra.envs.bargain.env import MONEY_ORDERS, SEATS, GleeGame, money
from palaestra.envs.bargain.theory import TradeMetrics, proposer, trade_metrics

VALUES = (0.8, 0.9, 1.0, 1.1, 1.2, 1.3, 1.5)
"""Values as multiples of the price order (GLEE: 0.8, 1, 1.2, 1.5)."""
PRICE_CAP = 3
"""Prices are whole amounts from 0 to ``PRICE_CAP`` times the price order."""


@dataclass(frozen=True)
class Level:
    rounds: tuple[int, ...]
    complete: tuple[bool, ...]
    messages: tuple[bool, ...]


LEVELS = {
    1: Level(rounds=(1, 2, 3, 4), complete=(True,), messages=(False,)),
    2: Level(rounds=(5, 6, 8, 10), complete=(True, False), messages=(True, False)),
    3: Level(rounds=(10, 12, 15, 20, 25, 30), complete=(False,), messages=(True,)),
}


@dataclass(frozen=True)
class PriceOffer:
    round: int
    proposer: str
    price: int
    message: str
    answer: str | None = None
    """``accept``, ``reject`` or ``john`` once answered."""


@dataclass(frozen=True)
class TradeView:
    """What one seat knows now (the bots read this)."""

    seat: str
    role: str
    order: int
    my_value: int
    other_value: int | None
    """None when this seat does not know it (incomplete information)."""
    max_rounds: int
    round: int
    proposer: str
    messages_allowed: bool
    pending: PriceOffer | None
    offers: tuple[PriceOffer, ...]
    price_cap: int


class NegotiationGame(GleeGame):
    family = "negotiation"
    spec = EnvSpec(
        name="bargain-negotiation",
        description=(
            "GLEE negotiation: a seller (Alice) and a buyer (Bob) with private values and outside "
            "options haggle over a price by alternating offers."
        ),
        max_steps=200,
        metrics=("self_gain", "efficiency", "fairness", "agreement", "rounds"),
        tags=("multi-agent", "negotiation", "trade", "glee"),
    )

    def generate(self, rng: random.Random, difficulty: int) -> dict[str, Any]:
        lv = LEVELS[difficulty]
        return {
            "price_order": rng.choice(MONEY_ORDERS),
            "seller_value": rng.choice(VALUES),
            "buyer_value": rng.choice(VALUES),
            "max_rounds": rng.choice(lv.rounds),
            "complete_information": rng.choice(lv.complete),
            "messages_allowed": rng.choice(lv.messages),
        }

    # ---- setup ---------------------------------------------------------------------------------
    def setup(self, task: Task) -> None:
        p = task.params
        self.order = int(p["price_order"])
        self.value = {
            "alice": round(float(p["seller_value"]) * self.order),
            "bob": round(float(p["buyer_value"]) * self.order),
        }
        self.max_rounds = int(p["max_rounds"])
        self.complete = bool(p["complete_information"])
        self.messages = bool(p["messages_allowed"])
        if self.order < 1 or self.max_rounds < 1 or min(self.value.values()) < 0:
            raise ValueError("negotiation needs a positive price order, max_rounds >= 1 and values >= 0")
        self.cap = PRICE_CAP * self.order
        self.agents = list(SEATS)
        self.then = None
        self.round = 1
        self.pending: PriceOffer | None = None
        self.offers: list[PriceOffer] = []
        self.deal: PriceOffer | None = None
        self.walked: str | None = None
        self._open_round()

    def role(self, seat: str) -> str:
        return "seller" if seat == "alice" else "buyer"

    def john(self, seat: str) -> str:
        v = money(self.value[seat])
        return (
            f"sell the product to John for {v}" if seat == "alice" else f"buy the product from John for {v}"
        )

    def instructions(self, seat: str) -> str:
        other = self.other(seat)
        them = self.name(other)
        v = money(self.value[seat])
        if seat == "alice":
            intro = "You are Alice. You are selling a product, and Bob wants to buy it. Another buyer, John, will "
            intro += f"buy it from you for {v} at any time, so a sale to Bob at price P gains you P - {v}."
            score = f"(P - {v}) / {money(self.order)} if you sell to Bob at price P"
        else:
            intro = "You are Bob. You want to buy a product that Alice is selling. Another seller, John, will sell "
            intro += f"you the same product for {v} at any time, so buying from Alice at price P gains you {v} - P."
            score = f"({v} - P) / {money(self.order)} if you buy from Alice at price P"
        if self.complete:
            info = f"The product is worth {money(self.value[other])} to {them} (John's offer to {them}); "
            info += f"{them} knows your value too."
        else:
            info = f"You do not know the product's value to {them}, and {them} does not know yours."
        talk = (
            f"Each offer may carry a free-text message to {them} (the message argument, at most 500 "
            "characters); it binds nobody."
            if self.messages
            else "No messages: offers are made without any text."
        )
        return (
            f"{intro} {info}\n\n"
            "Rules:\n"
            f"1. The negotiation lasts at most {self.max_rounds} round(s). Alice makes the offer in odd rounds "
            "(1, 3, ...), Bob in even rounds (2, 4, ...).\n"
            f"2. The proposer calls offer(price) with a whole price from 0 to {money(self.cap)}, or ends the "
            "negotiation with deal_with_john().\n"
            "3. The other player answers with accept() (the product is sold at that price and the game "
            "ends), reject() (the next round begins, with the other player proposing) or "
            "deal_with_john() (the negotiation ends without a deal).\n"
            f"4. If there is no deal after round {self.max_rounds}, the negotiation ends: Alice sells to John "
            "and Bob buys from John.\n"
            f"5. {talk}\n"
            "6. Illegal moves are refused; after 3 in a row you forfeit (also if you time out): the game "
            "ends at once without a deal, you score -1 and the other player scores 0.\n\n"
            f"Your score: {score}; 0 if you {self.john(seat)}. Maximise it."
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
        return ("offer", "deal_with_john") if self.pending is None else ("accept", "reject", "deal_with_john")

    def role_moves(self, seat: str) -> tuple[str, ...]:
        return ("offer", "accept", "reject", "deal_with_john")

    def may_talk(self, seat: str) -> bool:
        return self.messages

    def _open_round(self) -> None:
        p, r = self.proposer(), self.round
        head = f"Round {r} of {self.max_rounds}" + (" (the last round)" if r == self.max_rounds else "")
        talk = " with an optional message" if self.messages else ""
        self.tell(
            f"{head}: you make the offer.\nYour move: offer(price){talk}, or deal_with_john() to {self.john(p)} "
            "and end the negotiation.",
            to=p,
        )
        self.tell(f"{head}: {self.name(p)} makes the offer.", to=self.other(p))

    def _next_round(self) -> None:
        self.round += 1
        self._open_round()

    @tool
    def offer(self, price: int, message: str = "") -> str:
        """Offer a price for the product (only the proposer of the round).

        Args:
            price: the price, a whole amount from 0 to three times the price order.
            message: a free-text message to the other player, sent with the offer.
        """
        self.check_turn("offer")
        if not 0 <= price <= self.cap:
            raise ToolError(f"the price must be a whole amount from 0 to {money(self.cap)}")
        text = self.take_message(message)
        seat, other = self.seat, self.other(self.seat)
        self.pending = PriceOffer(self.round, seat, price, text)
        verb = "sell you the product" if seat == "alice" else "buy the product from you"
        lines = [f"{self.name(seat)} offers to {verb} for {money(price)}."]
        if text:
            lines.append(self.quote(seat, text))
        gain = price - self.value[other] if other == "alice" else self.value[other] - price
        if gain >= 0:
            lines.append(f"Accepting gains you {money(gain)} over dealing with John.")
        else:
            lines.append(f"Accepting leaves you {money(-gain)} worse off than dealing with John.")
        nxt = (
            "reject() (this is the last round: the negotiation then ends without a deal)"
            if self.round == self.max_rounds
            else "reject() (then you make the next offer)"
        )
        lines.append(f"Your move: accept(), {nxt}, or deal_with_john() to {self.john(other)}.")
        self.tell("\n".join(lines), to=other)
        return f"You offered a price of {money(price)}. Waiting for the answer."

    @tool
    def accept(self) -> str:
        """Accept the price on the table: the product is sold at that price and the game ends."""
        self.check_turn("accept")
        offer = self._close_offer("accept")
        self.deal = offer
        self.tell(f"{self.name(self.seat)} accepts your offer.", to=offer.proposer)
        self.then = self._settle
        return "You accepted the offer."

    @tool
    def reject(self) -> str:
        """Reject the price on the table: you make the next offer (after the last round, the talks end)."""
        self.check_turn("reject")
        offer = self._close_offer("reject")
        self.tell(f"{self.name(self.seat)} rejects your offer.", to=offer.proposer)
        self.then = self._settle if self.round >= self.max_rounds else self._next_round
        return "You rejected the offer."

    @tool
    def deal_with_john(self) -> str:
        """End the negotiation without a deal: the seller sells to John, the buyer buys from John."""
        self.check_turn("deal_with_john")
        seat = self.seat
        if self.pending is not None:
            self._close_offer("john")
        self.walked = seat
        self.tell(f"{self.name(seat)} ends the negotiation and deals with John.", to=self.other(seat))
        self.then = self._settle
        return f"You ended the negotiation: you {self.john(seat)}."

    def _close_offer(self, answer: str) -> PriceOffer:
        offer = self.pending
        if offer is None:
            raise ToolError("there is no offer to answer")
        done = PriceOffer(offer.round, offer.proposer, offer.price, offer.message, answer)
        self.offers.append(done)
        self.pending = None
        return done

    def _settle(self) -> None:
        gains = self.gains()
        if self.deal is not None:
            self.tell(
                f"Deal in round {self.deal.round}: Alice sells the product to Bob for {money(self.deal.price)}. "
                "The game is over."
            )
        elif self.walked is not None:
            self.tell(
                f"No deal: {self.name(self.walked)} ended the negotiation in round {self.round}. Alice sells to "
                "John and Bob buys from John. The game is over."
            )
        else:
            self.tell(
                f"No deal after {self.max_rounds} round(s): Alice sells to John and Bob buys from John. "
                "The game is over."
            )
        for s in SEATS:
            self.tell(f"Your score: {gains[s]:g}.", to=s)
        self.end()

    def forfeit_note(self, seat: str) -> str:
        return f"There is no deal; {self.name(self.other(seat))} scores 0."

    def _metrics(self) -> TradeMetrics:
        deal = None if self.out else self.deal
        return trade_metrics(self.order, self.value["alice"], self.value["bob"], deal.price if deal else None)

    def gains(self) -> dict[str, float]:
        return self._metrics().self_gain

    # ---- what a seat knows -----------------------------------------------------------------------
    def view(self, seat: str) -> TradeView:
        other = self.other(seat)
        return TradeView(
            seat=seat,
            role=self.role(seat),
            order=self.order,
            my_value=self.value[seat],
            other_value=self.value[other] if self.complete else None,
            max_rounds=self.max_rounds,
            round=self.round,
            proposer=self.proposer(),
            messages_allowed=self.messages,
            pending=self.pending if self.pending is not None and seat != self.pending.proposer else None,
            offers=tuple(self.offers),
            price_cap=self.cap,
        )

    def result(self) -> dict[str, Any]:
        m = self._metrics()
        deal = None if self.out else self.deal
        first = self.offers[0] if self.offers else None
        return {
            **self.base_result(),
            "agreement": deal is not None,
            "rounds": deal.round if deal else self.round,
            "price": deal.price if deal else None,
            "relative_price": round(deal.price / self.order, 6) if deal else None,
            "self_gain": m.self_gain,
            "efficiency": m.efficiency,
            "fairness": m.fairness,
            "gains_from_trade": self.value["bob"] > self.value["alice"],
            "walked_away": self.walked,
            "first_offer": round(first.price / self.order, 6) if first else None,
            "offers": len(self.offers),
            "price_order": self.order,
            "seller_value": self.value["alice"],
            "buyer_value": self.value["bob"],
            "max_rounds": self.max_rounds,
            "complete_information": self.complete,
            "messages_allowed": self.messages,
        }
