"""``palaestra redteam`` (the red-teaming loop) and ``palaestra attacks`` (its attack set: list, export)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from palaestra._hints import DEFAULT_STORE
from palaestra._literal import literal
from palaestra.cli._common import (
    AgentOptionOpt,
    JsonOpt,
    ModelOpt,
    StoreOpt,
    app,
    open_store,
    out,
    parse_agent_options,
)


@app.command()
def redteam(
    env: Annotated[str, typer.Argument(help="An attack variant, e.g. tools-attack.", show_default=False)],
    attacker: Annotated[
        str, typer.Option("--attacker", help="Model spec that writes injections, or 'mutate' (scripted).")
    ] = "mutate",
    target: Annotated[
        str, typer.Option("--target", help="The agent attacked (a defence, a victim, tools).")
    ] = "gullible",
    model: ModelOpt = None,
    agent_opt: AgentOptionOpt = None,
    rounds: Annotated[int, typer.Option("--rounds", help="Rounds of proposals.")] = 3,
    per_round: Annotated[
        int, typer.Option("--per-round", help="Templates the attacker writes per round.")
    ] = 4,
    tasks: Annotated[int, typer.Option("--tasks", "-n", help="Dev tasks each template is scored on.")] = 4,
    min_novelty: Annotated[
        float, typer.Option("--min-novelty", help="Keep only templates at least this new (0..1).")
    ] = 0.2,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the tasks and of the scripted attacker.")] = 0,
    export: Annotated[
        Path | None, typer.Option("--export", help="Also write the env's attack set as JSONL.")
    ] = None,
    as_json: JsonOpt = False,
    store: StoreOpt = DEFAULT_STORE,
) -> None:
    """Red-team an agent: an attacker writes prompt-injection templates, each is scored on the
    target's episodes (success: the injection task was done) and for novelty against the set so
    far; those that land and are new join the attack set in the store."""
    from palaestra.eval.redteam import Target, mutate_attacker
    from palaestra.eval.redteam import redteam as run_loop
    from palaestra.models.base import get_model

    st = open_store(store)
    target_model = get_model(model) if model else None
    writer = mutate_attacker(seed) if attacker == "mutate" else get_model(attacker)
    goal = Target(env, target, target_model, parse_agent_options(agent_opt or []))

    def show(c: Any) -> None:
        if not as_json:
            mark = "kept" if c.kept else "dropped"
            text = literal(" ".join(c.text[:70].split()))
            out.print(
                f"round {c.round}: {mark} success {c.success:.0%} novelty {c.novelty:.2f}  {text}",
                soft_wrap=True,
            )

    async def go() -> list[Any]:
        try:
            return await run_loop(
                st,
                goal,
                writer,
                attacker_name=attacker,
                rounds=rounds,
                per_round=per_round,
                tasks=tasks,
                seed=seed,
                min_novelty=min_novelty,
                on_candidate=show,
            )
        finally:
            await writer.close()
            if target_model is not None:
                await target_model.close()

    found = asyncio.run(go())
    kept = [c for c in found if c.kept]
    if export is not None:
        from palaestra.eval.redteam import export_attacks

        export_attacks(st, export, env)
    if as_json:
        out.print_json(data={"candidates": [_cand(c) for c in found], "set": len(st.attacks(env))})
    else:
        out.print(
            f"{len(kept)} of {len(found)} candidates kept; the set of {env} has {len(st.attacks(env))} attacks"
        )


def _cand(c: Any) -> dict[str, Any]:
    return {k: getattr(c, k) for k in ("id", "text", "round", "success", "novelty", "episodes", "kept")}


@app.command()
def attacks(
    env: Annotated[str | None, typer.Option("--env", help="Only the attacks of this attack variant.")] = None,
    out_file: Annotated[Path | None, typer.Option("--out", help="Export them as JSONL to this file.")] = None,
    as_json: JsonOpt = False,
    store: StoreOpt = DEFAULT_STORE,
) -> None:
    """The red-teaming attack set: list it, or export it as JSONL (the attack variants read it back
    with --env-arg templates_file=FILE --env-arg template=ID)."""
    st = open_store(store, create=False)
    if out_file is not None:
        from palaestra.eval.redteam import export_attacks

        n = export_attacks(st, out_file, env)
        out.print(f"wrote {n} attacks to {out_file}")
        return
    rows = st.attacks(env)
    if as_json:
        out.print(json.dumps(rows))
        return
    table = Table(title="Attack set")
    for col in ("id", "env", "target", "round", "success", "novelty", "text"):
        table.add_column(col)
    for a in rows:
        table.add_row(
            a["id"],
            a["env"],
            a["target"],
            str(a["round"]),
            f"{a['success']:.0%}",
            f"{a['novelty']:.2f}",
            literal(a["text"][:60]),
        )
    out.print(table)
