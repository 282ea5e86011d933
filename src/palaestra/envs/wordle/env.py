"""Wordle: find a secret five-letter word in six guesses from per-letter green/yellow/gray feedback.

The setting of LMRL Gym's and AgentGym's Wordle: one tool, ``guess(word)``; each valid guess is
answered with its feedback line (``CRANE -> G Y - - G``), the board so far and a keyboard summary.
Guesses that are not five letters, not in the word list or (in hard mode) ignore a revealed hint are
invalid actions: they are refused with the reason and do not use up a guess.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from palaestra import Env, EnvSpec, Task, ToolCall, ToolError, tool
from palaestra.envs.wordle import tasks
from palaestra.envs.wordle.expert import WordleExpert
from palaestra.envs.wordle.words import (
    ALPHABET,
    LENGTH,
    MAX_GUESSES,
    SOLVED,
    allowed,
    allowed_sorted,
    feedback,
    hard_mode_error,
    hard_mode_filter,
    keyboard,
    marks,
    render,
)

INSTRUCTIONS = f"""\
You are playing Wordle. Find the secret {LENGTH}-letter English word in at most {MAX_GUESSES} guesses.

Guess with the `guess` tool, one word per call. Every guess must be a real {LENGTH}-letter English word \
from the game's word list (letters A-Z only, case does not matter). After each guess you get one mark \
per letter, in order:
  G  green: this letter is in the word, in this position.
  Y  yellow: this letter is in the word, but in another position.
  -  gray: this letter is not in the word (or not as many more times as you used it).
Example: the secret is CRANE, you guess CAROM -> G Y Y - -.
Repeated letters work as in the real game: greens are marked first, then each further copy of a letter \
is yellow only while the secret still has an unmatched copy of it, and gray after that. E.g. the secret \
is ABBEY: BOBBY -> Y - G - G (the third B is gray: ABBEY has only two B's).
Each answer also shows the board so far and a keyboard: which letters are green, yellow, gray or unused.
A guess that is not {LENGTH} letters or not in the word list is refused and does not use up a guess.
In hard mode every guess must also use the hints revealed so far: a green letter must stay in its \
position, and a yellow or green letter must appear in the guess (as many times as it was revealed); \
a guess that breaks this is refused and does not use up a guess either.
The game ends when you find the word (all green) or after {MAX_GUESSES} guesses."""


@cache
def _guess_call(word: str) -> ToolCall:
    return ToolCall(id="call_guess", name="guess", arguments={"word": word})


class WordleEnv(Env):
    spec = EnvSpec(
        name="wordle",
        description="Wordle: find a secret five-letter word in six guesses from green/yellow/gray feedback.",
        max_steps=20,
        metrics=("guesses",),
        tags=("game", "word", "lmrl-gym", "agentgym"),
    )

    answer: str = ""
    hard: bool = False
    max_tier: int = 2
    history: list[tuple[str, int]]
    greens: set[int]

    generate = staticmethod(tasks.generate)

    def task_key(self, params: dict[str, Any]) -> str:
        return tasks.task_key(params)

    def setup(self, task: Task) -> str:
        self.answer = task.params["answer"]
        self.max_tier = int(task.params["max_tier"])
        self.hard = bool(task.params["hard_mode"])
        self.history = []
        self.greens = set()
        mode = (
            "Hard mode is ON: every guess must keep green letters in place and reuse every revealed letter."
            if self.hard
            else "Hard mode is off."
        )
        return (
            f"Find the secret {LENGTH}-letter word in at most {MAX_GUESSES} guesses. "
            f"{tasks.TIER_TEXT[self.max_tier]} {mode} Make your first guess."
        )

    def instructions(self) -> str:
        return INSTRUCTIONS

    @tool
    def guess(self, word: str) -> str:
        """Guess a five-letter word; the reply marks each letter green (G), yellow (Y) or gray (-).

        Args:
            word: a five-letter English word from the word list, e.g. "crane".
        """
        w = word.strip().lower()
        if len(w) != LENGTH or not all(c in ALPHABET for c in w):
            raise ToolError(
                f"{word!r} is not a {LENGTH}-letter word (letters A-Z only). This did not use up a guess."
            )
        if w not in allowed():
            raise ToolError(f"{w.upper()} is not in the word list. This did not use up a guess.")
        if self.hard and (why := hard_mode_error(w, self.history)):
            raise ToolError(f"{w.upper()} breaks {why}. This did not use up a guess.")
        code = feedback(w, self.answer)
        self.history.append((w, code))
        self.greens.update(i for i, m in enumerate(marks(code)) if m == 2)
        n = len(self.history)
        head = f"Guess {n} of {MAX_GUESSES}: {render(w, code)}"
        if code == SOLVED:
            self.finish(success=True)
            return f"{head}\nSolved in {n} guess{'es' if n > 1 else ''}!"
        if n >= MAX_GUESSES:
            self.finish(success=False)
            return f"{head}\nOut of guesses: the word was {self.answer.upper()}."
        left = MAX_GUESSES - n
        return f"{head}\n{self.summary()}\n{left} guess{'es' if left > 1 else ''} left."

    def summary(self) -> str:
        """The board so far, the letters known in place and the keyboard."""
        board = "\n".join(f"  {render(g, c)}" for g, c in self.history)
        known = ["_"] * LENGTH
        for g, c in self.history:
            for i, m in enumerate(marks(c)):
                if m == 2:
                    known[i] = g[i].upper()
        keys = keyboard(self.history)
        groups = [
            (name, " ".join(c.upper() for c in ALPHABET if keys.get(c, -1) == mark) or "none")
            for name, mark in (("green", 2), ("yellow", 1), ("gray", 0), ("unused", -1))
        ]
        keyline = " | ".join(f"{name}: {letters}" for name, letters in groups)
        return f"Board:\n{board}\nKnown positions: {' '.join(known)}\nKeyboard: {keyline}"

    def progress(self) -> float:
        """Subgoals reached out of six: each position's letter found (green), and the word solved."""
        if self.success:
            return 1.0
        return len(self.greens) / (LENGTH + 1)

    def step_info(self) -> dict[str, Any]:
        return {"guesses": len(self.history)}

    def valid_actions(self) -> list[ToolCall]:
        """A guess of every word the rules accept now (every allowed word; in hard mode, those
        that keep the hints)."""
        words = allowed_sorted()
        if self.hard and self.history:
            words = tuple(hard_mode_filter(words, self.history))
        return [_guess_call(w) for w in words]

    expert_policy = WordleExpert
