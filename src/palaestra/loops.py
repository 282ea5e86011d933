"""Loops: an agent repeating itself, found in its (action, answer) sequence.

An exchange is one action together with the environment's answer to it. An episode loops when a
block of ``period`` exchanges (1 up to ``max_period``) repeats ``repeats`` times in a row: the same
action getting the same answer again and again, or a short cycle of them. An action only counts as
repeated when the answer is the same too, so walking down a corridor (the same ``move`` with a new
position each time) is no loop, while bumping into the same wall is.

Two readers: the runner (``--stop-on-loop`` ends an episode as soon as its exchanges end in a
loop, :class:`LoopWatch`) and the failure taxonomy (``eval.taxonomy``: the first loop of a stored
episode, :func:`find_loop`). Both key exchanges the same way, from the chat-shaped dicts the store
keeps (a ``Message``'s ``model_dump()``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

LOOP_REPEATS = 3
LOOP_MAX_PERIOD = 4


class Loop(NamedTuple):
    """Where a loop is: ``(period, start)``."""

    period: int
    """How many exchanges one turn of the cycle has (1: the same exchange again)."""
    start: int
    """The index of the exchange (step) where the repeated block starts."""

    def describe(self, repeats: int = LOOP_REPEATS) -> str:
        what = "the same action" if self.period == 1 else f"a cycle of {self.period} actions"
        return f"{what} repeated {repeats}x from step {self.start}"


def action_key(action: Mapping[str, Any]) -> str:
    """An action without its call ids: what the agent did, not how the call was labelled."""
    calls = [
        (c.get("name"), c.get("arguments", {}), c.get("raw_arguments"))
        for c in action.get("tool_calls", []) or []
    ]
    return json.dumps([(action.get("content") or "").strip(), calls], sort_keys=True, default=str)


def answer_key(messages: Sequence[Mapping[str, Any]]) -> str:
    """The environment's answer without call ids."""
    return json.dumps(
        [(m.get("role"), m.get("name"), (m.get("content") or "").strip()) for m in messages], default=str
    )


def exchange_key(action: Mapping[str, Any], answer: Sequence[Mapping[str, Any]]) -> str:
    """One step's key: its action and the answer to it."""
    return action_key(action) + "\x00" + answer_key(answer)


def _block_is_shorter_cycle(block: Sequence[str], period: int) -> bool:
    """Whether a block of ``period`` keys is itself a repetition of a shorter period (``[a, a]``
    is period 1, not 2): such a loop is reported with its shortest period."""
    return period > 1 and len(set(block)) == 1


def find_loop(
    keys: Sequence[str], *, repeats: int = LOOP_REPEATS, max_period: int = LOOP_MAX_PERIOD
) -> Loop | None:
    """The first loop in ``keys`` (checking periods from 1 up): a block of ``period`` keys that
    repeats ``repeats`` times in a row, or ``None``."""
    n = len(keys)
    for period in range(1, max_period + 1):
        need = period * (repeats - 1)  # consecutive positions i with keys[i] == keys[i - period]
        run = 0
        for i in range(period, n):
            run = run + 1 if keys[i] == keys[i - period] else 0
            if run >= need:
                start = i - need - period + 1
                if not _block_is_shorter_cycle(keys[start : start + period], period):
                    return Loop(period, start)
    return None


def loop_at_end(
    keys: Sequence[str], *, repeats: int = LOOP_REPEATS, max_period: int = LOOP_MAX_PERIOD
) -> Loop | None:
    """A loop that ``keys`` end with (the last ``period * repeats`` keys are one block repeated),
    shortest period first, or ``None``."""
    n = len(keys)
    for period in range(1, max_period + 1):
        span = period * repeats
        if span > n:
            break
        start = n - span
        tail = keys[start:]
        if all(tail[i] == tail[i - period] for i in range(period, span)) and not _block_is_shorter_cycle(
            tail[:period], period
        ):
            return Loop(period, start)
    return None


class LoopWatch:
    """Watches an episode's exchanges as they happen and says when they end in a loop."""

    def __init__(self, *, repeats: int = LOOP_REPEATS, max_period: int = LOOP_MAX_PERIOD) -> None:
        if repeats < 2 or max_period < 1:
            raise ValueError("a loop needs repeats >= 2 and max_period >= 1")
        self.repeats, self.max_period = repeats, max_period
        self.keys: list[str] = []

    def add(self, action: Mapping[str, Any], answer: Sequence[Mapping[str, Any]]) -> Loop | None:
        """Record one exchange; the loop the episode now ends with, if any."""
        self.keys.append(exchange_key(action, answer))
        window = self.keys[-self.repeats * self.max_period :]
        found = loop_at_end(window, repeats=self.repeats, max_period=self.max_period)
        if found is None:
            return None
        return Loop(found.period, found.start + len(self.keys) - len(window))
