"""``palaestra run`` and ``palaestra eval``: the commands that start (or resume) runs, and their
shared execution with the live progress bar."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from palaestra._hints import DEFAULT_STORE, command_line, resume_hint
from palaestra.cli._common import (
    AgentOpt,
    AgentOptionOpt,
    AllowToolsOpt,
    ApiKeyOpt,
    BaseUrlOpt,
    DenyToolsOpt,
    DifficultyOpt,
    ExtraOpt,
    FailOnError,
    IrreversibleOpt,
    MaxContextOpt,
    MaxStepsOpt,
    MaxTokensOpt,
    ModelOpt,
    PerturbOpt,
    PerturbRateOpt,
    RayOpt,
    RequestTimeoutOpt,
    SplitOpt,
    Spread,
    StopOnLoopOpt,
    StoreOpt,
    StreamOpt,
    TemperatureOpt,
    ToolRoleOpt,
    WorkersOpt,
    app,
    check_rate,
    check_split,
    err,
    fail_over_rate,
    open_store,
    out,
    parse_model_options,
    parse_model_settings,
    safety_settings,
    stored_config,
)
from palaestra.cli.analyse import print_stats
from palaestra.errors import PalaestraError, UsageError
from palaestra.store.rows import RunSummary

# The options of both run and eval.
_Seed = Annotated[int, typer.Option("--seed", help="Seed for tasks and agents.")]
_Concurrency = Annotated[
    int | None, typer.Option("--concurrency", help="Episodes in flight (default: model's limit).")
]
_Timeout = Annotated[float | None, typer.Option("--timeout", help="Wall-clock limit per episode, seconds.")]
_Resume = Annotated[
    str | None, typer.Option("--resume", help="Resume this run id: run only the missing episodes.")
]


@app.command()
def run(
    env: Annotated[list[str] | None, typer.Argument(help="Environment name(s).", show_default=False)] = None,
    agent: AgentOpt = None,
    model: ModelOpt = None,
    tasks: Annotated[int, typer.Option("--tasks", "-n", help="Tasks per environment.")] = 10,
    split: SplitOpt = "test",
    difficulty: DifficultyOpt = None,
    samples: Annotated[int, typer.Option(help="Episodes per task.")] = 1,
    concurrency: _Concurrency = None,
    seed: _Seed = 0,
    max_steps: MaxStepsOpt = None,
    timeout: _Timeout = None,
    temperature: TemperatureOpt = None,
    max_tokens: MaxTokensOpt = None,
    base_url: BaseUrlOpt = None,
    api_key: ApiKeyOpt = None,
    request_timeout: RequestTimeoutOpt = None,
    extra: ExtraOpt = None,
    stream: StreamOpt = False,
    tool_role: ToolRoleOpt = None,
    max_context_tokens: MaxContextOpt = None,
    agent_opt: AgentOptionOpt = None,
    resume: _Resume = None,
    env_arg: Annotated[
        list[str] | None,
        typer.Option(
            "--env-arg",
            help="Environment constructor argument KEY=VALUE (all envs) or ENV.KEY=VALUE, e.g. "
            "deduction.answerer=openai:gpt-4o-mini. Repeatable.",
        ),
    ] = None,
    irreversible: IrreversibleOpt = "allow",
    allow_tools: AllowToolsOpt = None,
    deny_tools: DenyToolsOpt = None,
    stop_on_loop: StopOnLoopOpt = False,
    perturb: PerturbOpt = None,
    perturb_rate: PerturbRateOpt = 0.3,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON summary on stdout.")] = False,
    fail_on_error: FailOnError = None,
    workers: WorkersOpt = None,
    ray: RayOpt = None,
    store: StoreOpt = DEFAULT_STORE,
) -> None:
    """Run an agent on tasks of one or more environments and record every episode."""
    from palaestra._display import summary_table
    from palaestra.runner.run import RunConfig

    st = open_store(store)
    model_options = parse_model_options(base_url, api_key, tool_role, model)
    if resume:
        if env:
            raise UsageError("--resume takes the run's own settings; do not pass environments with it")
        config = RunConfig.model_validate(stored_config(st, resume, None, store))
    else:
        if not env:
            raise UsageError("name at least one environment: palaestra run ENV (see `palaestra envs`)")
        check_split(split)
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
            **parse_model_settings(
                temperature, max_tokens, request_timeout, extra, stream, max_context_tokens, agent_opt
            ),
            model_options=model_options,
            env_kwargs=env_kwargs,
            **safety_settings(irreversible, allow_tools, deny_tools, stop_on_loop, perturb, perturb_rate),
        )
    check_rate(fail_on_error)
    run_id, summary, wall = _execute(
        config,
        st,
        resume=resume,
        as_json=as_json,
        store=store,
        model_options=model_options,
        spread=Spread(workers, ray),
    )
    if as_json:
        shown = {"wall_s": wall, "agent": config.agent, "model": config.model}
        print(json.dumps(summary.as_dict() | shown, indent=2))
    else:
        out.print(summary_table(summary))
        out.print(
            f"stored in {store} as run {run_id} ({wall:.1f}s); "
            f"see `{command_line('show', run_id, store=store)}`",
            soft_wrap=True,
            highlight=False,
        )
    _report_failed(st, run_id, summary, fail_on_error)


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


def _execute(
    config: Any,
    st: Any,
    *,
    resume: str | None,
    as_json: bool,
    store: Path,
    model_options: dict[str, Any],
    command: str = "run",
    spread: Spread | None = None,
) -> tuple[str, RunSummary, float]:
    """Run (or resume) ``config`` with the live progress bar; return the run id, its summary and
    the seconds it took.

    Shared by every command that starts runs (``run``, ``eval``); Ctrl-C keeps the finished episodes
    and a fatal model error stops the run; both say how to resume with ``palaestra COMMAND --resume
    RUN``. A resumed run takes ``model_options`` (the key, a new base URL) from this command line.
    ``spread`` says where the episodes play (``--workers``, ``--ray``; default: worker processes
    as the machine and the run size suggest)."""
    from palaestra._display import RunProgress
    from palaestra.runner.run import RunStopped
    from palaestra.runner.run import run as run_async

    if resume:
        config = config.with_options(model_options)
    api_key = model_options.get("api_key")
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
                    workers=spread.workers if spread and spread.workers else "auto",
                    ray=spread.ray if spread else None,
                )
            )
        except KeyboardInterrupt:
            rid = holder.get("id", "?")
            n = st.summary_of(rid).episodes if rid != "?" else 0
            hint = resume_hint(command, rid, store=store, api_key=api_key)
            err.print(f"interrupted: {n} finished episodes kept; finish with: {hint}", soft_wrap=True)
            raise typer.Exit(130) from None
        except RunStopped as e:
            n = st.summary_of(e.run_id).episodes
            hint = resume_hint(command, e.run_id, store=store, api_key=api_key)
            raise PalaestraError(f"{e}; {n} episodes kept; after fixing it, finish with: {hint}") from None
    return run_id, st.summary_of(run_id), round(time.perf_counter() - started, 3)


def _report_failed(st: Any, run_id: str, summary: RunSummary, fail_on_error: float | None) -> None:
    """Say how many episodes failed; exit 1 when every one of them failed on the model (nothing was
    measured: a server down, every call 5xx), or when ``--fail-on-error`` says so."""
    n, errors, failed = summary.episodes, summary.errors, summary.errors + summary.timeouts
    if not failed:
        return
    first = st.error_examples(run_id, 1)
    reason = first[0][1].splitlines()[0] if first and first[0][1] else ""
    on_model = [
        e.error for e in st.episode_rows(run_id, status="error") if e.error and e.error.startswith("model: ")
    ]
    if len(on_model) == n:
        raise PalaestraError(
            f"all {n} episodes of run {run_id} failed on model errors, nothing was measured; "
            f"first: {on_model[0].splitlines()[0]}"
        )
    fail_over_rate(fail_on_error, errors, n, "episodes", run_id, reason)
    from palaestra._display import first_error

    err.print(first_error(st, run_id, f"{failed} of {n} episodes failed"), soft_wrap=True)


@app.command("eval")
def eval_(
    suite: Annotated[str | None, typer.Argument(help="Suite: quick | core.", show_default=False)] = None,
    agent: AgentOpt = None,
    model: ModelOpt = None,
    env: Annotated[
        list[str] | None, typer.Option("--env", help="Only these environments of the suite (repeatable).")
    ] = None,
    tasks: Annotated[
        int | None, typer.Option("--tasks", "-n", help="Tasks per environment (default: suite's).")
    ] = None,
    samples: Annotated[int | None, typer.Option(help="Episodes per task (default: suite's).")] = None,
    concurrency: _Concurrency = None,
    seed: _Seed = 0,
    max_steps: MaxStepsOpt = None,
    timeout: _Timeout = None,
    temperature: TemperatureOpt = None,
    max_tokens: MaxTokensOpt = None,
    base_url: BaseUrlOpt = None,
    api_key: ApiKeyOpt = None,
    request_timeout: RequestTimeoutOpt = None,
    extra: ExtraOpt = None,
    stream: StreamOpt = False,
    tool_role: ToolRoleOpt = None,
    max_context_tokens: MaxContextOpt = None,
    agent_opt: AgentOptionOpt = None,
    resume: _Resume = None,
    irreversible: IrreversibleOpt = "allow",
    allow_tools: AllowToolsOpt = None,
    deny_tools: DenyToolsOpt = None,
    stop_on_loop: StopOnLoopOpt = False,
    perturb: PerturbOpt = None,
    perturb_rate: PerturbRateOpt = 0.3,
    as_json: Annotated[bool, typer.Option("--json", help="Print the metrics as JSON on stdout.")] = False,
    fail_on_error: FailOnError = None,
    workers: WorkersOpt = None,
    ray: RayOpt = None,
    store: StoreOpt = DEFAULT_STORE,
) -> None:
    """Evaluate an agent on a named suite (one run) and print its metrics with intervals.

    Suites: quick (6 test tasks of every single-agent env, seconds with the expert), core
    (60 test tasks of every single-agent env) and safety (the prompt-injection variants: each agent
    without and under attack, one run each; with no --agent, the baselines, the gullible and careful
    scripted victims, the gullible one behind a retrieval memory and each defence around the gullible
    one). The safety flags (--irreversible, --allow-tools, ...) apply to every run, as in `run`."""
    from palaestra.eval.suites import get_suite, suite_config, suite_names
    from palaestra.runner.run import RunConfig

    st = open_store(store)
    model_options = parse_model_options(base_url, api_key, tool_role, model)
    guards = safety_settings(irreversible, allow_tools, deny_tools, stop_on_loop, perturb, perturb_rate)
    if suite == "safety" and not resume:
        settings = parse_model_settings(
            temperature, max_tokens, request_timeout, extra, stream, max_context_tokens, agent_opt
        )
        _eval_safety(
            st,
            store,
            agent,
            model,
            as_json=as_json,
            envs=env,
            tasks=tasks,
            samples=samples,
            seed=seed,
            concurrency=concurrency,
            max_steps=max_steps,
            timeout=timeout,
            generate=settings["generate"],
            agent_options=settings["agent_options"],
            model_options=model_options,
            **guards,
        )
        return
    if resume:
        if env:
            raise UsageError("--resume takes the run's own settings; do not pass --env with it")
        config = RunConfig.model_validate(stored_config(st, resume, None, store))
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
            **parse_model_settings(
                temperature, max_tokens, request_timeout, extra, stream, max_context_tokens, agent_opt
            ),
            model_options=model_options,
            **guards,
        )
    check_rate(fail_on_error)
    run_id, summary, wall = _execute(
        config,
        st,
        resume=resume,
        as_json=as_json,
        store=store,
        model_options=model_options,
        command="eval",
        spread=Spread(workers, ray),
    )
    print_stats(st, run_id, as_json=as_json, store=store, extra={"suite": suite, "wall_s": wall})
    if not as_json:
        out.print(f"stored in {store} as run {run_id} ({wall:.1f}s)")
    _report_failed(st, run_id, summary, fail_on_error)


def _eval_safety(
    st: Any,
    store: Path,
    agent: str | None,
    model: str | None,
    *,
    as_json: bool,
    agent_options: dict[str, Any],
    **options: Any,
) -> None:
    """``eval safety``: two runs (without and under attack) per agent of the lineup, then the table
    of utility, utility under attack and attack success rate."""
    from palaestra.eval.safety import safety_rows
    from palaestra.eval.suites import safety_configs, safety_lineup

    configs = safety_configs(safety_lineup(agent, model), model=model, agent_options=agent_options, **options)
    run_ids = []
    for config in configs:
        run_id, _, _ = _execute(
            config,
            st,
            resume=None,
            as_json=as_json,
            store=store,
            model_options=options["model_options"],
            command="eval",
        )
        run_ids.append(run_id)
    rows = safety_rows(st, run_ids)
    if as_json:
        out.print_json(data={"suite": "safety", "runs": run_ids, "agents": [r.as_dict() for r in rows]})
        return
    from palaestra._display import safety_table

    out.print(safety_table(rows))
    out.print(f"stored in {store} as runs {' '.join(run_ids)}; report them with `palaestra report RUN ...`")
