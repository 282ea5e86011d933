"""The pipes between the parent and a run: reading them on the event loop, and the tool channel
(the lines a ``Session``'s script sends through its RPC function, each a ``ToolRequest`` or the
reason it is not one), with the bounds that keep a script from flooding the parent."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

_MAX_QUEUED = 64  # unanswered requests a script may have sent before it is stopped
_MAX_REQUEST = 256 * 1024  # longest tool request line (bytes)
_MAX_DEPTH = 64  # deepest nesting of lists and dicts in a tool request
_MAX_UNREAD_ANSWERS = 1 << 20  # bytes of answers the script has not read before it is stopped


@dataclass(frozen=True)
class ToolRequest:
    """A call the sandboxed script made through its RPC function; answer it with ``Session.reply``."""

    name: str
    arguments: dict[str, Any]


def _depth(value: Any) -> int:
    """How deeply ``value`` nests lists and dicts (iteratively: it may be very deep)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, level)
            if deepest > _MAX_DEPTH:
                return deepest
            stack.extend((v, level + 1) for v in (item.values() if isinstance(item, dict) else item))
    return deepest


def _parse_request(line: bytes) -> ToolRequest | str:
    """The request in one line of the script, or why it is not one."""
    try:
        msg = json.loads(line)
    except RecursionError:
        return "it is nested too deeply"
    except ValueError as e:  # not JSON, not UTF-8, a number too long, ...
        return f"it is not JSON ({e})"
    if (
        not isinstance(msg, dict)
        or not isinstance(msg.get("name"), str)
        or not isinstance(msg.get("arguments"), dict)
    ):
        return 'it is not {"name": str, "arguments": dict}'
    if _depth(msg) > _MAX_DEPTH:
        return "it is nested too deeply"
    return ToolRequest(msg["name"], msg["arguments"])


async def _lines(reader: asyncio.StreamReader, limit: int) -> AsyncIterator[bytes | None]:
    """The lines of ``reader`` (without the newline); None for a line longer than ``limit``, which
    is read and dropped without keeping more than ``limit`` bytes of it."""
    buffer, overlong = bytearray(), False
    while chunk := await reader.read(65536):
        buffer += chunk
        while (end := buffer.find(b"\n")) >= 0:
            line = bytes(buffer[:end])
            del buffer[: end + 1]
            yield None if overlong or len(line) > limit else line
            overlong = False
        if len(buffer) > limit:
            buffer.clear()
            overlong = True


async def _read_pipe(fd: int, limit: int = 1 << 20) -> tuple[asyncio.StreamReader, asyncio.BaseTransport]:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=limit)
    transport, _ = await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(fd, "rb", 0)
    )
    return reader, transport


@dataclass
class _Pipes:
    status: tuple[int, int] = field(default_factory=os.pipe)
    requests: tuple[int, int] | None = None  # the script writes, we read
    answers: tuple[int, int] | None = None  # we write, the script reads
