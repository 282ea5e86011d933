"""The crafting expert: a recipe-tree planner that replans from the inventory before every call."""

from __future__ import annotations

from typing import TYPE_CHECKING

from palaestra import Message, Observation, Policy, action
from palaestra.envs.crafting.planner import plan

if TYPE_CHECKING:
    from palaestra.envs.crafting.env import CraftingEnv


class Planner(Policy):
    """Plans the least production that reaches the goal from the current inventory (quantities
    rounded up to whole batches, tools and stations made once and first) and makes its first call.
    Replanning from the inventory each turn keeps it right whatever happened before; on a fresh
    episode it makes exactly the plan's calls, each item after everything it depends on."""

    env: CraftingEnv

    def choose(self, observation: Observation) -> Message:
        env = self.env
        calls = plan(env.goal, env.count, env.inventory).actions()
        if not calls:
            return action("inventory")  # only reached after the goal is held
        name, item, count = calls[0]
        return action(name, item=item, count=count)
