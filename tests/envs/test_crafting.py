"""The crafting environment: contract, recipe book, planner, generator, rules, progress and expert."""

from __future__ import annotations

import json
import random

import pytest

from palaestra import action
from palaestra.checker import check_env
from palaestra.envs.crafting import CraftingEnv
from palaestra.envs.crafting.book import HERE, load
from palaestra.envs.crafting.build_book import build, dump
from palaestra.envs.crafting.planner import plan, topological
from palaestra.envs.crafting.tasks import LEVELS, generate, max_turns
from palaestra.types import Message, Task

# 5 torches (two batches of 4) from 2 logs: 1 more log, 12 planks, a table, 4 sticks, a wooden
# pickaxe for the coal, 2 coal: 7 calls, so 2 * 7 + 10 turns.
HAND = Task(
    env="crafting",
    id="hand",
    split="test",
    difficulty=2,
    seed=0,
    params={
        "goal": "torch",
        "count": 5,
        "inventory": {"oak_log": 2},
        "shown": [
            "torch",
            "bread",
            "stick",
            "coal",
            "oak_planks",
            "crafting_table",
            "wooden_pickaxe",
            "oak_log",
        ],
    },
)
BUDGET = 24
SOLUTION = [
    ("gather", "oak_log", 1),
    ("craft", "oak_planks", 12),
    ("craft", "crafting_table", 1),
    ("craft", "stick", 4),
    ("craft", "wooden_pickaxe", 1),
    ("gather", "coal", 2),
    ("craft", "torch", 8),
]


def call(name: str, **arguments: object) -> Message:
    return action(name, **arguments)


async def started(task: Task = HAND) -> tuple[CraftingEnv, str]:
    env = CraftingEnv()
    obs = await env.reset(task)
    return env, obs.messages[1].content


def test_contract_expert_and_random() -> None:
    report = check_env("crafting", n=30)
    assert report.ok, report.problems
    assert report.expert_success >= 0.95
    assert report.random_success <= 0.3
    assert report.expert_success - report.random_success >= 0.6
    for rec in report.episodes["expert"]:
        assert rec.invalid_actions == 0
        assert rec.steps[-1].info["efficiency"] == 1.0  # the planner makes exactly the plan's calls


def test_recipe_book_is_built_by_its_script_and_is_a_tech_tree() -> None:
    book_json = (HERE / "recipes.json").read_text()
    assert dump(build()) == book_json
    data = json.loads(book_json)
    book = load()
    assert len(book.items) == len(data["raw"]) + len(data["recipes"]) >= 300
    assert book.raw["oak_log"] is None
    assert book.raw["cobblestone"] == "wooden_pickaxe"
    assert book.raw["iron_ore"] == "stone_pickaxe"
    assert book.raw["diamond"] == "iron_pickaxe"
    planks = book.recipes["oak_planks"]
    assert (planks.makes, planks.needs, planks.station) == (4, (("oak_log", 1),), None)
    ingot = book.recipes["iron_ingot"]
    assert ingot.smelting and dict(ingot.needs) == {"iron_ore": 1, "coal": 1}
    assert book.recipes["wooden_pickaxe"].station == "crafting_table"
    assert book.accepts["stone_pickaxe"] == ("stone_pickaxe", "iron_pickaxe", "diamond_pickaxe")
    # Every goal's tree is closed and acyclic: each item comes after everything it depends on.
    for goal in book.recipes:
        order = topological(goal)
        assert order[-1] == goal and len(set(order)) == len(order)


def test_planner_quantities_tools_and_stations() -> None:
    p = plan("torch", 5, {"oak_log": 2})
    assert p.actions() == SOLUTION
    assert p.make == {
        "oak_log": 1, "oak_planks": 12, "crafting_table": 1, "stick": 4,
        "wooden_pickaxe": 1, "coal": 2, "torch": 8,
    }  # fmt: skip
    # A better tool does the job: with a stone pickaxe no wooden one is made for the coal.
    assert plan("coal_block", 1, {"stone_pickaxe": 1, "crafting_table": 1}).make == {
        "coal_block": 1,
        "coal": 9,
    }
    # A furnace used up as an ingredient and also needed for smelting is made twice.
    assert plan("blast_furnace", 1, {}).make["furnace"] == 2
    full = plan("iron_pickaxe", 1, {})
    assert full.smelts and full.makes_tool
    assert [c[1] for c in full.actions()][-3:] == ["coal", "iron_ingot", "iron_pickaxe"]


