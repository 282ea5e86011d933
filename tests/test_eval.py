"""Evaluation: statistics, per-env/difficulty metrics, pass@k, the failure taxonomy and suites."""

from __future__ import annotations

import itertools
import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from palaestra import RunConfig, Store, run
from palaestra.errors import UnknownNameError, UsageError
from palaestra.eval import (
    CATEGORIES,
    bootstrap_ci,
    classify,
    get_suite,
    group_metrics,
    mcnemar_exact,
    pass_at_k,
    pass_hat_k,
    run_metrics,
    sign_flip_p,
    single_agent_envs,
    suite_config,
)
from palaestra.eval.stats import bootstrap_means, ks_for
from palaestra.eval.taxonomy import find_loop

PALAESTRA = [sys.executable, "-c", "from palaestra.cli import main; main()"]
BUILTIN = {"guess", "maze", "household", "shop", "travel"}


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*PALAESTRA, *args], capture_output=True, text=True, timeout=120)


# ---- statistics ---------------------------------------------------------------------------------
def _brute_pass(n: int, c: int, k: int, all_pass: bool = False) -> float:
    outcomes = [1] * c + [0] * (n - c)
    subsets = list(itertools.combinations(outcomes, k))
    hit = (lambda s: all(s)) if all_pass else (lambda s: any(s))
    return sum(map(hit, subsets)) / len(subsets)


def test_pass_at_k_hand_computed_values() -> None:
    # n=5 samples, c=2 passed: pass@1 = 2/5, pass@2 = 1 - C(3,2)/C(5,2) = 1 - 3/10, pass@3 = 1 - 1/10
    assert pass_at_k(5, 2, 1) == pytest.approx(0.4)
    assert pass_at_k(5, 2, 2) == pytest.approx(0.7)
    assert pass_at_k(5, 2, 3) == pytest.approx(0.9)
    assert pass_at_k(5, 2, 4) == 1.0  # fewer than k failures: some draw must pass
    assert pass_at_k(5, 0, 3) == 0.0 and pass_at_k(5, 5, 1) == 1.0
    assert pass_hat_k(5, 2, 2) == pytest.approx(0.1)  # C(2,2)/C(5,2)
    assert pass_hat_k(5, 2, 3) == 0.0
    for n, c, k in itertools.product(range(1, 7), range(7), range(1, 7)):
        if c <= n and k <= n:
            assert pass_at_k(n, c, k) == pytest.approx(_brute_pass(n, c, k))
            assert pass_hat_k(n, c, k) == pytest.approx(_brute_pass(n, c, k, all_pass=True))
    with pytest.raises(ValueError):
        pass_at_k(3, 1, 4)
    assert ks_for(1) == [1] and ks_for(5) == [1, 2, 4, 5] and ks_for(8) == [1, 2, 4, 8]


def test_bootstrap_interval_contains_the_mean_and_is_seeded() -> None:
    values = [0.0, 1.0, 1.0, 0.0, 1.0, 1.0, 1.0, 0.0, 1.0, 1.0] * 3
    lo, hi = bootstrap_ci(values, seed=3)
    assert lo < sum(values) / len(values) < hi
    assert lo >= 0.0 and hi <= 1.0 and hi - lo < 0.5
    assert bootstrap_ci(values, seed=3) == (lo, hi)
    assert bootstrap_ci([0.5] * 10) == (0.5, 0.5)
    assert bootstrap_ci([2.0]) == (2.0, 2.0)
    assert all(math.isnan(x) for x in bootstrap_ci([]))
    wide = bootstrap_ci(values[:6], seed=3)
    assert wide[1] - wide[0] > hi - lo  # fewer units, wider interval
    both = bootstrap_means({"a": values, "b": [2 * v for v in values]}, seed=3)
    assert both["b"] == pytest.approx((2 * both["a"][0], 2 * both["a"][1]))  # same resamples
    with pytest.raises(ValueError):
        bootstrap_means({"a": [1.0], "b": [1.0, 2.0]})


