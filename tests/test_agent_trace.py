"""A strategy's inner structure (``pop_trace``) reaches the store with its step; ``--agent-opt``
options reach the agent factory; an option no agent takes is a one-line usage error."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
from tests.clitools import PALAESTRA, stderr_lines

from palaestra import Message, Observation, Task, action
from palaestra.agents.base import AGENTS, make_agent
from palaestra.cli._common import parse_agent_options
from palaestra.env import make
from palaestra.errors import UsageError
from palaestra.records import EpisodeRecord
from palaestra.runner.episode import rollout
from palaestra.store import Store


class _Tracing:
    """Moves east, saying what it 'considered' before each move."""

    def __init__(self, width: int = 2) -> None:
        self.width = width
        self.n = 0
        self._trace: dict[str, Any] | None = None

    async def reset(self, task: Task) -> None:
        self.n = 0

    async def act(self, observation: Observation) -> Message:
        self.n += 1
        self._trace = {"considered": ["north", "east"][: self.width], "turn": self.n}
        return action("move", direction="east")

    def pop_trace(self) -> dict[str, Any] | None:
        trace, self._trace = self._trace, None
        return trace


async def test_the_trace_of_each_decision_is_stored_with_its_step(tmp_path: Path) -> None:
    env = make("maze")
    task = env.tasks("test", 1)[0]
    rec = await rollout(
        env, _Tracing(), task, record=EpisodeRecord(id="e", task=task, agent="t", model=""), max_steps=3
    )
    assert [s.trace for s in rec.steps] == [{"considered": ["north", "east"], "turn": i} for i in (1, 2, 3)][
        : rec.n_steps
    ]
    store = Store(tmp_path / "s.db")
    store.create_run("r", {})
    store.write_episode("r", rec)
    steps = store.episode("r", "e")["steps"]
    assert steps[0]["trace"] == {"considered": ["north", "east"], "turn": 1}


async def test_a_plain_agent_stores_no_trace() -> None:
    env = make("maze")
    task = env.tasks("test", 1)[0]
    rec = await rollout(env, env.expert(), task, record=EpisodeRecord(id="e", task=task, agent="x", model=""))
    assert rec.steps and all(s.trace is None for s in rec.steps)


def test_agent_options_are_json_when_they_parse_else_text() -> None:
    assert parse_agent_options(["simulations=32", "c=0.5", "inner=react", "m=openai:x=y", "flag=true"]) == {
        "simulations": 32,
        "c": 0.5,
        "inner": "react",
        "m": "openai:x=y",
        "flag": True,
    }
    for bad in ("simulations", "=3", "2x=1"):
        with pytest.raises(UsageError, match="KEY=VALUE"):
            parse_agent_options([bad])


def test_an_option_no_agent_takes_is_a_usage_error() -> None:
    AGENTS.register("tracing-test", lambda *, env, model, seed, width=2: _Tracing(width), needs_model=False)
    env = make("maze")
    assert isinstance(make_agent("tracing-test", env=env, width=1), _Tracing)
    with pytest.raises(UsageError, match="simulations"):
        make_agent("tracing-test", env=env, simulations=3)


def test_cli_reports_an_unknown_agent_option_in_one_line(tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            *PALAESTRA,
            "run",
            "maze",
            "--agent",
            "expert",
            "-n",
            "1",
            "--agent-opt",
            "simulations=3",
            "--store",
            str(tmp_path / "s.db"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    lines = stderr_lines(proc.stderr)
    assert proc.returncode != 0 and len(lines) == 1, proc.stderr
    assert "simulations" in lines[0]
