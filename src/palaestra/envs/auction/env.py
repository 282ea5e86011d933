"""The auction game: ascending-price (English) auctions over a sequence of items, after AucArena.

Items are sold one at a time. For each item, bidding goes in rounds of simultaneous sealed moves:
every bidder still in, except the one holding the highest bid, either bids at least the minimum
(the starting price, then the highest bid plus the raise) or withdraws for good. When the round's
moves are in they are all revealed and the highest bid stands (ties broken at random). The item is
sold at the standing bid once nobody else is in, or when the round cap is reached; with no bid at
the starting price it goes unsold. Bidders pay from budgets they may never exceed.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from palaestra import BotFactory, EnvSpec, MultiAgentEnv, Task, ToolError, tool
from palaestra.envs.auction import tasks
from palaestra.envs.auction.rules import FORFEIT_SCORE, NOTE_CHARS, NOTES_PER_ITEM, OBJECTIVE, rules
from palaestra.envs.auction.tasks import Bidder, Desire, Lot


@dataclass(frozen=True)
class SeatView:
    """What one seat knows at this moment: the public state and its own private setup."""

    seat: str
    desire: Desire
    budget: int
    money_left: int
    lots: tuple[Lot, ...]
    values: tuple[int, ...]
    item: int
    """Index of the item on sale (``len(lots)`` once the auction is over)."""
    min_bid: int | None
    """The smallest legal bid when this seat must move now, else None."""
    standing: tuple[str, int] | None
    bidders: int
    """Bidders still in the auction (forfeited seats excluded)."""
    items_won: int


class AuctionEnv(MultiAgentEnv):
    spec = EnvSpec(
        name="auction",
        description=(
            "Ascending-price auctions over a sequence of items (AucArena): bid against other bidders "
            "with private values and a budget, to maximise profit or items won."
        ),
        max_steps=300,
        metrics=("profit", "items_won", "budget_violations", "money_left", "winner"),
        tags=("multi-agent", "auction", "planning", "budget"),
    )

    generate = staticmethod(tasks.generate)

    # ---- setup ---------------------------------------------------------------------------------
    def setup(self, task: Task) -> None:
        lots, bidders, self.round_cap = tasks.read(task.params)
        self.lots = tuple(lots)
        self.agents = [f"bidder{i + 1}" for i in range(len(bidders))]
        self.cfg: dict[str, Bidder] = dict(zip(self.agents, bidders, strict=True))
        self.rng = random.Random(task.seed)
        self.spent = {s: 0 for s in self.agents}
        self.wins: dict[str, list[tuple[int, int]]] = {s: [] for s in self.agents}
        self.violations = {s: 0 for s in self.agents}
        self.low_bids = {s: 0 for s in self.agents}
        self.notes: dict[str, list[str]] = {s: [] for s in self.agents}
        self.notes_on_item = {s: 0 for s in self.agents}
        self.sales: list[tuple[str | None, int]] = []
        self.capped = 0
        self.rounds = 0
        self.item = 0
        self.round = 0
        self.active: list[str] = []
        self.standing: tuple[str, int] | None = None
        self.moves: dict[str, int | None] = {}
        catalogue = "\n".join(
            f"{i + 1}. {lot.name}: starting price {lot.start}, estimated value {lot.estimate}, "
            f"minimum raise {lot.increment}"
            for i, lot in enumerate(self.lots)
        )
        self.tell(
            f"Welcome to the auction. Bidders: {', '.join(self.agents)}. {len(self.lots)} items will be "
            f"sold one after another, in this order:\n{catalogue}"
        )
        for s in self.agents:
            b = self.cfg[s]
            values = "\n".join(f"- {lot.name}: {v}" for lot, v in zip(self.lots, b.values, strict=True))
            self.tell(
                f"Private to {s}: your budget is {b.budget}. Your objective: {OBJECTIVE[b.desire]}\n"
                f"Your private values (what each item is worth to you):\n{values}",
                to=s,
            )
        self._open_item()

    def instructions(self, seat: str) -> str:
        return rules(seat, len(self.agents) - 1, len(self.lots), self.round_cap, self.cfg[seat].desire)

    # ---- the state of play ---------------------------------------------------------------------
    def money_left(self, seat: str) -> int:
        return self.cfg[seat].budget - self.spent[seat]

    def min_bid(self) -> int:
        lot = self.lots[self.item]
        return lot.start if self.standing is None else self.standing[1] + lot.increment

    def _holder(self) -> str | None:
        return self.standing[0] if self.standing else None

    def acting(self) -> list[str]:
        if self.done or self.item >= len(self.lots):
            return []
        holder = self._holder()
        return [s for s in self.active if s != holder and s not in self.moves and s not in self.out]

    def view(self, seat: str) -> SeatView:
        """What ``seat`` is entitled to know now (rule-based players read this)."""
        b = self.cfg[seat]
        return SeatView(
            seat=seat,
            desire=b.desire,
            budget=b.budget,
            money_left=self.money_left(seat),
            lots=self.lots,
            values=b.values,
            item=self.item,
            min_bid=self.min_bid() if seat in self.acting() else None,
            standing=self.standing,
            bidders=len(self.alive()),
            items_won=len(self.wins[seat]),
        )

    # ---- moves ---------------------------------------------------------------------------------
    @tool
    def bid(self, amount: int) -> str:
        """Bid on the item on sale. Bids are sealed until every bidder still in has moved this round.

        Args:
            amount: your bid, a whole number: at least the minimum bid (the starting price while
                nobody has bid, else the highest bid plus the minimum raise) and at most your money left.
        """
        seat, lot = self.seat, self.lots[self.item]
        self._check_not_moved(seat)
        left = self.money_left(seat)
        if amount > left:
            self.violations[seat] += 1
            raise ToolError(
                f"a bid of {amount} is more than your money left ({left}); bids above your budget are "
                "not allowed. Bid within your money left or withdraw."
            )
        low = self.min_bid()
        if amount < low:
            self.low_bids[seat] += 1
            why = (
                f"the starting price of {lot.name}"
                if self.standing is None
                else f"the highest bid {self.standing[1]} plus the minimum raise {lot.increment}"
            )
            raise ToolError(f"a bid of {amount} is too low: the minimum bid is {low} ({why}).")
        self.moves[seat] = amount
        return f"You bid {amount} on {lot.name}. Bids are revealed when every bidder still in has moved."

    @tool
    def withdraw(self) -> str:
        """Withdraw from the bidding on the item on sale. This is final: you cannot bid on it again."""
        seat, lot = self.seat, self.lots[self.item]
        self._check_not_moved(seat)
        self.moves[seat] = None
        return f"You withdraw from the bidding on {lot.name}."

    @tool
    def note(self, text: str) -> str:
        """Write a private planning note to yourself; nobody else sees it. It is not a move.

        Args:
            text: the note (your plan, priorities, what you learned about the other bidders).
        """
        seat = self.seat
        if not text.strip():
            raise ToolError("the note is empty")
        if len(text) > NOTE_CHARS:
            raise ToolError(f"a note may hold at most {NOTE_CHARS} characters (this one has {len(text)})")
        if self.notes_on_item[seat] >= NOTES_PER_ITEM:
            raise ToolError(f"you already wrote {NOTES_PER_ITEM} notes on this item; bid or withdraw")
        self.notes[seat].append(text.strip())
        self.notes_on_item[seat] += 1
        out = f"Noted privately ({self.notes_on_item[seat]} of {NOTES_PER_ITEM} notes on this item)."
        if seat not in self.moves:
            out += " A note is not a move: you still have to bid or withdraw in this round."
        return out

    def _check_not_moved(self, seat: str) -> None:
        if seat in self.moves:
            done = "withdrew" if self.moves[seat] is None else f"bid {self.moves[seat]}"
            raise ToolError(f"you already {done} in this round; wait for the round's result")

    # ---- resolution ----------------------------------------------------------------------------
    def resolve(self) -> None:
        self._advance()

    def _advance(self) -> None:
        while not self.done and not self.acting():
            self._close_round()

    def _open_item(self) -> None:
        lot = self.lots[self.item]
        self.standing, self.round, self.moves = None, 0, {}
        self.notes_on_item = {s: 0 for s in self.agents}
        self.active = self.alive()
        head = f"Item {self.item + 1} of {len(self.lots)}: {lot.name}. Starting price {lot.start}, "
        head += f"estimated value {lot.estimate}, minimum raise {lot.increment}."
        self.tell(f"{self._summary()}\n{head} Bidders in: {', '.join(self.active)}.")
        for s in self.active:
            text = (
                f"Private to {s}: so far you won {len(self.wins[s])} item(s) for a profit of "
                f"{self.profit(s)}; money left {self.money_left(s)} of {self.cfg[s].budget}."
            )
            if self.notes[s]:
                text += f"\nYour latest note: {self.notes[s][-1]}"
            self.tell(text, to=s)
        self._start_round()

    def _summary(self) -> str:
        if not self.sales:
            return "No items sold yet."
        lines = []
        for lot, (winner, price) in zip(self.lots, self.sales, strict=False):
            lines.append(f"- {lot.name}: " + (f"{winner} for {price}" if winner else "unsold"))
        return "Results so far:\n" + "\n".join(lines)

    def _start_round(self) -> None:
        self.round += 1
        self.rounds += 1
        self.moves = {}
        holder, low, lot = self._holder(), self.min_bid(), self.lots[self.item]
        self.active = [s for s in self.active if s == holder or s not in self.out]
        state = (
            f"no bids yet; the starting price is {lot.start}"
            if self.standing is None
            else f"the highest bid is {self.standing[1]} by {self.standing[0]}"
        )
        for s in self.active:
            if s == holder:
                continue
            left = self.money_left(s)
            if left < low:
                self.moves[s] = None  # cannot afford to stay in: withdrawn automatically
                self.tell(
                    f"You cannot afford the minimum bid of {low} on {lot.name} (money left {left}), "
                    "so you are withdrawn from it.",
                    to=s,
                )
                continue
            self.tell(
                f"Round {self.round} on {lot.name}: {state}. Your value: {self.cfg[s].values[self.item]}. "
                f"Money left: {left}. Your move: bid at least {low} (at most {left}) or withdraw.",
                to=s,
            )

    def _close_round(self) -> None:
        lot = self.lots[self.item]
        bids = {s: a for s, a in self.moves.items() if a is not None}
        self.active = [s for s in self.active if s not in self.moves or self.moves[s] is not None]
        moves = [
            f"{s} bid {self.moves[s]}" if self.moves[s] is not None else f"{s} withdrew"
            for s in self.agents
            if s in self.moves
        ]
        line = f"Round {self.round} on {lot.name}: " + ("; ".join(moves) or "no moves") + "."
        if bids:
            top = max(bids.values())
            tied = [s for s in self.agents if bids.get(s) == top]
            lead = tied[0] if len(tied) == 1 else self.rng.choice(tied)
            if len(tied) > 1:
                line += f" Tie at {top} between {', '.join(tied)}, broken at random."
            self.standing = (lead, top)
            line += f" Highest bid: {top} by {lead}."
        holder = self._holder()
        contenders = [s for s in self.active if s != holder and s not in self.out]
        if self.standing is None:
            self.tell(f"{line}\nUNSOLD: nobody bid the starting price for {lot.name}.")
            self.sales.append((None, 0))
            self._next_item()
        elif not contenders:
            self._sell(line, capped=False)
        elif self.round >= self.round_cap:
            self._sell(f"{line}\nThat was the last round ({self.round_cap}) for this item.", capped=True)
        else:
            self.tell(f"{line} Still in: {', '.join(contenders)}. Next minimum bid: {self.min_bid()}.")
            self._start_round()

    def _sell(self, line: str, capped: bool) -> None:
        assert self.standing is not None
        lot, (winner, price) = self.lots[self.item], self.standing
        self.spent[winner] += price
        self.wins[winner].append((self.item, price))
        self.sales.append((winner, price))
        self.capped += capped
        self.tell(f"{line}\nSOLD: {lot.name} to {winner} for {price}.")
        value = self.cfg[winner].values[self.item]
        self.tell(
            f"You won {lot.name} for {price} (your value {value}, profit {value - price}). "
            f"Money left: {self.money_left(winner)}.",
            to=winner,
        )
        self._next_item()

    def _next_item(self) -> None:
        self.item += 1
        if self.item >= len(self.lots) or not self.alive():
            self._end()
        else:
            self._open_item()

    def _end(self) -> None:
        self.item = len(self.lots)
        lines = []
        for s in self.agents:
            won = ", ".join(f"{self.lots[i].name} for {p}" for i, p in self.wins[s]) or "nothing"
            lines.append(f"- {s}: {len(self.wins[s])} item(s): {won}")
        self.tell("The auction is over. Items won:\n" + "\n".join(lines))
        for s in self.agents:
            self.tell(
                f"Your result: {len(self.wins[s])} item(s) won, profit {self.profit(s)}, money left "
                f"{self.money_left(s)}, score {self.score(s):g}.",
                to=s,
            )
        self.finish({s: self.score(s) for s in self.agents})

    def forfeit(self, seat: str, reason: str) -> None:
        """The seat leaves the auction: it withdraws from the item on sale (a bid it already made
        this round, or the highest bid it holds, stays binding) and from every later item; its
        score is ``FORFEIT_SCORE``. The others play on."""
        if self.done or seat in self.out:
            return
        self.out.add(seat)
        self.tell(f"{seat} forfeits ({reason}) and leaves the auction.")
        if seat not in self.moves and seat != self._holder():
            self.active = [s for s in self.active if s != seat]
        self._advance()

    # ---- scoring -------------------------------------------------------------------------------
    def profit(self, seat: str) -> int:
        return sum(self.cfg[seat].values[i] - price for i, price in self.wins[seat])

    def score(self, seat: str) -> float:
        """The seat's final reward: profit / budget, or items won / items on sale; forfeit: -1."""
        if seat in self.out:
            return FORFEIT_SCORE
        b = self.cfg[seat]
        if b.desire == "items":
            return round(len(self.wins[seat]) / len(self.lots), 6)
        return round(self.profit(seat) / b.budget, 6)

    def result(self) -> dict[str, Any]:
        scores = {s: self.score(s) for s in self.agents}
        leaders = [s for s in self.agents if scores[s] == max(scores.values())]
        by_objective: dict[str, str | None] = {}
        for desire in ("profit", "items"):
            seats = [s for s in self.agents if self.cfg[s].desire == desire and s not in self.out]
            key = self.profit if desire == "profit" else (lambda s: len(self.wins[s]))
            by_objective[desire] = max(seats, key=key) if seats else None
        top = sum(max(self.cfg[s].values[i] for s in self.agents) for i in range(len(self.lots)))
        got = sum(self.cfg[s].values[i] for s in self.agents for i, _ in self.wins[s])
        return {
            "scores": scores,
            "winner": leaders[0] if len(leaders) == 1 else None,
            "winner_by_objective": by_objective,
            "desire": {s: self.cfg[s].desire for s in self.agents},
            "profit": {s: self.profit(s) for s in self.agents},
            "items_won": {s: len(self.wins[s]) for s in self.agents},
            "money_left": {s: self.money_left(s) for s in self.agents},
            "budget_violations": dict(self.violations),
            "low_bids": dict(self.low_bids),
            "overpaid": {s: sum(p > self.cfg[s].values[i] for i, p in self.wins[s]) for s in self.agents},
            "notes": {s: len(self.notes[s]) for s in self.agents},
            "forfeited": sorted(self.out),
            "items_sold": sum(w is not None for w, _ in self.sales),
            "revenue": sum(p for _, p in self.sales),
            "efficiency": round(got / top, 4) if top else 0.0,
            "rounds": self.rounds,
            "capped_items": self.capped,
        }

    def bots(self) -> dict[str, BotFactory]:
        from palaestra.envs.auction.bots import BOTS

        return dict(BOTS)
