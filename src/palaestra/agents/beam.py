"""``beam``: beam search over per-step candidates before each real action.

``--agent beam --agent-opt inner=tools --agent-opt width=3 --agent-opt depth=2``. From the real state,
each of the ``width`` kept states proposes ``width`` actions of the inner agent (or the env's valid
actions, ``expand=valid``); of all the states reached the ``width`` best by ``value`` are kept, for
``depth`` levels. The real action is the first action on the way to the best state reached.
"""

from __future__ import annotations

from typing import Any

from palaestra.agents.search import BudgetSpent, Node, SearchAgent, check_count, make_strategy
from palaestra.env import Env
from palaestra.models.base import GenerateConfig, Model
from palaestra.policy import Agent
from palaestra.types import Message, Observation


class BeamAgent(SearchAgent):
    strategy = "beam"

    def __init__(self, *args: Any, width: int, depth: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.width = check_count("width", width, minimum=1)
        self.depth = check_count("depth", depth, minimum=1)

    async def decide(self, observation: Observation, real: Any) -> tuple[Message, dict[str, Any]]:
        root = self.root(observation, real)
        beam = [root]
        levels = 0
        stopped = "depth"
        reached: list[Node] = []
        try:
            for _ in range(self.depth):
                beam = await self.level(beam, reached)
                levels += 1
                if all(node.done for node in beam):
                    break
        except BudgetSpent as e:
            stopped = str(e)
        best = max(reached, key=lambda node: node.value, default=None)  # the first of equals
        if best is None:
            return await self.fallback(root), {"levels": 0, "stopped_by": stopped}
        first = best.path()[0]
        assert first.action is not None
        self.inner = first.agent
        trace = {"levels": levels, "stopped_by": stopped, "tree": self.searcher.tree(root, first)}
        return first.action, trace

    async def level(self, beam: list[Node], reached: list[Node]) -> list[Node]:
        """The ``width`` best states one step on from ``beam`` (ended states stay as they are)."""
        candidates: list[Node] = []
        for node in beam:
            if node.done:
                candidates.append(node)
                continue
            for act, agent in await self.searcher.propose(node, self.width):
                child = await self.searcher.step(node, act, agent)
                node.children.append(child)
                reached.append(child)
                candidates.append(child)
        return sorted(candidates, key=lambda node: -node.value)[: self.width]


def beam_agent(
    *,
    env: Env,
    model: Model | None = None,
    seed: int = 0,
    config: GenerateConfig | None = None,
    width: int = 3,
    depth: int = 2,
    **options: Any,
) -> Agent:
    """``--agent beam``: options width, depth, and those of every strategy (inner, value, expand,
    max_model_calls, max_env_steps); the rest go to the inner agent."""
    own = {"width": width, "depth": depth}
    return make_strategy(BeamAgent, own, env=env, model=model, seed=seed, config=config, **options)
