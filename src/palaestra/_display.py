"""Terminal rendering for the CLI: the live progress bar and summary tables (Rich).

Text that came from a model or an environment is only ever shown through
:func:`palaestra._literal.literal`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Self

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from palaestra._literal import literal
from palaestra.records import EpisodeRecord
from palaestra.runner.run import RunStats
from palaestra.store.rows import EnvSummary, RunSummary


class LiveBar:
    """A live Rich progress bar for a run: done/total, a rate text and the ETA, redrawn 4x a second."""

    def __init__(self, console: Console, enabled: bool = True) -> None:
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"),
            TimeRemainingColumn(),
            console=console,
            transient=False,
            disable=not enabled,
            refresh_per_second=4,
        )
        self.task_id: Any = None
        self._last = 0.0

    def __enter__(self) -> Self:
        return self  # the bar shows from on_start: input refused before the run starts is one clean line

    def __exit__(self, *exc: Any) -> None:
        if self.task_id is not None:
            self.progress.__exit__(*exc)

    def on_start(self, run_id: str, stats: Any) -> None:
        self.progress.__enter__()
        self.task_id = self.progress.add_task(
            f"run {run_id}", total=stats.total, completed=stats.skipped, rate=""
        )

    def update(self, stats: Any, rate: Callable[[float], str]) -> None:
        """Advance the bar; ``rate(elapsed_seconds)`` builds the rate text (only when redrawn)."""
        now = time.perf_counter()
        if now - self._last < 0.1 and stats.done + stats.skipped < stats.total:
            return  # the bar redraws 4 times a second; updating it on every episode is wasted work
        self._last = now
        text = rate(max(now - stats.started, 1e-9))
        if stats.errors:
            text += f" · [red]{stats.errors} errors[/red]"
        self.progress.update(self.task_id, completed=stats.skipped + stats.done, rate=text)


class RunProgress(LiveBar):
    """Episodes, success rate, model calls/s, tokens/s and ETA."""

    def on_episode(self, rec: EpisodeRecord, stats: RunStats) -> None:
        def rate(elapsed: float) -> str:
            text = f"success {stats.success / max(stats.done, 1):.0%}"
            if stats.model_calls:
                text += f" · {stats.model_calls / elapsed:.1f} calls/s · {stats.tokens / elapsed:,.0f} tok/s"
            return text

        self.update(stats, rate)


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x:.1%}"


def summary_table(summary: RunSummary) -> Table:
    t = Table(title=f"run {summary.run_id}", title_justify="left")
    for col in ("env", "episodes", "success", "reward", "progress", "invalid", "errors", "tokens"):
        t.add_column(col, justify="left" if col == "env" else "right")
    rows: list[tuple[Text | str, EnvSummary | RunSummary]] = [
        (literal(env), e) for env, e in summary.envs.items()
    ]
    if len(rows) > 1:
        rows.append(("[bold]all", summary))
    for name, e in rows:
        t.add_row(
            name,
            str(e.episodes),
            _pct(e.success_rate),
            f"{e.mean_reward:.3f}",
            f"{e.mean_progress:.3f}",
            _pct(e.invalid_action_rate),
            str(e.errors + e.timeouts),
            f"{e.input_tokens + e.output_tokens:,}",
        )
    return t


def render_message(m: dict[str, Any]) -> Text:
    """One stored message as ``role [name]: text`` (tool calls after it), every part shown literally."""
    role = m.get("role", "?")
    text = m.get("content", "") or ""
    for c in m.get("tool_calls", []) or []:
        args = c.get("raw_arguments") or c.get("arguments", {})
        text += f"\n→ {c['name']}({args})"
    tag = f"{role}" + (f" [{m['name']}]" if m.get("name") else "")
    return Text.assemble(literal(tag, "bold"), ": ", literal(text.strip()))


def first_error(store: Any, run_id: str, headline: str) -> Text:
    """``headline; first: REASON`` with the first line of the run's first stored error, literally."""
    first = store.error_examples(run_id, 1)
    reason = first[0][1].splitlines()[0] if first and first[0][1] else ""
    return Text.assemble((headline, "red"), "; first: ", literal(reason))


def safety_table(rows: list[Any]) -> Table:
    """``eval safety``'s table: one row per agent (``palaestra.eval.safety.SafetyRow``)."""
    templates = sorted({t for r in rows for t in r.asr_by_template})
    memory = any(r.poison_retrieval is not None for r in rows)
    poison_cols = ("poison retrieved (trigger)", "(no trigger)") if memory else ()
    table = Table(title="Prompt injection: utility and attack success")
    for col in ("agent", "defence", "utility", "under attack", "ASR", *(f"ASR {t}" for t in templates)):
        table.add_column(col, justify="left" if col in ("agent", "defence") else "right")
    for col in poison_cols:
        table.add_column(col, justify="right")
    for r in rows:
        per = [_pct(r.asr_by_template.get(t)) for t in templates]
        poison = [_pct(r.poison_retrieval), _pct(r.poison_retrieval_benign)] if memory else []
        table.add_row(
            literal(r.label),
            r.defence,
            _pct(r.utility),
            _pct(r.utility_under_attack),
            _pct(r.asr),
            *per,
            *poison,
        )
    return table
