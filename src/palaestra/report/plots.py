"""The report's plots, drawn with matplotlib and returned as inline SVG text.

matplotlib is imported only here and only when a plot is drawn (``pip install 'palaestra[report]'``).
Figures are made with :class:`matplotlib.figure.Figure` directly, not pyplot: no GUI backend, no
global figure state, safe in any thread. Text stays text in the SVG (``svg.fonttype: none``), so the
plots are small, crisp at any zoom and searchable in the page.
"""

from __future__ import annotations

import io
import itertools
import math
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from palaestra.errors import UsageError
from palaestra.eval.taxonomy import CATEGORIES
from palaestra.report.data import RUN_COLORS, ReportData, RunData, finite, search_groups

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

CATEGORY_COLORS: dict[str, str] = {
    "success": "#2ca02c",
    "wrong_answer": "#ff7f0e",
    "step_limit": "#9e9e9e",
    "loop": "#17becf",
    "invalid_actions": "#e377c2",
    "timeout": "#9467bd",
    "model_error": "#d62728",
    "env_error": "#8c564b",
}
assert set(CATEGORY_COLORS) == set(CATEGORIES)

_STYLE: dict[str, Any] = {
    "svg.fonttype": "none",
    "font.family": "sans-serif",
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.edgecolor": "#888888",
    "axes.axisbelow": True,
    "axes.grid": True,
    "grid.color": "#e6e6e6",
    "grid.linewidth": 0.8,
    "xtick.color": "#444444",
    "ytick.color": "#444444",
    "legend.frameon": False,
    "legend.fontsize": 8.5,
    "figure.dpi": 72,
}
_counter = itertools.count(1)


def _mpl() -> Any:
    try:
        import matplotlib
    except ImportError:
        raise UsageError(
            "the report's plots need matplotlib; install it with: pip install 'palaestra[report]'"
        ) from None
    return matplotlib


@contextmanager
def _figure(width: float, height: float) -> Iterator[Figure]:
    mpl = _mpl()
    from matplotlib.figure import Figure

    with mpl.rc_context(_STYLE):
        yield Figure(figsize=(width, height), layout="constrained")


def _svg(fig: Figure) -> str:
    """The figure as an ``<svg>`` element whose ids are unique in the page."""
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None, "Format": None, "Type": None})
    text = buf.getvalue()
    text = text[text.index("<svg") :]
    prefix = f"plt{next(_counter)}-"
    text = re.sub(r'\bid="', f'id="{prefix}', text)
    text = re.sub(r"url\(#", f"url(#{prefix}", text)
    text = re.sub(r'href="#', f'href="#{prefix}', text)
    return text.replace("<svg ", '<svg role="img" ', 1)


def _text(s: str) -> str:
    """A label as matplotlib should print it, not as mathtext."""
    return s.replace("$", r"\$")


def _pct_axis(ax: Axes, axis: str = "y") -> None:
    from matplotlib.ticker import PercentFormatter

    (ax.yaxis if axis == "y" else ax.xaxis).set_major_formatter(PercentFormatter(1.0, decimals=0))


def _estimate(g: dict[str, Any] | None) -> tuple[float, float, float]:
    if g is None:
        return math.nan, math.nan, math.nan
    e = g["success_rate"]
    m = finite(e["mean"])
    lo, hi = (finite(x) for x in e["ci"])
    return m, (m if math.isnan(lo) else lo), (m if math.isnan(hi) else hi)


def _legend_top(fig: Figure, ax: Axes, runs: Sequence[RunData]) -> None:
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="outside upper left", ncols=min(len(runs), 4))


