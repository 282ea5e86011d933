"""The guess environment's tests: the example of docs/add-an-environment.md, section 10."""

from palaestra import action, check_env
from palaestra.envs.guess import GuessEnv


def test_contract_and_baselines() -> None:
    report = check_env("guess", n=30)
    assert report.ok, report.problems
    assert report.expert_success >= 0.95
    assert report.random_success < 0.3


async def test_out_of_range_guess_is_invalid() -> None:
    env = GuessEnv()
    task = env.tasks("test", 1, difficulty=1)[0]
    await env.reset(task)
    step = await env.step(action("guess", number=task.params["high"] + 1))
    assert step.info["invalid_action"] and not step.terminated
    assert "outside the range" in step.observation.text
