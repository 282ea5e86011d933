"""``bestofn``: N whole trajectories of the inner agent, the best one played for real.

``--agent bestofn --agent-opt inner=noisy --agent-opt n=8``. From the real state, N copies of the inner
agent (each with its own random stream) play until the episode ends (or ``depth`` steps); each
trajectory's end is valued by the verifier (``value``: the env's success/progress, ``self`` the
model's rating, ``judge:MODEL``) and the best one is replayed, one real action per ``act``. If the
real env answers differently from the searched one, or the chosen trajectory ends before the
episode does, the next ``act`` searches again from there.
"""

from __future__ import annotations

from typing import Any

from palaestra.agents.search import (
    BudgetSpent,
    Node,
    SearchAgent,
    backup,
    check_count,
    check_limit,
    make_strategy,
)
from palaestra.env import Env
from palaestra.errors import UsageError
from palaestra.models.base import GenerateConfig, Model
from palaestra.policy import Agent
from palaestra.types import Message, Observation


class BestOfNAgent(SearchAgent):
    strategy = "bestofn"

    def __init__(self, *args: Any, n: int, depth: int | None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.n = check_count("n", n, minimum=1)
        self.depth = check_limit("depth", depth)

    async def decide(self, observation: Observation, real: Any) -> tuple[Message, dict[str, Any]]:
        replayed = self.replay(observation)
        if replayed is not None:
            return replayed
        root = self.root(observation, real)
        ends: list[Node] = []
        stopped = "n"
        try:
            for _ in range(self.n):
                await self.trajectory(root, ends)
        except BudgetSpent as e:
            stopped = str(e)
        best = max(ends, key=lambda end: end.value, default=None)  # the first of equals
        if best is None:
            return await self.fallback(root), {"trajectories": 0, "stopped_by": stopped}
        path = best.path()
        action = self.follow(path)
        trace = {
            "trajectories": len(ends),
            "values": [round(e.value, 4) for e in ends],
            "chosen": ends.index(best),
            "stopped_by": stopped,
            "tree": self.searcher.tree(root, path[0]),
        }
        return action, trace

    async def trajectory(self, root: Node, ends: list[Node]) -> None:
        """Play one trajectory from ``root``; its end (valued) goes to ``ends``, also when the budget
        runs out on the way."""
        limit = self.depth or max(1, (self.env.turn_limit or self.env.spec.max_steps) - self.env.steps)
        cur = root
        try:
            for _ in range(limit):
                if cur.done:
                    break
                proposals = await self.searcher.propose(cur, 1)
                if not proposals:
                    break
                child = await self.searcher.step(cur, *proposals[0], evaluate=False)
                cur.children.append(child)
                cur = child
        finally:
            if cur is not root:
                cur.value = await self.searcher.evaluate(cur)
                backup(cur, cur.value)  # each first action's value: the mean of its trajectories
                ends.append(cur)


def bestofn_agent(
    *,
    env: Env,
    model: Model | None = None,
    seed: int = 0,
    config: GenerateConfig | None = None,
    n: int = 4,
    depth: int | None = None,
    expand: str = "agent",
    **options: Any,
) -> Agent:
    """``--agent bestofn``: options n (trajectories), depth (steps each; default: to the end), and
    those of every strategy (inner, value, max_model_calls, max_env_steps); the rest go to the inner
    agent. Trajectories are the inner agent's own (``expand`` is ``agent`` only)."""
    if expand != "agent":
        raise UsageError(
            f"bestofn plays the inner agent's own trajectories: expand must be 'agent', got {expand!r}"
        )
    own = {"n": n, "depth": depth}
    return make_strategy(BestOfNAgent, own, env=env, model=model, seed=seed, config=config, **options)
