"""A single-agent Palaestra env served over MCP (the ``mcp`` package's server), episode by episode.

    palaestra mcp maze                          # stdio: what Claude Desktop, Cursor, ... launch
    palaestra mcp maze --http --port 8765       # streamable HTTP at http://127.0.0.1:8765/mcp

The server lists the env's own tools plus two that run the episode:

- ``reset(seed=0, split=..., difficulty=None)`` starts an episode of a task (drawn as ``palaestra
  run`` draws it) and returns the instructions, the goal and the tools' list;
- ``submit()`` ends the episode (a running one is ended unsuccessfully) and returns its result as
  JSON: ``success``, ``reward``, ``progress``, ``steps``, ``task_id``.

Every env tool call is one step; its result is the env's text, with ``is_error`` set for an
invalid action, and ``structured_content`` holds ``reward``, ``done`` and ``progress``.

A multi-agent game is played seat by seat: the client plays ``seat`` (default the first) and the
game's ``bot`` (default its first) every other seat.

Concurrent episodes: ``reset`` returns an ``episode`` id, and every tool takes an optional
``episode`` argument naming the episode it acts in. Without one, a handshake-era connection (MCP
before 2026-07-28: one session per client) acts in its own latest episode; a stateless 2026-07-28
request acts in the episode started last on the server (right for one client, e.g. over stdio).
At most ``MAX_EPISODES`` are kept; the oldest are closed. Where an env has a tool named ``reset``
or ``submit`` itself, the episode's tools are ``episode_reset`` and ``episode_submit``.
"""

from __future__ import annotations

import itertools
import json
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import mcp.types as mt
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import Server
from mcp.server.streamable_http import MCP_SESSION_ID_HEADER
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from palaestra.adapters._session import Episode, EpisodeOptions, all_tools, pick_task, prompt_text
from palaestra.env import Env
from palaestra.errors import UsageError
from palaestra.types import SPLITS, Split, ToolSpec


def control_names(env: Env) -> tuple[str, str]:
    """The names of the reset and submit tools for ``env`` (prefixed where its tools clash)."""
    own = {s.name for s in all_tools(env)}
    return tuple(n if n not in own else f"episode_{n}" for n in ("reset", "submit"))  # type: ignore[return-value]


MAX_EPISODES = 1024
EPISODE_ARG = "episode"
_EPISODE_PROP = {
    "type": "string",
    "description": "the id reset returned (may be left out while one client plays)",
}


def with_episode(schema: dict[str, Any]) -> dict[str, Any]:
    """A tool's input schema plus the optional ``episode`` argument."""
    props = {**schema.get("properties", {}), EPISODE_ARG: _EPISODE_PROP}
    return {**schema, "type": "object", "properties": props}


def _reset_schema(split: Split) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "seed": {"type": "integer", "description": "which task of the split (default 0)", "default": 0},
            "split": {"type": "string", "enum": list(SPLITS), "default": split},
            "difficulty": {
                "anyOf": [{"type": "integer"}, {"type": "null"}],
                "default": None,
                "description": "the task's difficulty level (default: cycle through them)",
            },
        },
    }


def _text(text: str, *, error: bool = False, data: dict[str, Any] | None = None) -> mt.CallToolResult:
    return mt.CallToolResult(
        content=[mt.TextContent(type="text", text=text)], is_error=error, structured_content=data
    )


