"""Task generation shared by every environment: ``EnvSpec`` and seeded, disjoint splits."""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Iterator
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from palaestra.errors import UsageError
from palaestra.types import SPLITS, Split, Task


def check_split(split: str) -> Split:
    """``split`` as a ``Split``, or one ``UsageError`` line naming the valid ones (the one check
    every command, bridge and ``tasks()`` use)."""
    if split not in SPLITS:
        raise UsageError(f"unknown split {split!r}; valid splits: {', '.join(SPLITS)}")
    return split


class EnvSpec(BaseModel):
    """What an environment is: its name, limits and what it measures."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    version: str = "0.1"
    description: str = ""
    max_steps: int = 50
    difficulties: tuple[int, ...] = (1, 2, 3)
    metrics: tuple[str, ...] = ()
    free_text: bool = False
    """Whether plain assistant text (no tool call) is a legal action, as in dialogue."""
    tags: tuple[str, ...] = Field(default=())


# Share of the task space that goes to each split. A task's split is a function of its content
# (``task_key``), so train, dev and test can never hold the same task, whatever the seeds.
_SPLIT_BUCKETS: tuple[tuple[Split, int], ...] = (("train", 80), ("dev", 10), ("test", 10))
_MAX_TRIES_PER_TASK = 2000


def split_of(key: str) -> Split:
    """The split that a task with this content key belongs to."""
    bucket = int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big") % 100
    for split, share in _SPLIT_BUCKETS:
        if bucket < share:
            return split
        bucket -= share
    raise AssertionError("split shares must add up to 100")


def _derive_seed(*parts: object) -> int:
    digest = hashlib.blake2b("/".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> 1


class TaskSource:
    """Seeded, disjoint task generation shared by single- and multi-agent environments."""

    spec: ClassVar[EnvSpec]

    def generate(self, rng: random.Random, difficulty: int) -> dict[str, Any]:
        """Task parameters for one task of ``difficulty``, drawn only from ``rng``."""
        raise NotImplementedError(f"{type(self).__name__} must implement generate()")

    def task_key(self, params: dict[str, Any]) -> str:
        """What makes two tasks the same task; by default all their parameters."""
        return json.dumps(params, sort_keys=True, default=str)

    def tasks(
        self, split: Split = "test", n: int = 100, seed: int = 0, difficulty: int | None = None
    ) -> list[Task]:
        """``n`` distinct tasks of ``split``, reproducible from ``seed``.

        With ``difficulty=None`` the tasks cycle through the environment's difficulty levels.
        """
        return list(self.iter_tasks(split, n, seed, difficulty))

    def iter_tasks(
        self, split: Split = "test", n: int = 100, seed: int = 0, difficulty: int | None = None
    ) -> Iterator[Task]:
        """The tasks of :meth:`tasks`, one at a time, as they are generated (a run of 100,000
        episodes holds the tasks in flight, not all of them)."""
        split = check_split(split)
        levels = self.spec.difficulties if difficulty is None else (difficulty,)
        if difficulty is not None and difficulty not in self.spec.difficulties:
            raise UsageError(
                f"{self.spec.name} has no difficulty {difficulty}; valid: "
                f"{', '.join(map(str, self.spec.difficulties))}"
            )
        streams = {d: self._candidates(split, seed, d) for d in levels}
        for i in range(n):
            d = levels[i % len(levels)]
            task = next(streams[d], None)
            if task is None:
                raise UsageError(
                    f"{self.spec.name}: could only find {i} distinct {split} tasks "
                    f"at difficulty {d}; ask for fewer"
                )
            yield task

    def _candidates(self, split: Split, seed: int, difficulty: int) -> Iterator[Task]:
        seen: set[str] = set()
        misses = 0
        j = 0
        while misses < _MAX_TRIES_PER_TASK:
            task_seed = _derive_seed(self.spec.name, seed, difficulty, j)
            j += 1
            params = self.generate(random.Random(task_seed), difficulty)
            key = self.task_key(params)
            if key in seen or split_of(key) != split:
                misses += 1
                continue
            misses = 0
            seen.add(key)
            digest = hashlib.blake2b(key.encode(), digest_size=6).hexdigest()
            yield Task(
                env=self.spec.name,
                id=f"{split}-d{difficulty}-{digest}",
                split=split,
                difficulty=difficulty,
                seed=task_seed,
                params=params,
            )
