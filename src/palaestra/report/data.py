"""What the report shows, read from the store and measured with :mod:`palaestra.eval`."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from palaestra._hints import command_line
from palaestra.errors import UsageError
from palaestra.eval.metrics import run_metrics
from palaestra.eval.safety import SafetyRow, safety_rows
from palaestra.eval.stats import DEFAULT_CONFIDENCE, DEFAULT_RESAMPLES
from palaestra.report.episodes import EpisodeView, episode_view, pick_examples

if TYPE_CHECKING:
    from palaestra.store.rows import EpisodeRow
    from palaestra.store.sqlite import Store

# A colour per run (the order of the runs on the command line): matplotlib's tab10, which every
# plot and the tables' swatches share.
RUN_COLORS: tuple[str, ...] = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)


@dataclass(slots=True)
class RunData:
    index: int
    id: str
    label: str
    """Short name for legends: agent[/model], with the id's tail when two runs would share it."""
    color: str
    info: dict[str, Any]
    metrics: dict[str, Any]
    examples: dict[str, list[EpisodeView]] = field(default_factory=dict)
    """Example episodes per environment."""
    category_links: dict[tuple[str, str], str] = field(default_factory=dict)
    """``(env or "", category) -> anchor`` of a shown example of that outcome."""

    @property
    def config(self) -> dict[str, Any]:
        return dict(self.info["config"])

    @property
    def agent(self) -> str:
        return str(self.config.get("agent") or "?")

    @property
    def model(self) -> str:
        return str(self.config.get("model") or "")

    @property
    def envs(self) -> list[str]:
        return list(self.metrics["envs"])


@dataclass(slots=True)
class ReportData:
    store: str
    runs: list[RunData]
    skipped: list[str]
    """One line per run left out (multi-agent matches and tournaments)."""
    envs: list[str]
    """Every environment of any run, sorted."""
    confidence: float
    resamples: int
    episodes_per_env: int
    safety: list[SafetyRow] = field(default_factory=list)
    """Utility, utility under attack and ASR per agent, where runs of attack variants are reported."""

    @property
    def episodes(self) -> int:
        return sum(int(r.metrics["overall"]["episodes"]) for r in self.runs)

    @property
    def examples(self) -> int:
        return sum(len(v) for r in self.runs for v in r.examples.values())


def _labels(runs: Sequence[tuple[str, dict[str, Any]]]) -> list[str]:
    base = []
    for _, info in runs:
        cfg = info["config"]
        base.append(str(cfg.get("agent") or "?") + (f"/{cfg['model']}" if cfg.get("model") else ""))
    return [f"{b} ({rid[-6:]})" if base.count(b) > 1 else b for b, (rid, _) in zip(base, runs, strict=True)]


def collect(
    store: Store,
    run_ids: Sequence[str],
    *,
    episodes_per_env: int = 2,
    resamples: int = DEFAULT_RESAMPLES,
    confidence: float = DEFAULT_CONFIDENCE,
    seed: int = 0,
) -> ReportData:
    """Metrics and example episodes of the runs, in the order given (duplicates dropped).

    A run id that is not in the store raises the store's error; multi-agent runs (matches and
    tournaments) and simulations are left out with a note, and if nothing is left that is an error.
    """
    if episodes_per_env < 0:
        raise UsageError(f"--episodes-per-env must be 0 or more, got {episodes_per_env}")
    ids = list(dict.fromkeys(run_ids))
    if not ids:
        raise UsageError("name at least one run: palaestra report RUN [RUN ...] (see `palaestra runs`)")
    infos = [(rid, store.run(rid)) for rid in ids]  # the store's one-line error for a missing run
    kept: list[tuple[str, dict[str, Any]]] = []
    skipped: list[str] = []
    for rid, info in infos:
        kind = info["config"].get("kind")
        if kind == "sim":
            skipped.append(
                f"run {rid} is a simulation; its time series are in a report of simulation runs alone "
                f"(`{command_line('report', rid, store=store.path)}`)"
            )
        elif kind in ("match", "tournament"):
            game = info["config"].get("game", "?")
            skipped.append(
                f"run {rid} is a {kind} of the multi-agent game {game}; it is not in this report "
                f"(see `{command_line('show', rid, store=store.path)}` for its standings)"
            )
        else:
            kept.append((rid, info))
    if not kept:
        raise UsageError("no single-agent run to report: " + "; ".join(skipped))
    runs: list[RunData] = []
    for i, ((rid, info), label) in enumerate(zip(kept, _labels(kept), strict=True)):
        m = run_metrics(store, rid, resamples=resamples, confidence=confidence, seed=seed)
        run = RunData(i + 1, rid, label, RUN_COLORS[i % len(RUN_COLORS)], info, m)
        _add_examples(store, run, episodes_per_env)
        runs.append(run)
    envs = sorted({env for r in runs for env in r.envs})
    if not envs:
        raise UsageError(
            f"{'run ' + runs[0].id + ' has' if len(runs) == 1 else 'these runs have'} no finished episodes "
            f"yet; report it when some are done (`{command_line('runs', store=store.path)}` shows the counts)"
        )
    safety = safety_rows(store, [r.id for r in runs])
    return ReportData(str(store.path), runs, skipped, envs, confidence, resamples, episodes_per_env, safety)


