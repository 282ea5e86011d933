"""The code environment: contract, families and references, grading, reward, invalid actions."""

from __future__ import annotations

import asyncio
import json
import random

from palaestra import action
from palaestra.checker import check_env
from palaestra.envs.code import CodeEnv
from palaestra.envs.code.grading import grade, same
from palaestra.envs.code.tasks import BY_LEVEL, FAMILIES, generate, problem, task_key
from palaestra.types import Task


def task_of(family: str, seed: int = 0) -> Task:
    f = FAMILIES[family]
    rng = random.Random(seed)
    params = {"family": family, "function": f.names[0], "spec": f.spec(rng), "seed": seed}
    return Task(env="code", id=f"hand-{family}", split="test", difficulty=f.level, seed=seed, params=params)


def test_contract_expert_and_random() -> None:
    report = check_env("code", n=9)
    assert report.ok, report.problems
    assert report.expert_success == 1.0 and report.expert_reward == 1.0
    assert report.random_success == 0.0 and report.random_reward <= 0.05
    for rec in report.episodes["expert"]:
        assert rec.n_steps == 1 and rec.steps[-1].info["tests_passed"] == 1.0


async def test_every_familys_reference_passes_its_hidden_tests_in_the_sandbox() -> None:
    tasks = [task_of(name, seed) for name in FAMILIES for seed in (1, 2)]

    async def check(task: Task) -> tuple[str, int, int]:
        p = problem(task.params)
        g = await grade(p, p.solution(), mark="@@m@@", timeout=10, per_test=2)
        return task.params["family"], g.passed, g.total

    results = await asyncio.gather(*(check(t) for t in tasks))
    assert len(FAMILIES) >= 10 and set(BY_LEVEL) == {1, 2, 3}
    for family, passed, total in results:
        assert passed == total >= 12, family


def test_tasks_are_problems_disjoint_across_splits_and_levels_pick_their_families() -> None:
    env = CodeEnv()
    keys = {s: {task_key(t.params) for t in env.tasks(s, 60, seed=3)} for s in ("train", "dev", "test")}
    assert (
        not keys["train"] & keys["test"]
        and not keys["dev"] & keys["test"]
        and not keys["train"] & keys["dev"]
    )
    for d in (1, 2, 3):
        tasks = env.tasks("test", 200, difficulty=d)  # the task space is large enough
        assert len({t.id for t in tasks}) == 200
        assert {FAMILIES[t.params["family"]].level for t in tasks} == {d}
        assert len({t.params["family"] for t in tasks}) == len(BY_LEVEL[d])
    # a task's parameters come from its seed only, and the test seed is not part of its identity
    p = generate(random.Random(5), 2)
    assert p == generate(random.Random(5), 2)
    assert task_key(p) == task_key({**p, "seed": p["seed"] + 1})


def test_the_statement_shows_signature_description_and_true_examples() -> None:
    p = problem(task_of("intervals", 4).params)
    assert p.statement.startswith(
        "Write a Python function\n\n    def merge_intervals(intervals: list[list[int]])"
    )
    assert f"graded on {len(p.tests)} hidden tests" in p.statement
    ns: dict[str, object] = {}
    exec(p.solution(), ns)
    fn = ns["merge_intervals"]
    for args, want in list(zip(p.tests, p.expected, strict=True))[:3]:
        line = f"    merge_intervals({', '.join(repr(a) for a in args)}) == {want!r}"
        assert line in p.statement
        assert callable(fn) and same(json.loads(json.dumps(fn(*args))), want)


async def test_reward_is_the_share_of_hidden_tests_passed() -> None:
    env = CodeEnv()
    task = task_of("rle", 7)
    await env.reset(task)
    p = env.problem
    # correct except on the empty text
    code = (
        p.solution()
        + "\n_real = compress_runs\ndef compress_runs(text):\n    return _real(text) if text else 'x'\n"
    )
    empties = sum(1 for args in p.tests if args == [""])
    step = await env.step(action("submit", code=code))
    passed = len(p.tests) - empties
    assert step.terminated and not step.info["success"]
    assert step.reward == passed / len(p.tests) == step.info["tests_passed"] == step.info["progress"]
    text = step.observation.messages[0].content
    assert text.startswith(f"Passed {passed} of {len(p.tests)} hidden tests")
    assert "First failing test: compress_runs('') returned 'x'; expected ''." in text


async def test_bad_submissions_score_zero_and_say_why() -> None:
    env = CodeEnv()
    task = task_of("caesar", 3)
    cases = {
        "def other(text):\n    return text\n": "defines no function named caesar",
        "def caesar(text):\n    return text[\n": "SyntaxError",
        "import sys\nsys.exit(0)\n": "could not be loaded",
        "def caesar(text):\n    return {1, 2}\n": "TypeError: Object of type set is not JSON serializable",
    }
    for code, said in cases.items():
        await env.reset(task)
        step = await env.step(action("submit", code=code))
        assert step.terminated and step.reward == 0.0 and not step.info["success"], code
        assert said in step.observation.messages[0].content, (code, step.observation.messages[0].content)


async def test_a_submission_that_hangs_on_some_inputs_fails_only_those() -> None:
    env = CodeEnv(per_test=0.3, test_timeout=8)
    task = task_of("to_base", 2)
    await env.reset(task)
    p = env.problem
    code = (
        p.solution()
        + "\n_real = to_base\ndef to_base(n):\n    while n == 0:\n        pass\n    return _real(n)\n"
    )
    step = await env.step(action("submit", code=code))
    zeros = sum(1 for args in p.tests if args == [0])
    assert zeros >= 1 and step.reward == (len(p.tests) - zeros) / len(p.tests)
    assert "TimeoutError: the call took longer than 0.3 s" in step.observation.messages[0].content


async def test_execute_python_shows_output_errors_and_limits_and_keeps_the_episode_going() -> None:
    env = CodeEnv(timeout=0.5)
    await env.reset(task_of("topk", 1))
    step = await env.step(
        action("execute_python", code="print('hello')\nimport sys\nprint('oops', file=sys.stderr)")
    )
    assert step.observation.messages[0].content == "exit code: 0\nstdout:\nhello\nstderr:\noops"
    assert not step.terminated and step.info["executions"] == 1 and step.reward == 0.0
    step = await env.step(action("execute_python", code="while True:\n    pass"))
    assert "Stopped: the time limit of 0.5 s ran out." in step.observation.messages[0].content
    step = await env.step(action("execute_python", code="print('x' * 10000)"))
    assert "more characters cut" in step.observation.messages[0].content
    step = await env.step(action("execute_python", code="import os\nprint(len(os.environ) < 12)"))
    assert step.observation.messages[0].content.endswith("True")
    step = await env.step(action("execute_python", code="   "))
    assert step.info["invalid_action"] and "empty" in step.observation.messages[0].content
    step = await env.step(action("submit", code=""))
    assert step.info["invalid_action"] and not step.terminated
    assert step.info["executions"] == 4 and step.info["progress"] == 0.0


async def test_same_actions_give_the_same_observations() -> None:
    actions = [
        action("execute_python", code="print(sorted({'b': 1, 'a': 2}))\nprint({'z', 'y', 'x'})\n1/0"),
        action("submit", code="def select_rows(text):\n    return [\n"),  # paths in the SyntaxError
    ]
    transcripts = []
    for _ in range(2):
        env = CodeEnv()
        obs = await env.reset(task_of("csv_table", 5))
        seen = [obs.model_dump_json()]
        for a in actions:
            seen.append((await env.step(a)).model_dump_json())
        transcripts.append(seen)
    assert transcripts[0] == transcripts[1]
