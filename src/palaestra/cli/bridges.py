"""``palaestra serve`` and ``palaestra mcp``: environments served to other frameworks' clients.

Third-party packages are imported when a command runs; a missing one is one clear line naming the
extra to install.
"""

from __future__ import annotations

import importlib.util
import sys
from typing import TYPE_CHECKING, Annotated

import typer

from palaestra.cli import _common
from palaestra.errors import UsageError
from palaestra.tasksource import check_split

if TYPE_CHECKING:
    from palaestra.adapters._session import EpisodeOptions

HostOpt = Annotated[str, typer.Option(help="Address to bind (127.0.0.1: this machine only).")]
SplitOpt = Annotated[str, typer.Option(help="Default split of the tasks: train | dev | test")]
DifficultyOpt = Annotated[int | None, typer.Option(help="Default difficulty (default: cycle through them).")]
MaxStepsOpt = Annotated[int | None, typer.Option("--max-steps", help="Step limit (default: the env's).")]
SeatOpt = Annotated[str | None, typer.Option(help="A game's seat the client plays (default: the first).")]
BotOpt = Annotated[str | None, typer.Option(help="A game's bot for the other seats (default: its first).")]


def require(module: str, package: str) -> None:
    """Refuse in one line when an optional package is not installed."""
    if importlib.util.find_spec(module) is None:
        raise UsageError(f"this command needs {package}: pip install 'palaestra[{package}]'")


def episode_options(
    split: str, difficulty: int | None, max_steps: int | None, seat: str | None, bot: str | None
) -> EpisodeOptions:
    from palaestra.adapters._session import EpisodeOptions

    return EpisodeOptions(check_split(split), difficulty, max_steps, seat, bot)


def mcp(
    env: Annotated[str, typer.Argument(help="A single-agent environment.")],
    http: Annotated[bool, typer.Option("--http", help="Streamable HTTP instead of stdio.")] = False,
    host: HostOpt = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port for --http.")] = 8765,
    split: SplitOpt = "test",
    difficulty: DifficultyOpt = None,
    max_steps: MaxStepsOpt = None,
    seat: SeatOpt = None,
    bot: BotOpt = None,
) -> None:
    """Serve an environment's episodes over MCP (stdio, or streamable HTTP with --http)."""
    require("mcp", "mcp")
    from palaestra.adapters.mcp import serve

    options = episode_options(split, difficulty, max_steps, seat, bot)
    options.make(env)  # an unknown env, seat or bot fails here, in one line
    serve(
        env,
        options,
        http=http,
        host=host,
        port=port,
        on_ready=lambda url: print(f"MCP server for {env} at {url}", file=sys.stderr, flush=True),
    )


def serve(
    envs: Annotated[list[str], typer.Argument(help="Single-agent environment(s).", show_default=False)],
    host: HostOpt = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    split: SplitOpt = "test",
    difficulty: DifficultyOpt = None,
    max_steps: MaxStepsOpt = None,
    max_sessions: Annotated[int, typer.Option(help="Concurrent WebSocket sessions per env.")] = 64,
    seat: SeatOpt = None,
    bot: BotOpt = None,
) -> None:
    """Serve environments as OpenEnv environment servers (each under /ENV; one env also at /)."""
    require("openenv", "openenv")
    import uvicorn

    from palaestra.adapters.openenv import create_server_app

    app = create_server_app(
        envs, episode_options(split, difficulty, max_steps, seat, bot), max_sessions=max_sessions
    )
    where = ", ".join(f"http://{host}:{port}/{name}" for name in envs)
    print(f"OpenEnv server for {where}", file=sys.stderr, flush=True)
    uvicorn.run(app, host=host, port=port, log_level="warning")


_common.app.command("mcp")(mcp)
_common.app.command("serve")(serve)
