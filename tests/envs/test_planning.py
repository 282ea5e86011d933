"""The planning environments: PDDL semantics, optimal plans, tools, budget, metrics, LLM+P."""

from __future__ import annotations

import inspect
import random
import re
import statistics
from typing import Any

import pytest

from palaestra import action
from palaestra.checker import check_env
from palaestra.env import make
from palaestra.envs.planning import PlanningEnv, PlanningLLMPEnv
from palaestra.envs.planning.env import tool_name
from palaestra.envs.planning.llmp import example, parse_plan
from palaestra.envs.planning.pddl import PDDLError, parse_domain, parse_problem
from palaestra.envs.planning.planner import pyperplan_available, solve
from palaestra.envs.planning.strips import astar
from palaestra.envs.planning.tasks import DOMAINS, KITS, TaskData, task_data
from palaestra.errors import UsageError
from palaestra.types import Message, Observation, Step, Task

needs_pyperplan = pytest.mark.skipif(not pyperplan_available(), reason="pyperplan is not installed")


def env_for(
    domain: str, difficulty: int = 1, cls: type[PlanningEnv] = PlanningEnv, **kw: Any
) -> tuple[Any, Task]:
    env = cls(domains=domain, **kw)
    return env, env.tasks("test", 1, difficulty=difficulty)[0]


def task_from(domain: str, objects: list[list[str]], init: list[list[str]], goal: list[list[str]]) -> Task:
    params = {"domain": domain, "objects": objects, "init": sorted(init), "goal": sorted(goal)}
    return Task(env="planning", id="handmade", split="test", difficulty=1, seed=0, params=params)


BLOCKS3 = task_from(
    "blocksworld",
    [["b1", "block"], ["b2", "block"], ["b3", "block"]],
    [
        ["ontable", "b1"],
        ["on", "b2", "b1"],
        ["clear", "b2"],
        ["ontable", "b3"],
        ["clear", "b3"],
        ["handempty"],
    ],
    [["on", "b1", "b2"], ["on", "b2", "b3"]],
)


async def do(env: Any, name: str, **args: Any) -> Step:
    step: Step = await env.step(action(name, **args))
    return step


def text(step: Step) -> str:
    return step.observation.messages[0].content


# ---- contract ----------------------------------------------------------------------------------
def test_check_env_planning() -> None:
    report = check_env("planning", n=30)
    assert report.ok, report.problems
    assert report.expert_success >= 0.95
    assert report.random_success <= report.expert_success - 0.5
    effs = [r.steps[-1].info["efficiency"] for r in report.episodes["expert"]]
    assert min(effs) == 1.0


def test_check_env_llmp_builtin() -> None:
    report = check_env("planning-llmp", n=15, env_kwargs={"planner": "builtin"})
    assert report.ok, report.problems
    assert report.expert_success >= 0.95
    assert report.random_success <= report.expert_success - 0.5
    assert all(r.n_steps == 2 for r in report.episodes["expert"])  # plan, then execute
    assert all(r.steps[-1].info["efficiency"] == 1.0 for r in report.episodes["expert"])


def test_registered_and_domain_kwarg() -> None:
    assert isinstance(make("planning"), PlanningEnv)
    assert isinstance(make("planning-llmp", planner="builtin"), PlanningLLMPEnv)
    env = PlanningEnv(domains="gripper,logistics")
    assert {t.params["domain"] for t in env.tasks("train", 30)} == {"gripper", "logistics"}
    with pytest.raises(UsageError, match="valid: blocksworld"):
        PlanningEnv(domains="sokoban")
    with pytest.raises(UsageError, match="unknown planner"):
        PlanningLLMPEnv(planner="fast-downward")


def test_all_domains_and_200_tasks_per_split_and_level() -> None:
    env = PlanningEnv()
    for d in env.spec.difficulties:
        ts = env.tasks("test", 200, difficulty=d)
        assert len({t.id for t in ts}) == 200
        assert {t.params["domain"] for t in ts} == set(DOMAINS)


def test_difficulty_scales() -> None:
    for dom in DOMAINS:
        env = PlanningEnv(domains=dom)
        sizes = []
        for d in env.spec.difficulties:
            ts = env.tasks("dev", 12, difficulty=d)
            sizes.append(statistics.mean(len(task_data(t.params).optimal_plan) for t in ts))
        assert sizes[0] < sizes[2], (dom, sizes)


# ---- PDDL and semantics ------------------------------------------------------------------------
def test_domain_files_match_tools() -> None:
    for kit in KITS.values():
        dom = parse_domain(kit.pddl)
        assert set(dom.actions) == set(kit.tool_params) == set(kit.verbs)
        assert set(kit.phrases) == set(dom.predicates)
        for act, pnames in kit.tool_params.items():
            fn = getattr(PlanningEnv, tool_name(act))
            assert tuple(inspect.signature(fn).parameters)[1:] == pnames
            assert len(dom.actions[act].params) == len(pnames)


