"""Metrics of a run: per environment, per difficulty and overall, with bootstrap intervals.

Rates and means are over *tasks*: a task's value is the mean over its samples, and intervals come
from resampling tasks (a cluster bootstrap), so several samples of one task are not counted as
independent evidence. With one sample per task this is the plain per-episode mean and bootstrap.
With several samples per task, pass@k, pass^k and avg@k are reported as well.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from palaestra.errors import UsageError
from palaestra.eval.stats import (
    DEFAULT_CONFIDENCE,
    DEFAULT_RESAMPLES,
    bootstrap_means,
    ks_for,
    mean,
    pass_at_k,
    pass_hat_k,
)
from palaestra.eval.taxonomy import CATEGORIES, Diagnosis, classify
from palaestra.store.rows import EpisodeRow

if TYPE_CHECKING:
    from palaestra.store.rows import RunRow
    from palaestra.store.sqlite import Store

RowLike = EpisodeRow | Mapping[str, Any]
"""An episode row, or a dict of its shape (rows built by hand; read with ``EpisodeRow.from_dict``)."""
Counters = Mapping[str, Mapping[str, int]]
"""Per episode id, the step counters :meth:`Store.step_counters` totals (:data:`SAFETY_COUNTERS`)."""
MEANS: tuple[tuple[str, str], ...] = (
    ("success_rate", "success"),
    ("progress", "progress"),
    ("reward", "reward"),
    ("steps", "steps"),
)
"""(metric name, episode column) of the metrics reported as a mean with an interval."""


def _estimate(value: float, ci: tuple[float, float]) -> dict[str, Any]:
    def clean(x: float) -> float | None:
        return None if math.isnan(x) else x

    return {"mean": clean(value), "ci": [clean(ci[0]), clean(ci[1])]}


def typed_rows(rows: Iterable[RowLike]) -> list[EpisodeRow]:
    """``rows`` as :class:`EpisodeRow`; dicts are read with :meth:`EpisodeRow.from_dict`."""
    return [EpisodeRow.from_dict(r) if isinstance(r, Mapping) else r for r in rows]


def tasks_of(rows: Iterable[RowLike]) -> dict[tuple[str, str], list[EpisodeRow]]:
    """Episodes grouped by task, ``(env, task_id)``, in a stable order."""
    by_task: dict[tuple[str, str], list[EpisodeRow]] = defaultdict(list)
    for r in typed_rows(rows):
        by_task[(r.env, r.task_id)].append(r)
    return dict(sorted(by_task.items()))


def column_mean(rows: Sequence[EpisodeRow], column: str) -> float:
    """The mean of one numeric column (``success``, ``reward``, ...) over ``rows``."""
    return mean([float(getattr(r, column)) for r in rows])


def group_metrics(
    rows: Sequence[RowLike],
    diagnoses: Mapping[str, Diagnosis] | None = None,
    *,
    counters: Counters | None = None,
    resamples: int = DEFAULT_RESAMPLES,
    confidence: float = DEFAULT_CONFIDENCE,
    seed: int = 0,
) -> dict[str, Any]:
    """The metrics of one group of episodes (rows as :meth:`Store.episode_rows` returns them);
    with ``counters``, the safety metrics of the episodes they hold."""
    rows = typed_rows(rows)
    by_task = tasks_of(rows)
    n_samples = [len(eps) for eps in by_task.values()]
    per_task: dict[str, list[float]] = {
        name: [column_mean(eps, col) for eps in by_task.values()] for name, col in MEANS
    }
    cis = bootstrap_means(per_task, resamples=resamples, confidence=confidence, seed=seed)
    out: dict[str, Any] = {"episodes": len(rows), "tasks": len(by_task)}
    if n_samples:
        out["samples_per_task"] = (
            min(n_samples)
            if min(n_samples) == max(n_samples)
            else [
                min(n_samples),
                max(n_samples),
            ]
        )
    for name, _ in MEANS:
        out[name] = _estimate(mean(per_task[name]), cis[name])

    steps = sum(r.steps for r in rows)
    calls = sum(r.model_calls for r in rows)
    costs = [r.cost for r in rows if r.cost is not None]
    out |= {
        "invalid_action_rate": sum(r.invalid_actions for r in rows) / steps if steps else 0.0,
        "errors": sum(r.status == "error" for r in rows),
        "timeouts": sum(r.status == "timeout" for r in rows),
        "truncated": sum(r.status == "truncated" for r in rows),
        "input_tokens": sum(r.input_tokens for r in rows),
        "output_tokens": sum(r.output_tokens for r in rows),
        "model_calls": calls,
        "latency_per_call_s": (sum(r.model_latency for r in rows) / calls) if calls else None,
        "wall_per_episode_s": column_mean(rows, "wall") if rows else None,
        "cost": math.fsum(costs) if costs else None,
    }
    out["tokens_per_episode"] = (out["input_tokens"] + out["output_tokens"]) / len(rows) if rows else 0.0
    if n_samples and min(n_samples) >= 2:
        out |= sampling_metrics(by_task, resamples=resamples, confidence=confidence, seed=seed)
    if diagnoses is not None:
        counts = Counter(diagnoses[r.id].category for r in rows if r.id in diagnoses)
        out["outcomes"] = {c: counts[c] for c in CATEGORIES if counts[c]}
    if counters and any(counters.get(r.id) for r in rows):
        out["safety"] = safety_metrics(rows, counters)
    return out


SAFETY_COUNTERS: tuple[str, ...] = ("damage_reversible", "damage_irreversible", "violations")
"""Counters of ``Step.info`` totalled per episode (consequential calls, refused calls: see
:mod:`palaestra.tools`); rows carry them where ``run_metrics`` found them."""


def safety_metrics(rows: Sequence[EpisodeRow], counters: Counters) -> dict[str, Any]:
    """Damage and refusals of a group: totals, per-episode means, and how many episodes did
    damage that cannot be undone."""
    n = len(rows)
    found = [counters.get(r.id, {}) for r in rows]
    totals = {k: sum(c.get(k, 0) for c in found) for k in SAFETY_COUNTERS}
    return {
        **totals,
        **{f"{k}_per_episode": totals[k] / n if n else 0.0 for k in SAFETY_COUNTERS},
        "episodes_irreversible": sum(c.get("damage_irreversible", 0) > 0 for c in found),
    }


def sampling_metrics(
    by_task: Mapping[tuple[str, str], Sequence[EpisodeRow]],
    *,
    resamples: int = DEFAULT_RESAMPLES,
    confidence: float = DEFAULT_CONFIDENCE,
    seed: int = 0,
) -> dict[str, Any]:
    """pass@k, pass^k and avg@k over tasks with several samples each.

    ``k`` runs over the powers of two below the smallest number of samples per task, and that
    number itself; every task contributes its unbiased estimate from all its samples.
    avg@k is the mean success over the ``k`` samples of a task, averaged over tasks.
    """
    counts = [(len(eps), sum(bool(e.success) for e in eps)) for eps in by_task.values()]
    n_min = min(n for n, _ in counts)
    columns: dict[str, list[float]] = {}
    for k in ks_for(n_min):
        columns[f"pass@{k}"] = [pass_at_k(n, c, k) for n, c in counts]
        columns[f"pass^{k}"] = [pass_hat_k(n, c, k) for n, c in counts]
    columns[f"avg@{n_min}"] = [c / n for n, c in counts]
    cis = bootstrap_means(columns, resamples=resamples, confidence=confidence, seed=seed)
    est = {name: _estimate(mean(v), cis[name]) for name, v in columns.items()}
    return {
        "pass_at_k": {name.split("@")[1]: e for name, e in est.items() if name.startswith("pass@")},
        "pass_hat_k": {name.split("^")[1]: e for name, e in est.items() if name.startswith("pass^")},
        "avg_at_k": {str(n_min): est[f"avg@{n_min}"]},
    }


def diagnose(store: Store, run_id: str, rows: Iterable[EpisodeRow]) -> dict[str, Diagnosis]:
    """The failure taxonomy of every episode; steps are read only for the failed ones."""
    return {r.id: classify(r if r.success else store.episode_detail(run_id, r.id)) for r in rows}


def metrics(
    rows: Sequence[RowLike],
    diagnoses: Mapping[str, Diagnosis] | None = None,
    *,
    counters: Counters | None = None,
    resamples: int = DEFAULT_RESAMPLES,
    confidence: float = DEFAULT_CONFIDENCE,
    seed: int = 0,
) -> dict[str, Any]:
    """Overall, per-environment, per-(environment, difficulty) and per-difficulty metrics."""
    kw: dict[str, Any] = {
        "counters": counters,
        "resamples": resamples,
        "confidence": confidence,
        "seed": seed,
    }
    rows = typed_rows(rows)
    envs: dict[str, list[EpisodeRow]] = defaultdict(list)
    levels: dict[int, list[EpisodeRow]] = defaultdict(list)
    for r in rows:
        envs[r.env].append(r)
        levels[r.difficulty].append(r)
    per_env: dict[str, Any] = {}
    for env, env_rows in sorted(envs.items()):
        env_levels: dict[int, list[EpisodeRow]] = defaultdict(list)
        for r in env_rows:
            env_levels[r.difficulty].append(r)
        per_env[env] = group_metrics(env_rows, diagnoses, **kw)
        per_env[env]["difficulties"] = {
            str(d): group_metrics(lr, diagnoses, **kw) for d, lr in sorted(env_levels.items())
        }
    return {
        "confidence": confidence,
        "resamples": resamples,
        "overall": group_metrics(rows, diagnoses, **kw),
        "envs": per_env,
        "difficulties": {str(d): group_metrics(lr, diagnoses, **kw) for d, lr in sorted(levels.items())},
    }


def require_single_agent(run: RunRow) -> None:
    """Refuse runs of multi-agent matches: their episodes are games with seats, not tasks."""
    kind = run.config.get("kind")
    if kind in ("match", "tournament"):
        raise UsageError(
            f"run {run.id} is a {kind} of a multi-agent game; this covers single-agent runs "
            f"(see `palaestra show {run.id}` for its standings)"
        )


def run_metrics(
    store: Store,
    run_id: str,
    *,
    env: str | None = None,
    resamples: int = DEFAULT_RESAMPLES,
    confidence: float = DEFAULT_CONFIDENCE,
    seed: int = 0,
) -> dict[str, Any]:
    """Everything ``palaestra stats`` shows about a run, as JSON-ready data.

    ``failed`` lists each episode that did not succeed with its failure category and tags.
    """
    run = store.run_row(run_id)
    require_single_agent(run)
    counters = store.step_counters(run_id, SAFETY_COUNTERS)
    rows = store.episode_rows(run_id, env=env)
    diagnoses = diagnose(store, run_id, rows)
    cfg = run.config
    out: dict[str, Any] = {
        "run_id": run_id,
        "status": run.status,
        "agent": cfg.get("agent"),
        "model": cfg.get("model"),
        "split": cfg.get("split"),
        "seed": cfg.get("seed"),
        "envs_configured": cfg.get("envs", []),
    }
    out |= metrics(rows, diagnoses, counters=counters, resamples=resamples, confidence=confidence, seed=seed)
    out["failed"] = [
        {
            "id": r.id,
            "env": r.env,
            "task_id": r.task_id,
            "difficulty": r.difficulty,
            **diagnoses[r.id].as_dict(),
        }
        for r in rows
        if not r.success
    ]
    return out
