"""``code``: CodeAct. The model acts by writing Python; the env's tools are functions in that code.

Each reply of the model should hold a ```python block. The agent runs the block as a script in the
sandbox (:mod:`palaestra.sandbox`) with one generated stub per tool of the environment (``move``,
``look``, ...). When the script calls a stub, the script blocks and the agent returns that call as
its action; the env executes it, and on the next ``act`` the agent hands the env's answer back to
the waiting script as the stub's return value (a string). So the code sees real results and can
branch and loop on them, and every tool call is one env step, exactly as in the other formats.

When the block ends (or fails, or runs out of time) the model is shown what happened: the tool
calls with their results, what the script printed, and any traceback; then it writes the next
block. A block that calls no tool is shown to the model at once, within the same ``act``, up to
``max_inner_turns`` times; after that, and for a reply with no code block at all, the reply goes
to the env as plain text (free-text envs take it as speech, the others count an invalid action)
and the model is reminded of the format.

Every block starts from scratch (a fresh process: variables do not carry over between blocks).
The script waiting for a tool's answer is a live process; it is killed at ``reset``, at
``aclose()``, after ``reply_timeout`` seconds without an answer, when ``act`` is cancelled, or when
the agent is garbage-collected (a runner that drops the agent after the episode ends the script).
"""

from __future__ import annotations

import asyncio
import contextlib
import keyword
import re
import weakref
from typing import Any

from palaestra.agents.context import check_budget, fit_history
from palaestra.env import Env
from palaestra.errors import UsageError
from palaestra.models.base import GenerateConfig, Model
from palaestra.policy import Agent
from palaestra.sandbox import SandboxResult, Session, ToolRequest
from palaestra.types import Message, Observation, Task, ToolCall, ToolSpec

RPC = "_palaestra_call"
_BLOCK = re.compile(r"```[ \t]*(python3?|py)?[ \t]*\n(.*?)```", re.DOTALL | re.IGNORECASE)
_TYPES = {
    "string": "str",
    "integer": "int",
    "number": "float",
    "boolean": "bool",
    "array": "list",
    "object": "dict",
}

FORMAT = """\
Act by writing Python. Reply with your reasoning, then one ```python code block. The block runs as a \
script (standard library only, no network, {timeout:g} s of running time). The tools are Python \
functions in the script: calling one performs the action and returns the environment's answer as a \
string, so your code can use the answer (print it, test it, loop on it). Each tool call takes one \
turn of the episode. When the block ends you are shown every tool call with its answer, what the \
script printed and any error. Every block starts from scratch: variables and imports do not carry \
over to the next block.

Functions:
{functions}"""

FORMAT_REMINDER = (
    "Format error: your reply had no ```python code block. Write one code block that calls the functions."
)


def python_name(tool: str) -> str:
    """A valid Python identifier for a tool name (``search-items`` -> ``search_items``)."""
    name = re.sub(r"\W", "_", tool)
    if not name or name[0].isdigit():
        name = "_" + name
    return name + "_" if keyword.iskeyword(name) else name


def _type_of(schema: dict[str, Any]) -> str:
    if "enum" in schema:
        return " | ".join(repr(e) for e in schema["enum"])
    if "anyOf" in schema:
        return " | ".join(_type_of(s) for s in schema["anyOf"])
    return _TYPES.get(str(schema.get("type")), "object") if schema.get("type") != "null" else "None"


def _params(spec: ToolSpec) -> list[tuple[str, dict[str, Any], bool]]:
    props: dict[str, Any] = spec.parameters.get("properties", {})
    required = set(spec.parameters.get("required", []))
    out = [(k, v, True) for k, v in props.items() if k in required]
    return out + [(k, v, False) for k, v in props.items() if k not in required]