def env_success(data: ReportData) -> str:
    """Success rate per environment (and over all, with several), a bar per run with its interval."""
    groups = [*data.envs, *(["all"] if len(data.envs) > 1 else [])]
    n = len(data.runs)
    width = min(16.0, max(6.5, 1.2 + len(groups) * (0.32 * n + 0.45)))
    with _figure(width, 3.4) as fig:
        ax = fig.add_subplot()
        bar = 0.8 / n
        annotate = len(groups) * n <= 36
        for i, run in enumerate(data.runs):
            xs, ms, los, his = [], [], [], []
            for g, env in enumerate(groups):
                group = run.metrics["overall"] if env == "all" else run.metrics["envs"].get(env)
                m, lo, hi = _estimate(group)
                if math.isnan(m):
                    continue
                xs.append(g - 0.4 + bar * (i + 0.5))
                ms.append(m)
                los.append(m - lo)
                his.append(hi - m)
            ax.bar(xs, ms, bar * 0.92, color=run.color, label=_text(run.label), zorder=2)
            ax.errorbar(xs, ms, yerr=[los, his], fmt="none", ecolor="#333333", elinewidth=1, capsize=2.5)
            if annotate:
                for x, m, up in zip(xs, ms, his, strict=True):
                    ax.text(x, min(m + up, 1.0) + 0.02, f"{m:.0%}", ha="center", va="bottom", fontsize=7)
        ax.set_xticks(range(len(groups)), [_text(g) for g in groups])
        if len(groups) > 8:
            ax.tick_params(axis="x", labelrotation=35)
            for label in ax.get_xticklabels():
                label.set_horizontalalignment("right")
        ax.set_xlim(-0.6, len(groups) - 0.4)
        ax.set_ylim(0, 1.12)
        ax.set_yticks([0, 0.25, 0.5, 0.75, 1.0])
        _pct_axis(ax)
        ax.set_ylabel("success rate")
        ax.grid(axis="x", visible=False)
        _legend_top(fig, ax, data.runs)
        return _svg(fig)


