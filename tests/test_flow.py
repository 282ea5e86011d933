"""``flow``: docs/add-a-strategy.md's workflow program runs with scripted models (in process and from
the CLI); agents asked late read what they missed; a step's model calls are bounded; bad programs
and roles are one clear error."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from tests.test_strategy_guide import _write_example, run_guess, step_traces

from palaestra import make
from palaestra.agents.base import make_agent
from palaestra.errors import UsageError
from palaestra.models.base import register_provider
from palaestra.models.mock import MockModel
from palaestra.records import EpisodeRecord
from palaestra.runner.episode import RecordingModel, rollout
from palaestra.types import Message, ToolSpec

RANGE = re.compile(r"between (\d+) and (\d+)")
FEEDBACK = re.compile(r"(\d+) is too (low|high)")


def _middle(messages: list[Message]) -> int:
    text = "\n".join(m.content for m in messages)
    lo, hi = (int(x) for x in RANGE.findall(text)[-1])
    for n, side in FEEDBACK.findall(text):
        lo, hi = (int(n) + 1, hi) if side == "low" else (lo, int(n) - 1)
    return (lo + hi) // 2


class Bisector:
    """The run's model: bisects, as a tool call (``tools``) or as ReAct text (``react``, no tools)."""

    def __init__(self) -> None:
        self.prompts: list[tuple[bool, list[Message]]] = []

    def __call__(self, messages: list[Message], tools: list[ToolSpec] | None) -> Any:
        self.prompts.append((tools is not None, list(messages)))
        n = _middle(messages)
        if tools is not None:
            return {"tool": "guess", "arguments": {"number": n}}
        return f'Thought: the middle.\nAction: guess({{"number": {n}}})'


SEEN: dict[str, list[list[Message]]] = {}


def _scripted(spec: str, **_: Any) -> MockModel:
    """``flowtest:planner`` plans; ``flowtest:low`` proposes the lowest number every time."""

    def reply(messages: list[Message], tools: list[ToolSpec] | None) -> Any:
        SEEN.setdefault(spec, []).append(list(messages))
        if spec == "planner":
            return "Halve the range with every guess."
        text = "\n".join(m.content for m in messages)
        return {"tool": "guess", "arguments": {"number": int(RANGE.findall(text)[0][0])}}

    return MockModel(reply, name=f"flowtest:{spec}")


register_provider("flowtest", _scripted)
ROLES = {"planner": "flowtest:planner", "second": "flowtest:low"}


async def _episode(program: str, model: Any, max_steps: int = 10, **options: Any) -> EpisodeRecord:
    env = make("guess")
    task = env.tasks("test", 1, difficulty=2)[0]
    rec = EpisodeRecord(id="e", task=task, agent="flow", model="mock")
    agent = make_agent(
        "flow", env=env, model=RecordingModel(MockModel(model), rec.calls), program=program, **options
    )
    await rollout(env, agent, task, record=rec, max_steps=max_steps, withhold_params=True)
    return rec


async def test_the_guides_workflow_plans_once_and_the_majority_of_three_proposals_acts(
    tmp_path: Path,
) -> None:
    SEEN.clear()
    path = _write_example(tmp_path, "plan_and_vote.py")
    model = Bisector()
    rec = await _episode(f"{path}:plan_and_vote", model, models=ROLES)
    assert rec.status == "done" and rec.success, rec.error
    n = rec.n_steps
    assert n >= 2
    traces = [s.trace or {} for s in rec.steps]
    assert [d.get("ask") or d.get("act") or "vote" for d in traces[0]["did"]] == [
        "planner",
        "tools",
        "tools",
        "react",
        "vote",
    ]
    assert all("ask" not in d for t in traces[1:] for d in t["did"])  # planned once
    assert [t["spent"] for t in traces] == [4] + [3] * (n - 1)
    assert len(rec.calls) == 4 + 3 * (n - 1)  # every role's calls are the episode's
    assert "I am thinking of an integer" in SEEN["planner"][0][-1].content  # the goal reached the planner
    assert all("The plan: Halve the range" in m[-1].content for m in SEEN["low"])
    # the low member is outvoted every step, and has the action taken as its own reply
    assert all(t["did"][-1] == {"vote": 3, "chosen": 0} for t in traces)
    replies = [m for m in SEEN["low"][-1] if m.role == "assistant"]
    assert [r.tool_calls[0].arguments for r in replies] == [
        s.action.tool_calls[0].arguments for s in rec.steps[:-1]
    ]


