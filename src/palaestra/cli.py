"""The ``palaestra`` command."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from palaestra.errors import PalaestraError, UsageError

app = typer.Typer(
    name="palaestra",
    help="Palaestra: run, evaluate and train LLM agents in environments.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console()
err = Console(stderr=True)
_state = {"verbose": False}

StoreOpt = Annotated[Path, typer.Option("--store", help="SQLite store file.", envvar="PALAESTRA_STORE")]
DEFAULT_STORE = Path("palaestra.db")


@app.callback()
def _main(verbose: Annotated[bool, typer.Option("-v", "--verbose", help="Show tracebacks.")] = False) -> None:
    _state["verbose"] = verbose


def _open_store(path: Path, create: bool = True) -> Any:
    from palaestra.store import Store

    return Store(path, create=create)


@app.command()
def envs(as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False) -> None:
    """List the environments."""
    from palaestra.env import env_factory, env_names

    rows = []
    for name in env_names():
        spec = env_factory(name).spec  # type: ignore[attr-defined]
        rows.append(
            {
                "name": name,
                "description": spec.description,
                "max_steps": spec.max_steps,
                "difficulties": list(spec.difficulties),
            }
        )
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    t = Table("env", "max steps", "levels", "description")
    for r in rows:
        t.add_row(r["name"], str(r["max_steps"]), ",".join(map(str, r["difficulties"])), r["description"])
    out.print(t)


@app.command()
def run(
    env: Annotated[list[str] | None, typer.Argument(help="Environment name(s).", show_default=False)] = None,
    agent: Annotated[str | None, typer.Option(help="Agent: tools, react, expert, random, ...")] = None,
    model: Annotated[
        str | None,
        typer.Option(help="Model spec, e.g. openai:NAME@URL or local:DIR."),
    ] = None,
    tasks: Annotated[int, typer.Option("--tasks", "-n", help="Tasks per environment.")] = 10,
    split: Annotated[str, typer.Option(help="train | dev | test")] = "test",
    difficulty: Annotated[int | None, typer.Option(help="Only this difficulty level.")] = None,
    samples: Annotated[int, typer.Option(help="Episodes per task.")] = 1,
    concurrency: Annotated[
        int | None, typer.Option(help="Episodes in flight (default: model's limit).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed for tasks and agents.")] = 0,
    max_steps: Annotated[int | None, typer.Option(help="Step limit per episode (default: env's).")] = None,
    timeout: Annotated[float | None, typer.Option(help="Wall-clock limit per episode, seconds.")] = None,
    temperature: Annotated[float | None, typer.Option(help="Sampling temperature.")] = None,
    max_tokens: Annotated[int | None, typer.Option(help="Max tokens per model reply.")] = None,
    base_url: Annotated[str | None, typer.Option(help="OpenAI-compatible base URL.")] = None,
    api_key: Annotated[str | None, typer.Option(help="API key (default $OPENAI_API_KEY).")] = None,
    resume: Annotated[
        str | None, typer.Option(help="Resume this run id: run only the missing episodes.")
    ] = None,
    env_arg: Annotated[
        list[str] | None,
        typer.Option(
            "--env-arg",
            help="Environment constructor argument KEY=VALUE (all envs) or ENV.KEY=VALUE, e.g. "
            "deduction.answerer=openai:gpt-4o-mini. Repeatable.",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON summary on stdout.")] = False,
    store: StoreOpt = DEFAULT_STORE,
) -> None:
    """Run an agent on tasks of one or more environments and record every episode."""
    from palaestra._display import summary_table
    from palaestra.models.base import GenerateConfig
    from palaestra.runner.run import RunConfig

    st = _open_store(store)
    model_options = _model_options(base_url, api_key)
    if resume:
        if env:
            raise UsageError("--resume takes the run's own settings; do not pass environments with it")
        stored = st.run(resume)["config"]
        if stored.get("kind") in ("match", "tournament"):
            raise UsageError(
                f"run {resume} is a {stored['kind']} run; resume it with: palaestra {stored['kind']} --resume {resume}"
            )
        config = RunConfig.model_validate(stored)
    else:
        if not env:
            raise UsageError("name at least one environment: palaestra run ENV (see `palaestra envs`)")
        if split not in ("train", "dev", "test"):
            raise UsageError(f"unknown split {split!r}; valid splits: train, dev, test")
        env_kwargs = _env_kwargs(env, env_arg or [])  # checks the names before the model is looked for
        config = RunConfig(
            envs=env,
            **_agent_and_model(agent, model),
            split=split,
            tasks=tasks,
            samples=samples,
            difficulty=difficulty,
            seed=seed,
            concurrency=concurrency,
            max_steps=max_steps,
            timeout=timeout,
            generate=GenerateConfig(temperature=temperature, max_tokens=max_tokens),
            model_options={k: v for k, v in model_options.items() if k != "api_key"},
            env_kwargs=env_kwargs,
        )
    run_id, summary = _execute(config, st, resume=resume, as_json=as_json, model_options=model_options)
    if as_json:
        print(json.dumps(summary, indent=2))
    else:
        out.print(summary_table(summary))
        out.print(
            f"stored in {store} as run {run_id} ({summary['wall_s']:.1f}s); see `palaestra show {run_id}`",
            soft_wrap=True,
            highlight=False,
        )
    _report_failed(st, run_id, summary)


def _env_kwargs(envs: list[str], args: list[str]) -> dict[str, dict[str, Any]]:
    """``--env-arg`` values as per-env constructor kwargs (values are JSON where they parse)."""
    import inspect

    from palaestra.env import env_factory

    for name in envs:
        env_factory(name)  # an unknown name: one line listing the valid ones
    out: dict[str, dict[str, Any]] = {}
    for arg in args:
        key, sep, raw = arg.partition("=")
        if not sep or not key:
            raise UsageError(f"--env-arg {arg!r}: expected KEY=VALUE or ENV.KEY=VALUE")
        try:
            value: Any = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        name, dot, field = key.rpartition(".")
        targets = [name] if dot else envs
        for env_name in targets:
            if env_name not in envs:
                raise UsageError(
                    f"--env-arg {arg!r}: {env_name!r} is not one of this run's envs ({', '.join(envs)})"
                )
            params = inspect.signature(env_factory(env_name)).parameters
            if field not in params and not any(p.kind is p.VAR_KEYWORD for p in params.values()):
                if dot:
                    valid = ", ".join(p for p in params if p != "self") or "(none)"
                    raise UsageError(f"--env-arg {arg!r}: {env_name} takes no {field!r}; it takes: {valid}")
                continue  # a bare KEY=VALUE goes to the envs that take it
            out.setdefault(env_name, {})[field] = value
    for arg in args:
        key = arg.partition("=")[0]
        if "." not in key and not any(key in kw for kw in out.values()):
            raise UsageError(f"--env-arg {arg!r}: none of {', '.join(envs)} takes {key!r}")
    return out


def _agent_and_model(agent: str | None, model: str | None) -> dict[str, Any]:
    """The agent and model of a run from the options given: a model alone means the ``tools``
    agent; nothing at all means the ``expert`` baseline (no trained default model ships yet)."""
    return {"agent": agent or ("tools" if model else "expert"), "model": model}


def _model_options(base_url: str | None, api_key: str | None) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if base_url:
        options["base_url"] = base_url
    if api_key:
        options["api_key"] = api_key  # never stored with the run
    return options


def _execute(
    config: Any,
    st: Any,
    *,
    resume: str | None,
    as_json: bool,
    model_options: dict[str, Any],
    command: str = "run",
) -> tuple[str, dict[str, Any]]:
    """Run (or resume) ``config`` with the live progress bar; return the run id and its summary.

    Shared by every command that starts runs (``run``, ``eval``); Ctrl-C keeps the finished episodes
    and says how to resume with ``palaestra COMMAND --resume RUN``."""
    from palaestra._display import RunProgress
    from palaestra.runner.run import run as run_async

    config = config.model_copy(update={"model_options": {**config.model_options, **model_options}})
    holder: dict[str, str] = {}
    started = time.perf_counter()
    with RunProgress(err, enabled=not as_json or sys.stderr.isatty()) as bar:

        def on_start(run_id: str, stats: Any) -> None:
            holder["id"] = run_id
            bar.on_start(run_id, stats)

        try:
            run_id = asyncio.run(
                run_async(
                    config,
                    st,
                    run_id=resume,
                    resume=bool(resume),
                    on_episode=bar.on_episode,
                    on_start=on_start,
                )
            )
        except KeyboardInterrupt:
            rid = holder.get("id", "?")
            n = st.summary(rid)["episodes"] if rid != "?" else 0
            err.print(
                f"interrupted: {n} finished episodes kept; finish with: palaestra {command} --resume {rid}",
                soft_wrap=True,
            )
            raise typer.Exit(130) from None
    summary: dict[str, Any] = st.summary(run_id)
    summary["wall_s"] = round(time.perf_counter() - started, 3)
    summary["agent"], summary["model"] = config.agent, config.model
    return run_id, summary


def _report_failed(st: Any, run_id: str, summary: dict[str, Any]) -> None:
    failed = summary["errors"] + summary["timeouts"]
    if failed:
        first = st.error_examples(run_id, 1)
        reason = first[0][1].splitlines()[0] if first and first[0][1] else ""
        err.print(
            f"[red]{failed} of {summary['episodes']} episodes failed[/red]; first: {escape(reason)}",
            soft_wrap=True,
        )


@app.command()
def runs(
    store: StoreOpt = DEFAULT_STORE,
    limit: Annotated[int, typer.Option(help="How many runs.")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """List the runs in the store, newest first."""
    st = _open_store(store, create=False)
    rows = st.runs(limit)
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    t = Table()
    t.add_column("run", no_wrap=True)
    t.add_column("created", no_wrap=True)
    for col in ("status", "envs", "agent", "model", "episodes", "success", "errors"):
        t.add_column(col, justify="right" if col in ("episodes", "success", "errors") else "left")
    for r in rows:
        c = r["config"]
        t.add_row(
            r["id"],
            time.strftime("%Y-%m-%d %H:%M", time.localtime(r["created"])),
            r["status"],
            ",".join(c.get("envs") or [c.get("game", "")]),
            c.get("agent") or c.get("kind", ""),
            c.get("model") or "-",
            str(r["episodes"]),
            f"{r['success_rate']:.1%}",
            str(r["errors"]),
        )
    out.print(t)


@app.command()
def show(
    run_id: Annotated[str, typer.Argument(help="Run id, or 'last'.")] = "last",
    episode: Annotated[str | None, typer.Option(help="Show this episode turn by turn.")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    store: StoreOpt = DEFAULT_STORE,
) -> None:
    """Show a run's summary and episodes, or one episode turn by turn."""
    from palaestra._display import render_message, summary_table

    st = _open_store(store, create=False)
    if run_id == "last":
        run_id = st.latest_run_id() or ""
        if not run_id:
            raise UsageError(f"no runs in {store} yet; start one with `palaestra run ENV`")
    info = st.run(run_id)
    if episode:
        ep = st.episode(run_id, episode)
        if as_json:
            print(json.dumps(ep, indent=2))
            return
        out.print(
            f"[bold]{ep['id']}[/bold] status={ep['status']} success={bool(ep['success'])} "
            f"reward={ep['reward']:.3f} progress={ep['progress']:.2f} steps={len(ep['steps'])}"
        )
        seat = ""
        for s in ep["steps"]:
            if s["seat"] != seat:  # a match: each seat's moves in turn, as that seat saw the game
                seat = s["seat"]
                out.print(f"[bold magenta]── seat {escape(seat)} ──[/bold magenta]")
            for m in s["observation"]:
                out.print(render_message(m), markup=True, highlight=False)
            out.print(render_message(s["action"]), style="cyan", highlight=False)
        for m in ep["final"]:
            out.print(render_message(m), highlight=False)
        if ep["error"]:
            out.print(f"[red]error:[/red] {escape(ep['error'])}")
        return
    if info["config"].get("kind") in ("match", "tournament"):
        from palaestra._match_display import standings_tables

        standings = {"run_id": run_id, **(info["summary"] or {})}
        if as_json:
            print(json.dumps({"run": info, "summary": standings}, indent=2))
            return
        for table in standings_tables(standings):
            out.print(table)
        ids = [e["id"] for e in st.episodes(run_id, limit=5)]
        out.print(
            f"matches: {', '.join(ids)}{' ...' if len(ids) == 5 else ''}; "
            f"one turn by turn: palaestra show {run_id} --episode MATCH_ID",
            soft_wrap=True,
            highlight=False,
        )
        return
    summary = st.summary(run_id)
    if as_json:
        print(json.dumps({"run": info, "summary": summary}, indent=2))
        return
    out.print(summary_table(summary))
    t = Table()
    t.add_column("episode", no_wrap=True)
    for col in ("status", "success", "reward", "progress", "steps", "tokens"):
        t.add_column(col, justify="right")
    for e in st.episodes(run_id, limit=50):
        t.add_row(
            e["id"],
            e["status"],
            "yes" if e["success"] else "no",
            f"{e['reward']:.3f}",
            f"{e['progress']:.2f}",
            str(e["steps"]),
            str(e["input_tokens"] + e["output_tokens"]),
        )
    out.print(t)


