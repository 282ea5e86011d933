"""A run never dies of what a model or an environment sends: unstorable replies, unstorable env
output, ``sys.exit()`` in env code, tools that block."""

from __future__ import annotations

import sys
import threading
from pathlib import Path
from typing import Any

from conftest import Counter
from palaestra import EnvSpec, RunConfig, Store, register, run, tool
from palaestra.models.mock import MockModel
from palaestra.sanitize import MAX_DEPTH
from palaestra.types import Message, Task


def _nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(depth):
        value = {"a": value}
    return value


def _steps(st: Store, rid: str) -> list[dict[str, Any]]:
    (ep,) = st.episodes(rid)
    return st.episode(rid, ep["id"])["steps"]  # type: ignore[no-any-return]


async def test_unstorable_model_replies_are_cleaned_where_they_enter(store_path: Path) -> None:
    script: list[Any] = [
        "cut emoji \ud83d",
        {"tool": "inc", "arguments": _nested(500)},
        {"tool": "inc", "arguments": {"by": 1, "why\ud83d": "half \udc00"}},
        {"content": "on \ud83d it", "tool": "inc", "arguments": {"by": 1}},
    ]
    st = Store(store_path)
    cfg = RunConfig(envs=["counter"], agent="tools", model="mock", tasks=1, concurrency=1)
    rid = await run(cfg, st, model=MockModel(script, cycle=True))
    assert st.run(rid)["status"] == "finished"
    (ep,) = st.episodes(rid)
    assert ep["status"] == "done" and ep["invalid_actions"] >= 3
    steps = _steps(st, rid)
    assert steps[0]["action"]["content"] == "cut emoji \ufffd"
    deep = steps[1]["action"]["tool_calls"][0]
    assert deep["name"] == "inc" and f"deeper than {MAX_DEPTH}" in deep["parse_error"]
    assert "not a valid JSON object" in steps[2]["observation"][0]["content"]
    assert steps[2]["action"]["tool_calls"][0]["arguments"] == {"by": 1, "why\ufffd": "half \ufffd"}
    # --resume finds the episode stored and has nothing left to do
    assert await run(cfg, st, run_id=rid, resume=True, model=MockModel(script, cycle=True)) == rid
    assert len(st.episodes(rid)) == 1 and st.run(rid)["status"] == "finished"


async def test_react_action_nested_too_deep_is_an_invalid_action(store_path: Path) -> None:
    deep = '{"by": ' + "[" * 600 + "]" * 600 + "}"
    script = [f"Thought: \ud83d\nAction: inc({deep})", 'Action: inc({"by": 1})']
    st = Store(store_path)
    cfg = RunConfig(envs=["counter"], agent="react", model="mock", tasks=1, concurrency=1)
    rid = await run(cfg, st, model=MockModel(script, cycle=True))
    (ep,) = st.episodes(rid)
    assert st.run(rid)["status"] == "finished" and ep["status"] == "done"
    first = _steps(st, rid)[0]["action"]
    assert (
        first["content"].startswith("Thought: \ufffd")
        and "deeper than" in first["tool_calls"][0]["parse_error"]
    )


class Leaky(Counter):
    """Counter whose env output cannot be serialised: ``LEAK[task_id]`` says how."""

    spec = EnvSpec(name="leaky", description="Counter with unstorable output.", max_steps=20)

    def step_info(self) -> dict[str, Any]:
        if LEAK.get(self.task.id) == "info":
            return {"blob": _nested(5000)}  # too deep for any JSON writer
        return {}

    def instructions(self) -> str:
        return "Count \ud800 up." if LEAK.get(self.task.id) == "text" else super().instructions()


LEAK: dict[str, str] = {}
register(Leaky)


