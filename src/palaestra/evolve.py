"""``palaestra evolve``: self-improvement on the agent's own trajectories (AgentEvol-style).

Each iteration runs the current model on train tasks with sampling, keeps the episodes that
succeeded (and, with ``dpo``, pairs successes and failures of the same task), trains the model on
them, and evaluates the result on held-out test tasks. No expert data is used: the model learns
only from what it did itself. Every run goes into one store, so ``palaestra show``, ``report`` and
``view`` work on each iteration, and ``evolve.json`` in the work directory holds the table.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from palaestra.errors import UsageError
from palaestra.store.sqlite import Store


class EvolveConfig(BaseModel):
    """Settings of a self-improvement loop; stored in ``evolve.json``."""

    model_config = ConfigDict(extra="forbid")

    envs: list[str]
    model: str
    """The starting model: ``smollm2`` (the local base) or a local model directory."""
    iterations: int = 2
    train_tasks: int = 64
    """Train-split tasks per environment sampled in each iteration (new tasks every iteration)."""
    samples: int = 4
    """Episodes per train task."""
    temperature: float = 1.0
    test_tasks: int = 50
    """Test-split tasks per environment, the same ones at every iteration (greedy decoding)."""
    difficulty: int | None = None
    max_steps: int | None = None
    """Step limit per episode, sampling and test alike (default: each environment's own)."""
    accumulate: bool = True
    """Train on the successes of every iteration so far (else only the latest iteration's)."""
    dpo: bool = False
    """After SFT, a DPO pass on pairs of a success and a failure of the same train task."""
    seed: int = 0
    concurrency: int | None = None
    train: dict[str, Any] = Field(default_factory=dict)
    """``palaestra.train.TrainConfig`` fields for the SFT (and DPO) of each iteration."""


class IterationRow(BaseModel):
    """One line of the evolve table."""

    iteration: int
    model: str
    train_run: str | None = None
    train_episodes: int = 0
    train_successes: int = 0
    sft_rows: int = 0
    """Successful episodes trained on in this iteration (accumulated over iterations when set)."""
    dpo_pairs: int = 0
    train_loss: float | None = None
    test_run: str
    test_success: dict[str, float]
    test_mean: float
    seconds: float


def _run(
    cfg: EvolveConfig, store: Store, model_dir: str, *, split: str, tasks: int, samples: int, seed: int,
    temperature: float,
) -> str:  # fmt: skip
    """Run the tools agent with ``local:model_dir`` on ``cfg``'s environments; the run id."""
    from palaestra.train.loop import run_model

    return run_model(
        store, cfg.envs, f"local:{model_dir}", split=split, tasks=tasks, samples=samples, seed=seed,
        temperature=temperature, difficulty=cfg.difficulty, max_steps=cfg.max_steps,
        concurrency=cfg.concurrency,
    )  # fmt: skip


def _test(cfg: EvolveConfig, store: Store, model_dir: str) -> tuple[str, dict[str, float], float]:
    """Greedy episodes on the held-out test tasks (the same ones at every iteration)."""
    from palaestra.train.loop import success_by_env

    run_id = _run(
        cfg, store, model_dir, split="test", tasks=cfg.test_tasks, samples=1, seed=cfg.seed, temperature=0.0
    )
    return run_id, *success_by_env(store, run_id)


def evolve(
    cfg: EvolveConfig, work: Path, *, on_row: Callable[[IterationRow], None] | None = None
) -> list[IterationRow]:
    """Run the loop in ``work`` (created; must be empty or a finished earlier loop's to resume).

    Iteration 0 evaluates the starting model; iteration k >= 1 samples, trains and evaluates.
    Iterations already recorded in ``work/evolve.json`` (same config) are not run again."""
    from palaestra.export import export
    from palaestra.models.chat_format import resolve_model_dir
    from palaestra.train import TrainConfig, train_dpo, train_sft

    if cfg.iterations < 1:
        raise UsageError("--iterations must be at least 1")
    for field in ("train_tasks", "test_tasks", "samples"):
        if getattr(cfg, field) < 1:
            raise UsageError(f"--{field.replace('_', '-')} must be at least 1")
    start = resolve_model_dir(cfg.model)
    train_config = TrainConfig(**cfg.train)
    work.mkdir(parents=True, exist_ok=True)
    record = work / "evolve.json"
    rows: list[IterationRow] = []
    if record.exists():
        saved = json.loads(record.read_text())
        if saved["config"] != cfg.model_dump(mode="json"):
            raise UsageError(f"{work} holds an evolve loop with other settings; use a new --out directory")
        rows = [IterationRow.model_validate(r) for r in saved["iterations"]]

    def save() -> None:
        record.write_text(
            json.dumps(
                {"config": cfg.model_dump(mode="json"), "iterations": [r.model_dump() for r in rows]},
                indent=2,
            )
            + "\n"
        )

    store = Store(work / "evolve.db")
    try:

        def finish(t0: float, model: str, **trained: Any) -> None:
            """Test ``model``, record the iteration's row and report it."""
            test_run, per_env, mean = _test(cfg, store, model)
            rows.append(
                IterationRow(
                    iteration=len(rows),
                    model=model,
                    test_run=test_run,
                    test_success=per_env,
                    test_mean=mean,
                    seconds=round(time.perf_counter() - t0, 1),
                    **trained,
                )
            )
            save()
            if on_row:
                on_row(rows[-1])

        if not rows:
            finish(time.perf_counter(), str(start))
        sft_files = [work / f"iter{r.iteration}" / "successes.jsonl" for r in rows[1:]]
        while len(rows) <= cfg.iterations:
            k = len(rows)
            t0 = time.perf_counter()
            current = rows[-1].model
            it_dir = work / f"iter{k}"
            it_dir.mkdir(exist_ok=True)
            sample_run = _run(
                cfg,
                store,
                current,
                split="train",
                tasks=cfg.train_tasks,
                samples=cfg.samples,
                seed=cfg.seed + 1000 * k,
                temperature=cfg.temperature,
            )  # new train tasks every iteration: the seed moves on
            summary = store.summary_of(sample_run)
            successes = export(store, [sample_run], "sft", it_dir / "successes.jsonl")
            sft_files.append(it_dir / "successes.jsonl")
            data = [f for f in (sft_files if cfg.accumulate else sft_files[-1:]) if f.stat().st_size]
            if not data:
                raise UsageError(
                    f"iteration {k}: the model succeeded on none of {summary.episodes} train episodes, "
                    "so there is nothing to learn from; raise --samples or --temperature, or start "
                    "from a stronger model"
                )
            model_dir = it_dir / "model"
            result = train_sft(data, current, it_dir / "sft" if cfg.dpo else model_dir, train_config)
            loss = result.final_loss
            pairs = 0
            if cfg.dpo:
                pair_file = export(store, [sample_run], "dpo", it_dir / "pairs.jsonl")
                pairs = pair_file.rows
                if pairs:
                    loss = train_dpo([pair_file.path], it_dir / "sft", model_dir, train_config).final_loss
                else:
                    (it_dir / "sft").rename(model_dir)
            finish(
                t0,
                str(model_dir),
                train_run=sample_run,
                train_episodes=summary.episodes,
                train_successes=successes.rows,
                sft_rows=sum(_count_lines(f) for f in data),
                dpo_pairs=pairs,
                train_loss=loss,
            )
    finally:
        store.close()
    return rows


def _count_lines(path: Path) -> int:
    with path.open("rb") as f:
        return sum(1 for _ in f)