@pytest.mark.parametrize("difficulty", sorted(LEVELS))
def test_generated_tasks_fit_their_level(difficulty: int) -> None:
    book, level = load(), LEVELS[difficulty]
    for seed in range(60):
        params = generate(random.Random(seed), difficulty)
        goal, count, inv = params["goal"], params["count"], params["inventory"]
        assert goal in book.recipes and goal not in inv and count >= 1
        p = plan(goal, count, inv)
        assert level.fits(p)
        if level.deep:
            assert p.smelts and p.makes_tool and len(p.crafted) >= 6
        # The goal text shows every recipe the plan needs, plus the level's distractors.
        assert set(p.order) <= set(params["shown"])
        assert len(params["shown"]) == len(p.order) + level.distractors
    assert generate(random.Random(5), difficulty) == generate(random.Random(5), difficulty)


def test_difficulty_scales_and_budget_covers_every_task() -> None:
    env = CraftingEnv()
    assert env.spec.max_steps == max_turns()
    means = []
    for d in sorted(LEVELS):
        calls = []
        for task in env.tasks("test", 20, difficulty=d):
            env.setup(task)
            assert env.budget == 2 * env.plan_calls + 10 <= env.spec.max_steps
            calls.append(env.plan_calls)
        means.append(sum(calls) / len(calls))
    assert means == sorted(means) and means[0] < means[-1]


def test_enough_distinct_tasks_in_every_split() -> None:
    env = CraftingEnv()
    for d in sorted(LEVELS):
        test = {t.id for t in env.tasks("test", 200, difficulty=d)}
        assert len(test) == 200
    train = {t.id for t in env.tasks("train", 200, difficulty=1)}
    assert not train & {t.id for t in env.tasks("test", 200, difficulty=1)}


async def test_goal_text_lists_inventory_budget_and_recipes() -> None:
    _, goal = await started()
    assert goal == (
        "Goal: have 5 torch in your inventory.\n"
        "Your inventory: 2 oak_log.\n"
        f"You have {BUDGET} turns.\n"
        "Recipes (some of them are not needed):\n"
        "- craft 4 torch from 1 coal + 1 stick\n"
        "- craft 1 bread from 3 wheat, at a crafting_table\n"
        "- craft 4 stick from 2 oak_planks\n"
        "- gather coal with a wooden_pickaxe (or a better one: golden_pickaxe, stone_pickaxe, "
        "iron_pickaxe, diamond_pickaxe)\n"
        "- craft 4 oak_planks from 1 oak_log\n"
        "- craft 1 crafting_table from 4 oak_planks\n"
        "- craft 1 wooden_pickaxe from 3 oak_planks + 2 stick, at a crafting_table\n"
        "- gather oak_log by hand\n"
        "Use recipe(item) to look up any other item."
    )


async def test_rules_and_invalid_actions() -> None:
    env, _ = await started()

    async def bad(msg: Message, text: str) -> None:
        step = await env.step(msg)
        assert step.info["invalid_action"] and not step.terminated
        assert step.observation.messages[0].content == "Error: " + text

    await bad(
        call("gather", item="coal"),
        "you can gather coal only with a wooden_pickaxe (or a better one: golden_pickaxe, stone_pickaxe, "
        "iron_pickaxe, diamond_pickaxe) in your inventory, and you have none.",
    )
    await bad(
        call("gather", item="stick"),
        "stick is not a raw material and cannot be gathered; craft it: craft 4 stick from 2 oak_planks.",
    )
    await bad(
        call("craft", item="oak_log"), "oak_log is a raw material; it cannot be crafted. Gather it by hand."
    )
    await bad(
        call("craft", item="oak_planks", count=9),
        "12 oak_planks (3 batches of 4) needs 3 oak_log; you are missing 1 oak_log. "
        "Recipe: craft 4 oak_planks from 1 oak_log.",
    )
    await bad(
        call("craft", item="wooden_pickaxe"),
        "craft 1 wooden_pickaxe from 3 oak_planks + 2 stick, at a crafting_table: "
        "you need a crafting_table in your inventory and have none.",
    )
    await bad(
        call("recipe", item="diamnd"),
        "there is no item called 'diamnd'. Did you mean diamond, diamond_hoe, diamond_axe? "
        "Item names look like oak_planks or iron_ingot.",
    )
    step = await env.step(call("gather", item="oak_log", count=65))
    assert step.info["invalid_action"] and "less than or equal to 64" in step.observation.text
    assert env.inventory == {"oak_log": 2} and env.steps == 7  # nothing changed, turns were spent

    # Names are forgiving; count is rounded up to whole batches; ingredients are used up.
    step = await env.step(call("craft", item="Oak Planks", count=5))
    assert not step.info["invalid_action"]
    assert step.observation.text == "You crafted 8 oak_planks from 2 oak_log. You now have 8 oak_planks."
    assert env.inventory == {"oak_planks": 8}
    step = await env.step(call("craft", item="sticks", count=1))
    assert env.inventory == {"oak_planks": 6, "stick": 4}
    crafts = [(c.arguments["item"], c.arguments["count"]) for c in env.valid_actions() if c.name == "craft"]
    # No table yet, so only 2x2 recipes; no coal, so no torch.
    assert crafts == [("crafting_table", 1), ("oak_button", 1), ("oak_pressure_plate", 1), ("stick", 4)]
    gathers = {c.arguments["item"] for c in env.valid_actions() if c.name == "gather"}
    assert "oak_log" in gathers and "coal" not in gathers and "iron_ore" not in gathers
    look = await env.step(call("recipe", item="wooden_pickaxe"))
    assert look.observation.text.startswith(
        "craft 1 wooden_pickaxe from 3 oak_planks + 2 stick, at a crafting_table. "
        "The crafting_table must be in your inventory; it is not used up. As a tool it lets you gather: "
    )
    inv = await env.step(call("inventory"))
    assert inv.observation.text == (
        f"You hold: 6 oak_planks, 4 stick. Goal: 5 torch (you have 0). Turns left: {BUDGET - 11}."
    )


