"""The household environment: contract checks, baselines, solvability from observations, and rules."""

from __future__ import annotations

import copy
import random
from typing import Any

import pytest

from palaestra import action
from palaestra.checker import check_env, run_agent
from palaestra.env import make
from palaestra.envs.household.env import BUDGET, HouseholdEnv
from palaestra.envs.household.explorer import Explorer, parse_goal
from palaestra.envs.household.tasks import LEVELS, TASK_TYPES, generate_home
from palaestra.envs.household.world import World
from palaestra.records import EpisodeRecord
from palaestra.runner.episode import rollout
from palaestra.types import Message, Step, Task

HOME: dict[str, Any] = {
    "rooms": [
        {
            "name": "kitchen",
            "exits": ["bedroom"],
            "spots": ["countertop 1", "fridge 1", "microwave 1", "sinkbasin 1", "cabinet 1", "cabinet 2"],
        },
        {"name": "bedroom", "exits": ["kitchen", "living room"], "spots": ["desk 1", "bed 1"]},
        {"name": "living room", "exits": ["bedroom"], "spots": ["sofa 1", "floorlamp 1"]},
    ],
    "contents": {
        "countertop 1": ["apple 1", "bread 1"],
        "fridge 1": ["egg 1"],
        "microwave 1": [],
        "sinkbasin 1": [],
        "cabinet 1": ["mug 1"],
        "cabinet 2": ["mug 2"],
        "desk 1": ["book 1"],
        "bed 1": ["pillow 1"],
        "sofa 1": [],
    },
    "lamps": {"desklamp 1": "desk 1", "floorlamp 1": "floorlamp 1"},
    "start": "kitchen",
}


def home(ttype: str, obj: str, target: str, phrasing: int = 0) -> Task:
    params = copy.deepcopy(HOME)
    params["goal"] = {"type": ttype, "object": obj, "target": target, "phrasing": phrasing}
    return Task(env="household", id="t", split="test", difficulty=2, seed=0, params=params)


async def start(ttype: str, obj: str, target: str, phrasing: int = 0) -> tuple[HouseholdEnv, str]:
    env = HouseholdEnv()
    obs = await env.reset(home(ttype, obj, target, phrasing))
    return env, obs.messages[1].content


async def do(env: HouseholdEnv, name: str, **args: Any) -> tuple[str, Step]:
    step = await env.step(action(name, **args))
    return step.observation.messages[0].content, step


# ---- contract and baselines ----------------------------------------------------------------------


def test_check_env_expert_and_random() -> None:
    report = check_env("household", n=30)
    assert report.ok, report.problems
    assert report.expert_success >= 0.95
    assert report.random_success <= 0.2 < report.expert_success
    assert all(r.invalid_actions == 0 for r in report.episodes["expert"])
    assert all(r.invalid_actions == 0 for r in report.episodes["random"])  # it picks admissible commands


async def test_solvable_from_observations_alone() -> None:
    """An agent that only reads the text (no hidden state) solves the tasks within each budget."""
    env = make("household")
    assert isinstance(env, HouseholdEnv)
    for d in LEVELS:
        tasks = env.tasks("test", 15, seed=3, difficulty=d)
        wins = 0
        for t in tasks:
            rec = EpisodeRecord(id=t.id, task=t, agent="explorer", model="")
            await rollout(HouseholdEnv(), Explorer(), t, record=rec)
            assert rec.status == "done", rec.error
            assert rec.invalid_actions == 0
            wins += rec.success
        assert wins >= 14, (d, wins)


async def test_expert_is_short_and_progress_reaches_one() -> None:
    env = make("household")
    tasks = env.tasks("dev", 12, seed=5)
    for rec in await run_agent("household", "expert", tasks):
        assert rec.success and rec.progress == 1.0
        assert rec.n_steps <= BUDGET[rec.task.difficulty] // 2


# ---- tasks and difficulty ----------------------------------------------------------------------


def test_generation_is_seeded_and_scales_with_difficulty() -> None:
    assert generate_home(random.Random(7), 2) == generate_home(random.Random(7), 2)
    sizes, rooms = {}, {}
    for d, level in LEVELS.items():
        homes = [generate_home(random.Random(i), d) for i in range(60)]
        assert {h["goal"]["type"] for h in homes} == set(level.types)
        sizes[d] = sum(len(r["spots"]) for h in homes for r in h["rooms"]) / len(homes)
        rooms[d] = sum(len(h["rooms"]) for h in homes) / len(homes)
    assert sizes[1] < sizes[2] < sizes[3] and rooms[1] < rooms[2] < rooms[3]
    assert set(LEVELS[1].types) == {"pick_and_place", "look_at_obj_in_light"}
    assert set(LEVELS[2].types) == set(TASK_TYPES)


