"""Typed rows of the store's most used reads: a run, and an episode without its steps.

Each holds exactly the stored values (``success`` is the stored 0 or 1), and ``as_dict()`` gives
the dict the store has always returned for it, keys in column order, so JSON made from either is
the same.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any


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
        return {f.name: getattr(self, f.name) for f in fields(self)}


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
        return {f.name: getattr(self, f.name) for f in fields(self)}


EPISODE_COLS = ", ".join(f.name for f in fields(EpisodeRow))
"""The episodes columns an :class:`EpisodeRow` holds, in its order."""
