"""Typed rows of the store's reads: runs, episodes (with or without their steps), steps, model
calls, matches and their seats, and a run's summary.

Each holds exactly the stored values (``success`` is the stored 0 or 1), and ``as_dict()`` gives
the dict the store has always returned for it, keys in column order, so JSON made from either is
the same (``--json``, exports and the stored summaries).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from palaestra.records import MatchRow, SeatRow, fields_dict, row_from_dict

__all__ = [
    "EPISODE_COLS",
    "SEAT_COLS",
    "CallRow",
    "EnvSummary",
    "EpisodeDetail",
    "EpisodeRow",
    "MatchRow",
    "MessageJSON",
    "ModelCallRow",
    "RunListRow",
    "RunRow",
    "RunSummary",
    "SeatDetail",
    "SeatRow",
    "StepRow",
    "fields_dict",
]


@dataclass(frozen=True, slots=True)
class RunRow:
    """A run: its id, when it was created and last updated, its status, config and last summary."""

    id: str
    created: float
    updated: float
    status: str
    config: dict[str, Any]
    summary: dict[str, Any] | None

    def as_dict(self) -> dict[str, Any]:
        return fields_dict(self)


@dataclass(frozen=True, slots=True)
class RunListRow:
    """A run as ``palaestra runs`` lists it: its config and its episodes' counts."""

    id: str
    created: float
    status: str
    config: dict[str, Any]
    episodes: int
    success_rate: float
    errors: int

    def as_dict(self) -> dict[str, Any]:
        return fields_dict(self)


@dataclass(frozen=True, slots=True)
class EpisodeRow:
    """An episode's row (without its task, steps, model calls or final observation)."""

    id: str
    env: str
    task_id: str
    split: str
    difficulty: int
    sample: int
    agent: str
    model: str
    status: str
    reward: float
    success: int
    progress: float
    steps: int
    invalid_actions: int
    input_tokens: int
    output_tokens: int
    model_calls: int
    model_latency: float
    cost: float | None
    wall: float
    error: str | None

    def as_dict(self) -> dict[str, Any]:
        return fields_dict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> EpisodeRow:
        """A row from its dict; missing columns take empty values (rows built by hand in tests)."""
        return row_from_dict(cls, d)


EPISODE_COLS = ", ".join(f.name for f in fields(EpisodeRow))
"""The episodes columns an :class:`EpisodeRow` holds, in its order."""


MessageJSON = dict[str, Any]
"""A stored chat message as JSON (``palaestra.Message.model_dump()``'s shape). Reads keep messages
as JSON rather than :class:`palaestra.Message` objects: every consumer (exports, the viewer, the
report, ``show``) wants JSON or text back, and validating every message through pydantic makes an
episode read take about 1.65x as long (10,000 steps: 0.135s typed, 0.223s validated; run
``bench/typed_reads.py``), before the dumping back to JSON those consumers would then need."""


@dataclass(frozen=True, slots=True)
class StepRow:
    """One stored step: what the acting seat was told, what it did, and what it got for it."""

    index: int
    seat: str
    observation: list[MessageJSON]
    action: MessageJSON
    reward: float
    info: dict[str, Any]
    tools: list[dict[str, Any]] | None
    trace: dict[str, Any] | None

    def as_dict(self) -> dict[str, Any]:
        return fields_dict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> StepRow:
        """A step from its dict (missing entries empty: the shape of steps built by hand)."""
        return cls(
            index=int(d.get("index", 0)),
            seat=str(d.get("seat", "")),
            observation=list(d.get("observation") or []),
            action=dict(d.get("action") or {}),
            reward=float(d.get("reward", 0.0)),
            info=dict(d.get("info") or {}),
            tools=d.get("tools"),
            trace=d.get("trace"),
        )


@dataclass(frozen=True, slots=True)
class CallRow:
    """A model call as an episode read gives it: its usage, latency and error. ``seat`` is the
    calling seat of a match's call (``None`` outside :meth:`~palaestra.store.Store.match_detail`,
    and then absent from :meth:`as_dict`)."""

    input_tokens: int
    output_tokens: int
    latency: float
    retries: int
    cost: float | None
    error: str | None
    ttft: float | None
    seat: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return fields_dict(self, omit_if_none=("seat",))


