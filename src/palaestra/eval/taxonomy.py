"""Why an episode ended the way it did: one category per episode, plus every tag that applies.

Categories, checked in this order (the first that applies is the episode's category):

* ``success`` — the task was solved;
* ``timeout`` — the wall-clock limit ended the episode;
* ``model_error`` — a model call failed for good (the runner's error starts with ``model:``);
* ``env_error`` — anything else raised (environment, agent, tool dispatch);
* ``wrong_answer`` — the episode ended (terminated) without success: the agent committed to a
  wrong answer or an irrecoverable state;
* ``invalid_actions`` — the step limit was reached and more than half the actions were invalid;
* ``loop`` — the step limit was reached while the agent repeated itself: the same action got the
  same answer ``repeats`` times in a row, or a short cycle of actions (period up to 4) did
  (:mod:`palaestra.loops`), or the runner stopped the episode on such a loop (``--stop-on-loop``);
* ``step_limit`` — the step limit was reached otherwise.

An action only counts as repeated when the environment's answer to it was also the same, so
walking down a corridor (the same ``move`` with a new position each time) is not a loop, while
bumping into the same wall is.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from palaestra.loops import LOOP_MAX_PERIOD, LOOP_REPEATS, Loop, exchange_key, find_loop
from palaestra.records import LOOP_PREFIX
from palaestra.store.rows import EpisodeDetail, EpisodeRow

CATEGORIES: tuple[str, ...] = (
    "success",
    "timeout",
    "model_error",
    "env_error",
    "wrong_answer",
    "invalid_actions",
    "loop",
    "step_limit",
)
FAILURES: tuple[str, ...] = CATEGORIES[1:]

INVALID_SHARE = 0.5
__all__ = [
    "CATEGORIES",
    "FAILURES",
    "LOOP_MAX_PERIOD",
    "LOOP_REPEATS",
    "Diagnosis",
    "classify",
    "exchanges",
    "find_loop",
]


@dataclass(frozen=True, slots=True)
class Diagnosis:
    category: str
    tags: frozenset[str] = field(default_factory=frozenset)
    detail: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"category": self.category, "tags": sorted(self.tags), "detail": self.detail}


def exchanges(episode: EpisodeDetail) -> list[str]:
    """One key per step: the action together with the environment's answer to it."""
    steps = episode.steps
    return [
        exchange_key(s.action, steps[i + 1].observation if i + 1 < len(steps) else episode.final)
        for i, s in enumerate(steps)
    ]


def classify(
    episode: EpisodeRow | EpisodeDetail | Mapping[str, Any],
    *,
    invalid_share: float = INVALID_SHARE,
    repeats: int = LOOP_REPEATS,
    max_period: int = LOOP_MAX_PERIOD,
) -> Diagnosis:
    """The category and tags of one episode.

    ``episode`` is an episode row (:meth:`Store.episode_rows`: ``status``, ``success``, ``steps``,
    ``invalid_actions``, ``error``); loop detection also needs its steps and ``final`` messages,
    as :meth:`Store.episode_detail` gives them (without them, no loop is found). A dict in the shape
    of either is read with :meth:`EpisodeDetail.from_dict`.
    """
    if isinstance(episode, Mapping):
        has_steps = isinstance(episode.get("steps"), list)
        detail = EpisodeDetail.from_dict(episode)
        episode = detail if has_steps else detail.row
    row = episode.row if isinstance(episode, EpisodeDetail) else episode
    status, error = row.status or "done", row.error or ""
    n_steps = len(episode.steps) if isinstance(episode, EpisodeDetail) else row.steps
    invalid = row.invalid_actions
    tags: set[str] = set()
    if n_steps and invalid / n_steps > invalid_share:
        tags.add("invalid_actions")
    loop: Loop | None = None
    if isinstance(episode, EpisodeDetail):
        loop = find_loop(exchanges(episode), repeats=repeats, max_period=max_period)
    stopped_on_loop = status == "truncated" and error.startswith(LOOP_PREFIX)
    if loop or stopped_on_loop:
        tags.add("loop")
    if status == "error":
        tags.add("model_error" if error.startswith("model:") else "env_error")
    elif error and not stopped_on_loop:  # e.g. env.close failed after a finished episode
        tags.add("env_error")
    if status == "timeout":
        tags.add("timeout")
    if status == "truncated":
        tags.add("step_limit")
    if status == "done" and not row.success:
        tags.add("wrong_answer")

    first_line = error.splitlines()[0] if error else ""
    if row.success:
        return Diagnosis("success", frozenset(tags))
    if status == "timeout":
        return Diagnosis("timeout", frozenset(tags), first_line)
    if status == "error":
        return Diagnosis(
            "model_error" if error.startswith("model:") else "env_error", frozenset(tags), first_line
        )
    if status == "done":
        return Diagnosis("wrong_answer", frozenset(tags))
    if "invalid_actions" in tags:
        return Diagnosis("invalid_actions", frozenset(tags), f"{invalid} of {n_steps} actions invalid")
    if stopped_on_loop:
        return Diagnosis("loop", frozenset(tags), error.removeprefix(LOOP_PREFIX).splitlines()[0])
    if loop:
        return Diagnosis("loop", frozenset(tags), loop.describe(repeats))
    return Diagnosis("step_limit", frozenset(tags), f"{n_steps} steps")
