"""The expert: a greedy information-gain (entropy) solver over the answer list.

It keeps the answers that agree with all feedback so far (the candidates) and guesses the word whose
feedback over the candidates has the highest entropy, with a small bonus for words that could be
the answer; with one or two candidates left it guesses a candidate. In hard mode it only considers
guesses that keep the revealed hints. It reads nothing hidden: only the public feedback history and
the difficulty, which the goal states (which answer tier, whether hard mode is on).

The first guess and the second guess after each first feedback are the costliest choices (they
score every answer against thousands of candidates), so they are computed once, offline, by
``python -m palaestra.envs.wordle.build solver`` (writes ``solver_table.json``) and shipped; later guesses score the candidates plus a shortlist of words that split them well.
"""

from __future__ import annotations

import heapq
import json
import math
from collections.abc import Sequence
from functools import cache
from typing import TYPE_CHECKING, Any

from palaestra import Message, Observation, Policy, Task, action
from palaestra.envs.wordle.words import HERE, answers, feedback, hard_mode_filter

if TYPE_CHECKING:
    from palaestra.envs.wordle.env import WordleEnv

TABLE = HERE / "solver_table.json"
SHORTLIST = 60  # non-candidate words scored after the second guess
CANDIDATE_BONUS = 0.1  # bits credited to a guess that may itself be the answer

History = Sequence[tuple[str, int]]


def config_name(max_tier: int, hard: bool) -> str:
    return f"tier{max_tier}-{'hard' if hard else 'normal'}"


def score(guess: str, candidates: Sequence[str]) -> float:
    """Entropy in bits of ``guess``'s feedback over ``candidates``."""
    counts: dict[int, int] = {}
    for word in candidates:
        code = feedback(guess, word)
        counts[code] = counts.get(code, 0) + 1
    n = len(candidates)
    return math.log2(n) - sum(c * math.log2(c) for c in counts.values()) / n


def best_guess(pool: Sequence[str], candidates: Sequence[str]) -> str:
    """The word of ``pool`` (sorted) with the best entropy plus candidate bonus; ties: first one."""
    cands = set(candidates)
    best, best_value = candidates[0], -1.0
    for word in pool:
        value = score(word, candidates) + (CANDIDATE_BONUS if word in cands else 0.0)
        if value > best_value + 1e-12:
            best, best_value = word, value
    return best


@cache
def _distinct_letters() -> dict[str, str]:
    return {w: "".join(sorted(set(w))) for w in answers(2)}


@cache
def _opener_buckets(max_tier: int, opener: str) -> dict[int, list[str]]:
    """The answers of the tier grouped by their feedback to ``opener``."""
    out: dict[int, list[str]] = {}
    for word in answers(max_tier):
        out.setdefault(feedback(opener, word), []).append(word)
    return out


def shortlist(pool: Sequence[str], candidates: Sequence[str], k: int = SHORTLIST) -> list[str]:
    """The candidates plus the ``k`` words of ``pool`` whose letters best split the candidates."""
    n = len(candidates)
    freq: dict[str, int] = {}
    for word in candidates:
        for letter in set(word):
            freq[letter] = freq.get(letter, 0) + 1
    value = {letter: min(f, n - f) for letter, f in freq.items()}
    letters = _distinct_letters()
    top = heapq.nsmallest(k, pool, key=lambda w: (-sum(value.get(c, 0) for c in letters[w]), w))
    cands = set(candidates)
    return sorted(cands | set(top))


@cache
def _table() -> dict[str, Any]:
    if not TABLE.exists():
        return {}
    data: dict[str, Any] = json.loads(TABLE.read_text(encoding="utf-8"))
    return data


class Solver:
    """The solver for one answer tier and mode; ``guess(history)`` is its next word."""

    def __init__(self, max_tier: int, hard: bool) -> None:
        self.max_tier = max_tier
        self.pool = answers(max_tier)
        self.hard = hard
        entry = _table().get(config_name(max_tier, hard), {})
        self.opener: str | None = entry.get("opener")
        self.second: dict[str, str] = entry.get("second", {})
        self._candidates: list[str] = list(self.pool)
        self._seen = 0

    def candidates(self, history: History) -> list[str]:
        """The answers that agree with every feedback in ``history`` (updated incrementally)."""
        if len(history) < self._seen:
            self._candidates, self._seen = list(self.pool), 0
        if self._seen == 0 and history and history[0][0] == self.opener:
            self._candidates = _opener_buckets(self.max_tier, self.opener).get(history[0][1], [])
            self._seen = 1
        for guess, code in history[self._seen :]:
            self._candidates = [w for w in self._candidates if feedback(guess, w) == code]
        self._seen = len(history)
        return self._candidates

    def guesses(self, history: History) -> Sequence[str]:
        """The words this solver may guess now (hard mode keeps the revealed hints)."""
        return hard_mode_filter(self.pool, history) if self.hard else self.pool

    def guess(self, history: History) -> str:
        cands = self.candidates(history)
        if not cands:  # feedback that no answer fits (the secret is outside this tier)
            return self.pool[0]
        if len(cands) <= 2:
            return cands[0]
        if not history:
            return self.opener or best_guess(self.guesses(history), cands)
        if len(history) == 1:
            second = self.second.get(str(history[0][1]))
            return second or best_guess(self.guesses(history), cands)
        return best_guess(shortlist(self.guesses(history), cands), cands)


class WordleExpert(Policy):
    """Plays the solver for the task's tier and mode from the env's public feedback history."""

    env: WordleEnv

    solver: Solver | None = None

    async def reset(self, task: Task) -> None:
        await super().reset(task)
        self.solver = None

    def choose(self, observation: Observation) -> Message:
        if self.solver is None:
            self.solver = Solver(self.env.max_tier, self.env.hard)
        return action("guess", word=self.solver.guess(self.env.history))
