"""``palaestra play``: a person plays an environment in the terminal.

Type a tool call as ``tool arg1 arg2`` (the last argument takes the rest of the line, so
``take apple 1`` works), ``tool key=value ...`` or ``tool({"key": value})``; ``help`` lists the
tools and ``quit`` leaves.
"""

from __future__ import annotations

import asyncio
import contextlib
import shlex
import threading
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.text import Text

from palaestra._literal import literal
from palaestra.agents.react import describe_tools, parse_action
from palaestra.env import Env, make
from palaestra.errors import UsageError
from palaestra.types import Message, Observation, Split, Task, ToolCall, ToolSpec

if TYPE_CHECKING:
    from palaestra.multi import MultiAgentEnv
    from palaestra.runner.match import MatchRecord


def parse_command(line: str, tools: list[ToolSpec], call_id: str = "call_0") -> ToolCall | None:
    """A tool call from a person's command line, or None if the line names no tool."""
    line = line.strip()
    if not line:
        return None
    head = line.split(None, 1)[0].split("(", 1)[0]
    spec = next((t for t in tools if t.name == head), None)
    if spec is None:
        return None
    if "(" in line.split(None, 1)[0]:
        return parse_action(f"Action: {line}", call_id)
    rest = line[len(head) :].strip()
    props = list(spec.parameters.get("properties", {}))
    args: dict[str, Any] = {}
    if rest and all("=" in tok for tok in _split(rest)):
        for tok in _split(rest):
            k, _, v = tok.partition("=")
            args[k] = _value(v)
    elif rest:
        toks = _split(rest)
        if len(props) <= 1:
            args = {props[0]: _value(rest)} if props else {}
        else:
            for i, name in enumerate(props):
                if i >= len(toks):
                    break
                args[name] = _value(" ".join(toks[i:])) if i == len(props) - 1 else _value(toks[i])
    return ToolCall(id=call_id, name=head, arguments=args)


def _split(text: str) -> list[str]:
    try:
        return shlex.split(text)
    except ValueError:
        return text.split()


def _value(text: str) -> Any:
    """Numbers stay text: the tool's schema converts them (``"5"`` becomes 5 for an int)."""
    if text.startswith(("[", "{")):
        import json

        try:
            return json.loads(text)
        except json.JSONDecodeError:
            return text
    return text


def _show(console: Console, obs: Observation) -> None:
    for m in obs.messages:
        style = {"system": "dim", "tool": "green", "user": ""}.get(m.role, "")
        console.print(literal(m.content, style), highlight=False)


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
    if split not in ("train", "dev", "test"):
        raise UsageError(f"unknown split {split!r}; valid splits: train, dev, test")
    split_: Split = split  # type: ignore[assignment]
    task = env.tasks(split_, 1, seed=seed, difficulty=difficulty)[0]
    env.turn_limit = env.spec.max_steps
    obs = await env.reset(task)
    console.print(
        Text.assemble(
            literal(name, "bold"), " task ", literal(task.id), " (type 'help' for the tools, 'quit' to stop)"
        )
    )
    _show(console, obs)
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
            _show(console, obs)
            if step.terminated or step.truncated:
                break
        else:
            console.print(f"step limit of {env.spec.max_steps} reached")
        verdict = "[green]solved[/green]" if env.success else "[red]not solved[/red]"
        console.print(f"{verdict} in {n} steps · reward {step.reward:.2f} · progress {env.progress():.2f}")
        return env.success
    finally:
        await env.close()


async def _read_line(input_fn: Any, prompt: str) -> str:
    """``input_fn(prompt)`` in a daemon thread, so that the other seats play on meanwhile and Ctrl-C
    never waits for a line that will not come."""
    loop = asyncio.get_running_loop()
    fut: asyncio.Future[str] = loop.create_future()

    def settle(line: str | None, error: BaseException | None) -> None:
        if fut.done():
            return
        if error is not None:
            fut.set_exception(error)
        else:
            fut.set_result(line or "")

    def work() -> None:
        line: str | None = None
        error: BaseException | None = None
        try:
            line = input_fn(prompt)
        except StopIteration:  # a scripted input that ran out
            error = EOFError()
        except BaseException as e:
            error = e
        with contextlib.suppress(RuntimeError):  # the loop is gone: nobody waits any more
            loop.call_soon_threadsafe(settle, line, error)

    threading.Thread(target=work, daemon=True, name="palaestra-input").start()
    return await fut


class HumanQuit(Exception):
    """The person left the match (``quit``); the runner counts it as the seat's forfeit."""

    forfeit_reason = "left the game"


class HumanAgent:
    """A person playing one seat of a game (or an env) at the terminal, as an ``Agent``.

    It shows what the seat was told since its last move and reads commands as ``palaestra play``
    does; ``quit`` (or end of input) leaves, which forfeits the seat.
    """

    def __init__(self, env: Any, console: Console | None = None, input_fn: Any = input) -> None:
        self.env = env
        self.console = console or Console()
        self.input_fn = input_fn
        self.n = 0

    async def reset(self, task: Task) -> None:
        self.n = 0

    async def act(self, observation: Observation) -> Message:
        _show(self.console, observation)
        tools = observation.tools or self.env.tool_specs()
        free_text = self.env.spec.free_text
        while True:
            try:
                line = await _read_line(self.input_fn, "> ")
            except EOFError:
                raise HumanQuit("end of input") from None
            if line.strip() in ("quit", "exit"):
                raise HumanQuit("quit")
            if line.strip() in ("help", "?"):
                self.console.print(literal(describe_tools(tools)), highlight=False)
                continue
            self.n += 1
            call = parse_command(line, tools, f"call_{self.n}")
            if call is not None:
                return Message(role="assistant", tool_calls=[call])
            if free_text and line.strip():
                return Message(role="assistant", content=line)
            self.console.print(f"unknown command {line.split()[0]!r} (type 'help')" if line.strip() else "")


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
    if split not in ("train", "dev", "test"):
        raise UsageError(f"unknown split {split!r}; valid splits: train, dev, test")
    split_: Split = split  # type: ignore[assignment]
    task = game.tasks(split_, 1, seed=seed, difficulty=difficulty)[0]

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
        _show(console, Observation(messages=me.final))
        if me.forfeit:
            console.print(Text.assemble("you forfeited (", literal(me.forfeit), ")"))
    scores = " · ".join(f"{s.seat} ({s.player}) {s.score:g}" for s in rec.seats.values())
    console.print(
        Text.assemble(f"match {rec.status} after {rec.rounds} rounds: ", literal(scores)), highlight=False
    )
    if rec.status == "error" and rec.error:
        console.print(Text.assemble(("error:", "red"), " ", literal(rec.error.splitlines()[0])))
    return rec
