"""Example episodes for the report: which ones to show, and each one turn by turn as plain data.

Everything here is text from the store (model outputs included); it is escaped where it is written
into HTML (the template autoescapes), never here.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from palaestra.store.rows import EpisodeDetail, EpisodeRow, StepRow

MAX_CHARS = 4000
"""Characters of one message shown; the rest is cut with a note (``palaestra show`` has it all)."""
MAX_TURNS = 40
"""Turns shown of one episode: the first and last half of this when there are more."""
MAX_PARAMS_CHARS = 1500

R = TypeVar("R", bound=EpisodeRow | Mapping[str, Any])


@dataclass(frozen=True, slots=True)
class CallView:
    name: str
    arguments: str
    error: str | None = None


@dataclass(frozen=True, slots=True)
class MessageView:
    role: str
    content: str
    cut: int = 0
    """Characters left out of ``content``."""
    name: str | None = None
    calls: tuple[CallView, ...] = ()


@dataclass(frozen=True, slots=True)
class TurnView:
    index: int
    observation: tuple[MessageView, ...]
    action: MessageView
    reward: float
    invalid: bool
    success: bool


@dataclass(slots=True)
class EpisodeView:
    anchor: str
    run_id: str
    run_index: int
    pick: str
    """Why it was picked: ``best`` or ``worst`` of its run on its environment, or ``example`` of its
    failure category."""
    row: EpisodeRow
    """The episode's row; ``steps`` counts the steps stored."""
    category: str
    detail: str
    tags: list[str]
    params: str = ""
    tools: list[str] = field(default_factory=list)
    head: list[TurnView] = field(default_factory=list)
    omitted: int = 0
    tail: list[TurnView] = field(default_factory=list)
    final: list[MessageView] = field(default_factory=list)
    error: str = ""

    @property
    def tokens(self) -> int:
        return self.row.input_tokens + self.row.output_tokens


def anchor(run_index: int, episode_id: str) -> str:
    """A stable HTML id for an episode of a run (episode ids hold slashes)."""
    slug = re.sub(r"[^A-Za-z0-9_-]+", "-", episode_id).strip("-")[:60]
    digest = hashlib.sha1(episode_id.encode()).hexdigest()[:6]
    return f"ep-{run_index}-{slug}-{digest}"


def _row(r: EpisodeRow | Mapping[str, Any]) -> EpisodeRow:
    return EpisodeRow.from_dict(r) if isinstance(r, Mapping) else r


def _rank(r: EpisodeRow) -> tuple[Any, ...]:
    """Higher is better: solved, then reward, then progress, then fewer steps."""
    return (bool(r.success), r.reward, r.progress, -r.steps)


def pick_examples(rows: Sequence[R], n: int) -> list[tuple[str, R]]:
    """Up to ``n`` episodes of one run on one environment: the best ``ceil(n/2)`` and the worst rest.

    Best: solved, highest reward and progress, fewest steps. Worst: unsolved, lowest reward and
    progress, most steps. An episode is picked once. ``rows`` are :class:`EpisodeRow` (or dicts
    of their shape); the picks are returned as given.
    """
    if n <= 0 or not rows:
        return []
    n_best = (n + 1) // 2
    typed = sorted(((_row(r), r) for r in rows), key=lambda p: p[0].id)  # ties go to the first id
    best = sorted(typed, key=lambda p: _rank(p[0]), reverse=True)[:n_best]
    taken = {t.id for t, _ in best}
    worst = [p for p in sorted(typed, key=lambda p: _rank(p[0])) if p[0].id not in taken][: n - len(best)]
    return [("best", r) for _, r in best] + [("worst", r) for _, r in worst]


def _cut(text: str, limit: int = MAX_CHARS) -> tuple[str, int]:
    return (text, 0) if len(text) <= limit else (text[:limit], len(text) - limit)


def _call(c: Mapping[str, Any]) -> CallView:
    if c.get("parse_error"):
        return CallView(str(c.get("name", "?")), str(c.get("raw_arguments") or ""), str(c["parse_error"]))
    args = c.get("arguments") or {}
    text = ", ".join(f"{k}={json.dumps(v, ensure_ascii=False, default=str)}" for k, v in args.items())
    return CallView(str(c.get("name", "?")), _cut(text, 500)[0])


def message_view(m: Mapping[str, Any]) -> MessageView:
    content, cut = _cut(str(m.get("content") or ""))
    calls = tuple(_call(c) for c in m.get("tool_calls") or [])
    return MessageView(str(m.get("role", "?")), content, cut, m.get("name"), calls)


def _turn(step: StepRow) -> TurnView:
    return TurnView(
        index=step.index,
        observation=tuple(message_view(m) for m in step.observation),
        action=message_view(step.action),
        reward=step.reward,
        invalid=bool(step.info.get("invalid_action")),
        success=bool(step.info.get("success")),
    )


def episode_view(
    ep: EpisodeDetail, *, run_id: str, run_index: int, pick: str, diagnosis: Mapping[str, Any]
) -> EpisodeView:
    """One stored episode (:meth:`Store.episode_detail`) as the report shows it."""
    steps = ep.steps
    params = json.dumps(ep.task.get("params", {}), ensure_ascii=False, sort_keys=True, default=str)
    view = EpisodeView(
        anchor=anchor(run_index, ep.row.id),
        run_id=run_id,
        run_index=run_index,
        pick=pick,
        row=replace(ep.row, steps=len(steps)),
        category=str(diagnosis.get("category", "")),
        detail=str(diagnosis.get("detail", "")),
        tags=sorted(diagnosis.get("tags", [])),
        params=_cut(params, MAX_PARAMS_CHARS)[0] + ("…" if len(params) > MAX_PARAMS_CHARS else ""),
        tools=[str(t.get("name")) for t in (steps[0].tools or [])] if steps else [],
        final=[message_view(m) for m in ep.final],
        error=ep.row.error or "",
    )
    turns = [_turn(s) for s in steps]
    if len(turns) > MAX_TURNS:
        half = MAX_TURNS // 2
        view.head, view.omitted, view.tail = turns[:half], len(turns) - 2 * half, turns[-half:]
    else:
        view.head = turns
    return view
