"""Rich tables for ``palaestra stats``, ``palaestra eval`` and ``palaestra compare``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.table import Table

from palaestra.eval.taxonomy import CATEGORIES


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x:.1%}"


def _num(x: float | None, digits: int = 3) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def _est(e: Mapping[str, Any], pct: bool = True, digits: int = 2) -> str:
    """A mean with its interval, compactly: ``66.7% [33–100]`` or ``0.52 [0.31–0.77]``."""
    value, (lo, hi) = e["mean"], e["ci"]
    if value is None:
        return "-"
    if pct:
        text = f"{value:.1%}"
        bounds = None if lo is None or hi is None or lo == hi else f"{lo * 100:.0f}–{hi * 100:.0f}"
    else:
        text = f"{value:.{digits}f}"
        bounds = None if lo is None or hi is None or lo == hi else f"{lo:.{digits}f}–{hi:.{digits}f}"
    return text if bounds is None else f"{text} [dim]\\[{bounds}][/dim]"


def _rows(m: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    rows = list(m["envs"].items())
    if len(rows) != 1:
        rows.append(("[bold]all", m["overall"]))
    return rows


def metrics_table(m: Mapping[str, Any]) -> Table:
    conf = f"{m['confidence']:.0%}"
    t = Table(title=f"run {m['run_id']}: per environment ({conf} intervals)", title_justify="left")
    t.add_column("env", no_wrap=True)
    for col in ("episodes", "success", "progress", "reward", "steps", "invalid", "errors"):
        t.add_column(col, justify="right")
    for name, g in _rows(m):
        t.add_row(
            name,
            str(g["episodes"]),
            _est(g["success_rate"]),
            _est(g["progress"], pct=False),
            _est(g["reward"], pct=False),
            _num(g["steps"]["mean"], 1),
            _pct(g["invalid_action_rate"]),
            str(g["errors"] + g["timeouts"]),
        )
    return t


def usage_table(m: Mapping[str, Any]) -> Table | None:
    if not m["overall"]["model_calls"]:
        return None
    t = Table(title="model usage", title_justify="left")
    t.add_column("env", no_wrap=True)
    for col in ("calls", "tokens in", "tokens out", "tokens/episode", "s/call", "cost"):
        t.add_column(col, justify="right")
    for name, g in _rows(m):
        t.add_row(
            name,
            f"{g['model_calls']:,}",
            f"{g['input_tokens']:,}",
            f"{g['output_tokens']:,}",
            f"{g['tokens_per_episode']:,.0f}",
            _num(g["latency_per_call_s"], 3),
            "-" if g["cost"] is None else f"${g['cost']:.4f}",
        )
    return t


def difficulty_table(m: Mapping[str, Any]) -> Table:
    t = Table(title="per difficulty", title_justify="left")
    t.add_column("env", no_wrap=True)
    for col in ("level", "episodes", "success", "progress", "steps", "invalid"):
        t.add_column(col, justify="right")
    for env, g in m["envs"].items():
        for level, d in g["difficulties"].items():
            t.add_row(
                env,
                level,
                str(d["episodes"]),
                _est(d["success_rate"]),
                _est(d["progress"], pct=False),
                _num(d["steps"]["mean"], 1),
                _pct(d["invalid_action_rate"]),
            )
    return t


def sampling_table(m: Mapping[str, Any]) -> Table | None:
    if "pass_at_k" not in m["overall"]:
        return None
    ks = list(m["overall"]["pass_at_k"])
    n = next(iter(m["overall"]["avg_at_k"]))
    t = Table(title="several samples per task", title_justify="left")
    t.add_column("env")
    for k in ks:
        t.add_column(f"pass@{k}", justify="right")
    t.add_column(f"pass^{ks[-1]}", justify="right")
    t.add_column(f"avg@{n}", justify="right")
    for name, g in _rows(m):
        if "pass_at_k" not in g:
            continue
        t.add_row(
            name,
            *(_est(g["pass_at_k"][k]) if k in g["pass_at_k"] else "-" for k in ks),
            _est(g["pass_hat_k"][ks[-1]]) if ks[-1] in g["pass_hat_k"] else "-",
            _est(next(iter(g["avg_at_k"].values()))),
        )
    return t


def taxonomy_table(m: Mapping[str, Any]) -> Table:
    t = Table(title="outcomes (failure taxonomy)", title_justify="left")
    t.add_column("env")
    present = [c for c in CATEGORIES if any(g.get("outcomes", {}).get(c) for _, g in _rows(m))]
    for c in present:
        t.add_column(c.replace("_", " "), justify="right")
    for name, g in _rows(m):
        t.add_row(name, *(str(g.get("outcomes", {}).get(c, 0)) for c in present))
    return t


def safety_table(m: Mapping[str, Any]) -> Table | None:
    """Damage (consequential calls, reversible or not) and refused calls, where a run has them."""
    if "safety" not in m["overall"]:
        return None
    t = Table(title="damage and violations (consequential and refused tool calls)", title_justify="left")
    t.add_column("env", no_wrap=True)
    for col in ("reversible", "irreversible", "episodes with irreversible", "violations"):
        t.add_column(col, justify="right")
    for name, g in _rows(m):
        s = g.get("safety")
        if s is None:
            continue
        t.add_row(
            name,
            str(s["damage_reversible"]),
            str(s["damage_irreversible"]),
            f"{s['episodes_irreversible']} of {g['episodes']}",
            str(s["violations"]),
        )
    return t


def stats_tables(m: Mapping[str, Any]) -> list[Table]:
    optional = [
        usage_table(m),
        difficulty_table(m),
        sampling_table(m),
        taxonomy_table(m),
        safety_table(m),
    ]
    return [metrics_table(m), *(t for t in optional if t is not None)]


def _diff(diff: float, ci: list[float], pct: bool) -> str:
    scale, unit, digits = (100, "%", 1) if pct else (1, "", 3)
    text = f"{diff * scale:+.{digits}f}{unit}"
    lo, hi = ci
    if lo == hi:
        return text
    return f"{text} [dim]\\[{lo * scale:+.{digits - 1}f}, {hi * scale:+.{digits - 1}f}][/dim]"


_VERDICT = {
    "b_better": "[green]B better[/green]",
    "a_better": "[red]A better[/red]",
    "not_significant": "n.s.",
}


def compare_table(c: Mapping[str, Any]) -> Table:
    a, b = c["run_a"], c["run_b"]
    title = (
        f"A = {a['id']} ({a['agent']}{'/' + a['model'] if a['model'] else ''}), "
        f"B = {b['id']} ({b['agent']}{'/' + b['model'] if b['model'] else ''}): "
        f"{c['shared_tasks']} shared tasks, {c['confidence']:.0%} intervals"
    )
    caption = "p: paired sign-flip test; ᵐ McNemar's exact test (one sample per task)"
    t = Table(title=title, title_justify="left", caption=caption, caption_justify="left")
    t.add_column("env", no_wrap=True)
    for col in ("metric", "tasks", "A", "B", "B − A", "p", "verdict"):
        t.add_column(col, justify="left" if col in ("metric", "verdict") else "right")
    groups = list(c["envs"].items())
    if len(groups) != 1:
        groups.append(("[bold]all", c["overall"]))
    for env, g in groups:
        for metric in ("success_rate", "reward", "progress"):
            x = g[metric]
            pct = metric == "success_rate"
            fmt = _pct if pct else _num
            t.add_row(
                env,
                metric.replace("_rate", ""),
                str(g["tasks"]),
                fmt(x["a"]),
                fmt(x["b"]),
                _diff(x["diff"], x["ci"], pct),
                f"{x['p_value']:.2g}" + ("ᵐ" if x["test"] == "mcnemar_exact" else ""),
                _VERDICT[x["verdict"]],
            )
    return t
