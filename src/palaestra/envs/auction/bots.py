"""Rule-based bidders. Each reads only what its own seat knows (``AuctionEnv.view``).

Every bidder but ``random`` stays in with the minimum bid while that is within its limit for the
item (and its money left), and withdraws once it is not:

- ``truthful``: limit = its private value (the dominant strategy of a single English auction);
- ``conservative``: limit = 80% of its value;
- ``aggressive``: limit = 120% of its value, so it sometimes pays more than an item is worth;
- ``budget_planner``: spreads its money over the items still to come. A bidder among ``n`` expects
  to win about one item in ``n``, so it plans to spend ``n * money_left * w / W`` on this item,
  where ``w`` is the item's weight and ``W`` the weights of this and all later items (weight = its
  value for a profit seeker, its starting price for an item seeker). A profit seeker never goes
  above its value; an item seeker does, up to its plan;
- ``random``: withdraws with probability 0.3, else bids the minimum plus 0 to 2 raises (within its
  money), whatever the item is worth.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, ClassVar

from palaestra import Agent, Message, Observation, Policy, action

if TYPE_CHECKING:
    from palaestra import BotFactory, MultiAgentEnv
    from palaestra.envs.auction.env import AuctionEnv, SeatView


class AuctionBot(Policy):
    """Bid the minimum while it is within ``limit(view)``; otherwise withdraw."""

    name: ClassVar[str] = ""

    def __init__(self, game: AuctionEnv, seat: str, seed: int) -> None:
        self.game = game
        self.seat = seat
        self.rng = random.Random(seed)

    def limit(self, v: SeatView) -> float:
        raise NotImplementedError

    def choose(self, observation: Observation) -> Message:
        v = self.game.view(self.seat)
        if v.min_bid is None:  # not this seat's move; say so rather than guess a bid
            return action("withdraw")
        if v.min_bid <= min(self.limit(v), v.money_left):
            return action("bid", amount=v.min_bid)
        return action("withdraw")


class Truthful(AuctionBot):
    name = "truthful"

    def limit(self, v: SeatView) -> float:
        return v.values[v.item]


class Conservative(AuctionBot):
    name = "conservative"

    def limit(self, v: SeatView) -> float:
        return 0.8 * v.values[v.item]


class Aggressive(AuctionBot):
    name = "aggressive"

    def limit(self, v: SeatView) -> float:
        return 1.2 * v.values[v.item]


class BudgetPlanner(AuctionBot):
    name = "budget_planner"

    def limit(self, v: SeatView) -> float:
        later = range(v.item, len(v.lots))
        if v.desire == "items":
            weights = {i: float(v.lots[i].start) for i in later}
        else:
            weights = {i: float(max(0, v.values[i] - v.lots[i].start)) for i in later}
        total = sum(weights.values())
        if total <= 0:
            return 0.0
        plan = v.bidders * v.money_left * weights[v.item] / total
        return plan if v.desire == "items" else min(plan, v.values[v.item])


class RandomBidder(AuctionBot):
    name = "random"

    def limit(self, v: SeatView) -> float:
        return v.money_left

    def choose(self, observation: Observation) -> Message:
        v = self.game.view(self.seat)
        if v.min_bid is None or self.rng.random() < 0.3:
            return action("withdraw")
        amount = min(v.money_left, v.min_bid + self.rng.randint(0, 2) * v.lots[v.item].increment)
        return action("bid", amount=amount)


def _factory(cls: type[AuctionBot]) -> BotFactory:
    def make(game: MultiAgentEnv, seat: str, seed: int) -> Agent:
        from palaestra.envs.auction.env import AuctionEnv

        if not isinstance(game, AuctionEnv):
            raise TypeError(f"{cls.name} plays the auction game, not {type(game).__name__}")
        return cls(game, seat, seed)

    return make


BOTS: dict[str, BotFactory] = {
    cls.name: _factory(cls) for cls in (Truthful, Conservative, BudgetPlanner, Aggressive, RandomBidder)
}
