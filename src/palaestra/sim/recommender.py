"""Users of a recommender system (RecAgent-style): each round the recommender shows every active user
an item of the genre it has seen them click most (another one at random with ``explore``); the user
clicks, skips, or leaves the platform for good. A click teaches the recommender and pulls the user's
taste a little (``drift``) towards the genre.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from palaestra.errors import UsageError
from palaestra.sim.base import IDLE, Array, Decision, Simulation, State, bucket, share

GENRES = ("news", "sports", "music", "cooking", "travel", "science")
MATCH = ("a genre you rarely enjoy", "a genre you sometimes enjoy", "one of your favourite genres")
STREAK = ("for the first time in a while", "again, as in the last rounds", "yet again, round after round")
CLICK, SKIP, LEAVE = 0, 1, 2


@dataclass(slots=True)
class RecommenderUsers(Simulation):
    explore: float = 0.1
    drift: float = 0.05

    name: ClassVar[str] = "recommender"
    description: ClassVar[str] = (
        "users of a recommender system: each round a user is shown one item and may click it, skip "
        "it, or leave the platform for good."
    )
    archetypes: ClassVar[tuple[str, ...]] = ("explorer", "loyal", "casual")
    personas: ClassVar[dict[str, str]] = {
        "explorer": "You love discovering new things and get bored by repetition.",
        "loyal": "You know what you like and are happy to get more of it.",
        "casual": "You browse now and then and leave when nothing catches your eye.",
    }
    situations: ClassVar[tuple[str, ...]] = tuple(
        f"you are shown an item from {m}, {s}." for m in MATCH for s in STREAK
    )
    decision: ClassVar[Decision] = Decision(
        choices=("click", "skip", "leave"),
        default="skip",
        description="Do you open the item (click), pass on it (skip), or leave the platform (leave)?",
    )
    metrics: ClassVar[tuple[str, ...]] = ("click_through", "active_share", "repeat_share", "match")

    def check(self) -> None:
        if not 0 <= self.explore <= 1 or not 0 <= self.drift <= 1:
            raise UsageError("recommender needs 0 <= explore <= 1 and 0 <= drift <= 1")

    def init(self, n: int, rng: np.random.Generator) -> State:
        taste = rng.dirichlet(np.ones(len(GENRES)), n).astype(np.float32)
        return {
            "archetype": rng.integers(0, len(self.archetypes), n, dtype=np.int8),
            "taste": taste,
            "clicks": np.zeros((n, len(GENRES)), dtype=np.float32),
            "shown": np.full(n, -1, dtype=np.int8),
            "streak": np.zeros(n, dtype=np.int8),
            "active": np.ones(n, dtype=bool),
        }

    def prepare(self, state: State, rng: np.random.Generator, round: int) -> None:
        """The genre shown to each user: its most clicked (ties at random), or a random one."""
        n, g = state["clicks"].shape
        best = np.argmax(state["clicks"] + rng.random((n, g), dtype=np.float32) * np.float32(0.01), axis=1)
        explore = rng.random(n) < self.explore
        shown = np.where(explore, rng.integers(0, g, n), best).astype(np.int8)
        same = shown == state["shown"]
        state["streak"][:] = np.where(same, np.minimum(state["streak"], 100) + 1, 1)
        state["shown"][:] = shown

    def _match(self, state: State, lo: int, hi: int) -> Array:
        taste = state["taste"][lo:hi]
        return taste[np.arange(hi - lo), state["shown"][lo:hi]] * np.float32(len(GENRES))

    def situation(self, state: State, lo: int, hi: int) -> Array:
        sit = bucket(self._match(state, lo, hi), (0.7, 1.3)) * len(STREAK)
        sit += bucket(state["streak"][lo:hi].astype(np.float32), (2.0, 4.0))
        return np.where(state["active"][lo:hi], sit, IDLE).astype(np.int16)

    def detail(self, state: State, i: int) -> str:
        tastes = ", ".join(f"{g} {t:.0%}" for g, t in zip(GENRES, state["taste"][i], strict=True))
        shown = GENRES[int(state["shown"][i])]
        return f"the item is about {shown}; your tastes: {tastes}; {shown} was shown {int(state['streak'][i])} rounds in a row."

    def act(self, state: State, choices: Array, lo: int, hi: int) -> dict[str, Array]:
        active = state["active"][lo:hi]
        return {
            "clicked": active & (choices == CLICK),
            "left": active & (choices == LEAVE),
            "deciding": active.copy(),
            "match": self._match(state, lo, hi),
        }

    def apply(
        self, state: State, parts: dict[str, Array], choices: Array, rng: np.random.Generator, round: int
    ) -> dict[str, float]:
        deciding, clicked = parts["deciding"], parts["clicked"]
        who = np.flatnonzero(clicked)
        genre = state["shown"][who].astype(np.intp)
        state["clicks"][who, genre] += 1
        taste = state["taste"]
        taste[who, genre] += np.float32(self.drift)
        taste[who] /= taste[who].sum(axis=1, keepdims=True)
        state["active"] &= ~parts["left"]
        n_deciding = int(np.count_nonzero(deciding))
        return {
            "click_through": who.size / n_deciding if n_deciding else 0.0,
            "active_share": float(np.count_nonzero(state["active"]) / len(deciding)),
            "repeat_share": share(state["streak"][deciding] > 1),
            "match": float(parts["match"][deciding].mean(dtype=np.float64)) / len(GENRES)
            if n_deciding
            else 0.0,
        }