async def test_an_agent_asked_late_first_reads_the_steps_it_missed(tmp_path: Path) -> None:
    program = tmp_path / "late.py"
    program.write_text(
        "async def late(step):\n"
        "    action = await step.act('tools')\n"
        "    if step.index == 2:\n"
        "        await step.act('react')\n"
        "        await step.act('react', note='Once more.')\n"
        "    return action\n"
    )
    model = Bisector()
    rec = await _episode(f"{program}:late", model, max_steps=3)
    react_prompts = [m for has_tools, m in model.prompts if not has_tools]
    assert len(react_prompts) == 2
    # asked again: its first reply taken back, the note added, nothing else
    assert react_prompts[1][:-1] == react_prompts[0] and react_prompts[1][-1].content == "Once more."
    said = "\n".join(m.content for m in react_prompts[0])
    first, second = (s.action.tool_calls[0].arguments["number"] for s in rec.steps[:2])
    assert f"{first} is too" in said and f"{second} is too" in said  # both earlier steps' feedback
    assert rec.steps[2].trace["did"][1]["act"] == "react"  # type: ignore[index]


async def test_a_step_over_its_model_calls_ends_the_episode_saying_so(tmp_path: Path) -> None:
    path = _write_example(tmp_path, "plan_and_vote.py")
    rec = await _episode(f"{path}:plan_and_vote", Bisector(), models=ROLES, max_calls=3)
    assert rec.status == "error" and "more than its 3 model calls" in (rec.error or "")


async def test_an_unknown_role_is_a_clear_error(tmp_path: Path) -> None:
    path = _write_example(tmp_path, "plan_and_vote.py")
    rec = await _episode(f"{path}:plan_and_vote", Bisector())  # no models: no planner
    assert rec.status == "error" and "no model for role 'planner' (roles: model" in (rec.error or "")


def test_a_program_must_be_an_async_function(tmp_path: Path) -> None:
    sync = tmp_path / "sync.py"
    sync.write_text("def flow(step):\n    return 'hi'\n")
    env = make("guess")
    with pytest.raises(UsageError, match="flow needs a program"):
        make_agent("flow", env=env, model=MockModel())
    with pytest.raises(UsageError, match="must be an async function"):
        make_agent("flow", env=env, model=MockModel(), program=f"{sync}:flow")
    fine = tmp_path / "fine.py"
    fine.write_text("async def flow(step):\n    return 'hi'\n")
    with pytest.raises(UsageError, match="models must be ROLE=SPEC"):
        make_agent("flow", env=env, model=MockModel(), program=f"{fine}:flow", models="planner")
    with pytest.raises(UsageError, match="max_calls must be at least 1"):
        make_agent("flow", env=env, model=MockModel(), program=f"{fine}:flow", max_calls=0)


def test_the_guides_workflow_runs_from_the_cli_with_its_trace_stored(tmp_path: Path) -> None:
    path = _write_example(tmp_path, "plan_and_vote.py")
    scripts = {
        "run": [{"tool": "guess", "arguments": {"number": -1}}, 'Action: guess({"number": -1})'] * 2,
        "second": [{"tool": "guess", "arguments": {"number": -2}}] * 2,
        "planner": ["Guess low."],
    }
    for name, items in scripts.items():
        (tmp_path / f"{name}.json").write_text(json.dumps(items))
    models = json.dumps(
        {"planner": f"mock:{tmp_path}/planner.json", "second": f"mock:{tmp_path}/second.json"}
    )
    con = run_guess(
        tmp_path,
        *(
            "--agent",
            "flow",
            "--agent-opt",
            f"program={path}:plan_and_vote",
            "--agent-opt",
            f"models={models}",
        ),
        *("--model", f"mock:{tmp_path}/run.json", "--max-steps", "2"),
    )
    traces = step_traces(con)
    assert [t["spent"] for t in traces] == [4, 3]
    assert traces[0]["did"][0] == {
        "ask": "planner",
        "prompt": traces[0]["did"][0]["prompt"],
        "said": "Guess low.",
    }
    assert [d["said"] for d in traces[1]["did"][:3]] == [
        'guess({"number": -1})',
        'guess({"number": -2})',
        'guess({"number": -1})',
    ]
