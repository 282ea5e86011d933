"""``@tool``: a typed, documented Python function becomes a JSON-schema ``ToolSpec``.

    class Maze(Env):
        @tool
        def move(self, direction: Literal["north", "south", "east", "west"]) -> str:
            '''Move one cell.

            Args:
                direction: where to go.
            '''

The first paragraph of the docstring is the tool's description, the ``Args:`` section gives each
parameter's description, and the type hints give the schema. Calls are validated against the
schema before the function runs; every problem comes back as a ``ToolResult`` with an error text
that tells the agent what was wrong, never as an exception.

A plain (sync) tool runs on the event loop, which is the cheapest for the usual microseconds of
work but holds up every other episode while it runs. A tool that may take long (CPU-heavy work,
a sleep, blocking I/O) says so with ``@tool(blocking=True)``: its body then runs in a worker
thread, so other episodes go on and the runner's ``--timeout`` ends the episode on time (the thread
finishes on its own). An undeclared sync tool that takes longer than :data:`SLOW_TOOL_S` is named
once in a warning on the ``palaestra`` logger. In an episode with a wall-clock limit the runner runs
every sync tool in a worker thread (:func:`sync_tools_off_loop`), so the limit holds for any tool.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import inspect
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar, get_type_hints, overload

from pydantic import BaseModel, ConfigDict, ValidationError, create_model

from palaestra.errors import ModelError
from palaestra.types import Message, ToolCall, ToolSpec

F = TypeVar("F", bound=Callable[..., Any])

_TOOL_ATTR = "__palaestra_tool__"


class ToolError(Exception):
    """Raised inside a tool for an action that is not possible in the current state.

    The message goes back to the agent as the tool's result and the step is marked
    ``invalid_action``; the episode goes on.
    """


@dataclass(frozen=True)
class ToolResult:
    """The outcome of one dispatched call: the text for the agent, and whether it was invalid."""

    content: str
    invalid: bool = False


@dataclass(frozen=True)
class ToolDef:
    """A tool's spec, its argument validator and the function that runs it."""

    spec: ToolSpec
    args_model: type[BaseModel]
    fn: Callable[..., Any]
    is_async: bool
    arg_names: tuple[str, ...] = ()
    blocking: bool = False
    """Run the (sync) body in a worker thread, off the event loop."""

    @property
    def name(self) -> str:
        return self.spec.name


_ARGS_HEADER = re.compile(r"^\s*(Args|Arguments|Parameters):\s*$")
_PARAM_LINE = re.compile(r"^\s*(\*{0,2}\w+)\s*(\([^)]*\))?\s*:\s*(.*)$")


def _parse_docstring(doc: str) -> tuple[str, dict[str, str]]:
    """Split a Google-style docstring into its description and per-parameter descriptions."""
    lines = inspect.cleandoc(doc).splitlines() if doc else []
    desc: list[str] = []
    params: dict[str, str] = {}
    i = 0
    while i < len(lines) and not _ARGS_HEADER.match(lines[i]):
        desc.append(lines[i])
        i += 1
    current: str | None = None
    for line in lines[i + 1 :]:
        if line and not line.startswith(" ") and line.rstrip().endswith(":"):
            break  # next section (Returns:, Raises:, ...)
        m = _PARAM_LINE.match(line)
        if m and line.startswith(" ") and len(line) - len(line.lstrip()) <= 4:
            current = m.group(1).lstrip("*")
            params[current] = m.group(3).strip()
        elif current and line.strip():
            params[current] += " " + line.strip()
    # Join hard-wrapped lines; keep blank lines between paragraphs.
    paragraphs = "\n".join(desc).strip().split("\n\n")
    description = "\n\n".join(" ".join(line.strip() for line in p.splitlines()) for p in paragraphs)
    return description, params


def _build(fn: Callable[..., Any], name: str | None, description: str | None, blocking: bool) -> ToolDef:
    sig = inspect.signature(fn)
    hints = get_type_hints(fn, include_extras=True)
    doc_desc, param_docs = _parse_docstring(fn.__doc__ or "")
    fields: dict[str, Any] = {}
    for pname, param in sig.parameters.items():
        if pname == "self":
            continue
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise TypeError(f"tool {fn.__name__}: *args/**kwargs are not supported")
        if pname not in hints:
            raise TypeError(f"tool {fn.__name__}: parameter {pname!r} needs a type hint")
        from pydantic import Field

        default = ... if param.default is inspect.Parameter.empty else param.default
        fields[pname] = (hints[pname], Field(default, description=param_docs.get(pname) or None))
    args_model = create_model(
        f"{fn.__name__}_args",
        __config__=ConfigDict(extra="forbid"),
        **fields,
    )
    schema = args_model.model_json_schema()
    schema.pop("title", None)
    for prop in schema.get("properties", {}).values():
        prop.pop("title", None)
    schema.setdefault("properties", {})
    spec = ToolSpec(
        name=name or fn.__name__,
        description=description or doc_desc or fn.__name__,
        parameters=schema,
    )
    return ToolDef(
        spec=spec,
        args_model=args_model,
        fn=fn,
        is_async=inspect.iscoroutinefunction(fn),
        arg_names=tuple(fields),
        blocking=blocking,
    )