def describe_functions(tools: list[ToolSpec]) -> str:
    """The tools as the Python functions the model may call, with their documentation."""
    blocks = []
    for t in tools:
        sig = ", ".join(
            f"{k}: {_type_of(v)}" + ("" if req else f" = {v.get('default')!r}")
            for k, v, req in _params(t)
            if k.isidentifier()
        )
        lines = [f"def {python_name(t.name)}({sig}) -> str:"]
        desc = t.description.strip() or t.name
        lines += [f"    {line}".rstrip() for line in desc.splitlines()]
        for k, v, _ in _params(t):
            if v.get("description"):
                lines.append(f"    {k}: {v['description']}")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def stubs(tools: list[ToolSpec]) -> str:
    """Python source defining one function per tool; each sends its call to the agent and returns
    the env's answer. Only the arguments the code passes are sent (omitted ones use the tool's
    defaults); parameters whose names are not identifiers can be passed with ``**{...}``."""
    out = ["class _Missing:\n    def __repr__(self):\n        return 'MISSING'\n\n\n_MISSING = _Missing()\n"]
    for t in tools:
        params = [(k, req) for k, _, req in _params(t) if k.isidentifier() and not keyword.iskeyword(k)]
        sig = [k if req else f"{k}=_MISSING" for k, req in params]
        names = ", ".join(f"{k!r}: {k}" for k, _ in params)
        out.append(
            f"def {python_name(t.name)}({', '.join([*sig, '**_extra'])}):\n"
            f"    args = {{{names}}}\n"
            "    args.update(_extra)\n"
            f"    return {RPC}({t.name!r}, {{k: v for k, v in args.items() if v is not _MISSING}})\n"
        )
    return "\n\n".join(out)


def extract_code(text: str) -> str | None:
    """The Python in a reply: its ```python blocks joined (or its plain ``` blocks); None if none."""
    blocks = _BLOCK.findall(text)
    tagged = [code for lang, code in blocks if lang]
    chosen = tagged or [code for _, code in blocks]
    code = "\n".join(c.rstrip() for c in chosen)
    return code if code.strip() else None


def _cut(text: str, limit: int) -> str:
    text = text.rstrip()
    return (
        text if len(text) <= limit else text[:limit] + f"\n[... {len(text) - limit} more characters cut ...]"
    )


def _show_call(call: ToolRequest) -> str:
    args = ", ".join(f"{k}={v!r}" for k, v in call.arguments.items())
    return f"{python_name(call.name)}({args})"