def difficulty_success(data: ReportData) -> str:
    """Success rate against difficulty level, one panel per environment, a line per run with a band
    for its interval."""
    envs = data.envs
    cols = min(len(envs), 4)
    rows = math.ceil(len(envs) / cols)
    with _figure(max(6.5, 3.3 * cols), 0.6 + 2.3 * rows) as fig:
        axes = fig.subplots(rows, cols, squeeze=False, sharey=True)
        dodge = min(0.06, 0.3 / max(len(data.runs), 1))
        for k, env in enumerate(envs):
            ax = axes[k // cols][k % cols]
            levels: set[int] = set()
            for i, run in enumerate(data.runs):
                g = run.metrics["envs"].get(env)
                if g is None:
                    continue
                pts = sorted((int(d), _estimate(v)) for d, v in g["difficulties"].items())
                levels.update(d for d, _ in pts)
                xs = [d + dodge * (i - (len(data.runs) - 1) / 2) for d, _ in pts]  # overlaps stay visible
                ms = [e[0] for _, e in pts]
                los = [e[1] for _, e in pts]
                his = [e[2] for _, e in pts]
                ax.fill_between(xs, los, his, color=run.color, alpha=0.14, linewidth=0, step=None)
                ax.plot(xs, ms, marker="o", markersize=4, color=run.color, label=_text(run.label))
                if len(xs) == 1:
                    ax.errorbar(xs, ms, yerr=[[ms[0] - los[0]], [his[0] - ms[0]]], color=run.color, capsize=3)
            ax.set_title(_text(env), loc="left")
            ticks = sorted(levels)
            ax.set_xticks(ticks)
            if ticks:
                ax.set_xlim(ticks[0] - 0.3, ticks[-1] + 0.3)
            ax.set_ylim(-0.03, 1.05)
            ax.set_yticks([0, 0.5, 1.0])
            _pct_axis(ax)
            ax.set_xlabel("difficulty")
            ax.grid(axis="x", visible=False)
        for k in range(len(envs), rows * cols):
            axes[k // cols][k % cols].set_visible(False)
        _legend_top(fig, axes[0][0], data.runs)
        return _svg(fig)


def usage(data: ReportData) -> str | None:
    """Tokens per episode (input and output) and total cost per run; ``None`` when no run used tokens."""
    if not any(
        r.metrics["overall"]["input_tokens"] + r.metrics["overall"]["output_tokens"] for r in data.runs
    ):
        return None
    runs = data.runs
    has_cost = any(r.metrics["overall"]["cost"] is not None for r in runs)
    height = 1.1 + 0.42 * len(runs)
    with _figure(10.0 if has_cost else 6.5, height) as fig:
        axes = fig.subplots(1, 2 if has_cost else 1, squeeze=False)[0]
        ys = list(range(len(runs)))[::-1]
        labels = [_text(r.label) for r in runs]
        ax = axes[0]
        for y, run in zip(ys, runs, strict=True):
            o = run.metrics["overall"]
            if not o["model_calls"]:
                ax.text(0, y, "  no model calls", va="center", fontsize=8, color="#777777")
                continue
            eps = max(int(o["episodes"]), 1)
            tin, tout = o["input_tokens"] / eps, o["output_tokens"] / eps
            ax.barh(y, tin, color=run.color, alpha=0.45, height=0.6)
            ax.barh(y, tout, left=tin, color=run.color, height=0.6)
            ax.text(tin + tout, y, f"  {tin + tout:,.0f}", va="center", fontsize=8)
        ax.set_yticks(ys, labels)
        ax.set_title("tokens per episode (light: input, dark: output)", loc="left")
        ax.margins(x=0.18)
        ax.set_xlim(left=0)
        ax.grid(axis="y", visible=False)
        if has_cost:
            ax = axes[1]
            for y, run in zip(ys, runs, strict=True):
                cost = run.metrics["overall"]["cost"]
                if cost is None:
                    ax.text(0, y, "  not recorded", va="center", fontsize=8, color="#777777")
                    continue
                ax.barh(y, cost, color=run.color, height=0.6)
                ax.text(cost, y, f"  ${cost:,.4f}", va="center", fontsize=8)
            ax.set_yticks(ys, labels)
            ax.set_title("total cost (USD)", loc="left")
            ax.margins(x=0.25)
            ax.set_xlim(left=0)
            ax.grid(axis="y", visible=False)
        return _svg(fig)


def taxonomy(data: ReportData) -> str:
    """Outcomes of each run's episodes as a stacked bar of shares, one bar per run."""
    from matplotlib.patches import Patch

    runs = data.runs
    present = [c for c in CATEGORIES if any(r.metrics["overall"].get("outcomes", {}).get(c) for r in runs)]
    with _figure(10.0, 1.3 + 0.42 * len(runs)) as fig:
        ax = fig.add_subplot()
        ys = list(range(len(runs)))[::-1]
        for y, run in zip(ys, runs, strict=True):
            counts = run.metrics["overall"].get("outcomes", {})
            total = sum(counts.values()) or 1
            left = 0.0
            for c in present:
                share = counts.get(c, 0) / total
                if not share:
                    continue
                ax.barh(y, share, left=left, color=CATEGORY_COLORS[c], height=0.62, edgecolor="white")
                if share >= 0.05:
                    ax.text(left + share / 2, y, str(counts[c]), ha="center", va="center", fontsize=8)
                left += share
        ax.set_yticks(ys, [_text(r.label) for r in runs])
        ax.set_xlim(0, 1)
        _pct_axis(ax, "x")
        ax.set_xlabel("share of episodes (numbers: episodes)")
        ax.grid(axis="y", visible=False)
        handles = [Patch(color=CATEGORY_COLORS[c], label=c.replace("_", " ")) for c in present]
        fig.legend(handles=handles, loc="outside upper left", ncols=min(len(handles), 8) or 1)
        return _svg(fig)


BASELINE_COLORS = ("#333333", "#777777", "#aaaaaa")
"""Dashed lines of the runs without search, in grey (the strategies have the run colours)."""


def search_budget(data: ReportData) -> str | None:
    """Success rate against search budget (``simulations``, ``n``, ``width``) of the runs of each
    search strategy and setting, one panel per environment and over all; the runs of the same
    policy without search are dashed lines. None when no run searched."""
    groups = search_groups(data.runs)
    if not groups:
        return None
    envs = [*data.envs, *(["all"] if len(data.envs) > 1 else [])]
    cols = min(len(envs), 4)
    rows = math.ceil(len(envs) / cols)
    with _figure(max(6.5, 3.3 * cols), 0.8 + 2.4 * rows) as fig:
        axes = fig.subplots(rows, cols, squeeze=False, sharey=True)
        for k, env in enumerate(envs):
            ax = axes[k // cols][k % cols]
            drawn: set[str] = set()  # a baseline shared by several groups is drawn once
            for i, group in enumerate(groups):
                color = RUN_COLORS[i % len(RUN_COLORS)]
                pts = [(b, _estimate(_group_of(r, env))) for b, r in group.points]
                pts = [(b, e) for b, e in pts if not math.isnan(e[0])]
                if not pts:
                    continue
                xs = [b for b, _ in pts]
                ax.fill_between(
                    xs, [e[1] for _, e in pts], [e[2] for _, e in pts], color=color, alpha=0.14, linewidth=0
                )
                ax.plot(
                    xs,
                    [e[0] for _, e in pts],
                    marker="o",
                    markersize=4,
                    color=color,
                    label=_text(group.label),
                )
                for base in group.baselines:
                    m = _estimate(_group_of(base, env))[0]
                    if base.id in drawn or math.isnan(m):
                        continue
                    label = _text(f"{base.label} (no search)") if k == 0 else None
                    shade = BASELINE_COLORS[len(drawn) % len(BASELINE_COLORS)]
                    ax.axhline(m, color=shade, linestyle="--", linewidth=1.2, label=label)
                    drawn.add(base.id)
            ax.set_title(_text(env), loc="left")
            ax.set_xscale("log", base=2)
            budgets = sorted({b for g in groups for b, _ in g.points})
            ax.set_xticks(budgets, [f"{b:g}" for b in budgets])
            ax.minorticks_off()
            ax.set_ylim(-0.03, 1.05)
            ax.set_yticks([0, 0.5, 1.0])
            _pct_axis(ax)
            ax.set_xlabel(" / ".join(sorted({g.budget for g in groups})))
        for k in range(len(envs), rows * cols):
            axes[k // cols][k % cols].set_visible(False)
        handles, labels = axes[0][0].get_legend_handles_labels()
        if handles:
            fig.legend(handles, labels, loc="outside upper left", ncols=min(len(handles), 3))
        return _svg(fig)


def _group_of(run: RunData, env: str) -> dict[str, Any] | None:
    group: dict[str, Any] | None = run.metrics["overall"] if env == "all" else run.metrics["envs"].get(env)
    return group


SAFETY_BARS: tuple[tuple[str, str, str], ...] = (
    ("utility", "utility", "#2ca02c"),
    ("utility_under_attack", "utility under attack", "#98df8a"),
    ("asr", "attack success rate", "#d62728"),
)


def safety(data: ReportData) -> str | None:
    """Utility, utility under attack and attack success rate per agent (defence), grouped bars."""
    rows = data.safety
    if not rows:
        return None
    width = min(16.0, max(6.5, 1.2 + len(rows) * 1.1))
    with _figure(width, 3.4) as fig:
        ax = fig.add_subplot()
        bar = 0.8 / len(SAFETY_BARS)
        for i, (attr, label, color) in enumerate(SAFETY_BARS):
            xs = [g - 0.4 + bar * (i + 0.5) for g in range(len(rows))]
            ms = [finite(getattr(r, attr)) for r in rows]
            ax.bar(
                xs, [0.0 if math.isnan(m) else m for m in ms], bar * 0.92, color=color, label=label, zorder=2
            )
        ax.set_xticks(range(len(rows)), [_text(r.label) for r in rows])
        ax.tick_params(axis="x", labelrotation=25)
        for tick in ax.get_xticklabels():
            tick.set_horizontalalignment("right")
        ax.set_xlim(-0.6, len(rows) - 0.4)
        ax.set_ylim(0, 1.05)
        _pct_axis(ax)
        ax.grid(axis="x", visible=False)
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, 1.16), ncols=len(SAFETY_BARS))
        return _svg(fig)


def safety_templates(data: ReportData) -> str | None:
    """Attack success rate per attack template, a bar per agent (defence)."""
    rows = [r for r in data.safety if r.asr_by_template]
    templates = sorted({t for r in rows for t in r.asr_by_template})
    if not rows:
        return None
    width = min(16.0, max(6.5, 1.2 + len(templates) * (0.3 * len(rows) + 0.45)))
    with _figure(width, 3.4) as fig:
        ax = fig.add_subplot()
        bar = 0.8 / len(rows)
        for i, r in enumerate(rows):
            xs = [g - 0.4 + bar * (i + 0.5) for g in range(len(templates))]
            ms = [r.asr_by_template.get(t, 0.0) for t in templates]
            ax.bar(xs, ms, bar * 0.92, color=RUN_COLORS[i % len(RUN_COLORS)], label=_text(r.label), zorder=2)
        ax.set_xticks(range(len(templates)), [_text(t) for t in templates])
        ax.set_xlim(-0.6, len(templates) - 0.4)
        ax.set_ylim(0, 1.05)
        _pct_axis(ax)
        ax.set_ylabel("attack success rate")
        ax.grid(axis="x", visible=False)
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, 1.22), ncols=min(4, len(rows)))
        return _svg(fig)
