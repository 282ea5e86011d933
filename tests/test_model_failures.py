"""Runs against failing or small model servers: what is recorded, what a resume repeats, and the
agents' history budget (issue #17)."""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from clitools import PALAESTRA, stderr_lines
from conftest import CRASH_STEP
from palaestra import RunConfig, Store, make, run
from palaestra.agents.context import estimate_tokens, fit_history
from palaestra.errors import ModelError
from palaestra.models.base import ContextOverflowError
from palaestra.models.mock import MockModel
from palaestra.testing import FakeOpenAIServer
from palaestra.types import Message, ToolCall, ToolSpec


def test_resume_repeats_episodes_the_model_server_failed_and_only_those(tmp_path: Path) -> None:
    tasks = make("counter").tasks("test", 4)
    CRASH_STEP[tasks[0].id] = 0  # the env fails on the first action: not the server's doing
    server = {"up": True, "calls": 0}

    def model(messages: list[Message], tools: list[ToolSpec] | None) -> Any:
        server["calls"] += 1
        if server["calls"] > 1 and not server["up"]:
            return ModelError("HTTP 503: overloaded", status=503, retries=6)
        return {"tool": "inc", "arguments": {"by": 1}}

    st = Store(tmp_path / "s.db")
    cfg = RunConfig(envs=["counter"], agent="tools", model="mock", tasks=4, concurrency=1)
    server["up"] = False
    try:
        rid = asyncio.run(run(cfg, st, model=MockModel(model)))
        first = {e["id"]: e for e in st.episodes(rid)}
        assert [e["status"] for e in first.values()] == ["error"] * 4
        crashed = next(i for i in first if tasks[0].id in i)
        assert "env crashed" in first[crashed]["error"]
        failed = [i for i in first if i != crashed]
        assert all(first[i]["error"].startswith("model: HTTP 503") for i in failed)
        calls = st.model_calls(rid, failed[0])
        assert [c["retries"] for c in calls] == [6] and calls[0]["error"] == "HTTP 503: overloaded"

        server["up"] = True
        asyncio.run(run(cfg, st, run_id=rid, resume=True, model=MockModel(model)))
    finally:
        CRASH_STEP.clear()
    after = {e["id"]: e for e in st.episodes(rid)}
    assert len(after) == 4 and st.summary(rid)["episodes"] == 4
    assert after[crashed]["status"] == "error" and after[crashed]["wall"] == first[crashed]["wall"]
    assert all(after[i]["status"] == "done" and after[i]["success"] for i in failed)
    assert all(len(st.model_calls(rid, i)) == after[i]["steps"] for i in failed)  # old calls replaced


def test_context_overflow_is_a_truncated_episode_with_its_reason(tmp_path: Path) -> None:
    def model(messages: list[Message], tools: list[ToolSpec] | None) -> Any:
        if len(messages) > 2:  # the second call overflows
            return ContextOverflowError("HTTP 400: maximum context length is 64 tokens", status=400)
        return {"tool": "inc", "arguments": {"by": 1}}

    st = Store(tmp_path / "s.db")
    cfg = RunConfig(envs=["counter"], agent="tools", model="mock", tasks=3, max_steps=20)
    rid = asyncio.run(run(cfg, st, model=MockModel(model)))
    eps = st.episodes(rid)
    assert len(eps) == 3 and all(e["status"] == "truncated" and e["steps"] == 1 for e in eps)
    assert all(e["error"].startswith("context: HTTP 400: maximum context length") for e in eps)
    assert st.summary(rid)["errors"] == 0
    assert st.finished_episode_ids(rid) == {e["id"] for e in st.episodes(rid)}  # a resume leaves them


# -- history budget ---------------------------------------------------------------------------------------


def _long_history(turns: int) -> list[Message]:
    h = [Message(role="system", content="You count. " * 10), Message(role="user", content="Reach 500.")]
    for i in range(turns):
        h.append(
            Message(role="assistant", tool_calls=[ToolCall(id=f"c{i}", name="inc", arguments={"by": 1})])
        )
        h.append(Message(role="tool", tool_call_id=f"c{i}", content=f"value={i} " * 20))
    return h


