"""GLEE's persuasion family: a seller who knows each product's quality advises a buyer, round after
round, whether to buy it at a fixed price.

Each round a product is high quality with probability ``p`` (drawn with the task). Alice, the seller,
learns its quality and recommends buying it or not (with a free-text message when the game allows
it); Bob, the buyer, then buys or declines, and learns the quality when the round ends. A sale earns
Alice the price; a high-quality product is worth ``v`` times the price to Bob, a low-quality one ``c``
times (GLEE: ``c = 0``). The same buyer plays every round, so the seller's advice builds or spends
its credibility.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from palaestra import EnvSpec, Task, tool
from palaestra.envs.bargain.env import MONEY_ORDERS, SEATS, GleeGame, money, percent
from palaestra.envs.bargain.theory import PersuasionMetrics, persuasion_low_rate, persuasion_metrics

PRIORS = (1 / 3, 0.5, 0.8)
"""Probabilities that a product is high quality (GLEE's)."""
HIGH_VALUES = (1.2, 1.25, 2.0, 3.0, 4.0)
"""A high-quality product's value to the buyer, in prices (GLEE's)."""
LOW_VALUE = 0.0


@dataclass(frozen=True)
class Level:
    rounds: int
    seller_knows_values: tuple[bool, ...]
    buyer_knows_p: tuple[bool, ...]
    seller_messages: tuple[bool, ...]
    buyer_messages: tuple[bool, ...]


LEVELS = {
    1: Level(10, (True,), (True,), (False,), (False,)),
    2: Level(15, (True, False), (True,), (True, False), (False,)),
    3: Level(20, (False,), (True, False), (True,), (True,)),
}


@dataclass(frozen=True)
class Sale:
    """One round: the product's quality, the seller's advice and the buyer's decision."""

    round: int
    high: bool
    recommended: bool | None = None
    seller_message: str = ""
    bought: bool | None = None
    buyer_message: str = ""


@dataclass(frozen=True)
class AdviceView:
    """What one seat knows now (the bots read this)."""

    seat: str
    role: str
    price: int
    rounds: int
    round: int
    p: float | None
    """None for a buyer who is not told the share of high-quality products."""
    v: float | None
    """The high-quality value in prices; None for a seller who is not told it."""
    c: float | None
    high_now: bool | None
    """The quality of this round's product: for the seller only, while it must advise."""
    recommended_now: bool | None
    """This round's advice: for the buyer only, while it must decide."""
    history: tuple[Sale, ...]
    """The finished rounds (qualities are revealed to both when a round ends)."""
    messages_allowed: bool


class PersuasionGame(GleeGame):
    family = "persuasion"
    spec = EnvSpec(
        name="bargain-persuasion",
        description=(
            "GLEE persuasion: a seller who knows each product's quality advises a buyer, round after "
            "round, whether to buy it at a fixed price."
        ),
        max_steps=150,
        metrics=("self_gain", "efficiency", "fairness", "sales", "honesty"),
        tags=("multi-agent", "persuasion", "information-design", "glee"),
    )

    def generate(self, rng: random.Random, difficulty: int) -> dict[str, Any]:
        lv = LEVELS[difficulty]
        p = rng.choice(PRIORS)
        return {
            "price": rng.choice(MONEY_ORDERS),
            "p": p,
            "v": rng.choice(HIGH_VALUES),
            "c": LOW_VALUE,
            "rounds": lv.rounds,
            "qualities": [rng.random() < p for _ in range(lv.rounds)],
            "seller_knows_values": rng.choice(lv.seller_knows_values),
            "buyer_knows_p": rng.choice(lv.buyer_knows_p),
            "seller_messages": rng.choice(lv.seller_messages),
            "buyer_messages": rng.choice(lv.buyer_messages),
        }

    # ---- setup ---------------------------------------------------------------------------------
    def setup(self, task: Task) -> None:
        q = task.params
        self.price = int(q["price"])
        self.p = float(q["p"])
        self.v = float(q["v"])
        self.c = float(q.get("c", LOW_VALUE))
        self.total = int(q["rounds"])
        self.qualities = [bool(x) for x in q["qualities"]]
        self.seller_knows = bool(q["seller_knows_values"])
        self.buyer_knows_p = bool(q["buyer_knows_p"])
        self.talk = {"alice": bool(q["seller_messages"]), "bob": bool(q["buyer_messages"])}
        if len(self.qualities) != self.total or self.total < 1 or self.price < 1:
            raise ValueError("persuasion needs rounds >= 1, one quality per round and a positive price")
        if not (0 <= self.p <= 1 and 0 <= self.c <= 1 <= self.v):
            raise ValueError("persuasion needs 0 <= p <= 1 and 0 <= c <= 1 <= v")
        self.agents = list(SEATS)
        self.then = None
        self.sales: list[Sale] = []
        self.round = 1
        self.current = Sale(1, self.qualities[0])
        self._open_round()

    def worth(self, high: bool) -> int:
        return round((self.v if high else self.c) * self.price)

    def instructions(self, seat: str) -> str:
        price, rounds = money(self.price), self.total
        hi, lo = money(self.worth(True)), money(self.worth(False))
        share = f"Each product is high quality with probability {percent(self.p)}"
        if seat == "alice":
            values = (
                f"A high-quality product is worth {hi} to Bob and a low-quality one {lo}."
                if self.seller_knows
                else "You do not know how much the products are worth to Bob."
            )
            p_line = f"{share}, and Bob {'knows' if self.buyer_knows_p else 'does not know'} this."
            advice = "recommend(buy) with buy = true or false"
            if self.talk["alice"]:
                advice += ", and an optional free-text message to Bob (at most 500 characters)"
            return (
                f"You are Alice, a seller. For {rounds} rounds you offer Bob one product per round at the fixed "
                f"price of {price}. {p_line} {values}\n\n"
                "Rules:\n"
                "1. At the start of each round you learn whether this round's product is high or low quality; "
                "Bob does not.\n"
                f"2. You then advise Bob: call {advice}. Bob decides whether to buy based on what you tell him.\n"
                "3. Bob buys or declines; a declined product is thrown away. At the end of the round Bob learns "
                "the product's quality.\n"
                "4. The price is final: no discounts, no refunds.\n"
                "5. Illegal moves are refused; after 3 in a row you forfeit (also if you time out): the game "
                "ends at once, you score -1 and Bob keeps what he gained so far.\n\n"
                f"Your score: the number of products Bob buys divided by {rounds}. Maximise it."
            )
        p_line = (
            f"{share}."
            if self.buyer_knows_p
            else "You do not know what share of the products are high quality."
        )
        values = f"A high-quality product is worth {hi} to you and a low-quality one {lo}."
        values += (
            f" Alice {'knows' if self.seller_knows else 'does not know'} how much they are worth to you."
        )
        decide = "buy() or decline()"
        if self.talk["bob"]:
            decide += ", each with an optional free-text message to Alice (at most 500 characters)"
        return (
            f"You are Bob, a buyer. Alice is a seller offering products at the fixed price of {price}. "
            f"{p_line} {values}\n\n"
            "Rules:\n"
            f"1. For {rounds} rounds, Alice picks a product, learns its true quality and then advises you "
            "whether to buy it.\n"
            f"2. You then call {decide}. A declined product is thrown away.\n"
            "3. At the end of each round you learn the product's quality.\n"
            "4. The price is final: no discounts, no refunds.\n"
            "5. Illegal moves are refused; after 3 in a row you forfeit (also if you time out): the game "
            "ends at once, you score -1 and Alice keeps her sales so far.\n\n"
            f"Your score: the sum over the products you buy of (value - price) / price, divided by {rounds}. "
            "Maximise it."
        )

    # ---- turns -----------------------------------------------------------------------------------
    def acting(self) -> list[str]:
        if self.done:
            return []
        return ["alice"] if self.current.recommended is None else ["bob"]

    def moves_now(self, seat: str) -> tuple[str, ...]:
        return self.role_moves(seat)

    def role_moves(self, seat: str) -> tuple[str, ...]:
        return ("recommend",) if seat == "alice" else ("buy", "decline")

    def may_talk(self, seat: str) -> bool:
        return self.talk[seat]

    def _open_round(self) -> None:
        r, high = self.round, self.current.high
        text = f"Round {r} of {self.total}: this round's product is {'HIGH' if high else 'LOW'} quality"
        if self.seller_knows:
            text += f" (worth {money(self.worth(high))} to Bob)"
        talk = " with an optional message" if self.talk["alice"] else ""
        self.tell(f"{text}.\nYour move: recommend(buy=true or false){talk}.", to="alice")
        self.tell(f"Round {r} of {self.total}: Alice is looking at this round's product.", to="bob")

    @tool
    def recommend(self, buy: bool, message: str = "") -> str:
        """Advise the buyer about this round's product (the seller only).

        Args:
            buy: true to recommend buying the product, false to advise against it.
            message: a free-text message to the buyer, sent with the advice.
        """
        self.check_turn("recommend")
        text = self.take_message(message)
        self.current = Sale(self.round, self.current.high, buy, text)
        lines = [
            f"Alice {'recommends that you buy' if buy else 'does not recommend buying'} this round's product "
            f"(price {money(self.price)})."
        ]
        if text:
            lines.append(self.quote("alice", text))
        talk = ", with an optional message to Alice" if self.talk["bob"] else ""
        lines.append(f"Your move: buy() or decline(){talk}.")
        self.tell("\n".join(lines), to="bob")
        return (
            f"You {'recommended buying' if buy else 'advised against buying'} the product. Waiting for Bob."
        )

    @tool
    def buy(self, message: str = "") -> str:
        """Buy this round's product at the price (the buyer only).

        Args:
            message: a free-text message to the seller.
        """
        self.check_turn("buy")
        return self._decide(True, message)

    @tool
    def decline(self, message: str = "") -> str:
        """Decline this round's product; it is thrown away (the buyer only).

        Args:
            message: a free-text message to the seller.
        """
        self.check_turn("decline")
        return self._decide(False, message)

    def _decide(self, bought: bool, message: str) -> str:
        text = self.take_message(message)
        cur = self.current
        self.current = Sale(cur.round, cur.high, cur.recommended, cur.seller_message, bought, text)
        self.sales.append(self.current)
        self.then = self._close_round
        return f"You {'bought' if bought else 'declined'} the product."

    def _close_round(self) -> None:
        cur = self.current
        quality = "HIGH" if cur.high else "LOW"
        seller = f"Bob {'bought' if cur.bought else 'declined'} the product."
        if cur.buyer_message:
            seller += "\n" + self.quote("bob", cur.buyer_message)
        self.tell(seller, to="alice")
        worth = self.worth(cur.high)
        gain = worth - self.price
        outcome = f"you gained {money(gain)}" if gain >= 0 else f"you lost {money(-gain)}"
        note = (
            f"The product was {quality} quality, worth {money(worth)} to you: {outcome}."
            if cur.bought
            else f"The product was {quality} quality; it would have been worth {money(worth)} to you."
        )
        self.tell(note, to="bob")
        if self.round >= self.total:
            self._finish_game()
        else:
            self.round += 1
            self.current = Sale(self.round, self.qualities[self.round - 1])
            self._open_round()

    def _finish_game(self) -> None:
        m = self._metrics()
        self.tell(
            f"The game is over: Bob bought {m.sales} of {self.total} products "
            f"({m.high_sold} high quality, {m.low_sold} low quality)."
        )
        for s in SEATS:
            self.tell(f"Your score: {m.self_gain[s]:g}.", to=s)
        self.end()

    def forfeit_note(self, seat: str) -> str:
        who = "Bob keeps what he gained" if seat == "alice" else "Alice keeps her sales"
        return f"The game ends; {who} in the rounds played."

    def _metrics(self) -> PersuasionMetrics:
        return persuasion_metrics(
            [s.high for s in self.sales], [bool(s.bought) for s in self.sales], self.v, self.c, self.total
        )

    def gains(self) -> dict[str, float]:
        return self._metrics().self_gain

    # ---- what a seat knows -----------------------------------------------------------------------
    def view(self, seat: str) -> AdviceView:
        seller = seat == "alice"
        cur = self.current
        return AdviceView(
            seat=seat,
            role="seller" if seller else "buyer",
            price=self.price,
            rounds=self.total,
            round=self.round,
            p=self.p if seller or self.buyer_knows_p else None,
            v=self.v if not seller or self.seller_knows else None,
            c=self.c if not seller or self.seller_knows else None,
            high_now=cur.high if seller and cur.recommended is None and not self.done else None,
            recommended_now=cur.recommended if not seller and not self.done else None,
            history=tuple(self.sales),
            messages_allowed=self.talk[seat],
        )

    def result(self) -> dict[str, Any]:
        m = self._metrics()
        played = [s for s in self.sales if s.recommended is not None]
        honest = sum(1 for s in played if s.recommended == s.high)
        followed = sum(1 for s in played if s.bought == s.recommended)
        n = len(played)
        return {
            **self.base_result(),
            "self_gain": m.self_gain,
            "efficiency": m.efficiency,
            "fairness": m.fairness,
            "sales": m.sales,
            "purchase_rate": round(m.sales / n, 6) if n else 0.0,
            "high_quality": m.high,
            "high_sold": m.high_sold,
            "low_sold": m.low_sold,
            "honesty": round(honest / n, 6) if n else None,
            "trust": round(followed / n, 6) if n else None,
            "recommend_rate": round(sum(1 for s in played if s.recommended) / n, 6) if n else None,
            "rounds_played": n,
            "rounds": self.total,
            "persuasion_low_rate": round(persuasion_low_rate(self.p, self.v, self.c), 6),
            "price": self.price,
            "p": self.p,
            "v": self.v,
            "seller_knows_values": self.seller_knows,
            "buyer_knows_p": self.buyer_knows_p,
            "seller_messages": self.talk["alice"],
            "buyer_messages": self.talk["bob"],
        }