def test_no_task_starts_solved_and_goal_objects_exist() -> None:
    for i in range(150):
        d = 1 + i % 3
        params = generate_home(random.Random(i), d)
        assert not World(params).goal_met()
        goal = params["goal"]
        copies = [
            o for items in params["contents"].values() for o in items if o.rsplit(" ", 1)[0] == goal["object"]
        ]
        assert len(copies) >= (2 if goal["type"] == "pick_two_and_place" else 1)


def test_many_distinct_tasks_per_split() -> None:
    env = make("household")
    for d in LEVELS:
        assert len({t.id for t in env.tasks("train", 200, difficulty=d)}) == 200


async def test_goal_text_round_trips_through_the_explorers_parser() -> None:
    env = HouseholdEnv()
    for t in env.tasks("train", 60, seed=2):
        obs = await env.reset(t)
        g = t.params["goal"]
        assert parse_goal(obs.messages[1].content) == (g["type"], g["object"], g["target"])


# ---- rules ---------------------------------------------------------------------------------------


async def test_goal_text_and_first_view() -> None:
    _, text = await start("pick_heat_then_place", "egg", "countertop")
    assert "Your task is to: put a hot egg on the countertop." in text
    assert "You are in the kitchen." in text and "a cabinet 1, a cabinet 2, a countertop 1" in text
    assert "From here you can go to the bedroom." in text
    assert "egg" not in text.split("Your task")[0]  # objects are not visible from the middle of a room
    _, text = await start("pick_two_and_place", "mug", "cabinet", phrasing=1)
    assert "find two mugs and put them in a cabinet" in text
    _, text = await start("look_at_obj_in_light", "book", "desklamp")
    assert "examine the book with the desklamp" in text


async def test_closed_receptacles_hide_contents_and_must_be_reached() -> None:
    env, _ = await start("pick_cool_then_place", "apple", "countertop")
    text, step = await do(env, "open", receptacle="fridge 1")
    assert step.info["invalid_action"] and "Go to the fridge 1 first" in text
    text, _ = await do(env, "go_to", target="fridge 1")
    assert text == "You arrive at the fridge 1. The fridge 1 is closed."
    text, step = await do(env, "take", object="egg 1")
    assert step.info["invalid_action"] and "closed" in text
    text, step = await do(env, "open", receptacle="fridge 1")
    assert not step.info["invalid_action"]
    assert text == "You open the fridge 1. The fridge 1 is open. In it, you see an egg 1."
    text, step = await do(env, "open", receptacle="fridge 1")
    assert step.info["invalid_action"] and "already open" in text
    await do(env, "close", receptacle="fridge 1")
    text, _ = await do(env, "look")
    assert "The fridge 1 is closed." in text and "egg" not in text


async def test_one_object_at_a_time_and_bad_names() -> None:
    env, _ = await start("pick_and_place", "apple", "fridge")
    text, step = await do(env, "take", object="apple 1")
    assert step.info["invalid_action"] and "middle of the kitchen" in text
    await do(env, "go_to", target="Countertop_1")  # names are forgiven their case and underscores
    text, step = await do(env, "take", object="banana 1")
    assert step.info["invalid_action"] and "you see an apple 1 and a bread 1" in text
    text, _ = await do(env, "take", object="apple")
    assert text == "You pick up the apple 1 from the countertop 1."
    text, step = await do(env, "take", object="bread 1")
    assert step.info["invalid_action"] and "already holding the apple 1" in text
    text, step = await do(env, "go_to", target="cabinet")
    assert step.info["invalid_action"] and "Which cabinet" in text and "cabinet 1, cabinet 2" in text
    text, step = await do(env, "go_to", target="living room")
    assert step.info["invalid_action"] and "can't get to the living room directly" in text
    text, step = await do(env, "go_to", target="apple 1")
    assert step.info["invalid_action"] and "is an object" in text
    text, step = await do(env, "put", object="mug 1")
    assert step.info["invalid_action"] and "you are holding the apple 1" in text
    text, _ = await do(env, "inventory")
    assert text == "You are carrying: an apple 1."
    assert env.steps == 10 and not env.done


async def test_pick_and_place_and_progress() -> None:
    env, _ = await start("pick_and_place", "apple", "fridge")
    marks = [env.progress()]
    await do(env, "go_to", target="countertop 1")
    marks.append(env.progress())  # saw an apple
    await do(env, "take", object="apple 1", receptacle="countertop 1")
    marks.append(env.progress())
    await do(env, "go_to", target="fridge 1")
    text, step = await do(env, "put", object="apple 1", receptacle="fridge 1")
    assert step.info["invalid_action"] and "closed" in text
    await do(env, "open", receptacle="fridge 1")
    text, step = await do(env, "put", object="apple 1", receptacle="fridge 1")
    assert text == "You put the apple 1 in the fridge 1.\nYou have completed the task!"
    assert step.terminated and step.reward == 1.0 and step.info["success"]
    assert marks == [0.0, pytest.approx(1 / 3), pytest.approx(2 / 3)] and env.progress() == 1.0


