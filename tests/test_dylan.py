"""``dylan`` with scripted models on ``guess``: the member that solves the train calibration tasks
is the one chosen, the scores come from train tasks only (what was recorded on test tasks never
moves the choice), and a store's calibration is read back instead of played again."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from palaestra import RunConfig, Store, make, run
from palaestra.agents.base import make_agent
from palaestra.agents.dylan import KIND, Score, top_k
from palaestra.errors import UsageError
from palaestra.models.base import register_provider
from palaestra.models.mock import MockModel
from palaestra.records import MemoryEntry
from palaestra.types import Message, ToolSpec

RANGE = re.compile(r"between (\d+) and (\d+)")
FEEDBACK = re.compile(r"(\d+) is too (low|high)")


def _bisect(messages: list[Message], tools: list[ToolSpec] | None) -> dict[str, Any]:
    """A guesser that reads the range and the feedback so far and guesses the middle."""
    text = "\n".join(m.content for m in messages)
    lo, hi = (int(x) for x in RANGE.findall(text)[-1])
    for n, side in FEEDBACK.findall(text):
        lo, hi = (int(n) + 1, hi) if side == "low" else (lo, int(n) - 1)
    return {"tool": "guess", "arguments": {"number": (lo + hi) // 2}}


def _guesser(spec: str, **_: Any) -> MockModel:
    """``guesser:smart`` bisects; ``guesser:dull...`` repeats the lowest number of the range."""
    return MockModel(_bisect if spec == "smart" else _lowest_anywhere, name=f"guesser:{spec}")


def _lowest_anywhere(messages: list[Message], tools: list[ToolSpec] | None) -> dict[str, Any]:
    text = "\n".join(m.content for m in messages)
    return {"tool": "guess", "arguments": {"number": int(RANGE.findall(text)[-1][0])}}


register_provider("guesser", _guesser)
POOL = "guesser:dull|guesser:smart|guesser:dull2"
SMART = "1:guesser:smart"


def _config(**over: Any) -> RunConfig:
    opts = {"members": POOL, "k": 1, "calibrate": 3}
    return RunConfig(
        envs=["guess"],
        agent="dylan",
        model="guesser:dull",
        agent_options={**opts, **over.pop("agent_options", {})},
        tasks=2,
        difficulty=1,
        concurrency=1,
        **over,
    )


def _traces(store: Store, run_id: str) -> list[dict[str, Any]]:
    return [
        store.episode(run_id, e["id"])["steps"][0]["trace"]
        for e in sorted(store.episodes(run_id), key=lambda e: e["id"])
    ]


def test_the_top_k_members_by_contribution_are_chosen_ties_by_progress_then_order() -> None:
    names = ["a", "b", "c", "d"]
    scores = {
        "a": Score(0.5, 0.9, 4),
        "b": Score(1.0, 1.0, 4),
        "c": Score(0.5, 0.95, 4),
        "d": Score(0.0, 0.0, 4),
    }
    assert top_k(names, scores, 1) == [1]
    assert top_k(names, scores, 2) == [1, 2]  # c's progress breaks the tie with a
    assert top_k(names, {n: Score(0.0, 0.0, 0) for n in names}, 2) == [0, 1]  # all equal: pool order


async def test_the_member_that_solves_the_train_tasks_is_chosen_and_its_scores_are_in_the_trace(
    tmp_path: Path,
) -> None:
    store = Store(tmp_path / "s.db")
    rid = await run(_config(), store)
    traces = _traces(store, rid)
    for trace in traces:
        assert trace["team"] == [SMART]
        assert [m["member"] for m in trace["members"]] == [SMART]  # the jury is the chosen member
        assert trace["scores"][SMART] == {"contribution": 1.0, "progress": 1.0, "tasks": 3}
        assert trace["scores"]["0:guesser:dull"]["contribution"] < 1.0
    assert traces[0]["calibrated"] == 9 and "calibrated" not in traces[1]  # 3 members x 3 tasks, once
    assert store.summary(rid)["success_rate"] == 1.0
    kept = store.recall("guess", KIND, limit=100)
    assert len(kept) == 9 and {e.split for e in kept} == {"train"}  # calibration plays train tasks only
    train_ids = {t.id for t in make("guess").tasks("train", 3, difficulty=1)}
    assert {e.task_id for e in kept} == train_ids


async def test_the_stores_calibration_is_read_back_and_test_split_entries_never_move_the_choice(
    tmp_path: Path,
) -> None:
    store = Store(tmp_path / "s.db")
    tasks = make("guess").tasks("train", 3, difficulty=1)
    tests = make("guess").tasks("test", 3, difficulty=1)

    def said(split: str, ids: list[str], member: str, success: bool) -> list[MemoryEntry]:
        value = f'{{"success": {str(success).lower()}, "progress": {float(success)}, "steps": 1}}'
        return [MemoryEntry("guess", split, i, KIND, f"tools|{member}|d1", value) for i in ids]

    # written on test tasks (even under the train tasks' ids): a dull member "solved" everything
    # and the smart one nothing; never read
    ids = [t.id for t in tasks + tests]
    store.remember(said("test", ids, "guesser:dull2", True))
    store.remember(said("test", ids, "guesser:smart", False))
    rid = await run(_config(), store)
    assert _traces(store, rid)[0]["team"] == [SMART]
    # a train calibration in the store (here: the dull member the best) is read, not played again
    other = Store(tmp_path / "o.db")
    other.remember(said("train", [t.id for t in tasks], "guesser:dull2", True))
    other.remember(said("train", [t.id for t in tasks], "guesser:smart", False))
    other.remember(said("train", [t.id for t in tasks], "guesser:dull", False))
    rid = await run(_config(), other)
    first = _traces(other, rid)[0]
    assert first["team"] == ["2:guesser:dull2"] and "calibrated" not in first


async def test_outside_a_run_the_agent_calibrates_for_itself() -> None:
    env = make("guess")
    task = env.tasks("test", 1, difficulty=1)[0]
    agent = make_agent("dylan", env=env, model=MockModel(), members=POOL, k=2, calibrate=2)
    obs = await env.reset(task)
    await agent.reset(task)
    await agent.act(obs)
    trace = agent.pop_trace()  # type: ignore[attr-defined]
    assert trace is not None and trace["calibrated"] == 6 and SMART in trace["team"]
    assert len(trace["team"]) == 2 and len(trace["votes"]) == 2 and "chosen" in trace
    await agent.aclose()  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({}, "dylan needs a pool"),
        ({"members": POOL, "k": 4}, "more than the pool's 3"),
        ({"members": POOL, "calibrate": 0}, "calibrate must be an integer >= 1"),
    ],
)
def test_bad_options_are_one_clear_error(options: dict[str, Any], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        make_agent("dylan", env=make("guess"), model=MockModel(), **options)
