"""The report of simulation runs (``palaestra sim``): per-round metrics as time series.

A simulation run is stored as one episode per mode with a step per round whose ``info`` holds the
round's metrics (see :mod:`palaestra.sim.record`); this reads them back and draws one panel per
metric, a line per run and mode (solid: archetype, dashed: individual), the model calls per round,
and, for runs that compared the modes, the per-round difference between them.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from palaestra.errors import UsageError
from palaestra.report.data import RUN_COLORS
from palaestra.report.plots import _figure, _svg, _text

if TYPE_CHECKING:
    from palaestra.store.sqlite import Store

SIM_KIND = "sim"
COSTS = ("model_calls", "cache_hits", "invalid", "model_errors", "idle", "seconds", "decide_seconds")
"""Per-round info that is what deciding cost, not what the population did."""
MODE_STYLES = {"archetype": "-", "individual": "--"}


def is_sim(config: Mapping[str, Any]) -> bool:
    return config.get("kind") == SIM_KIND


@dataclass(slots=True)
class SimRunData:
    id: str
    label: str
    color: str
    config: dict[str, Any]
    summary: dict[str, Any]
    rounds: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    """Per mode, each round's info (metrics and costs)."""

    @property
    def metrics(self) -> list[str]:
        """The population's metrics (the headline first), then the choice shares."""
        first = next((rows[0] for rows in self.rounds.values() if rows), {})
        return [k for k in first if k not in COSTS]


def collect_sims(store: Store, run_ids: Sequence[str]) -> list[SimRunData]:
    """Every simulation run of ``run_ids`` (in order) with its rounds; a run that is no simulation
    is an error (report it with the other runs)."""
    runs = []
    for i, rid in enumerate(dict.fromkeys(run_ids)):
        info = store.run(rid)
        cfg = info["config"]
        if not is_sim(cfg):
            raise UsageError(f"run {rid} is not a simulation; report simulations and other runs separately")
        data = SimRunData(
            rid,
            f"{cfg.get('sim', '?')} n={cfg.get('agents', 0):,} ({rid[-6:]})",
            RUN_COLORS[i % len(RUN_COLORS)],
            cfg,
            info.get("summary") or {},
        )
        for e in store.episode_rows(rid):
            data.rounds[e.id] = [s.info for s in store.episode_detail(rid, e.id).steps]
        runs.append(data)
    return runs


def _series(rows: Sequence[Mapping[str, Any]], key: str) -> list[float]:
    return [float(r[key]) if isinstance(r.get(key), int | float) else math.nan for r in rows]


