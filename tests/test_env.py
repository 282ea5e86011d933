import pytest

import palaestra
from palaestra import Message, ToolCall, UnknownNameError, UsageError, make
from palaestra.env import split_of


def test_registry_lists_builtins_and_runtime_registrations() -> None:
    names = palaestra.env_names()
    assert {"guess", "maze", "counter"} <= set(names)
    with pytest.raises(UnknownNameError, match=r"valid environments: .*guess"):
        make("no-such-env")


def test_tasks_reproducible_distinct_and_split_by_content() -> None:
    env = make("guess")
    a = env.tasks("test", 50, seed=3)
    assert [t.id for t in a] == [t.id for t in make("guess").tasks("test", 50, seed=3)]
    assert a != env.tasks("test", 50, seed=4)
    assert len({t.id for t in a}) == 50
    assert {t.difficulty for t in a} == {1, 2, 3}
    train = env.tasks("train", 300)
    keys = {env.task_key(t.params) for t in train}
    assert not keys & {env.task_key(t.params) for t in a}
    assert all(split_of(env.task_key(t.params)) == "test" for t in a)
    assert all(t.id.startswith("test-") for t in a)


def test_bad_split_and_difficulty_are_usage_errors() -> None:
    env = make("guess")
    with pytest.raises(UsageError, match="unknown split"):
        env.tasks("val", 1)  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="no difficulty 9"):
        env.tasks("test", 1, difficulty=9)


async def test_step_without_tool_call_is_invalid_and_episode_goes_on() -> None:
    env = make("guess")
    task = env.tasks("test", 1)[0]
    await env.reset(task)
    step = await env.step(Message(role="assistant", content="I think 42"))
    assert step.info["invalid_action"] and not step.terminated
    assert "no tool call found" in step.observation.messages[0].content
    good = await env.step(
        Message(
            role="assistant",
            tool_calls=[ToolCall(id="a", name="guess", arguments={"number": task.params["secret"]})],
        )
    )
    assert good.terminated and good.reward == 1.0 and good.info["success"]


async def test_snapshot_restore_gives_same_future() -> None:
    env = make("guess")
    task = env.tasks("test", 1, difficulty=3)[0]
    await env.reset(task)
    snap = env.snapshot()
    call = Message(
        role="assistant",
        tool_calls=[ToolCall(id="a", name="guess", arguments={"number": task.params["low"]})],
    )
    first = await env.step(call)
    env.restore(snap)
    again = await env.step(call)
    assert first.model_dump() == again.model_dump()


@pytest.mark.parametrize("engine", [palaestra.Env, palaestra.MultiAgentEnv])
def test_a_tool_may_not_replace_an_engine_method(engine: type) -> None:
    from palaestra import EnvSpec, tool

    with pytest.raises(TypeError, match=rf"may not replace {engine.__name__}.close.*@tool\(name='close'\)"):

        class Bad(engine):  # type: ignore[misc,valid-type]
            spec = EnvSpec(name="bad")

            @tool
            def close(self) -> str:
                """Close the door."""
                return "closed"


async def test_the_agent_is_told_the_step_limit_it_is_held_to() -> None:
    from palaestra import EpisodeRecord, rollout
    from palaestra.agents.baselines import RandomAgent

    for name, limit, told in (("guess", 7, True), ("maze", 7, False)):  # maze states its own budget
        env = make(name)
        task = env.tasks("test", 1)[0]
        rec = EpisodeRecord(id="e", task=task, agent="random", model="")
        await rollout(env, RandomAgent(env), task, record=rec, max_steps=limit)
        goal = rec.steps[0].observation[1].content
        assert ("You have at most 7 turns" in goal) is told, goal
        assert rec.n_steps <= limit


def test_expert_policy_is_built_with_the_env_passed_in() -> None:
    class Oracle(palaestra.Policy):
        def choose(self, observation: palaestra.Observation) -> Message:
            return Message(role="assistant", content="")

    class WithExpert(palaestra.Env):
        spec = palaestra.EnvSpec(name="with-expert")
        expert_policy = Oracle

    env = WithExpert()
    expert = env.expert()
    assert isinstance(expert, Oracle) and expert.env is env
    assert env.expert() is not expert  # a fresh policy per call (per episode)

    class WithoutExpert(palaestra.Env):
        spec = palaestra.EnvSpec(name="without-expert")

    assert WithoutExpert().expert() is None