def test_rendered_pddl_round_trips() -> None:
    for dom in DOMAINS:
        _, task = env_for(dom, 3)
        data = task_data(task.params)
        prob = parse_problem(data.pddl, KITS[dom].domain)
        assert prob.init == frozenset(tuple(a) for a in task.params["init"])
        assert list(prob.goal) == [tuple(a) for a in task.params["goal"]]


def test_parser_errors_say_what_and_where() -> None:
    dom = KITS["blocksworld"].domain
    head = "(define (problem p) (:domain blocksworld) (:objects a b - block)\n"
    cases = {
        head + "(:init (ontable a) (arm-empty))\n(:goal (on a b)))": "line 2: unknown predicate 'arm-empty'",
        head + "(:init (ontable a b)) (:goal (on a b)))": "has 2 arguments; ontable takes 1",
        head + "(:init (ontable c)) (:goal (on a b)))": "unknown object 'c'",
        head + "(:init) (:goal (not (on a b))))": "negative conditions",
        head + "(:init (ontable a)) (:goal (on a b))": "never closed",
        head + "(:init (ontable a)))": "no (:goal",
        "(define (problem p) (:domain blocks) (:goal (and)))": "(:domain blocksworld)",
    }
    for src, msg in cases.items():
        with pytest.raises(PDDLError, match=re.escape(msg)):
            parse_problem(src, dom)
    with pytest.raises(PDDLError, match="requirement :adl"):
        parse_domain("(define (domain d) (:requirements :adl))")


def test_optimal_plans_match_breadth_first_search() -> None:
    for dom in DOMAINS:
        kit = KITS[dom]
        for seed in range(6):
            data = TaskData(kit.generate(random.Random(seed), 1 + seed % 2))
            blind = astar(data.grounded, lambda s: 0, 500_000)
            assert blind is not None
            assert len(blind) == len(data.optimal_plan), (dom, seed)
            h = kit.heuristic(data.grounded)
            state = data.grounded.init
            for i, act in enumerate(blind):  # admissible along an optimal plan
                assert h(state) <= len(blind) - i
                state = data.grounded.apply(state, act)
            assert data.grounded.is_goal(state)


async def test_strips_effects_and_refusals() -> None:
    env = PlanningEnv()
    obs = await env.reset(BLOCKS3)
    assert "b2 is on top of b1" in obs.messages[1].content
    assert [t.name for t in obs.tools] == ["look", "pick_up", "put_down", "stack", "unstack"]
    assert obs.tools[3].parameters["properties"]["on_block"]["enum"] == ["b1", "b2", "b3"]

    st = await do(env, "pick_up", block="b1")  # b2 is on it
    assert st.info["invalid_action"] and "b1 is clear" in text(st) and "b2 is on top of b1" in text(st)
    st = await do(env, "unstack", block="b2", from_block="b1")
    assert not st.info["invalid_action"]
    assert "You are holding b2. b1 is clear." in text(st)
    assert env.g.holds(env.state, ("holding", "b2")) and not env.g.holds(env.state, ("on", "b2", "b1"))
    st = await do(env, "pick_up", block="b3")
    assert st.info["invalid_action"] and "your hand is empty" in text(st) and "holding b2" in text(st)
    st = await do(env, "stack", block="b2", on_block="b9")
    assert "there is no object 'b9'. Blocks: b1, b2, b3." in text(st)
    st = await do(env, "move", from_room="rooma", to_room="roomb")
    assert st.info["invalid_action"] and "not an action of this Blocksworld problem" in text(st)
    st = await do(env, "stack", block="B2", on_block=" b3")  # names are case-insensitive
    assert not st.info["invalid_action"] and st.info["progress"] == 0.5
    assert env.executed == ["(unstack b2 b1)", "(stack b2 b3)"]


async def test_wrong_type_messages() -> None:
    env, task = env_for("logistics", 1)
    await env.reset(task)
    st = await do(env, "fly_airplane", airplane="plane1", from_airport="loc1-1", to_airport="airport2")
    assert "loc1-1 is a non-airport location, but from_airport must be an airport" in text(st)
    st = await do(
        env, "drive_truck", truck="truck1", from_location="airport1", to_location="airport2", city="city1"
    )
    assert (
        st.info["invalid_action"]
        and "airport2 is in city1" in text(st)
        and "airport2 is in city2" in text(st)
    )


