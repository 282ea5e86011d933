"""Rule-based players for the three families. Each reads only what its own seat knows: the game's
``view(seat)`` (its own private values, the other's only under complete information, and the
public history). Their messages, when a game allows messages, are fixed phrases that reveal nothing
private.

Bargaining (symmetric, any seat):
- ``spe``: the subgame-perfect equilibrium of the finite game (backward induction on whole amounts);
  without the other's discount factor it assumes the other's equals its own;
- ``fair``: offers an even split and accepts at least half;
- ``greedy``: demands 90% and accepts only 70% or more, to the very end;
- ``random``: a random split; accepts half the time.

Negotiation (seller or buyer; the reservation price is the seat's own value):
- ``truthful``: asks its value plus a 10% margin (the midpoint of both values when it knows the
  other's and a deal pays); accepts any price at least as good as its value;
- ``hard``: anchors at 50% beyond its value (or at the other's value when known), never concedes,
  and accepts only prices halfway to its anchor, except in the last round, where any gain will do;
- ``conceder``: starts at the same anchor and concedes linearly to its value by the last round;
  accepts what is at least as good as its own next offer;
- ``random``: random prices between half and twice the price order; accepts half the time, walks
  away one time in twenty.

Persuasion (role-specific; a bot of the other role's kind plays that role's default):
- sellers ``honest`` (recommends exactly the high-quality products), ``always_high`` (recommends
  every product) and ``strategic`` (Bayesian persuasion against a learning buyer: recommends every
  high-quality product, and a low-quality one only when a Bayesian buyer, as ``bayesian`` models
  it, would buy it now and still trust the next recommendation once it learns the truth; without
  the buyer's values it assumes the lowest, 1.2 prices);
- buyers ``bayesian`` (learns how often the seller recommends high- and low-quality products from
  the revealed qualities, and buys when its posterior expected value covers the price) and
  ``naive`` (follows the advice);
- ``random`` in either role. A buyer bot in the seller's seat plays ``honest``; a seller bot in the
  buyer's seat plays ``bayesian``.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from palaestra import Agent, Message, Observation, Policy, Task, action
from palaestra.envs.bargain.bargaining import BargainingGame, SplitView, delta_fractions
from palaestra.envs.bargain.negotiation import NegotiationGame, TradeView
from palaestra.envs.bargain.persuasion import HIGH_VALUES, AdviceView, PersuasionGame, Sale
from palaestra.envs.bargain.theory import buy_threshold, spe_accepts, spe_keeps

if TYPE_CHECKING:
    from palaestra import BotFactory, MultiAgentEnv


class GleeBot(Policy):
    """Plays one seat from that seat's ``view``; ``decide`` returns the move."""

    def __init__(self, game: Any, seat: str, seed: int, decide: Callable[[GleeBot, Any], Message]) -> None:
        self.game = game
        self.seat = seat
        self.seed = seed
        self.decide = decide
        self.rng = random.Random(seed)

    async def reset(self, task: Task) -> None:
        await super().reset(task)
        self.rng = random.Random(f"{self.seed}:{task.seed}:{self.seat}")

    def choose(self, observation: Observation) -> Message:
        return self.decide(self, self.game.view(self.seat))


def _split(v: SplitView, keep: int, note: str = "") -> Message:
    """An offer that leaves ``keep`` to the proposer (this seat)."""
    keep = max(0, min(v.money, keep))
    alice = keep if v.seat == "alice" else v.money - keep
    args: dict[str, Any] = {"alice_gain": alice, "bob_gain": v.money - alice}
    if note and v.messages_allowed:
        args["message"] = note
    return action("offer", f"offer_{v.round}", **args)


def _offered(v: SplitView) -> int:
    assert v.pending is not None
    return v.pending.alice_gain if v.seat == "alice" else v.pending.bob_gain


def _answer(v: SplitView, yes: bool) -> Message:
    return action("accept" if yes else "reject", f"answer_{v.round}")


# ---- bargaining ------------------------------------------------------------------------------------
def split_spe(bot: GleeBot, v: SplitView) -> Message:
    deltas = delta_fractions(v)
    if v.pending is None:
        keep = spe_keeps(v.money, v.max_rounds, deltas)[v.round - 1]
        return _split(v, keep, "This is a reasonable split given how inflation works for both of us.")
    return _answer(v, spe_accepts(v.money, v.max_rounds, v.round, deltas, _offered(v)))


