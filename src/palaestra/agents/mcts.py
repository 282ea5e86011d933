"""``mcts``: Monte Carlo tree search (UCT) over env states before each real action.

``--agent mcts --agent-opt inner=noisy --agent-opt simulations=32``. Each simulation descends from the
real state by UCT (``c``), expands one untried action (a node's actions are ``k`` samples of the inner
agent, or the env's valid actions with ``expand=valid``), values the state reached (``value``: env
progress, ``self`` the model's rating, ``judge:MODEL``; optionally after a ``rollout`` of the inner
agent) and backs the value up to the root. The real action is the root's most visited child. A
decision stops at ``simulations`` or when ``max_model_calls`` / ``max_env_steps`` are spent.
"""

from __future__ import annotations

from typing import Any

from palaestra.agents.search import BudgetSpent, Node, SearchAgent, backup, check_count, make_strategy, uct
from palaestra.env import Env
from palaestra.errors import UsageError
from palaestra.models.base import GenerateConfig, Model
from palaestra.policy import Agent
from palaestra.types import Message, Observation


class MCTSAgent(SearchAgent):
    strategy = "mcts"

    def __init__(self, *args: Any, simulations: int, k: int, c: float, rollout: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.simulations = check_count("simulations", simulations, minimum=1)
        self.k = check_count("k", k, minimum=1)
        self.rollout_depth = check_count("rollout", rollout, minimum=0)
        if isinstance(c, bool) or not isinstance(c, int | float) or c < 0:
            raise UsageError(f"search option c must be a number >= 0, got {c!r}")
        self.c = float(c)

    async def decide(self, observation: Observation, real: Any) -> tuple[Message, dict[str, Any]]:
        root = self.root(observation, real)
        done = 0
        stopped = "simulations"
        try:
            while done < self.simulations:
                await self.simulate(root)
                done += 1
        except BudgetSpent as e:
            stopped = str(e)
        best = max(root.children, key=lambda ch: (ch.visits, ch.mean()), default=None)
        if best is None or best.action is None:
            action = await self.fallback(root)
        else:
            action, self.inner = best.action, best.agent
        trace = {"simulations": done, "stopped_by": stopped, "tree": self.searcher.tree(root, best)}
        return action, trace

    async def simulate(self, root: Node) -> None:
        """One simulation: select by UCT, expand one untried action, value it, back it up."""
        node = root
        while not node.done:
            if node.untried is None:
                node.untried = await self.searcher.propose(node, self.k)
            if node.untried:
                act, agent = node.untried.pop(0)
                child = await self.searcher.step(node, act, agent)
                node.children.append(child)
                try:
                    value = await self.rollout(child)
                except BudgetSpent:
                    backup(child, child.value)
                    raise
                backup(child, value)
                return
            if not node.children:
                break  # nothing to try from here: value the node itself again
            parent = node
            node = max(parent.children, key=lambda ch: uct(parent, ch, self.c))
        backup(node, node.value)

    async def rollout(self, node: Node) -> float:
        """The value after the inner agent plays on from ``node`` for ``rollout`` steps (the node's
        own value without a rollout). Rollout states are not kept in the tree."""
        cur = node
        for _ in range(self.rollout_depth):
            if cur.done:
                break
            proposals = await self.searcher.propose(cur, 1)
            if not proposals:
                break
            cur = await self.searcher.step(cur, *proposals[0])
        return cur.value


def mcts_agent(
    *,
    env: Env,
    model: Model | None = None,
    seed: int = 0,
    config: GenerateConfig | None = None,
    simulations: int = 16,
    k: int = 3,
    c: float = 1.0,
    rollout: int = 0,
    **options: Any,
) -> Agent:
    """``--agent mcts``: options simulations, k (actions sampled per node), c (UCT exploration),
    rollout (steps of the inner agent before valuing a new node), and those of every strategy
    (inner, value, expand, max_model_calls, max_env_steps); the rest go to the inner agent."""
    own = {"simulations": simulations, "k": k, "c": c, "rollout": rollout}
    return make_strategy(MCTSAgent, own, env=env, model=model, seed=seed, config=config, **options)
