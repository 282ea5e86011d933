"""The ``code`` (CodeAct) agent with the mock model: tool stubs, real interleaving of tool calls and
results, code errors, missing code blocks, timeouts, clean-up, on several environments."""

from __future__ import annotations

from typing import Any

import pytest

import palaestra.agents.code as code_agent_module
from palaestra import make, make_agent
from palaestra.agents.code import CodeActAgent, describe_functions, extract_code, python_name, stubs
from palaestra.env import Env
from palaestra.envs.code import CodeEnv
from palaestra.envs.guess import GuessEnv
from palaestra.errors import UsageError
from palaestra.models.mock import MockModel
from palaestra.records import EpisodeRecord
from palaestra.runner.episode import RecordingModel, rollout
from palaestra.sandbox import run_python
from palaestra.types import Message, Task, ToolSpec

BINARY_SEARCH = """I will search the range.
```python
lo, hi = LOW, HIGH
while True:
    mid = (lo + hi) // 2
    answer = guess(mid)
    if "correct" in answer:
        break
    if "higher" in answer:
        lo = mid + 1
    else:
        hi = mid - 1
print("done")
```"""

MAZE_DFS = """Depth-first search on what I am shown.
```python
import re
STEP = {"north": (0, -1), "east": (1, 0), "south": (0, 1), "west": (-1, 0)}
BACK = {"north": "south", "south": "north", "east": "west", "west": "east"}
seen = set()

def parse(text):
    at = re.findall(r"You are at \\((\\d+), (\\d+)\\)", text)[-1]
    opened = re.findall(r"Open: ([a-z, ]*)\\.", text)[-1]
    return (int(at[0]), int(at[1])), [d for d in opened.split(", ") if d]

def explore(text):
    here, opened = parse(text)
    seen.add(here)
    for d in opened:
        nxt = (here[0] + STEP[d][0], here[1] + STEP[d][1])
        if nxt in seen:
            continue
        answer = move(d)
        if "onto the goal" in answer or explore(answer):
            return True
        move(BACK[d])
    return False

explore(look())
```"""


def guess_task() -> Task:
    return make("guess").tasks("test", 1, difficulty=2)[0]


def search_code(task: Task) -> str:
    return BINARY_SEARCH.replace("LOW", str(task.params["low"])).replace("HIGH", str(task.params["high"]))


async def play(
    env_name: str, task: Task, script: Any, **options: Any
) -> tuple[EpisodeRecord, CodeActAgent, MockModel]:
    env = make(env_name)
    assert isinstance(env, Env)
    mock = MockModel(script)
    rec = EpisodeRecord(id="e", task=task, agent="code", model="mock")
    agent = make_agent("code", env=env, model=RecordingModel(mock, rec.calls), **options)
    assert isinstance(agent, CodeActAgent)
    await rollout(env, agent, task, record=rec)
    await agent.aclose()
    return rec, agent, mock


def test_names_stubs_and_function_docs() -> None:
    assert python_name("move") == "move" and python_name("search-items") == "search_items"
    assert python_name("class") == "class_" and python_name("3d") == "_3d"
    spec = ToolSpec(
        name="buy",
        description="Buy an item.",
        parameters={
            "type": "object",
            "properties": {
                "item": {"type": "string", "description": "what to buy"},
                "count": {"type": "integer"},
                "mode": {"enum": ["fast", "slow"]},
            },
            "required": ["item"],
        },
    )
    doc = describe_functions([spec])
    assert doc.startswith("def buy(item: str, count: int = None, mode: 'fast' | 'slow' = None) -> str:")
    assert "    item: what to buy" in doc
    source = stubs([spec])
    ns: dict[str, Any] = {"_palaestra_call": lambda name, args: (name, args)}
    exec(source, ns)
    assert ns["buy"]("pen") == ("buy", {"item": "pen"})
    assert ns["buy"]("pen", mode="fast", count=2) == ("buy", {"item": "pen", "count": 2, "mode": "fast"})
    assert extract_code("a\n```python\nx = 1\n```\nb\n```py\ny = 2\n```") == "x = 1\ny = 2"
    assert extract_code("```\nplain = True\n```") == "plain = True"
    assert extract_code("no code here") is None and extract_code("```python\n\n```") is None


