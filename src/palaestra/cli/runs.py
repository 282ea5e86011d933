"""``palaestra runs``, ``rm`` and ``show``: the runs of a store, listed, deleted or shown."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from typing import Annotated

import typer
from rich.table import Table

from palaestra._hints import DEFAULT_STORE, command_line
from palaestra.cli._common import JsonOpt, RunArg, StoreOpt, app, err, open_store, out, resolve_run
from palaestra.errors import UsageError


@app.command()
def runs(
    store: StoreOpt = DEFAULT_STORE,
    limit: Annotated[int, typer.Option(help="How many runs.")] = 20,
    as_json: JsonOpt = False,
) -> None:
    """List the runs in the store, newest first."""
    from palaestra._literal import literal
    from palaestra.runner.settings import shown

    st = open_store(store, create=False)
    rows = [replace(r, config=shown(r.config)) for r in st.run_list(limit)]
    if as_json:
        print(json.dumps([r.as_dict() for r in rows], indent=2))
        return
    t = Table()
    t.add_column("run", no_wrap=True)
    t.add_column("created", no_wrap=True)
    for col in ("status", "envs", "agent", "model", "episodes", "success", "errors"):
        t.add_column(col, justify="right" if col in ("episodes", "success", "errors") else "left")
    for r in rows:
        c = r.config
        t.add_row(  # names come from the command line or a plugin: shown literally, never as markup
            literal(r.id),
            time.strftime("%Y-%m-%d %H:%M", time.localtime(r.created)),
            r.status,
            literal(",".join(c.get("envs") or [c.get("game", "")])),
            literal(c.get("agent") or c.get("kind", "")),
            literal(c.get("model") or "-"),
            str(r.episodes),
            f"{r.success_rate:.1%}",
            str(r.errors),
        )
    out.print(t)


@app.command()
def rm(
    run_ids: Annotated[
        list[str] | None, typer.Argument(help="Run id(s), or 'last'.", show_default=False)
    ] = None,
    empty: Annotated[bool, typer.Option("--empty", help="Also every run without an episode.")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    store: StoreOpt = DEFAULT_STORE,
) -> None:
    """Delete runs and everything of theirs (episodes, steps, model calls) from the store."""
    st = open_store(store, create=False, write=True)
    ids = list(dict.fromkeys(resolve_run(st, r, store) for r in run_ids or []))
    for rid in ids:
        st.run(rid)  # an unknown id: one line with the recent ones, before anything is deleted
    if empty:
        ids += [r for r in st.empty_run_ids() if r not in ids]
    if not run_ids and not empty:
        raise UsageError("name the runs to delete: palaestra rm RUN... (or --empty: runs with no episodes)")
    if not ids:
        out.print(f"no runs without episodes in {store}; nothing deleted", highlight=False)
        return
    episodes = sum(st.summary_of(rid).episodes for rid in ids)
    what = f"{len(ids)} run{'s' * (len(ids) != 1)} ({', '.join(ids)}) with {episodes} episodes from {store}"
    if not yes and not typer.confirm(f"delete {what}?", default=False, err=True):
        err.print("nothing deleted", highlight=False)
        raise typer.Exit(1)
    st.delete_runs(ids)
    out.print(f"deleted {what}", highlight=False, soft_wrap=True)


@app.command()
def show(
    run_id: RunArg = "last",
    episode: Annotated[str | None, typer.Option(help="Show this episode turn by turn.")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    store: StoreOpt = DEFAULT_STORE,
) -> None:
    """Show a run's summary and episodes, or one episode turn by turn."""
    from rich.text import Text

    from palaestra._display import render_message, summary_table
    from palaestra._literal import literal
    from palaestra.runner.settings import shown

    st = open_store(store, create=False)
    run_id = resolve_run(st, run_id, store)
    run = st.run_row(run_id)
    info = {**run.as_dict(), "config": shown(run.config)}
    if episode:
        ep = st.episode_detail(run_id, episode)
        if as_json:
            print(json.dumps(ep.as_dict(), indent=2))
            return
        row = ep.row
        out.print(
            Text.assemble(
                literal(row.id, "bold"),
                f" status={row.status} success={bool(row.success)} "
                f"reward={row.reward:.3f} progress={row.progress:.2f} steps={len(ep.steps)}",
            ),
            highlight=False,
        )
        seat = ""
        for s in ep.steps:
            if s.seat != seat:  # a match: each seat's moves in turn, as that seat saw the game
                seat = s.seat
                out.print(Text.assemble("── seat ", literal(seat), " ──", style="bold magenta"))
            for m in s.observation:
                out.print(render_message(m), highlight=False)
            out.print(render_message(s.action), style="cyan", highlight=False)
        for m in ep.final:
            out.print(render_message(m), highlight=False)
        if row.error:
            out.print(Text.assemble(("error:", "red"), " ", literal(row.error)), highlight=False)
        return
    if info["config"].get("kind") == "sim":
        from palaestra.cli.sim import show_sim

        show_sim(st, run_id, as_json)
        return
    if info["config"].get("kind") in ("match", "tournament"):
        from palaestra._match_display import standings_tables

        standings = {"run_id": run_id, **(run.summary or {})}
        if as_json:
            print(json.dumps({"run": info, "summary": standings}, indent=2))
            return
        for table in standings_tables(standings):
            out.print(table)
        ids = [e.id for e in st.episode_rows(run_id, limit=5)]
        out.print(
            f"matches: {', '.join(ids)}{' ...' if len(ids) == 5 else ''}; "
            f"one turn by turn: {command_line('show', run_id, '--episode', 'MATCH_ID', store=store)}",
            soft_wrap=True,
            highlight=False,
        )
        return
    summary = st.summary_of(run_id)
    if as_json:
        print(json.dumps({"run": info, "summary": summary.as_dict()}, indent=2))
        return
    out.print(summary_table(summary))
    t = Table()
    t.add_column("episode", no_wrap=True)
    for col in ("status", "success", "reward", "progress", "steps", "tokens"):
        t.add_column(col, justify="right")
    for e in st.episode_rows(run_id, limit=50):
        t.add_row(
            literal(e.id),
            e.status,
            "yes" if e.success else "no",
            f"{e.reward:.3f}",
            f"{e.progress:.2f}",
            str(e.steps),
            str(e.input_tokens + e.output_tokens),
        )
    out.print(t)