@app.command()
def play(
    env: Annotated[str, typer.Argument(help="Environment name.")],
    difficulty: Annotated[int | None, typer.Option(help="Difficulty level.")] = None,
    split: Annotated[str, typer.Option(help="train | dev | test")] = "train",
    seed: Annotated[int, typer.Option(help="Which task: the seed of the task list.")] = 0,
    seat: Annotated[
        str | None, typer.Option(help="Games: the seat you play (name or index; default: the first).")
    ] = None,
    against: Annotated[
        str | None, typer.Option(help="Games: the player of the other seats (default: the game's first bot).")
    ] = None,
) -> None:
    """Play an environment, or a seat of a game against bots, yourself in the terminal."""
    from palaestra.env import Env, make
    from palaestra.play import play_game_terminal, play_terminal

    if isinstance(make(env), Env):
        if seat or against:
            raise UsageError(f"{env} is a single-agent environment; --seat and --against are for games")
        asyncio.run(play_terminal(env, difficulty=difficulty, split=split, seed=seed, console=out))
        return
    asyncio.run(
        play_game_terminal(
            env, seat or "0", against=against, difficulty=difficulty, split=split, seed=seed, console=out
        )
    )


def _resolve_run(st: Any, run_id: str, store: Path) -> str:
    if run_id == "last":
        run_id = st.latest_run_id() or ""
        if not run_id:
            raise UsageError(f"no runs in {store} yet; start one with `palaestra run ENV`")
    return run_id