async def test_reward_efficiency_and_progress() -> None:
    env = PlanningEnv()
    await env.reset(BLOCKS3)
    assert env.optimal == 4
    # A detour of two actions, then the optimal plan: efficiency 4 / 6.
    for name, args in [
        ("pick_up", {"block": "b3"}),
        ("put_down", {"block": "b3"}),
        ("unstack", {"block": "b2", "from_block": "b1"}),
        ("stack", {"block": "b2", "on_block": "b3"}),
        ("pick_up", {"block": "b1"}),
    ]:
        st = await do(env, name, **args)
        assert st.reward == 0 and not st.terminated
    assert st.info["progress"] == 0.5 and st.info["plan_length"] == 5
    st = await do(env, "stack", block="b1", on_block="b2")
    assert st.terminated and st.info["success"] and st.reward == 1.0
    assert st.info["efficiency"] == pytest.approx(4 / 6) and st.info["optimal_length"] == 4
    assert "goal reached in 6 actions" in text(st)


async def test_progress_is_best_so_far() -> None:
    env = PlanningEnv()
    await env.reset(BLOCKS3)
    await do(env, "unstack", block="b2", from_block="b1")
    st = await do(env, "stack", block="b2", on_block="b3")
    assert st.info["progress"] == 0.5
    st = await do(env, "unstack", block="b2", from_block="b3")
    assert st.info["progress"] == 0.5  # the goal atom no longer holds; progress keeps the best


async def test_budget_ends_the_episode() -> None:
    env = PlanningEnv()
    await env.reset(BLOCKS3)
    assert env.budget == 2 * 4 + 10
    for _ in range(env.budget - 1):
        st = await do(env, "look")
        assert not st.terminated
    st = await env.step(Message(role="assistant", content="thinking..."))
    assert st.truncated and not st.terminated and not st.info["success"] and st.reward == 0.0
    assert "budget of 18 steps is used up" in text(st)
    assert st.info["efficiency"] == 0.0


async def test_valid_actions_are_all_valid() -> None:
    for dom in DOMAINS:
        env, task = env_for(dom, 2)
        await env.reset(task)
        rng = random.Random(0)
        for _ in range(15):
            calls = env.valid_actions()
            assert calls
            for call in calls:  # each one passes argument validation and preconditions
                snap = env.snapshot()
                st = await env.step(Message(role="assistant", tool_calls=[call]))
                assert not st.info["invalid_action"], (call, text(st))
                env.restore(snap)
            await env.step(Message(role="assistant", tool_calls=[rng.choice(calls)]))
            if env.done:
                break


async def test_expert_replans_after_a_detour() -> None:
    env, task = env_for("gripper", 2)
    await env.reset(task)
    expert = env.expert()
    await expert.reset(task)
    other = next(r for r in env.objects("room") if not env.g.holds(env.state, ("at-robby", r)))
    here = next(r for r in env.objects("room") if env.g.holds(env.state, ("at-robby", r)))
    await do(env, "move", from_room=here, to_room=other)
    while not env.done:
        await env.step(await expert.act(Observation()))
    assert env.success and len(env.executed) <= env.optimal + 2


# ---- LLM+P ------------------------------------------------------------------------------------
def test_parse_plan_formats() -> None:
    plan = "1. (unstack b2 b1)\nstack(b2, b3) ; comment\nStep 3: pick-up b1\n(put_down b1) (pick_up b1)\n\n"
    assert parse_plan(plan) == [
        ("unstack", ["b2", "b1"]),
        ("stack", ["b2", "b3"]),
        ("pick-up", ["b1"]),
        ("put_down", ["b1"]),
        ("pick_up", ["b1"]),
    ]


async def test_llmp_tools() -> None:
    env = PlanningLLMPEnv(planner="builtin")
    obs = await env.reset(BLOCKS3)
    names = [t.name for t in obs.tools]
    assert names[-4:] == ["get_domain_pddl", "get_example", "classical_planner", "execute_plan"]
    st = await do(env, "get_domain_pddl")
    assert "(:action unstack" in text(st)
    st = await do(env, "get_example")
    assert "The same problem in PDDL" in text(st) and "(:domain blocksworld)" in text(st)
    assert example("blocksworld") == text(st)

    st = await do(env, "classical_planner", problem_pddl="(define (problem x) (:domain blocksworld)")
    assert st.info["invalid_action"] and "not valid" in text(st) and "never closed" in text(st)
    # A wrong translation (b2 placed on b3 instead of b1) gives a plan that fails here.
    wrong = env.data.pddl.replace("(on b2 b1)", "(on b2 b3)").replace("(clear b3)", "(clear b1)")
    st = await do(env, "classical_planner", problem_pddl=wrong)
    assert not st.info["invalid_action"] and text(st).startswith("Plan found")
    plan = "\n".join(ln for ln in text(st).splitlines() if ln.startswith("("))
    st = await do(env, "execute_plan", plan=plan)
    assert st.info["invalid_action"] and "Action 1 (pick-up b1) failed" in text(st)
    unsolvable = env.data.pddl.replace("(on b1 b2)", "(on b1 b1)")
    st = await do(env, "classical_planner", problem_pddl=unsolvable)
    assert "has no plan" in text(st)

    st = await do(env, "classical_planner", problem_pddl=env.data.pddl)
    plan = "\n".join(ln for ln in text(st).splitlines() if ln.startswith("("))
    st = await do(env, "execute_plan", plan="(unstack b2 b1)\n(fly b1)")
    assert "The first 1 actions were executed" in text(st) and "unknown action fly" in text(st)
    st = await do(env, "execute_plan", plan=plan)  # the plan's first action is now impossible
    assert st.info["invalid_action"]
    await do(env, "stack", block="b2", on_block="b1")  # undo
    st = await do(env, "execute_plan", plan=plan + "\n(pick-up b3)")
    assert st.info["success"] and "The remaining 1 actions were not executed" in text(st)
    assert st.info["plan_length"] == 2 + 4 and st.info["efficiency"] == pytest.approx(4 / 6)


