"""MCP bridge: `palaestra mcp ENV` played with the mcp package's own client, over stdio and HTTP."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from bridges.expert import play_expert
from clitools import PALAESTRA, stderr_lines
from palaestra.adapters._session import EpisodeOptions, make_single, pick_task
from palaestra.testing.cli_server import cli_server, free_port

pytest.importorskip("mcp", reason="the MCP bridge needs the mcp package (the dev extra)")

from mcp.client import Client
from mcp.client.stdio import StdioServerParameters, stdio_client

from palaestra.adapters.mcp import build_server


def _text(result: Any) -> str:
    return "".join(getattr(c, "text", "") for c in result.content)


async def _play(client: Client, env_name: str, seed: int, by_id: bool = False) -> dict[str, Any]:
    """The expert plays task ``seed``; ``by_id``: every call names its episode."""
    started = await client.call_tool("reset", {"seed": seed})
    assert not started.is_error, _text(started)
    task = pick_task(make_single(env_name), "test", seed)
    assert started.structured_content["task_id"] == task.id
    which = {"episode": started.structured_content["episode"]} if by_id else {}

    async def call(name: str, arguments: dict[str, Any]) -> bool:
        result = await client.call_tool(name, {**arguments, **which})
        return bool(result.structured_content["done"])

    assert await play_expert(env_name, task, call)
    submitted = await client.call_tool("submit", which)
    result: dict[str, Any] = json.loads(_text(submitted))
    return result


@pytest.mark.parametrize("env_name", ["maze", "wordle"])
async def test_expert_wins_in_process(env_name: str) -> None:
    server, episodes = build_server(env_name)
    async with Client(server) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        assert {"reset", "submit", *(s.name for s in episodes.env_tools)} == set(tools)
        early = await client.call_tool(episodes.env_tools[0].name, {})
        assert early.is_error and "no episode is running: call reset first" in _text(early)
        result = await _play(client, env_name, seed=1)
    assert result["success"] is True and result["reward"] == 1.0 and result["progress"] == 1.0


async def test_invalid_action_is_an_error_result_and_submit_ends_a_running_episode() -> None:
    server, _ = build_server("maze")
    async with Client(server) as client:
        await client.call_tool("reset", {"seed": 0, "difficulty": 1})
        bad = await client.call_tool("move", {"direction": "up"})
        assert bad.is_error
        submitted = json.loads(_text(await client.call_tool("submit", {})))
        assert submitted["success"] is False and submitted["done"] is True
        after = await client.call_tool("move", {"direction": "north"})
        assert after.is_error and "the episode is over" in _text(after)
        unknown = await client.call_tool("move", {"direction": "north", "episode": "e999"})
        assert unknown.is_error and "no episode 'e999'" in _text(unknown)


def test_clashing_tool_names_get_an_episode_prefix() -> None:
    _, episodes = build_server("code")  # the code env has a tool named submit
    assert (episodes.reset_name, episodes.submit_name) == ("reset", "episode_submit")


def _cli(*args: str) -> list[str]:
    return [*PALAESTRA, *args]


@pytest.mark.slow
async def test_stdio_server_from_the_cli() -> None:
    params = StdioServerParameters(
        command=sys.executable, args=_cli("mcp", "guess")[1:], env=dict(os.environ)
    )
    async with Client(stdio_client(params)) as client:
        result = await _play(client, "guess", seed=2)
    assert result["success"] is True


@pytest.fixture
def http_server() -> Iterator[str]:
    port = free_port()
    with cli_server("mcp", "maze", "--http", "--port", str(port), port=port):
        yield f"http://127.0.0.1:{port}/mcp"


@pytest.mark.slow
async def test_http_clients_play_their_own_episodes(http_server: str) -> None:
    async with Client(http_server) as a, Client(http_server) as b:
        started_b = await b.call_tool("reset", {"seed": 4})
        result_a = await _play(a, "maze", seed=5, by_id=True)
        # b's episode was not touched by a's: it is still running, at step 0
        b_id = started_b.structured_content["episode"]
        b_state = json.loads(_text(await b.call_tool("submit", {"episode": b_id})))
    assert result_a["success"] is True
    assert b_state["task_id"] == pick_task(make_single("maze"), "test", 4).id and b_state["steps"] == 0


@pytest.mark.slow
async def test_handshake_era_http_sessions_need_no_episode_id(http_server: str) -> None:
    async with Client(http_server, mode="legacy") as a, Client(http_server, mode="legacy") as b:
        await b.call_tool("reset", {"seed": 4})
        result_a = await _play(a, "maze", seed=5)
        b_state = json.loads(_text(await b.call_tool("submit", {})))
    assert result_a["success"] is True and b_state["steps"] == 0


async def test_a_game_is_played_seat_by_seat_against_its_bot() -> None:
    server, _ = build_server("matrix-pd", EpisodeOptions(seat="p2", bot="always-cooperate"))
    async with Client(server) as client:
        start = await client.call_tool("reset", {"seed": 0})
        assert "You play seat p2" in _text(start)
        done, rounds = False, 0
        while not done and rounds < 50:
            result = await client.call_tool("play", {"action": "defect"})
            assert not result.is_error, _text(result)
            done, rounds = bool(result.structured_content["done"]), rounds + 1
        outcome = json.loads(_text(await client.call_tool("submit", {})))
    # defecting against a bot that always cooperates wins every round, and the episode says so
    assert done and outcome["success"] is True and outcome["reward"] > 0


def test_unknown_envs_and_bots_are_one_line_errors() -> None:
    for args in (("mcp", "matrix-pd", "--bot", "nope"), ("mcp", "nope")):
        proc = subprocess.run(_cli(*args), capture_output=True, text=True, timeout=60)
        assert proc.returncode != 0
        assert len(stderr_lines(proc.stderr)) == 1 and "Traceback" not in proc.stderr, proc.stderr
