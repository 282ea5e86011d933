"""The code environment's expert: it submits the task's reference solution."""

from __future__ import annotations

from typing import TYPE_CHECKING

from palaestra import Message, Observation, Policy, action

if TYPE_CHECKING:
    from palaestra.envs.code.env import CodeEnv


class ReferenceSubmitter(Policy):
    """Submits the source of the family's reference function, wrapped under the task's name."""

    env: CodeEnv

    def choose(self, observation: Observation) -> Message:
        return action("submit", code=self.env.problem.solution())
