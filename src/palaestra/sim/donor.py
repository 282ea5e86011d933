"""The donor game with strategy inheritance across generations (Cultural Evolution of Cooperation
among LLM Agents, Vallinder & Hughes 2024), for a population of any size.

Each round every agent is a donor once and a recipient once (a random cycle through the population):
a donor who gives passes ``fraction`` of its resources, which the recipient gets ``multiplier``
times. Donors see the recipient's reputation (did it give the last time it was a donor?) and their
own wealth. Every ``generation`` rounds the poorer half adopts the strategy (archetype) of a random
agent of the richer half (with ``mutation`` a random one), and everyone starts again with
``initial`` resources.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from palaestra.errors import UsageError
from palaestra.sim.base import Array, Decision, Simulation, State, bucket, share

REPUTATIONS = (
    "has not been a donor yet",
    "refused to give the last time it was a donor",
    "gave the last time it was a donor",
)
WEALTH = (
    "less than half the starting resources",
    "about the starting resources",
    "more than twice the starting resources",
)
GIVE, KEEP = 0, 1


@dataclass(slots=True)
class DonorGame(Simulation):
    fraction: float = 0.5
    multiplier: float = 2.0
    generation: int = 5
    mutation: float = 0.02
    initial: float = 10.0

    name: ClassVar[str] = "donor"
    description: ClassVar[str] = (
        "the donor game: a donor may give part of its resources to a recipient, who receives twice "
        "what was given; strategies that end richer are copied by the next generation."
    )
    archetypes: ClassVar[tuple[str, ...]] = ("generous", "reciprocator", "cautious", "selfish")
    personas: ClassVar[dict[str, str]] = {
        "generous": "You help others whatever they did before; cooperation pays off for everyone.",
        "reciprocator": "You help those who helped others and refuse those who did not.",
        "cautious": "You protect your own resources first and help only when you can afford it.",
        "selfish": "You keep what you have unless giving clearly pays off for you.",
    }
    situations: ClassVar[tuple[str, ...]] = tuple(
        f"the recipient {rep}; you have {w}." for rep in REPUTATIONS for w in WEALTH
    )
    decision: ClassVar[Decision] = Decision(
        choices=("give", "keep"),
        default="keep",
        description="Do you give half of your resources to the recipient (give) or keep them (keep)?",
    )
    metrics: ClassVar[tuple[str, ...]] = (
        "cooperation_rate",
        "mean_resources",
        *(f"share_{a}" for a in ("generous", "reciprocator", "cautious", "selfish")),
    )

    def check(self) -> None:
        if (
            not 0 <= self.fraction <= 1
            or self.multiplier < 0
            or self.generation < 1
            or not 0 <= self.mutation <= 1
        ):
            raise UsageError(
                "donor needs 0 <= fraction <= 1, multiplier >= 0, generation >= 1, 0 <= mutation <= 1"
            )

    def init(self, n: int, rng: np.random.Generator) -> State:
        return {
            "archetype": rng.integers(0, len(self.archetypes), n, dtype=np.int8),
            "resources": np.full(n, self.initial, dtype=np.float32),
            "reputation": np.zeros(n, dtype=np.int8),
            "recipient": np.zeros(n, dtype=np.int32),
        }

    def prepare(self, state: State, rng: np.random.Generator, round: int) -> None:
        """A random cycle: each agent gives to the next in a shuffled order (never to itself when n > 1)."""
        order = rng.permutation(len(state["archetype"])).astype(np.int32)
        state["recipient"][order] = np.roll(order, -1)

    def situation(self, state: State, lo: int, hi: int) -> Array:
        rep = state["reputation"][state["recipient"][lo:hi]].astype(np.int16)
        wealth = bucket(state["resources"][lo:hi], (self.initial * 0.5, self.initial * 2.0))
        return rep * len(WEALTH) + wealth

    def detail(self, state: State, i: int) -> str:
        j = int(state["recipient"][i])
        return (
            f"you have {state['resources'][i]:.2f} resources (the start was {self.initial:g}); "
            f"the recipient has {state['resources'][j]:.2f} and {REPUTATIONS[int(state['reputation'][j])]}."
        )

    def act(self, state: State, choices: Array, lo: int, hi: int) -> dict[str, Array]:
        res = state["resources"][lo:hi]
        return {"gift": np.where(choices == GIVE, res * np.float32(self.fraction), np.float32(0))}

    def apply(
        self, state: State, parts: dict[str, Array], choices: Array, rng: np.random.Generator, round: int
    ) -> dict[str, float]:
        gift = parts["gift"]
        res = state["resources"]
        res -= gift
        res[state["recipient"]] += gift * np.float32(self.multiplier)  # recipients are distinct
        gave = choices == GIVE
        state["reputation"][:] = np.where(gave, 2, 1)
        metrics = {"cooperation_rate": share(gave), "mean_resources": float(res.mean(dtype=np.float64))}
        if (round + 1) % self.generation == 0:
            self.next_generation(state, rng)
        counts = np.bincount(state["archetype"], minlength=len(self.archetypes)) / len(res)
        metrics.update({f"share_{a}": float(c) for a, c in zip(self.archetypes, counts, strict=True)})
        return metrics

    def next_generation(self, state: State, rng: np.random.Generator) -> None:
        """The poorer half copies the strategy of a random agent of the richer half (mutating with
        ``mutation``); resources and reputations start again."""
        arch, res = state["archetype"], state["resources"]
        n = len(res)
        half = n // 2
        if half:
            ranked = np.argpartition(res, half)
            poor, rich = ranked[:half], ranked[half:]
            arch[poor] = arch[rich[rng.integers(0, rich.size, poor.size)]]
            mutate = poor[rng.random(poor.size) < self.mutation]
            arch[mutate] = rng.integers(0, len(self.archetypes), mutate.size, dtype=np.int8)
        res[:] = self.initial
        state["reputation"][:] = 0
