"""The shop environment: catalog, search, WebShop reward, tools, progress, baselines."""

from __future__ import annotations

import asyncio
import re

import pytest

from palaestra import action
from palaestra.checker import check_env, run_agent
from palaestra.env import make
from palaestra.envs.shop.catalog import MAX_RESULTS, Catalog, catalog
from palaestra.envs.shop.env import ShopEnv
from palaestra.envs.shop.reward import Goal, attribute_matches, fits, fuzzy_match, score, token_set_ratio
from palaestra.envs.shop.tasks import LEVELS, goal_of
from palaestra.types import Step, Task


def new_env() -> ShopEnv:
    env = make("shop")
    assert isinstance(env, ShopEnv)
    return env


async def play(env: ShopEnv, task: Task, *calls: tuple[str, dict[str, object]]) -> list[Step]:
    await env.reset(task)
    return [await env.step(action(name, **args)) for name, args in calls]


@pytest.fixture(scope="module")
def tasks() -> dict[int, list[Task]]:
    env = new_env()
    return {d: env.tasks("test", 12, seed=3, difficulty=d) for d in LEVELS}


# ---- contract and baselines -----------------------------------------------------------------------
def test_check_env_expert_and_random() -> None:
    report = check_env("shop", n=30)
    assert report.ok, report.problems
    assert report.expert_success >= 0.95
    assert report.expert_reward >= 0.95
    assert report.random_success <= 0.2
    assert report.random_reward <= report.expert_reward - 0.25


def test_expert_only_opens_products_its_searches_showed(tasks: dict[int, list[Task]]) -> None:
    recs = asyncio.run(run_agent("shop", "expert", tasks[3]))
    for rec in recs:
        assert rec.success
        seen = ""
        for step in rec.steps:
            seen += "\n".join(m.content for m in step.observation)
            call = step.action.tool_calls[0]
            if call.name == "view_product":
                assert f"[{call.arguments['product_id']}]" in seen


# ---- catalog and search ---------------------------------------------------------------------------
def test_catalog_is_large_varied_cached_and_deterministic() -> None:
    cat = catalog()
    assert catalog() is cat
    assert len(cat.products) >= 10_000
    assert len({p.pid for p in cat.products}) == len(cat.products)
    assert len(cat.types) >= 50
    assert len({t.department for t in cat.types}) >= 10
    small_a, small_b = Catalog(per_type=3), Catalog(per_type=3)
    assert [(p.pid, p.title, p.price, p.options) for p in small_a.products] == [
        (p.pid, p.title, p.price, p.options) for p in small_b.products
    ]
    assert small_a.search("red cotton t-shirt") == small_b.search("red cotton t-shirt")


@pytest.mark.parametrize(
    "query", ['AND OR NOT "(', "NEAR(a b)", "col:cotton*", "-^", "t-shirt's", "“smart” quotes", "' OR 1=1 --"]
)
def test_search_never_fails_on_fts_syntax(query: str) -> None:
    results = catalog().search(query)
    assert isinstance(results, tuple)
    assert len(results) <= MAX_RESULTS


def test_search_ranks_matching_products_first() -> None:
    cat = catalog()
    top = [cat.products[i] for i in cat.search("cotton long sleeve t-shirt for women")[:5]]
    assert all(p.kind.name == "t-shirt" and "cotton" in p.attributes for p in top)


def test_vocabulary_attributes_match_exactly_when_present() -> None:
    """The fuzzy and text rules credit an attribute to a product iff the product has it."""
    cat = catalog()
    for p in cat.products[:400]:
        for g in p.kind.groups:
            for v in g.values:
                assert (attribute_matches(p, (v,)) == 1) == (v in p.attributes), (p.pid, v)


def test_option_values_are_distinct_under_fuzzy_matching() -> None:
    for t in catalog().types:
        for name, s in t.options:
            for i, a in enumerate(s.values):
                for b in s.values[i + 1 :]:
                    exact = name == "size" or any(c.isdigit() for c in a)
                    assert exact or not fuzzy_match(a, b), (t.name, a, b)


# ---- reward -----------------------------------------------------------------------------------------
def test_token_set_ratio_agrees_with_thefuzz() -> None:
    assert token_set_ratio("fuzzy was a bear", "fuzzy fuzzy was a bear") == 100
    assert token_set_ratio("cotton", "Organic COTTON") == 100
    assert token_set_ratio("short sleeve", "long sleeve") == 71
    assert token_set_ratio("", "cotton") == 0
    assert not fuzzy_match("v-neck", "crew neck")


def test_webshop_reward_formula() -> None:
    cat = catalog()
    target = next(p for p in cat.products if p.kind.name == "t-shirt" and len(p.options["size"]) > 1)
    size, other = target.options["size"][:2]
    color = target.options["color"][0]
    goal = Goal(target, target.attributes[:2], (("color", color), ("size", size)), target.price + 5)
    assert score(target, goal, {"color": color, "size": size}).reward == 1.0
    # One option wrong: (2 attributes + 1 option + price) / 5.
    assert score(target, goal, {"color": color, "size": other}).reward == pytest.approx(4 / 5)
    # Options not selected and price over the limit: (2 + 0 + 0) / 5.
    dear = Goal(target, goal.attributes, goal.options, target.price - 1)
    s = score(target, dear, {})
    assert (s.reward, s.price_ok, s.options_matched) == (pytest.approx(2 / 5), False, 0)
    # A product of another kind with no noun in common has type reward 0.
    mug = next(p for p in cat.products if p.kind.name == "coffee mug")
    assert score(mug, goal, {"color": color}).reward == 0.0
    # Same department and category but no noun in common (shorts for jeans): 0, as in WebShop.
    jeans = next(p for p in cat.products if p.kind.name == "jeans")
    shorts = next(p for p in cat.products if p.kind.name == "shorts")
    jeans_goal = Goal(jeans, jeans.attributes[:1], (), jeans.price)
    assert shorts.kind.category == jeans.kind.category
    assert score(shorts, jeans_goal, {}).r_type == 0.0
    assert score(jeans, jeans_goal, {}).reward == 1.0