async def test_heat_clean_cool_need_the_right_appliance() -> None:
    env, _ = await start("pick_heat_then_place", "apple", "countertop")
    await do(env, "go_to", target="countertop 1")
    await do(env, "take", object="apple 1")
    text, step = await do(env, "put", object="apple 1")  # not hot yet: the goal is not met
    assert not step.terminated
    await do(env, "take", object="apple 1")
    text, step = await do(env, "heat", object="apple 1", receptacle="sinkbasin 1")
    assert step.info["invalid_action"] and "go to a microwave" in text
    await do(env, "go_to", target="microwave 1")
    assert env.progress() == pytest.approx(2 / 4)
    text, _ = await do(env, "use", target="microwave 1")  # use on an appliance = heat
    assert text == "You heat the apple 1 using the microwave 1."
    assert env.progress() == pytest.approx(3 / 4)
    text, _ = await do(env, "examine", target="apple 1")
    assert text == "The apple 1 is hot."
    await do(env, "go_to", target="sinkbasin 1")
    await do(env, "clean", object="apple 1")
    await do(env, "go_to", target="fridge 1")
    text, _ = await do(env, "cool", object="apple 1", receptacle="fridge 1")  # cooling undoes the heat
    assert text == "You cool the apple 1 using the fridge 1."
    text, _ = await do(env, "inventory")
    assert text == "You are carrying: an apple 1 (clean, cool)."
    await do(env, "go_to", target="countertop 1")
    _, step = await do(env, "put", object="apple 1")
    assert not step.terminated  # a cool apple is not a hot one
    env2, _ = await start("pick_clean_then_place", "bread", "countertop")
    await do(env2, "go_to", target="countertop 1")
    await do(env2, "take", object="bread 1")
    await do(env2, "go_to", target="sinkbasin 1")
    text, step = await do(env2, "clean", object="bread 1")
    assert step.info["invalid_action"] and "can't be cleaned" in text


async def test_examine_under_lamp() -> None:
    env, _ = await start("look_at_obj_in_light", "book", "desklamp")
    await do(env, "go_to", target="bedroom")
    text, _ = await do(env, "go_to", target="desk 1")
    assert text == "You arrive at the desk 1. On the desk 1, you see a desklamp 1 and a book 1."
    text, step = await do(env, "take", object="desklamp 1")
    assert step.info["invalid_action"] and "fixed in place" in text
    text, _ = await do(env, "use", target="desklamp 1")  # lamp on without the book: not done yet
    assert text == "You turn on the desklamp 1." and not env.done
    text, step = await do(env, "take", object="book 1")
    assert (
        text == "You pick up the book 1 from the desk 1.\nYou have completed the task!"
        and step.info["success"]
    )


async def test_floorlamp_is_a_place_and_must_be_reached() -> None:
    env, _ = await start("look_at_obj_in_light", "pillow", "floorlamp")
    await do(env, "go_to", target="bedroom")
    await do(env, "go_to", target="bed 1")
    await do(env, "take", object="pillow 1")
    await do(env, "go_to", target="living room")
    text, step = await do(env, "use", target="floorlamp 1")
    assert step.info["invalid_action"] and "out of reach" in text
    text, _ = await do(env, "go_to", target="floorlamp 1")
    assert text == "You arrive at the floorlamp 1. The floorlamp 1 is off."
    text, step = await do(env, "put", object="pillow 1")
    assert step.info["invalid_action"]
    text, step = await do(env, "use", target="floorlamp")
    assert step.info["success"] and text.startswith("You turn on the floorlamp 1.")


async def test_pick_two_needs_both_in_one_receptacle() -> None:
    env, _ = await start("pick_two_and_place", "mug", "countertop")
    for i in (1, 2):
        await do(env, "go_to", target=f"cabinet {i}")
        await do(env, "open", receptacle=f"cabinet {i}")
        await do(env, "take", object=f"mug {i}")
        await do(env, "go_to", target="countertop 1")
        _, step = await do(env, "put", object=f"mug {i}")
        assert step.info["success"] == (i == 2)
        if i == 1:
            assert env.progress() == pytest.approx(3 / 5)


async def test_step_budget_ends_the_episode() -> None:
    env, _ = await start("pick_and_place", "apple", "fridge")
    env.budget = 3
    await do(env, "look")
    await do(env, "bogus_tool")
    text, step = await do(env, "look")
    assert step.truncated and not step.terminated and not step.info["success"] and "out of steps" in text


async def test_valid_actions_are_all_valid() -> None:
    env = make("household")
    assert isinstance(env, HouseholdEnv)
    rng = random.Random(0)
    for t in env.tasks("dev", 6, seed=9):
        await env.reset(t)
        for _ in range(30):
            if env.done:
                break
            calls = env.valid_actions()
            for call in calls:
                probe = HouseholdEnv()
                probe.world, probe.budget = copy.deepcopy(env.world), 1000
                res = await probe.call(call)
                assert not res.invalid, (call, res.content)
            await env.step(Message(role="assistant", tool_calls=[rng.choice(calls)]))