async def test_solution_progress_success_and_metrics() -> None:
    env, _ = await started()
    assert env.need == {
        "oak_log": 1, "oak_planks": 12, "crafting_table": 1, "stick": 4,
        "wooden_pickaxe": 1, "coal": 2, "torch": 8,
    }  # fmt: skip
    assert env.progress() == 0.0
    progress = []
    for i, (name, item, count) in enumerate(SOLUTION):
        step = await env.step(call(name, item=item, count=count))
        assert not step.info["invalid_action"]
        assert step.terminated == (i == len(SOLUTION) - 1)
        progress.append(step.info["progress"])
    assert progress == pytest.approx([1 / 7, 2 / 7, 3 / 7, 4 / 7, 5 / 7, 6 / 7, 1.0])
    assert step.info["success"] and step.reward == 1.0
    assert step.observation.text == (
        "You crafted 8 torch from 2 coal, 2 stick. You now have 8 torch. You have 5 torch: goal reached!"
    )
    assert (step.info["crafts"], step.info["gathers"], step.info["efficiency"]) == (5, 2, 1.0)
    after = await env.step(call("inventory"))
    assert after.info["invalid_action"] and "already over" in after.observation.text


async def test_partial_progress_counts_units_obtained() -> None:
    env, _ = await started()
    await env.step(call("craft", item="oak_planks", count=8))  # 8 of the 12 planks, logs used up
    assert env.progress() == pytest.approx((8 / 12) / 7)
    await env.step(call("gather", item="oak_log", count=3))  # more than the 1 log needed
    assert env.progress() == pytest.approx((8 / 12 + 1) / 7)


async def test_running_out_of_turns_fails() -> None:
    env, _ = await started()
    for i in range(BUDGET - 1):
        step = await env.step(
            call("recipe", item="torch") if i % 2 else Message(role="assistant", content="hm")
        )
        assert not step.terminated
    step = await env.step(call("inventory"))
    assert step.truncated and not step.terminated and not step.info["success"] and step.reward == 0.0
    assert step.observation.text.endswith("You are out of turns; the episode is over.")


async def test_expert_recovers_after_detours_and_replays_byte_identically() -> None:
    task = CraftingEnv().tasks("test", 1, seed=3, difficulty=3)[0]
    texts = []
    for _ in range(2):
        env = CraftingEnv()
        obs = await env.reset(task)
        rng = random.Random(0)
        seen = [obs.model_dump_json()]
        for _ in range(4):  # wander first: the planner replans from whatever the inventory holds
            step = await env.step(Message(role="assistant", tool_calls=[rng.choice(env.valid_actions())]))
            seen.append(step.model_dump_json())
        expert = env.expert()
        await expert.reset(task)
        while not env.done:
            step = await env.step(await expert.act(step.observation))
            assert not step.info["invalid_action"]
            seen.append(step.model_dump_json())
        assert env.success
        texts.append("\n".join(seen))
    assert texts[0] == texts[1]


async def test_the_rules_say_what_a_turn_is() -> None:
    """A reply with several calls spends one turn (the budget counts steps); the system prompt must
    not tell the agent that every call is a turn."""
    from palaestra.types import ToolCall

    env = CraftingEnv()
    obs = await env.reset(HAND)
    rules = obs.messages[0].content
    calls = [ToolCall(id=f"c{i}", name="recipe", arguments={"item": "torch"}) for i in range(3)]
    await env.step(Message(role="assistant", tool_calls=calls))
    step = await env.step(call("inventory"))
    assert f"Turns left: {BUDGET - 2}." in step.observation.text
    assert "Every call is one turn" not in rules and "Every reply is one turn" in rules
