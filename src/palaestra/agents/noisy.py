"""``noisy``: the env's expert, replaced with probability ε by a random valid action.

A baseline with a tunable skill (ε = 0 is the expert, ε = 1 the random baseline), and the policy
that search strategies are measured with: ``--agent mcts --agent-opt inner=noisy``. Seeded: the same
seed and task give the same coin flips and the same random actions.
"""

from __future__ import annotations

import random

from palaestra.agents.baselines import RandomAgent, expert_agent
from palaestra.env import Env
from palaestra.errors import UsageError
from palaestra.models.base import Model
from palaestra.policy import Agent
from palaestra.types import Message, Observation, Task


class NoisyExpert:
    """Acts as ``expert`` except that, with probability ``epsilon``, it takes the action the random
    baseline would take instead."""

    def __init__(self, env: Env, expert: Agent, epsilon: float, seed: int = 0) -> None:
        self.env = env
        self.expert = expert
        self.epsilon = epsilon
        self.seed = seed
        self.random = RandomAgent(env, seed)
        self.rng = random.Random(seed)
        self.task_id = ""
        self.noisy_steps = 0

    async def reset(self, task: Task) -> None:
        self.task_id = task.id
        self.rng = random.Random(f"noisy/{self.seed}/{task.id}")
        self.noisy_steps = 0
        await self.expert.reset(task)
        await self.random.reset(task)

    async def act(self, observation: Observation) -> Message:
        if self.rng.random() < self.epsilon:
            self.noisy_steps += 1
            return await self.random.act(observation)
        return await self.expert.act(observation)

    def reseed(self, seed: int) -> None:
        """Draw other coin flips and random actions from here on (a search strategy gives each
        branch it samples its own stream)."""
        self.rng = random.Random(f"noisy/{self.seed}/{self.task_id}/{seed}")
        self.random.reseed(seed)


def noisy_agent(
    *,
    env: Env,
    model: Model | None = None,
    seed: int = 0,
    config: object = None,
    max_context_tokens: int | None = None,
    epsilon: float = 0.3,
) -> Agent:
    """``--agent noisy --agent-opt epsilon=0.3``: the expert with probability 1 - ε, else a random
    valid action."""
    if isinstance(epsilon, bool) or not isinstance(epsilon, int | float) or not 0.0 <= epsilon <= 1.0:
        raise UsageError(f"agent 'noisy': epsilon must be a number from 0 to 1, got {epsilon!r}")
    return NoisyExpert(env, expert_agent(env=env), float(epsilon), seed)
