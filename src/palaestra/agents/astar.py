"""``astar``: best-first (A*) search over env states, ToolChain*-style.

``--agent astar --agent-opt inner=tools --agent-opt expansions=16``. From the real state, the open
state with the lowest cost ``f = g + weight * (1 - value)`` is expanded next (``g``: steps from the
real state; ``value``: env progress, ``self`` or ``judge:MODEL``; ``k`` actions sampled from the
inner agent per expansion, or the env's valid actions with ``expand=valid``). When a state that
solves the task is reached, its whole path is played (one action per ``act``, while the real env
answers as the searched one did); otherwise the first action towards the best state reached is
played and the next ``act`` searches again. A decision stops at ``expansions`` or its budget.
"""

from __future__ import annotations

import heapq
import itertools
from typing import Any

from palaestra.agents.search import BudgetSpent, Node, SearchAgent, check_count, make_strategy
from palaestra.env import Env
from palaestra.errors import UsageError
from palaestra.models.base import GenerateConfig, Model
from palaestra.policy import Agent
from palaestra.types import Message, Observation


class AStarAgent(SearchAgent):
    strategy = "astar"

    def __init__(self, *args: Any, expansions: int, k: int, weight: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.expansions = check_count("expansions", expansions, minimum=1)
        self.k = check_count("k", k, minimum=1)
        if isinstance(weight, bool) or not isinstance(weight, int | float) or weight < 0:
            raise UsageError(f"search option weight must be a number >= 0, got {weight!r}")
        self.weight = float(weight)

    def cost(self, node: Node) -> float:
        """``g + weight * h``: steps taken from the real state plus the weighted distance to done."""
        return node.depth + self.weight * (1.0 - node.value)

    async def decide(self, observation: Observation, real: Any) -> tuple[Message, dict[str, Any]]:
        replayed = self.replay(observation)
        if replayed is not None:
            return replayed
        root = self.root(observation, real)
        reached: list[Node] = []
        expanded = 0
        stopped = "expansions"
        goal: Node | None = None
        order = itertools.count()
        frontier: list[tuple[float, int, Node]] = [(self.cost(root), next(order), root)]
        try:
            while frontier and goal is None and expanded < self.expansions:
                _, _, node = heapq.heappop(frontier)
                if node.done:
                    continue
                expanded += 1
                for act, agent in await self.searcher.propose(node, self.k):
                    child = await self.searcher.step(node, act, agent)
                    child.visits, child.total = 1, child.value
                    node.children.append(child)
                    reached.append(child)
                    if child.success:
                        goal = child
                        break
                    heapq.heappush(frontier, (self.cost(child), next(order), child))
        except BudgetSpent as e:
            stopped = str(e)
        target = goal or max(reached, key=lambda n: (n.value, -n.depth), default=None)
        if target is None:
            return await self.fallback(root), {"expansions": expanded, "stopped_by": stopped}
        path = target.path()
        action = self.follow(path if goal is not None else path[:1])
        trace = {
            "expansions": expanded,
            "goal_found": goal is not None,
            "stopped_by": "goal" if goal is not None else stopped,
            "tree": self.searcher.tree(root, path[0]),
        }
        return action, trace


def astar_agent(
    *,
    env: Env,
    model: Model | None = None,
    seed: int = 0,
    config: GenerateConfig | None = None,
    expansions: int = 16,
    k: int = 3,
    weight: float = 10.0,
    **options: Any,
) -> Agent:
    """``--agent astar``: options expansions, k (actions per expansion), weight (of ``1 - value``
    against steps), and those of every strategy (inner, value, expand, max_model_calls,
    max_env_steps); the rest go to the inner agent."""
    own = {"expansions": expansions, "k": k, "weight": weight}
    return make_strategy(AStarAgent, own, env=env, model=model, seed=seed, config=config, **options)
