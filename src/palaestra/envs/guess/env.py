"""Guess the number: the smallest complete Palaestra environment (read it in one minute)."""

from __future__ import annotations

import math
import random
from typing import Any

from palaestra import Env, EnvSpec, Message, Observation, Policy, Task, ToolError, action, tool

# Difficulty sets the size of the range; the step budget allows a binary search plus slack.
RANGES = {1: 100, 2: 1_000, 3: 100_000}


class BinarySearch(Policy):
    """Guesses the middle of what the feedback allows: at most ceil(log2(range)) + 1 guesses."""

    env: GuessEnv

    def choose(self, observation: Observation) -> Message:
        return action("guess", number=(self.env.lo + self.env.hi) // 2)


class GuessEnv(Env):
    spec = EnvSpec(
        name="guess",
        description="Find a hidden integer. After each guess you are told whether it is higher or lower.",
        max_steps=25,
        metrics=("guesses",),
    )

    def generate(self, rng: random.Random, difficulty: int) -> dict[str, Any]:
        size = RANGES[difficulty]
        low = rng.randrange(0, 10 * size)
        return {"low": low, "high": low + size - 1, "secret": rng.randint(low, low + size - 1)}

    def setup(self, task: Task) -> str:
        self.low, self.high, self.secret = task.params["low"], task.params["high"], task.params["secret"]
        self.lo, self.hi = self.low, self.high  # what the feedback so far allows
        return f"I am thinking of an integer between {self.low} and {self.high}. Guess it."

    @tool
    def guess(self, number: int) -> str:
        """Guess the hidden number.

        Args:
            number: your guess, an integer within the announced range.
        """
        if not self.low <= number <= self.high:
            raise ToolError(f"{number} is outside the range {self.low}..{self.high}.")
        if number == self.secret:
            self.finish(success=True)
            return f"{number} is correct!"
        if number < self.secret:
            self.lo = max(self.lo, number + 1)
            return f"{number} is too low. The number is higher."
        self.hi = min(self.hi, number - 1)
        return f"{number} is too high. The number is lower."

    def step_info(self) -> dict[str, Any]:
        return {"guesses": self.steps}

    def progress(self) -> float:
        """Share of the range's bits of uncertainty removed so far."""
        total = math.log2(self.high - self.low + 1)
        left = math.log2(max(1, self.hi - self.lo + 1))
        return 1.0 if self.success else (1 - left / total if total else 0.0)

    expert_policy = BinarySearch
