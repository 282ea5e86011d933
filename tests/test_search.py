"""Search strategies' mechanics with scripted (``mock``) models and the baselines: MCTS expands,
backs up hand-checkable values and keeps to each budget; best-of-N picks the best trajectory; beam
keeps the best states; the env is back in the real state after ``act``; traces reach the store."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
from tests.clitools import PALAESTRA, stderr_lines

from palaestra import (
    Env,
    EnvSpec,
    Message,
    Observation,
    RunConfig,
    Task,
    ToolCall,
    make,
    make_agent,
    run,
    tool,
)
from palaestra.agents.base import check_agent_options
from palaestra.agents.baselines import RandomAgent
from palaestra.agents.search import parse_score
from palaestra.errors import UsageError
from palaestra.models.mock import MockModel
from palaestra.records import EpisodeRecord
from palaestra.runner.episode import RecordingModel, rollout
from palaestra.store import Store


class Line(Env):
    """Walk along a line from 1 to ``target`` (4); progress is position / target."""

    spec = EnvSpec(name="line-test", description="Walk to the target.", max_steps=10)

    def generate(self, rng: Any, difficulty: int) -> dict[str, Any]:
        return {"target": 4, "n": rng.randint(0, 10**9)}

    def setup(self, task: Task) -> str:
        self.pos = 1
        self.target = task.params["target"]
        return f"Reach {self.target}."

    @tool
    def move(self, by: int) -> str:
        """Move along the line.

        Args:
            by: +1 or -1.
        """
        self.pos = max(0, self.pos + by)
        if self.pos >= self.target:
            self.finish(True)
        return f"at {self.pos}"

    def progress(self) -> float:
        return 1.0 if self.success else self.pos / self.target

    def valid_actions(self) -> list[ToolCall]:
        return [ToolCall(id="v", name="move", arguments={"by": b}) for b in (1, -1)]


def _mv(by: int) -> dict[str, Any]:
    return {"tool": "move", "arguments": {"by": by}}


async def _start(
    agent_name: str, script: list[Any] | None = None, **options: Any
) -> tuple[Line, Any, Any, list[Any]]:
    env = Line()
    task = env.tasks("test", 1)[0]
    calls: list[Any] = []
    model = RecordingModel(MockModel(script), calls) if script is not None else None
    agent = make_agent(agent_name, env=env, model=model, **options)
    obs = await env.reset(task)
    await agent.reset(task)
    return env, agent, obs, calls


def _by(action: Message) -> int:
    return int(action.tool_calls[0].arguments["by"])


async def test_mcts_expands_and_backs_up_hand_checkable_values() -> None:
    # root proposes +1, -1 (2 calls); simulations 1-2 step them; simulation 3 picks +1 by UCT and
    # proposes from there (+1 twice: one distinct action) and steps it
    _env, agent, obs, calls = await _start("mcts", [_mv(1), _mv(-1), _mv(1), _mv(1)], simulations=3, k=2)
    act = await agent.act(obs)
    assert _by(act) == 1 and len(calls) == 4
    trace = agent.pop_trace()
    tree = trace["tree"]
    plus, minus = tree["children"]
    assert (plus["visits"], plus["eval"], minus["visits"], minus["eval"]) == (2, 0.5, 1, 0.0)
    assert plus["children"][0]["eval"] == 0.75 and plus["children"][0]["visits"] == 1
    assert plus["value"] == pytest.approx((0.5 + 0.75) / 2, abs=1e-4)
    assert tree["visits"] == 3 and tree["value"] == pytest.approx(1.25 / 3, abs=1e-4)
    assert (
        plus.get("chosen")
        and trace["simulations"] == 3
        and trace["spent"] == {"model_calls": 4, "env_steps": 3}
    )
    assert agent.pop_trace() is None  # handed over once


async def test_mcts_keeps_to_its_model_call_budget() -> None:
    _env, agent, obs, calls = await _start(
        "mcts", [_mv(1), _mv(-1), _mv(1), _mv(-1), _mv(1)] * 4, simulations=50, k=2, max_model_calls=3
    )
    await agent.act(obs)
    trace = agent.pop_trace()
    assert len(calls) == 3 and trace["spent"]["model_calls"] == 3
    assert trace["stopped_by"] == "model calls" and trace["simulations"] < 50


async def test_mcts_over_valid_actions_with_a_rollout_keeps_every_budget() -> None:
    env = make("maze")
    task = env.tasks("test", 1, seed=1)[0]
    for opts, key, limit in (
        ({"max_env_steps": 7}, "env_steps", 7),
        ({"simulations": 5}, None, 5),
    ):
        agent = make_agent("mcts", env=env, inner="noisy", epsilon=0.5, expand="valid", rollout=2, **opts)
        obs = await env.reset(task)
        await agent.reset(task)
        await agent.act(obs)
        trace = agent.pop_trace()
        if key is None:
            assert trace["simulations"] == limit and trace["tree"]["visits"] == limit
        else:
            assert trace["spent"][key] == limit and trace["stopped_by"] == "env steps"


async def test_the_env_is_back_in_the_real_state_after_act() -> None:
    env, agent, obs, _ = await _start("mcts", [_mv(1), _mv(-1)] * 20, simulations=8, k=2)
    before = env.snapshot()
    await agent.act(obs)
    assert env.pos == before["pos"] and env.steps == before["steps"] and not env.done


async def test_best_of_n_plays_the_best_trajectory_and_replays_it() -> None:
    # trajectory 1 walks back (ends at 0), trajectory 2 walks on (ends at 3)
    env, agent, obs, calls = await _start("bestofn", [_mv(-1), _mv(-1), _mv(1), _mv(1)], n=2, depth=2)
    first = await agent.act(obs)
    trace = agent.pop_trace()
    assert _by(first) == 1 and trace["values"] == [0.0, 0.75] and trace["chosen"] == 1
    back, on = trace["tree"]["children"]  # each first action holds its trajectory's value
    assert (back["value"], on["value"], on.get("chosen")) == (0.0, 0.75, True)
    assert env.pos == 1 and len(calls) == 4
    step = await env.step(first)
    second = await agent.act(step.observation)
    assert _by(second) == 1 and len(calls) == 4  # replayed: no new call
    assert agent.pop_trace()["replay"] == 2


async def test_beam_keeps_the_best_states() -> None:
    # level 1: the root proposes -1, +1 (0.0, 0.5); level 2: +1 proposes +1, -1 (0.75, 0.25) and -1
    # proposes -1 twice (one distinct action, 0.0); the best state (0.75) is reached through +1
    script = [_mv(-1), _mv(1), _mv(1), _mv(-1), _mv(-1), _mv(-1)]
    _env, agent, obs, calls = await _start("beam", script, width=2, depth=2)
    act = await agent.act(obs)
    trace = agent.pop_trace()
    assert _by(act) == 1 and trace["levels"] == 2 and len(calls) == 6
    minus, plus = trace["tree"]["children"]
    assert [c["eval"] for c in plus["children"]] == [0.75, 0.25]
    assert [c["eval"] for c in minus["children"]] == [0.0] and plus.get("chosen")
    assert trace["spent"] == {"model_calls": 6, "env_steps": 5}


async def test_self_evaluation_values_states_by_the_models_rating() -> None:
    # expand=valid proposes +1 then -1 with no call; the model reads each state's transcript and
    # rates "at 2" (after +1) 2/10 and "at 0" (after -1) 9/10: -1 wins
    prompts: list[str] = []

    def rate(messages: list[Message], tools: Any) -> str:
        prompts.append(messages[-1].content)
        return "2" if "tool: at 2" in prompts[-1] else "9"

    env = Line()
    task = env.tasks("test", 1)[0]
    calls: list[Any] = []
    model = RecordingModel(MockModel(rate), calls)
    agent = make_agent(
        "mcts", env=env, model=model, inner="random", expand="valid", value="self", simulations=2
    )
    obs = await env.reset(task)
    await agent.reset(task)
    act = await agent.act(obs)
    assert _by(act) == -1 and len(calls) == 2
    assert all("How close is the task" in p and "Reach 4." in p for p in prompts)
    assert agent.pop_trace()["spent"]["model_calls"] == 2
    assert parse_score("I'd say 7/10") == 0.7 and parse_score("none") is None


def test_bad_search_options_are_usage_errors() -> None:
    env = make("maze")
    for opts, word in (
        ({"simulations": 0}, "simulations"),
        ({"value": "vibes"}, "value"),
        ({"expand": "all"}, "expand"),
        ({"max_model_calls": 0}, "max_model_calls"),
        ({"c": -1}, "c"),
    ):
        with pytest.raises(UsageError, match=word):
            make_agent("mcts", env=env, inner="noisy", **opts)
    with pytest.raises(UsageError, match="epsilon"):
        make_agent("noisy", env=env, epsilon=2)
    # before a run starts, the options a strategy passes on are checked against its inner agent
    check_agent_options("mcts", {"inner": "noisy", "epsilon": 0.5, "simulations": 4, "value": "progress"})
    with pytest.raises(UsageError, match="agent 'noisy' takes no option 'bogus'"):
        check_agent_options("mcts", {"inner": "noisy", "simulations": 4, "bogus": 1})
    with pytest.raises(UsageError, match="'width'"):
        check_agent_options("bestofn", {"inner": "expert", "width": 2})  # beam's, not bestofn's


async def test_a_searched_episode_stores_its_trees_and_scores_the_real_trajectory(tmp_path: Path) -> None:
    env = make("crafting")
    task = env.tasks("test", 1, seed=4)[0]
    agent = make_agent("mcts", env=env, inner="noisy", epsilon=0.5, simulations=4, seed=3)
    rec = await rollout(env, agent, task, record=EpisodeRecord(id="e", task=task, agent="mcts", model=""))
    assert rec.success and all(s.trace and s.trace["strategy"] == "mcts" for s in rec.steps)
    assert rec.steps[-1].trace["episode_spent"]["decisions"] == rec.n_steps
    store = Store(tmp_path / "s.db")
    store.create_run("r", {})
    store.write_episode("r", rec)
    stored = store.episode("r", "e")["steps"]
    assert stored[0]["trace"]["tree"]["children"]


async def test_noisy_is_the_expert_at_zero_and_the_random_baseline_at_one() -> None:
    env = make("maze")
    task = env.tasks("test", 1, seed=2)[0]

    async def actions(agent: Any, n: int = 6) -> list[str]:
        obs: Observation = await env.reset(task)
        await agent.reset(task)
        out = []
        for _ in range(n):
            act = await agent.act(obs)
            out.append(act.tool_calls[0].model_dump_json(exclude={"id"}))
            obs = (await env.step(act)).observation
        return out

    expert = await actions(env.expert())
    assert await actions(make_agent("noisy", env=env, epsilon=0.0, seed=9)) == expert
    assert await actions(make_agent("noisy", env=env, epsilon=1.0, seed=9)) == await actions(
        RandomAgent(env, 9)
    )
    a, b = (
        make_agent("noisy", env=env, epsilon=0.5, seed=4),
        make_agent("noisy", env=env, epsilon=0.5, seed=4),
    )
    assert await actions(a, 12) == await actions(b, 12)  # seeded


def test_cli_runs_mcts_over_noisy_without_a_model_and_asks_for_one_over_tools(tmp_path: Path) -> None:
    store = str(tmp_path / "s.db")
    ok = subprocess.run(
        [
            *PALAESTRA,
            "run",
            "maze",
            "--agent",
            "mcts",
            "--agent-opt",
            "inner=noisy",
            "--agent-opt",
            "simulations=4",
            "-n",
            "1",
            "--max-steps",
            "5",
            "--store",
            store,
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ok.returncode == 0, ok.stderr
    bad = subprocess.run(
        [*PALAESTRA, "run", "maze", "--agent", "mcts", "-n", "1", "--store", store],
        capture_output=True,
        text=True,
        timeout=60,
    )
    lines = stderr_lines(bad.stderr)
    assert bad.returncode != 0 and len(lines) == 1 and "needs a model" in lines[0], bad.stderr


async def test_astar_expands_the_cheapest_state_and_plays_the_path_to_the_goal() -> None:
    # valid actions +1, -1 at every state; f = depth + 10 * (1 - progress): the +1 chain is always
    # cheapest, so 3 expansions reach pos 4 (success) and the path is played without searching again
    env, agent, obs, _ = await _start("astar", inner="random", expand="valid", expansions=10, k=2)
    act = await agent.act(obs)
    trace = agent.pop_trace()
    assert _by(act) == 1 and trace["goal_found"] and trace["expansions"] == 3
    assert trace["spent"]["env_steps"] == 5  # +1,-1 at pos 1 and 2; +1 at pos 3 is the goal
    for _ in range(2):
        step = await env.step(act)
        act = await agent.act(step.observation)
        assert _by(act) == 1 and "replay" in agent.pop_trace()
    assert (await env.step(act)).info["success"]


async def test_a_judge_model_values_states_and_is_charged_to_the_budget(tmp_path: Path) -> None:
    script = tmp_path / "judge.json"
    script.write_text('["3", "8"]')  # rates +1 (first valid action) 3/10 and -1 8/10
    _env, agent, obs, calls = await _start(
        "mcts", inner="random", expand="valid", value=f"judge:mock:{script}", simulations=2
    )
    act = await agent.act(obs)
    trace = agent.pop_trace()
    assert _by(act) == -1 and trace["spent"]["model_calls"] == 2 and calls == []
    assert [c["eval"] for c in trace["tree"]["children"]] == [0.3, 0.8]
    await agent.aclose()


async def test_a_chat_agent_searched_over_valid_actions_keeps_a_consistent_history() -> None:
    # the model is asked only for real decisions' fallbacks: here never; the chosen valid action
    # is written into the inner chat agent's history with the observation it answered
    _env, agent, obs, calls = await _start("mcts", ["unused"], expand="valid", simulations=2)
    act = await agent.act(obs)
    assert _by(act) == 1 and calls == []
    history = agent.inner.history
    assert history[-1] == act and history[:-1] == obs.messages


async def test_an_oracle_inside_a_strategy_still_reads_the_task_when_the_run_withholds_it(
    tmp_path: Path,
) -> None:
    # value=self makes the run model-driven, so the runner resets the agent with task.public(); the
    # shop expert inside reads the task's parameters, and must still get them
    st = Store(tmp_path / "s.db")
    opts = {"inner": "noisy", "epsilon": 0.0, "value": "self", "simulations": 1}
    rid = await run(RunConfig(envs=["shop"], agent="mcts", agent_options=opts, model="mock", tasks=2), st)
    summary = st.summary(rid)
    assert summary["envs"]["shop"]["errors"] == 0, st.error_examples(rid)
    assert summary["success_rate"] == 1.0


async def test_a_judges_calls_are_recorded_with_the_episode_and_its_model_closed_with_it(
    tmp_path: Path,
) -> None:
    script = tmp_path / "judge.json"
    script.write_text('["3", "8"]')
    _env, agent, obs, calls = await _start(
        "mcts", ["unused"], inner="random", expand="valid", value=f"judge:mock:{script}", simulations=2
    )
    await agent.act(obs)
    assert len(calls) == 2  # the judge's two ratings are the episode's calls; random calls nothing
    assert agent.members.built  # the judge was built for this episode...
    await agent.aclose()
    assert agent.members.built == {}  # ...and closed with it
