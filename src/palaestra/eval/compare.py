"""Paired comparison of two runs on the tasks they share.

The unit is a task, ``(env, task_id)``: a task's value in a run is the mean over that run's samples
of it. For each metric the effect is ``B - A`` (positive: B is better), with a paired bootstrap
interval of the mean difference and a p-value:

* success with one sample per task in both runs: McNemar's exact test on the discordant tasks;
* otherwise (reward, progress, success with several samples): the paired sign-flip test, which is
  exact up to 16 non-zero differences and Monte-Carlo beyond.

The verdict is ``b_better`` / ``a_better`` when ``p < alpha``, else ``not_significant``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from palaestra.errors import UsageError
from palaestra.eval.metrics import RowLike, column_mean, require_single_agent, tasks_of
from palaestra.eval.stats import (
    DEFAULT_RESAMPLES,
    bootstrap_ci,
    mcnemar_exact,
    mean,
    sign_flip_p,
)

if TYPE_CHECKING:
    from palaestra.store.rows import EpisodeRow, RunRow
    from palaestra.store.sqlite import Store

METRICS: tuple[tuple[str, str], ...] = (
    ("success_rate", "success"),
    ("reward", "reward"),
    ("progress", "progress"),
)


def _verdict(diff: float, p: float, alpha: float) -> str:
    if p < alpha and diff > 0:
        return "b_better"
    if p < alpha and diff < 0:
        return "a_better"
    return "not_significant"


def compare_tasks(
    a: Mapping[tuple[str, str], Sequence[EpisodeRow]],
    b: Mapping[tuple[str, str], Sequence[EpisodeRow]],
    *,
    alpha: float = 0.05,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> dict[str, Any]:
    """Compare two runs over the tasks both have (episodes grouped by task)."""
    shared = sorted(set(a) & set(b))
    out: dict[str, Any] = {"tasks": len(shared)}
    single = all(len(a[t]) == 1 and len(b[t]) == 1 for t in shared)
    for name, col in METRICS:
        va = [column_mean(a[t], col) for t in shared]
        vb = [column_mean(b[t], col) for t in shared]
        diffs = [y - x for x, y in zip(va, vb, strict=True)]
        diff = mean(diffs) if diffs else 0.0
        lo, hi = (
            bootstrap_ci(diffs, resamples=resamples, confidence=1 - alpha, seed=seed) if diffs else (0, 0)
        )
        m: dict[str, Any] = {"a": mean(va) if va else None, "b": mean(vb) if vb else None, "diff": diff}
        m["ci"] = [lo, hi]
        if name == "success_rate" and single:
            a_only = sum(x > y for x, y in zip(va, vb, strict=True))
            b_only = sum(y > x for x, y in zip(va, vb, strict=True))
            m |= {"test": "mcnemar_exact", "a_only": a_only, "b_only": b_only}
            m["p_value"] = mcnemar_exact(a_only, b_only)
        else:
            m |= {"test": "sign_flip", "p_value": sign_flip_p(diffs, seed=seed)}
        m["verdict"] = _verdict(diff, m["p_value"], alpha)
        out[name] = m
    return out


def compare(
    rows_a: Sequence[RowLike],
    rows_b: Sequence[RowLike],
    *,
    alpha: float = 0.05,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> dict[str, Any]:
    """Overall and per-environment comparison of two sets of episodes (B against A)."""
    ta, tb = tasks_of(rows_a), tasks_of(rows_b)
    kw: dict[str, Any] = {"alpha": alpha, "resamples": resamples, "seed": seed}
    envs: dict[str, tuple[dict[Any, Any], dict[Any, Any]]] = defaultdict(lambda: ({}, {}))
    for t in set(ta) & set(tb):
        envs[t[0]][0][t] = ta[t]
        envs[t[0]][1][t] = tb[t]
    return {
        "alpha": alpha,
        "shared_tasks": len(set(ta) & set(tb)),
        "only_a": len(set(ta) - set(tb)),
        "only_b": len(set(tb) - set(ta)),
        "overall": compare_tasks(ta, tb, **kw),
        "envs": {env: compare_tasks(ga, gb, **kw) for env, (ga, gb) in sorted(envs.items())},
    }


def compare_runs(
    store: Store,
    run_a: str,
    run_b: str,
    *,
    alpha: float = 0.05,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> dict[str, Any]:
    """Compare run B against run A on their shared tasks; raises if they share none."""
    if not 0 < alpha < 1:
        raise UsageError(f"--alpha must be between 0 and 1, got {alpha}")
    info_a, info_b = store.run_row(run_a), store.run_row(run_b)
    require_single_agent(info_a)
    require_single_agent(info_b)
    rows_a, rows_b = store.episode_rows(run_a), store.episode_rows(run_b)
    out = compare(rows_a, rows_b, alpha=alpha, resamples=resamples, seed=seed)
    if not out["shared_tasks"]:

        def how(info: RunRow) -> str:
            c = info.config
            return f"envs {','.join(c.get('envs', []))}, split {c.get('split')}, seed {c.get('seed')}"

        raise UsageError(
            f"runs {run_a} ({how(info_a)}) and {run_b} ({how(info_b)}) share no task; "
            "compare runs made with the same environments, --split and --seed"
        )
    out["confidence"] = 1 - alpha
    for key, info in (("a", info_a), ("b", info_b)):
        c = info.config
        out[f"run_{key}"] = {"id": info.id, "agent": c.get("agent"), "model": c.get("model")}
    return out