@dataclass
class EpisodeServer:
    """The episodes of one served env, by id (see the module docstring)."""

    env_name: str
    options: EpisodeOptions = field(default_factory=EpisodeOptions)
    episodes: OrderedDict[str, Episode] = field(default_factory=OrderedDict)
    latest: dict[str, str] = field(default_factory=dict)
    """The latest episode per connection key ("" for stateless requests)."""

    def __post_init__(self) -> None:
        probe = self.options.make(self.env_name)
        self.reset_name, self.submit_name = control_names(probe)
        self.env_tools: list[ToolSpec] = all_tools(probe)
        self._ids = itertools.count(1)

    def tools(self, connection: str = "") -> list[mt.Tool]:
        episode = self.episodes.get(self.latest.get(connection, ""))
        specs = episode.tools if episode is not None and episode.task is not None else self.env_tools
        control = [
            mt.Tool(
                name=self.reset_name,
                description="Start a new episode of a task; returns the instructions, goal and tools.",
                input_schema=_reset_schema(self.options.split),
            ),
            mt.Tool(
                name=self.submit_name,
                description="End the episode and return its result (success, reward, progress, steps).",
                input_schema=with_episode({"type": "object", "properties": {}}),
            ),
        ]
        env_tools = [
            mt.Tool(name=s.name, description=s.description, input_schema=with_episode(s.parameters))
            for s in specs
        ]
        return control + env_tools

    async def call(self, name: str, arguments: dict[str, Any], connection: str = "") -> mt.CallToolResult:
        """Run tool ``name`` for a request from ``connection`` (see the module docstring)."""
        if name == self.reset_name:
            return await self._reset(arguments, connection)
        key = arguments.pop(EPISODE_ARG, None) or self.latest.get(connection)
        episode = self.episodes.get(str(key)) if key else None
        if episode is None:
            missing = f"no episode {key!r}" if key else "no episode is running"
            return _text(f"Error: {missing}: call {self.reset_name} first.", error=True)
        if name == self.submit_name:
            if not episode.env.done:
                episode.env.truncate()
            result = {"episode": key, **episode.result()}
            return _text(json.dumps(result), data=result)
        if episode.done:
            return _text(f"Error: the episode is over: call {self.submit_name} for its result.", error=True)
        out = await episode.act(name, arguments)
        data = {"reward": out.reward, "done": out.done, "progress": out.info.get("progress", 0.0)}
        return _text(out.text, error=bool(out.info.get("invalid_action")), data=data)

    async def _reset(self, arguments: dict[str, Any], connection: str) -> mt.CallToolResult:
        split = arguments.get("split") or self.options.split
        if split not in SPLITS:
            return _text(f"Error: unknown split {split!r}; valid: {', '.join(SPLITS)}", error=True)
        episode = self.options.episode(self.env_name)
        difficulty = arguments.get("difficulty", self.options.difficulty)
        try:
            task = pick_task(episode.env, split, int(arguments.get("seed") or 0), difficulty)
        except (UsageError, ValueError) as exc:
            return _text(f"Error: {exc}", error=True)
        obs = await episode.start(task)
        key = f"e{next(self._ids)}"
        self.episodes[key] = episode
        self.latest[connection] = key
        while len(self.episodes) > MAX_EPISODES:
            _, old = self.episodes.popitem(last=False)
            await old.close()
        data = {EPISODE_ARG: key, "task_id": task.id, "split": task.split, "difficulty": task.difficulty}
        text = f"{prompt_text(obs, with_tools=True)}\n\n(episode id: {key})"
        return _text(text, data=data)

    async def close(self) -> None:
        for episode in self.episodes.values():
            await episode.close()
        self.episodes.clear()


def connection_key(ctx: ServerRequestContext[Any]) -> str:
    """Which client a request comes from: its session before 2026-07-28, nobody in particular after."""
    if ctx.protocol_version in MODERN_PROTOCOL_VERSIONS:
        return ""
    headers = getattr(ctx.request, "headers", None)
    http_session = headers.get(MCP_SESSION_ID_HEADER) if headers is not None else None
    return f"session-{http_session or id(ctx.session)}"


def build_server(env: str, options: EpisodeOptions | None = None) -> tuple[Server[Any], EpisodeServer]:
    """An MCP low-level ``Server`` playing ``env``, and the episodes behind it."""
    episodes = EpisodeServer(env, options or EpisodeOptions())

    async def list_tools(
        ctx: ServerRequestContext[Any], params: mt.PaginatedRequestParams | None
    ) -> mt.ListToolsResult:
        return mt.ListToolsResult(tools=episodes.tools(connection_key(ctx)))

    async def call_tool(
        ctx: ServerRequestContext[Any], params: mt.CallToolRequestParams
    ) -> mt.CallToolResult:
        return await episodes.call(params.name, dict(params.arguments or {}), connection_key(ctx))

    server: Server[Any] = Server(
        f"palaestra-{env}",
        instructions=f"Palaestra's {env} environment: call reset, then its tools, then submit.",
        on_list_tools=list_tools,
        on_call_tool=call_tool,
    )
    return server, episodes


def serve(
    env: str,
    options: EpisodeOptions | None = None,
    *,
    http: bool = False,
    host: str = "127.0.0.1",
    port: int = 8765,
    on_ready: Callable[[str], None] | None = None,
) -> None:
    """Serve ``env`` over stdio, or over streamable HTTP at ``http://HOST:PORT/mcp``, until stopped."""
    import anyio

    server, episodes = build_server(env, options)

    async def stdio() -> None:
        from mcp.server.stdio import stdio_server

        async with stdio_server() as (read, write):
            await server.run(read, write, server.create_initialization_options())
        await episodes.close()

    async def streamable() -> None:
        import uvicorn

        app = server.streamable_http_app(host=host)
        config = uvicorn.Config(app, host=host, port=port, log_level="warning")
        if on_ready is not None:
            on_ready(f"http://{host}:{port}/mcp")
        await uvicorn.Server(config).serve()
        await episodes.close()

    anyio.run(streamable if http else stdio)
