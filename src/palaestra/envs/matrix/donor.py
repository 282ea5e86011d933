"""The donor game across generations (Vallinder & Hughes, "Cultural Evolution of Cooperation among
LLM Agents"): indirect reciprocity with public records, simplified to fixed seats (see README)."""

from __future__ import annotations

import random
from typing import Any, ClassVar, Literal

from palaestra import EnvSpec, tool

from .env import Move, RepeatedGame, Round, flips, fmt

# difficulty -> (players, generations, rounds per generation, noise)
LEVELS: dict[int, tuple[tuple[int, ...], int, int, float]] = {
    1: ((4,), 2, 4, 0.0),
    2: ((6,), 3, 4, 0.0),
    3: ((6, 8), 3, 5, 0.05),
}
TRACE = 3
"""How many of a donor's most recent decisions (in the current generation) its record shows."""
PAST = {"donate": "donated", "keep": "kept"}


def derangement(rng: random.Random, n: int) -> list[int]:
    """A random permutation with no fixed point: everybody gives to somebody else, and receives once."""
    while True:
        perm = list(range(n))
        rng.shuffle(perm)
        if all(perm[i] != i for i in range(n)):
            return perm


class DonorGame(RepeatedGame):
    spec = EnvSpec(
        name="matrix-donor",
        description=(
            "Donor game across generations: each round every player is the donor of a random recipient "
            "and decides whether to pay c so the recipient gets b > c; records of past decisions are "
            "public, and each generation ends with a public ranking."
        ),
        max_steps=60,
        metrics=("payoff", "cooperation_rate", "regret", "generation_rankings"),
        free_text=True,
        tags=("multi-agent", "game-theory", "indirect-reciprocity", "cultural-evolution"),
    )
    family = "donor"
    null_move: ClassVar[Move] = "keep"
    null_text = "keep"
    move_tool = ("decide", "action")

    def generate(self, rng: random.Random, difficulty: int) -> dict[str, Any]:
        sizes, generations, per_gen, noise = LEVELS[difficulty]
        n = rng.choice(sizes)
        cost = rng.randint(1, 3)
        rounds = generations * per_gen
        return {
            "players": n,
            "generations": generations,
            "rounds_per_generation": per_gen,
            "cost": cost,
            "benefit": cost * rng.choice((2, 3)),
            "pairings": [derangement(rng, n) for _ in range(rounds)],
            "rounds": rounds,
            "known_horizon": True,
            "continue_prob": None,
            "cap": rounds,
            "noise": noise,
            "flips": flips(rng, rounds, n, noise),
        }

    def init_family(self, params: dict[str, Any]) -> list[str]:
        seats = [f"p{i + 1}" for i in range(params["players"])]
        self.generations: int = params["generations"]
        self.per_gen: int = params["rounds_per_generation"]
        self.c: int = params["cost"]
        self.b: int = params["benefit"]
        self.pairings: list[dict[str, str]] = [
            {seats[i]: seats[j] for i, j in enumerate(perm)} for perm in params["pairings"]
        ]
        self.pairing: dict[str, str] = {}
        self.generation_payoffs: list[dict[str, float]] = []
        self.generation_rankings: list[list[str]] = []
        return seats

    def generation_of(self, number: int) -> int:
        return (number - 1) // self.per_gen + 1

    def family_rules(self, seat: str) -> str:
        n = len(self.agents)
        return (
            f"You play the donor game in a society of {n} players over {self.generations} generations of "
            f"{self.per_gen} rounds. Every round each player is the donor of one other player, drawn at "
            "random (everyone is also the recipient of exactly one donor). A donor either donates, which "
            f"costs the donor {self.c} and gives the recipient {self.b}, or keeps, which costs nothing and "
            "gives nothing.\n"
            "Records are public: every decision is announced to everyone, and at the start of each round "
            f"you see every player's record, its last {TRACE} decisions as a donor in the current "
            "generation.\n"
            "Generations: at the end of each generation the players are ranked by what they earned in it. "
            "In the cultural-evolution setting this game comes from, the top half would survive into the "
            "next generation and the bottom half be replaced by newcomers who learn from the survivors; "
            "here every player stays, the ranking is public, and records are wiped when a new generation "
            "starts. Your reward is your total over all generations."
        )

    def begin_round(self) -> None:
        self.pairing = self.pairings[self.round - 1]

    def record(self, seat: str) -> list[str]:
        """``seat``'s decisions as a donor so far in the current generation, as they took effect."""
        gen = self.generation_of(self.round)
        return [str(r.played[seat]) for r in self.history if self.generation_of(r.number) == gen]

    def round_header(self) -> str:
        gen = self.generation_of(self.round)
        within = self.round - (gen - 1) * self.per_gen
        pairs = ", ".join(f"{d} -> {r}" for d, r in self.pairing.items())
        records = "; ".join(
            f"{s}: {', '.join(PAST[m] for m in self.record(s)[-TRACE:]) or 'no decisions yet'}"
            for s in self.agents
        )
        return (
            f"Round {self.round} of {self.total_rounds} (generation {gen} of {self.generations}, round "
            f"{within} of {self.per_gen}). Donor -> recipient: {pairs}. Records (oldest first): {records}. "
            f"{self.move_hint()}"
        )

    def round_notes(self, seat: str) -> str:
        return f"This round you are the donor of {self.pairing[seat]}."

    def move_hint(self) -> str:
        return "Choose: decide(action='donate') or decide(action='keep')."

    @tool
    def decide(self, action: Literal["donate", "keep"]) -> str:
        """Decide whether to donate to this round's recipient; all donors decide at the same time.

        Args:
            action: "donate" (you pay the cost, your recipient gets the benefit) or "keep".
        """
        self.submit(action)
        return f"Your decision for round {self.round}: {action} (recipient {self.pairing[self.seat]})."

    def compute_payoffs(self, played: dict[str, Move]) -> tuple[dict[str, float], dict[str, Any]]:
        pay = {s: 0.0 for s in self.agents}
        for donor, recipient in self.pairing.items():
            if played[donor] == "donate":
                pay[donor] -= self.c
                pay[recipient] += self.b
        return pay, {"pairing": dict(self.pairing), "generation": self.generation_of(self.round)}

    def counterfactual(self, seat: str, rnd: Round, move: Move) -> float:
        received = rnd.payoffs[seat] + (self.c if rnd.played[seat] == "donate" else 0)
        return received - (self.c if move == "donate" else 0)

    def action_grid(self, seat: str) -> list[Move]:
        return ["donate", "keep"]

    def cooperation(self, seat: str, move: Move) -> float:
        return 1.0 if move == "donate" else 0.0

    def flip(self, move: Move) -> Move:
        return "keep" if move == "donate" else "donate"

    def announce(self, rnd: Round) -> None:
        pairing: dict[str, str] = rnd.info["pairing"]
        acts = ", ".join(f"{d} {PAST[str(rnd.played[d])]} ({d} -> {r})" for d, r in pairing.items())
        pays = ", ".join(f"{s} {fmt(rnd.payoffs[s])}" for s in self.agents)
        self.tell(f"Round {rnd.number} result: {acts}. Payoffs: {pays}. Totals: {self.totals_text()}.")
        gen = int(rnd.info["generation"])
        if rnd.number == gen * self.per_gen:
            self.close_generation(gen)

    def close_generation(self, gen: int) -> None:
        rounds = [r for r in self.history if r.info["generation"] == gen]
        earned = {s: sum(r.payoffs[s] for r in rounds if s in r.alive) for s in self.agents}
        order = self.ranking(earned)
        self.generation_payoffs.append({s: round(earned[s], 6) for s in self.agents})
        self.generation_rankings.append(order)
        top = order[: len(order) // 2]
        ranks = ", ".join(f"{i + 1}. {s} ({fmt(earned[s])})" for i, s in enumerate(order))
        nxt = (
            " Records are wiped: the next generation starts with clean records."
            if gen < self.generations
            else ""
        )
        self.tell(
            f"Generation {gen} is over. Ranking by payoff in this generation: {ranks}. The top half "
            f"({', '.join(top)}) would survive into the next generation.{nxt}"
        )

    def family_result(self) -> dict[str, Any]:
        return {
            "generation_payoffs": self.generation_payoffs,
            "generation_rankings": self.generation_rankings,
        }