def test_tasks_are_satisfiable_and_scale_with_difficulty(tasks: dict[int, list[Task]]) -> None:
    cat = catalog()
    for d, ts in tasks.items():
        n_attr, n_opt, tight = LEVELS[d]
        for t in ts:
            g = goal_of(cat, t.params)
            assert len(g.attributes) == min(n_attr, len(g.product.attributes))
            assert len(g.options) == min(n_opt, len(g.product.options))
            assert g.product.price <= g.price_upper
            if tight:
                assert g.price_upper - g.product.price <= 10
            assert score(g.product, g, dict(g.options)).reward == 1.0
            partial = [p for p in cat.products if p.kind is g.product.kind and not fits(p, g)]
            assert len(partial) >= 50  # many products match only in part, as in WebShop
            assert f"{g.price_upper:.2f}" in t.params["instruction"]
            assert all(v in t.params["instruction"] for _, v in g.options)


# ---- tools, errors, progress --------------------------------------------------------------------------
async def test_progress_follows_subgoals(tasks: dict[int, list[Task]]) -> None:
    env = new_env()
    task = tasks[2][0]
    await env.reset(task)
    g = env.goal
    step = await env.step(action("search", query=task.params["instruction"]))
    assert step.info["progress"] == 0.25 and not step.info["invalid_action"]
    step = await env.step(action("view_product", product_id=g.product.pid.lower()))
    assert step.info["progress"] == 0.5
    assert f"Price: ${g.product.price:.2f}" in step.observation.text
    for name, value in g.options:
        step = await env.step(action("select_option", name=name.upper(), value=value.upper()))
    assert step.info["progress"] == 0.75
    step = await env.step(action("buy"))
    assert step.terminated and step.info["success"] and step.reward == 1.0
    assert step.info["progress"] == 1.0 and step.info["bought"]
    assert "score 1.000" in step.observation.text


async def test_buying_a_wrong_product_ends_with_partial_reward(tasks: dict[int, list[Task]]) -> None:
    env = new_env()
    task = tasks[3][0]
    await env.reset(task)
    g = env.goal
    wrong = next(p for p in catalog().products if p.kind is g.product.kind and not fits(p, g))
    await env.step(action("view_product", product_id=wrong.pid))
    step = await env.step(action("buy"))
    assert step.terminated and not step.info["success"]
    assert 0 < step.reward < 1
    assert step.info["progress"] < 1
    after = await env.step(action("buy"))
    assert after.info["invalid_action"] and "already over" in after.observation.text


async def test_invalid_actions_explain_themselves(tasks: dict[int, list[Task]]) -> None:
    env = new_env()
    task = tasks[1][0]
    product = goal_of(catalog(), task.params).product
    steps = await play(
        env,
        task,
        ("next_page", {}),
        ("select_option", {"name": "color", "value": "red"}),
        ("buy", {}),
        ("search", {"query": "  ?! "}),
        ("view_product", {"product_id": "X123"}),
        ("search", {"query": "cotton t-shirt", "page": 9}),
        ("search", {"query": "cotton t-shirt"}),
        ("prev_page", {}),
        ("view_product", {"product_id": product.pid}),
        ("select_option", {"name": "flavour", "value": "x"}),
        ("select_option", {"name": next(iter(product.options)), "value": "no-such-value"}),
    )
    texts = [s.observation.text for s in steps]
    invalid = [s.info["invalid_action"] for s in steps]
    assert invalid == [True, True, True, True, True, True, False, True, False, True, True]
    assert "search(query) first" in texts[0]
    assert "view_product" in texts[1] and "view_product" in texts[2]
    assert "no words" in texts[3]
    assert "no product with id 'X123'" in texts[4]
    assert "between 1 and 5" in texts[5]
    assert "first page" in texts[7]
    assert "Its options are:" in texts[9] and next(iter(product.options)) in texts[9]
    assert "Available:" in texts[10]
    assert not any(s.terminated for s in steps)


async def test_paging_through_results(tasks: dict[int, list[Task]]) -> None:
    env = new_env()
    steps = await play(
        env,
        tasks[1][0],
        ("search", {"query": "waterproof jacket"}),
        ("next_page", {}),
        ("search", {"query": "waterproof jacket", "page": 5}),
        ("next_page", {}),
        ("back_to_results", {}),
    )
    ids = [re.findall(r"\[(P\d+)\]", s.observation.text) for s in steps]
    assert len(ids[0]) == len(ids[1]) == 10 and not set(ids[0]) & set(ids[1])
    assert "page 2 of 5" in steps[1].observation.text
    assert steps[3].info["invalid_action"] and "last page" in steps[3].observation.text
    assert ids[4] == ids[2]


async def test_valid_actions_follow_the_page(tasks: dict[int, list[Task]]) -> None:
    env = new_env()
    await env.reset(tasks[1][0])
    assert [c.name for c in env.valid_actions()] == ["search"]
    await env.step(action("search", query="cotton t-shirt"))
    names = [c.name for c in env.valid_actions()]
    assert names.count("view_product") == 10 and "next_page" in names and "prev_page" not in names
    pid = env.valid_actions()[1].arguments["product_id"]
    await env.step(action("view_product", product_id=pid))
    names = [c.name for c in env.valid_actions()]
    assert "buy" in names and "select_option" in names