def _add_examples(store: Store, run: RunData, n: int) -> None:
    """The best and worst ``n`` episodes per environment, and, when ``n > 0``, one episode of every
    failure category that none of those shows (so each count in the taxonomy links to an example)."""
    failed = {f["id"]: f for f in run.metrics["failed"]}
    by_env: dict[str, list[EpisodeRow]] = defaultdict(list)
    for row in store.episode_rows(run.id):
        by_env[row.env].append(row)
    picks: dict[str, list[tuple[str, EpisodeRow]]] = {
        env: pick_examples(rows, n) for env, rows in sorted(by_env.items())
    }
    if n > 0:
        shown = {failed[r.id]["category"] for env in picks for _, r in picks[env] if r.id in failed}
        rows_by_id = {r.id: r for rows in by_env.values() for r in rows}
        for f in run.metrics["failed"]:  # in the store's order: env, then episode id
            if f["category"] not in shown:
                shown.add(f["category"])
                picks[f["env"]].append(("example", rows_by_id[f["id"]]))
    for env, chosen in picks.items():
        views = []
        for pick, ex in chosen:
            diagnosis: Mapping[str, Any] = failed.get(
                ex.id, {"category": "success", "detail": "", "tags": []}
            )
            ep = store.episode_detail(run.id, ex.id)
            views.append(episode_view(ep, run_id=run.id, run_index=run.index, pick=pick, diagnosis=diagnosis))
        run.examples[env] = views
        for v in views:
            run.category_links.setdefault((env, v.category), v.anchor)
            run.category_links.setdefault(("", v.category), v.anchor)


SEARCH_BUDGETS: dict[str, str] = {
    "mcts": "simulations",
    "bestofn": "n",
    "beam": "width",
    "astar": "expansions",
}
"""The option that sizes each search strategy's budget (the x axis of success vs budget)."""


@dataclass(slots=True)
class SearchGroup:
    """Runs of one search strategy with the same settings but its budget option: success against
    budget, and the runs of its inner agent alone (same options, no search) as the baseline."""

    label: str
    budget: str
    points: list[tuple[float, RunData]]
    """(budget, run), by budget."""
    baselines: list[RunData]


def _budget_default(agent: str, key: str) -> Any:
    import inspect

    from palaestra.agents.base import AGENTS

    param = inspect.signature(AGENTS.get(agent)).parameters.get(key)
    return None if param is None else param.default


def search_groups(runs: Sequence[RunData]) -> list[SearchGroup]:
    """The runs of search strategies grouped by agent, model and options other than the budget;
    a run of the inner agent whose options are a subset of the group's is its baseline."""
    groups: dict[str, SearchGroup] = {}
    for run in runs:
        key = SEARCH_BUDGETS.get(run.agent)
        if key is None:
            continue
        options = dict(run.config.get("agent_options") or {})
        budget = options.pop(key, None)
        if budget is None:
            budget = _budget_default(run.agent, key)
        if not isinstance(budget, int | float):
            continue
        settings = " ".join(f"{k}={v}" for k, v in sorted(options.items()))
        label = f"{run.agent}" + (f"/{run.model}" if run.model else "") + (f" {settings}" if settings else "")
        group = groups.setdefault(label, SearchGroup(label, key, [], []))
        group.points.append((float(budget), run))
    for group in groups.values():
        group.points.sort(key=lambda p: p[0])
        first = group.points[0][1]
        options = dict(first.config.get("agent_options") or {})
        inner = str(options.get("inner", "tools"))
        for run in runs:
            own = run.config.get("agent_options") or {}
            if (
                run.agent == inner
                and run.model == first.model
                and all(options.get(k) == v for k, v in own.items())
            ):
                group.baselines.append(run)
    return list(groups.values())


def finite(x: float | None) -> float:
    """``x`` for plotting: ``nan`` for a missing value."""
    return math.nan if x is None else float(x)
