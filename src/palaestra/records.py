"""What happened: the records of episodes and matches that the runner fills and the store keeps.

These are the contract between whoever plays (the runner, a worker process, a bridge) and whoever
keeps or reads the result (the store, exports, the viewer), so they live below all of them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any, Literal, Protocol, TypeVar, runtime_checkable

from palaestra.types import Message, Task, ToolSpec, Usage

Status = Literal["done", "truncated", "timeout", "error"]

MODEL_ERROR_PREFIX = "model: "
"""Starts the ``error`` of an episode that failed because the model server did (after retries): a
resumed run repeats those episodes, never those that failed on the agent's or env's own doing."""
LOOP_PREFIX = "loop: "
"""Starts the ``error`` (the reason) of an episode the runner stopped because the agent was
repeating itself (``--stop-on-loop``); its status is ``truncated``."""
CONTEXT_PREFIX = "context: "
"""Starts the ``error`` (the reason) of an episode truncated because its conversation outgrew the
model's context window."""


@dataclass(slots=True)
class StepRecord:
    index: int
    observation: list[Message]
    action: Message
    reward: float
    info: dict[str, Any]
    tools: list[ToolSpec] | None = None
    """Set on the first step and whenever the tool list changed."""
    trace: dict[str, Any] | None = None
    """What the agent's strategy did to choose this action (its search tree, reflections, memory
    reads and writes, which team member said what): the agent's ``pop_trace()`` after ``act``."""


@dataclass(slots=True)
class CallRecord:
    input_tokens: int
    output_tokens: int
    latency: float
    retries: int
    cost: float | None
    finish_reason: str | None
    token_ids: list[int] | None = None
    logprobs: list[float] | None = None
    error: str | None = None
    prompt_token_ids: list[int] | None = None
    ttft: float | None = None
    """Seconds to the first token of a streamed reply."""


@dataclass(slots=True)
class EpisodeRecord:
    id: str
    task: Task
    agent: str
    model: str
    sample: int = 0
    status: Status = "done"
    reward: float = 0.0
    success: bool = False
    progress: float = 0.0
    invalid_actions: int = 0
    usage: Usage = field(default_factory=Usage)
    model_latency: float = 0.0
    cost: float | None = None
    wall: float = 0.0
    error: str | None = None
    steps: list[StepRecord] = field(default_factory=list)
    calls: list[CallRecord] = field(default_factory=list)
    final: list[Message] = field(default_factory=list)
    """The last observation's messages (what the env said after the final action)."""

    @property
    def n_steps(self) -> int:
        return len(self.steps)


MatchStatus = Literal["done", "truncated", "error"]


@dataclass(slots=True)
class SeatRecord:
    seat: str
    player: str
    model: str = ""
    score: float = 0.0
    won: float = 0.0
    forfeit: str | None = None
    """The reason of the seat's first forfeit (a game may keep a forfeiting seat in play)."""
    forfeits: int = 0
    invalid_actions: int = 0
    steps: list[StepRecord] = field(default_factory=list)
    calls: list[CallRecord] = field(default_factory=list)
    final: list[Message] = field(default_factory=list)
    """Messages the seat got after its last move."""

    @property
    def usage(self) -> Usage:
        return Usage(
            input_tokens=sum(c.input_tokens for c in self.calls),
            output_tokens=sum(c.output_tokens for c in self.calls),
        )


@dataclass(slots=True)
class MatchRecord:
    id: str
    task: Task
    round: int = 0
    """The tournament round (0 for plain matches)."""
    status: MatchStatus = "done"
    rounds: int = 0
    """How many times the game stepped."""
    seats: dict[str, SeatRecord] = field(default_factory=dict)
    """Every seat, in the game's seat order."""
    result: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    wall: float = 0.0

    @property
    def lineup(self) -> str:
        """The canonical players string: ``seat=player`` for every seat, in seat order."""
        return " ".join(f"{s.seat}={s.player}" for s in self.seats.values())

    @property
    def models(self) -> str:
        return ",".join(sorted({s.model for s in self.seats.values() if s.model}))

    @property
    def scores(self) -> dict[str, float]:
        return {s.seat: s.score for s in self.seats.values()}


def winners(result: Mapping[str, Any], scores: Mapping[str, float]) -> dict[str, float]:
    """Each seat's share of the win.

    The seats a game names in ``result["winners"]`` (a team) or ``result["winner"]`` win, 1 each,
    when they are seats. Otherwise (no winner named, ``None``, or a name that is no seat) the seats
    with the top score share the win: ``1/t`` each for ``t`` tied seats, ``1/k`` each when all ``k``
    seats tie.
    """
    seats = list(scores)
    if not seats:
        return {}
    named = result.get("winners", result.get("winner"))
    names = [named] if isinstance(named, str) else named if isinstance(named, list | tuple) else []
    if names and all(isinstance(n, str) and n in scores for n in names):
        return {s: 1.0 if s in names else 0.0 for s in seats}
    top = max(scores.values())
    tied = [s for s in seats if scores[s] == top]
    return {s: 1.0 / len(tied) if s in tied else 0.0 for s in seats}


def placings(won: Mapping[str, float], scores: Mapping[str, float]) -> dict[str, int]:
    """Each seat's place (0 = first, ties share a place): by share of the win, then by score."""
    keys = {s: (-won.get(s, 0.0), -scores[s]) for s in scores}
    order = sorted(set(keys.values()))
    return {s: order.index(k) for s, k in keys.items()}