class CodeActAgent:
    def __init__(
        self,
        model: Model,
        env: Env,
        config: GenerateConfig | None = None,
        *,
        timeout: float = 10.0,
        reply_timeout: float = 120.0,
        max_inner_turns: int = 3,
        output_chars: int = 3000,
        memory_mb: int = 256,
        max_context_tokens: int | None = None,
    ) -> None:
        self.model = model
        self.max_context_tokens = check_budget(max_context_tokens)
        self.config = config or GenerateConfig()
        self.timeout = timeout
        self.reply_timeout = reply_timeout
        self.max_inner_turns = max_inner_turns
        self.output_chars = output_chars
        self.memory_mb = memory_mb
        self.history: list[Message] = []
        self.tools: list[ToolSpec] = []
        self._running: list[Session | None] = [None]  # shared with the finalizer, which must not hold self
        weakref.finalize(self, _stop_running, self._running)
        self.pending: ToolCall | None = None
        self.log: list[str] = []
        self.notes: list[str] = []
        self.n = 0
        self.format_error = False
        self.blocks = 0

    # ---- lifecycle ----------------------------------------------------------------------------
    @property
    def session(self) -> Session | None:
        """The script of the current code block, while it runs."""
        return self._running[0]

    @session.setter
    def session(self, value: Session | None) -> None:
        self._running[0] = value

    async def reset(self, task: Task) -> None:
        await self.aclose()
        self.history = []
        self.tools = []
        self.log = []
        self.notes = []
        self.n = 0
        self.format_error = False
        self.blocks = 0

    async def aclose(self) -> None:
        """Kill the script that may still be waiting for a tool's answer."""
        session, self.session, self.pending = self.session, None, None
        if session is not None and session.running:
            await session.kill()

    # ---- acting -------------------------------------------------------------------------------
    async def act(self, observation: Observation) -> Message:
        if observation.tools:
            self.tools = observation.tools
        try:
            if self.session is not None and self.pending is not None:
                message = await self._resume(observation)
                if message is not None:
                    return message
            else:
                for m in self._render(observation):
                    if m.role == "user":
                        self._tell(m.content)
                    else:
                        self.history.append(m)
            return await self._think()
        except asyncio.CancelledError:  # the runner gave up on the episode (its time ran out)
            if self.session is not None:
                self.session.stop()
            raise

    async def _resume(self, observation: Observation) -> Message | None:
        """Hand the env's answer to the waiting script; return its next call, or None when it ended."""
        assert self.session is not None and self.pending is not None
        call, self.pending = self.pending, None
        answer = next(
            (m.content for m in observation.messages if m.role == "tool" and m.tool_call_id == call.id), None
        )
        self.notes += [m.content for m in observation.messages if m.role != "tool" and m.content]
        if answer is None:
            self.log[-1] += "(no answer)"
            await self.session.reply(error=f"{call.name}: the environment gave no answer to this call")
        else:
            self.log[-1] += _cut(answer, self.output_chars // 3)
            await self.session.reply(answer)
        return await self._advance(content="")

    async def _advance(self, content: str) -> Message | None:
        """Wait for the script's next tool call (returned as the action) or its end (reported to the
        model's history; returns None)."""
        assert self.session is not None
        event = await self.session.next_event()
        if isinstance(event, ToolRequest):
            self.n += 1
            self.pending = ToolCall(id=f"code_{self.n}", name=event.name, arguments=event.arguments)
            self.log.append(f"{len(self.log) + 1}. {_show_call(event)} -> ")
            return Message(role="assistant", content=content, tool_calls=[self.pending])
        self.session = None
        self._tell(self._report(event))
        return None

    async def _think(self) -> Message:
        """Ask the model for code and run it until it makes a tool call."""
        text = ""
        for _ in range(self.max_inner_turns):
            if self.format_error:
                self._tell(FORMAT_REMINDER)
            out = await self.model.generate(
                fit_history(self.history, self.max_context_tokens), None, self.config
            )
            text = out.message.content
            self.history.append(Message(role="assistant", content=text))
            code = extract_code(text)
            self.format_error = code is None
            if code is None:
                return Message(role="assistant", content=text)
            self.blocks += 1
            self.log, self.notes = [], []
            self.session = Session(
                code,
                timeout=self.timeout,
                memory_mb=self.memory_mb,
                prelude=stubs(self.tools),
                rpc_name=RPC,
                reply_timeout=self.reply_timeout,
                script=f"block{self.blocks}.py",
            )
            await self.session.start()
            message = await self._advance(content=text)
            if message is not None:
                return message
        return Message(role="assistant", content=text)

    # ---- what the model reads -----------------------------------------------------------------
    def _tell(self, text: str) -> None:
        """Add a user message (joined to the previous one if that is a user message too, for chat
        templates that want the roles to alternate)."""
        if self.history and self.history[-1].role == "user":
            last = self.history[-1]
            self.history[-1] = last.model_copy(update={"content": f"{last.content}\n\n{text}"})
        else:
            self.history.append(Message(role="user", content=text))

    def _render(self, observation: Observation) -> list[Message]:
        out: list[Message] = []
        texts: list[str] = []
        for m in observation.messages:
            if m.role == "system":
                functions = describe_functions(self.tools) or "(none)"
                fmt = FORMAT.format(timeout=self.timeout, functions=functions)
                out.append(Message(role="system", content=f"{m.content}\n\n{fmt}"))
            elif m.content:
                texts.append(m.content)
        if texts:
            out.append(Message(role="user", content="\n\n".join(texts)))
        return out

    def _report(self, result: SandboxResult) -> str:
        if result.limit is not None or (result.exit_code is not None and result.exit_code < 0):
            head = f"The code block was stopped. {result.describe_limit(self.timeout)}"
        elif result.exit_code == 0:
            head = "The code block ran to the end."
        else:
            head = f"The code block failed (exit code {result.exit_code})."
        parts = [head]
        parts.append("Tool calls:\n" + "\n".join(self.log) if self.log else "No tool was called.")
        if result.stdout.strip():
            parts.append("Output:\n" + _cut(result.stdout, self.output_chars))
        if result.stderr.strip():
            parts.append("Errors:\n" + _cut(result.stderr, self.output_chars))
        if self.notes:
            parts.append("Also from the environment:\n" + "\n".join(self.notes))
        return "\n\n".join(parts)


def _stop_running(running: list[Session | None]) -> None:
    """When the agent is dropped (the runner does not call ``aclose``), stop its waiting script."""
    session = running[0]
    if session is not None:
        with contextlib.suppress(Exception):
            session.stop()


def code_agent(
    *,
    env: Env,
    model: Model | None = None,
    seed: int = 0,
    config: GenerateConfig | None = None,
    **options: Any,
) -> Agent:
    if model is None:
        raise UsageError("agent 'code' needs a model: pass --model PROVIDER:NAME")
    return CodeActAgent(model, env, config, **options)


__all__ = ["CodeActAgent", "describe_functions", "extract_code", "python_name", "stubs"]
