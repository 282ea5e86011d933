"""The repeated linear public goods game (MAgIC's public good game; the regret paper's repeated games)."""

from __future__ import annotations

import random
from typing import Any, ClassVar

from palaestra import EnvSpec, ToolError, tool

from .env import Move, RepeatedGame, Round, fmt, horizon

PLAYERS = {1: (3, 3), 2: (4, 4), 3: (5, 6)}
ENDOWMENTS = (10, 15, 20, 25, 30)


class PublicGoods(RepeatedGame):
    spec = EnvSpec(
        name="matrix-public-goods",
        description=(
            "Repeated public goods game for 3-6 players: each round everyone puts part of an endowment "
            "into a pot that is multiplied by r (1 < r < N) and split equally."
        ),
        max_steps=80,
        metrics=("payoff", "cooperation_rate", "regret"),
        free_text=True,
        tags=("multi-agent", "game-theory", "social-dilemma"),
    )
    family = "public-goods"
    null_move: ClassVar[Move] = 0
    null_text = "contribute 0"
    move_tool = ("contribute", "amount")

    def generate(self, rng: random.Random, difficulty: int) -> dict[str, Any]:
        n = rng.randint(*PLAYERS[difficulty])
        # r in steps of 0.1, strictly between 1 and N: contributing is good for the group, bad for you.
        multiplier = rng.randint(11, 10 * n - 1) / 10
        return {
            "players": n,
            "endowment": rng.choice(ENDOWMENTS),
            "multiplier": multiplier,
            **horizon(rng, known=difficulty == 1),
        }

    def init_family(self, params: dict[str, Any]) -> list[str]:
        self.n: int = params["players"]
        self.endowment: int = params["endowment"]
        self.r: float = params["multiplier"]
        return [f"p{i + 1}" for i in range(self.n)]

    def family_rules(self, seat: str) -> str:
        e, r, n = self.endowment, self.r, self.n
        return (
            f"You play a repeated public goods game with {n} players. Every round each player gets "
            f"{e} tokens and chooses how many of them (a whole number from 0 to {e}) to put into a common "
            f"pot. The pot is multiplied by {r} and split equally among all {n} players, contributors "
            f"or not. Your payoff in a round = {e} - your contribution + {r} x (sum of contributions) / {n}. "
            f"Each token you contribute returns {fmt(r / n)} to you and {fmt(r)} to the group. "
            "After each round everyone sees every contribution and every payoff."
        )

    def move_hint(self) -> str:
        return f"Choose: contribute(amount=...) with a whole number from 0 to {self.endowment}."

    @tool
    def contribute(self, amount: int) -> str:
        """Put part of this round's endowment into the common pot; all players move at the same time.

        Args:
            amount: tokens to contribute, a whole number from 0 to the endowment.
        """
        if not 0 <= amount <= self.endowment:
            raise ToolError(f"the amount must be a whole number from 0 to {self.endowment}, not {amount}")
        self.submit(amount)
        return f"Your contribution for round {self.round}: {amount}."

    def payoff(self, own: int, total: int) -> float:
        return self.endowment - own + self.r * total / self.n

    def compute_payoffs(self, played: dict[str, Move]) -> tuple[dict[str, float], dict[str, Any]]:
        total = sum(int(m) for m in played.values())
        return {s: self.payoff(int(m), total) for s, m in played.items()}, {"total": total}

    def counterfactual(self, seat: str, rnd: Round, move: Move) -> float:
        others = int(rnd.info["total"]) - int(rnd.played[seat])
        return self.payoff(int(move), others + int(move))

    def action_grid(self, seat: str) -> list[Move]:
        return list(range(self.endowment + 1))

    def cooperation(self, seat: str, move: Move) -> float:
        return int(move) / self.endowment

    def announce(self, rnd: Round) -> None:
        total = rnd.info["total"]
        gives = ", ".join(f"{s} {rnd.played[s]}" for s in self.agents)
        pays = ", ".join(f"{s} {fmt(rnd.payoffs[s])}" for s in self.agents)
        self.tell(
            f"Round {rnd.number} result: contributions {gives} (total {total}); the pot {total} x {self.r} = "
            f"{fmt(total * self.r)} gives each player {fmt(total * self.r / self.n)}. Payoffs: {pays}. "
            f"Totals: {self.totals_text()}."
        )

    def family_result(self) -> dict[str, Any]:
        per_round = [r.info["total"] / (self.n * self.endowment) for r in self.history]
        return {
            "group_contribution": round(sum(per_round) / len(per_round), 6) if per_round else 0.0,
        }
