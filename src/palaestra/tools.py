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

**Consequential tools** (GoEX's damage that can be undone) declare what they change:
``@tool(reversible=True, undo="_unsend")`` for a change that ``_unsend`` reverts, ``@tool(reversible=
False)`` for one nothing reverts (mail sent, money paid); read-only tools declare nothing. Inside a
reversible tool, :func:`record_undo` stores the data its undo method will be called with (the state
the call is about to overwrite), so the host's undo log is plain data that snapshots copy. The host
(:class:`ToolHost`) counts every consequential call of an episode (``damage_reversible``,
``damage_irreversible`` in ``Step.info``), can ``undo(n)`` / ``undo_all()`` the reversible ones, and
applies a :class:`ToolPolicy` *before* a tool runs: per-agent tool permissions (AIOS) and a policy for
irreversible calls (``allow``, ``confirm``: the first call only asks for confirmation and the same
call in the agent's next reply goes ahead, ``block``: refused). A refused call is an invalid action,
recorded in ``Step.info`` (``permission_denied``, ``irreversible_blocked``) and counted
(``violations``).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import fnmatch
import inspect
import json
import logging
import re
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, TypeVar, get_type_hints, overload

from pydantic import BaseModel, ConfigDict, ValidationError, create_model

from palaestra.errors import ModelError, UsageError
from palaestra.types import Message, ToolCall, ToolSpec

F = TypeVar("F", bound=Callable[..., Any])

_TOOL_ATTR = "__palaestra_tool__"


class ToolError(Exception):
    """Raised inside a tool for an action that is not possible in the current state.

    The message goes back to the agent as the tool's result and the step is marked
    ``invalid_action``; the episode goes on.
    """


@dataclass(frozen=True)
class Effect:
    """What a successful call of a consequential tool did, as :func:`dispatch` reports it."""

    tool: str
    arguments: dict[str, Any]
    reversible: bool
    undo: str | None = None
    """The name of the method (on the tool's owner) that reverts the call."""
    memo: dict[str, Any] = field(default_factory=dict)
    """The keyword arguments of ``undo`` (see :func:`record_undo`)."""
    owner: object = field(default=None, compare=False, repr=False)
    """The object the tool ran on; the host keeps only where to find it again."""


@dataclass(frozen=True)
class ToolResult:
    """The outcome of one dispatched call: the text for the agent, and whether it was invalid."""

    content: str
    invalid: bool = False
    effect: Effect | None = None
    """Set when a consequential tool ran successfully."""


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
    reversible: bool | None = None
    """``None``: the tool changes nothing that matters; ``True``: a change ``undo`` reverts;
    ``False``: a change nothing reverts."""
    undo: str | None = None
    """The method of the tool's owner that reverts a call, called with what :func:`record_undo` kept."""

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def consequential(self) -> bool:
        return self.reversible is not None


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


def _build(
    fn: Callable[..., Any],
    name: str | None,
    description: str | None,
    blocking: bool,
    reversible: bool | None = None,
    undo: str | None = None,
) -> ToolDef:
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
        reversible=reversible,
        undo=undo,
    )


@overload
def tool(fn: F) -> F: ...
@overload
def tool(
    *,
    name: str | None = None,
    description: str | None = None,
    blocking: bool = False,
    reversible: bool | None = None,
    undo: str | None = None,
) -> Callable[[F], F]: ...
def tool(
    fn: F | None = None,
    *,
    name: str | None = None,
    description: str | None = None,
    blocking: bool = False,
    reversible: bool | None = None,
    undo: str | None = None,
) -> F | Callable[[F], F]:
    """Mark a method (or function) as a tool the agent can call. See the module docstring;
    ``blocking=True`` runs a sync tool's body in a worker thread; ``reversible`` declares a
    consequential tool (``True`` with ``undo``, the name of the method that reverts it; ``False``
    for one nothing reverts)."""
    if reversible is True and not undo:
        raise TypeError("a reversible tool names its undo method: @tool(reversible=True, undo='...')")
    if undo and reversible is not True:
        raise TypeError("undo= is for reversible tools: @tool(reversible=True, undo=...)")

    def mark(f: F) -> F:
        if blocking and inspect.iscoroutinefunction(f):
            raise TypeError(
                f"tool {f.__name__}: blocking=True is for sync functions; an async tool must not block"
            )
        setattr(f, _TOOL_ATTR, _build(f, name, description, blocking, reversible, undo))
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


IrreversiblePolicy = Literal["allow", "confirm", "block"]
IRREVERSIBLE_POLICIES: tuple[IrreversiblePolicy, ...] = ("allow", "confirm", "block")


@dataclass(frozen=True)
class ToolPolicy:
    """What an agent may do through a host's tools, checked before a tool runs.

    ``allow`` and ``deny`` are tool-name patterns (``fnmatch``: ``read_*``, ``send_email``): with an
    ``allow`` list only the tools it matches may be called, and a tool ``deny`` matches never may.
    ``irreversible`` says what happens to a call of a tool that nothing can undo: ``allow``,
    ``confirm`` (the first call is answered with a request for confirmation and does nothing; the same
    call, name and arguments, as the first call of the agent's next reply goes ahead) or ``block``.
    """

    irreversible: IrreversiblePolicy = "allow"
    allow: tuple[str, ...] = ()
    deny: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.irreversible not in IRREVERSIBLE_POLICIES:
            raise UsageError(
                f"unknown policy for irreversible actions {self.irreversible!r}; "
                f"valid: {', '.join(IRREVERSIBLE_POLICIES)}"
            )
        for pattern in (*self.allow, *self.deny):
            if not pattern.strip():
                raise UsageError("a tool pattern is empty; write tool names or patterns such as read_*")

    def permits(self, tool: str) -> bool:
        """Whether the agent may call ``tool`` at all."""
        allowed = not self.allow or any(fnmatch.fnmatchcase(tool, p) for p in self.allow)
        return allowed and not any(fnmatch.fnmatchcase(tool, p) for p in self.deny)

    @property
    def active(self) -> bool:
        """Whether it restricts anything."""
        return self != ToolPolicy()


@dataclass(frozen=True)
class UndoEntry:
    """One consequential call in a host's undo log: plain data, so snapshots copy it."""

    tool: str
    arguments: dict[str, Any]
    reversible: bool
    undo: str | None
    memo: dict[str, Any]
    target: str | None
    """Where the tool's owner is: ``""`` the host itself, else the host's attribute of that name
    (``None``: not found, so the call cannot be undone through the host)."""
    seat: str = ""


@dataclass
class _Ledger:
    """A host's per-episode bookkeeping of consequential calls and refusals."""

    log: list[UndoEntry] = field(default_factory=list)
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    """Per seat (``""`` for a single agent): damage_reversible, damage_irreversible, violations, undone."""
    events: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    """Per seat, this reply's refusals and confirmation requests, by kind: the tools' names."""
    replies: dict[str, int] = field(default_factory=dict)
    pending: dict[str, tuple[str, int]] = field(default_factory=dict)
    """Per seat, the irreversible call waiting for confirmation and the reply that made it."""

    def add(self, seat: str, counter: str, n: int = 1) -> None:
        c = self.counts.setdefault(seat, {})
        c[counter] = c.get(counter, 0) + n

    def event(self, seat: str, kind: str, tool: str) -> None:
        self.events.setdefault(seat, {}).setdefault(kind, []).append(tool)

    def violation(self, seat: str, kind: str, tool: str, why: str) -> ToolResult:
        """Count a refused call and answer it as an invalid action."""
        self.add(seat, "violations")
        self.event(seat, kind, tool)
        return ToolResult(f"Error: {why}. Nothing was done.", invalid=True)


class UndoError(RuntimeError):
    """An undo log entry whose tool owner the host cannot find any more."""


def _call_key(call: ToolCall) -> str:
    return json.dumps([call.name, call.arguments, call.raw_arguments], sort_keys=True, default=str)


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
    tool_policy: ToolPolicy = ToolPolicy()
    """Permissions and the policy for irreversible calls (the runner sets it from the run's config)."""
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

    # ---- consequential calls: permissions, policy, damage, undo ------------------------------
    def _all_tools(self) -> Mapping[str, ToolDef]:
        """Every tool an agent may call on this host, by name (a host that dispatches to another
        table too, as ``tools`` does to its world, adds that table)."""
        return self._tools

    def _policy(self, seat: str) -> ToolPolicy:
        """The policy of the agent in ``seat`` (a game may give each seat its own)."""
        return self.tool_policy

    def _ledger(self) -> _Ledger:
        ledger = self.__dict__.get("_tool_ledger")
        if ledger is None:
            ledger = self.__dict__["_tool_ledger"] = _Ledger()
        return ledger

    def _reset_ledger(self) -> None:
        """Start an episode's bookkeeping afresh (``reset`` calls it)."""
        self.__dict__["_tool_ledger"] = _Ledger()

    def _begin_reply(self, seat: str = "") -> None:
        """A new reply of ``seat`` starts: its per-reply events are cleared."""
        ledger = self._ledger()
        ledger.replies[seat] = ledger.replies.get(seat, 0) + 1
        ledger.events.pop(seat, None)

    async def _guarded_call(
        self, call: ToolCall, run: Callable[[], Awaitable[ToolResult]], seat: str = ""
    ) -> ToolResult:
        """Apply the policy to ``call``, then ``run()`` it unless refused, and log what it changed."""
        refusal = self._refusal(call, seat)
        if refusal is not None:
            return refusal
        res = await run()
        if res.effect is not None and not res.invalid:
            self._log_effect(res.effect, seat)
        return res

    def _refusal(self, call: ToolCall, seat: str) -> ToolResult | None:
        """Why ``call`` may not run now (a tool result for the agent), or ``None``."""
        ledger = self._ledger()
        pending = ledger.pending.pop(seat, None)  # a confirmation holds for the very next call only
        td = self._all_tools().get(call.name)
        if td is None:
            return None  # unknown tools are answered by dispatch
        policy = self._policy(seat)
        if not policy.permits(td.name):
            return ledger.violation(
                seat,
                "permission_denied",
                td.name,
                f"permission denied: you may not call {td.name} (this run's tool permissions forbid it)",
            )
        if td.reversible is not False or policy.irreversible == "allow":
            return None
        if policy.irreversible == "block":
            return ledger.violation(
                seat,
                "irreversible_blocked",
                td.name,
                f"{td.name} cannot be undone, and actions that cannot be undone are blocked in this run",
            )
        key, reply = _call_key(call), ledger.replies.get(seat, 0)
        if pending == (key, reply - 1):
            return None  # confirmed: the same call opens the next reply
        ledger.pending[seat] = (key, reply)
        ledger.event(seat, "confirm_requested", td.name)
        return ToolResult(
            f"Confirmation required: {td.name} cannot be undone, so nothing was done yet. To go ahead, "
            "make exactly the same call (same arguments) as the first call of your next reply; any other "
            "action cancels it."
        )

    def _log_effect(self, effect: Effect, seat: str) -> None:
        ledger = self._ledger()
        owner = effect.owner
        target = "" if owner is self else next((k for k, v in vars(self).items() if v is owner), None)
        ledger.log.append(
            UndoEntry(
                effect.tool,
                effect.arguments,
                effect.reversible,
                effect.undo,
                effect.memo,
                target,
                seat,
            )
        )
        ledger.add(seat, "damage_reversible" if effect.reversible else "damage_irreversible")

    def _has_effects(self) -> bool:
        return any(td.consequential for td in self._all_tools().values())

    def _host_info(self, seat: str = "") -> dict[str, Any]:
        """This episode's damage and refusals so far, for ``Step.info``: the damage counts where
        the host has consequential tools, ``violations`` where a policy is set (or any occurred),
        and this reply's refusals and confirmation requests by kind (lists of tool names)."""
        ledger = self._ledger()
        counts = ledger.counts.get(seat, {})
        info: dict[str, Any] = {}
        if self._has_effects():
            info["damage_reversible"] = counts.get("damage_reversible", 0)
            info["damage_irreversible"] = counts.get("damage_irreversible", 0)
        if self._policy(seat).active or counts.get("violations"):
            info["violations"] = counts.get("violations", 0)
        info.update({k: list(v) for k, v in ledger.events.get(seat, {}).items()})
        return info

    @property
    def undo_log(self) -> list[UndoEntry]:
        """This episode's consequential calls not undone, oldest first (irreversible ones stay)."""
        return list(self._ledger().log)

    def undo(self, n: int = 1) -> int:
        """Undo the ``n`` most recent reversible calls not undone yet, newest first; return how many
        were undone (fewer when fewer are left). Irreversible calls are skipped: they are the damage
        that stays. The damage counts are not lowered (they count what was done); ``undone`` is."""
        ledger = self._ledger()
        done = 0
        for i in range(len(ledger.log) - 1, -1, -1):
            if done >= n:
                break
            entry = ledger.log[i]
            if not entry.reversible or entry.undo is None:
                continue
            if entry.target is None:
                raise UndoError(f"cannot undo {entry.tool}: the object it ran on is not part of this host")
            owner = self if entry.target == "" else getattr(self, entry.target)
            getattr(owner, entry.undo)(**entry.memo)
            del ledger.log[i]
            ledger.add(entry.seat, "undone")
            done += 1
        return done

    def undo_all(self) -> int:
        """Undo every reversible call of the episode (newest first); return how many."""
        return self.undo(len(self._ledger().log))


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


_undo_memo: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "palaestra_undo_memo", default=None
)


