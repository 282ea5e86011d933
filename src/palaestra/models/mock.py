"""The ``mock`` provider: scripted replies, so every test and demo runs without a network or a key.

``get_model("mock")`` replies a fixed short text forever; ``get_model("mock:replies.jsonl")`` replays a
file; ``MockModel([...])`` replays a list and ``MockModel(fn)`` asks ``fn(messages, tools)`` each time.

A script item is one of:

* ``"text"`` — an assistant message with that content;
* ``{"tool": "guess", "arguments": {"n": 5}}`` — one tool call (optional ``"content"``, ``"id"``);
* ``{"content": "...", "tool_calls": [{"name": "guess", "arguments": {...} or "raw json"}]}``;
* ``{"error": "message"}`` or an ``Exception`` instance — the call fails with :class:`ModelError`;
* a :class:`~palaestra.types.Message` — returned as is (a copy).

Tool-call arguments given as a string are decoded like a real model's: text that is not a JSON object
gives a ``ToolCall`` with ``parse_error`` set, exactly as the ``openai`` provider does.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import os
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, TypeAlias

from palaestra.errors import ModelError, UsageError
from palaestra.models.base import GenerateConfig, ModelOutput
from palaestra.models.openai import parse_arguments
from palaestra.types import Message, ToolCall, ToolSpec, Usage

ScriptItem: TypeAlias = "str | dict[str, Any] | Message | BaseException"
ScriptFn: TypeAlias = Callable[[list[Message], list[ToolSpec] | None], "ScriptItem | Awaitable[ScriptItem]"]
Script: TypeAlias = "Sequence[ScriptItem] | ScriptFn | str | os.PathLike[str] | None"

DEFAULT_REPLY = "mock reply"
_ITEM_KEYS = frozenset({"role", "content", "tool_calls", "tool", "arguments", "id", "error", "finish_reason"})
_CALL_KEYS = frozenset({"name", "arguments", "id", "type", "function"})


def load_script(path: str | os.PathLike[str]) -> list[ScriptItem]:
    """Script items from a ``.json`` file (a list) or a ``.jsonl`` file (one item per line)."""
    p = Path(path)
    if p.suffix not in (".json", ".jsonl"):
        raise UsageError(f"mock script {str(p)!r} must be a .json (list) or .jsonl (one item a line) file")
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise UsageError(f"cannot read mock script {str(p)!r}: {e.strerror or e}") from None
    items: list[ScriptItem] = []
    if p.suffix == ".json":
        try:
            data = json.loads(text)
        except ValueError as e:
            raise UsageError(f"mock script {str(p)!r} is not valid JSON: {e}") from None
        if not isinstance(data, list):
            raise UsageError(f"mock script {str(p)!r} must hold a JSON list of items")
        items = data
    else:
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                items.append(json.loads(line))
            except ValueError as e:
                raise UsageError(f"mock script {str(p)!r} line {n} is not valid JSON: {e}") from None
    for n, item in enumerate(items, 1):
        if not isinstance(item, str | dict):
            raise UsageError(f"mock script {str(p)!r} item {n} must be a string or an object")
        try:
            to_message(item, _throwaway_ids())
        except ModelError:  # a failure item: fine
            pass
        except UsageError as e:
            raise UsageError(f"mock script {str(p)!r} item {n}: {e}") from None
    return items


def _throwaway_ids() -> Callable[[], str]:
    return lambda: "call_x"


def to_message(item: Any, next_id: Callable[[], str]) -> Message:
    """The assistant message a script item stands for; raises ModelError for failure items."""
    if isinstance(item, str):
        return Message(role="assistant", content=item)
    if isinstance(item, Message):
        return item.model_copy(deep=True)
    if isinstance(item, ModelError):
        raise item
    if isinstance(item, BaseException):
        raise ModelError(f"mock failure: {type(item).__name__}: {item}") from item
    if not isinstance(item, dict):
        raise UsageError(
            f"mock script item must be a str, dict, Message or Exception, not {type(item).__name__}"
        )
    unknown = set(item) - _ITEM_KEYS
    if unknown:
        raise UsageError(
            f"mock script item has unknown keys {sorted(unknown)}; valid keys: {', '.join(sorted(_ITEM_KEYS))}"
        )
    if "error" in item:
        raise ModelError(f"mock failure: {item['error']}")
    if item.get("role", "assistant") != "assistant":
        raise UsageError(f"mock script item must be an assistant message, got role {item['role']!r}")
    content = item.get("content") or ""
    if not isinstance(content, str):
        raise UsageError(f"mock script item content must be a string, got {type(content).__name__}")
    calls: list[ToolCall] = []
    if "tool" in item:
        if "tool_calls" in item:
            raise UsageError("mock script item has both 'tool' and 'tool_calls'; use one")
        calls.append(_tool_call(item["tool"], item.get("arguments"), item.get("id"), next_id))
    elif "arguments" in item or "id" in item:
        raise UsageError("mock script item has 'arguments' or 'id' without 'tool'")
    for spec in item.get("tool_calls") or ():
        if not isinstance(spec, dict):
            raise UsageError("each mock tool call must be an object with 'name' and 'arguments'")
        unknown = set(spec) - _CALL_KEYS
        if unknown:
            raise UsageError(f"mock tool call has unknown keys {sorted(unknown)}")
        fn = spec.get("function")
        if isinstance(
            fn, dict
        ):  # OpenAI shape: {"id", "type": "function", "function": {"name", "arguments"}}
            calls.append(_tool_call(fn.get("name"), fn.get("arguments"), spec.get("id"), next_id))
        else:
            calls.append(_tool_call(spec.get("name"), spec.get("arguments"), spec.get("id"), next_id))
    return Message(role="assistant", content=content, tool_calls=calls)


def _tool_call(name: Any, arguments: Any, call_id: Any, next_id: Callable[[], str]) -> ToolCall:
    if not isinstance(name, str) or not name:
        raise UsageError(f"mock tool call needs a tool name (a non-empty string), got {name!r}")
    args, raw, error = parse_arguments(arguments)
    return ToolCall(
        id=str(call_id) if call_id else next_id(),
        name=name,
        arguments=args,
        raw_arguments=raw,
        parse_error=error,
    )


def _text_len(m: Message) -> int:
    n = len(m.content)
    for c in m.tool_calls:
        n += len(c.name) + len(c.raw_arguments if c.raw_arguments is not None else json.dumps(c.arguments))
    return n


class MockModel:
    """A model that replays a script.

    Args:
        script: a list of items, a callable ``(messages, tools) -> item`` (sync or async), a path to a
            ``.json``/``.jsonl`` file, a plain string (replied forever), or None (``DEFAULT_REPLY`` forever).
        cycle: start the list again when it runs out instead of failing.
        latency: seconds each call sleeps (simulates a server).
        max_concurrency: what the runner may run at once (default 1024: a mock is never the bottleneck).
        name: the model name in records (default ``mock`` or ``mock:PATH``).

    Tool-call ids are ``call_0``, ``call_1``, ... in order of creation, per instance, unless an item names
    one. Safe to share between concurrent episodes (the script position and ids advance atomically).
    """

    def __init__(
        self,
        script: Script = None,
        *,
        cycle: bool = False,
        latency: float = 0.0,
        max_concurrency: int = 1024,
        name: str | None = None,
    ) -> None:
        self.cycle = cycle
        self.latency = latency
        self.max_concurrency = max_concurrency
        self.calls = 0
        self._fn: ScriptFn | None = None
        self._items: list[ScriptItem] = []
        self._pos = 0
        self._ids = 0
        self._lock = threading.Lock()
        default_name = "mock"
        if script is None:
            self._items, self.cycle = [DEFAULT_REPLY], True
        elif isinstance(script, os.PathLike) or (
            isinstance(script, str) and (script.endswith((".json", ".jsonl")) or os.path.isfile(script))
        ):
            self._items = load_script(script)
            default_name = f"mock:{os.fspath(script)}"
        elif isinstance(script, str):
            self._items, self.cycle = [script], True
        elif callable(script):
            self._fn = script
        elif isinstance(script, Sequence):
            self._items = list(script)
        else:
            raise UsageError(
                f"mock script must be a list, a callable or a file path, not {type(script).__name__}"
            )
        if not self._fn and not self._items:
            raise UsageError("mock script is empty")
        self.name = name or default_name

    def _next_id(self) -> str:
        with self._lock:
            n = self._ids
            self._ids += 1
        return f"call_{n}"

    def _next_item(self) -> ScriptItem:
        with self._lock:
            pos = self._pos
            if pos >= len(self._items):
                if not self.cycle:
                    raise ModelError(
                        f"mock script exhausted after {len(self._items)} replies (use cycle=True to repeat it)"
                    )
                pos = 0
            self._pos = pos + 1
            return self._items[pos]

    async def generate(
        self, messages: list[Message], tools: list[ToolSpec] | None, config: GenerateConfig
    ) -> ModelOutput:
        start = time.perf_counter()
        self.calls += 1
        if self._fn is not None:
            result = self._fn(messages, tools)
            item: Any = await result if inspect.isawaitable(result) else result
            if item is None:
                raise ModelError("mock script function returned None; return a reply item")
        else:
            item = self._next_item()
        try:
            message = to_message(item, self._next_id)
        except UsageError as e:
            raise ModelError(f"bad mock script item: {e}") from None
        except ModelError:
            if self.latency > 0:
                await asyncio.sleep(self.latency)
            raise
        if self.latency > 0:
            await asyncio.sleep(self.latency)
        finish = "tool_calls" if message.tool_calls else "stop"
        if isinstance(item, dict) and isinstance(item.get("finish_reason"), str):
            finish = item["finish_reason"]
        usage = Usage(
            input_tokens=sum(_text_len(m) for m in messages) // 4,
            output_tokens=_text_len(message) // 4,
        )
        return ModelOutput(
            message=message,
            usage=usage,
            latency=time.perf_counter() - start,
            finish_reason=finish,
            model=self.name,
        )

    async def close(self) -> None:
        return None


def _factory(spec: str, **kwargs: Any) -> MockModel:
    if spec:
        if "script" in kwargs:
            raise UsageError(f"model spec 'mock:{spec}' already names a script; do not pass script= too")
        return MockModel(spec, **kwargs)
    return MockModel(**kwargs)
