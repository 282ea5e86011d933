"""Opinion spread on a seeded sparse social graph.

Each agent holds an opinion in [-1, 1] and follows ``degree`` others: half its neighbours on a ring
(people close by), half drawn at random (long-range ties, as in a small world). Each round it sees
its own opinion and the mean of those it follows, and moves closer to them, holds, or moves away,
by ``rate`` of the gap.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from palaestra.errors import UsageError
from palaestra.sim.base import Array, Decision, Simulation, State, bucket, share

SCALE = ("strongly against", "against", "undecided", "in favour", "strongly in favour")
EDGES = (-0.6, -0.2, 0.2, 0.6)
STEP = np.array([1.0, 0.0, -1.0], dtype=np.float32)
"""The direction of each choice (move_closer, hold, move_away) along the gap to the neighbours."""


def small_world(n: int, degree: int, rng: np.random.Generator) -> Array:
    """``degree`` neighbours per agent (int32, shape n x degree): the nearest on a ring, half of them,
    and random others for the rest; never the agent itself when n > degree. Built a column at a
    time, so a million agents need no temporary array larger than one column."""
    ring = degree // 2
    offsets = [o for k in range(1, ring // 2 + 2) for o in (k, -k)][:ring]
    me = np.arange(n, dtype=np.int64)
    out = np.empty((n, degree), dtype=np.int32)
    for j, offset in enumerate(offsets):
        out[:, j] = (me + offset) % n
    for j in range(ring, degree):
        out[:, j] = (me + rng.integers(1, max(n, 2), n)) % n  # an offset, never 0
    return out


@dataclass(slots=True)
class OpinionSpread(Simulation):
    degree: int = 8
    rate: float = 0.3

    name: ClassVar[str] = "opinion"
    description: ClassVar[str] = (
        "opinion spread on a social network: each agent sees the average opinion of the people it "
        "follows and may move its own opinion closer to theirs, hold it, or move away."
    )
    archetypes: ClassVar[tuple[str, ...]] = ("conformist", "stubborn", "contrarian")
    personas: ClassVar[dict[str, str]] = {
        "conformist": "You like to agree with the people around you.",
        "stubborn": "You rarely change your mind, whatever others think.",
        "contrarian": "You distrust whatever most people around you believe.",
    }
    situations: ClassVar[tuple[str, ...]] = tuple(
        f"you are {own}; the people you follow are, on average, {theirs}."
        for own in SCALE
        for theirs in SCALE
    )
    decision: ClassVar[Decision] = Decision(
        choices=("move_closer", "hold", "move_away"),
        default="hold",
        description="Do you move your opinion closer to theirs (move_closer), keep it (hold), or move away from theirs (move_away)?",
    )
    metrics: ClassVar[tuple[str, ...]] = ("polarisation", "mean_opinion", "extreme_share", "disagreement")

    def check(self) -> None:
        if self.degree < 2 or not 0 <= self.rate <= 1:
            raise UsageError("opinion needs degree >= 2 and 0 <= rate <= 1")

    def init(self, n: int, rng: np.random.Generator) -> State:
        return {
            "archetype": rng.integers(0, len(self.archetypes), n, dtype=np.int8),
            "opinion": rng.uniform(-1.0, 1.0, n).astype(np.float32),
            "follows": small_world(n, self.degree, rng),
        }

    def _neighbour_mean(self, state: State, lo: int, hi: int) -> Array:
        return np.asarray(state["opinion"][state["follows"][lo:hi]].mean(axis=1, dtype=np.float32))

    def situation(self, state: State, lo: int, hi: int) -> Array:
        own = bucket(state["opinion"][lo:hi], EDGES)
        return own * len(SCALE) + bucket(self._neighbour_mean(state, lo, hi), EDGES)

    def detail(self, state: State, i: int) -> str:
        theirs = float(self._neighbour_mean(state, i, i + 1)[0])
        return f"your opinion is {state['opinion'][i]:+.2f} on a scale from -1 to +1; those you follow average {theirs:+.2f}."

    def act(self, state: State, choices: Array, lo: int, hi: int) -> dict[str, Array]:
        own = state["opinion"][lo:hi]
        gap = self._neighbour_mean(state, lo, hi) - own
        moved = own + np.float32(self.rate) * STEP[choices] * gap
        return {"opinion": np.clip(moved, -1.0, 1.0).astype(np.float32), "gap": np.abs(gap)}

    def apply(
        self, state: State, parts: dict[str, Array], choices: Array, rng: np.random.Generator, round: int
    ) -> dict[str, float]:
        op = state["opinion"]
        op[:] = parts["opinion"]
        return {
            "polarisation": float(op.var(dtype=np.float64)),
            "mean_opinion": float(op.mean(dtype=np.float64)),
            "extreme_share": share(np.abs(op) > 0.6),
            "disagreement": float(parts["gap"].mean(dtype=np.float64)),
        }
