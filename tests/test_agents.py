"""Agents driven by the mock model: what happens with good, malformed and unparseable replies."""

from pathlib import Path

from palaestra import RunConfig, Store, make, make_agent, run
from palaestra.agents.react import parse_action
from palaestra.models.mock import MockModel
from palaestra.records import EpisodeRecord
from palaestra.runner.episode import RecordingModel, rollout


def test_parse_action_forms() -> None:
    c = parse_action('Thought: go\nAction: guess({"number": 7})', "c1")
    assert c is not None and c.name == "guess" and c.arguments == {"number": 7} and c.parse_error is None
    c = parse_action("Action: look()", "c2")
    assert c is not None and c.name == "look" and c.arguments == {}
    c = parse_action('Action: guess\nAction Input: {"number": 3}', "c3")
    assert c is not None and c.arguments == {"number": 3}
    c = parse_action("Action: guess({number: 3})", "c4")
    assert c is not None and c.parse_error and c.raw_arguments == "{number: 3}"
    c = parse_action("Action: guess([1, 2])", "c5")
    assert c is not None and c.parse_error == "arguments must be a JSON object"
    assert parse_action("I will guess seven.", "c6") is None


async def _play(agent_name: str, script: list[object]) -> EpisodeRecord:
    env = make("guess")
    task = env.tasks("test", 1, difficulty=1)[0]
    secret = task.params["secret"]
    script = [s.replace("SECRET", str(secret)) if isinstance(s, str) else s for s in script]
    script = [{"tool": "guess", "arguments": {"number": secret}} if s == "WIN" else s for s in script]
    rec = EpisodeRecord(id="e", task=task, agent=agent_name, model="mock")
    model = RecordingModel(MockModel(script), rec.calls)
    agent = make_agent(agent_name, env=env, model=model)
    return await rollout(env, agent, task, record=rec)  # type: ignore[arg-type]


async def test_tools_agent_malformed_tool_calls_are_invalid_steps_and_the_episode_goes_on() -> None:
    rec = await _play(
        "tools",
        [
            {"tool_calls": [{"name": "guess", "arguments": "{not json"}]},  # invalid JSON
            {"tool": "shout", "arguments": {}},  # unknown tool
            {"tool": "guess", "arguments": {"number": "seven"}},  # wrong type
            "I have no idea.",  # no tool call at all
            "WIN",
        ],
    )
    assert rec.status == "done" and rec.success and rec.invalid_actions == 4 and rec.n_steps == 5
    errors = [s.info["invalid_action"] for s in rec.steps]
    assert errors == [True, True, True, True, False]
    # what the agent was told after each bad call
    told = [rec.steps[i + 1].observation[0].content for i in range(4)]
    assert "not a valid JSON object" in told[0]
    assert "unknown tool 'shout'" in told[1] and "guess" in told[1]
    assert "number" in told[2]
    assert "no tool call found" in told[3]
    assert len(rec.calls) == 5


async def test_react_agent_format_error_goes_back_and_counts_invalid() -> None:
    rec = await _play(
        "react", ["Thought: hmm, maybe fifty", 'Thought: ok\nAction: guess({"number": SECRET})']
    )
    assert rec.success and rec.invalid_actions == 1 and rec.n_steps == 2


async def test_react_prompt_carries_tools_and_format_reminder() -> None:
    seen: list[list[str]] = []

    def script(messages, tools):  # type: ignore[no-untyped-def]
        seen.append([m.content for m in messages])
        assert tools is None  # react never sends native tools
        return "no action here"

    env = make("guess")
    task = env.tasks("test", 1)[0]
    rec = EpisodeRecord(id="e", task=task, agent="react", model="mock")
    agent = make_agent("react", env=env, model=MockModel(script))
    await rollout(env, agent, task, record=rec, max_steps=2)
    assert "Action: tool_name" in seen[0][0]  # the format is in the system prompt
    assert "guess(number: integer)" in seen[0][1]  # tools described in text
    assert "Format error" in seen[1][-1]
    assert rec.invalid_actions == 2 and rec.status == "truncated"


async def test_model_failure_ends_episode_as_error_with_reason(tmp_path: Path) -> None:
    st = Store(tmp_path / "s.db")
    model = MockModel([RuntimeError("server exploded")], cycle=True)
    rid = await run(RunConfig(envs=["guess"], agent="tools", model="mock", tasks=3), st, model=model)
    s = st.summary(rid)
    assert s["episodes"] == 3 and s["errors"] == 3
    assert all(e["error"].startswith("model: ") for e in st.episodes(rid))


async def test_failed_model_call_is_recorded_with_its_error(tmp_path: Path) -> None:
    st = Store(tmp_path / "s.db")
    model = MockModel([{"tool": "guess", "arguments": {"number": 1}}, RuntimeError("gone")])
    rid = await run(
        RunConfig(envs=["guess"], agent="tools", model="mock", tasks=1, difficulty=3), st, model=model
    )
    ep = st.episode(rid, st.episodes(rid)[0]["id"])
    assert [c["error"] is None for c in ep["calls"]] == [True, False]
    assert "gone" in ep["calls"][1]["error"] and ep["status"] == "error"


async def test_model_driven_agents_never_receive_the_tasks_hidden_params(tmp_path: Path) -> None:
    from palaestra import register_agent
    from palaestra.agents.tools import ChatAgent

    seen = []

    class Spy(ChatAgent):
        async def reset(self, task):  # type: ignore[no-untyped-def]
            seen.append(task)
            await super().reset(task)

    register_agent("spy-test", lambda *, env, model, seed, **kw: Spy(model), needs_model=True)
    st = Store(tmp_path / "s.db")
    script = [{"tool": "guess", "arguments": {"number": 1}}]
    await run(RunConfig(envs=["guess"], agent="spy-test", model="mock", tasks=2, max_steps=1), st,
              model=MockModel(script, cycle=True))  # fmt: skip
    assert len(seen) == 2 and all(t.params == {} and t.id.startswith("test-") for t in seen)
    # the oracle baselines still get them (the expert reads the secret through its env)
    rid = await run(RunConfig(envs=["guess"], agent="expert", tasks=2), st)
    assert st.summary(rid)["success_rate"] == 1.0
