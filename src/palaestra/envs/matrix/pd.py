"""The repeated prisoner's dilemma (MAgIC's prisoner game; Axelrod's tournament payoffs T > R > P > S)."""

from __future__ import annotations

import random
from typing import Any, ClassVar, Literal

from palaestra import EnvSpec, tool

from .env import Move, RepeatedGame, Round, flips, fmt, horizon

PD_MOVES = ("cooperate", "defect")
PAST = {"cooperate": "cooperated", "defect": "defected"}


class PrisonersDilemma(RepeatedGame):
    spec = EnvSpec(
        name="matrix-pd",
        description=(
            "Repeated prisoner's dilemma for two players: each round both choose cooperate or defect at "
            "the same time; known or unknown horizon, with execution noise at the hardest level."
        ),
        max_steps=80,
        metrics=("payoff", "cooperation_rate", "regret", "mutual_cooperation"),
        free_text=True,
        tags=("multi-agent", "game-theory", "social-dilemma"),
    )
    family = "pd"
    null_move: ClassVar[Move] = "defect"
    null_text = "defect"
    move_tool = ("play", "action")

    def generate(self, rng: random.Random, difficulty: int) -> dict[str, Any]:
        # T > R > P > S >= 0 and 2R > T + S (mutual cooperation beats taking turns exploiting).
        while True:
            s, a, b, c = rng.randint(0, 2), rng.randint(1, 3), rng.randint(1, 4), rng.randint(1, 4)
            if a + b > c:
                break
        p = s + a
        r = p + b
        t = r + c
        hz = horizon(rng, known=difficulty == 1)
        noise = rng.choice((0.05, 0.1)) if difficulty >= 3 else 0.0
        return {
            "payoffs": {"T": t, "R": r, "P": p, "S": s},
            **hz,
            "noise": noise,
            "flips": flips(rng, hz["rounds"], 2, noise),
        }

    def init_family(self, params: dict[str, Any]) -> list[str]:
        pay = params["payoffs"]
        self.T, self.R, self.P, self.S = pay["T"], pay["R"], pay["P"], pay["S"]
        return ["p1", "p2"]

    def other(self, seat: str) -> str:
        return "p2" if seat == "p1" else "p1"

    def u(self, mine: Move, theirs: Move) -> float:
        if mine == "cooperate":
            return float(self.R if theirs == "cooperate" else self.S)
        return float(self.T if theirs == "cooperate" else self.P)

    def family_rules(self, seat: str) -> str:
        return (
            f"You play a repeated prisoner's dilemma against {self.other(seat)}. Each round you both "
            "choose 'cooperate' or 'defect'. Payoffs per round (you, the other player):\n"
            f"- both cooperate: {self.R}, {self.R}\n"
            f"- you cooperate, the other defects: {self.S}, {self.T}\n"
            f"- you defect, the other cooperates: {self.T}, {self.S}\n"
            f"- both defect: {self.P}, {self.P}\n"
            "After each round both players see both moves and both payoffs."
        )

    def move_hint(self) -> str:
        return "Choose: play(action='cooperate') or play(action='defect')."

    @tool
    def play(self, action: Literal["cooperate", "defect"]) -> str:
        """Choose your move for this round; both players move at the same time.

        Args:
            action: "cooperate" or "defect".
        """
        self.submit(action)
        return f"Your move for round {self.round}: {action}."

    def compute_payoffs(self, played: dict[str, Move]) -> tuple[dict[str, float], dict[str, Any]]:
        a, b = played["p1"], played["p2"]
        return {"p1": self.u(a, b), "p2": self.u(b, a)}, {}

    def counterfactual(self, seat: str, rnd: Round, move: Move) -> float:
        return self.u(move, rnd.played[self.other(seat)])

    def action_grid(self, seat: str) -> list[Move]:
        return list(PD_MOVES)

    def cooperation(self, seat: str, move: Move) -> float:
        return 1.0 if move == "cooperate" else 0.0

    def flip(self, move: Move) -> Move:
        return "defect" if move == "cooperate" else "cooperate"

    def announce(self, rnd: Round) -> None:
        moves = ", ".join(f"{s} {PAST[str(rnd.played[s])]}" for s in self.agents)
        pays = ", ".join(f"{s} {fmt(rnd.payoffs[s])}" for s in self.agents)
        self.tell(f"Round {rnd.number} result: {moves}. Payoffs: {pays}. Totals: {self.totals_text()}.")

    def family_result(self) -> dict[str, Any]:
        both = [r for r in self.history if all(m == "cooperate" for m in r.played.values())]
        return {"mutual_cooperation": round(len(both) / len(self.history), 6) if self.history else 0.0}
