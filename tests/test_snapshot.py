"""Every built-in single-agent env supports tree search: ``restore(snapshot())`` then the same actions
give the same observations byte for byte, a snapshot is independent of what happens after it, and
the expert still plays to success from a restored state."""

from __future__ import annotations

import pytest

from palaestra import Env, make
from palaestra.agents.baselines import RandomAgent
from palaestra.envs import BUILTIN_ENVS
from palaestra.policy import Agent
from palaestra.types import Message, Observation, Step, Task

# the built-in single-agent envs (env_names() would also list what other tests registered)
SINGLE = sorted(n for n in BUILTIN_ENVS if isinstance(make(n), Env))


def _bytes(step: Step) -> str:
    return step.model_dump_json()


async def _play(env: Env, agent: Agent, obs: Observation, n: int) -> tuple[list[Message], Observation]:
    actions: list[Message] = []
    for _ in range(n):
        if env.done:
            break
        act = await agent.act(obs)
        actions.append(act)
        obs = (await env.step(act)).observation
    return actions, obs


async def _two_expert_steps(env: Env, seed: int) -> tuple[Task, Agent, Observation]:
    """Reset ``env`` on a hard test task and let its expert play two steps."""
    task = env.tasks("test", 1, seed=seed, difficulty=env.spec.difficulties[-1])[0]
    obs = await env.reset(task)
    expert = env.expert()
    assert expert is not None
    await expert.reset(task)
    _, obs = await _play(env, expert, obs, 2)
    return task, expert, obs


@pytest.mark.parametrize("name", SINGLE)
async def test_restore_then_the_same_actions_give_the_same_observations(name: str) -> None:
    env = make(name)
    assert isinstance(env, Env)
    try:
        task, expert, obs = await _two_expert_steps(env, 2)
        snap = env.snapshot()
        rand = RandomAgent(env, seed=5)
        await rand.reset(task)
        # a mix of random and expert actions after the snapshot, and the steps they gave
        actions, _ = await _play(env, rand, obs, 3)
        tail, _ = await _play(env, expert, obs, 2)
        actions += tail
        env.restore(snap)
        first = [_bytes(await env.step(a)) for a in actions]
        env.restore(snap)  # the snapshot did not change when the env went on from it
        again = [_bytes(await env.step(a)) for a in actions]
        assert first == again
    finally:
        await env.close()


@pytest.mark.parametrize("name", SINGLE)
async def test_the_expert_still_succeeds_after_a_restore(name: str) -> None:
    env = make(name)
    assert isinstance(env, Env)
    try:
        task, expert, obs = await _two_expert_steps(env, 3)
        snap = env.snapshot()
        rand = RandomAgent(env, seed=1)
        await rand.reset(task)
        await _play(env, rand, obs, 3)  # wander off, then come back
        env.restore(snap)
        await _play(env, expert, obs, env.spec.max_steps)
        assert env.success, name
    finally:
        await env.close()