def record_undo(**memo: Any) -> None:
    """Inside a reversible tool: keep ``memo`` for its undo method, which is called as
    ``undo(**memo)`` (record the state the call is about to change, before changing it). Plain data
    only (snapshots copy the log). Outside a dispatched call (a tool called directly) it does nothing."""
    slot = _undo_memo.get()
    if slot is not None:
        slot.update(memo)


async def dispatch(owner: object, tools: Mapping[str, ToolDef], call: ToolCall) -> ToolResult:
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
    memo: dict[str, Any] = {}
    token = _undo_memo.set(memo) if td.reversible else None
    try:
        result = await _run(td, owner, kwargs)
        effect = None
        if td.consequential:
            effect = Effect(td.name, dict(call.arguments), bool(td.reversible), td.undo, memo, owner)
        return ToolResult(_stringify(result), effect=effect)  # inside the guard: stringifying can fail too
    except ToolError as e:
        return ToolResult(f"Error: {e}", invalid=True)
    except ModelError:
        raise  # a model the env depends on (a judge, an answerer) failed: the episode is an error
    except Exception as e:  # a bug in a tool must not end the episode, let alone the process
        return ToolResult(f"Error: {td.name} failed: {type(e).__name__}: {e}", invalid=True)
    finally:
        if token is not None:
            _undo_memo.reset(token)