def test_fit_history_keeps_system_goal_and_latest_turns() -> None:
    h = _long_history(30)
    budget = 400
    cut = fit_history(h, budget)
    assert sum(estimate_tokens(m) for m in cut) <= budget
    assert cut[0] == h[0] and cut[1].content.startswith("Reach 500.")
    assert "earlier messages left out" in cut[1].content
    assert cut[-1] == h[-1] and cut[2].role == "assistant"  # never a tool result without its call
    assert fit_history(h, None) is h and fit_history(h[:4], 10_000) == h[:4]
    tiny = fit_history(h, 1)  # still the opening, the last result and the call it answers
    assert [m.role for m in tiny] == ["system", "user", "assistant", "tool"]


@pytest.mark.parametrize("agent", ["tools", "react", "code"])
def test_every_model_driven_agent_keeps_to_its_budget(tmp_path: Path, agent: str) -> None:
    sent: list[list[int]] = [[]]  # prompt sizes, one list per run

    def model(messages: list[Message], tools: list[ToolSpec] | None) -> Any:
        sent[-1].append(sum(estimate_tokens(m) for m in messages))
        return {"content": "Thinking about it. " * 30}  # no action: the episode runs to its step limit

    st = Store(tmp_path / "s.db")
    budget = 600
    cfg = RunConfig(
        envs=["counter"],
        agent=agent,
        model="mock",
        tasks=1,
        max_steps=20,
        agent_options={"max_context_tokens": budget},
    )
    rid = asyncio.run(run(cfg, st, model=MockModel(model)))
    (ep,) = st.episodes(rid)
    assert ep["status"] == "truncated" and ep["steps"] == 20, ep["error"]
    assert len(sent[0]) >= 20 and max(sent[0]) <= budget
    sent.append([])
    asyncio.run(run(cfg.model_copy(update={"agent_options": {}}), st, model=MockModel(model)))
    assert max(sent[1]) > 2 * budget  # without the budget the history grows past it


# -- the CLI flags ------------------------------------------------------------------------------------------


def test_model_flags_reach_the_run(tmp_path: Path) -> None:
    with FakeOpenAIServer(quirks=["tools_need_choice"], max_seconds=60) as srv:
        r = subprocess.run(
            [
                *PALAESTRA,
                "run",
                "guess",
                "-n",
                "1",
                "--max-steps",
                "2",
                "--model",
                f"openai:fake@{srv.base_url}",
                "--extra",
                '{"top_k": 20}',
                "--stream",
                "--request-timeout",
                "7.5",
                "--tool-role",
                "user",
                "--max-context-tokens",
                "5000",
                "--json",
                "--store",
                str(tmp_path / "s.db"),
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert r.returncode == 0, r.stderr
        req = srv.last_request
    assert req is not None and req["top_k"] == 20 and req["stream"] is True and req["tool_choice"] == "auto"
    st = Store(tmp_path / "s.db")
    rid = json.loads(r.stdout)["run_id"]
    config = st.run(rid)["config"]
    assert config["generate"]["timeout"] == 7.5 and config["generate"]["extra"] == {"top_k": 20}
    assert config["generate"]["stream"] is True
    assert config["agent_options"] == {"max_context_tokens": 5000}
    assert config["model_options"]["tool_role"] == "user"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--extra", "{bad"], "--extra '{bad' is not JSON"),
        (["--extra", "[1]"], "--extra must be a JSON object"),
        (["--extra", '{"model": "x"}'], "--extra may not set 'model'"),
        (["--request-timeout", "0"], "--request-timeout must be positive"),
        (["--max-context-tokens", "0"], "--max-context-tokens must be at least 1"),
        (["--tool-role", "system"], "--tool-role must be tool, user or auto"),
    ],
)
def test_bad_model_flags_are_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    r = subprocess.run(
        [*PALAESTRA, "run", "guess", "--model", "openai:x@http://127.0.0.1:9/v1", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    lines = stderr_lines(r.stderr)
    assert r.returncode == 2 and len(lines) == 1 and message in lines[0], r.stderr
