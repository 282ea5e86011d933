"""``palaestra sim``: a large population evolving over rounds, a model deciding per archetype; and
how ``palaestra show`` prints such a run (a table of per-round metrics per mode)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from palaestra._hints import DEFAULT_STORE, command_line
from palaestra.cli._common import (
    ApiKeyOpt,
    BaseUrlOpt,
    JsonOpt,
    MaxTokensOpt,
    ModelOpt,
    StoreOpt,
    TemperatureOpt,
    app,
    open_store,
    out,
    parse_model_options,
)
from palaestra.errors import UsageError

if TYPE_CHECKING:
    from palaestra.sim.decide import Mode

_MODES: dict[str, tuple[Mode, ...]] = {
    "archetype": ("archetype",),
    "individual": ("individual",),
    "compare": ("archetype", "individual"),
}


def _params(items: Sequence[str]) -> dict[str, str]:
    params: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"--param {item!r} must look like NAME=VALUE, e.g. --param generation=5")
        params[key.strip()] = value.strip()
    return params


@contextlib.contextmanager
def _model_spec(model: str | None, fake_server: bool) -> Iterator[str]:
    """The model spec to use: ``--model``, or one against a fake server started for the run."""
    if fake_server:
        if model:
            raise UsageError("give --model or --fake-server, not both")
        from palaestra.sim.responder import situation_responder
        from palaestra.testing.fake_server import FakeOpenAIServer

        srv = FakeOpenAIServer(responder=situation_responder, max_seconds=24 * 3600).start_in_thread()
        try:
            yield f"openai:fake@{srv.base_url}"
        finally:
            srv.stop()
        return
    if not model:
        raise UsageError(
            "name the model that decides: --model SPEC (openai:NAME@URL, local:DIR, mock:FILE), "
            "or --fake-server for a stand-in that decides per situation"
        )
    yield model


@app.command()
def sim(
    name: Annotated[str, typer.Argument(help="donor | opinion | recommender")],
    agents: Annotated[int, typer.Option("--agents", "-n", help="Population size.")] = 10_000,
    rounds: Annotated[int, typer.Option("--rounds", "-r", help="Rounds to simulate.")] = 10,
    mode: Annotated[
        str,
        typer.Option(
            help="archetype (one model call per archetype and situation a round), individual (one per "
            "agent) or compare (both, same seed: the per-round difference goes to the summary)."
        ),
    ] = "archetype",
    model: ModelOpt = None,
    fake_server: Annotated[
        bool, typer.Option("--fake-server", help="Decide with a local fake OpenAI server (per situation).")
    ] = False,
    param: Annotated[
        list[str] | None, typer.Option("--param", help="A simulation parameter, NAME=VALUE (repeatable).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the population and every random draw.")] = 0,
    shards: Annotated[int, typer.Option(help="Split each round's population update in this many parts.")] = 1,
    ray: Annotated[
        bool, typer.Option("--ray", help="Run the parts as Ray tasks (local Ray unless connected).")
    ] = False,
    concurrency: Annotated[int, typer.Option(help="Model calls in flight at once.")] = 64,
    temperature: TemperatureOpt = 0.0,
    max_tokens: MaxTokensOpt = 32,
    base_url: BaseUrlOpt = None,
    api_key: ApiKeyOpt = None,
    store: StoreOpt = DEFAULT_STORE,
    as_json: JsonOpt = False,
) -> None:
    """Simulate a population (numpy arrays) over rounds; a model decides per archetype and situation."""
    from palaestra.models.base import GenerateConfig, get_model

    try:
        from palaestra.sim import SimRun, run_sim
    except ModuleNotFoundError as e:
        if e.name != "numpy":
            raise
        raise UsageError("palaestra sim needs numpy: pip install 'palaestra[sim]'") from None

    if mode not in _MODES:
        raise UsageError(f"--mode must be archetype, individual or compare, got {mode!r}")
    spec = SimRun(
        name,
        agents,
        rounds,
        modes=_MODES[mode],
        seed=seed,
        params=_params(param or []),
        shards=shards,
        ray=ray,
        concurrency=concurrency,
    )
    spec.check()
    generate = GenerateConfig(temperature=temperature, max_tokens=max_tokens)
    st = open_store(store)
    with _model_spec(model, fake_server) as model_spec:
        llm = get_model(model_spec, **parse_model_options(base_url, api_key, model=model_spec))

        async def main() -> tuple[str | None, Any, list[Any]]:
            try:
                return await run_sim(spec, llm, st, generate=generate)
            finally:
                await llm.close()

        run_id, simulation, results = asyncio.run(main())
    assert run_id is not None  # recorded: a store was given
    summary = st.run(run_id)["summary"]
    if as_json:
        series = {r.mode: [{"round": x.round, **x.metrics, **x.info} for x in r.rounds] for r in results}
        print(json.dumps({"run_id": run_id, "summary": summary, "series": series}, indent=2))
        return
    for r in results:
        _print_rounds(r.mode, simulation.metrics, [{**x.metrics, **x.info} for x in r.rounds])
    _print_totals(summary)
    out.print(
        f"run {run_id} in {store}; time series: {command_line('report', run_id, store=store)}",
        highlight=False,
        soft_wrap=True,
    )


def _print_rounds(mode: str, metrics: Sequence[str], rows: Sequence[Mapping[str, Any]]) -> None:
    t = Table(title=f"{mode} mode", title_justify="left")
    cols = [*metrics, "model_calls", "cache_hits", "invalid"]
    t.add_column("round", justify="right")
    for c in cols:
        t.add_column(c.replace("_", " "), justify="right")
    for i, row in enumerate(rows):
        t.add_row(str(i), *(_cell(row.get(c)) for c in cols))
    out.print(t)


def _cell(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.3f}"
    return "-" if v is None else f"{v:,}"


def _print_totals(summary: Mapping[str, Any]) -> None:
    for mode, s in summary["modes"].items():
        out.print(
            f"{mode}: {s['agents']:,} agents x {s['rounds']} rounds in {s['wall']:.2f}s = "
            f"{s['agent_rounds_per_s']:,.0f} agent-rounds/s, {s['model_calls_per_round']:g} model calls/round, "
            f"{s['invalid']} invalid replies, {s['model_errors']} failed calls, "
            f"state {s['state_bytes_per_agent']:g} bytes/agent",
            highlight=False,
            soft_wrap=True,
        )
    if "mean_divergence" in summary:
        div = ", ".join(
            f"{m} {v:.3f}" for m, v in summary["mean_divergence"].items() if not m.startswith("choice_")
        )
        out.print(
            f"archetype vs individual, mean |difference| per round: {div}", highlight=False, soft_wrap=True
        )


def show_sim(st: Any, run_id: str, as_json: bool) -> None:
    """``palaestra show`` of a simulation run: its summary and each mode's rounds."""
    run = st.run(run_id)
    modes = {}
    for e in st.episode_rows(run_id):
        modes[e.id] = [s.info for s in st.episode_detail(run_id, e.id).steps]
    if as_json:
        print(json.dumps({"run": run, "rounds": modes}, indent=2))
        return
    summary = run["summary"] or {}
    metrics = [
        k for k in next(iter(modes.values()), [{}])[0] if k not in ("seconds", "decide_seconds", "idle")
    ]
    own = [
        k
        for k in metrics
        if not k.startswith("choice_") and k not in ("model_calls", "cache_hits", "invalid", "model_errors")
    ]
    for mode, rows in modes.items():
        _print_rounds(mode, own, rows)
    if summary.get("modes"):
        _print_totals(summary)
