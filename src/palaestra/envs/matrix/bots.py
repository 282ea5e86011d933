"""Rule-based players for the ``matrix-*`` games.

Every family has the same five bots, each read in the family's terms (see README):
``tit-for-tat``, ``grim-trigger``, ``always-cooperate``, ``always-defect`` and ``random``.
A bot decides from what its seat was told: the public record of the rounds so far
(``game.public_record()``: the moves as played and the public facts) and, in the airport game, its
own private need, value and fair share. It never reads another seat's private information.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from palaestra import BotFactory, Message, MultiAgentEnv, Observation, Policy, Task, action

from .airport import AirportGame
from .donor import DonorGame
from .env import Move, RepeatedGame
from .public_goods import PublicGoods

Strategy = Callable[["MatrixBot"], Move]


class MatrixBot(Policy):
    """Plays one seat of a repeated game with a fixed strategy."""

    def __init__(self, game: RepeatedGame, seat: str, seed: int, strategy: Strategy, name: str) -> None:
        self.game = game
        self.seat = seat
        self.seed = seed
        self.strategy = strategy
        self.name = name
        self.rng = random.Random(seed)

    async def reset(self, task: Task) -> None:
        await super().reset(task)
        # Deterministic per (bot seed, task, seat), and different from one task to the next.
        self.rng = random.Random(f"{self.seed}:{task.seed}:{self.seat}")

    def others(self) -> list[str]:
        return [s for s in self.game.agents if s != self.seat]

    def choose(self, observation: Observation) -> Message:
        tool, arg = self.game.move_tool
        return action(tool, f"call_{tool}_{self.game.round}", **{arg: self.strategy(self)})


# ---- prisoner's dilemma ---------------------------------------------------------------------------
def _pd_opponent_moves(bot: MatrixBot) -> list[Move]:
    (other,) = bot.others()
    return [r.played[other] for r in bot.game.public_record()]


def pd_tit_for_tat(bot: MatrixBot) -> Move:
    past = _pd_opponent_moves(bot)
    return past[-1] if past else "cooperate"


def pd_grim(bot: MatrixBot) -> Move:
    return "defect" if "defect" in _pd_opponent_moves(bot) else "cooperate"


def pd_random(bot: MatrixBot) -> Move:
    return bot.rng.choice(("cooperate", "defect"))


# ---- public goods -------------------------------------------------------------------------------
def _pg(bot: MatrixBot) -> PublicGoods:
    assert isinstance(bot.game, PublicGoods)
    return bot.game


def pg_conditional(bot: MatrixBot) -> Move:
    """Contribute the others' average contribution of the previous round (everything in round 1)."""
    game = _pg(bot)
    record = game.public_record()
    if not record:
        return game.endowment
    last = [int(record[-1].played[s]) for s in bot.others()]
    return min(game.endowment, int(sum(last) / len(last) + 0.5))


def pg_grim(bot: MatrixBot) -> Move:
    """Contribute everything until some other player holds anything back once; then nothing."""
    game = _pg(bot)
    cheated = any(int(r.played[s]) < game.endowment for r in game.public_record() for s in bot.others())
    return 0 if cheated else game.endowment


def pg_all(bot: MatrixBot) -> Move:
    return _pg(bot).endowment


def pg_random(bot: MatrixBot) -> Move:
    return bot.rng.randint(0, _pg(bot).endowment)


# ---- airport --------------------------------------------------------------------------------------
def _ap(bot: MatrixBot) -> AirportGame:
    assert isinstance(bot.game, AirportGame)
    return bot.game


def _ap_others(bot: MatrixBot) -> tuple[list[int], int]:
    """What the others paid in each past round, and what their fair shares add up to (public)."""
    game = _ap(bot)
    mine = game.private_info(bot.seat)["share"]
    paid = [int(r.info["total"]) - int(r.played[bot.seat]) for r in game.public_record()]
    return paid, game.max_pay - mine


def ap_reciprocal(bot: MatrixBot) -> Move:
    """Pay the fair share scaled by how much of their fair total the others paid last round."""
    share = _ap(bot).private_info(bot.seat)["share"]
    paid, fair = _ap_others(bot)
    if not paid:
        return share
    return int(share * min(1.0, paid[-1] / fair) + 0.5)


def ap_grim(bot: MatrixBot) -> Move:
    """Pay the fair share until the others once pay less than their fair total; then nothing."""
    paid, fair = _ap_others(bot)
    return 0 if any(p < fair for p in paid) else _ap(bot).private_info(bot.seat)["share"]


def ap_fair(bot: MatrixBot) -> Move:
    return _ap(bot).private_info(bot.seat)["share"]


def ap_random(bot: MatrixBot) -> Move:
    return bot.rng.randint(0, _ap(bot).private_info(bot.seat)["value"])


# ---- donor game -----------------------------------------------------------------------------------
def _recipient_record(bot: MatrixBot) -> list[Move]:
    game = bot.game
    assert isinstance(game, DonorGame)
    recipient = game.pairing[bot.seat]
    gen = game.generation_of(game.round)
    return [r.played[recipient] for r in game.public_record() if r.info["generation"] == gen]


def donor_discriminator(bot: MatrixBot) -> Move:
    """Donate unless the recipient's latest decision in this generation was to keep."""
    record = _recipient_record(bot)
    return "keep" if record and record[-1] == "keep" else "donate"


def donor_grim(bot: MatrixBot) -> Move:
    """Donate only to recipients who have never kept in this generation."""
    return "keep" if "keep" in _recipient_record(bot) else "donate"


def donor_random(bot: MatrixBot) -> Move:
    return bot.rng.choice(("donate", "keep"))


def _const(move: Move) -> Strategy:
    return lambda bot: move


STRATEGIES: dict[str, dict[str, Strategy]] = {
    "pd": {
        "tit-for-tat": pd_tit_for_tat,
        "grim-trigger": pd_grim,
        "always-cooperate": _const("cooperate"),
        "always-defect": _const("defect"),
        "random": pd_random,
    },
    "public-goods": {
        "tit-for-tat": pg_conditional,
        "grim-trigger": pg_grim,
        "always-cooperate": pg_all,
        "always-defect": _const(0),
        "random": pg_random,
    },
    "airport": {
        "tit-for-tat": ap_reciprocal,
        "grim-trigger": ap_grim,
        "always-cooperate": ap_fair,
        "always-defect": _const(0),
        "random": ap_random,
    },
    "donor": {
        "tit-for-tat": donor_discriminator,
        "grim-trigger": donor_grim,
        "always-cooperate": _const("donate"),
        "always-defect": _const("keep"),
        "random": donor_random,
    },
}


def bots_for(family: str) -> dict[str, BotFactory]:
    """``{name: factory(game, seat, seed)}`` for the bots of one family."""

    def factory(name: str, strategy: Strategy) -> BotFactory:
        def make(game: MultiAgentEnv, seat: str, seed: int) -> MatrixBot:
            if not isinstance(game, RepeatedGame):
                raise TypeError(f"the {name} bot plays matrix games, not {type(game).__name__}")
            return MatrixBot(game, seat, seed, strategy, name)

        return make

    return {name: factory(name, s) for name, s in STRATEGIES[family].items()}
