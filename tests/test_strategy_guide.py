"""docs/add-a-strategy.md's one-file strategy is real: written out as the guide says, it runs from the
CLI by its file name with a scripted model, its traces reach the store, and it does what it says."""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

from tests.clitools import PALAESTRA

from palaestra import make
from palaestra.agents.base import agent_needs_model, make_agent
from palaestra.models.mock import MockModel
from palaestra.records import EpisodeRecord
from palaestra.runner.episode import rollout
from palaestra.types import Message

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "add-a-strategy.md"


def _write_example(tmp_path: Path, name: str = "retry.py") -> Path:
    blocks = re.findall(r"```python\n(.*?)```", GUIDE.read_text(), re.S)
    assert [b.split(":", 1)[0] for b in blocks] == ['"""retry.py', '"""plan_and_vote.py']
    (block,) = [b for b in blocks if b.startswith(f'"""{name}:')]
    path = tmp_path / name
    path.write_text(block)
    return path


def run_guess(tmp_path: Path, *args: str) -> sqlite3.Connection:
    """``palaestra run guess -n 1 ARGS`` in ``tmp_path`` with a store of its own, which comes back open."""
    store = tmp_path / "s.db"
    proc = subprocess.run(
        [*PALAESTRA, "run", "guess", *args, "-n", "1", "--store", str(store)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    return sqlite3.connect(store)


def step_traces(con: sqlite3.Connection) -> list[Any]:
    """The stored traces of the steps, in order."""
    return [json.loads(t) for (t,) in con.execute("SELECT trace FROM steps ORDER BY idx")]


def _out_of_range() -> dict[str, Any]:
    return {"tool": "guess", "arguments": {"number": -1}}


def test_the_guide_strategy_runs_from_the_cli_and_its_traces_are_stored(tmp_path: Path) -> None:
    path = _write_example(tmp_path)
    script = tmp_path / "script.json"
    script.write_text(json.dumps([_out_of_range()] * 3))
    con = run_guess(
        tmp_path,
        *("--agent", f"{path}:retry_agent", "--agent-opt", "inner=tools"),
        *("--model", f"mock:{script}", "--max-steps", "3"),
    )
    assert step_traces(con) == [{"warned": False}, {"warned": True}, {"warned": True}]
    agent = con.execute("SELECT agent FROM episodes").fetchone()[0]
    assert agent == f"{path}:retry_agent"


async def test_the_guide_strategy_warns_the_inner_agent_after_an_error(tmp_path: Path) -> None:
    path = _write_example(tmp_path)
    seen: list[list[Message]] = []

    def model(messages: list[Message], tools: Any) -> Any:
        seen.append(list(messages))
        return _out_of_range()

    env = make("guess")
    task = env.tasks("test", 1)[0]
    assert agent_needs_model(f"{path}:retry_agent")
    agent = make_agent(f"{path}:retry_agent", env=env, model=MockModel(model), inner="react")
    rec = EpisodeRecord(id="e", task=task, agent="retry", model="mock")
    await rollout(env, agent, task, record=rec, max_steps=2)
    assert "do something different" not in seen[0][-1].content
    assert "do something different" in seen[1][-1].content  # react shows it with the error
