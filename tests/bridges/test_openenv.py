"""OpenEnv bridge: `palaestra serve` is OpenEnv's own server, played with OpenEnv's own clients."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bridges.expert import play_expert
from clitools import PALAESTRA
from palaestra.adapters._session import EpisodeOptions, make_single, pick_task
from palaestra.store import Store
from palaestra.testing.cli_server import cli_server, free_port

pytest.importorskip("openenv", reason="the OpenEnv bridge needs openenv-core (the dev extra)")

from openenv.core import GenericEnvClient

from palaestra.adapters.openenv import (
    PalaestraEnvClient,
    PalaestraEnvironment,
    ToolAction,
    action_class,
)


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    port = free_port()
    with cli_server("serve", "maze", "guess", "--port", str(port), port=port):
        yield f"http://127.0.0.1:{port}"


def test_action_is_typed_with_the_env_tools() -> None:
    maze_action = action_class("maze")
    assert maze_action(tool="move", arguments={"direction": "north"}).tool == "move"
    with pytest.raises(ValueError, match="move"):
        maze_action(tool="fly", arguments={})


async def test_expert_wins_in_process_through_the_environment_api() -> None:
    env = PalaestraEnvironment("guess")
    obs = await env.reset_async(seed=2)
    assert obs.task_id == pick_task(make_single("guess"), "test", 2).id and not obs.done

    async def call(name: str, arguments: dict[str, Any]) -> bool:
        return (await env.step_async(ToolAction(tool=name, arguments=arguments))).done

    task = pick_task(make_single("guess"), "test", 2)
    assert await play_expert("guess", task, call)
    assert env.state.success and env.state.total_reward == 1.0
    env.close()


@pytest.mark.slow
@pytest.mark.parametrize("env_name", ["maze", "guess"])
async def test_expert_wins_through_openenvs_client(server: str, env_name: str) -> None:
    task = pick_task(make_single(env_name), "dev", 7, 1)
    async with PalaestraEnvClient(base_url=f"{server}/{env_name}") as client:
        first = await client.reset(seed=7, split="dev", difficulty=1)
        assert first.observation.task_id == task.id
        tools = {t["function"]["name"] for t in first.observation.tools}
        assert tools == {s.name for s in make_single(env_name).tool_specs()}
        last: dict[str, Any] = {}

        async def call(name: str, arguments: dict[str, Any]) -> bool:
            result = await client.step(ToolAction(tool=name, arguments=arguments))
            last["result"] = result
            return result.done

        assert await play_expert(env_name, task, call)
        assert last["result"].observation.success and last["result"].reward == 1.0
        state = await client.state()
    assert state.success and state.task_id == task.id


@pytest.mark.slow
async def test_concurrent_sessions_are_separate(server: str) -> None:
    async with (
        GenericEnvClient(base_url=f"{server}/maze") as a,
        GenericEnvClient(base_url=f"{server}/maze") as b,
    ):
        ra = await a.reset(seed=1)
        rb = await b.reset(seed=2)
        assert ra.observation["task_id"] != rb.observation["task_id"]
        step = await a.step({"tool": "look", "arguments": {}})
        assert not step.done and "Error" not in step.observation["text"]
        bad = await b.step({"tool": "move", "arguments": {"direction": "up"}})
        assert bad.observation["invalid_action"] is True
        sa, sb = await a.state(), await b.state()
    assert sa["step_count"] == 1 and sb["step_count"] == 1 and sa["task_id"] != sb["task_id"]


@pytest.mark.slow
def test_palaestra_run_plays_an_openenv_server_and_stores_it(server: str, tmp_path: Path) -> None:
    db = tmp_path / "remote.db"
    cmd = [
        *PALAESTRA,
        "run",
        "palaestra.adapters.openenv:OpenEnvRemote",
        "--env-arg",
        f"url={server}/guess",
        "--agent",
        "random",
        "-n",
        "2",
        "--store",
        str(db),
        "--json",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    store = Store(db)
    run_id = store.latest_run_id()
    assert run_id is not None
    episodes = store.episodes(run_id)
    assert len(episodes) == 2 and all(e["status"] == "done" and e["steps"] > 0 for e in episodes), episodes
    detail = store.episode(run_id, episodes[0]["id"])
    assert "guess" in json.dumps(detail["steps"][0])  # the served env's own tools were called


async def test_a_game_is_served_seat_by_seat() -> None:
    env = PalaestraEnvironment("matrix-pd", EpisodeOptions(seat="p1", bot="always-defect"))
    await env.reset_async(seed=1)
    result = await env.step_async(ToolAction(tool="play", arguments={"action": "cooperate"}))
    assert not result.invalid_action and not result.done
    assert "p2 defected" in result.text  # the bot played the other seat in the same round
    env.close()