def test_mcnemar_exact_and_sign_flip_agree_on_binary_outcomes() -> None:
    assert mcnemar_exact(0, 6) == pytest.approx(2 / 64)
    assert mcnemar_exact(1, 9) == pytest.approx(2 * 11 / 1024)
    assert mcnemar_exact(3, 3) == 1.0 and mcnemar_exact(0, 0) == 1.0
    diffs = [1.0] * 9 + [-1.0] + [0.0] * 5
    assert sign_flip_p(diffs) == pytest.approx(mcnemar_exact(1, 9))
    assert sign_flip_p([0.0] * 8) == 1.0
    assert sign_flip_p([0.5]) == 1.0  # one task can never be significant
    many = [0.3] * 40  # Monte-Carlo path
    assert sign_flip_p(many, resamples=2000) == pytest.approx(1 / 2001)
    balanced = [0.3, -0.3] * 20
    assert sign_flip_p(balanced, resamples=2000) == 1.0


# ---- the taxonomy -------------------------------------------------------------------------------
def _step(action: dict[str, Any], observation: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"observation": observation or [], "action": action, "info": {}}


def _call(name: str, i: int, **args: Any) -> dict[str, Any]:
    return {"role": "assistant", "tool_calls": [{"id": f"c{i}", "name": name, "arguments": args}]}


def _tool(text: str, i: int) -> list[dict[str, Any]]:
    return [{"role": "tool", "content": text, "tool_call_id": f"c{i}", "name": "move"}]


def _episode(status: str, success: bool, steps: list[dict[str, Any]], **kw: Any) -> dict[str, Any]:
    final = kw.pop("final", [])
    invalid = kw.pop("invalid_actions", 0)
    return {"status": status, "success": int(success), "steps": steps, "final": final, "error": None} | {
        "invalid_actions": invalid,
        **kw,
    }


def _walk(answers: list[str]) -> dict[str, Any]:
    """Steps that all do ``move(north)``; the env answers each with ``answers[i]``."""
    steps = [_step(_call("move", 0, d="north"), [{"role": "user", "content": "go"}])]
    for i, a in enumerate(answers[:-1], 1):
        steps.append(_step(_call("move", i, d="north"), _tool(a, i - 1)))
    return _episode("truncated", False, steps, final=_tool(answers[-1], len(answers) - 1))


def test_taxonomy_classes_on_crafted_episodes() -> None:
    ok = _episode("done", True, [_step(_call("guess", 0, n=5))])
    assert classify(ok).category == "success"
    timeout = _episode("timeout", False, [], error="wall-clock limit of 5s reached after 0 steps")
    assert classify(timeout).category == "timeout" and "wall-clock" in classify(timeout).detail
    model = _episode("error", False, [], error="model: 429 Too Many Requests after 5 retries")
    assert classify(model).category == "model_error"
    env = _episode("error", False, [], error="RuntimeError: boom\nTraceback ...")
    d = classify(env)
    assert d.category == "env_error" and d.detail == "RuntimeError: boom"
    wrong = _episode("done", False, [_step(_call("submit", 0, answer="B"))])
    assert classify(wrong).category == "wrong_answer"
    bad = [_step({"role": "assistant", "content": f"hmm {i}"}) for i in range(6)]
    invalid = _episode("truncated", False, bad, invalid_actions=4)
    assert classify(invalid).category == "invalid_actions"
    assert "4 of 6" in classify(invalid).detail
    half = _episode("truncated", False, bad, invalid_actions=3)  # exactly half is not "more than half"
    assert classify(half).category == "step_limit"
    # bumping into the same wall: same action, same answer, 3 times in a row
    wall = _walk(["you moved", "a wall blocks the way", "a wall blocks the way", "a wall blocks the way"])
    d = classify(wall)
    assert d.category == "loop" and "same action" in d.detail and {"loop", "step_limit"} <= d.tags
    # walking down a corridor: same action, new position every time
    corridor = _walk([f"you are at ({i}, 0)" for i in range(8)])
    assert classify(corridor).category == "step_limit" and "loop" not in classify(corridor).tags
    # a row of episode rows (no step list) still classifies, without loop detection
    row = {"status": "truncated", "success": 0, "steps": 10, "invalid_actions": 2, "error": None}
    assert classify(row).category == "step_limit"
    assert set(CATEGORIES) == {
        "success",
        "timeout",
        "model_error",
        "env_error",
        "wrong_answer",
        "invalid_actions",
        "loop",
        "step_limit",
    }


