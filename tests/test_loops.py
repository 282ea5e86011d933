"""Loops (malfunction amplification): the detector on hand-made sequences, the runner's
``--stop-on-loop`` and the taxonomy's ``loop`` class for stored episodes."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest

from palaestra import Env, EnvSpec, Policy, RunConfig, Store, action, make, register, run, tool
from palaestra.errors import UsageError
from palaestra.eval.metrics import run_metrics
from palaestra.eval.taxonomy import classify
from palaestra.loops import Loop, LoopWatch, exchange_key, find_loop, loop_at_end
from palaestra.perturb import IRRELEVANT, PERTURB_KINDS, Perturbed, PerturbKind
from palaestra.types import Observation, Task


@pytest.mark.parametrize(
    ("keys", "found"),
    [
        ("aaa", (1, 0)),
        ("xaaay", (1, 1)),
        ("abababz", (2, 0)),
        ("xyzabcabcabc", (3, 3)),
        ("abcdabcdabcd", (4, 0)),
        ("aabbaabbaabb", (4, 0)),  # no key three times in a row; the 4-cycle repeats
    ],
)
def test_find_loop_positives(keys: str, found: tuple[int, int]) -> None:
    assert find_loop(list(keys)) == found


@pytest.mark.parametrize("keys", ["", "a", "aa", "abab", "abcabcab", "abcdeabcde", "abcdefghij", "aabaab"])
def test_find_loop_negatives(keys: str) -> None:
    assert find_loop(list(keys)) is None


def test_find_loop_repeats_and_period_bounds() -> None:
    assert find_loop(list("aa"), repeats=2) == (1, 0)
    assert find_loop(list("abcdeabcdeabcde")) is None  # period 5 > max_period 4
    assert find_loop(list("abcdeabcdeabcde"), max_period=5) == (5, 0)
    assert find_loop(list("aaaa"), max_period=2) == (1, 0)  # reported with its shortest period


def test_loop_at_end_only_sees_loops_that_are_still_going() -> None:
    assert loop_at_end(list("xyababab")) == (2, 2)
    assert loop_at_end(list("aaab")) is None
    assert loop_at_end(list("abcabcabc")) == (3, 0)
    assert loop_at_end(list("aaaaaa")) == (1, 3)


def exchange(name: str, answer: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    act = {"role": "assistant", "content": "", "tool_calls": [{"id": "x", "name": name, "arguments": {}}]}
    return act, [{"role": "tool", "name": name, "content": answer}]


def test_watch_needs_the_same_answer_too_and_ignores_call_ids() -> None:
    w = LoopWatch()
    assert [w.add(*exchange("move", f"at {i}")) for i in range(5)] == [None] * 5  # a corridor: no loop
    w = LoopWatch()
    seen = [w.add(*exchange("move", "a wall")) for _ in range(3)]
    assert seen == [None, None, Loop(1, 0)]
    a, b = exchange("move", "wall")
    a2 = {**a, "tool_calls": [{**a["tool_calls"][0], "id": "other"}]}
    assert exchange_key(a, b) == exchange_key(a2, b)
    w = LoopWatch(repeats=2, max_period=2)
    keys = [w.add(*exchange(n, "ok")) for n in ("x", "open", "close", "open", "close")]
    assert keys[-1] == Loop(2, 1)
    with pytest.raises(ValueError):
        LoopWatch(repeats=1)


class Stuck(Env):
    """A door that never opens: pushing it always gets the same answer."""

    spec = EnvSpec(name="stuck-door", max_steps=12)

    def generate(self, rng: random.Random, difficulty: int) -> dict[str, Any]:
        return {"n": rng.randint(0, 10**6)}

    def setup(self, task: Task) -> str:
        return "Open the door."

    @tool
    def push(self) -> str:
        """Push the door."""
        return "The door does not move."

    @tool
    def give_up(self) -> str:
        """Stop trying."""
        self.finish(False)
        return "ok"

    def expert(self) -> Policy:
        return _Pusher(self)


class _Pusher(Policy):
    async def act(self, observation: Observation) -> Any:
        return action("push")


register(Stuck)


async def test_stop_on_loop_ends_the_episode_and_the_taxonomy_says_loop(tmp_path: Path) -> None:
    st = Store(tmp_path / "s.db")
    plain = await run(RunConfig(envs=["stuck-door"], agent="expert", tasks=2), st)
    stopped = await run(RunConfig(envs=["stuck-door"], agent="expert", tasks=2, stop_on_loop=True), st)
    for e in st.episodes(plain):
        assert e["steps"] == 12 and e["status"] == "truncated" and e["error"] is None
        d = classify(st.episode(plain, e["id"]))
        assert d.category == "loop" and d.detail == "the same action repeated 3x from step 0"
    for e in st.episodes(stopped):
        assert e["steps"] == 3 and e["status"] == "truncated"
        assert e["error"] == "loop: the same action repeated 3x from step 0"
        ep = st.episode(stopped, e["id"])
        assert [s["info"].get("loop") for s in ep["steps"]] == [None, None, {"period": 1, "start": 0}]
        d = classify(ep)
        assert d.category == "loop" and "env_error" not in d.tags and d.detail.startswith("the same action")
    m = run_metrics(st, stopped)
    assert m["overall"]["outcomes"] == {"loop": 2}
    assert json.loads(json.dumps(st.run(stopped)["config"]))["stop_on_loop"] is True


def test_a_stored_loop_without_its_steps_is_still_a_loop_when_the_runner_stopped_it() -> None:
    row = {"status": "truncated", "success": 0, "steps": 3, "invalid_actions": 3, "error": "loop: a cycle"}
    assert classify(row).category == "invalid_actions"  # most actions invalid comes first
    row["invalid_actions"] = 0
    assert classify(row).category == "loop"


async def perturbed_run(kind: PerturbKind, seed: int, rate: float = 0.5) -> list[tuple[str, int]]:
    """The tool results a perturbed guess env gives the same fixed actions, and how many were rewritten."""
    env = Perturbed(make("guess"), kind, rate, seed=seed)  # type: ignore[arg-type]
    task = env.tasks("test", 1, seed=1)[0]
    await env.reset(task)
    out = []
    for g in (10, 40, 70, 90, 95, 99):
        step = await env.step(action("guess", number=g))
        out += [(m.content, step.info["perturbed"]) for m in step.observation.messages]
    return out


@pytest.mark.parametrize("kind", PERTURB_KINDS)
async def test_perturbations_are_deterministic_from_their_seed(kind: PerturbKind) -> None:
    a, b = await perturbed_run(kind, 3), await perturbed_run(kind, 3)
    assert a == b
    assert 0 < sum(n for _, n in a) < len(a)  # some results rewritten, not all
    assert a != await perturbed_run(kind, 4)  # another seed, other draws


async def test_each_perturbation_rewrites_as_documented() -> None:
    clean = [c for c, _ in await perturbed_run("error", 0, rate=1e-9)]
    for kind, check in [
        (
            "error",
            lambda new, old: new == "Error: guess failed (a temporary error in the tool service). Try again.",
        ),
        ("repeat", lambda new, old: new.startswith(old) and "Call guess again" in new),
        ("irrelevant", lambda new, old: new.startswith(old) and new[len(old) + 2 :] in IRRELEVANT),
    ]:
        got = [c for c, _ in await perturbed_run(kind, 0, rate=1.0)]  # type: ignore[arg-type]
        assert all(check(new, old) for new, old in zip(got, clean, strict=True)), kind
    with pytest.raises(UsageError):
        Perturbed(make("guess"), "spill", 0.5)  # type: ignore[arg-type]
    with pytest.raises(UsageError):
        Perturbed(make("guess"), "error", 0)  # type: ignore[arg-type]


async def test_a_run_with_perturbations_records_them(tmp_path: Path) -> None:
    st = Store(tmp_path / "s.db")
    cfg = RunConfig(envs=["stuck-door"], agent="expert", tasks=1, perturb="error", perturb_rate=1.0)
    rid = await run(cfg, st)
    ep = st.episode(rid, st.episodes(rid)[0]["id"])
    assert all(s["info"]["perturbed"] == 1 for s in ep["steps"])
    assert ep["steps"][1]["observation"][0]["content"].startswith("Error: push failed")
    assert RunConfig.model_validate(st.run(rid)["config"]).perturb == "error"
