"""What the training loops share: running a local model on environments through Palaestra's runner
(so every rollout is a stored run that ``show``, ``report`` and ``view`` read), scoring a run per
environment, and the JSON record a loop resumes from.

Used by ``palaestra evolve``, ``palaestra train dagger`` and ``palaestra train grpo``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from palaestra.errors import UsageError
from palaestra.models.base import GenerateConfig

if TYPE_CHECKING:
    from palaestra.models.base import Model
    from palaestra.store.sqlite import Store


def run_model(
    store: Store,
    envs: Sequence[str],
    model: str,
    *,
    split: str,
    tasks: int,
    samples: int = 1,
    seed: int = 0,
    temperature: float = 0.0,
    difficulty: int | None = None,
    max_steps: int | None = None,
    max_tokens: int | None = None,
    concurrency: int | None = None,
    instance: Model | None = None,
) -> str:
    """Run the ``tools`` agent with ``model`` (a spec such as ``local:DIR``) on ``envs``; the run id.

    ``instance`` is a model already built (weights held in memory by a trainer): the run is recorded
    under the name ``model`` but generates with ``instance``."""
    from palaestra.runner.run import RunConfig, run

    config = RunConfig(
        envs=list(envs),
        agent="tools",
        model=model,
        split=split,
        tasks=tasks,
        samples=samples,
        difficulty=difficulty,
        max_steps=max_steps,
        seed=seed,
        concurrency=concurrency,
        generate=GenerateConfig(temperature=temperature, max_tokens=max_tokens),
    )
    return asyncio.run(run(config, store, model=instance))


def success_by_env(store: Store, run_id: str) -> tuple[dict[str, float], float]:
    """A run's success rate per environment and over all its episodes."""
    summary = store.summary_of(run_id)
    per_env = {env: float(s.success_rate) for env, s in summary.envs.items()}
    return per_env, float(summary.success_rate)


class LoopRecord:
    """``FILE.json`` of a loop: its settings and one row per finished iteration (or step).

    A loop started again in the same directory with the same settings resumes after its last row;
    other settings are refused (one line), so two loops never mix in one directory. The settings
    named in ``free`` (how long to go on) may differ: a finished loop then goes on."""

    def __init__(self, path: Path, config: BaseModel, what: str, free: tuple[str, ...] = ()) -> None:
        self.path, self.config, self.what = path, config, what
        self.rows: list[dict[str, Any]] = []
        self.extra: dict[str, Any] = {}
        if path.exists():
            saved = json.loads(path.read_text())
            mine = config.model_dump(mode="json")
            if {k: v for k, v in saved["config"].items() if k not in free} != {
                k: v for k, v in mine.items() if k not in free
            }:
                raise UsageError(
                    f"{path.parent} holds a {what} with other settings; use a new --out directory"
                )
            self.rows = list(saved["rows"])
            self.extra = {k: v for k, v in saved.items() if k not in ("config", "rows")}

    def add(self, row: BaseModel) -> None:
        self.rows.append(row.model_dump(mode="json"))
        self.save()

    def save(self) -> None:
        body = {"config": self.config.model_dump(mode="json"), "rows": self.rows, **self.extra}
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(body, indent=2) + "\n")
        tmp.replace(self.path)  # a crash never leaves half a record


def check_positive(**values: int) -> None:
    """One UsageError line for the first value below 1 (named as its command-line flag)."""
    for name, value in values.items():
        if value < 1:
            raise UsageError(f"--{name.replace('_', '-')} must be at least 1")
