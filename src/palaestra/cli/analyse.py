"""``palaestra stats``, ``compare``, ``export``, ``report`` and ``view``: what reads a store's runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from palaestra._hints import DEFAULT_STORE, command_line
from palaestra.cli._common import JsonOpt, RunArg, StoreOpt, app, err, open_store, out, resolve_run
from palaestra.errors import UsageError

_Runs = Annotated[list[str], typer.Argument(help="Run id(s), or 'last'.", show_default=False)]
_Env = Annotated[str | None, typer.Option("--env", help="Only this environment.")]
_OverwriteFile = Annotated[bool, typer.Option("--overwrite", help="Replace the --out file if it exists.")]


def print_stats(
    st: Any, run_id: str, *, as_json: bool, store: Path, extra: dict[str, Any] | None = None, **kw: Any
) -> None:
    from palaestra.eval.metrics import run_metrics

    m = run_metrics(st, run_id, **kw)
    if as_json:
        print(json.dumps({**(extra or {}), **m}, indent=2))
        return
    from palaestra._literal import literal
    from palaestra.eval.render import stats_tables

    for t in stats_tables(m):
        out.print(t)
    failed = [f for f in m["failed"] if f["category"] != "success"]
    for f in failed[:5]:
        detail = f" ({f['detail']})" if f["detail"] else ""
        out.print(literal(f"  {f['category']}: {f['id']}{detail}"), highlight=False)
    if len(failed) > 5:
        listing = command_line("stats", run_id, "--json", store=store)
        out.print(
            f"  ... {len(failed) - 5} more; `{listing}` lists them all", highlight=False, soft_wrap=True
        )
    if failed:
        one = command_line("show", run_id, "--episode", "ID", store=store)
        out.print(f"  see one with `{one}`", highlight=False, soft_wrap=True)


@app.command()
def stats(
    run_id: RunArg = "last",
    env: _Env = None,
    resamples: Annotated[int, typer.Option(help="Bootstrap resamples.")] = 2000,
    confidence: Annotated[float, typer.Option(help="Confidence level of the intervals.")] = 0.95,
    seed: Annotated[int, typer.Option(help="Seed of the bootstrap.")] = 0,
    as_json: JsonOpt = False,
    store: StoreOpt = DEFAULT_STORE,
) -> None:
    """Metrics of a run per environment and difficulty: intervals, pass@k, failure taxonomy."""
    if not 0 < confidence < 1:
        raise UsageError(f"--confidence must be between 0 and 1, got {confidence}")
    if resamples < 1:
        raise UsageError("--resamples must be at least 1")
    st = open_store(store, create=False)
    run_id = resolve_run(st, run_id, store)
    print_stats(
        st,
        run_id,
        as_json=as_json,
        store=store,
        env=env,
        resamples=resamples,
        confidence=confidence,
        seed=seed,
    )


@app.command()
def compare(
    run_a: Annotated[str, typer.Argument(help="Baseline run id (A).")],
    run_b: Annotated[str, typer.Argument(help="Run to compare with it (B), or 'last'.")],
    alpha: Annotated[float, typer.Option(help="Significance level.")] = 0.05,
    seed: Annotated[int, typer.Option(help="Seed of the bootstrap and randomisation tests.")] = 0,
    as_json: JsonOpt = False,
    store: StoreOpt = DEFAULT_STORE,
) -> None:
    """Paired comparison of two runs on their shared tasks: is B better than A?"""
    from palaestra.eval.compare import compare_runs

    st = open_store(store, create=False)
    run_a, run_b = resolve_run(st, run_a, store), resolve_run(st, run_b, store)
    c = compare_runs(st, run_a, run_b, alpha=alpha, seed=seed)
    if as_json:
        print(json.dumps(c, indent=2))
        return
    from palaestra.eval.render import compare_table

    out.print(compare_table(c))
    if c["only_a"] or c["only_b"]:
        out.print(f"not compared: {c['only_a']} tasks only in A, {c['only_b']} only in B")


@app.command()
def export(
    runs: _Runs,
    format: Annotated[
        str, typer.Option("--format", "-f", help="sft | dpo | rm | raw | search-dpo | search-sft")
    ] = "sft",
    out_path: Annotated[
        Path | None, typer.Option("--out", "-o", help="Output file: FILE.jsonl or FILE.parquet.")
    ] = None,
    filter: Annotated[
        str | None,
        typer.Option(
            help="Episodes for sft/raw/search-*: success | failed | all (default: sft and search-sft "
            "success, raw and search-dpo all)."
        ),
    ] = None,
    env: _Env = None,
    dpo_mode: Annotated[
        str, typer.Option(help="dpo pairs: step (one turn at the divergence) | trajectory (the rest).")
    ] = "step",
    overwrite: _OverwriteFile = False,
    store: StoreOpt = DEFAULT_STORE,
) -> None:
    """Export runs as training data in the formats TRL reads (SFT, DPO, reward model) or raw."""
    from palaestra.export import export as export_runs

    if out_path is None:
        raise UsageError("name the output file: --out FILE.jsonl or --out FILE.parquet")
    st = open_store(store, create=False)
    ids = [resolve_run(st, r, store) for r in runs]
    res = export_runs(
        st, ids, format, out_path, filter=filter, env=env, dpo_mode=dpo_mode, overwrite=overwrite
    )
    out.print(f"wrote {res.rows} {format} rows from {res.episodes} episodes to {res.path}", highlight=False)
    if res.note:
        err.print(f"[yellow]warning:[/yellow] {escape(res.note)}", soft_wrap=True)


@app.command()
def report(
    runs: _Runs,
    out_path: Annotated[Path, typer.Option("--out", "-o", help="The HTML file to write.")] = Path(
        "report.html"
    ),
    episodes_per_env: Annotated[
        int, typer.Option(help="Example episodes shown per environment and run (best and worst).")
    ] = 2,
    title: Annotated[str | None, typer.Option(help="Title of the page.")] = None,
    overwrite: _OverwriteFile = False,
    store: StoreOpt = DEFAULT_STORE,
) -> None:
    """Write one self-contained HTML report of runs: leaderboard, plots, costs, failures, examples."""
    from palaestra.report import write_report

    st = open_store(store, create=False)
    ids = [resolve_run(st, r, store) for r in runs]
    res = write_report(st, ids, out_path, episodes_per_env=episodes_per_env, title=title, overwrite=overwrite)
    for note in res.skipped:
        err.print(f"[yellow]skipped:[/yellow] {escape(note)}", soft_wrap=True)
    out.print(
        f"wrote {res.path} ({res.bytes / 1024:,.0f} KiB: {len(res.runs)} run{'s' * (len(res.runs) != 1)}, "
        f"{res.episodes:,} episodes, {res.examples} example episodes) in {res.seconds:.1f}s; "
        "open it in a browser",
        highlight=False,
        soft_wrap=True,
    )


@app.command()
def view(
    store: StoreOpt = DEFAULT_STORE,
    port: Annotated[int, typer.Option(help="Port to listen on (0: any free port).")] = 8765,
    host: Annotated[
        str, typer.Option(help="Address to bind. Anything but loopback shares the store with the network.")
    ] = "127.0.0.1",
) -> None:
    """Browse runs and episodes in a local web app (read-only); Ctrl-C stops it."""
    from palaestra.viewer import serve

    def ready(url: str) -> None:
        out.print(
            f"Palaestra viewer on {url} (store {store}, read-only); Ctrl-C to stop",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )

    serve(store, host=host, port=port, on_ready=ready)