@overload
def tool(fn: F) -> F: ...
@overload
def tool(
    *, name: str | None = None, description: str | None = None, blocking: bool = False
) -> Callable[[F], F]: ...
def tool(
    fn: F | None = None, *, name: str | None = None, description: str | None = None, blocking: bool = False
) -> F | Callable[[F], F]:
    """Mark a method (or function) as a tool the agent can call. See the module docstring;
    ``blocking=True`` runs a sync tool's body in a worker thread."""

    def mark(f: F) -> F:
        if blocking and inspect.iscoroutinefunction(f):
            raise TypeError(
                f"tool {f.__name__}: blocking=True is for sync functions; an async tool must not block"
            )
        setattr(f, _TOOL_ATTR, _build(f, name, description, blocking))
        return f

    return mark(fn) if fn is not None else mark


def collect_tools(cls: type) -> dict[str, ToolDef]:
    """All ``@tool`` methods of a class (and its bases), by tool name, in definition order."""
    out: dict[str, ToolDef] = {}
    for klass in reversed(cls.__mro__):
        for attr in vars(klass).values():
            td = getattr(attr, _TOOL_ATTR, None)
            if isinstance(td, ToolDef):
                out[td.name] = td
    return out


def describe_tools(tools: list[ToolSpec]) -> str:
    lines = ["Tools:"]
    for t in tools:
        props = t.parameters.get("properties", {})
        required = set(t.parameters.get("required", []))
        args = ", ".join(
            f"{k}: {_type_name(v)}{'' if k in required else ' (optional)'}" for k, v in props.items()
        )
        lines.append(f"- {t.name}({args}): {t.description}".rstrip().replace("\n", "\n    "))
        for k, v in props.items():
            if v.get("description"):
                lines.append(f"    {k}: {v['description']}")
    return "\n".join(lines)


def _type_name(schema: dict[str, Any]) -> str:
    if "enum" in schema:
        return " | ".join(json.dumps(e) for e in schema["enum"])
    if "anyOf" in schema:
        return " | ".join(_type_name(s) for s in schema["anyOf"])
    return str(schema.get("type", "any"))