async def test_unstorable_env_output_is_recorded_as_an_error_and_the_run_goes_on(store_path: Path) -> None:
    from palaestra import make

    tasks = make("leaky").tasks("test", 4)
    LEAK[tasks[1].id], LEAK[tasks[2].id] = "info", "text"
    st = Store(store_path)
    cfg = RunConfig(envs=["leaky"], agent="expert", tasks=4, concurrency=2)
    rid = await run(cfg, st)
    assert st.run(rid)["status"] == "finished"
    eps = {e["id"].split("/")[1]: e for e in st.episodes(rid)}
    assert len(eps) == 4
    for t in (tasks[1], tasks[2]):
        e = eps[t.id]
        assert e["status"] == "error" and "could not be stored" in e["error"]
        assert st.episode(rid, e["id"])["steps"] == []
    assert {eps[t.id]["status"] for t in (tasks[0], tasks[3])} == {"done"}
    assert await run(cfg, st, run_id=rid, resume=True) == rid  # resume finds them all stored
    assert len(st.episodes(rid)) == 4


class Exiting(Counter):
    """Counter whose code raises BaseExceptions: ``EXIT[task_id]`` says where."""

    spec = EnvSpec(name="exiting", description="Counter that exits.", max_steps=20)

    def setup(self, task: Task) -> str:
        if EXIT.get(task.id) == "reset":
            raise GeneratorExit("from setup")
        return super().setup(task)

    @tool
    def inc(self, by: int = 1) -> str:
        """Add to the counter.

        Args:
            by: how much to add.
        """
        if EXIT.get(self.task.id) == "tool":
            sys.exit(3)
        if EXIT.get(self.task.id) == "interrupt":
            raise KeyboardInterrupt
        return super().inc(by)

    async def step(self, action: Message) -> Any:
        if EXIT.get(self.task.id) == "step":
            raise SystemExit("from step")
        return await super().step(action)


EXIT: dict[str, str] = {}
register(Exiting)


async def test_sys_exit_in_env_code_ends_the_episode_not_the_run(store_path: Path) -> None:
    from palaestra import make

    tasks = make("exiting").tasks("test", 5)
    EXIT[tasks[0].id], EXIT[tasks[1].id], EXIT[tasks[2].id] = "reset", "step", "tool"
    EXIT[tasks[4].id] = "interrupt"  # raised by env code, not Ctrl-C (which arrives as cancellation)
    st = Store(store_path)
    rid = await run(RunConfig(envs=["exiting"], agent="expert", tasks=5, concurrency=2), st)
    assert st.run(rid)["status"] == "finished"
    eps = {e["id"].split("/")[1]: e for e in st.episodes(rid)}
    assert eps[tasks[0].id]["status"] == "error" and "GeneratorExit" in eps[tasks[0].id]["error"]
    assert eps[tasks[1].id]["status"] == "error" and "SystemExit: from step" in eps[tasks[1].id]["error"]
    assert eps[tasks[2].id]["status"] == "error" and "SystemExit: 3" in eps[tasks[2].id]["error"]
    assert eps[tasks[3].id]["status"] == "done"
    assert eps[tasks[4].id]["status"] == "error" and "KeyboardInterrupt" in eps[tasks[4].id]["error"]


class Blocking(Counter):
    """Counter with a tool that blocks its thread until the test releases it."""

    spec = EnvSpec(name="blocking", description="Counter with a blocking tool.", max_steps=20)

    @tool(blocking=True)
    def wait(self) -> str:
        """Wait for the release."""
        RELEASE.wait(60)
        RETURNED.set()
        return "waited"


RELEASE, RETURNED = threading.Event(), threading.Event()
register(Blocking)


async def test_a_declared_blocking_tool_does_not_hold_up_the_loop_and_timeout_holds(store_path: Path) -> None:
    from palaestra import make

    task = make("blocking").tasks("test", 1)[0]
    st = Store(store_path)
    script = [{"tool": "wait", "arguments": {}}]
    cfg = RunConfig(envs=["blocking"], agent="tools", model="mock", tasks=1, timeout=0.3)
    try:
        rid = await run(cfg, st, model=MockModel(script, cycle=True))
        returned_before_the_run_ended = RETURNED.is_set()
    finally:
        RELEASE.set()
    (ep,) = st.episodes(rid)
    assert ep["id"].startswith(f"blocking/{task.id}") and ep["status"] == "timeout"
    assert not returned_before_the_run_ended  # the loop went on while the tool was still blocked


