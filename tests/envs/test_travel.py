"""The travel environment: contract, TravelPlanner's constraint checks, reward and metrics."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest

from palaestra import action
from palaestra.checker import check_env
from palaestra.env import make
from palaestra.envs.travel import TravelEnv
from palaestra.envs.travel.check import COMMONSENSE, evaluate
from palaestra.envs.travel.plan import DayPlan, Query, Transport
from palaestra.envs.travel.solver import Solution
from palaestra.envs.travel.tasks import LEVELS, prepare
from palaestra.envs.travel.verdict import Evaluation
from palaestra.envs.travel.world import TripDB
from palaestra.types import Message, Task

METRIC_KEYS = {"delivered", "commonsense_pass", "hard_pass", "final_pass", "commonsense_micro", "hard_micro"}


def _env() -> TravelEnv:
    env = make("travel")
    assert isinstance(env, TravelEnv)
    return env


@pytest.fixture(scope="module")
def train_tasks() -> list[Task]:
    return _env().tasks("train", 60, seed=3)


Case = tuple[Query, TripDB, Solution]


def _case(tasks: list[Task], pred: Callable[[Query, TripDB, Solution], bool]) -> Case:
    for t in tasks:
        q, db, sol = prepare(t.params)
        if pred(q, db, sol):
            return q, db, sol
    raise AssertionError("no task matches")


def _plan(sol: Solution) -> list[DayPlan]:
    return [d.model_copy(deep=True) for d in sol.plan]


def _verdicts(ev: Evaluation) -> dict[str, bool]:
    return {v.name: v.passed for v in ev.verdicts}


def _failed(ev: Evaluation) -> set[str]:
    return {v.name for v in ev.verdicts if not v.passed}


def _full_day(plan: list[DayPlan]) -> int:
    return next(i for i, d in enumerate(plan) if d.transportation is None)


# ---- contract ------------------------------------------------------------------------------
def test_check_env_expert_solves_random_does_not() -> None:
    report = check_env("travel", n=24)
    assert report.ok, report.problems
    assert report.expert_success >= 0.95
    assert report.random_success <= 0.2
    assert report.expert_success - report.random_success >= 0.7


def test_task_space_and_difficulty_levels() -> None:
    env = _env()
    assert len({t.id for t in env.tasks("test", 200, difficulty=1)}) == 200
    for level, (n_cities, days, counts) in LEVELS.items():
        for t in env.tasks("dev", 8, difficulty=level):
            q = Query.from_params(t.params)
            assert (q.n_cities, q.days) == (n_cities, days)
            assert len(q.hard_constraints()) - 1 in counts
            w = TripDB(0).world
            if q.multi_city:
                assert q.destination in w.states and len(w.states[q.destination]) > n_cities
            else:
                assert q.destination in w.cities and w.cities[q.destination].state != w.cities[q.origin].state


# ---- the reference plan and the budget -----------------------------------------------------
def test_reference_plans_pass_and_budget_has_slack(train_tasks: list[Task]) -> None:
    for t in train_tasks[:15]:
        q, db, sol = prepare(t.params)
        ev = evaluate(sol.plan, q, db)
        assert ev.final_pass, ev.render(q)
        assert ev.cost == sol.cost
        assert sol.cost * 1.15 <= q.budget <= sol.cost * 1.5 + 50


def test_budget_constraint(train_tasks: list[Task]) -> None:
    q, db, sol = _case(train_tasks, lambda q, db, s: True)
    ev = evaluate(sol.plan, dataclasses.replace(q, budget=sol.cost - 1), db)
    assert _failed(ev) == {"budget"}
    assert not ev.final_pass
    assert evaluate(sol.plan, dataclasses.replace(q, budget=sol.cost), db).final_pass


def test_cost_formula_counts_people_vehicles_and_units(train_tasks: list[Task]) -> None:
    q, db, sol = _case(train_tasks, lambda q, db, s: q.people >= 3)
    ev = evaluate(sol.plan, q, db)
    expected = 0
    for day in sol.plan:
        t = day.transportation
        if t is not None:
            if t.mode == "self-driving":
                expected += db.ground(t.from_city, t.to_city).drive * -(-q.people // 5)
            elif t.mode == "taxi":
                expected += db.ground(t.from_city, t.to_city).taxi * -(-q.people // 4)
            else:
                table = db.flights if t.mode == "flight" else db.trains
                date = q.date(day.day)
                expected += (
                    next(s.price for s in table(t.from_city, t.to_city, date) if s.number == t.number)
                    * q.people
                )
        for meal in (day.breakfast, day.lunch, day.dinner):
            if meal:
                expected += (
                    next(r.cost for c in db.world.cities for r in db.restaurants(c) if r.name == meal)
                    * q.people
                )
        if day.accommodation:
            h = next(h for c in db.world.cities for h in db.hotels(c) if h.name == day.accommodation)
            expected += h.price * -(-q.people // h.max_occupancy)
    assert ev.cost == expected


# ---- commonsense constraints ---------------------------------------------------------------
def test_repeated_restaurant_and_attraction(train_tasks: list[Task]) -> None:
    q, db, sol = _case(train_tasks, lambda q, db, s: sum(d.transportation is None for d in s.plan) >= 2)
    plan = _plan(sol)
    full = [d for d in plan if d.transportation is None]
    full[1].dinner = full[0].breakfast
    full[1].attractions = list(full[0].attractions)
    ev = evaluate(plan, q, db)
    assert {"diverse_restaurants", "diverse_attractions"} <= _failed(ev)
    assert "on day" in next(v.detail for v in ev.verdicts if v.name == "diverse_restaurants")


def test_unknown_entities_fail_sandbox_and_skip_hard_constraints(train_tasks: list[Task]) -> None:
    q, db, sol = _case(train_tasks, lambda q, db, s: True)
    plan = _plan(sol)
    plan[0].transportation = Transport(
        mode="flight", from_city=q.origin, to_city=plan[0].transportation.to_city, number="F0000"
    )  # type: ignore[union-attr]
    i = _full_day(plan)
    plan[i].lunch = "Imaginary Bistro"
    ev = evaluate(plan, q, db)
    sandbox = next(v for v in ev.verdicts if v.name == "within_sandbox")
    assert not sandbox.passed
    assert "F0000" in sandbox.detail and "Imaginary Bistro" in sandbox.detail
    assert all(not v.passed and "not evaluated" in v.detail for v in ev.hard)
    assert ev.cost is None


def test_complete_information(train_tasks: list[Task]) -> None:
    q, db, sol = _case(train_tasks, lambda q, db, s: True)
    plan = _plan(sol)
    plan[0].accommodation = None
    i = _full_day(plan)
    plan[i].dinner = "-"
    plan[i].attractions = []
    ev = evaluate(plan, q, db)
    detail = next(v.detail for v in ev.verdicts if v.name == "complete_information")
    assert "day 1 has no accommodation" in detail and "no dinner" in detail and "no attraction" in detail
    short = evaluate(_plan(sol)[:-1], q, db)
    assert "complete_information" in _failed(short) and "reasonable_city_route" in _failed(short)
    last = _plan(sol)
    last[-1].accommodation = last[-2].accommodation
    assert "complete_information" in _failed(evaluate(last, q, db))


def test_within_current_city(train_tasks: list[Task]) -> None:
    q, db, sol = _case(train_tasks, lambda q, db, s: True)
    plan = _plan(sol)
    i = _full_day(plan)
    elsewhere = db.restaurants(q.origin)[0].name
    plan[i].lunch = elsewhere
    ev = evaluate(plan, q, db)
    assert _failed(ev) >= {"within_current_city"}
    assert "within_sandbox" not in _failed(ev)
    assert q.origin in next(v.detail for v in ev.verdicts if v.name == "within_current_city")
    far = next(c for c in db.world.cities if c not in {q.origin, *q.pool(db.world)})
    plan[i].lunch = db.restaurants(far)[0].name  # a real listing of a city the trip never visits
    ev = evaluate(plan, q, db)
    assert "within_sandbox" not in _failed(ev)
    assert far in next(v.detail for v in ev.verdicts if v.name == "within_current_city")


def test_reasonable_city_route(train_tasks: list[Task]) -> None:
    q, db, sol = _case(train_tasks, lambda q, db, s: q.multi_city)
    plan = _plan(sol)
    home = plan[-1]
    assert home.transportation is not None
    other = next(c for c in db.world.cities if c not in (q.origin, home.transportation.from_city))
    home.current_city = f"from {home.transportation.from_city} to {other}"
    home.transportation = Transport(mode="taxi", from_city=home.transportation.from_city, to_city=other)
    ev = evaluate(plan, q, db)
    assert "reasonable_city_route" in _failed(ev)
    assert f"back to {q.origin}" in next(v.detail for v in ev.verdicts if v.name == "reasonable_city_route")


def test_self_driving_cannot_mix(train_tasks: list[Task]) -> None:
    q, db, sol = _case(train_tasks, lambda q, db, s: q.transport is None)
    plan = _plan(sol)
    legs = [d for d in plan if d.transportation is not None]
    for n, day in enumerate(legs):
        t = day.transportation
        assert t is not None
        day.transportation = Transport(
            mode="self-driving" if n == 0 else "taxi", from_city=t.from_city, to_city=t.to_city
        )
    assert "non_conflicting_transportation" in _failed(evaluate(plan, q, db))
    for day in legs:
        t = day.transportation
        assert t is not None
        day.transportation = Transport(mode="self-driving", from_city=t.from_city, to_city=t.to_city)
    assert "non_conflicting_transportation" not in _failed(evaluate(plan, q, db))


def test_minimum_nights(train_tasks: list[Task]) -> None:
    def has_long_min(q: Query, db: TripDB, s: Solution) -> bool:
        city = s.plan[0].transportation.to_city  # type: ignore[union-attr]
        return any(h.min_nights >= q.days for h in db.hotels(city))

    q, db, sol = _case(train_tasks, has_long_min)
    plan = _plan(sol)
    city = plan[0].transportation.to_city  # type: ignore[union-attr]
    strict = next(h for h in db.hotels(city) if h.min_nights >= q.days)
    for d in plan:
        if d.accommodation == plan[0].accommodation:
            d.accommodation = strict.name
    ev = evaluate(plan, q, db)
    assert "minimum_nights" in _failed(ev)
    assert f"at least {strict.min_nights} nights" in next(
        v.detail for v in ev.verdicts if v.name == "minimum_nights"
    )


def test_names_forgive_case_and_city_suffix(train_tasks: list[Task]) -> None:
    q, db, sol = _case(train_tasks, lambda q, db, s: True)
    plan = _plan(sol)
    i = _full_day(plan)
    plan[i].breakfast = f"  {plan[i].breakfast.upper()}, {plan[i].current_city}"  # type: ignore[union-attr]
    plan[i].current_city = plan[i].current_city.lower()
    assert evaluate(plan, q, db).final_pass


# ---- hard constraints ----------------------------------------------------------------------
def test_hard_constraints_follow_the_listings(train_tasks: list[Task]) -> None:
    q, db, sol = _case(
        train_tasks, lambda q, db, s: not (q.room_rule or q.room_type or q.cuisines or q.transport)
    )
    hotels = [
        h for c in db.world.cities for h in db.hotels(c) if h.name in {d.accommodation for d in sol.plan}
    ]
    kind = hotels[0].room_type
    other = next(t for t in ("entire home", "private room", "shared room") if t != kind)
    assert "room_type" in _failed(evaluate(sol.plan, dataclasses.replace(q, room_type=other), db))
    forbidden = next((r for h in hotels for r in h.rules), None)
    if forbidden is not None:
        wish = forbidden.removeprefix("no ")
        assert "room_rule" in _failed(evaluate(sol.plan, dataclasses.replace(q, room_rule=wish), db))
    eaten = {
        c
        for d in sol.plan
        for m in (d.breakfast, d.lunch, d.dinner)
        if m
        for c in next(r.cuisines for c2 in db.world.cities for r in db.restaurants(c2) if r.name == m)
    }
    missing = next(c for c in db.world.main_cuisines if c not in eaten)
    ev = evaluate(sol.plan, dataclasses.replace(q, cuisines=(missing,)), db)
    assert "cuisine" in _failed(ev) and missing in next(v.detail for v in ev.hard if v.name == "cuisine")
    modes = {d.transportation.mode for d in sol.plan if d.transportation}
    banned = "no self-driving" if "self-driving" in modes else "no flight" if "flight" in modes else None
    if banned:
        assert "transportation" in _failed(evaluate(sol.plan, dataclasses.replace(q, transport=banned), db))


# ---- the episode: reward, progress, metrics, invalid actions --------------------------------
async def test_episode_reward_progress_and_metrics(train_tasks: list[Task]) -> None:
    env = _env()
    obs = await env.reset(train_tasks[0])
    assert obs.info["progress"] == 0.0 and "submit_plan" in obs.messages[0].content
    step = await env.step(action("search_restaurants", city=env.query.origin))
    assert step.info["progress"] == 0.0 and step.reward == 0.0 and not step.terminated
    assert step.info.keys() >= METRIC_KEYS and step.info["delivered"] is False
    step = await env.step(action("submit_plan", days=[d.model_dump() for d in env.reference.plan]))
    assert step.terminated and step.reward == 1.0 and step.info["success"]
    assert step.info["progress"] == 1.0 and step.info["final_pass"] and step.info["hard_micro"] == 1.0
    assert "FINAL PASS" in step.observation.messages[0].content

    await env.reset(train_tasks[0])
    broken = [d.model_dump() for d in env.reference.plan]
    broken[0]["accommodation"] = None
    step = await env.step(action("submit_plan", days=broken))
    assert step.terminated and step.reward == 0.0 and not step.info["success"]
    assert step.info["delivered"] and not step.info["commonsense_pass"] and not step.info["hard_pass"]
    total = len(COMMONSENSE) + len(env.query.hard_constraints())
    assert step.info["progress"] == pytest.approx(7 / total)
    assert step.info["commonsense_micro"] == pytest.approx(7 / 8) and step.info["hard_micro"] == 0.0


async def test_empty_plan_is_not_delivered(train_tasks: list[Task]) -> None:
    env = _env()
    await env.reset(train_tasks[1])
    step = await env.step(action("submit_plan", days=[]))
    assert step.terminated and step.reward == 0.0
    assert step.info["delivered"] is False and step.info["progress"] == 0.0


async def test_invalid_actions_explain_themselves(train_tasks: list[Task]) -> None:
    env = _env()
    await env.reset(train_tasks[2])
    q = env.query
    city = q.pool(env.db.world)[0]
    cases: list[tuple[str, dict[str, Any], str]] = [
        ("search_accommodations", {"city": city[:-1] + "x"}, "Did you mean"),
        ("list_cities", {"state": "Atlantis"}, "States:"),
        ("search_flights", {"origin": q.origin, "destination": city, "date": "next friday"}, "YYYY-MM-DD"),
        ("search_trains", {"origin": city, "destination": city, "date": q.start}, "two different cities"),
        (
            "submit_plan",
            {"days": [{"day": 1, "current_city": city, "transportation": {"mode": "boat"}}]},
            "mode",
        ),
    ]
    for name, args, needle in cases:
        step = await env.step(action(name, **args))
        assert step.info["invalid_action"] and not step.terminated, name
        assert needle in step.observation.messages[0].content, step.observation.messages[0].content
    step = await env.step(action("search_ground_transport", origin=q.origin, destination=city))
    assert not step.info["invalid_action"] and "per taxi" in step.observation.messages[0].content


async def test_same_actions_same_observations(train_tasks: list[Task]) -> None:
    task = train_tasks[5]
    transcripts = []
    for _ in range(2):
        env = _env()
        obs = await env.reset(task)
        texts = [obs.text]
        calls = env.valid_actions()
        for call in [*calls[:6], calls[-1]]:
            step = await env.step(Message(role="assistant", tool_calls=[call]))
            texts.append(step.observation.text + repr(sorted(step.info.items())))
        transcripts.append(texts)
    assert transcripts[0] == transcripts[1]
