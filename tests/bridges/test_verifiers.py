"""verifiers bridge: Palaestra envs as a verifiers 0.4 taskset, run by ``vf-eval`` against the fake
OpenAI server (verifiers' own loader, rollouts, MCP tool servers, chat harness and scoring)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from palaestra.env import Env, make
from palaestra.testing.fake_server import FakeOpenAIServer
from palaestra.types import Message, Task

vf = pytest.importorskip("verifiers.v1", reason="the verifiers bridge needs verifiers (the verifiers extra)")

from palaestra.adapters.verifiers import (  # noqa: E402  # after the importorskip
    PalaestraConfig,
    PalaestraData,
    PalaestraTaskset,
    PalaestraToolset,
)

VF_EVAL = str(Path(sys.executable).with_name("vf-eval"))
Responder = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


def first_task(env_name: str, seed: int) -> Task:
    data = PalaestraTaskset(PalaestraConfig(id="palaestra_verifiers", env=env_name, n=1, seed=seed)).load()
    return Task.model_validate(data[0].data.info["task"])


def expert_model(env_name: str, task: Task) -> Responder:
    """A model that plays as the env's expert: it decides on an in-process twin of the task and
    steps the twin with each reply it sends (the bridge runs the same tool calls)."""
    twin = make(env_name)
    assert isinstance(twin, Env)
    expert = twin.expert()
    assert expert is not None
    state: dict[str, Any] = {"obs": None, "sent": None}

    async def respond(request: dict[str, Any]) -> dict[str, Any]:
        if state["obs"] is None:
            state["obs"] = await twin.reset(task)
            await expert.reset(task)
        if state["sent"] is not None:
            state["obs"] = (await twin.step(state["sent"])).observation
            state["sent"] = None
        if twin.done:
            return {"content": "Done."}
        reply: Message = await expert.act(state["obs"])
        state["sent"] = reply
        calls = [{"name": c.name, "arguments": c.arguments} for c in reply.tool_calls]
        return {"content": reply.content or "", "tool_calls": calls}

    return respond


def vf_eval(tmp_path: Path, responder: Responder, env_name: str, seed: int, *extra: str) -> dict[str, Any]:
    """Run ``vf-eval palaestra_verifiers`` on one task against the fake server; its one trace."""
    srv = FakeOpenAIServer(responder, max_seconds=300).start_in_thread()
    try:
        args = [VF_EVAL, "palaestra_verifiers", "--env.taskset.env", env_name, "--env.taskset.n", "1"]
        args += ["--env.taskset.seed", str(seed), "-m", "fake-model", "--client.base-url", srv.base_url]
        args += ["--client.api-key-var", "FAKE_OPENAI_KEY", "--no-push", "-o", str(tmp_path), *extra]
        env = {**os.environ, "FAKE_OPENAI_KEY": "fake"}
        proc = subprocess.run(args, env=env, capture_output=True, text=True, timeout=240, check=False)
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
        assert srv.requests > 0
    finally:
        srv.stop()
    (traces,) = tmp_path.glob("*/traces.jsonl")
    (episode,) = [json.loads(line) for line in traces.read_text().splitlines()]
    (trace,) = episode["traces"]
    assert not trace["errors"], trace["errors"]
    return dict(trace)


def test_the_loader_finds_the_taskset_its_env_and_harness() -> None:
    from verifiers.v1.utils.loaders import default_harness_id, environment_class, taskset_class

    assert taskset_class("palaestra_verifiers") is PalaestraTaskset
    assert default_harness_id("palaestra_verifiers") == "palaestra_verifiers"
    assert environment_class("palaestra_verifiers").__name__ == "PalaestraEnv"
    tasks = PalaestraTaskset(PalaestraConfig(id="palaestra_verifiers", env="maze", n=3, split="dev")).load()
    assert len({t.key for t in tasks}) == 3
    assert tasks[0].data.prompt.startswith(make("maze").instructions()[:40])  # type: ignore[union-attr]
    assert [type(t).__name__ for t in tasks[0].toolsets(tasks[0].config)] == ["PalaestraToolset"]


async def test_toolset_serves_the_env_tools_and_steps_the_episode() -> None:
    task = first_task("guess", seed=1)
    tools = PalaestraToolset(vf.ToolsetConfig())
    await tools.setup_task(
        PalaestraData(prompt="", info={"env": "guess", "task": task.model_dump(mode="json")})
    )
    listed = {t.name: t for t in await tools.list_tools()}
    specs = {s.name: s for s in make("guess").tool_specs()}  # type: ignore[union-attr]
    assert set(listed) == set(specs)
    for name, tool in listed.items():
        assert tool.input_schema == specs[name].parameters
    result = await tools.call_tool(next(iter(specs)), {"number": 1})
    assert result.content[0].text
    assert tools.episode is not None and tools.episode.steps == 1


@pytest.mark.slow
@pytest.mark.parametrize("env_name", ["maze", "guess"])
def test_vf_eval_expert_model_succeeds(env_name: str, tmp_path: Path) -> None:
    task = first_task(env_name, seed=3)
    trace = vf_eval(tmp_path, expert_model(env_name, task), env_name, 3)
    assert trace["metrics"]["success"] == 1.0
    assert trace["metrics"]["progress"] == 1.0
    assert trace["rewards"]["reward"]["score"] > 0
    assert trace["metrics"]["steps"] >= 1


@pytest.mark.slow
def test_vf_eval_wrong_model_does_not_succeed(tmp_path: Path) -> None:
    """A model that sends three invalid moves and gives up: the calls run, no success, no reward."""

    async def wrong(request: dict[str, Any]) -> dict[str, Any]:
        if sum(m.get("role") == "tool" for m in request["messages"]) >= 3:
            return {"content": "I give up."}
        return {"content": "", "tool_calls": [{"name": "move", "arguments": {"direction": "up"}}]}

    trace = vf_eval(tmp_path, wrong, "maze", 3, "--env.taskset.reward", "success")
    assert trace["metrics"]["success"] == 0.0
    assert trace["metrics"]["steps"] == 3
    assert trace["rewards"]["reward"]["score"] == 0.0
