"""A person as an agent: commands typed at the terminal become tool calls.

``parse_command`` reads ``tool arg1 arg2`` (the last argument takes the rest of the line, so
``take apple 1`` works), ``tool key=value ...`` or ``tool({"key": value})``. ``HumanAgent`` plays an
environment or a seat of a game with it (``palaestra play``, ``--seat 0=human``).
"""

from __future__ import annotations

import asyncio
import contextlib
import shlex
import threading
from typing import Any

from rich.console import Console

from palaestra._literal import literal
from palaestra.agents.react import parse_action
from palaestra.tools import describe_tools
from palaestra.types import Message, Observation, Task, ToolCall, ToolSpec


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


def show_observation(console: Console, obs: Observation) -> None:
    for m in obs.messages:
        style = {"system": "dim", "tool": "green", "user": ""}.get(m.role, "")
        console.print(literal(m.content, style), highlight=False)


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
        show_observation(self.console, observation)
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