def split_fair(bot: GleeBot, v: SplitView) -> Message:
    if v.pending is None:
        return _split(v, v.money - v.money // 2, "An even split is fair to both of us.")
    return _answer(v, 2 * _offered(v) >= v.money)


def split_greedy(bot: GleeBot, v: SplitView) -> Message:
    if v.pending is None:
        return _split(v, math.floor(v.money * 0.9), "Take it or leave it.")
    return _answer(v, _offered(v) >= 0.7 * v.money)


def split_random(bot: GleeBot, v: SplitView) -> Message:
    if v.pending is None:
        return _split(v, bot.rng.randint(0, v.money))
    return _answer(v, bot.rng.random() < 0.5)


# ---- negotiation -----------------------------------------------------------------------------------
def _gain(v: TradeView, price: float) -> float:
    """What a deal at ``price`` gains this seat over its outside option."""
    return price - v.my_value if v.role == "seller" else v.my_value - price


def _anchor(v: TradeView) -> float:
    """A demanding first price: the other's value when known (all the surplus), else 50% beyond ours."""
    if v.other_value is not None and _gain(v, v.other_value) > 0:
        return v.other_value
    return v.my_value * 1.5 if v.role == "seller" else v.my_value / 1.5


def _price(v: TradeView, price: float, note: str = "") -> Message:
    p = max(0, min(v.price_cap, math.ceil(price) if v.role == "seller" else math.floor(price)))
    args: dict[str, Any] = {"price": p}
    if note and v.messages_allowed:
        args["message"] = note
    return action("offer", f"offer_{v.round}", **args)


def _reply(v: TradeView, yes: bool) -> Message:
    return action("accept" if yes else "reject", f"answer_{v.round}")


def trade_truthful(bot: GleeBot, v: TradeView) -> Message:
    if v.pending is None:
        if v.other_value is not None and _gain(v, v.other_value) > 0:
            target: float = (v.my_value + v.other_value) / 2
        else:
            target = v.my_value * 1.1 if v.role == "seller" else v.my_value / 1.1
        return _price(v, target, "This price is fair for both of us.")
    return _reply(v, _gain(v, v.pending.price) >= 0)


def trade_hard(bot: GleeBot, v: TradeView) -> Message:
    anchor = _anchor(v)
    if v.pending is None:
        return _price(v, anchor, "This is my final price.")
    gain = _gain(v, v.pending.price)
    if v.round >= v.max_rounds:
        return _reply(v, gain >= 0)
    return _reply(v, gain >= _gain(v, anchor) / 2 and gain >= 0)


def _concession(v: TradeView, round_: int) -> float:
    """The conceder's price in ``round_``: from its anchor in round 1 to its value in the last round."""
    anchor = _anchor(v)
    t = 1.0 if v.max_rounds <= 1 else min(1.0, (round_ - 1) / (v.max_rounds - 1))
    return anchor + (v.my_value - anchor) * t


def trade_conceder(bot: GleeBot, v: TradeView) -> Message:
    if v.pending is None:
        return _price(v, _concession(v, v.round), "I am moving towards you; let's close a deal.")
    gain = _gain(v, v.pending.price)
    if v.round >= v.max_rounds:
        return _reply(v, gain >= 0)
    return _reply(v, gain >= 0 and gain >= _gain(v, _concession(v, v.round + 1)))


def trade_random(bot: GleeBot, v: TradeView) -> Message:
    if bot.rng.random() < 0.05:
        return action("deal_with_john", f"john_{v.round}")
    if v.pending is None:
        return _price(v, bot.rng.uniform(0.5, 2.0) * v.order)
    return _reply(v, bot.rng.random() < 0.5)


# ---- persuasion ------------------------------------------------------------------------------------
def _advise(v: AdviceView, buy: bool, note: str) -> Message:
    args: dict[str, Any] = {"buy": buy}
    if v.messages_allowed:
        args["message"] = note
    return action("recommend", f"advice_{v.round}", **args)


def _decide(v: AdviceView, buy: bool) -> Message:
    return action("buy" if buy else "decline", f"decision_{v.round}")


def seller_honest(bot: GleeBot, v: AdviceView) -> Message:
    high = bool(v.high_now)
    return _advise(v, high, "I recommend this one." if high else "I would skip this one.")


def seller_always(bot: GleeBot, v: AdviceView) -> Message:
    return _advise(v, True, "Great product, I recommend it.")


def seller_strategic(bot: GleeBot, v: AdviceView) -> Message:
    if v.high_now:
        return _advise(v, True, "I recommend this one.")
    assert v.p is not None
    c = v.c if v.c is not None else 0.0
    need = buy_threshold(v.v if v.v is not None else min(HIGH_VALUES), c)
    # Recommend a low-quality product only if a Bayesian buyer would buy it now and would still trust
    # a recommendation next round, once it learns that this one was low quality.
    now = belief(v.history, v.p, True)
    seen = Sale(v.round, False, True, "", True)
    later = belief((*v.history, seen), v.p, True)
    buy = now >= need and later >= need + 0.02
    return _advise(v, buy, "I recommend this one." if buy else "I would skip this one.")


def belief(history: Sequence[Sale], p: float | None, recommended: bool) -> float:
    """A Bayesian buyer's probability that this round's product is high quality, given the advice.

    It estimates the share of high-quality products (known ``p``, or Beta(1, 1) updated on the
    revealed qualities) and how often the seller recommends high and low products (Jeffreys
    Beta(1/2, 1/2) priors) from the finished rounds. With no history the advice tells it nothing.
    """
    highs = [s for s in history if s.high]
    lows = [s for s in history if not s.high]
    share = p if p is not None else (len(highs) + 1) / (len(history) + 2)
    rec_high = (sum(1 for s in highs if s.recommended) + 0.5) / (len(highs) + 1)
    rec_low = (sum(1 for s in lows if s.recommended) + 0.5) / (len(lows) + 1)
    like_high = rec_high if recommended else 1 - rec_high
    like_low = rec_low if recommended else 1 - rec_low
    den = share * like_high + (1 - share) * like_low
    return share * like_high / den if den > 0 else share


def buyer_bayesian(bot: GleeBot, v: AdviceView) -> Message:
    assert v.v is not None and v.c is not None
    q = belief(v.history, v.p, bool(v.recommended_now))
    return _decide(v, q >= buy_threshold(v.v, v.c))


def buyer_naive(bot: GleeBot, v: AdviceView) -> Message:
    return _decide(v, bool(v.recommended_now))


def persuasion_random(bot: GleeBot, v: AdviceView) -> Message:
    if v.role == "seller":
        return _advise(v, bot.rng.random() < 0.5, "Have a look at this product.")
    return _decide(v, bot.rng.random() < 0.5)


def _roles(
    seller: Callable[[GleeBot, AdviceView], Message], buyer: Callable[[GleeBot, AdviceView], Message]
) -> Callable[[GleeBot, AdviceView], Message]:
    def play(bot: GleeBot, v: AdviceView) -> Message:
        return seller(bot, v) if v.role == "seller" else buyer(bot, v)

    return play


# ---- registry --------------------------------------------------------------------------------------
_FAMILIES: dict[str, tuple[type, dict[str, Callable[[GleeBot, Any], Message]]]] = {
    "bargaining": (
        BargainingGame,
        {"spe": split_spe, "fair": split_fair, "greedy": split_greedy, "random": split_random},
    ),
    "negotiation": (
        NegotiationGame,
        {"truthful": trade_truthful, "hard": trade_hard, "conceder": trade_conceder, "random": trade_random},
    ),
    "persuasion": (
        PersuasionGame,
        {
            "bayesian": _roles(seller_honest, buyer_bayesian),
            "honest": _roles(seller_honest, buyer_bayesian),
            "strategic": _roles(seller_strategic, buyer_bayesian),
            "always_high": _roles(seller_always, buyer_bayesian),
            "naive": _roles(seller_honest, buyer_naive),
            "random": persuasion_random,
        },
    ),
}


def _factory(family: str, name: str) -> BotFactory:
    cls, table = _FAMILIES[family]
    decide = table[name]

    def make(game: MultiAgentEnv, seat: str, seed: int) -> Agent:
        if not isinstance(game, cls):
            raise TypeError(f"bot {name!r} plays {cls.__name__}, not {type(game).__name__}")
        return GleeBot(game, seat, seed, decide)

    return make


def bots_for(family: str) -> dict[str, BotFactory]:
    """The bots of one family, by name (the first is the game's default player)."""
    return {name: _factory(family, name) for name in _FAMILIES[family][1]}