class ToolHost:
    """The tool engine that ``Env`` and ``MultiAgentEnv`` share.

    Every ``@tool`` method of a subclass (and of its bases) lands in one table, by tool name; a
    tool may not take the name of one of the engine's public methods (``step``, ``close``, ...),
    and the engine's own helpers are private (``_``) so that they leave every other name to tools.
    Calls are validated and run by ``dispatch`` and answered as tool messages; ``tools_text()``
    renders the tools from their specs, for instructions that list them.
    """

    _tools: ClassVar[dict[str, ToolDef]] = {}
    _tool_specs: ClassVar[list[ToolSpec]] = []
    _engine: ClassVar[bool] = False
    """Set on the engine classes (``Env``, ``MultiAgentEnv``) whose names tools may not take."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        engine = next((b for b in cls.__mro__[1:] if vars(b).get("_engine")), None)
        for attr, value in vars(cls).items():
            if engine is not None and hasattr(value, _TOOL_ATTR) and hasattr(engine, attr):
                raise TypeError(
                    f"{cls.__name__}.{attr}: a @tool method may not replace {engine.__name__}.{attr}; "
                    f"name the method differently and use @tool(name={attr!r})"
                )
        cls._tools = collect_tools(cls)
        cls._tool_specs = [t.spec for t in cls._tools.values()]

    async def _run_tool(self, call: ToolCall) -> ToolResult:
        """Validate and run one tool call on this host. Never raises for bad input."""
        return await dispatch(self, self._tools, call)

    @staticmethod
    def _tool_message(call: ToolCall, result: ToolResult) -> Message:
        """The tool message that answers ``call``."""
        return Message(role="tool", content=result.content, tool_call_id=call.id, name=call.name)

    def tools_text(self, specs: list[ToolSpec] | None = None) -> str:
        """The tools (all of this host's by default) as a "Tools:" section for instructions,
        rendered from their specs, so instructions need not restate them by hand."""
        return describe_tools(self._tool_specs if specs is None else specs)


def _format_validation_error(tool_name: str, err: ValidationError) -> str:
    parts = []
    for e in err.errors(include_url=False):
        loc = ".".join(str(x) for x in e["loc"]) or "arguments"
        msg = e["msg"]
        if e["type"] == "extra_forbidden":
            msg = "unexpected argument"
        parts.append(f"{loc}: {msg}")
    return f"Error: invalid arguments for {tool_name}: " + "; ".join(parts)


def _stringify(value: Any) -> str:
    if value is None:
        return "OK"
    if isinstance(value, str):
        return value
    if isinstance(value, BaseModel):
        return value.model_dump_json()
    try:
        return json.dumps(value, default=str)
    except (TypeError, ValueError):
        return str(value)


SLOW_TOOL_S = 0.1
"""An undeclared sync tool slower than this (seconds, one call) is named in a warning."""

_log = logging.getLogger("palaestra")
_warned: set[str] = set()


async def _in_thread(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``fn(*args, **kwargs)`` in a daemon thread of its own, awaited. Unlike ``asyncio.to_thread``
    (the loop's default executor, joined when ``asyncio.run`` ends) a call still stuck after its
    episode timed out holds up neither other blocking calls nor the process's exit."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[Any] = loop.create_future()
    context = contextvars.copy_context()

    def settle(result: Any, error: BaseException | None) -> None:
        if done.done():  # the episode was cancelled or timed out meanwhile
            return
        if error is not None:
            done.set_exception(error)
        else:
            done.set_result(result)

    def work() -> None:
        try:
            outcome: tuple[Any, BaseException | None] = (context.run(fn, *args, **kwargs), None)
        except BaseException as e:  # handed to the awaiting episode, which decides
            outcome = (None, e)
        with contextlib.suppress(RuntimeError):  # the loop is gone: nobody waits any more
            loop.call_soon_threadsafe(settle, *outcome)

    threading.Thread(target=work, name=f"tool {getattr(fn, '__qualname__', fn)}", daemon=True).start()
    return await done


_sync_off_loop: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "palaestra_sync_off_loop", default=False
)


@contextlib.contextmanager
def sync_tools_off_loop(on: bool = True) -> Iterator[None]:
    """Within this block (of this task), every sync tool body runs in a worker thread, declared
    blocking or not. The runner turns it on for an episode that has a wall-clock limit, so the limit
    holds whatever a tool does (one call at a time per env, as inline; ~70 us more a call on guess)."""
    token = _sync_off_loop.set(on)
    try:
        yield
    finally:
        _sync_off_loop.reset(token)


async def _run(td: ToolDef, owner: object, kwargs: dict[str, Any]) -> Any:
    """Call the tool's body: awaited when async, in a worker thread when declared blocking (or inside
    :func:`sync_tools_off_loop`), else inline (timed, to name the tools that should be declared
    blocking)."""
    args = (owner,) if owner is not None else ()
    if td.is_async:
        return await td.fn(*args, **kwargs)
    if td.blocking or _sync_off_loop.get():
        return await _in_thread(td.fn, *args, **kwargs)
    start = time.perf_counter()
    try:
        return td.fn(*args, **kwargs)
    finally:
        took = time.perf_counter() - start
        if took > SLOW_TOOL_S and td.fn.__qualname__ not in _warned:
            _warned.add(td.fn.__qualname__)
            _log.warning(
                "tool %s (%s) ran %.2fs on the event loop, holding up every other episode; "
                "declare it @tool(blocking=True)",
                td.name,
                td.fn.__qualname__,
                took,
            )


async def dispatch(owner: object, tools: dict[str, ToolDef], call: ToolCall) -> ToolResult:
    """Validate ``call`` against ``tools`` and run it on ``owner``.

    Unknown tools, malformed or wrong-typed arguments, ``ToolError`` and any other exception from
    the tool all come back as an invalid ``ToolResult`` whose text says what was wrong.
    """
    if call.parse_error is not None:
        return ToolResult(
            f"Error: the arguments of {call.name} are not a valid JSON object ({call.parse_error}). "
            "Send the arguments as a JSON object.",
            invalid=True,
        )
    td = tools.get(call.name)
    if td is None:
        names = ", ".join(tools) or "(none)"
        return ToolResult(f"Error: unknown tool {call.name!r}. Available tools: {names}.", invalid=True)
    try:
        args = td.args_model.model_validate(call.arguments)
    except ValidationError as e:
        return ToolResult(_format_validation_error(td.name, e), invalid=True)
    kwargs = {k: getattr(args, k) for k in td.arg_names}
    try:
        result = await _run(td, owner, kwargs)
        return ToolResult(_stringify(result))  # inside the guard: stringifying can fail too
    except ToolError as e:
        return ToolResult(f"Error: {e}", invalid=True)
    except ModelError:
        raise  # a model the env depends on (a judge, an answerer) failed: the episode is an error
    except Exception as e:  # a bug in a tool must not end the episode, let alone the process
        return ToolResult(f"Error: {td.name} failed: {type(e).__name__}: {e}", invalid=True)
