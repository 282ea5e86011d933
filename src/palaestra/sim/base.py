"""What a simulation is: agents' state as numpy arrays, archetypes, discretised situations, one
decision per agent and round, and the update that the decisions drive.

The engine (:mod:`palaestra.sim.engine`) asks the model; a :class:`Simulation` never does. Its work
per round is split so that the part over the whole population can run in shards (in this process
or as Ray tasks) and gives the same result however it is split:

1. :meth:`Simulation.prepare` (driver, may draw random numbers): who meets whom, what is shown;
2. :meth:`Simulation.situation` (per shard, pure): each agent's situation bucket;
3. the engine turns (archetype, situation) into a choice per agent, asking the model;
4. :meth:`Simulation.act` (per shard, pure): what each agent's choice does to its own rows;
5. :meth:`Simulation.apply` (driver, may draw random numbers): the shards' parts merged, what
   crosses agents (gifts to partners, selection of a generation), and the round's metrics.
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, TypeAlias

import numpy as np
import numpy.typing as npt

from palaestra.errors import UsageError

Array: TypeAlias = npt.NDArray[Any]
State: TypeAlias = dict[str, Array]
"""An agent-indexed population: every array's first axis is the agent."""

IDLE = -1
"""The situation of an agent that does not decide this round (it left): no model call, default choice."""


@dataclass(frozen=True, slots=True)
class Decision:
    """What every agent chooses among each round, as a tool the model calls (or a word it answers)."""

    choices: tuple[str, ...]
    default: str
    """Taken when the reply names no valid choice (counted as ``invalid``) or the call failed."""
    description: str
    tool: str = "decide"

    def __post_init__(self) -> None:
        if self.default not in self.choices:
            raise ValueError(f"default {self.default!r} is not one of {self.choices}")

    @property
    def default_index(self) -> int:
        return self.choices.index(self.default)


class Simulation(ABC):
    """A population that evolves over rounds, with one decision per agent and round.

    Subclasses are dataclasses whose fields are the simulation's parameters (``--param k=v``).
    """

    name: ClassVar[str]
    description: ClassVar[str]
    archetypes: ClassVar[tuple[str, ...]]
    personas: ClassVar[Mapping[str, str]]
    """Each archetype's persona, the first line of its prompts."""
    situations: ClassVar[tuple[str, ...]]
    """Each situation bucket as the prompt describes it."""
    decision: ClassVar[Decision]
    metrics: ClassVar[tuple[str, ...]]
    """The per-round metrics :meth:`apply` returns, headline first."""

    @abstractmethod
    def init(self, n: int, rng: np.random.Generator) -> State:
        """The population at round 0 (an ``archetype`` int8 array among its arrays)."""

    def prepare(self, state: State, rng: np.random.Generator, round: int) -> None:
        """Draw what the round needs before agents decide (partners, what is shown), into ``state``."""
        return

    @abstractmethod
    def situation(self, state: State, lo: int, hi: int) -> Array:
        """The situation index (or :data:`IDLE`) of agents ``lo:hi``; reads ``state`` only."""

    @abstractmethod
    def detail(self, state: State, i: int) -> str:
        """Agent ``i``'s exact state in words: what an individual agent sees beyond its bucket."""

    @abstractmethod
    def act(self, state: State, choices: Array, lo: int, hi: int) -> dict[str, Array]:
        """What the choices of agents ``lo:hi`` (indices into ``decision.choices``) do to their own
        rows, as arrays over ``lo:hi``; reads ``state`` only."""

    @abstractmethod
    def apply(
        self, state: State, parts: dict[str, Array], choices: Array, rng: np.random.Generator, round: int
    ) -> dict[str, float]:
        """Merge the parts :meth:`act` returned (concatenated over all agents) into ``state``, do
        what crosses agents, and return the round's metrics (:attr:`metrics`)."""

    # ---- prompts -------------------------------------------------------------------------------
    def prompt(self, archetype: int, situation: int, detail: str | None = None) -> str:
        """What the model reads to decide for ``archetype`` in ``situation`` (plus one agent's
        exact state in individual mode). A model that reads only the first three lines decides the
        same in both modes."""
        lines = [
            f"Persona: {self.personas[self.archetypes[archetype]]}",
            f"Situation: {self.situations[situation]}",
            f"Question: {self.decision.description}",
        ]
        if detail is not None:
            lines.append(f"Exact state: {detail}")
        return "\n".join(lines)

    def system_prompt(self) -> str:
        options = ", ".join(self.decision.choices)
        return (
            f"You decide for an agent in a simulation: {self.description} "
            f"Call the {self.decision.tool} tool with one choice ({options}), or answer with the choice alone."
        )

    # ---- parameters ----------------------------------------------------------------------------
    def params(self) -> dict[str, Any]:
        return dataclasses.asdict(self)  # type: ignore[call-overload,no-any-return]

    @classmethod
    def with_params(cls, params: Mapping[str, str]) -> Simulation:
        """An instance with ``--param`` values (text) cast to each field's type; one line for a bad one."""
        fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        kwargs: dict[str, Any] = {}
        for key, text in params.items():
            if key not in fields:
                raise UsageError(f"sim {cls.name} has no parameter {key!r}; it has: {', '.join(fields)}")
            default: Any = fields[key].default
            try:
                kwargs[key] = type(default)(text)
            except ValueError:
                raise UsageError(
                    f"--param {key}={text!r}: expected a {type(default).__name__}, e.g. {default!r}"
                ) from None
        sim = cls(**kwargs)
        sim.check()
        return sim

    def check(self) -> None:
        """Refuse parameters out of range (one line)."""
        return


def share(mask: Array) -> float:
    """The share of true values (0 for an empty array)."""
    return float(mask.mean()) if mask.size else 0.0


def bucket(values: Array, edges: tuple[float, ...]) -> Array:
    """The bucket index (0 .. len(edges)) of each value: ``edges`` are the upper bounds, exclusive."""
    return np.searchsorted(np.asarray(edges, dtype=values.dtype), values, side="right").astype(np.int16)