def fields_dict(row: Any, *, omit_if_none: tuple[str, ...] = ()) -> dict[str, Any]:
    """A row's fields as a dict, in field order; those in ``omit_if_none`` left out when ``None``
    (fields that only some reads have)."""
    return {
        f.name: value
        for f in fields(row)
        if (value := getattr(row, f.name)) is not None or f.name not in omit_if_none
    }


_EMPTY: dict[str, Any] = {"str": "", "int": 0, "float": 0.0}
"""What :func:`row_from_dict` puts in a field it is not given, by the field's type."""

R = TypeVar("R")


def row_from_dict(cls: type[R], d: Mapping[str, Any]) -> R:
    """A flat row (a dataclass of str, int, float and optional fields) from a dict of its shape;
    missing fields take empty values (``""``, ``0``, ``None``): rows built by hand in tests."""
    empty: dict[str, Any] = {f.name: _EMPTY.get(str(f.type)) for f in fields(cls)}  # type: ignore[arg-type]
    return cls(**(empty | {k: v for k, v in d.items() if k in empty}))


# ---- what the runner reads back: the stored matches of a run (Swiss pairing, standings) ----------
@dataclass(frozen=True, slots=True)
class SeatRow:
    """A seat of a match: who played it and how it did."""

    seat: str
    idx: int
    player: str
    model: str
    score: float
    won: float
    forfeit: str | None
    steps: int
    invalid_actions: int
    model_calls: int
    input_tokens: int
    output_tokens: int

    def as_dict(self) -> dict[str, Any]:
        return fields_dict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> SeatRow:
        return row_from_dict(cls, d)


@dataclass(frozen=True, slots=True)
class MatchRow:
    """A match of a run as :meth:`~palaestra.store.Store.match_rows` lists it: the game, its round
    (the episode's ``sample``), its result and its seats (without steps)."""

    id: str
    game: str
    task_id: str
    difficulty: int
    round: int
    status: str
    wall: float
    error: str | None
    result: dict[str, Any]
    seats: list[SeatRow]

    def as_dict(self) -> dict[str, Any]:
        out = fields_dict(self)
        out["seats"] = [s.as_dict() for s in self.seats]
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> MatchRow:
        """A match from its dict (:meth:`as_dict`'s shape); missing entries empty."""
        seats = [SeatRow.from_dict(s) for s in d.get("seats") or []]
        return replace(row_from_dict(cls, {**d, "seats": seats}), result=d.get("result") or {}, seats=seats)


def match_rows(matches: Iterable[MatchRow | Mapping[str, Any]]) -> list[MatchRow]:
    """``matches`` as :class:`MatchRow`; dicts are read with :meth:`MatchRow.from_dict`."""
    return [MatchRow.from_dict(m) if isinstance(m, Mapping) else m for m in matches]


@runtime_checkable
class RunStore(Protocol):
    """Where the runner keeps runs: what it needs of a store, and all it may assume.

    :class:`palaestra.store.Store` (SQLite) is the one Palaestra ships; the runner depends on this
    contract only, so a worker or a bridge can hand its records to whatever single writer there is.
    """

    def create_run(self, run_id: str, config: dict[str, Any]) -> None: ...

    def set_run_status(self, run_id: str, status: str, summary: dict[str, Any] | None = None) -> None: ...

    def finished_episode_ids(self, run_id: str) -> set[str]: ...

    def write_episode(self, run_id: str, rec: EpisodeRecord) -> None: ...

    def write_match(self, run_id: str, rec: MatchRecord) -> None: ...

    def match_rows(self, run_id: str) -> list[MatchRow]: ...

    def summary(self, run_id: str) -> dict[str, Any]: ...


@dataclass(slots=True)
class MemoryEntry:
    """One thing a cross-episode strategy remembers: a step-level demonstration, a reflection, ...

    ``env``, ``split`` and ``task_id`` scope it: it is written with the split of the task that
    produced it, and a :class:`MemoryBank` hands back train-split entries only, so nothing learnt
    while running dev or test tasks ever reaches an agent.
    """

    env: str
    split: str
    task_id: str
    kind: str
    """What it is, e.g. ``"step"`` (an observation and the action that followed) or ``"reflection"``."""
    key: str
    """The text it is found by (an observation, a goal)."""
    value: str
    """What is recalled (an action, a reflection)."""
    meta: dict[str, Any] = field(default_factory=dict)
    """Anything else, JSON (who wrote it, the episode's reward)."""


@runtime_checkable
class MemoryBank(Protocol):
    """Where cross-episode strategies keep what they remember (:class:`palaestra.store.Store`
    implements it in its ``memories`` table; the runner hands the run's store to agents, see
    :func:`palaestra.agents.base.memory_bank`).

    ``recall`` returns only entries written on train-split tasks, newest first: whatever was written
    while running dev or test tasks is kept (for inspection) but never read back.
    """

    def remember(self, entries: Sequence[MemoryEntry]) -> None: ...

    def recall(
        self, env: str, kind: str, *, task_id: str | None = None, limit: int = 1000
    ) -> list[MemoryEntry]: ...


@runtime_checkable
class PoisonsMemory(Protocol):
    """An environment that models an attacker with write access to the agents' memory (AgentPoison):
    before each episode the runner writes ``attacker_memories(task)`` into the run's
    :class:`MemoryBank`, once (entries of a ``task_id`` already in the bank are not written again)."""

    def attacker_memories(self, task: Task) -> list[MemoryEntry]: ...
