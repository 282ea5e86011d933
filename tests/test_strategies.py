"""Reflection, retrieval memory and team strategies with scripted (mock) models: a reflection is
written after a failure and read on the retry; memory never recalls what was written on test
tasks; a jury votes and breaks ties the same way every time; team roles each call their own model;
every strategy's trace reaches the store."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, ClassVar

import pytest

from palaestra import RunConfig, Store, make, run
from palaestra.agents.base import check_agent_options, make_agent, split_agent_name, use_memory
from palaestra.agents.jury import vote
from palaestra.agents.memory import BM25
from palaestra.agents.strategy import canonical
from palaestra.errors import UsageError
from palaestra.models.mock import MockModel
from palaestra.records import EpisodeRecord, MemoryEntry
from palaestra.runner.episode import RecordingModel, rollout
from palaestra.types import Message, ToolSpec

RANGE = re.compile(r"between (\d+) and (\d+)")


def _bounds(messages: list[Message]) -> tuple[int, int]:
    for m in messages:
        found = RANGE.search(m.content)
        if found:
            return int(found.group(1)), int(found.group(2))
    raise AssertionError("no range in the prompt")


def _guess(n: int) -> dict[str, Any]:
    return {"tool": "guess", "arguments": {"number": n}}


class Learner:
    """A scripted model for ``guess``: it guesses the lowest number of the range again and again
    (failing), until a reflection is in its context; then it guesses ``answer``. Asked without
    tools (to reflect), it says what went wrong. Keeps every prompt it was sent."""

    def __init__(self, answer: dict[str, int]) -> None:
        self.answer = answer  # goal's lower bound -> the secret
        self.prompts: list[list[Message]] = []

    def __call__(self, messages: list[Message], tools: list[ToolSpec] | None) -> Any:
        self.prompts.append(list(messages))
        if tools is None:
            return "I kept guessing the lowest number; next time guess the secret."
        low, _ = _bounds(messages)
        if any("Reflections on your earlier attempts" in m.content for m in messages):
            return _guess(self.answer[str(low)])
        return _guess(low)


def _tasks(split: str, n: int = 2) -> tuple[Any, list[Any]]:
    env = make("guess")
    return env, env.tasks(split, n, difficulty=1)


def _answers(tasks: list[Any]) -> dict[str, int]:
    return {str(t.params["low"]): t.params["secret"] for t in tasks}


async def test_a_reflection_is_written_after_a_failure_and_read_on_the_retry() -> None:
    env, tasks = _tasks("test", 1)
    task = tasks[0]
    learner = Learner(_answers(tasks))
    rec = EpisodeRecord(id="e", task=task, agent="reflexion", model="mock")
    model = RecordingModel(MockModel(learner), rec.calls)
    agent = make_agent("reflexion", env=env, model=model, trials=3)
    await rollout(env, agent, task, record=rec, max_steps=3, withhold_params=True)

    trace = rec.steps[0].trace
    assert trace is not None
    assert [t["success"] for t in trace["trials"]] == [False, True]
    assert "next time guess the secret" in trace["trials"][0]["reflection"]
    assert trace["read"] == [] and trace["replaying"] == 1
    # the reflection call came after the failed trial's three guesses, and the retry read it
    reflect_call = next(i for i, p in enumerate(learner.prompts) if "attempt failed" in p[-1].content)
    assert reflect_call == 3
    retry = learner.prompts[reflect_call + 1]
    assert "next time guess the secret" in retry[-1].content
    # the recorded episode is the successful trial, replayed: one step, the secret
    assert rec.success and rec.n_steps == 1
    assert rec.steps[0].action.tool_calls[0].arguments == {"number": task.params["secret"]}
    assert len(rec.calls) == 5  # 3 failed guesses, 1 reflection, 1 winning guess


async def test_reflexion_gives_up_after_its_trials_and_replays_the_last() -> None:
    env, tasks = _tasks("test", 1)
    stubborn = MockModel(lambda m, t: "It failed." if t is None else _guess(_bounds(m)[0]))
    rec = EpisodeRecord(id="e", task=tasks[0], agent="reflexion", model="mock")
    agent = make_agent("reflexion", env=env, model=RecordingModel(stubborn, rec.calls), trials=2)
    await rollout(env, agent, tasks[0], record=rec, max_steps=2, withhold_params=True)
    trace = rec.steps[0].trace
    assert trace is not None and len(trace["trials"]) == 2 and "reflection" not in trace["trials"][-1]
    assert not rec.success and rec.n_steps == 2 and rec.steps[1].trace == {"replay": {"trial": 1, "step": 1}}


def _config(agent: str, split: str, **kw: Any) -> RunConfig:
    return RunConfig(
        envs=["guess"], agent=agent, model="mock", split=split, tasks=2, difficulty=1, max_steps=2, **kw
    )


async def test_reflections_persist_for_train_tasks_only(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    never = MockModel(lambda m, t: "Guess higher next time." if t is None else _guess(_bounds(m)[0]))
    options = {"agent_options": {"trials": 2}}
    first = await run(_config("reflexion", "train", **options), store, model=never)
    stored = store.recall("guess", "reflection")
    assert len(stored) == 2 and {e.split for e in stored} == {"train"}
    # a later episode of the same train task starts with its reflection
    again = await run(_config("reflexion", "train", **options), store, model=never)
    for ep in store.episodes(again):
        trace = store.episode(again, ep["id"])["steps"][0]["trace"]
        assert trace["read"] == ["Guess higher next time."], trace
    assert first != again
    # on test tasks nothing is read, and what is written there is kept but never recalled
    test_run = await run(_config("reflexion", "test", **options), store, model=never)
    for ep in store.episodes(test_run):
        assert store.episode(test_run, ep["id"])["steps"][0]["trace"]["read"] == []
    n_test = store.con.execute("SELECT count(*) FROM memories WHERE split='test'").fetchone()[0]
    assert n_test == 2
    assert all(e.split == "train" for e in store.recall("guess", "reflection", limit=100))


def test_the_bank_recalls_train_entries_only(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    entries = [
        MemoryEntry(
            env="guess", split=split, task_id=f"{split}-1", kind="step", key="same words", value=split
        )
        for split in ("train", "dev", "test")
    ]
    store.remember(entries)
    got = store.recall("guess", "step")
    assert [e.value for e in got] == ["train"]
    assert store.recall("guess", "step", task_id="test-1") == []
    assert store.recall("maze", "step") == [] and store.recall("guess", "reflection") == []


def test_bm25_ranks_the_closer_text_first_and_ties_by_order() -> None:
    index = BM25(["the door is locked", "a key lies on the table", "the key opens the door"])
    assert index.top("which key opens a door", 3)[0][0] == 2
    assert index.top("nothing matches", 3) == []
    same = BM25(["red box", "red box"])
    assert [i for i, _ in same.top("red", 2)] == [0, 1]


async def test_memory_retrieves_train_demonstrations_and_never_test_ones(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    # the expert wins train and test tasks; the memory agent writes the steps of both
    for split in ("train", "test"):
        cfg = RunConfig(
            envs=["guess"], agent="memory", model="mock", split=split, tasks=3, difficulty=1,
            agent_options={"inner": "expert"},
        )  # fmt: skip
        await run(cfg, store, model=MockModel())
    splits = {r[0] for r in store.con.execute("SELECT DISTINCT split FROM memories WHERE kind='step'")}
    assert splits == {"train", "test"}
    # a model-driven memory agent on test tasks reads train steps only, and is shown them
    seen: list[list[Message]] = []

    def reader(messages: list[Message], tools: Any) -> Any:
        seen.append(list(messages))
        return _guess(_bounds(messages)[0])

    cfg = _config("memory", "test", agent_options={"k": 3})
    run_id = await run(cfg, store, model=MockModel(reader))
    retrieved = [
        hit
        for ep in store.episodes(run_id)
        for step in store.episode(run_id, ep["id"])["steps"]
        for hit in step["trace"]["retrieved"]
    ]
    assert retrieved, "the test episodes retrieved nothing"
    assert {h["split"] for h in retrieved} == {"train"}
    assert all(h["task"].startswith("train-") for h in retrieved)
    assert any("earlier successful episodes" in m.content for p in seen for m in p)


def test_a_jury_takes_the_majority_and_breaks_ties_the_same_way() -> None:
    a, b, c = (Message(role="assistant", tool_calls=[]) for _ in range(3))
    a = Message.model_validate(
        {"role": "assistant", "tool_calls": [{"id": "1", "name": "go", "arguments": {"x": 1, "y": 2}}]}
    )
    a2 = Message.model_validate(
        {"role": "assistant", "tool_calls": [{"id": "9", "name": "go", "arguments": {"y": 2, "x": 1}}]}
    )
    b = Message.model_validate(
        {"role": "assistant", "tool_calls": [{"id": "2", "name": "go", "arguments": {"x": 2}}]}
    )
    c = Message(role="assistant", content="  Hello World ")
    assert canonical(a) == canonical(a2) and canonical(c) == canonical(
        Message(role="assistant", content="hello world")
    )
    assert vote([b, a, a2]) == 1  # the majority, not the first member
    assert vote([b, a, c]) == 0  # a three-way tie: the earliest member
    import random

    picks = {vote([b, a, c], "seeded", random.Random(7)) for _ in range(5)}
    assert len(picks) == 1  # the same seed breaks the same tie the same way


def _script(tmp_path: Path, name: str, items: list[Any]) -> str:
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(items))
    return f"mock:{path}"


async def test_a_jury_episode_stores_votes_and_members_adopt_the_verdict(tmp_path: Path) -> None:
    env, tasks = _tasks("test", 1)
    low = tasks[0].params["low"]
    members = [
        _script(tmp_path, "m0", [_guess(low)] * 3),
        _script(tmp_path, "m1", [_guess(low + 1)] * 3),
        _script(tmp_path, "m2", [_guess(low + 1)] * 3),
    ]
    rec = EpisodeRecord(id="e", task=tasks[0], agent="jury", model="mock")
    agent = make_agent("jury", env=env, model=RecordingModel(MockModel(), rec.calls), members=members)
    await rollout(env, agent, tasks[0], record=rec, max_steps=2, withhold_params=True)
    trace = rec.steps[0].trace
    assert trace is not None and trace["votes"] == [1, 2, 2] and trace["chosen"] == 1 and not trace["tie"]
    assert [m["member"] for m in trace["members"]] == [f"{i}:{s}" for i, s in enumerate(members)]
    assert rec.steps[0].action.tool_calls[0].arguments == {"number": low + 1}
    first = agent.members[0][1]  # type: ignore[attr-defined]
    assert first.history[2].tool_calls[0].arguments == {"number": low + 1}  # adopted the verdict
    assert len(rec.calls) == 6  # every member's calls are the episode's


async def test_team_roles_each_call_their_own_model(tmp_path: Path) -> None:
    env, tasks = _tasks("test", 1)
    low = tasks[0].params["low"]
    planner = _script(tmp_path, "planner", ["Guess the lowest number."] * 5)
    summariser = _script(tmp_path, "summariser", ["Two low guesses so far, both wrong."] * 5)
    caller = _script(tmp_path, "caller", [_guess(low), _guess(low + 1), _guess(low + 2)])
    name = f"team:planner={planner},caller={caller}"
    rec = EpisodeRecord(id="e", task=tasks[0], agent=name, model="mock")
    agent = make_agent(
        name, env=env, model=RecordingModel(MockModel(), rec.calls), summariser=summariser, summarise_every=2
    )
    await rollout(env, agent, tasks[0], record=rec, max_steps=3, withhold_params=True)
    traces = [s.trace for s in rec.steps]
    assert all(t is not None for t in traces)
    assert [t["planner"]["model"] for t in traces] == [planner] * 3  # type: ignore[index]
    assert [t["caller"]["said"] for t in traces] == [  # type: ignore[index]
        f'guess({{"number": {n}}})' for n in (low, low + 1, low + 2)
    ]
    assert "summariser" not in traces[0] and traces[2]["summariser"]["model"] == summariser  # type: ignore[index]
    assert "Two low guesses" in traces[2]["summariser"]["said"]  # type: ignore[index]
    assert len(rec.calls) == 3 + 3 + 1  # planner, caller, one summary: every role's calls recorded


def test_options_in_the_agent_name_are_the_agent_options() -> None:
    assert split_agent_name("team:planner=openai:A@http://h:1/v1,summarise_every=3") == (
        "team",
        {"planner": "openai:A@http://h:1/v1", "summarise_every": 3},
    )
    assert split_agent_name("tools") == ("tools", {})
    check_agent_options("team:planner=mock", {"caller": "mock"})
    with pytest.raises(UsageError, match="KEY=VALUE"):
        split_agent_name("team:planner")


async def test_agents_outside_a_run_have_no_memory_and_inside_see_the_bank(tmp_path: Path) -> None:
    env = make("guess")
    agent = make_agent("memory", env=env, model=MockModel(), inner="expert")
    assert agent.bank is None  # type: ignore[attr-defined]
    store = Store(tmp_path / "s.db")
    with use_memory(store):
        assert make_agent("memory", env=env, model=MockModel(), inner="expert").bank is store  # type: ignore[attr-defined]


async def test_escalate_takes_the_fast_reply_when_its_samples_agree_and_the_slow_one_otherwise(
    tmp_path: Path,
) -> None:
    env, tasks = _tasks("test", 1)
    low = tasks[0].params["low"]
    a, b = _guess(low), _guess(low + 1)
    fast = _script(tmp_path, "fast", [a, a, a, a, b, a])
    slow = _script(tmp_path, "slow", [_guess(low + 2)])
    rec = EpisodeRecord(id="e", task=tasks[0], agent="escalate", model="mock")
    agent = make_agent(
        "escalate", env=env, model=RecordingModel(MockModel(), rec.calls), fast=fast, slow=slow
    )
    await rollout(env, agent, tasks[0], record=rec, max_steps=2, withhold_params=True)
    first, second = (s.trace for s in rec.steps)
    assert first is not None and second is not None
    assert first["escalated"] is False and first["fast"]["model"] == fast
    assert second["escalated"] is True and second["slow"] == {
        "model": slow,
        "said": f'guess({{"number": {low + 2}}})',
    }
    assert [s.action.tool_calls[0].arguments["number"] for s in rec.steps] == [low, low + 2]
    assert len(rec.calls) == 7  # 3 + 3 fast samples, 1 slow answer


def test_react_replies_that_differ_only_in_thought_are_the_same_action() -> None:
    from palaestra.agents.jury import parsed

    one = Message(role="assistant", content='Thought: low.\nAction: guess({"number": 5})')
    two = Message(role="assistant", content='Thought: try five\nAction: guess({"number": 5})')
    other = Message(role="assistant", content='Thought: low.\nAction: guess({"number": 6})')
    assert canonical(parsed(one)) == canonical(parsed(two)) != canonical(parsed(other))


def test_escalate_needs_a_slow_model() -> None:
    with pytest.raises(UsageError, match="slow"):
        make_agent("escalate", env=make("guess"), model=MockModel())


async def test_state_rewrites_the_world_state_after_each_step_and_the_agent_reads_it(tmp_path: Path) -> None:
    env, tasks = _tasks("test", 1)
    low = tasks[0].params["low"]
    writer = _script(tmp_path, "writer", ["The number is above LOW.", "The number is above LOW+1."])
    seen: list[list[Message]] = []

    def caller(messages: list[Message], tools: Any) -> Any:
        seen.append(list(messages))
        return _guess(low + len(seen) - 1)

    rec = EpisodeRecord(id="e", task=tasks[0], agent="state", model="mock")
    agent = make_agent("state", env=env, model=RecordingModel(MockModel(caller), rec.calls), writer=writer)
    await rollout(env, agent, tasks[0], record=rec, max_steps=3, withhold_params=True)
    assert [s.trace for s in rec.steps] == [
        {"state": "", "updated": False},
        {"state": "The number is above LOW.", "updated": True},
        {"state": "The number is above LOW+1.", "updated": True},
    ]
    assert "World state" not in seen[0][-1].content
    assert seen[1][-1].content.endswith("The number is above LOW.")
    assert len(rec.calls) == 3 + 2  # the caller's and the writer's calls, both recorded


def test_the_cli_runs_a_team_named_with_its_options_and_stores_who_said_what(tmp_path: Path) -> None:
    import sqlite3
    import subprocess

    from tests.clitools import PALAESTRA

    planner = _script(tmp_path, "planner", ["Guess 5."] * 3)
    caller = _script(tmp_path, "caller", [_guess(5)] * 3)
    store = tmp_path / "s.db"
    proc = subprocess.run(
        [
            *PALAESTRA,
            "run",
            "guess",
            "--agent",
            f"team:planner={planner}",
            "--model",
            caller,
            "-n",
            "1",
            "--max-steps",
            "2",
            "--agent-opt",
            "summarise_every=9",
            "--store",
            str(store),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    con = sqlite3.connect(store)
    traces = [json.loads(t) for (t,) in con.execute("SELECT trace FROM steps ORDER BY idx")]
    assert [t["planner"] for t in traces] == [{"model": planner, "said": "Guess 5."}] * 2
    assert [t["caller"]["model"] for t in traces] == [caller] * 2
    assert con.execute("SELECT agent, model_calls FROM episodes").fetchone() == (f"team:planner={planner}", 4)
    bad = subprocess.run(
        [
            *PALAESTRA,
            "run",
            "guess",
            "--agent",
            "team",
            "--model",
            caller,
            "--agent-opt",
            "planer=mock",
            "-n",
            "1",
            "--store",
            str(store),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode != 0 and "planer" in bad.stderr and "Traceback" not in bad.stderr


async def test_a_debating_jury_shows_each_member_the_others_proposals_before_the_vote() -> None:
    env, tasks = _tasks("test", 1)
    low = tasks[0].params["low"]
    replies = [_guess(low), _guess(low + 1), _guess(low + 2)] + [_guess(low + 1)] * 3
    prompts: list[list[Message]] = []

    def members(messages: list[Message], tools: Any) -> Any:
        prompts.append(list(messages))
        return replies[len(prompts) - 1]

    rec = EpisodeRecord(id="e", task=tasks[0], agent="jury", model="mock")
    model = RecordingModel(MockModel(members), rec.calls)
    agent = make_agent("jury", env=env, model=model, members=3, rounds=1)
    await rollout(env, agent, tasks[0], record=rec, max_steps=1, withhold_params=True)
    trace = rec.steps[0].trace
    assert trace is not None and trace["votes"] == [3, 3, 3] and trace["chosen"] == 0
    assert [m["said"] for m in trace["members"]] == [f'guess({{"number": {low + i}}})' for i in range(3)]
    assert len(trace["rounds"]) == 1
    second_round_of_member_0 = prompts[3]
    note = second_round_of_member_0[-1].content
    assert f'member 1: guess({{"number": {low + 1}}})' in note and "member 0" not in note
    assert all(m.role != "assistant" for m in second_round_of_member_0)  # its first proposal taken back
    assert rec.steps[0].action.tool_calls[0].arguments == {"number": low + 1}


class SpyModel(MockModel):
    """A mock model that keeps the options it was built with and whether it was closed."""

    built: ClassVar[list[SpyModel]] = []

    def __init__(self, spec: str, **options: Any) -> None:
        super().__init__(["Guess the lowest number."] * 5, name=f"spy:{spec}")
        self.options = options
        self.closed = False
        SpyModel.built.append(self)

    async def close(self) -> None:
        self.closed = True


async def test_members_use_the_runs_model_options_and_are_closed_when_the_episode_ends(
    tmp_path: Path,
) -> None:
    from palaestra.agents.base import use_model_options
    from palaestra.models.base import register_provider

    register_provider("spy", SpyModel)
    SpyModel.built.clear()
    env, tasks = _tasks("test", 1)
    low = tasks[0].params["low"]
    summariser = _script(tmp_path, "summariser", ["short"] * 5)
    rec = EpisodeRecord(id="e", task=tasks[0], agent="team", model="spy:main")
    run_options = {"base_url": "http://127.0.0.1:9/v1", "api_key": "run-key"}
    with use_model_options("spy:main", run_options):
        agent = make_agent(
            "team",
            env=env,
            model=RecordingModel(MockModel([_guess(low)] * 3), rec.calls),
            planner="spy:planner",
            summariser=summariser,
        )
    (planner,) = SpyModel.built
    assert planner.options == run_options  # same provider as --model: the run's server and key
    summary_model = agent.members.built[summariser]  # type: ignore[attr-defined]
    assert summary_model.name.startswith("mock")  # another provider: none of the run's options
    await rollout(env, agent, tasks[0], record=rec, max_steps=2, withhold_params=True)
    assert planner.closed and agent.members.built == {}  # type: ignore[attr-defined]
    assert len(rec.calls) == 2 + 2  # the planner's calls are the episode's too


def test_a_member_naming_its_own_server_keeps_it() -> None:
    from palaestra.agents.base import use_model_options
    from palaestra.agents.strategy import member_options

    with use_model_options("openai:main", {"base_url": "http://127.0.0.1:9/v1", "api_key": "k"}):
        assert member_options("openai:other@http://127.0.0.1:7/v1") == {"api_key": "k"}
        assert member_options("openai:other") == {"base_url": "http://127.0.0.1:9/v1", "api_key": "k"}
        assert member_options("mock:x.json") == {}
    assert member_options("openai:other") == {}  # outside a run: the provider's own defaults
