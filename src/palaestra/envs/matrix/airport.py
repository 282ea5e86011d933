"""Cost sharing in the airport game (MAgIC's airport fee allocation; Littlechild & Owen's airport game).

Airlines need runways of different lengths; a runway serves every airline whose need it covers, and
its cost grows with its length. Instead of negotiating a split (MAgIC), the airlines pay voluntarily,
every round at the same time, and the runway of that round is built as far as the money reaches.
"""

from __future__ import annotations

import random
from typing import Any, ClassVar

from palaestra import EnvSpec, ToolError, tool

from .env import Move, RepeatedGame, Round, fmt, horizon

# difficulty -> (airlines, runway levels)
SIZES = {1: (3, 3), 2: (4, 3), 3: (5, 4)}
LEVEL_NAMES = ("short", "medium", "long", "extra-long")


class AirportGame(RepeatedGame):
    spec = EnvSpec(
        name="matrix-airport",
        description=(
            "Repeated airport cost-sharing game: airlines with private runway needs and values pay "
            "voluntarily each round, and the runway is built to the level the payments cover."
        ),
        max_steps=80,
        metrics=("payoff", "cooperation_rate", "regret", "served_rate", "efficiency"),
        free_text=True,
        tags=("multi-agent", "game-theory", "cost-sharing", "private-information"),
    )
    family = "airport"
    null_move: ClassVar[Move] = 0
    null_text = "pay 0"
    move_tool = ("pay", "amount")

    def generate(self, rng: random.Random, difficulty: int) -> dict[str, Any]:
        n, k = SIZES[difficulty]
        needs = [rng.randint(1, k) for _ in range(n)]
        if k not in needs:
            needs[rng.randrange(n)] = k
        unit = [rng.randint(2, 6) for _ in range(k)]
        users = [sum(1 for x in needs if x >= level) for level in range(1, k + 1)]
        # Segment ``level`` costs ``users * unit``: its fair (Shapley) charge per user is ``unit``.
        segment = [users[i] * unit[i] for i in range(k)]
        shares = [sum(unit[:x]) for x in needs]
        standalone = [sum(segment[:x]) for x in needs]
        # Served is worth more than the fair share but less than building alone: a dilemma.
        values = [rng.randint(sh + 1, st - 1) for sh, st in zip(shares, standalone, strict=True)]
        return {
            "airlines": n,
            "segment_costs": segment,
            "needs": needs,
            "values": values,
            **horizon(rng, known=difficulty == 1),
        }

    def init_family(self, params: dict[str, Any]) -> list[str]:
        seats = [f"p{i + 1}" for i in range(params["airlines"])]
        self.segment: list[int] = params["segment_costs"]
        self.levels = len(self.segment)
        self.cumulative = [sum(self.segment[: i + 1]) for i in range(self.levels)]
        self.max_pay: int = self.cumulative[-1]
        self.need: dict[str, int] = dict(zip(seats, params["needs"], strict=True))
        self.value: dict[str, int] = dict(zip(seats, params["values"], strict=True))
        self.users = [sum(1 for x in self.need.values() if x >= lv) for lv in range(1, self.levels + 1)]
        self.share: dict[str, int] = {
            s: sum(self.segment[i] // self.users[i] for i in range(self.need[s])) for s in seats
        }
        return seats

    def private_info(self, seat: str) -> dict[str, int]:
        """What only ``seat`` knows: its need, its value and its fair share."""
        return {"need": self.need[seat], "value": self.value[seat], "share": self.share[seat]}

    def level_name(self, level: int) -> str:
        return f"level {level} ({LEVEL_NAMES[level - 1]})" if level else "level 0 (no runway)"

    def built(self, total: int) -> int:
        """The runway level that ``total`` money pays for."""
        return sum(1 for c in self.cumulative if c <= total)

    def family_rules(self, seat: str) -> str:
        n = len(self.agents)
        costs = "; ".join(
            f"{self.level_name(i + 1)}: segment {self.segment[i]}, runway up to here {self.cumulative[i]}, "
            f"needed by {self.users[i]} airline(s)"
            for i in range(self.levels)
        )
        return (
            f"You are an airline at an airport shared by {n} airlines. Every round a runway is built "
            f"segment by segment; its levels (segment cost, total cost of a runway that long, how many "
            f"airlines need at least that level) are: {costs}.\n"
            "Each airline needs the runway to reach some level, and gains a value in every round in "
            "which it does. Needs and values are private: you know only your own (told to you at the "
            "start); the number of airlines that need each level is public, which airline needs what is "
            "not.\n"
            f"Every round each airline pays a whole amount from 0 to {self.max_pay} at the same time. The "
            "runway of that round reaches the highest level whose total cost the payments cover; money "
            "beyond that is spent without effect and nothing is refunded.\n"
            "Your payoff in a round = (your value if the runway reaches your need, else 0) - your payment.\n"
            "The fair (Shapley) split charges each segment's cost equally to the airlines that need it. "
            "After each round everyone sees every payment and the level built; payoffs stay private."
        )

    def private_setup(self, seat: str) -> str:
        return (
            f"Private: your airline needs the runway to reach {self.level_name(self.need[seat])}. Each "
            f"round in which it does is worth {self.value[seat]} to you. Your fair (Shapley) share of the "
            f"cost is {self.share[seat]} per round."
        )

    def move_hint(self) -> str:
        return f"Choose: pay(amount=...) with a whole number from 0 to {self.max_pay}."

    @tool
    def pay(self, amount: int) -> str:
        """Pay towards this round's runway; all airlines pay at the same time.

        Args:
            amount: a whole number from 0 to the cost of the full runway.
        """
        if not 0 <= amount <= self.max_pay:
            raise ToolError(f"the amount must be a whole number from 0 to {self.max_pay}, not {amount}")
        self.submit(amount)
        return f"Your payment for round {self.round}: {amount}."

    def payoff(self, seat: str, own: int, total: int) -> float:
        served = self.built(total) >= self.need[seat]
        return float((self.value[seat] if served else 0) - own)

    def compute_payoffs(self, played: dict[str, Move]) -> tuple[dict[str, float], dict[str, Any]]:
        total = sum(int(m) for m in played.values())
        payoffs = {s: self.payoff(s, int(m), total) for s, m in played.items()}
        return payoffs, {"total": total, "level": self.built(total)}

    def counterfactual(self, seat: str, rnd: Round, move: Move) -> float:
        others = int(rnd.info["total"]) - int(rnd.played[seat])
        return self.payoff(seat, int(move), others + int(move))

    def action_grid(self, seat: str) -> list[Move]:
        return list(range(self.max_pay + 1))

    def cooperation(self, seat: str, move: Move) -> float:
        return min(1.0, int(move) / self.share[seat])

    def announce(self, rnd: Round) -> None:
        pays = ", ".join(f"{s} {rnd.played[s]}" for s in self.agents)
        level = int(rnd.info["level"])
        self.tell(
            f"Round {rnd.number} result: payments {pays} (total {rnd.info['total']}). The runway reached "
            f"{self.level_name(level)}."
        )
        for s in rnd.alive:
            met = "met" if level >= self.need[s] else "not met"
            self.tell(
                f"Private: your need was {met}; your payoff this round is {fmt(rnd.payoffs[s])} (your total: "
                f"{fmt(self.scores[s])}).",
                to=s,
            )

    def final_summary(self) -> None:
        for s in self.alive():
            self.tell(f"Private: your final total is {fmt(self.scores[s])}.", to=s)

    def best_welfare(self) -> float:
        """The most a round can be worth to all airlines together (build to the best level, pay its cost)."""
        best = 0.0
        for lv in range(1, self.levels + 1):
            gain = sum(v for s, v in self.value.items() if self.need[s] <= lv) - self.cumulative[lv - 1]
            best = max(best, float(gain))
        return best

    def family_result(self) -> dict[str, Any]:
        served = [1.0 if int(r.info["level"]) >= self.need[s] else 0.0 for r in self.history for s in r.alive]
        welfare = sum(sum(r.payoffs.values()) for r in self.history)
        top = self.best_welfare() * len(self.history)
        return {
            "served_rate": round(sum(served) / len(served), 6) if served else 0.0,
            "efficiency": round(welfare / top, 6) if top else 0.0,
            "levels_built": [int(r.info["level"]) for r in self.history],
        }
