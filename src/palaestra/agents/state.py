"""``state``: an explicit world state the agent keeps and reads (Statler).

A *writer* model keeps a short description of the world as the episode has revealed it: after
each action it rewrites the state from the previous one, the action and what came back (one call,
no tools). The inner agent (any action format) reads the current state with every observation, so
what it needs to remember does not depend on how much of its own history still fits its context
(pair it with ``--max-context-tokens`` to keep that small). Option ``writer`` names the writer's
model (default: the run's ``--model``); ``max_chars`` bounds the state.

Each step's trace holds the state the inner agent read and whether it was rewritten before.
"""

from __future__ import annotations

from typing import Any

from palaestra.agents.strategy import (
    Members,
    Wrapper,
    build_inner,
    clip,
    goal_text,
    render_step,
    with_note,
)
from palaestra.env import Env
from palaestra.errors import UsageError
from palaestra.models.base import GenerateConfig, Model
from palaestra.policy import Agent
from palaestra.types import Message, Observation, Task

WRITER = (
    "You keep the world state of an agent's task: the facts the episode has revealed so far "
    "(positions, objects, what is known to be true or false, what has been tried and failed). "
    "Rewrite the state so that it takes the latest step into account. Reply with the state only, "
    "as short lines of facts."
)


class WorldState(Wrapper):
    def __init__(
        self,
        inner: Agent,
        writer: Model,
        config: GenerateConfig | None,
        *,
        max_chars: int,
        members: Members | None = None,
    ) -> None:
        super().__init__(inner, members)
        self.writer, self.config, self.max_chars = writer, config or GenerateConfig(), max_chars
        self.state = self.goal = ""
        self.last: Message | None = None

    async def reset(self, task: Task) -> None:
        await super().reset(task)
        self.state = self.goal = ""
        self.last = None

    async def act(self, observation: Observation) -> Message:
        updated = False
        if self.last is None:
            self.goal = goal_text(observation)
        else:
            self.state = await self._rewrite(render_step(self.last, observation.messages, limit=1500))
            updated = True
        self.trace = {"state": clip(self.state), "updated": updated}
        note = f"World state (what the episode has shown so far):\n{self.state}" if self.state else ""
        self.last = await self.act_inner(with_note(observation, note))
        return self.last

    async def _rewrite(self, step: str) -> str:
        prompt = f"Task:\n{self.goal}\n\nState so far:\n{self.state or '(empty)'}\n\nLatest step:\n{step}"
        out = await self.writer.generate(
            [Message(role="system", content=WRITER), Message(role="user", content=prompt)], None, self.config
        )
        return out.message.content.strip()[: self.max_chars]


def state_agent(
    *,
    env: Env,
    model: Model | None = None,
    seed: int = 0,
    config: GenerateConfig | None = None,
    inner: str = "tools",
    writer: str | None = None,
    max_chars: int = 1500,
    **options: Any,
) -> Agent:
    """``writer``: the model that keeps the state (default: the run's); ``max_chars``: its bound."""
    if not isinstance(max_chars, int) or max_chars < 1:
        raise UsageError(f"state: max_chars must be at least 1, got {max_chars!r}")
    members = Members(model)
    agent = build_inner(inner, env=env, model=model, seed=seed, config=config, options=options)
    return WorldState(agent, members.model(writer, "writer"), config, max_chars=max_chars, members=members)
