"""Terminal rendering of match runs: the live progress bar and the standings tables (Rich)."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any, Literal

import typer
from rich.console import Console
from rich.table import Table

from palaestra._display import LiveBar, first_error
from palaestra._hints import command_line, resume_hint
from palaestra._literal import literal
from palaestra.errors import PalaestraError
from palaestra.records import MatchRecord
from palaestra.runner.run import RunStopped
from palaestra.runner.tournament import AnyConfig, MatchConfig, MatchStats, run_matches
from palaestra.store.sqlite import Store


class MatchProgress(LiveBar):
    """Matches, matches/s, moves/s, model calls/s, forfeits, errors and ETA."""

    def on_match(self, rec: MatchRecord, stats: MatchStats) -> None:
        def rate(elapsed: float) -> str:
            text = f"{stats.done / elapsed:.1f} matches/s · {stats.moves / elapsed:,.0f} moves/s"
            if stats.model_calls:
                text += f" · {stats.model_calls / elapsed:.1f} calls/s"
            if stats.forfeits:
                text += f" · {stats.forfeits} forfeits"
            return text

        self.update(stats, rate)


def _ci(row: dict[str, Any]) -> str:
    lo, hi = row["win_ci"]
    return f"{row['win_rate']:.0%} ({lo:.0%}-{hi:.0%})"


def standings_tables(summary: dict[str, Any]) -> list[Table]:
    """The players' table (rating = mu - 3 sigma, win rate with its Wilson 95% interval, mean score,
    forfeits, illegal moves / moves), the seats' table and the game's metrics."""
    title = f"{summary.get('game', '')}: {summary['matches']} matches"
    if summary.get("errors"):
        title += f", {summary['errors']} errors"
    if summary.get("truncated"):
        title += f", {summary['truncated']} truncated"
    players = Table(title=title)
    players.add_column("player", no_wrap=True)
    for col in ("rating", "μ ± σ", "seats", "wins (95% CI)", "score", "forfeits", "invalid"):
        players.add_column(col, justify="right", no_wrap=True)
    for r in summary["players"]:
        players.add_row(
            literal(r["player"]),
            f"{r['rating']:.2f}",
            f"{r['mu']:.1f} ± {r['sigma']:.1f}",
            str(r["seats_played"]),
            _ci(r),
            f"{r['mean_score']:.3f}",
            str(r["forfeits"]),
            f"{r['invalid_actions']}/{r['moves']}",
        )
    out = [players]
    seats = Table(title="by seat")
    seats.add_column("seat", no_wrap=True)
    for col in ("played", "wins (95% CI)", "mean score"):
        seats.add_column(col, justify="right", no_wrap=True)
    for seat, r in summary["seats"].items():
        seats.add_row(literal(seat), str(r["seats_played"]), _ci(r), f"{r['mean_score']:.3f}")
    out.append(seats)
    if summary.get("metrics"):
        metrics = Table(title="game metrics (mean per match)")
        metrics.add_column("metric")
        metrics.add_column("mean", justify="right")
        for k, v in summary["metrics"].items():
            metrics.add_row(literal(k), f"{v:.4g}")
        out.append(metrics)
    return out


def execute_matches(
    config: AnyConfig,
    st: Store,
    *,
    resume: str | None,
    as_json: bool,
    model_options: dict[str, Any],
    store: Path,
    workers: int | Literal["auto"] | None = None,
    ray: str | None = None,
) -> dict[str, Any]:
    """Run (or resume) a match or tournament run with the live bar, then print its standings (a table,
    or JSON with ``as_json``); Ctrl-C keeps the finished matches and says how to resume, as does a
    fatal model error. A resumed run takes ``model_options`` (the key, a new base URL) from this
    command line; ``workers`` and ``ray`` say where the matches play (see ``run_matches``)."""
    if resume:
        config = config.with_options(model_options)
    api_key = model_options.get("api_key")
    command = config.kind
    out, err = Console(), Console(stderr=True)
    holder: dict[str, str] = {}
    started = time.perf_counter()
    named = (
        [*config.seats.values(), config.default or ""] if isinstance(config, MatchConfig) else config.players
    )
    person = "human" in named  # a live bar would scribble over the person's prompt
    with MatchProgress(err, enabled=(not as_json or sys.stderr.isatty()) and not person) as bar:

        def on_start(run_id: str, stats: MatchStats) -> None:
            holder["id"] = run_id
            bar.on_start(run_id, stats)

        try:
            run_id = asyncio.run(
                run_matches(
                    config,
                    st,
                    run_id=resume,
                    resume=bool(resume),
                    on_match=bar.on_match,
                    on_start=on_start,
                    workers=workers,
                    ray=ray,
                )
            )
        except KeyboardInterrupt:
            rid = holder.get("id", "?")
            n = len(st.finished_episode_ids(rid)) if rid != "?" else 0
            hint = resume_hint(command, rid, store=store, api_key=api_key)
            err.print(f"interrupted: {n} finished matches kept; finish with: {hint}", soft_wrap=True)
            raise typer.Exit(130) from None
        except RunStopped as e:
            n = len(st.finished_episode_ids(e.run_id))
            hint = resume_hint(command, e.run_id, store=store, api_key=api_key)
            raise PalaestraError(f"{e}; {n} matches kept; after fixing it, finish with: {hint}") from None
    summary: dict[str, Any] = {"run_id": run_id, **(st.run(run_id)["summary"] or {})}
    summary["wall_s"] = round(time.perf_counter() - started, 3)
    if as_json:
        print(json.dumps(summary, indent=2))
    else:
        for table in standings_tables(summary):
            out.print(table)
        out.print(
            f"stored in {store} as run {run_id} ({summary['wall_s']:.1f}s); "
            f"see `{command_line('show', run_id, store=store)}`",
            soft_wrap=True,
            highlight=False,
        )
    _fail_if_no_model_moved(st, run_id)
    if summary.get("errors"):
        err.print(
            first_error(st, run_id, f"{summary['errors']} of {summary['matches']} matches failed"),
            soft_wrap=True,
        )
    return summary


def _fail_if_no_model_moved(st: Store, run_id: str) -> None:
    """Exit 1, with one line, when every model seat of every match forfeited on a model error (a
    server down, every call 5xx): the standings then measure nothing of the models."""
    seats = [s for m in st.match_rows(run_id) for s in m.seats if s.model]
    if seats and all((s.forfeit or "").startswith("model error:") for s in seats):
        raise PalaestraError(
            f"every model seat of run {run_id} forfeited on a model error, nothing was measured; "
            f"first: {seats[0].forfeit}"
        )
