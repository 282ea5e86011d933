"""Round-trip overhead per step of each bridge: in-process vs adapted vs served, side by side.

    python bench/bridges.py [--steps 300] [--env maze]

Every mode makes the same tool call (``look`` in maze: cheap, never ends the episode) on one
episode, ``--steps`` times, after a warm-up, and reports the mean time per step (best of three rounds) and its ratio to the
bare in-process ``Env.step``. Served modes start the real CLI servers (``palaestra serve``,
``palaestra mcp --http``) on 127.0.0.1 and talk to them with OpenEnv's and MCP's own clients. A
mode whose package is not installed is skipped.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import time
from collections.abc import Awaitable, Callable
from typing import Any

from palaestra import action
from palaestra.adapters._session import Episode, EpisodeOptions, make_single, pick_task
from palaestra.testing.cli_server import cli_server, free_port

Step = Callable[[], Awaitable[Any]]


async def timed(step: Step, steps: int, rounds: int = 3) -> float:
    """Mean seconds per step, the best of ``rounds`` (the machine is shared: noise only adds)."""
    for _ in range(10):
        await step()
    best = float("inf")
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(steps):
            await step()
        best = min(best, (time.perf_counter() - t0) / steps)
    return best


async def bench(env_name: str, steps: int) -> list[tuple[str, float]]:
    task = pick_task(make_single(env_name), "test", 0)
    rows: list[tuple[str, float]] = []
    big = steps * 10 + 100  # the step limit must not end the episode mid-measurement

    env = make_single(env_name)
    await env.reset(task)
    rows.append(("in-process Env.step", await timed(lambda: env.step(action("look")), steps)))

    episode = Episode(make_single(env_name), max_steps=big)
    await episode.start(task)
    rows.append(("bridge Episode.act", await timed(lambda: episode.act("look", {}), steps)))

    if importlib.util.find_spec("trl") and importlib.util.find_spec("transformers"):
        from palaestra.adapters.trl import factory

        trl_env = factory(env_name, max_steps=big)()
        trl_env.reset(task=task.model_dump_json())

        async def trl_step() -> Any:
            return getattr(trl_env, "look")()  # noqa: B009  (a generated tool method)

        rows.append(("TRL environment method", await timed(trl_step, steps)))
        trl_env._close()

    if importlib.util.find_spec("mcp"):
        from mcp.client import Client

        from palaestra.adapters.mcp import build_server

        server, _ = build_server(env_name, EpisodeOptions(max_steps=big))
        async with Client(server) as client:
            await client.call_tool("reset", {"seed": 0})
            rows.append(("MCP in-memory client", await timed(lambda: client.call_tool("look", {}), steps)))
        port = free_port()
        with cli_server("mcp", env_name, "--http", "--port", str(port), "--max-steps", str(big), port=port):
            async with Client(f"http://127.0.0.1:{port}/mcp") as client:
                await client.call_tool("reset", {"seed": 0})
                rows.append(("MCP streamable HTTP", await timed(lambda: client.call_tool("look", {}), steps)))

    if importlib.util.find_spec("openenv"):
        from palaestra.adapters.openenv import PalaestraEnvClient, ToolAction

        port = free_port()
        with (
            cli_server("serve", env_name, "--port", str(port), "--max-steps", str(big), port=port),
        ):
            async with PalaestraEnvClient(base_url=f"http://127.0.0.1:{port}/{env_name}") as oe:
                await oe.reset(seed=0)
                look = ToolAction(tool="look", arguments={})
                rows.append(("OpenEnv WebSocket", await timed(lambda: oe.step(look), steps)))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--env", default="maze")
    args = parser.parse_args()
    rows = asyncio.run(bench(args.env, args.steps))
    base = rows[0][1]
    print(f"{'mode':28} {'µs/step':>10} {'x in-process':>13}")
    for name, seconds in rows:
        print(f"{name:28} {seconds * 1e6:10.0f} {seconds / base:13.1f}")


if __name__ == "__main__":
    main()