def timeseries(runs: Sequence[SimRunData], metrics: Sequence[str], title: str = "") -> str:
    """One panel per metric against the round, a line per run and mode."""
    cols = min(len(metrics), 3)
    rows = math.ceil(len(metrics) / cols)
    with _figure(max(6.5, 3.6 * cols), 0.7 + 2.4 * rows) as fig:
        axes = fig.subplots(rows, cols, squeeze=False)
        for k, metric in enumerate(metrics):
            ax = axes[k // cols][k % cols]
            for run in runs:
                for mode, data in run.rounds.items():
                    if metric in (data[0] if data else {}):
                        ax.plot(
                            range(len(data)),
                            _series(data, metric),
                            MODE_STYLES.get(mode, ":"),
                            color=run.color,
                            marker="o",
                            markersize=3,
                            label=_text(f"{run.label} {mode}"),
                        )
            ax.set_title(_text(metric.replace("_", " ")), loc="left")
            ax.set_xlabel("round")
        for k in range(len(metrics), rows * cols):
            axes[k // cols][k % cols].set_visible(False)
        handles, labels = axes[0][0].get_legend_handles_labels()
        if handles:
            fig.legend(handles, labels, loc="outside upper left", ncols=min(len(labels), 3))
        if title:
            fig.suptitle(_text(title), x=0.01, ha="left", fontsize=10)
        return _svg(fig)


def divergence(runs: Sequence[SimRunData]) -> str | None:
    """Per compared run, ``|archetype - individual|`` of each metric per round; ``None`` if no run compared."""
    compared = [r for r in runs if r.summary.get("divergence")]
    if not compared:
        return None
    with _figure(6.5 * min(len(compared), 2), 3.2) as fig:
        axes = fig.subplots(1, len(compared), squeeze=False)[0]
        for ax, run in zip(axes, compared, strict=True):
            for metric, values in run.summary["divergence"].items():
                if not metric.startswith("choice_"):
                    ax.plot(range(len(values)), values, marker="o", markersize=3, label=_text(metric))
            ax.set_title(_text(f"{run.label}: |archetype - individual|"), loc="left")
            ax.set_xlabel("round")
            ax.legend(loc="upper left")
        return _svg(fig)


PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="generator" content="palaestra {{ version }}">
<title>{{ title }}</title>
<style>
body { margin: 0 auto; max-width: 1400px; padding: 1rem 1.5rem 3rem; color: #1d232a;
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; }
h1 { font-size: 1.4rem; } h2 { font-size: 1.15rem; border-bottom: 2px solid #dde2e7; margin-top: 1.6rem; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; }
th, td { padding: .3rem .6rem; border-bottom: 1px solid #dde2e7; text-align: right; white-space: nowrap; }
th:first-child, td:first-child { text-align: left; }
.muted { color: #66707a; } .sw { display: inline-block; width: .8em; height: .8em; margin-right: .35em; }
figure { margin: .6rem 0 1rem; overflow-x: auto; } figure svg { max-width: 100%; height: auto; }
</style></head><body>
<h1>{{ title }}</h1>
<p class="muted">{{ runs|length }} simulation run(s) from {{ store }}, generated {{ generated }}.
Solid lines: archetype mode (one model call per archetype and situation a round); dashed: individual
mode (one call per agent).</p>
<h2>Runs</h2>
<table><thead><tr><th>run</th><th>sim</th><th>mode</th><th>model</th><th>agents</th><th>rounds</th>
<th>agent-rounds/s</th><th>model calls/round</th><th>invalid</th><th>failed calls</th><th>state bytes/agent</th></tr></thead>
<tbody>{% for run in runs %}{% for mode, s in run.summary.get("modes", {}).items() %}
<tr><td><span class="sw" style="background: {{ run.color }}"></span>{{ run.id }}</td><td>{{ run.config.get("sim") }}</td>
<td>{{ mode }}</td><td>{{ run.config.get("model") }}</td><td>{{ "{:,}".format(s.agents) }}</td><td>{{ s.rounds }}</td>
<td>{{ "{:,.0f}".format(s.agent_rounds_per_s) }}</td><td>{{ s.model_calls_per_round }}</td><td>{{ s.invalid }}</td>
<td>{{ s.model_errors }}</td><td>{{ s.state_bytes_per_agent }}</td></tr>
{% endfor %}{% endfor %}</tbody></table>
{% for name, svg in figures %}<h2>{{ name }}</h2><figure>{{ svg }}</figure>{% endfor %}
</body></html>
"""


def render_sims(runs: Sequence[SimRunData], store: str, title: str | None = None) -> str:
    """The page: a table of the runs, their metrics per round, the costs per round, the divergence."""
    from markupsafe import Markup

    from palaestra import __version__
    from palaestra.report.html import _jinja

    jinja2 = _jinja()
    figures: list[tuple[str, Markup]] = []
    by_sim: dict[str, list[SimRunData]] = {}
    for run in runs:
        by_sim.setdefault(str(run.config.get("sim", "?")), []).append(run)
    for sim, group in by_sim.items():
        metrics = list(dict.fromkeys(m for r in group for m in r.metrics))
        figures.append((f"{sim}: metrics per round", Markup(timeseries(group, metrics))))
    figures.append(
        ("Model calls per round", Markup(timeseries(runs, ["model_calls", "cache_hits", "invalid"])))
    )
    div = divergence(runs)
    if div:
        figures.append(("Archetype vs individual agents", Markup(div)))
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    return str(
        env.from_string(PAGE).render(
            title=title or "Palaestra simulation report: " + ", ".join(r.label for r in runs[:4]),
            runs=runs,
            store=store,
            figures=figures,
            version=__version__,
            generated=time.strftime("%Y-%m-%d %H:%M"),
        )
    )
