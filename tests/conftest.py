"""Shared fixtures: a tiny registered env that can be told to crash, and store paths; ``--runslow``."""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import pytest

# Local models and training run in float32 in tests whatever the CPU (auto picks bf16 on CPUs with
# AMX): the tests compare log-probabilities and greedy outputs with float32 references, and their
# results must not depend on the machine. Subprocesses inherit it.
os.environ["PALAESTRA_CPU_BF16"] = "0"

from palaestra import Env, EnvSpec, Policy, ToolError, action, register, tool
from palaestra.types import Message, Observation, Task


class Counter(Env):
    """Count up to a target. ``CRASH_STEP[task_id] = n`` makes ``step`` raise at step n."""

    spec = EnvSpec(name="counter", description="Reach the target number by incrementing.", max_steps=20)

    def generate(self, rng: random.Random, difficulty: int) -> dict[str, Any]:
        return {"target": rng.randint(1, 5) + 1000 * rng.randint(0, 10**6)}

    def setup(self, task: Task) -> str:
        self.value = 0
        self.target = task.params["target"] % 1000
        return f"Reach {self.target}."

    @tool
    def inc(self, by: int = 1) -> str:
        """Add to the counter.

        Args:
            by: how much to add (1 or 2).
        """
        if by not in (1, 2):
            raise ToolError("by must be 1 or 2")
        self.value += by
        if self.value >= self.target:
            self.finish(self.value == self.target)
        return f"value={self.value}"

    async def step(self, action: Message) -> Any:
        if CRASH_STEP.get(self.task.id) == self.steps:
            raise RuntimeError(f"env crashed on task {self.task.id}")
        return await super().step(action)

    def expert(self) -> Policy:
        return _Inc(self)


CRASH_STEP: dict[str, int] = {}


class _Inc(Policy):
    def __init__(self, env: Counter) -> None:
        self.env = env

    def choose(self, observation: Observation) -> Message:
        return action("inc", by=1)


register(Counter)


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    return tmp_path / "palaestra.db"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--runslow", action="store_true", help="also run the tests marked slow (always on when CI is set)"
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: takes several seconds; skipped unless --runslow or $CI")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--runslow") or os.environ.get("CI"):
        return
    skip = pytest.mark.skip(reason="slow: run with --runslow (CI runs it)")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)