@app.command("eval")
def eval_(
    suite: Annotated[str | None, typer.Argument(help="Suite: quick | core.", show_default=False)] = None,
    agent: Annotated[str | None, typer.Option(help="Agent: tools, react, expert, random, ...")] = None,
    model: Annotated[
        str | None,
        typer.Option(help="Model spec, e.g. openai:NAME@URL or local:DIR."),
    ] = None,
    env: Annotated[
        list[str] | None, typer.Option("--env", help="Only these environments of the suite (repeatable).")
    ] = None,
    tasks: Annotated[
        int | None, typer.Option("--tasks", "-n", help="Tasks per environment (default: suite's).")
    ] = None,
    samples: Annotated[int | None, typer.Option(help="Episodes per task (default: suite's).")] = None,
    concurrency: Annotated[
        int | None, typer.Option(help="Episodes in flight (default: model's limit).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed for tasks and agents.")] = 0,
    max_steps: Annotated[int | None, typer.Option(help="Step limit per episode (default: env's).")] = None,
    timeout: Annotated[float | None, typer.Option(help="Wall-clock limit per episode, seconds.")] = None,
    temperature: Annotated[float | None, typer.Option(help="Sampling temperature.")] = None,
    max_tokens: Annotated[int | None, typer.Option(help="Max tokens per model reply.")] = None,
    base_url: Annotated[str | None, typer.Option(help="OpenAI-compatible base URL.")] = None,
    api_key: Annotated[str | None, typer.Option(help="API key (default $OPENAI_API_KEY).")] = None,
    resume: Annotated[
        str | None, typer.Option(help="Resume this run id: run only the missing episodes.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the metrics as JSON on stdout.")] = False,
    store: StoreOpt = DEFAULT_STORE,
) -> None:
    """Evaluate an agent on a named suite (one run) and print its metrics with intervals.

    Suites: quick (6 test tasks of every single-agent env, seconds with the expert) and core
    (60 test tasks of every single-agent env)."""
    from palaestra.eval.suites import get_suite, suite_config, suite_names
    from palaestra.models.base import GenerateConfig
    from palaestra.runner.run import RunConfig

    st = _open_store(store)
    model_options = _model_options(base_url, api_key)
    if resume:
        if env:
            raise UsageError("--resume takes the run's own settings; do not pass --env with it")
        config = RunConfig.model_validate(st.run(resume)["config"])
    else:
        if not suite:
            raise UsageError(f"name a suite: palaestra eval SUITE; suites: {', '.join(suite_names())}")
        get_suite(suite)
        config = suite_config(
            suite,
            envs=env,
            tasks=tasks,
            samples=samples,
            **_agent_and_model(agent, model),
            seed=seed,
            concurrency=concurrency,
            max_steps=max_steps,
            timeout=timeout,
            generate=GenerateConfig(temperature=temperature, max_tokens=max_tokens),
            model_options={k: v for k, v in model_options.items() if k != "api_key"},
        )
    run_id, summary = _execute(
        config, st, resume=resume, as_json=as_json, model_options=model_options, command="eval"
    )
    _print_stats(st, run_id, as_json=as_json, extra={"suite": suite, "wall_s": summary["wall_s"]})
    if not as_json:
        out.print(f"stored in {store} as run {run_id} ({summary['wall_s']:.1f}s)")
    _report_failed(st, run_id, summary)