def test_find_loop_cycles() -> None:
    assert find_loop(list("abcabcabc")) == (3, 0)
    assert find_loop(list("xyabababz")) == (2, 2)
    assert find_loop(list("abcabcab")) is None  # the third repetition is incomplete
    assert find_loop(list("aab")) is None
    assert find_loop(list("zaaa")) == (1, 1)
    assert find_loop(list("abcd")) is None


# ---- metrics on real runs -----------------------------------------------------------------------
@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, str]:
    import asyncio

    db = tmp_path_factory.mktemp("eval") / "s.db"
    st = Store(db)

    async def make() -> tuple[str, str]:
        expert = await run(RunConfig(envs=["guess", "maze"], agent="expert", tasks=6, samples=2), st)
        rnd = await run(
            RunConfig(envs=["guess", "maze"], agent="random", tasks=6, samples=2, max_steps=6), st
        )
        return expert, rnd

    expert, rnd = asyncio.run(make())
    st.close()
    return db, expert, rnd


def test_run_metrics_per_env_and_difficulty(runs: tuple[Path, str, str]) -> None:
    db, expert, rnd = runs
    st = Store(db)
    m = run_metrics(st, rnd)
    assert set(m["envs"]) == {"guess", "maze"} and set(m["difficulties"]) == {"1", "2", "3"}
    o = m["overall"]
    assert o["episodes"] == 24 and o["tasks"] == 12 and o["samples_per_task"] == 2
    for name in ("success_rate", "progress", "reward", "steps"):
        lo, hi = o[name]["ci"]
        assert lo <= o[name]["mean"] <= hi, name
    assert o["progress"]["ci"][1] > 0 and o["steps"]["mean"] == 6.0
    assert sum(o["outcomes"].values()) == 24
    assert set(o["outcomes"]) <= set(CATEGORIES)
    for env, g in m["envs"].items():
        assert g["episodes"] == 12 and set(g["difficulties"]) == {"1", "2", "3"}, env
        assert sum(d["episodes"] for d in g["difficulties"].values()) == 12
    rows = st.episodes(rnd)
    assert o["invalid_action_rate"] == pytest.approx(
        sum(r["invalid_actions"] for r in rows) / sum(r["steps"] for r in rows)
    )
    assert len(m["failed"]) == sum(not r["success"] for r in rows)
    assert all(f["category"] in CATEGORIES for f in m["failed"])

    e = run_metrics(st, expert)["overall"]
    assert e["success_rate"] == {"mean": 1.0, "ci": [1.0, 1.0]}
    assert e["outcomes"] == {"success": 24} and e["errors"] == 0
    assert e["pass_at_k"]["1"]["mean"] == 1.0 and e["pass_at_k"]["2"]["mean"] == 1.0
    assert e["latency_per_call_s"] is None and e["cost"] is None  # no model calls
    json.dumps(m)  # JSON-ready


