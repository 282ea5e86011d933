"""The Gymnasium adapter passes Gymnasium's own checker on every single-agent environment."""

import warnings

import gymnasium
import pytest
from gymnasium.utils.env_checker import check_env

import palaestra.adapters.gymnasium as adapter
from palaestra import Env, env_names, make

SINGLE = [n for n in env_names() if isinstance(make(n), Env)]


@pytest.mark.parametrize("name", SINGLE)
def test_gymnasium_checker_passes(name: str) -> None:
    env = adapter.GymnasiumEnv(name, difficulty=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the checker reports problems as warnings
        check_env(env, skip_render_check=True)
    env.close()


def test_registered_ids_and_a_solved_episode() -> None:
    env = gymnasium.make("palaestra/guess-v0", difficulty=1)
    obs, info = env.reset(seed=5)
    assert "guess(number: integer)" in obs and info["task_id"].startswith("train-d1-")
    again, _ = env.reset(seed=5)
    assert again == obs  # the seed picks the task
    inner = env.unwrapped.env  # type: ignore[attr-defined]
    lo, hi = inner.low, inner.high
    done = False
    steps = 0
    while not done:
        mid = (lo + hi) // 2
        obs, reward, done, _, info = env.step(f"guess {mid}")
        steps += 1
        if "too low" in obs:
            lo = mid + 1
        elif "too high" in obs:
            hi = mid - 1
    assert reward == 1.0 and info["success"] and steps <= 8
    env.close()


def test_action_forms_and_junk() -> None:
    env = adapter.GymnasiumEnv("guess", difficulty=1)
    env.reset(seed=1)
    for action in ('guess({"number": 1})', '{"name": "guess", "arguments": {"number": 1}}', "guess 1"):
        obs, _, _, _, info = env.step(action)
        assert "outside the range" in obs or "too" in obs
    obs, _, terminated, _, info = env.step("~~ junk ~~")
    assert info["invalid_action"] and not terminated and "no tool call found" in obs
    env.close()


@pytest.mark.parametrize("name", ["maze", "household", "wordle"])
def test_the_expert_solves_through_the_adapter_from_the_env_s_own_observation(name: str) -> None:
    env = gymnasium.make(f"palaestra/{name}-v0", difficulty=1)
    env.reset(seed=3)
    inner = env.unwrapped
    assert inner.observation is not None and inner.observation.messages[0].role == "system"  # type: ignore[attr-defined]
    done, reward, info = False, 0.0, {}
    for _ in range(200):
        _, reward, done, truncated, info = env.step(inner.expert_action())  # type: ignore[attr-defined]
        if done or truncated:
            break
    assert done and reward == 1.0 and info["success"]
    env.close()


def test_an_unclosed_adapter_frees_its_event_loop() -> None:
    import gc

    env = adapter.GymnasiumEnv("guess")
    env.reset(seed=0)
    loop = env._loop
    del env
    gc.collect()
    assert loop.is_closed()