def _print_stats(
    st: Any, run_id: str, *, as_json: bool, extra: dict[str, Any] | None = None, **kw: Any
) -> None:
    from palaestra.eval.metrics import run_metrics

    m = run_metrics(st, run_id, **kw)
    if as_json:
        print(json.dumps({**(extra or {}), **m}, indent=2))
        return
    from palaestra.eval.render import stats_tables

    for t in stats_tables(m):
        out.print(t)
    failed = [f for f in m["failed"] if f["category"] != "success"]
    for f in failed[:5]:
        detail = f" ({escape(f['detail'])})" if f["detail"] else ""
        out.print(f"  {f['category']}: {f['id']}{detail}", highlight=False)
    if len(failed) > 5:
        out.print(f"  ... {len(failed) - 5} more; `palaestra stats {run_id} --json` lists them all")
    if failed:
        out.print(f"  see one with `palaestra show {run_id} --episode ID`")


@app.command()
def stats(
    run_id: Annotated[str, typer.Argument(help="Run id, or 'last'.")] = "last",
    env: Annotated[str | None, typer.Option(help="Only this environment.")] = None,
    resamples: Annotated[int, typer.Option(help="Bootstrap resamples.")] = 2000,
    confidence: Annotated[float, typer.Option(help="Confidence level of the intervals.")] = 0.95,
    seed: Annotated[int, typer.Option(help="Seed of the bootstrap.")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    store: StoreOpt = DEFAULT_STORE,
) -> None:
    """Metrics of a run per environment and difficulty: intervals, pass@k, failure taxonomy."""
    if not 0 < confidence < 1:
        raise UsageError(f"--confidence must be between 0 and 1, got {confidence}")
    if resamples < 1:
        raise UsageError("--resamples must be at least 1")
    st = _open_store(store, create=False)
    run_id = _resolve_run(st, run_id, store)
    _print_stats(st, run_id, as_json=as_json, env=env, resamples=resamples, confidence=confidence, seed=seed)


@app.command()
def compare(
    run_a: Annotated[str, typer.Argument(help="Baseline run id (A).")],
    run_b: Annotated[str, typer.Argument(help="Run to compare with it (B), or 'last'.")],
    alpha: Annotated[float, typer.Option(help="Significance level.")] = 0.05,
    seed: Annotated[int, typer.Option(help="Seed of the bootstrap and randomisation tests.")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    store: StoreOpt = DEFAULT_STORE,
) -> None:
    """Paired comparison of two runs on their shared tasks: is B better than A?"""
    from palaestra.eval.compare import compare_runs

    st = _open_store(store, create=False)
    run_a, run_b = _resolve_run(st, run_a, store), _resolve_run(st, run_b, store)
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
    runs: Annotated[list[str], typer.Argument(help="Run id(s), or 'last'.", show_default=False)],
    format: Annotated[str, typer.Option("--format", "-f", help="sft | dpo | rm | raw")] = "sft",
    out_path: Annotated[
        Path | None, typer.Option("--out", "-o", help="Output file: FILE.jsonl or FILE.parquet.")
    ] = None,
    filter: Annotated[
        str | None,
        typer.Option(help="Episodes for sft/raw: success | failed | all (default: sft success, raw all)."),
    ] = None,
    env: Annotated[str | None, typer.Option(help="Only this environment.")] = None,
    dpo_mode: Annotated[
        str, typer.Option(help="dpo pairs: step (one turn at the divergence) | trajectory (the rest).")
    ] = "step",
    store: StoreOpt = DEFAULT_STORE,
) -> None:
    """Export runs as training data in the formats TRL reads (SFT, DPO, reward model) or raw."""
    from palaestra.export import export as export_runs

    if out_path is None:
        raise UsageError("name the output file: --out FILE.jsonl or --out FILE.parquet")
    st = _open_store(store, create=False)
    ids = [_resolve_run(st, r, store) for r in runs]
    res = export_runs(st, ids, format, out_path, filter=filter, env=env, dpo_mode=dpo_mode)
    out.print(f"wrote {res.rows} {format} rows from {res.episodes} episodes to {res.path}", highlight=False)
    if res.note:
        err.print(f"[yellow]warning:[/yellow] {escape(res.note)}", soft_wrap=True)


@app.command()
def report(
    runs: Annotated[list[str], typer.Argument(help="Run id(s), or 'last'.", show_default=False)],
    out_path: Annotated[Path, typer.Option("--out", "-o", help="The HTML file to write.")] = Path(
        "report.html"
    ),
    episodes_per_env: Annotated[
        int, typer.Option(help="Example episodes shown per environment and run (best and worst).")
    ] = 2,
    title: Annotated[str | None, typer.Option(help="Title of the page.")] = None,
    store: StoreOpt = DEFAULT_STORE,
) -> None:
    """Write one self-contained HTML report of runs: leaderboard, plots, costs, failures, examples."""
    from palaestra.report import write_report

    st = _open_store(store, create=False)
    ids = [_resolve_run(st, r, store) for r in runs]
    res = write_report(st, ids, out_path, episodes_per_env=episodes_per_env, title=title)
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


_MoveTimeout = Annotated[
    float | None, typer.Option(help="Seconds a seat may take for one move; it forfeits after that.")
]
_MaxRounds = Annotated[int | None, typer.Option(help="Round cap of one match (default: the game's).")]


def _match_common(
    game: str,
    split: str,
    difficulty: int | None,
    seed: int,
    concurrency: int | None,
    max_rounds: int | None,
    move_timeout: float | None,
    temperature: float | None,
    max_tokens: int | None,
    model_options: dict[str, Any],
) -> dict[str, Any]:
    from palaestra.models.base import GenerateConfig

    if split not in ("train", "dev", "test"):
        raise UsageError(f"unknown split {split!r}; valid splits: train, dev, test")
    return {
        "game": game,
        "split": split,
        "difficulty": difficulty,
        "seed": seed,
        "concurrency": concurrency,
        "max_steps": max_rounds,
        "move_timeout": move_timeout,
        "generate": GenerateConfig(temperature=temperature, max_tokens=max_tokens),
        "model_options": {k: v for k, v in model_options.items() if k != "api_key"},
    }


@app.command()
def match(
    game: Annotated[str | None, typer.Argument(help="Game name (see `palaestra envs`).")] = None,
    seat: Annotated[
        list[str] | None, typer.Option(help="SEAT=PLAYER (seat name or index), repeatable.")
    ] = None,
    default: Annotated[
        str | None, typer.Option(help="Player of the seats not named (default: the game's first bot).")
    ] = None,
    tasks: Annotated[int, typer.Option("--tasks", "-n", help="Matches to play, one per task.")] = 1,
    split: Annotated[str, typer.Option(help="train | dev | test")] = "test",
    difficulty: Annotated[int | None, typer.Option(help="Only this difficulty level.")] = None,
    seed: Annotated[int, typer.Option(help="Seed for tasks and players.")] = 0,
    concurrency: Annotated[int | None, typer.Option(help="Matches in flight.")] = None,
    max_rounds: _MaxRounds = None,
    move_timeout: _MoveTimeout = 300.0,
    temperature: Annotated[float | None, typer.Option(help="Sampling temperature.")] = None,
    max_tokens: Annotated[int | None, typer.Option(help="Max tokens per model reply.")] = None,
    base_url: Annotated[str | None, typer.Option(help="OpenAI-compatible base URL.")] = None,
    api_key: Annotated[str | None, typer.Option(help="API key (default $OPENAI_API_KEY).")] = None,
    resume: Annotated[
        str | None, typer.Option(help="Resume this run id: play only the missing matches.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the standings as JSON on stdout.")] = False,
    store: StoreOpt = DEFAULT_STORE,
) -> None:
    """Play matches of a game with PLAYER in each SEAT: bot:NAME, random, human, tools:MODEL, react:MODEL."""
    from palaestra._match_display import execute_matches
    from palaestra.runner.tournament import MatchConfig, load_config

    st = _open_store(store)
    model_options = _model_options(base_url, api_key)
    if resume:
        if game or seat:
            raise UsageError("--resume takes the run's own settings; do not pass a game or seats with it")
        config: Any = load_config(st.run(resume)["config"])
    else:
        if not game:
            raise UsageError("name a game: palaestra match GAME --seat SEAT=PLAYER (see `palaestra envs`)")
        seats: dict[str, str] = {}
        for item in seat or []:
            name, sep, player = item.partition("=")
            if not sep or not name or not player:
                raise UsageError(f"--seat {item!r} must look like SEAT=PLAYER, e.g. --seat 0=bot:greedy")
            seats[name] = player
        common = _match_common(
            game,
            split,
            difficulty,
            seed,
            concurrency,
            max_rounds,
            move_timeout,
            temperature,
            max_tokens,
            model_options,
        )
        config = MatchConfig(seats=seats, default=default, tasks=tasks, **common)
    execute_matches(config, st, resume=resume, as_json=as_json, model_options=model_options, store=store)


@app.command()
def tournament(
    game: Annotated[str | None, typer.Argument(help="Game name (see `palaestra envs`).")] = None,
    more: Annotated[
        list[str] | None, typer.Argument(help="More players (after --players).", show_default=False)
    ] = None,
    players: Annotated[
        list[str] | None, typer.Option("--players", "-p", help="Players: --players P1 P2 ... (or P1,P2).")
    ] = None,
    rounds: Annotated[int, typer.Option(help="Rounds (round robin: repetitions of the schedule).")] = 1,
    format: Annotated[str, typer.Option("--format", help="round-robin | swiss")] = "round-robin",
    filler: Annotated[
        str | None,
        typer.Option(help="Unrated player for seats left when a game has more seats than players."),
    ] = None,
    split: Annotated[str, typer.Option(help="train | dev | test")] = "test",
    difficulty: Annotated[int | None, typer.Option(help="Only this difficulty level.")] = None,
    seed: Annotated[int, typer.Option(help="Seed for tasks, pairings and players.")] = 0,
    concurrency: Annotated[int | None, typer.Option(help="Matches in flight.")] = None,
    max_rounds: _MaxRounds = None,
    move_timeout: _MoveTimeout = 300.0,
    temperature: Annotated[float | None, typer.Option(help="Sampling temperature.")] = None,
    max_tokens: Annotated[int | None, typer.Option(help="Max tokens per model reply.")] = None,
    base_url: Annotated[str | None, typer.Option(help="OpenAI-compatible base URL.")] = None,
    api_key: Annotated[str | None, typer.Option(help="API key (default $OPENAI_API_KEY).")] = None,
    resume: Annotated[
        str | None, typer.Option(help="Resume this run id: play only the missing matches.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the standings as JSON on stdout.")] = False,
    store: StoreOpt = DEFAULT_STORE,
) -> None:
    """A tournament: players paired round robin or Swiss, seats rotated, rated with openskill."""
    from palaestra._match_display import execute_matches
    from palaestra.runner.tournament import TournamentConfig, load_config

    st = _open_store(store)
    model_options = _model_options(base_url, api_key)
    if resume:
        if game or players or more:
            raise UsageError("--resume takes the run's own settings; do not pass a game or players with it")
        config: Any = load_config(st.run(resume)["config"])
    else:
        if not game:
            raise UsageError("name a game: palaestra tournament GAME --players P1 P2 ...")
        if format not in ("round-robin", "swiss"):
            raise UsageError(f"unknown --format {format!r}; valid formats: round-robin, swiss")
        names = [
            p.strip() for item in [*(players or []), *(more or [])] for p in item.split(",") if p.strip()
        ]
        common = _match_common(
            game,
            split,
            difficulty,
            seed,
            concurrency,
            max_rounds,
            move_timeout,
            temperature,
            max_tokens,
            model_options,
        )
        config = TournamentConfig(players=names, rounds=rounds, format=format, filler=filler, **common)
    execute_matches(config, st, resume=resume, as_json=as_json, model_options=model_options, store=store)


train_app = typer.Typer(
    help="Fine-tune a local model on `palaestra export` data with TRL: train sft | train dpo.",
    no_args_is_help=True,
)
app.add_typer(train_app, name="train")

_TrainData = Annotated[
    list[Path], typer.Argument(help="Export file(s): FILE.jsonl or FILE.parquet.", show_default=False)
]
_TrainModel = Annotated[
    str | None, typer.Option("--model", "-m", help="Base model: a local model directory or nano.")
]
_TrainOut = Annotated[Path | None, typer.Option("--out", "-o", help="Directory for the trained model.")]
_Epochs = Annotated[float, typer.Option(help="Passes over the examples.")]
_MaxStepsT = Annotated[int | None, typer.Option("--max-steps", help="Stop after this many optimiser steps.")]
_Lr = Annotated[float, typer.Option("--lr", help="Peak learning rate (larger, e.g. 1e-3, from scratch).")]
_Batch = Annotated[int, typer.Option("--batch-size", help="Examples per step.")]
_Accum = Annotated[int, typer.Option("--grad-accum", help="Batches accumulated per optimiser step.")]
_Lora = Annotated[bool, typer.Option("--lora/--no-lora", help="Train a LoRA adapter, merged at the end.")]
_LoraR = Annotated[int, typer.Option("--lora-r", help="LoRA rank.")]
_LoraAlpha = Annotated[int, typer.Option("--lora-alpha", help="LoRA alpha.")]
_MaxPrompt = Annotated[
    int | None, typer.Option("--max-prompt-tokens", help="Prompt budget (default: the base model's).")
]
_SeedT = Annotated[int, typer.Option(help="Seed of initialisation and shuffling.")]
_LogSteps = Annotated[int, typer.Option("--logging-steps", help="Print the loss every N steps.")]
_Device = Annotated[str, typer.Option(help="auto | cpu | cuda")]
_Overwrite = Annotated[bool, typer.Option("--overwrite", help="Replace a non-empty --out directory.")]
_JsonT = Annotated[bool, typer.Option("--json", help="Print the result as JSON on stdout.")]


def _train_command(kind: str, data: list[Path], model: str | None, out_dir: Path | None, **kw: Any) -> None:
    from palaestra.train import make_config, train_dpo, train_sft

    if not model:
        raise UsageError(f"name the base model: palaestra train {kind} DATA --model DIR|nano --out DIR")
    if out_dir is None:
        raise UsageError(f"name the output directory: palaestra train {kind} DATA --model {model} --out DIR")
    overwrite, as_json = kw.pop("overwrite"), kw.pop("as_json")
    config = make_config(**kw)
    fn = train_sft if kind == "sft" else train_dpo
    res = fn(
        data,
        model,
        out_dir,
        config,
        overwrite=overwrite,
        log=lambda line: err.print(line, highlight=False, markup=False, soft_wrap=True),
    )
    if as_json:
        print(res.model_dump_json(indent=2))
        return
    first = f"{res.losses[0][1]:.4f} → " if len(res.losses) > 1 else ""
    loss = f"loss {first}{res.final_loss:.4f}" if res.final_loss is not None else "no loss logged"
    skipped = f" ({res.skipped} left out: prompt too long)" if res.skipped else ""
    out.print(
        f"trained {kind} on {res.examples} examples{skipped}: {res.steps} steps, {loss}, "
        f"{res.seconds:.1f}s on {res.device}; wrote {res.out}; use it with --model local:{res.out}",
        highlight=False,
        markup=False,
        soft_wrap=True,
    )


@train_app.command("sft")
def train_sft_command(
    data: _TrainData,
    model: _TrainModel = None,
    out_dir: _TrainOut = None,
    epochs: _Epochs = 1.0,
    max_steps: _MaxStepsT = None,
    lr: _Lr = 5e-5,
    batch_size: _Batch = 8,
    grad_accum: _Accum = 1,
    lora: _Lora = False,
    lora_r: _LoraR = 16,
    lora_alpha: _LoraAlpha = 32,
    max_prompt_tokens: _MaxPrompt = None,
    seed: _SeedT = 0,
    completion_only: Annotated[
        bool,
        typer.Option(
            "--completion-only/--all-tokens",
            help="Loss on the agent's replies only, or on every token (pretraining a model from scratch).",
        ),
    ] = True,
    logging_steps: _LogSteps = 10,
    device: _Device = "auto",
    overwrite: _Overwrite = False,
    as_json: _JsonT = False,
) -> None:
    """Supervised fine-tuning on an SFT export: loss on the agent's turns, each with the prompt it acted on."""
    _train_command("sft", **locals())


@train_app.command("dpo")
def train_dpo_command(
    data: _TrainData,
    model: _TrainModel = None,
    out_dir: _TrainOut = None,
    epochs: _Epochs = 1.0,
    max_steps: _MaxStepsT = None,
    lr: _Lr = 5e-5,
    batch_size: _Batch = 8,
    grad_accum: _Accum = 1,
    lora: _Lora = False,
    lora_r: _LoraR = 16,
    lora_alpha: _LoraAlpha = 32,
    max_prompt_tokens: _MaxPrompt = None,
    seed: _SeedT = 0,
    beta: Annotated[float, typer.Option(help="DPO beta: pull towards the base (reference) model.")] = 0.1,
    logging_steps: _LogSteps = 10,
    device: _Device = "auto",
    overwrite: _Overwrite = False,
    as_json: _JsonT = False,
) -> None:
    """Direct preference optimisation on a DPO export (successful vs failed turns of the same task)."""
    _train_command("dpo", **locals())


@app.command()
def evolve(
    env: Annotated[list[str], typer.Argument(help="Environment name(s).", show_default=False)],
    model: Annotated[str, typer.Option(help="Starting model: nano or a local model directory.")] = "nano",
    work: Annotated[Path, typer.Option("--out", "-o", help="Work directory (models, data, store).")] = Path(
        "evolve"
    ),
    iterations: Annotated[int, typer.Option(help="Sample-train-evaluate iterations.")] = 2,
    train_tasks: Annotated[int, typer.Option(help="Train tasks per env sampled each iteration.")] = 64,
    samples: Annotated[int, typer.Option(help="Episodes per train task.")] = 4,
    temperature: Annotated[float, typer.Option(help="Sampling temperature on train tasks.")] = 1.0,
    test_tasks: Annotated[int, typer.Option(help="Held-out test tasks per env (greedy).")] = 50,
    difficulty: Annotated[int | None, typer.Option(help="Only this difficulty level.")] = None,
    max_steps: Annotated[int | None, typer.Option(help="Step limit per episode (default: env's).")] = None,
    accumulate: Annotated[
        bool, typer.Option(help="Train on every iteration's successes so far (else the latest only).")
    ] = True,
    dpo: Annotated[bool, typer.Option(help="Also a DPO pass on success/failure pairs of a task.")] = False,
    epochs: Annotated[float, typer.Option(help="Training epochs per iteration.")] = 1.0,
    lr: Annotated[float, typer.Option(help="Peak learning rate.")] = 5e-5,
    batch_size: Annotated[int, typer.Option(help="Examples per training step.")] = 8,
    lora: Annotated[bool, typer.Option(help="Train LoRA adapters (merged after each iteration).")] = False,
    seed: Annotated[int, typer.Option(help="Seed for tasks, sampling and training.")] = 0,
    concurrency: Annotated[int | None, typer.Option(help="Episodes in flight.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the table as JSON on stdout.")] = False,
) -> None:
    """Self-improvement: sample on train tasks, keep successes (and DPO pairs), train, evaluate on
    held-out test tasks; repeat. Prints one row per iteration; `evolve.json` in --out keeps them."""
    from palaestra.env import env_factory
    from palaestra.evolve import EvolveConfig, IterationRow
    from palaestra.evolve import evolve as run_evolve

    cfg = EvolveConfig(
        envs=env,
        model=model,
        iterations=iterations,
        train_tasks=train_tasks,
        samples=samples,
        temperature=temperature,
        test_tasks=test_tasks,
        difficulty=difficulty,
        max_steps=max_steps,
        accumulate=accumulate,
        dpo=dpo,
        seed=seed,
        concurrency=concurrency,
        train={"epochs": epochs, "lr": lr, "batch_size": batch_size, "lora": lora, "seed": seed},
    )
    for name in env:
        env_factory(name)

    def show(row: IterationRow) -> None:
        if not as_json:
            err.print(_evolve_line(row), highlight=False, soft_wrap=True)

    rows = run_evolve(cfg, work, on_row=show)
    if as_json:
        print(json.dumps([r.model_dump() for r in rows], indent=2))
        return
    t = Table("iter", "trained on", "loss", *env, "mean", "model")
    for r in rows:
        trained = (
            "-"
            if r.iteration == 0
            else f"{r.train_successes}/{r.train_episodes} ok, {r.sft_rows} eps"
            + (f", {r.dpo_pairs} pairs" if cfg.dpo else "")
        )
        t.add_row(
            str(r.iteration),
            trained,
            "-" if r.train_loss is None else f"{r.train_loss:.3f}",
            *(f"{r.test_success.get(e, 0.0):.1%}" for e in env),
            f"{r.test_mean:.1%}",
            r.model,
        )
    out.print(t)


def _evolve_line(row: Any) -> str:
    per_env = " ".join(f"{e}={s:.1%}" for e, s in row.test_success.items())
    return f"iteration {row.iteration}: test {row.test_mean:.1%} ({per_env}) in {row.seconds:.0f}s"


from palaestra._cli_bridges import register as _register_bridges  # noqa: E402

_register_bridges(app)


def main() -> None:
    """Entry point: one clear line per error, exit 2 for bad input, tracebacks only with -v."""
    verbose = "-v" in sys.argv[1:] or "--verbose" in sys.argv[1:]
    try:
        code = app(standalone_mode=False)
    except PalaestraError as e:
        if verbose:
            raise
        err.print(f"[red]error:[/red] {escape(str(e))}", highlight=False, soft_wrap=True)
        sys.exit(e.exit_code)
    except typer.Exit as e:
        sys.exit(e.exit_code)
    except typer.TyperException as e:
        show = getattr(e, "show", None)
        if callable(show):
            show()
        else:
            err.print(f"error: {e.format_message()}")
        sys.exit(2)
    except (typer.Abort, KeyboardInterrupt):
        err.print("aborted")
        sys.exit(130)
    except Exception as e:
        if verbose or os.environ.get("PALAESTRA_DEBUG"):
            raise
        err.print(
            f"[red]error:[/red] {type(e).__name__}: {escape(str(e))} (run with -v for the traceback)",
            soft_wrap=True,
        )
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)