def test_pass_at_k_from_episode_rows() -> None:
    def rows(task: str, outcomes: list[int]) -> list[dict[str, Any]]:
        return [
            {
                "id": f"t/{task}/{i}",
                "env": "t",
                "task_id": task,
                "difficulty": 1,
                "status": "done",
                "success": s,
                "reward": float(s),
                "progress": float(s),
                "steps": 3,
                "invalid_actions": 0,
                "input_tokens": 10,
                "output_tokens": 5,
                "model_calls": 3,
                "model_latency": 0.3,
                "cost": 0.001,
                "wall": 0.5,
            }
            for i, s in enumerate(outcomes)
        ]

    data = rows("a", [1, 0, 0, 0]) + rows("b", [1, 1, 0, 0]) + rows("c", [0, 0, 0, 0])
    g = group_metrics(data)
    # per task pass@2: a: 1 - C(3,2)/C(4,2) = 0.5, b: 1 - 1/6, c: 0
    assert g["pass_at_k"]["2"]["mean"] == pytest.approx((0.5 + 5 / 6 + 0) / 3)
    assert g["pass_at_k"]["1"]["mean"] == pytest.approx(3 / 12) == g["success_rate"]["mean"]
    assert g["pass_at_k"]["4"]["mean"] == pytest.approx(2 / 3)
    assert g["pass_hat_k"]["2"]["mean"] == pytest.approx((0 + 1 / 6 + 0) / 3)
    assert g["avg_at_k"]["4"]["mean"] == pytest.approx(0.25)
    assert set(g["pass_at_k"]) == {"1", "2", "4"}
    assert g["latency_per_call_s"] == pytest.approx(0.1) and g["cost"] == pytest.approx(0.012)
    assert g["tokens_per_episode"] == 15
    lo, hi = g["pass_at_k"]["2"]["ci"]
    assert lo <= g["pass_at_k"]["2"]["mean"] <= hi


# ---- suites -------------------------------------------------------------------------------------
def test_suites_cover_every_single_agent_env() -> None:
    envs = single_agent_envs()
    assert set(envs) >= BUILTIN
    quick, core = suite_config("quick"), suite_config("core", agent="random", seed=3)
    assert quick.envs == envs and quick.tasks == get_suite("quick").tasks and quick.split == "test"
    assert core.tasks > quick.tasks and core.agent == "random" and core.seed == 3
    only = suite_config("quick", envs=["maze", "guess"], samples=3)
    assert only.envs == ["guess", "maze"] and only.samples == 3
    with pytest.raises(UnknownNameError, match="valid suites: core, quick"):
        suite_config("nope")
    with pytest.raises(UsageError, match="has no environment 'nope'"):
        suite_config("quick", envs=["nope"])


def test_cli_eval_stats_and_resume(tmp_path: Path) -> None:
    db = str(tmp_path / "s.db")
    r = cli("eval", "quick", "--env", "guess", "--env", "maze", "--agent", "expert", "--json", "--store", db)
    assert r.returncode == 0, r.stderr
    m = json.loads(r.stdout)
    assert m["suite"] == "quick" and set(m["envs"]) == {"guess", "maze"}
    assert m["overall"]["episodes"] == 2 * get_suite("quick").tasks
    assert m["overall"]["success_rate"]["mean"] == 1.0
    rid = m["run_id"]
    r = cli("eval", "--resume", rid, "--json", "--store", db)  # nothing missing: same run, same numbers
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["overall"]["episodes"] == m["overall"]["episodes"]
    r = cli("stats", rid, "--store", db)
    assert r.returncode == 0, r.stderr
    assert "per environment" in r.stdout and "per difficulty" in r.stdout and "outcomes" in r.stdout
    r = cli("stats", "--json", "--store", db)  # 'last'
    assert r.returncode == 0 and json.loads(r.stdout)["run_id"] == rid
    r = cli("eval", "nope", "--store", db)
    assert r.returncode == 2 and "unknown suite 'nope'" in r.stderr
    r = cli("eval", "--store", db)
    assert r.returncode == 2 and "name a suite" in r.stderr


def test_match_runs_are_refused(tmp_path: Path) -> None:
    st = Store(tmp_path / "s.db")
    st.create_run("m1", {"kind": "match", "game": "auction"})
    with pytest.raises(UsageError, match="multi-agent game"):
        run_metrics(st, "m1")