class Stalling(Counter):
    """Counter whose sync tool, not declared blocking, stalls its thread until the test releases it."""

    spec = EnvSpec(name="stalling", description="Counter with an undeclared stalling tool.", max_steps=20)

    @tool
    def stall(self) -> str:
        """Stall until released."""
        STALL_RELEASE.wait(5)
        STALL_RETURNED.set()
        return "stalled"


STALL_RELEASE, STALL_RETURNED = threading.Event(), threading.Event()
register(Stalling)


async def test_with_a_timeout_even_an_undeclared_sync_tool_cannot_hold_the_loop(store_path: Path) -> None:
    """--timeout holds whatever a sync tool does: in an episode with a wall-clock limit every sync
    tool runs off the event loop, so the stalled episode times out and its neighbour finishes."""
    st = Store(store_path)
    cfg = RunConfig(envs=["stalling", "counter"], agent="tools", model="mock", tasks=1, timeout=0.5)

    def reply(messages: list[Message], tools: Any) -> dict[str, Any]:
        stalling = any(t.name == "stall" for t in tools or [])
        return {"tool": "stall", "arguments": {}} if stalling else {"tool": "inc", "arguments": {"by": 1}}

    try:
        rid = await run(cfg, st, model=MockModel(reply))
        returned_before_the_run_ended = STALL_RETURNED.is_set()
    finally:
        STALL_RELEASE.set()
    status = {e["env"]: e["status"] for e in st.episodes(rid)}
    assert status == {"stalling": "timeout", "counter": "done"}, status
    assert not returned_before_the_run_ended  # the run ended while the tool was still stalled


def test_cli_run_with_a_mock_script_of_unstorable_replies(tmp_path: Path) -> None:
    import json
    import subprocess

    from clitools import PALAESTRA

    deep = "[" * 500 + "]" * 500
    lines = [
        '{"content": "cut emoji \\ud83d", "tool": "guess", "arguments": {"number": 1}}',
        json.dumps({"tool_calls": [{"name": "guess", "arguments": '{"number": ' + deep + "}"}]}),
        '{"tool": "guess", "arguments": {"number": 2, "note": "\\udc00"}}',
    ]
    script = tmp_path / "replies.jsonl"
    script.write_text("\n".join(lines) + "\n")
    db = tmp_path / "s.db"
    args = ["run", "guess", "-n", "1", "--max-steps", "3", "--model", f"mock:{script}", "--store", str(db)]
    r = subprocess.run([*PALAESTRA, *args, "--json"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    rid = json.loads(r.stdout)["run_id"]
    st = Store(db)
    assert st.run(rid)["status"] == "finished"
    steps = _steps(st, rid)
    assert steps[0]["action"]["content"] == "cut emoji \ufffd" and len(steps) == 3
    r = subprocess.run(
        [*PALAESTRA, "run", "--resume", rid, "--store", str(db)], capture_output=True, text=True
    )
    assert r.returncode == 0, r.stderr


STUCK_CLI = """
import sys, time
sys.path.insert(0, {tests!r})
from conftest import Counter
from palaestra import EnvSpec, register, tool

class Stuck(Counter):
    spec = EnvSpec(name="stuck", description="A tool that never returns.", max_steps=5)

    @tool(blocking=True)
    def wait(self) -> str:
        '''Wait forever.'''
        time.sleep(3600)
        return "never"

register(Stuck)
from palaestra.cli import main
main()
"""


def test_a_stuck_blocking_tool_holds_up_neither_the_run_nor_the_exit(tmp_path: Path) -> None:
    import json
    import subprocess

    script = tmp_path / "replies.jsonl"
    script.write_text((json.dumps({"tool": "wait", "arguments": {}}) + "\n") * 2)
    code = STUCK_CLI.format(tests=str(Path(__file__).parent))
    args = ["run", "stuck", "-n", "2", "--timeout", "0.5", "--model", f"mock:{script}", "--json"]
    r = subprocess.run(  # a process waiting for the stuck thread would run past this limit
        [sys.executable, "-c", code, *args, "--store", str(tmp_path / "s.db")],
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["timeouts"] == 2
