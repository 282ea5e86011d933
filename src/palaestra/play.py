"""``palaestra play``: a person plays an environment in the terminal.

Type a tool call as ``tool arg1 arg2`` (the last argument takes the rest of the line, so
``take apple 1`` works), ``tool key=value ...`` or ``tool({"key": value})``; ``help`` lists the
tools and ``quit`` leaves.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.text import Text

from palaestra._literal import literal
from palaestra.agents.human import HumanAgent, parse_command, show_observation
from palaestra.env import Env, make
from palaestra.errors import UsageError
from palaestra.tasksource import check_split
from palaestra.tools import describe_tools
from palaestra.types import Message, Observation

if TYPE_CHECKING:
    from palaestra.multi import MultiAgentEnv
    from palaestra.records import MatchRecord


async def play_terminal(
    name: str,
    *,
    difficulty: int | None = None,
    split: str = "train",
    seed: int = 0,
    console: Console | None = None,
    input_fn: Any = input,
) -> bool:
    """Play one task interactively; returns whether it was solved."""
    console = console or Console()
    env = make(name)
    if not isinstance(env, Env):
        raise UsageError(
            f"{name} is a multi-agent game; play a seat with `palaestra play {name} --seat SEAT`"
        )
    task = env.tasks(check_split(split), 1, seed=seed, difficulty=difficulty)[0]
    env.turn_limit = env.spec.max_steps
    obs = await env.reset(task)
    console.print(
        Text.assemble(
            literal(name, "bold"), " task ", literal(task.id), " (type 'help' for the tools, 'quit' to stop)"
        )
    )
    show_observation(console, obs)
    n = 0
    try:
        for n in range(1, env.spec.max_steps + 1):
            while True:
                try:
                    line = input_fn("> ")
                except EOFError:
                    console.print("bye")
                    return env.success
                if line.strip() in ("quit", "exit"):
                    return env.success
                if line.strip() in ("help", "?"):
                    console.print(literal(describe_tools(obs.tools or env.tool_specs())), highlight=False)
                    continue
                call = parse_command(line, obs.tools or env.tool_specs(), f"call_{n}")
                if call is None and not env.spec.free_text:
                    console.print(
                        f"unknown command {line.split()[0]!r} (type 'help')" if line.strip() else ""
                    )
                    continue
                break
            action = (
                Message(role="assistant", tool_calls=[call])
                if call
                else Message(role="assistant", content=line)
            )
            step = await env.step(action)
            obs = step.observation
            show_observation(console, obs)
            if step.terminated or step.truncated:
                break
        else:
            console.print(f"step limit of {env.spec.max_steps} reached")
        verdict = "[green]solved[/green]" if env.success else "[red]not solved[/red]"
        console.print(f"{verdict} in {n} steps · reward {step.reward:.2f} · progress {env.progress():.2f}")
        return env.success
    finally:
        await env.close()


async def play_game_terminal(
    name: str,
    seat: str,
    *,
    against: str | None = None,
    difficulty: int | None = None,
    split: str = "train",
    seed: int = 0,
    move_timeout: float | None = 300.0,
    console: Console | None = None,
    input_fn: Any = input,
) -> MatchRecord:
    """Play ``seat`` of a multi-agent game against ``against`` (default: the game's first bot) in
    every other seat; returns the match record."""
    from palaestra.runner.match import play_match
    from palaestra.runner.players import SeatView

    console = console or Console()
    game = make(name)
    if isinstance(game, Env):
        raise UsageError(f"{name} is a single-agent environment; play it with `palaestra play {name}`")
    task = game.tasks(check_split(split), 1, seed=seed, difficulty=difficulty)[0]

    def person(g: MultiAgentEnv, s: str, _seed: int) -> HumanAgent:
        return HumanAgent(SeatView(g, s), console, input_fn)

    console.print(
        Text.assemble(
            literal(name, "bold"),
            " task ",
            literal(task.id),
            ": you play seat ",
            literal(seat),
            " (type 'help' for your moves, 'quit' to leave)",
        )
    )
    players: dict[str | int, Any] = {seat: "human"}
    rec = await play_match(
        game, players, task, move_timeout=move_timeout, default=against, human=person, seed=seed
    )
    me = next((s for s in rec.seats.values() if s.player == "human"), None)
    if me is not None:
        show_observation(console, Observation(messages=me.final))
        if me.forfeit:
            console.print(Text.assemble("you forfeited (", literal(me.forfeit), ")"))
    scores = " · ".join(f"{s.seat} ({s.player}) {s.score:g}" for s in rec.seats.values())
    console.print(
        Text.assemble(f"match {rec.status} after {rec.rounds} rounds: ", literal(scores)), highlight=False
    )
    if rec.status == "error" and rec.error:
        console.print(Text.assemble(("error:", "red"), " ", literal(rec.error.splitlines()[0])))
    return rec