@dataclass(frozen=True, slots=True)
class ModelCallRow:
    """Every stored field of a model call, token ids and logprobs decoded (``None`` where the model
    server did not return them)."""

    idx: int
    input_tokens: int
    output_tokens: int
    latency: float
    retries: int
    cost: float | None
    finish_reason: str | None
    token_ids: list[int] | None
    logprobs: list[Any] | None
    prompt_token_ids: list[int] | None
    error: str | None
    ttft: float | None

    def as_dict(self) -> dict[str, Any]:
        return fields_dict(self)


SEAT_COLS = ", ".join(f.name for f in fields(SeatRow))
"""The seats columns a :class:`SeatRow` holds, in its order."""


@dataclass(frozen=True, slots=True)
class SeatDetail(SeatRow):
    """A seat with the messages it got after its last move."""

    final: list[MessageJSON]


@dataclass(frozen=True, slots=True)
class EpisodeDetail:
    """An episode with its task, steps, model calls and final observation; a match's also has its
    ``result`` and ``seats`` (``seats`` is ``None`` for an episode read as a single-agent one).

    ``row.steps`` is the stored step count; ``steps`` the steps themselves (all seats', seat by seat).
    """

    row: EpisodeRow
    task: dict[str, Any]
    final: list[MessageJSON]
    steps: list[StepRow]
    calls: list[CallRow]
    result: dict[str, Any] | None = None
    seats: list[SeatDetail] | None = None

    def as_dict(self) -> dict[str, Any]:
        """The dict the store's ``episode`` (and ``match``) reads return: the row's columns, with
        ``steps`` holding the steps, then ``task``, ``final``, ``calls`` (and ``result``, ``seats``)."""
        out = self.row.as_dict()
        out["steps"] = [s.as_dict() for s in self.steps]
        out |= {"task": self.task, "final": self.final, "calls": [c.as_dict() for c in self.calls]}
        if self.seats is not None:
            out |= {"result": self.result, "seats": [s.as_dict() for s in self.seats]}
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> EpisodeDetail:
        """An episode from its dict (``as_dict``'s shape). Missing columns take empty values, so
        episodes built by hand (tests, fixtures) need only what they are about."""
        steps = d.get("steps")
        step_list = steps if isinstance(steps, list) else []
        row = EpisodeRow.from_dict({**d, "steps": len(step_list) if isinstance(steps, list) else steps or 0})
        return cls(
            row=row,
            task=dict(d.get("task") or {}),
            final=list(d.get("final") or []),
            steps=[StepRow.from_dict(s) for s in step_list],
            calls=[row_from_dict(CallRow, c) for c in d.get("calls") or []],
            result=d.get("result"),
            seats=None,
        )


@dataclass(frozen=True, slots=True)
class EnvSummary:
    """Aggregates of a run's episodes on one environment."""

    episodes: int
    success_rate: float
    mean_reward: float
    mean_progress: float
    invalid_action_rate: float
    steps: int
    errors: int
    timeouts: int
    truncated: int
    input_tokens: int
    output_tokens: int
    model_calls: int
    cost: float | None
    episode_wall_s: float

    def as_dict(self) -> dict[str, Any]:
        return fields_dict(self)


@dataclass(frozen=True, slots=True)
class RunSummary:
    """Aggregates of a run, overall and per environment (``envs``, by name)."""

    run_id: str
    episodes: int
    success_rate: float
    mean_reward: float
    mean_progress: float
    invalid_action_rate: float
    errors: int
    timeouts: int
    input_tokens: int
    output_tokens: int
    model_calls: int
    envs: dict[str, EnvSummary]

    def as_dict(self) -> dict[str, Any]:
        """The dict stored as a run's summary and printed by ``show --json``."""
        out = fields_dict(self)
        out["envs"] = {k: v.as_dict() for k, v in self.envs.items()}
        return out