@needs_pyperplan
def test_pyperplan_backends_plan_like_builtin() -> None:
    for dom in DOMAINS:
        env = PlanningEnv(domains=dom)
        for task in env.tasks("test", 2, difficulty=1):
            data = task_data(task.params)
            opt = solve(data.kit, data.pddl, "pyperplan")
            assert opt.plan is not None and len(opt.plan) == len(data.optimal_plan)
            sat = solve(data.kit, data.pddl, "pyperplan-gbfs")
            assert sat.plan is not None and len(sat.plan) >= len(data.optimal_plan)


@needs_pyperplan
def test_llmp_expert_with_pyperplan() -> None:
    report = check_env("planning-llmp", n=6, env_kwargs={"planner": "pyperplan"})
    assert report.ok, report.problems
    assert report.expert_success == 1.0


async def test_snapshot_restore() -> None:
    env = PlanningEnv()
    await env.reset(BLOCKS3)
    snap = env.snapshot()
    await do(env, "unstack", block="b2", from_block="b1")
    st = await do(env, "stack", block="b2", on_block="b3")
    env.restore(snap)
    assert env.executed == [] and env.steps == 0 and env.best_progress == 0.0
    st2 = await do(env, "unstack", block="b2", from_block="b1")
    st2 = await do(env, "stack", block="b2", on_block="b3")
    assert text(st2) == text(st) and st2.info == st.info


_TRANSCRIPT = """
import asyncio, hashlib, sys
from palaestra.checker import run_agent
from palaestra.env import make
from palaestra.envs.planning.planner import solve
from palaestra.envs.planning.tasks import task_data
tasks = make("planning").tasks("test", 6)
recs = asyncio.run(run_agent("planning", "random", tasks))
out = [m.content for r in recs for s in r.steps for m in s.observation]
for t in tasks[:3]:
    d = task_data(t.params)
    out += [str(solve(d.kit, d.pddl, b).plan) for b in sys.argv[1:]]
print(hashlib.sha256("\\n".join(out).encode()).hexdigest())
"""


def test_same_observations_under_any_hash_seed() -> None:
    import os
    import subprocess
    import sys

    backends = ["builtin", "pyperplan"] if pyperplan_available() else ["builtin"]
    digests = set()
    for seed in ("1", "2"):
        proc = subprocess.run(
            [sys.executable, "-c", _TRANSCRIPT, *backends],
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
            check=True,
        )
        digests.add(proc.stdout.strip())
    assert len(digests) == 1


def _children() -> set[int]:
    import os
    from pathlib import Path

    out: set[int] = set()
    for f in Path(f"/proc/{os.getpid()}/task").glob("*/children"):
        out |= {int(p) for p in f.read_text().split()}
    return out


@needs_pyperplan
async def test_cancelled_planner_call_leaves_no_process_behind() -> None:
    """A wall-clock timeout cancels the episode: the planner's child process must go with it, not
    run on (up to WORKER_TIMEOUT) after the episode has ended."""
    import asyncio
    import os
    import sys

    if not os.path.exists(f"/proc/{os.getpid()}/task") or sys.platform != "linux":
        pytest.skip("needs /proc")
    env = PlanningLLMPEnv(domains="logistics", planner="pyperplan")
    await env.reset(env.tasks("test", 1, difficulty=3)[0])
    before = _children()
    call = asyncio.create_task(do(env, "classical_planner", problem_pddl=env.data.pddl))
    for _ in range(500):  # cancel once the planner process exists, however fast the machine is
        if _children() - before or call.done():
            break
        await asyncio.sleep(0.01)
    assert not call.done(), "the planner answered before its process could be seen"
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    await env.close()
    for _ in range(50):
        if not _children() - before:
            break
        await asyncio.sleep(0.1)
    assert not _children() - before