async def test_binary_search_code_plays_guess_with_real_results() -> None:
    task = guess_task()
    rec, agent, mock = await play("guess", task, [search_code(task)])
    assert rec.status == "done" and rec.success and rec.invalid_actions == 0
    assert mock.calls == 1 and len(rec.calls) == 1  # one block, many steps
    calls = [s.action.tool_calls[0] for s in rec.steps]
    assert [c.name for c in calls] == ["guess"] * rec.n_steps and rec.n_steps <= 11
    assert len({c.id for c in calls}) == rec.n_steps
    assert "```python" in rec.steps[0].action.content and rec.steps[1].action.content == ""
    # each guess used the previous answers: the range halves every step
    low, high = task.params["low"], task.params["high"]
    assert calls[0].arguments == {"number": (low + high) // 2}
    system = agent.history[0].content
    assert "def guess(number: int) -> str:" in system and "```python" in system
    assert agent.session is None


async def test_a_depth_first_search_block_solves_a_maze() -> None:
    maze = make("maze")
    task = maze.tasks("test", 1, difficulty=1)[0]
    rec, _, mock = await play("maze", task, [MAZE_DFS])
    assert rec.status == "done" and rec.success and mock.calls == 1 and rec.invalid_actions == 0
    assert rec.steps[0].action.tool_calls[0].name == "look"


async def test_the_code_env_itself_can_be_played_in_code() -> None:
    env = CodeEnv()
    task = env.tasks("test", 1, difficulty=1)[0]
    env.setup(task)
    solution = env.problem.solution()
    reply = f"```python\nprint(execute_python(code={solution!r} + '\\nprint(1)'))\nprint(submit(code={solution!r}))\n```"
    rec, _, _ = await play("code", task, [reply])
    assert (
        rec.success
        and rec.reward == 1.0
        and [s.action.tool_calls[0].name for s in rec.steps]
        == [
            "execute_python",
            "submit",
        ]
    )


async def test_an_exception_goes_back_to_the_model_as_a_traceback() -> None:
    task = guess_task()
    seen: list[list[Message]] = []

    def script(messages: list[Message], tools: Any) -> str:
        seen.append(list(messages))
        return "```python\nx = 1 / 0\n```" if len(seen) == 1 else search_code(task)

    rec, _, mock = await play("guess", task, script)
    assert rec.success and mock.calls == 2 and rec.invalid_actions == 0
    told = seen[1][-1].content
    assert told.startswith("The code block failed (exit code 1).") and "No tool was called." in told
    assert "ZeroDivisionError: division by zero" in told and 'File "block1.py", line 1' in told


async def test_errors_after_tool_calls_report_the_calls_their_answers_and_the_traceback() -> None:
    task = guess_task()
    outside = task.params["high"] + 5
    seen: list[list[Message]] = []

    def script(messages: list[Message], tools: Any) -> str:
        seen.append(list(messages))
        if len(seen) == 1:
            return f"```python\nprint(guess({outside}))\nprint(guess(number={task.params['low']}))\nraise ValueError('giving up')\n```"
        return search_code(task)

    rec, _, _ = await play("guess", task, script)
    assert rec.success and rec.invalid_actions == 1
    told = seen[1][-1].content
    assert f"1. guess(number={outside}) -> Error: {outside} is outside the range" in told
    assert f"2. guess(number={task.params['low']}) -> " in told
    assert "Output:\nError:" in told and "ValueError: giving up" in told


async def test_a_reply_without_code_is_a_format_error_and_the_model_is_reminded() -> None:
    task = guess_task()
    seen: list[list[Message]] = []

    def script(messages: list[Message], tools: Any) -> str:
        seen.append(list(messages))
        return "I guess it is 5." if len(seen) == 1 else search_code(task)

    rec, _, _ = await play("guess", task, script)
    assert rec.success and rec.invalid_actions == 1
    first = rec.steps[0]
    assert first.action.content == "I guess it is 5." and not first.action.tool_calls
    last = seen[1][-1]
    assert last.role == "user" and "no tool call found" in last.content and "Format error" in last.content


async def test_timeouts_and_blocks_without_tool_calls_are_shown_to_the_model() -> None:
    task = guess_task()
    seen: list[list[Message]] = []

    def script(messages: list[Message], tools: Any) -> str:
        seen.append(list(messages))
        if len(seen) == 1:
            return "```python\nwhile True:\n    pass\n```"
        if len(seen) == 2:
            return "```python\nprint('thinking')\n```"
        return search_code(task)

    rec, _, _ = await play("guess", task, script, timeout=0.5)
    assert rec.success and rec.invalid_actions == 0 and len(seen) == 3
    assert "The code block was stopped. Stopped: the time limit of 0.5 s ran out." in seen[1][-1].content
    assert seen[2][-1].content.startswith("The code block ran to the end.")
    assert "Output:\nthinking" in seen[2][-1].content


async def test_too_many_blocks_without_a_tool_call_end_the_turn_as_text() -> None:
    task = guess_task()
    rec, _, mock = await play(
        "guess", task, ["```python\nprint(1)\n```"] * 3 + [search_code(task)], max_inner_turns=3
    )
    assert rec.success and rec.invalid_actions == 1 and mock.calls == 4
    assert not rec.steps[0].action.tool_calls


async def test_a_script_waiting_for_an_answer_is_killed_by_aclose_and_reset() -> None:
    task = guess_task()
    env = make("guess")
    assert isinstance(env, Env)
    agent = CodeActAgent(MockModel([search_code(task)] * 2), env)
    obs = await env.reset(task)
    await agent.reset(task)
    msg = await agent.act(obs)
    assert msg.tool_calls and agent.session is not None and agent.session.running
    session = agent.session
    await agent.aclose()
    assert not session.running and agent.session is None
    await agent.reset(task)
    await agent.act(await env.reset(task))
    session = agent.session
    assert session is not None and session.running
    await agent.reset(task)
    assert not session.running


def test_registration_needs_a_model() -> None:
    assert code_agent_module.code_agent is not None
    with pytest.raises(UsageError, match="needs a model"):
        make_agent("code", env=GuessEnv())


async def test_tool_stubs_run_in_the_sandbox() -> None:
    spec = ToolSpec(name="look", description="Look.", parameters={"type": "object", "properties": {}})
    r = await run_python(stubs([spec]) + "\nprint(callable(look))")
    assert r.stdout == "True\n"
